"""The device-profile schema: every field's type, unit and bounds, as data that both checks a
profile and documents it, plus the caps on the file itself (size, nesting, entries).

A schema is a tuple of `Field`s with dotted keys: ``flash.size`` is the key ``size`` of the
table ``[flash]``, ``memory[].size`` the key ``size`` of every ``[[memory]]`` table, and
``mac.precision.*.rate`` the key ``rate`` of every table inside ``[mac.precision]``. `check`
applies a schema to a parsed document before a loader reads it, so a loader never meets a
wrong type, a value out of bounds, an unknown key or an absurd count; what relates several
fields (overlapping regions, idle power above active power) the loaders check themselves.
Every refusal is one line naming the file and the field.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from edgesim.errors import ProfileError
from edgesim.io import open_regular

MAX_FILE_BYTES = 256 * 1024   # the shipped profiles are a few KiB
MAX_DEPTH = 8                 # tables and arrays inside one another
MAX_ENTRIES = 64              # default cap on the entries of an array or an open table


class DeviceProfileError(ProfileError, ValueError):
    """A device profile is unknown, missing or invalid; the message is one line."""


@dataclass(frozen=True)
class Field:
    """One key of a profile. `lo`/`hi` bound a number's value, a string's length, or the
    entry count of a list or table array; `above` makes `lo` exclusive."""

    key: str
    type: str                    # integer | number | string | boolean | strings | table | tables
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    above: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    doc: str = ""

    @property
    def bound(self) -> str:
        """The bounds as a reader would write them (">= 1 and <= 64 entries", "one of a, b")."""
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.above else '>='} {_num(self.lo)}")
        if self.hi is not None:
            parts.append(f"<= {_num(self.hi)}")
        text = " and ".join(parts)
        if text and self.type in ("strings", "tables", "table"):
            text += " entries"
        elif text and self.type == "string":
            text = f"length {text}"
        if self.choices:
            each = "each " if self.type == "strings" else ""
            text = "; ".join(t for t in (text, f"{each}one of {', '.join(self.choices)}") if t)
        return text


def _num(x: float) -> str:
    if not float(x).is_integer():
        return f"{x:g}"
    x = int(x)
    if x >= 1 << 20 and x & (x - 1) == 0:
        return f"2^{x.bit_length() - 1}"
    return str(x) if abs(x) < 10**7 else f"{x:.0e}"


def read_toml(path: Path) -> dict:
    """Parse profile `path`: a regular file of at most `MAX_FILE_BYTES`, valid TOML, nested
    at most `MAX_DEPTH` deep."""
    try:
        f = open_regular(path, "device profile", DeviceProfileError)
    except FileNotFoundError:
        raise DeviceProfileError(f"device profile not found: {path}") from None
    with f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise DeviceProfileError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a profile")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DeviceProfileError(f"cannot read device profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeviceProfileError(f"{path}: invalid TOML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise DeviceProfileError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DeviceProfileError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value \
            if isinstance(value, list) else ()
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))
    return data


def is_profile_path(text: str) -> bool:
    """Whether `--device` text names a user's profile file (a .toml name or a path) rather
    than a shipped profile."""
    return text.endswith(".toml") or os.sep in text or "/" in text


def locate(name_or_path: str | os.PathLike[str], folder: Path) -> tuple[Path | None, bool]:
    """(path, shipped) of a profile: a user's file when `name_or_path` looks like a path (ends
    in .toml or holds a separator), else the shipped ``folder/<name>.toml`` (None when there is
    none; the path comes from the folder listing, never from the user's text)."""
    text = os.fspath(name_or_path)
    if is_profile_path(text):
        return Path(text), False
    return {p.stem: p for p in folder.glob("*.toml")}.get(text.strip().lower()), True


def find_profile(name_or_path: str | os.PathLike[str], folder: Path, kind: str,
                 what: str) -> tuple[dict, Path, bool]:
    """(data, path, shipped) of the `kind` profile that a name (a file in `folder`) or a path
    names, the file read once; an unknown name, or a shipped profile of another kind, is a
    DeviceProfileError that lists the shipped `kind` profiles (`what`: how to call them)."""
    path, shipped = locate(name_or_path, folder)
    data = read_toml(path) if path is not None else None
    if data is None or (shipped and kind_of(data) != kind):
        known = ", ".join(p.stem for p in sorted(folder.glob("*.toml"))
                          if kind_of(read_toml(p)) == kind) or "none"
        raise DeviceProfileError(f"unknown {what} {os.fspath(name_or_path)[:80]!r}; "
                                 f"known {what}s: {known}")
    return data, path, shipped


def check_profile(data: dict, path: Path, shipped: bool, kind: str,
                  schema: tuple[Field, ...]) -> None:
    """Check a profile's `data` read from `path`: its kind, its `schema`, a shipped profile's
    name against its file name, and idle power at most active power where it gives both."""
    if kind_of(data) != kind:
        fail(path, f"'kind' is {str(data.get('kind', 'mcu'))[:40]!r}, but a profile of kind "
                   f"{kind!r} is needed here")
    check(data, schema, path)
    if shipped and data["name"] != path.stem:
        fail(path, f"name {data['name']!r} does not match the file name {path.stem!r}")
    if data.get("idle_power_mw", 0) > data.get("active_power_mw", math.inf):
        fail(path, "'idle_power_mw' exceeds 'active_power_mw'")


def kind_of(data: dict) -> str:
    """A profile's kind: its `kind` key, "mcu" where it has none."""
    return data.get("kind", "mcu")


def check(data: dict, schema: tuple[Field, ...], path: Path) -> None:
    """Check parsed profile `data` against `schema`; raise DeviceProfileError on the first
    problem, naming `path` and the field."""
    by_key = {f.key: f for f in schema}
    _table(data, "", by_key, path)


def fail(path: Path, problem: str) -> NoReturn:
    raise DeviceProfileError(f"{path}: {problem}")


def _children(prefix: str, by_key: dict[str, Field]) -> dict[str, Field]:
    """The fields directly inside the table at schema key `prefix` ("" for the top)."""
    start = f"{prefix}." if prefix else ""
    return {k[len(start):]: f for k, f in by_key.items()
            if k.startswith(start) and "." not in k[len(start):]}


def _table(data: object, prefix: str, by_key: dict[str, Field], path: Path,
           shown: str = "", limit: float | None = None) -> None:
    """Check table `data` at schema key `prefix`, shown to the user as `shown`; an open
    table (keys of any name) holds at most `limit` entries."""
    if not isinstance(data, dict):
        fail(path, f"'{shown}' must be a table" if shown else "the document must be a table")
    fields = _children(prefix, by_key)
    name = (lambda k: f"'{shown}.{k}'") if shown else (lambda k: f"'{k}'")
    if "*" in fields:                                    # an open table: any key, one shape
        limit = int(limit or MAX_ENTRIES)
        if not data or len(data) > limit:
            fail(path, f"'{shown}' has {len(data)} entries, 1 to {limit} allowed")
        for key, value in data.items():
            _value(value, fields["*"], by_key, path, f"{shown}.{key}")
        return
    for key in data:                 # before missing keys: a misspelt key is both
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            fail(path, f"unknown key {name(key)}{hint}")
    for key, field in fields.items():
        if key not in data and not field.optional:
            fail(path, f"missing key {name(key)}")
    for key, value in data.items():
        _value(value, fields[key], by_key, path, f"{shown}.{key}" if shown else key)


def _value(v: object, f: Field, by_key: dict[str, Field], path: Path, shown: str) -> None:
    key = f"'{shown}'"
    if f.type == "table":
        _table(v, f.key, by_key, path, shown, f.hi)
    elif f.type == "tables":
        if not isinstance(v, list) or not v or not all(isinstance(t, dict) for t in v):
            fail(path, f"{key} must be a non-empty array of tables ([[{shown}]])")
        if len(v) > (f.hi or MAX_ENTRIES):
            fail(path, f"{key} has {len(v)} entries, at most {int(f.hi or MAX_ENTRIES)} allowed")
        for i, item in enumerate(v):
            _table(item, f"{f.key}[]", by_key, path, f"{shown}[{i}]")
    elif f.type == "strings":
        if not isinstance(v, list) or not v or not all(isinstance(s, str) for s in v):
            fail(path, f"{key} must be a non-empty list of strings")
        if len(v) > (f.hi or MAX_ENTRIES):
            fail(path, f"{key} has {len(v)} entries, at most {int(f.hi or MAX_ENTRIES)} allowed")
        bad = [s for s in v if f.choices and s not in f.choices]
        if bad:
            fail(path, f"{key}: {bad[0]!r} is not one of {', '.join(f.choices)}")
        if len(set(v)) != len(v):
            fail(path, f"{key} has duplicates")
    elif f.type == "string":
        if not isinstance(v, str) or not v.strip():
            fail(path, f"{key} must be a non-empty string")
        if f.hi is not None and len(v) > f.hi:
            fail(path, f"{key} is longer than {int(f.hi)} characters")
        if f.choices and v not in f.choices:
            fail(path, f"{key} = {v!r} is not one of {', '.join(f.choices)}")
    elif f.type == "boolean":
        if not isinstance(v, bool):
            fail(path, f"{key} must be true or false")
    else:
        _number(v, f, path, key)


def _number(v: object, f: Field, path: Path, key: str) -> None:
    if f.type == "integer" and (isinstance(v, bool) or not isinstance(v, int)):
        fail(path, f"{key} must be an integer, got {type(v).__name__}")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        fail(path, f"{key} must be a finite number, got {v!r}")
    if f.lo is not None and (v <= f.lo if f.above else v < f.lo):
        fail(path, f"{key} must be {'>' if f.above else '>='} {_num(f.lo)}, got {v}")
    if f.hi is not None and v > f.hi:
        fail(path, f"{key} must be <= {_num(f.hi)}, got {v}")


def markdown(schema: tuple[Field, ...]) -> str:
    """The schema as a Markdown table: field, type, unit, bound, required, meaning."""
    rows = ["| field | type | unit | bound | required | meaning |", "|---|---|---|---|---|---|"]
    for f in schema:
        rows.append(f"| `{f.key}` | {f.type} | {f.unit or '-'} | {f.bound or '-'} | "
                    f"{'no' if f.optional else 'yes'} | {f.doc} |")
    return "\n".join(rows)


#: Far above any real rate (MACs/s, bytes/s): the bound of rate fields.
RATE_MAX = 1e18


def memory_fields(table: str, sized: bool) -> tuple[Field, ...]:
    """The fields of one memory level `table` of a roofline profile: capacity (when `sized`),
    sustained bandwidth and energy per byte."""
    size = (Field(f"{table}.size_bytes", "integer", "bytes", 1, 2**48, doc="capacity"),)
    return (Field(table, "table"),) + (size if sized else ()) + (
        Field(f"{table}.bytes_per_s", "number", "bytes/s", 0, RATE_MAX, above=True,
              doc="sustained bandwidth"),
        Field(f"{table}.pj_per_byte", "number", "pJ/byte", 0, 1e6, doc="energy per byte moved"))

