"""Fuzz family "toml": device profiles through the MCU/CPU and NPU/mobile-CPU loaders,
`edgesim check --device` and `edgesim npu check --device`.

Seeds are the shipped profiles' bytes. Mutations edit the parsed document and write it back
as TOML (numbers to 0, negative, NaN, infinite or huge; strings, lists and tables where
numbers belong; keys deleted, misspelt or added; region arrays repeated up to thousands of
entries; regions made to overlap or to hold no data; nesting thousands deep), or edit the
text's bytes and lines.
"""

from __future__ import annotations

import math
import random
import re
import tomllib
from pathlib import Path

NAME = "toml"
SUFFIX = ".toml"
ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT.parent / "shared" / "models" / "mlperf_tiny" / "ad01_int8.tflite"
VALUES = [0, -1, 1, 2**31, 2**63 - 1, -(2**63), 1e308, -0.0, 0.5, 1e-300, float("nan"),
          float("inf"), -float("inf"), True, "", "x", "cortex-m7", [], [1, 2], {}]


def seeds() -> list[tuple[str, bytes]]:
    files = sorted((ROOT / "firmware_sim" / "devices" / "profiles").glob("*.toml")) + \
        sorted((ROOT / "npu_sim" / "profiles").glob("*.toml"))
    return [(p.stem, p.read_bytes()) for p in files]


# -- writing a document back as TOML --------------------------------------------------------
def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _scalar(k)


def dumps(doc: dict, prefix: str = "") -> str:
    """`doc` as TOML: scalars and inline values first, then tables and arrays of tables."""
    lines, later = [], []
    for k, v in doc.items():
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict) and v and len(name) < 200:
            later.append(f"\n[{name}]\n" + dumps(v, name))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            later.extend(f"\n[[{name}]]\n" + dumps(x, name) for x in v)
        else:
            lines.append(f"{_key(k)} = {_scalar(v)}\n")
    return "".join(lines) + "".join(later)


# -- mutations ------------------------------------------------------------------------------
def _leaves(doc, path=()):
    """(container, key) of every value in the document."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for k, v in items:
        yield doc, k, path + (k,)
        if isinstance(v, (dict, list)):
            yield from _leaves(v, path + (k,))


def _edit(doc: dict, rng: random.Random) -> None:
    places = list(_leaves(doc))
    if not places:
        return
    parent, key, _ = rng.choice(places)
    choice = rng.randrange(10)
    if choice < 4:                                          # a value replaced
        parent[key] = rng.choice(VALUES) if rng.random() < 0.8 else rng.uniform(-1e12, 1e12)
    elif choice == 4 and isinstance(parent, dict):          # a key deleted
        del parent[key]
    elif choice == 5 and isinstance(parent, dict):          # a key misspelt, or one added
        new = key[:-1] if rng.random() < 0.5 and len(key) > 1 else key + rng.choice("s_x")
        parent[new] = parent.pop(key)
    elif choice == 6:                                       # an array of tables repeated
        arrays = [(p, k) for p, k, _ in places if isinstance(p[k], list) and p[k]
                  and isinstance(p[k][0], dict)]
        if arrays:
            p, k = rng.choice(arrays)
            copies = rng.choice([2, 10, 70, 20000 // len(p[k])])
            p[k] = [dict(t) if isinstance(t, dict) else t for t in p[k]] * copies
    elif choice == 7:                                       # regions overlapping, or no data
        regions = doc.get("memory")
        if isinstance(regions, list) and all(isinstance(r, dict) for r in regions) and regions:
            r = rng.choice(regions)
            if rng.random() < 0.5:
                r["base"] = rng.choice(regions).get("base", 0) + rng.choice([0, 4, -4])
            else:
                for r in regions:
                    r["data"] = False
    elif choice == 8:                                       # deep nesting
        depth = rng.choice([10, 100, 3000])
        value = 1
        for _ in range(depth if rng.random() < 0.5 else 1):
            value = [value]
        doc[rng.choice(["nest", "memory", "cache"])] = value if depth < 100 or \
            rng.random() < 0.5 else _deep(depth)
    else:                                                   # an enum to another valid value
        for k, options in (("core", ["cortex-m4", "cortex-a72", "cortex-m7"]),
                           ("kind", ["npu", "cpu", "mcu"]),
                           ("kernels", [["xnnpack"], ["reference"], ["cmsis-nn"]])):
            if k in doc and rng.random() < 0.5:
                doc[k] = rng.choice(options)


def _deep(depth: int) -> dict:
    value: dict = {"x": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


def _text(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    choice = rng.randrange(5)
    if choice == 0:
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(out))
            out[i] = rng.choice(b"=[]{}\"'.,#0123456789-+e\n \xff")
    elif choice == 1:
        del out[rng.randrange(len(out)):]
    elif choice == 2:                       # a line repeated
        lines = bytes(out).split(b"\n")
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return b"\n".join(lines)
    elif choice == 3:                       # deep brackets in the text itself
        depth = rng.choice([50, 2000, 100000])
        return bytes(out) + b"\nzz = " + b"[" * depth + b"1" + b"]" * depth + b"\n"
    else:                                   # a number in the text replaced
        numbers = list(re.finditer(rb"(?<![A-Za-z_])\d[\d_]*(\.\d+)?(e[+-]?\d+)?", bytes(out)))
        if numbers:
            m = rng.choice(numbers)
            out[m.start():m.end()] = rng.choice([b"0", b"-1", b"nan", b"inf", b"1e999",
                                                 b"99999999999999999999", b"0x0", b"1.5"])
    return bytes(out)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three edits: mostly of the parsed document, else of the text."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        doc = None
        if rng.random() < 0.75:
            try:
                doc = tomllib.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
                doc = None
        if doc is None:
            data = _text(data, rng) if data else b"x = 1\n"
            continue
        _edit(doc, rng)
        try:
            data = dumps(doc).encode("utf-8")
        except RecursionError:
            data = _text(data, rng)
    return data


# -- entry points ---------------------------------------------------------------------------
def _kind(path: Path) -> str | None:
    match = re.search(rb'^kind\s*=\s*"(\w+)"', path.read_bytes()[:1 << 20], re.M)
    return match[1].decode() if match else None


def load(path: Path) -> None:
    """The loader the file's `kind` names (none: the microcontroller loader), and what the
    cost models read first: RAM spans and an arena placement, or the rates."""
    kind = _kind(path)
    if kind in ("npu", "cpu"):
        from firmware_sim.target import load_profile

        profile = load_profile(path)
        if kind == "npu":
            from npu_sim.performance import npu_cost

            npu_cost(profile, macs=10**6, precision="a8w8")
        else:
            from firmware_sim.cost.roofline import cpu_cost

            cpu_cost(profile, macs=10**6, dram_bytes=10**6)
        return
    from firmware_sim.devices import load_device
    from firmware_sim.memory.regions import largest_span, place_arena

    dev = load_device(path)
    place_arena(dev, 64 * 1024)
    largest_span(dev)


def cli_check(path: Path) -> int:
    """`edgesim check ad01_int8.tflite --device PATH --json`."""
    from edgesim.cli import main

    return main(["check", str(MODEL), "--device", str(path), "--json"])


def cli_npu(path: Path) -> int:
    """`edgesim npu check ad01_int8.tflite --device PATH --json`."""
    from edgesim.cli import main

    return main(["npu", "check", str(MODEL), "--device", str(path), "--json"])


ENTRY_POINTS = {"load": load, "cli_check": cli_check, "cli_npu": cli_npu}
