"""Microcontroller profiles: memory maps, clocks, caches, flash and power, read from TOML
data files (application CPUs: cpu.py).

Units everywhere: addresses and sizes in bytes, clocks in Hz, power in mW. Shipped profiles
live in ``profiles/<name>.toml`` next to this module; every number there cites its source. Every
profile, shipped or a user's, is checked against `SCHEMA` (types, units, bounds; schema.py)
before use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .schema import (DeviceProfileError, Field, check_profile, fail, find_profile, kind_of,
                     read_toml)

PROFILES_DIR = Path(__file__).parent / "profiles"
CORES = ("cortex-m7", "cortex-m4")
KERNEL_STACKS = ("cmsis-nn", "reference")
DTYPES = ("int8", "int16", "int32")         # float32 follows the FPU (`fpu`)
FPUS = ("none", "sp", "dp")
REGION_KINDS = ("tcm", "axi", "ahb")        # the kinds the Cortex-M cost model has buses for
MAX_REGIONS = 64
ADDRESS_LIMIT = 2**32                       # Cortex-M is 32-bit
HZ_MAX = 1e10            # far above any real clock

#: The schema of microcontroller profiles: `check` applies it, `markdown` prints it.
SCHEMA = (
    Field("kind", "string", choices=("mcu",), optional=True,
          doc="mcu (the default): TFLM from internal flash"),
    Field("name", "string", hi=64, doc="profile name; a shipped profile's is its file name"),
    Field("description", "string", hi=400, doc="one line for `edgesim devices`"),
    Field("core", "string", choices=CORES, doc="the CPU core"),
    Field("clock_hz", "integer", "Hz", 1, HZ_MAX, doc="core clock"),
    Field("ipc", "number", "instructions/cycle", 0, 8, above=True,
          doc="instructions per cycle a DSP inner loop sustains"),
    Field("fpu", "string", choices=FPUS, optional=True,
          doc="floating-point unit: none (the default), sp or dp; with one, float32 "
              "operators run TFLM's float reference kernels"),
    Field("kernels", "strings", "", 1, len(KERNEL_STACKS), choices=KERNEL_STACKS,
          doc="kernel stacks, the default first"),
    Field("dtypes", "strings", "", 1, len(DTYPES), choices=DTYPES,
          doc="integer tensor types the kernels take"),
    Field("active_power_mw", "number", "mW", 0, 1e6, doc="power while inferring"),
    Field("flash", "table", doc="internal flash"),
    Field("flash.base", "integer", "bytes", 0, 2**32, doc="start address"),
    Field("flash.size", "integer", "bytes", 1, 2**32),
    Field("flash.banks", "integer", "banks", 1, 16),
    Field("flash.wait_states", "integer", "cycles", 0, 64, doc="read wait states"),
    Field("flash.bus_clock_hz", "integer", "Hz", 1, HZ_MAX, doc="clock of the bus to flash"),
    Field("flash.word_bytes", "integer", "bytes", 1, 1024,
          doc="bytes one flash read returns (the flash word); each pays the wait states"),
    Field("flash.latency_cycles", "integer", "cycles", 0, 64, optional=True,
          doc="bus cycles before the first word of a D-cache line fill; required with a D-cache"),
    Field("flash.bus_width_bytes", "integer", "bytes", 1, 1024, optional=True,
          doc="data width of the bus from flash to the D-cache (a line fill's beats); "
              "required with a D-cache"),
    Field("flash.art", "table", optional=True,
          doc="data cache in front of flash (ST ART); required for Cortex-M without a D-cache"),
    Field("flash.art.lines", "integer", "lines", 1, 4096),
    Field("flash.art.line_bytes", "integer", "bytes", 1, 1024,
          doc="a multiple of flash.word_bytes"),
    Field("cache", "table", doc="core L1 caches"),
    Field("cache.icache_bytes", "integer", "bytes", 0, 2**30),
    Field("cache.dcache_bytes", "integer", "bytes", 0, 2**30),
    Field("cache.line_bytes", "integer", "bytes", 0, 1024,
          doc="line size: a power of two, >= 1 when either cache is present"),
    Field("cache.dcache_ways", "integer", "ways", 1, 256, optional=True,
          doc="D-cache associativity; required with a D-cache, whose size is a multiple of "
              "line_bytes x ways"),
    Field("memory", "tables", "regions", 1, MAX_REGIONS,
          doc="RAM regions; no two overlap; at least one with data = true"),
    Field("memory[].name", "string", hi=64, doc="unique"),
    Field("memory[].base", "integer", "bytes", 0, 2**48, doc="start address"),
    Field("memory[].size", "integer", "bytes", 1, 2**48,
          doc="base + size within 2^32"),
    Field("memory[].kind", "string", choices=REGION_KINDS, doc="the bus that serves it"),
    Field("memory[].bus_clock_hz", "integer", "Hz", 1, HZ_MAX, doc="clock of its bus"),
    Field("memory[].wait_states", "integer", "cycles", 0, 64),
    Field("memory[].bus_width_bytes", "integer", "bytes", 1, 1024, optional=True,
          doc="data bus width; required where the Cortex-M D-cache fills lines from it"),
    Field("memory[].latency_cycles", "integer", "cycles", 0, 64, optional=True,
          doc="bus cycles before the first beat of a line fill; required with bus_width_bytes"),
    Field("memory[].cached", "boolean", doc="accesses go through the L1 D-cache"),
    Field("memory[].data", "boolean", optional=True,
          doc="may hold the tensor arena (default true)"),
    Field("runtime", "table", doc="the firmware or process around the model"),
    Field("runtime.stack_bytes", "integer", "bytes", 1, 2**32, doc="main stack"),
    Field("runtime.static_bytes", "integer", "bytes", 0, 2**36,
          doc="static data outside the arena"),
)


@dataclass(frozen=True)
class MemoryRegion:
    """A RAM region: ``base``/``size`` in bytes, ``bus_clock_hz`` of the bus serving it."""

    name: str
    base: int
    size: int
    kind: str  # "tcm" | "axi" | "ahb"
    bus_clock_hz: int
    wait_states: int
    cached: bool  # accesses go through the L1 D-cache
    data: bool = True  # may hold the tensor arena (false: kept for code, e.g. ITCM)
    bus_width_bytes: int = 0   # 0 where no line is ever filled from it
    latency_cycles: int = 0    # bus cycles before the first beat of a line fill

    @property
    def end(self) -> int:
        """First address after the region (bytes)."""
        return self.base + self.size


@dataclass(frozen=True)
class ArtSpec:
    """A data cache in front of flash (ST's ART accelerator): ``lines`` of ``line_bytes``."""

    lines: int
    line_bytes: int


@dataclass(frozen=True)
class FlashSpec:
    """Internal flash: ``base``/``size`` in bytes, read ``wait_states`` at ``bus_clock_hz``,
    ``word_bytes`` per read."""

    base: int
    size: int
    banks: int
    wait_states: int
    bus_clock_hz: int
    word_bytes: int
    latency_cycles: int = 0        # before the first word of a D-cache line fill
    bus_width_bytes: int = 0       # bytes per bus beat of a D-cache line fill (0: no D-cache)
    art: ArtSpec | None = None     # None: no data cache in front of flash


@dataclass(frozen=True)
class CacheSpec:
    """Core L1 caches, in bytes (0 when the core has none)."""

    icache_bytes: int
    dcache_bytes: int
    line_bytes: int
    dcache_ways: int = 0           # 0 when there is no D-cache


@dataclass(frozen=True)
class DeviceProfile:
    """One microcontroller: ``clock_hz`` in Hz, ``active_power_mw`` in mW, RAM/stack/static
    sizes in bytes."""

    name: str
    description: str
    core: str
    clock_hz: int
    kernels: tuple[str, ...]
    dtypes: tuple[str, ...]
    active_power_mw: float
    flash: FlashSpec
    cache: CacheSpec
    memory: tuple[MemoryRegion, ...]  # sorted by base address
    stack_bytes: int
    static_bytes: int
    source: Path
    ipc: float                        # instructions per cycle of a DSP inner loop
    fpu: str = "none"                 # "none", "sp" (single precision) or "dp"

    @property
    def has_dcache(self) -> bool:
        """Flash and bus-RAM data reach the core through a Cortex-M7 L1 D-cache (else, on a
        Cortex-M, flash data goes through the ART)."""
        return self.core == "cortex-m7" and self.cache.dcache_bytes > 0 and self.cache.line_bytes > 0

    @property
    def default_kernels(self) -> str:
        """The default kernel stack (the first of ``kernels``)."""
        return self.kernels[0]

    @property
    def ram_bytes(self) -> int:
        """Total RAM over all regions (bytes)."""
        return sum(r.size for r in self.memory)

    def contiguous_spans(self) -> list[tuple[MemoryRegion, ...]]:
        """Every run of address-adjacent regions (each region alone included), by base then length."""
        spans: list[tuple[MemoryRegion, ...]] = []
        for i, first in enumerate(self.memory):
            spans.append((first,))
            for j in range(i + 1, len(self.memory)):
                if self.memory[j - 1].end != self.memory[j].base:
                    break
                spans.append(self.memory[i : j + 1])
        return spans


def load_device(name_or_path: str | os.PathLike[str]) -> DeviceProfile:
    """Load a shipped microcontroller profile by name (``"stm32h743"``) or a user's ``.toml``
    file by path."""
    data, path, shipped = find_profile(name_or_path, PROFILES_DIR, "mcu", "microcontroller")
    return _profile(data, path, shipped)


def list_devices() -> list[DeviceProfile]:
    """All shipped microcontroller profiles, sorted by name."""
    shipped = ((read_toml(p), p) for p in sorted(PROFILES_DIR.glob("*.toml")))
    return [_profile(data, p, True) for data, p in shipped if kind_of(data) == "mcu"]


def _profile(data: dict, path: Path, shipped: bool) -> DeviceProfile:
    check_profile(data, path, shipped, "mcu", SCHEMA)
    name, core = data["name"], data["core"]
    raw = data["flash"]
    art = ArtSpec(**raw["art"]) if "art" in raw else None
    flash = FlashSpec(**{**raw, "art": art})
    if art is not None and art.line_bytes % flash.word_bytes:
        fail(path, f"'flash.art.line_bytes' ({art.line_bytes}) must be a multiple of "
                   f"'flash.word_bytes' ({flash.word_bytes})")

    cache = CacheSpec(**data["cache"])
    if (cache.icache_bytes or cache.dcache_bytes) and not cache.line_bytes:
        fail(path, "'cache.line_bytes' must be >= 1 when a cache is present")
    if cache.line_bytes & (cache.line_bytes - 1):
        fail(path, f"'cache.line_bytes' must be a power of two, got {cache.line_bytes}")
    if cache.dcache_bytes:
        if not cache.dcache_ways:
            fail(path, "missing key 'cache.dcache_ways' (the D-cache's associativity)")
        if cache.dcache_bytes % (cache.line_bytes * cache.dcache_ways):
            fail(path, f"'cache.dcache_bytes' ({cache.dcache_bytes}) must be a multiple of "
                       f"'cache.line_bytes' x 'cache.dcache_ways' "
                       f"({cache.line_bytes * cache.dcache_ways})")
    d_cached = cache.dcache_bytes > 0       # the D-cache fills lines
    for key in ("latency_cycles", "bus_width_bytes"):
        if d_cached and key not in raw:
            fail(path, f"missing key 'flash.{key}' (needed to fill D-cache lines from flash)")
    if not (d_cached and core == "cortex-m7") and flash.art is None:
        fail(path, f"missing table 'flash.art' (a {core} without a D-cache reads flash data "
                   f"through it)")

    regions = sorted((MemoryRegion(**{"data": True, **r}) for r in data["memory"]),
                     key=lambda r: r.base)
    for i, r in enumerate(data["memory"]):
        if d_cached and r["kind"] != "tcm" and r["cached"]:
            for key in ("bus_width_bytes", "latency_cycles"):
                if key not in r:
                    fail(path, f"missing key 'memory[{i}].{key}' (needed to fill D-cache "
                               f"lines from it)")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        fail(path, f"duplicate memory region name {next(n for n in names if names.count(n) > 1)!r}")
    if not any(r.data for r in regions):
        fail(path, "no memory region may hold the tensor arena (every one has data = false)")
    spans = sorted([(r.name, r.base, r.end) for r in regions]
                   + [("flash", flash.base, flash.base + flash.size)], key=lambda s: s[1])
    last = max(spans, key=lambda s: s[2])
    if last[2] > ADDRESS_LIMIT:
        fail(path, f"{last[0]!r} ends beyond the 32-bit address space")
    for (a, _, a_end), (b, b_base, _) in zip(spans, spans[1:]):
        if b_base < a_end:
            fail(path, f"memory regions {a!r} and {b!r} overlap")

    return DeviceProfile(
        name=name, description=data["description"], core=core, clock_hz=data["clock_hz"],
        kernels=tuple(data["kernels"]), dtypes=tuple(data["dtypes"]),
        active_power_mw=float(data["active_power_mw"]), flash=flash, cache=cache,
        memory=tuple(regions), stack_bytes=data["runtime"]["stack_bytes"],
        static_bytes=data["runtime"]["static_bytes"], source=path,
        ipc=float(data["ipc"]), fpu=data.get("fpu", "none"))
