"""Mobile-NPU profiles, read from TOML data files (application CPUs: firmware_sim's
devices/cpu.py).

Units everywhere: sizes and traffic in bytes, rates in per-second units (MACs/s, bytes/s),
times in s, power in mW, energy in pJ. Shipped profiles live in ``profiles/<name>.toml`` next
to this module; each says ``kind = "npu"`` and every number there cites
its source or is marked as an estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from firmware_sim.devices.schema import (RATE_MAX, Field, check_profile, fail, find_profile,
                                         memory_fields)

PROFILES_DIR = Path(__file__).parent / "profiles"
DTYPES = ("int4", "int8", "int16", "int32")
BUILTIN_OPS = tuple(k for k in vars(schema.BuiltinOperator) if not k.startswith("_"))


_HEADER = (
    Field("kind", "string", choices=("npu",), doc="npu: a mobile NPU"),
    Field("name", "string", hi=64, doc="profile name; a shipped profile's is its file name"),
    Field("description", "string", hi=400, doc="one line for `edgesim devices`"),
    Field("active_power_mw", "number", "mW", 0, 1e6, doc="power under sustained load"),
    Field("idle_power_mw", "number", "mW", 0, 1e6, doc="static power; <= active_power_mw"),
)
#: The schema of NPU profiles (kind = "npu"): `check` applies it, `markdown` prints it.
NPU_SCHEMA = _HEADER + (
    Field("dtypes", "strings", "", 1, len(DTYPES), choices=DTYPES, doc="tensor types"),
    Field("ops", "strings", "", 1, 512, doc="TFLite builtin operators with an NPU kernel"),
    Field("graph_limit_bytes", "integer", "bytes", 1, 2**48, doc="largest graph"),
    Field("session_limit_bytes", "integer", "bytes", 1, 2**48, doc="memory of one session"),
    Field("dispatch_s", "number", "s", 0, 1, doc="fixed cost per operator"),
    Field("invoke_s", "number", "s", 0, 1, doc="fixed cost per graph execution"),
    Field("mac", "table", doc="the MAC array"),
    Field("mac.peak_int8_per_s", "number", "MACs/s", 0, RATE_MAX, above=True,
          doc="peak int8 x int8 rate"),
    Field("mac.utilization", "number", "fraction", 0, 1, above=True,
          doc="sustained share of the peak"),
    Field("mac.precision", "table", "", 1, 16,
          doc="per aNwM (activation, weight bits); a8w8 with rate 1 is required"),
    Field("mac.precision.*", "table", doc="one table per precision, e.g. a16w8"),
    Field("mac.precision.*.rate", "number", "x a8w8", 0, 1, above=True,
          doc="throughput relative to a8w8"),
    Field("mac.precision.*.pj", "number", "pJ/MAC", 0, 1e6, doc="energy per MAC"),
    Field("vector", "table", doc="the vector unit (operators without MACs)"),
    Field("vector.bytes", "integer", "bytes", 1, 2**16, doc="vector width"),
    Field("vector.per_s", "number", "vectors/s", 0, RATE_MAX, above=True,
          doc="vector operations per second"),
) + memory_fields("vtcm", sized=True) + memory_fields("dram", sized=False)
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


def load_npu(name_or_path: str | os.PathLike[str]) -> NpuProfile:
    """A shipped NPU profile by name (``"sd8gen3_htp"``) or a ``.toml`` file by path."""
    data, path, shipped = find_profile(name_or_path, PROFILES_DIR, "npu", "npu device")
    check_profile(data, path, shipped, "npu", NPU_SCHEMA)
    return _npu(data, path)


def _memory(m: dict) -> Memory:
    return Memory(m.get("size_bytes"), float(m["bytes_per_s"]), float(m["pj_per_byte"]))


def _npu(data: dict, path: Path) -> NpuProfile:
    unknown = [o for o in data["ops"] if o not in BUILTIN_OPS]
    if unknown:
        fail(path, f"'ops': {unknown[0]!r} is not a TFLite builtin operator")
    mac = data["mac"]
    precisions = {k: Precision(float(p["rate"]), float(p["pj"]))
                  for k, p in mac["precision"].items()}
    if "a8w8" not in precisions or precisions["a8w8"].rate != 1:
        fail(path, "'mac.precision.a8w8' must exist with rate = 1 (the reference rate)")
    return NpuProfile(
        name=data["name"], description=data["description"], source=path,
        peak_int8_macs_per_s=float(mac["peak_int8_per_s"]),
        mac_utilization=float(mac["utilization"]), precisions=precisions,
        vector_bytes_per_s=data["vector"]["bytes"] * float(data["vector"]["per_s"]),
        vtcm=_memory(data["vtcm"]), dram=_memory(data["dram"]),
        dtypes=tuple(data["dtypes"]), ops=frozenset(data["ops"]),
        graph_limit_bytes=data["graph_limit_bytes"],
        session_limit_bytes=data["session_limit_bytes"],
        dispatch_s=float(data["dispatch_s"]), invoke_s=float(data["invoke_s"]),
        active_power_mw=float(data["active_power_mw"]),
        idle_power_mw=float(data["idle_power_mw"]))
