"""Mobile-NPU and mobile-CPU profiles, read from TOML data files.

Units everywhere: sizes and traffic in bytes, rates in per-second units (MACs/s, bytes/s),
times in s, power in mW, energy in pJ. Shipped profiles live in ``profiles/<name>.toml`` next
to this module; each says ``kind = "npu"`` or ``kind = "cpu"`` and every number there cites
its source or is marked as an estimate.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from firmware_sim.devices import DeviceProfileError, _Table

PROFILES_DIR = Path(__file__).parent / "profiles"
KINDS = ("npu", "cpu")
DTYPES = ("int4", "int8", "int16", "int32")
BUILTIN_OPS = tuple(k for k in vars(schema.BuiltinOperator) if not k.startswith("_"))


@dataclass(frozen=True)
class Memory:
    """One memory level: capacity (bytes, None: not a constraint), bandwidth (bytes/s), pJ/byte."""

    size_bytes: int | None
    bytes_per_s: float
    pj_per_byte: float


@dataclass(frozen=True)
class Precision:
    """One activation x weight precision of the MAC array: rate relative to int8, pJ per MAC."""

    rate: float
    pj_per_mac: float


@dataclass(frozen=True)
class NpuProfile:
    """A mobile NPU running static quantized graphs (Hexagon HTP-class)."""

    name: str
    description: str
    source: Path
    peak_int8_macs_per_s: float
    mac_utilization: float              # sustained share of the peak on dense layers
    precisions: dict[str, Precision]    # "a8w8", "a16w8", ...: activation and weight bits
    vector_bytes_per_s: float           # vector unit throughput for operators without MACs
    vtcm: Memory
    dram: Memory
    dtypes: tuple[str, ...]
    ops: frozenset[str]                 # TFLite builtin operators with an NPU kernel
    graph_limit_bytes: int              # largest graph one allocation takes
    session_limit_bytes: int            # memory one session can map
    dispatch_s: float                   # fixed cost per operator
    invoke_s: float                     # fixed cost per graph execution (CPU -> NPU call)
    active_power_mw: float
    idle_power_mw: float                # static power drawn while the NPU is powered

    @property
    def int8_macs_per_s(self) -> float:
        """Sustained int8 x int8 MAC rate (MACs/s)."""
        return self.peak_int8_macs_per_s * self.mac_utilization


@dataclass(frozen=True)
class Cluster:
    """A group of identical CPU cores: FP32 FMA lanes per cycle per core."""

    name: str
    count: int
    clock_hz: int
    fp32_macs_per_cycle: int


@dataclass(frozen=True)
class CpuProfile:
    """A mobile CPU's big cores, for dense FP32 work (the backpropagation baseline)."""

    name: str
    description: str
    source: Path
    clusters: tuple[Cluster, ...]
    fp32_utilization: float             # sustained share of the FMA peak on dense layers
    pj_per_fp32_mac: float
    dram: Memory
    active_power_mw: float
    idle_power_mw: float

    @property
    def peak_fp32_macs_per_s(self) -> float:
        return sum(c.count * c.clock_hz * c.fp32_macs_per_cycle for c in self.clusters)

    @property
    def fp32_macs_per_s(self) -> float:
        """Sustained FP32 MAC rate over all big cores (MACs/s)."""
        return self.peak_fp32_macs_per_s * self.fp32_utilization


def load_npu(name_or_path: str | os.PathLike[str]) -> NpuProfile:
    """A shipped NPU profile by name (``"sd8gen3_htp"``) or a ``.toml`` file by path."""
    return _load(name_or_path, "npu")


def load_cpu(name_or_path: str | os.PathLike[str]) -> CpuProfile:
    """A shipped mobile-CPU profile by name (``"sd8gen3_cpu"``) or a ``.toml`` file by path."""
    return _load(name_or_path, "cpu")


def list_profiles() -> list[NpuProfile | CpuProfile]:
    """Every shipped NPU and mobile-CPU profile, by name."""
    return [_load(p.stem, _kind_of(p)) for p in sorted(PROFILES_DIR.glob("*.toml"))]


