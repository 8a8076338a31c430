"""Application-CPU profiles (``kind = "cpu"``): clusters of cores running TFLite + XNNPACK on
Linux or Android, with int8 and FP32 throughput, DRAM and energy, read from TOML data files.

Units: sizes and traffic in bytes, clocks in Hz, rates in per-second units, power in mW,
energy in pJ, times in s. Shipped profiles sit with the MCU ones in ``profiles/``; every number
there cites its source or is marked as an estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import HZ_MAX
from .schema import Field, check_profile, find_profile, memory_fields

PROFILES_DIR = Path(__file__).parent / "profiles"
DTYPES = ("int8", "int16", "int32", "float32")


def _precision(table: str, what: str) -> tuple[Field, ...]:
    return (Field(table, "table", doc=f"{what} work"),
            Field(f"{table}.utilization", "number", "fraction", 0, 1, above=True,
                  doc="sustained share of the peak on dense layers"),
            Field(f"{table}.pj_per_mac", "number", "pJ/MAC", 0, 1e6, doc="energy per MAC"))


#: The schema of application-CPU profiles: `check` applies it, `markdown` prints it.
CPU_SCHEMA = (
    Field("kind", "string", choices=("cpu",), doc="cpu: an application processor"),
    Field("name", "string", hi=64, doc="profile name; a shipped profile's is its file name"),
    Field("description", "string", hi=400, doc="one line for `edgesim devices`"),
    Field("kernels", "strings", "", 1, 1, choices=("xnnpack",), doc="TFLite's CPU kernels"),
    Field("dtypes", "strings", "", 1, len(DTYPES), choices=DTYPES,
          doc="tensor types the kernels take"),
    Field("active_power_mw", "number", "mW", 0, 1e6, doc="power under sustained load"),
    Field("idle_power_mw", "number", "mW", 0, 1e6, doc="static power; <= active_power_mw"),
    Field("parallel_efficiency", "number", "fraction", 0, 1, above=True,
          doc="speed-up per core added, as a share of one core"),
    Field("cluster", "tables", "clusters", 1, 64, doc="groups of identical cores"),
    Field("cluster[].name", "string", hi=64),
    Field("cluster[].count", "integer", "cores", 1, 1024),
    Field("cluster[].clock_hz", "integer", "Hz", 1, HZ_MAX),
    Field("cluster[].int8_macs_per_cycle", "integer", "MACs/cycle", 1, 4096,
          doc="int8 x int8 MAC lanes per core"),
    Field("cluster[].fp32_macs_per_cycle", "integer", "MACs/cycle", 1, 1024,
          doc="FP32 FMA lanes per core"),
) + _precision("int8", "int8") + _precision("fp32", "FP32") + (
    Field("l2_bytes", "integer", "bytes", 0, 2**36, doc="shared L2 (activations that fit stay "
          "out of DRAM)"),
) + memory_fields("dram", sized=True) + (
    Field("runtime", "table", doc="the process around the model"),
    Field("runtime.stack_bytes", "integer", "bytes", 1, 2**32, doc="main stack"),
    Field("runtime.static_bytes", "integer", "bytes", 0, 2**36,
          doc="runtime pages outside the model and its tensors"),
    Field("runtime.dispatch_s", "number", "s", 0, 1, doc="fixed cost per operator"),
)


@dataclass(frozen=True)
class Cluster:
    """A group of identical cores: MAC lanes per cycle per core."""

    name: str
    count: int
    clock_hz: int
    int8_macs_per_cycle: int
    fp32_macs_per_cycle: int


@dataclass(frozen=True)
class CpuProfile:
    """An application processor: its clusters, DRAM, runtime and energy figures."""

    name: str
    description: str
    source: Path
    kernels: tuple[str, ...]
    dtypes: tuple[str, ...]
    clusters: tuple[Cluster, ...]
    parallel_efficiency: float
    int8_utilization: float
    int8_pj_per_mac: float
    fp32_utilization: float
    fp32_pj_per_mac: float
    l2_bytes: int
    dram_bytes: int
    dram_bytes_per_s: float
    dram_pj_per_byte: float
    stack_bytes: int
    static_bytes: int
    dispatch_s: float
    active_power_mw: float
    idle_power_mw: float

    @property
    def clock_hz(self) -> int:
        """The fastest cluster's clock: the one layer cycles are counted at (Hz)."""
        return max(c.clock_hz for c in self.clusters)

    @property
    def cores(self) -> int:
        return sum(c.count for c in self.clusters)

    @property
    def ram_bytes(self) -> int:
        return self.dram_bytes

    def macs_per_s(self, precision: str) -> float:
        """Sustained MAC rate over every core for "int8" or "fp32" (MACs/s): the peak, times
        the kernels' utilization, times the parallel efficiency beyond the first core."""
        lanes = "int8_macs_per_cycle" if precision == "int8" else "fp32_macs_per_cycle"
        per_core = [c.clock_hz * getattr(c, lanes) for c in self.clusters for _ in range(c.count)]
        utilization = self.int8_utilization if precision == "int8" else self.fp32_utilization
        scale = 1 + self.parallel_efficiency * (len(per_core) - 1)
        return sum(per_core) / len(per_core) * scale * utilization


def load_cpu(name_or_path: str | os.PathLike[str]) -> CpuProfile:
    """A shipped CPU profile by name (``"rpi4b"``) or a ``.toml`` file by path."""
    data, path, shipped = find_profile(name_or_path, PROFILES_DIR, "cpu", "cpu device")
    check_profile(data, path, shipped, "cpu", CPU_SCHEMA)
    return CpuProfile(
        name=data["name"], description=data["description"], source=path,
        kernels=tuple(data["kernels"]), dtypes=tuple(data["dtypes"]),
        clusters=tuple(Cluster(**c) for c in data["cluster"]),
        parallel_efficiency=float(data["parallel_efficiency"]),
        int8_utilization=float(data["int8"]["utilization"]),
        int8_pj_per_mac=float(data["int8"]["pj_per_mac"]),
        fp32_utilization=float(data["fp32"]["utilization"]),
        fp32_pj_per_mac=float(data["fp32"]["pj_per_mac"]),
        l2_bytes=data["l2_bytes"], dram_bytes=data["dram"]["size_bytes"],
        dram_bytes_per_s=float(data["dram"]["bytes_per_s"]),
        dram_pj_per_byte=float(data["dram"]["pj_per_byte"]),
        stack_bytes=data["runtime"]["stack_bytes"], static_bytes=data["runtime"]["static_bytes"],
        dispatch_s=float(data["runtime"]["dispatch_s"]),
        active_power_mw=float(data["active_power_mw"]),
        idle_power_mw=float(data["idle_power_mw"]))
