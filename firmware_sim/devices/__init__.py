"""Device profiles: microcontroller memory maps, clocks and power, read from TOML data files.

Units everywhere: addresses and sizes in bytes, clocks in Hz, power in mW. Shipped profiles
live in ``profiles/<name>.toml`` next to this module; every number there cites its source.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from edgesim.errors import EdgesimError

PROFILES_DIR = Path(__file__).parent / "profiles"
MCU_CORES = ("cortex-m7", "cortex-m4")
CPU_CORES = ("cortex-a72",)                 # application processors running TFLite on Linux
CORES = MCU_CORES + CPU_CORES
KERNEL_STACKS = ("cmsis-nn", "reference", "xnnpack")
DTYPES = ("int8", "int16", "int32", "float32")
REGION_KINDS = ("tcm", "axi", "ahb", "dram")


class DeviceProfileError(EdgesimError, ValueError):
    """A device profile is unknown, missing or invalid; the message is one line."""


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

    @property
    def end(self) -> int:
        """First address after the region (bytes)."""
        return self.base + self.size


@dataclass(frozen=True)
class FlashSpec:
    """Internal flash: ``base``/``size`` in bytes, read ``wait_states`` at ``bus_clock_hz``."""

    base: int
    size: int
    banks: int
    wait_states: int
    bus_clock_hz: int


@dataclass(frozen=True)
class CacheSpec:
    """Core L1 caches, in bytes (0 when the core has none)."""

    icache_bytes: int
    dcache_bytes: int
    line_bytes: int


@dataclass(frozen=True)
class DeviceProfile:
    """One device: ``clock_hz`` in Hz, ``active_power_mw`` in mW, RAM/stack/static sizes in bytes."""

    name: str
    description: str
    core: str
    clock_hz: int
    kernels: tuple[str, ...]
    dtypes: tuple[str, ...]
    active_power_mw: float
    flash: FlashSpec | None           # None: an application processor loading models into RAM
    cache: CacheSpec
    memory: tuple[MemoryRegion, ...]  # sorted by base address
    stack_bytes: int
    static_bytes: int
    source: Path
    cores: int = 1
    l2_bytes: int = 0
    dram_bandwidth_bytes_per_s: float = 0.0  # sustained, for application processors

    @property
    def is_mcu(self) -> bool:
        """A microcontroller running TFLM from flash (else a Linux CPU running TFLite)."""
        return self.core in MCU_CORES

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
    """Load a shipped profile by name (``"stm32h743"``) or a user's ``.toml`` file by path."""
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        return _load_file(Path(text), shipped=False)
    path = PROFILES_DIR / f"{text.strip().lower()}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in _shipped_files()) or "none"
        raise DeviceProfileError(f"unknown device {text!r}; known devices: {known}")
    return _load_file(path, shipped=True)


def list_devices() -> list[DeviceProfile]:
    """All shipped profiles, sorted by name."""
    return [_load_file(p, shipped=True) for p in _shipped_files()]


def _shipped_files() -> list[Path]:
    return sorted(PROFILES_DIR.glob("*.toml"))