def _load(name_or_path, kind: str):
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        path, shipped = Path(text), False
    else:
        path, shipped = PROFILES_DIR / f"{text.strip().lower()}.toml", True
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(PROFILES_DIR.glob("*.toml"))
                              if _kind_of(p) == kind) or "none"
            raise DeviceProfileError(f"unknown {kind} device {text!r}; known {kind} devices: "
                                     f"{known}")
    data = _read(path)
    found = data.get("kind")
    if found != kind:
        raise DeviceProfileError(f"{path}: 'kind' is {found!r}, but an {kind} profile is "
                                 f"needed here")
    return (_npu if kind == "npu" else _cpu)(data, path, shipped)


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeviceProfileError(f"device profile not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceProfileError(f"cannot read device profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeviceProfileError(f"{path}: invalid TOML: {' '.join(str(exc).split())}") from None


def _kind_of(path: Path) -> str | None:
    try:
        return _read(path).get("kind")
    except DeviceProfileError:
        return None


def _positive(t: _Table, key: str) -> float:
    value = t.number(key)
    if value == 0:
        t.fail(f"{t.key(key)} must be > 0")
    return value


def _fraction(t: _Table, key: str) -> float:
    value = _positive(t, key)
    if value > 1:
        t.fail(f"{t.key(key)} must be a fraction in (0, 1], got {value}")
    return value


def _memory(data: object, where: str, path: Path, sized: bool) -> Memory:
    keys = ("bytes_per_s", "pj_per_byte") + (("size_bytes",) if sized else ())
    m = _Table(data, where, path, keys)
    return Memory(m.integer("size_bytes") if sized else None, _positive(m, "bytes_per_s"),
                  m.number("pj_per_byte"))


def _header(data: dict, path: Path, shipped: bool, keys: tuple[str, ...]) -> tuple[_Table, str]:
    top = _Table(data, "", path, ("kind", "name", "description", "active_power_mw",
                                  "idle_power_mw") + keys)
    name = top.text("name")
    if shipped and name != path.stem:
        top.fail(f"name {name!r} does not match the file name {path.stem!r}")
    if top.number("idle_power_mw") > top.number("active_power_mw"):
        top.fail("'idle_power_mw' exceeds 'active_power_mw'")
    return top, name


def _npu(data: dict, path: Path, shipped: bool) -> NpuProfile:
    top, name = _header(data, path, shipped, (
        "dtypes", "ops", "graph_limit_bytes", "session_limit_bytes", "dispatch_s", "invoke_s",
        "mac", "vector", "vtcm", "dram"))
    ops = top.data["ops"]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
        top.fail("'ops' must be a non-empty list of TFLite builtin operator names")
    unknown = [o for o in ops if o not in BUILTIN_OPS]
    if unknown:
        top.fail(f"'ops': {unknown[0]!r} is not a TFLite builtin operator")
    mac = _Table(data["mac"], "mac", path, ("peak_int8_per_s", "utilization", "precision"))
    raw = mac.data["precision"]
    if not isinstance(raw, dict) or not raw:
        mac.fail("'mac.precision' must be a non-empty table")
    precisions = {}
    for key, entry in raw.items():
        p = _Table(entry, f"mac.precision.{key}", path, ("rate", "pj"))
        precisions[key] = Precision(_fraction(p, "rate"), p.number("pj"))
    if "a8w8" not in precisions or precisions["a8w8"].rate != 1:
        mac.fail("'mac.precision.a8w8' must exist with rate = 1 (the reference rate)")
    vec = _Table(data["vector"], "vector", path, ("bytes", "per_s"))
    return NpuProfile(
        name=name, description=top.text("description"), source=path,
        peak_int8_macs_per_s=_positive(mac, "peak_int8_per_s"),
        mac_utilization=_fraction(mac, "utilization"), precisions=precisions,
        vector_bytes_per_s=vec.integer("bytes") * _positive(vec, "per_s"),
        vtcm=_memory(data["vtcm"], "vtcm", path, sized=True),
        dram=_memory(data["dram"], "dram", path, sized=False),
        dtypes=top.texts("dtypes", DTYPES), ops=frozenset(ops),
        graph_limit_bytes=top.integer("graph_limit_bytes"),
        session_limit_bytes=top.integer("session_limit_bytes"),
        dispatch_s=top.number("dispatch_s"), invoke_s=top.number("invoke_s"),
        active_power_mw=top.number("active_power_mw"), idle_power_mw=top.number("idle_power_mw"))


def _cpu(data: dict, path: Path, shipped: bool) -> CpuProfile:
    top, name = _header(data, path, shipped, ("fp32", "cluster", "dram"))
    fp = _Table(data["fp32"], "fp32", path, ("utilization", "pj_per_mac"))
    if not isinstance(data["cluster"], list) or not data["cluster"]:
        top.fail("'cluster' must be a non-empty array of tables ([[cluster]])")
    clusters = []
    for i, raw in enumerate(data["cluster"]):
        c = _Table(raw, f"cluster[{i}]", path, ("name", "count", "clock_hz", "fp32_macs_per_cycle"))
        clusters.append(Cluster(c.text("name"), c.integer("count"), c.integer("clock_hz"),
                                c.integer("fp32_macs_per_cycle")))
    return CpuProfile(
        name=name, description=top.text("description"), source=path, clusters=tuple(clusters),
        fp32_utilization=_fraction(fp, "utilization"), pj_per_fp32_mac=fp.number("pj_per_mac"),
        dram=_memory(data["dram"], "dram", path, sized=False),
        active_power_mw=top.number("active_power_mw"), idle_power_mw=top.number("idle_power_mw"))
