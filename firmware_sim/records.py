"""The records every target's check produces and every writer reads: Limits in, a Report of
Layers, memory rows and Violations out. Units: bytes, cycles, ms, mJ."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .memory.arena import ArenaPlan


@dataclass(frozen=True)
class Limits:
    """Budgets beyond the device's own: latency in ms, RAM and flash in bytes. On an NPU,
    flash_bytes caps the graph and ram_bytes the session memory."""

    latency_ms: float | None = None
    ram_bytes: int | None = None
    flash_bytes: int | None = None


@dataclass(frozen=True)
class Violation:
    kind: str      # "flash" | "graph" | "arena" | "ram" | "latency" | "dtype" | "shape" | "operator"
    message: str
    value: float | None = None   # what the model needs (None: not a quantity, e.g. an operator)
    limit: float | None = None   # what it may have
    unit: str = ""               # of value and limit: "bytes" or "ms"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "value": self.value,
                "limit": self.limit, "unit": self.unit}


def kib(n: float) -> str:
    return f"{n / 1024:.1f}".rstrip("0").rstrip(".") + " KiB"


def over_bytes(kind: str, what: str, value: int, limit: int, whose: str) -> Violation:
    """A byte quantity over its limit; `whose` names the limit ("the 256 KiB budget", "the
    device's 1024 KiB of flash"), so the user knows whether to shrink the model or the ask."""
    over = value - limit
    return Violation(kind, f"{what} exceeds {limit} bytes ({whose}) by {kib(over)} "
                     f"({100 * over / limit:.0f} %)", value, limit, "bytes")


def over_budget(kind: str, what: str, value: int, capacity: int | None, budget: int | None,
                capacity_name: str) -> Violation | None:
    """`what` (value bytes) against the tighter of the user's budget and the device's
    capacity (`capacity_name`: "flash", "RAM", ...); None when it fits both."""
    limit = min((x for x in (capacity, budget) if x), default=None)
    if limit is None or value <= limit:
        return None
    whose = (f"the {kib(limit)} budget" if limit == budget
             else f"the device's {kib(limit)} of {capacity_name}")
    return over_bytes(kind, what, value, limit, whose)


def over_deadline(latency_ms: float, limits: Limits) -> Violation | None:
    if limits.latency_ms is None or latency_ms <= limits.latency_ms:
        return None
    over = latency_ms - limits.latency_ms
    return Violation("latency", f"latency {latency_ms:.3f} ms exceeds the {limits.latency_ms:g} "
                     f"ms deadline by {over:.3f} ms ({100 * over / limits.latency_ms:.0f} %)",
                     latency_ms, limits.latency_ms, "ms")


@dataclass(frozen=True)
class MemoryRow:
    """One memory the model uses (bytes) against the user's budget and the device's capacity
    (None: no such limit)."""

    what: str                    # "flash", "ram", "arena", "graph", ...
    used_bytes: int
    budget_bytes: int | None
    capacity_bytes: int | None

    @property
    def margin_bytes(self) -> int | None:
        """The tighter limit minus the use (negative: over); None without a limit."""
        limits = [x for x in (self.budget_bytes, self.capacity_bytes) if x]
        return min(limits) - self.used_bytes if limits else None

    def to_dict(self) -> dict:
        return {"what": self.what, "used_bytes": self.used_bytes,
                "budget_bytes": self.budget_bytes, "capacity_bytes": self.capacity_bytes,
                "margin_bytes": self.margin_bytes}


@dataclass(frozen=True)
class Layer:
    index: int
    name: str                    # its first output tensor's name
    op: str
    kernel: str                  # what runs it: "cmsis-nn", "reference", "xnnpack", "a8w8", ...
    output_shape: tuple[int, ...]
    macs: int
    weight_bytes: int            # constant inputs (bytes)
    activation_bytes: int        # non-constant inputs + outputs (bytes)
    live_bytes: int              # every planned activation buffer alive while it runs (bytes)
    cycles: int | None           # at the profile's clock (None: the target has no one clock)
    latency_ms: float
    energy_mj: float
    region: str                  # where its activations sit
    calibrated: bool             # False: the cycle figure is a rough default
    bound: str = ""              # roofline targets: "compute", "memory" or "dispatch"
    traffic: dict[str, int] = field(default_factory=dict)   # bytes moved per memory level


@dataclass(frozen=True)
class Report:
    """What one model costs on one device, and whether it fits: the one record of every
    target (microcontroller, application CPU, NPU) that every writer reads."""

    model: str
    device: Any = field(repr=False)   # the profile: name, description, source, ...
    target: str                  # "mcu" | "cpu" | "npu"
    kernels: str                 # the kernel stack or runtime
    limits: Limits
    plan: ArenaPlan = field(repr=False)
    arena_region: str | None     # None: no RAM region holds the arena
    region_bytes: int            # size of the arena's region (where none holds it: the largest)
    memory: tuple[MemoryRow, ...]
    layers: tuple[Layer, ...]
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]
    summary: tuple[tuple[str, str], ...] = ()   # the target's own summary lines (label, text)
    details: dict = field(default_factory=dict)  # the target's own JSON figures
    fixed_ms: float = 0.0        # per inference outside the layers (an NPU graph invocation)
    fixed_mj: float = 0.0

    @property
    def fits(self) -> bool:
        return not self.violations

    @property
    def cycles(self) -> int | None:
        if any(layer.cycles is None for layer in self.layers):
            return None
        return sum(layer.cycles for layer in self.layers)

    @property
    def latency_ms(self) -> float:
        return self.fixed_ms + sum(layer.latency_ms for layer in self.layers)

    @property
    def energy_mj(self) -> float:
        return self.fixed_mj + sum(layer.energy_mj for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def used(self, what: str) -> int | None:
        """Bytes of the memory row `what` ("flash", "ram", "arena", ...), None if absent."""
        return next((m.used_bytes for m in self.memory if m.what == what), None)

    @property
    def stored_bytes(self) -> int:
        """Where the model is kept: flash (microcontroller), storage (CPU), the graph (NPU)."""
        return self.used("flash") or self.used("graph") or 0

    @property
    def ram_bytes(self) -> int:
        return self.used("ram") or 0

    def to_dict(self) -> dict:
        """The report as plain JSON-able data (stable keys: see README)."""
        return {
            "model": self.model, "device": self.device.name, "target": self.target,
            "kernels": self.kernels, "fits": self.fits,
            **{f"{m.what}_bytes": m.used_bytes for m in self.memory},
            "arena_head_bytes": self.plan.head_bytes, "arena_tail_bytes": self.plan.tail_bytes,
            "arena_region": self.arena_region, "cycles": self.cycles,
            "latency_ms": round(self.latency_ms, 6), "energy_mj": round(self.energy_mj, 9),
            "macs": self.macs, **self.details,
            "layers": self.layer_rows(),
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
            "memory": [m.to_dict() for m in self.memory],
            "budgets": {"latency_ms": self.limits.latency_ms, "ram_bytes": self.limits.ram_bytes,
                        "flash_bytes": self.limits.flash_bytes},
            "profile": {"path": str(self.device.source),
                        "sha256": hashlib.sha256(self.device.source.read_bytes()).hexdigest()},
            "arena_plan": self.plan.to_dict(),
            "edgesim_version": _version(),
        }

    def layer_rows(self) -> list[dict]:
        """One flat record per layer: the columns every writer (text, JSON, CSV, HTML) shows."""
        macs, ms = self.macs, sum(layer.latency_ms for layer in self.layers)
        return [{
            "id": l.index, "name": l.name, "op": l.op, "kernel": l.kernel,
            "output_shape": list(l.output_shape), "macs": l.macs,
            "macs_pct": round(100 * l.macs / macs, 2) if macs else 0.0,
            "weight_bytes": l.weight_bytes, "activation_bytes": l.activation_bytes,
            "live_bytes": l.live_bytes, "cycles": l.cycles,
            "time_pct": round(100 * l.latency_ms / ms, 2) if ms else 0.0,
            "latency_ms": round(l.latency_ms, 6), "energy_mj": round(l.energy_mj, 9),
            "region": l.region, "bound": l.bound, "calibrated": l.calibrated,
            **{f"{level}_bytes": n for level, n in l.traffic.items()}} for l in self.layers]


def _version() -> str:
    from edgesim import __version__
    return __version__