class _Table:
    """Typed access to one TOML table; every error names the file and the key."""

    def __init__(self, data: object, where: str, path: Path, keys: tuple[str, ...],
                 optional: tuple[str, ...] = ()):
        self.path, self.where = path, where
        if not isinstance(data, dict):
            self.fail(f"{where or 'document'} must be a table")
        self.data = data
        missing = [k for k in keys if k not in data]
        if missing:
            self.fail(f"missing key {self.key(missing[0])}")
        extra = sorted(set(data) - set(keys) - set(optional))
        if extra:
            self.fail(f"unknown key {self.key(extra[0])}")

    def key(self, k: str) -> str:
        return f"'{self.where}.{k}'" if self.where else f"'{k}'"

    def fail(self, problem: str) -> NoReturn:
        raise DeviceProfileError(f"{self.path}: {problem}")

    def integer(self, k: str, minimum: int = 1) -> int:
        v = self.data[k]
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(f"{self.key(k)} must be an integer, got {type(v).__name__}")
        if v < minimum:
            self.fail(f"{self.key(k)} must be >= {minimum}, got {v}")
        return v

    def text(self, k: str, choices: tuple[str, ...] | None = None) -> str:
        v = self.data[k]
        if not isinstance(v, str) or not v.strip():
            self.fail(f"{self.key(k)} must be a non-empty string")
        if choices is not None and v not in choices:
            self.fail(f"{self.key(k)} = {v!r} is not one of {', '.join(choices)}")
        return v

    def texts(self, k: str, choices: tuple[str, ...]) -> tuple[str, ...]:
        v = self.data[k]
        if not isinstance(v, list) or not v or not all(isinstance(s, str) for s in v):
            self.fail(f"{self.key(k)} must be a non-empty list of strings")
        bad = [s for s in v if s not in choices]
        if bad:
            self.fail(f"{self.key(k)}: {bad[0]!r} is not one of {', '.join(choices)}")
        if len(set(v)) != len(v):
            self.fail(f"{self.key(k)} has duplicates")
        return tuple(v)

    def flag(self, k: str) -> bool:
        v = self.data[k]
        if not isinstance(v, bool):
            self.fail(f"{self.key(k)} must be true or false")
        return v

    def number(self, k: str) -> float:
        v = self.data[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf"):
            self.fail(f"{self.key(k)} must be a finite number >= 0")
        return float(v)


def _load_file(path: Path, *, shipped: bool) -> DeviceProfile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeviceProfileError(f"device profile not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceProfileError(f"cannot read device profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        msg = " ".join(str(exc).split())
        raise DeviceProfileError(f"{path}: invalid TOML: {msg}") from None

    top = _Table(data, "", path, ("name", "description", "core", "clock_hz", "kernels", "dtypes",
                                  "active_power_mw", "cache", "memory", "runtime"),
                 optional=("flash", "cores", "l2_bytes", "dram_bandwidth_bytes_per_s"))
    name = top.text("name")
    if shipped and name != path.stem:
        top.fail(f"name {name!r} does not match the file name {path.stem!r}")
    core = top.text("core", CORES)

    flash = None
    if core in MCU_CORES or "flash" in data:
        if "flash" not in data:
            top.fail(f"missing key 'flash' (a {core} runs from internal flash)")
        f = _Table(data["flash"], "flash", path,
                   ("base", "size", "banks", "wait_states", "bus_clock_hz"))
        flash = FlashSpec(f.integer("base", 0), f.integer("size"), f.integer("banks"),
                          f.integer("wait_states", 0), f.integer("bus_clock_hz"))
    if core in CPU_CORES and "dram_bandwidth_bytes_per_s" not in data:
        top.fail(f"missing key 'dram_bandwidth_bytes_per_s' (needed to cost a {core})")

    c = _Table(data["cache"], "cache", path, ("icache_bytes", "dcache_bytes", "line_bytes"))
    cache = CacheSpec(c.integer("icache_bytes", 0), c.integer("dcache_bytes", 0),
                      c.integer("line_bytes", 0))
    if (cache.icache_bytes or cache.dcache_bytes) and not cache.line_bytes:
        c.fail("'cache.line_bytes' must be >= 1 when a cache is present")

    if not isinstance(data["memory"], list) or not data["memory"]:
        top.fail("'memory' must be a non-empty array of tables ([[memory]])")
    regions = []
    for i, raw in enumerate(data["memory"]):
        m = _Table(raw, f"memory[{i}]", path,
                   ("name", "base", "size", "kind", "bus_clock_hz", "wait_states", "cached"),
                   optional=("data",))
        regions.append(MemoryRegion(m.text("name"), m.integer("base", 0), m.integer("size"),
                                    m.text("kind", REGION_KINDS), m.integer("bus_clock_hz"),
                                    m.integer("wait_states", 0), m.flag("cached"),
                                    m.flag("data") if "data" in raw else True))
    regions.sort(key=lambda r: r.base)
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        top.fail(f"duplicate memory region name {next(n for n in names if names.count(n) > 1)!r}")
    spans = [(r.name, r.base, r.end) for r in regions]
    if flash is not None:
        spans.append(("flash", flash.base, flash.base + flash.size))
    spans.sort(key=lambda s: s[1])
    if spans[-1][2] > 2**32:
        top.fail(f"{spans[-1][0]!r} ends beyond the 32-bit address space")
    for (a, _, a_end), (b, b_base, _) in zip(spans, spans[1:]):
        if b_base < a_end:
            top.fail(f"memory regions {a!r} and {b!r} overlap")

    r = _Table(data["runtime"], "runtime", path, ("stack_bytes", "static_bytes"))
    return DeviceProfile(
        name=name, description=top.text("description"), core=core,
        clock_hz=top.integer("clock_hz"), kernels=top.texts("kernels", KERNEL_STACKS),
        dtypes=top.texts("dtypes", DTYPES), active_power_mw=top.number("active_power_mw"),
        flash=flash, cache=cache, memory=tuple(regions),
        stack_bytes=r.integer("stack_bytes"), static_bytes=r.integer("static_bytes", 0), source=path,
        cores=top.integer("cores") if "cores" in data else 1,
        l2_bytes=top.integer("l2_bytes", 0) if "l2_bytes" in data else 0,
        dram_bandwidth_bytes_per_s=(top.number("dram_bandwidth_bytes_per_s")
                                    if "dram_bandwidth_bytes_per_s" in data else 0.0),
    )
