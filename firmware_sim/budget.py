"""check(): load -> plan -> cost -> a Report with a verdict against the device and limits."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from .cost import cortex_a, cortex_m
from .devices import DeviceProfile, load_device
from edgesim.errors import EdgesimError
from .graph import Graph, load_graph
from .kernel_stacks import TFLM_OPS, dtype_violation, kernel_for
from .memory.arena import ArenaPlan, plan_arena
from .memory.flash import FlashUse, flash_use
from .memory.regions import ArenaPlacement, largest_span, place_arena


@dataclass(frozen=True)
class Limits:
    """Budgets beyond the device's own: latency in ms, RAM and flash in bytes."""

    latency_ms: float | None = None
    ram_bytes: int | None = None
    flash_bytes: int | None = None


@dataclass(frozen=True)
class Violation:
    kind: str      # "flash" | "arena" | "ram" | "latency" | "dtype" | "operator"
    message: str
    value: float | None = None   # what the model needs (None: not a quantity, e.g. an operator)
    limit: float | None = None   # what it may have
    unit: str = ""               # of value and limit: "bytes" or "ms"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "value": self.value,
                "limit": self.limit, "unit": self.unit}


def _kib(n: float) -> str:
    return f"{n / 1024:.1f}".rstrip("0").rstrip(".") + " KiB"


def _over_bytes(kind: str, what: str, value: int, limit: int, whose: str) -> Violation:
    """A byte quantity over its limit; `whose` names the limit ("the 256 KiB budget", "the
    device's 1024 KiB of flash"), so the user knows whether to shrink the model or the ask."""
    over = value - limit
    return Violation(kind, f"{what} exceeds {limit} bytes ({whose}) by {_kib(over)} "
                     f"({100 * over / limit:.0f} %)", value, limit, "bytes")


@dataclass(frozen=True)
class Layer:
    index: int
    name: str                    # its first output tensor's name
    op: str
    kernel: str                  # implementation that runs it: "cmsis-nn" or "reference"
    output_shape: tuple[int, ...]
    macs: int
    weight_bytes: int            # constant inputs, in flash (bytes)
    activation_bytes: int        # non-constant inputs + outputs, in the arena (bytes)
    live_bytes: int              # every arena-head buffer alive while it runs (bytes)
    cycles: int
    latency_ms: float
    energy_mj: float
    region: str                  # where its activations sit
    calibrated: bool             # False: the cycle figure is a rough default


@dataclass(frozen=True)
class ExactRun:
    """The instruction-level run behind `check(..., exact=True)`."""

    instructions: int            # retired over the whole inference
    wall_s: float                # host seconds the emulation took
    dispatch_cycles: int         # per layer, estimated (added to each layer's cycles)

    @property
    def note(self) -> str:
        return (f"cycles from instruction-level emulation: {self.instructions:,} instructions "
                f"in {self.wall_s:.1f} s (+ {self.dispatch_cycles} dispatch cycles per layer, "
                "estimated)")


@dataclass(frozen=True)
class Report:
    model: str
    device: DeviceProfile = field(repr=False)
    kernels: str
    limits: Limits
    arena: ArenaPlan = field(repr=False)
    arena_region: str | None     # None: no contiguous RAM span holds the arena
    flash: FlashUse
    ram_bytes: int               # arena + stack + static data (bytes)
    layers: tuple[Layer, ...]
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]
    exact: ExactRun | None = None    # None: cycles from the fast model

    @property
    def fits(self) -> bool:
        return not self.violations

    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def latency_ms(self) -> float:
        return self.cycles / self.device.clock_hz * 1e3

    @property
    def energy_mj(self) -> float:
        return self.device.active_power_mw * self.latency_ms / 1e3   # mW x ms = uJ

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def to_dict(self) -> dict:
        """The report as plain JSON-able data (stable keys: see README)."""
        return {
            "model": self.model, "device": self.device.name, "kernels": self.kernels,
            "fits": self.fits, "flash_bytes": self.flash.total_bytes,
            "flash_model_bytes": self.flash.model_bytes, "flash_code_bytes": self.flash.code_bytes,
            "ram_bytes": self.ram_bytes, "arena_bytes": self.arena.total_bytes,
            "arena_head_bytes": self.arena.head_bytes, "arena_tail_bytes": self.arena.tail_bytes,
            "arena_region": self.arena_region, "cycles": self.cycles,
            "latency_ms": round(self.latency_ms, 6), "energy_mj": round(self.energy_mj, 6),
            "macs": self.macs, "clock_hz": self.device.clock_hz,
            "layers": self.layer_rows(),
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
            "memory": self.memory_rows(),
            "budgets": {"latency_ms": self.limits.latency_ms, "ram_bytes": self.limits.ram_bytes,
                        "flash_bytes": self.limits.flash_bytes},
            "profile": {"path": str(self.device.source),
                        "sha256": hashlib.sha256(self.device.source.read_bytes()).hexdigest()},
            "arena_plan": {
                "total_bytes": self.arena.total_bytes, "head_bytes": self.arena.head_bytes,
                "tail_bytes": self.arena.tail_bytes, "bound_by": self.arena.bound_by,
                "buffers": [{"name": p.request.name, "offset": p.offset, "size": p.request.size,
                             "first": p.request.first, "last": p.request.last}
                            for p in self.arena.placements],
                "tail": [{"category": what, "bytes": size} for what, size in self.arena.tail]},
            "edgesim_version": _version(),
        }

    def layer_rows(self) -> list[dict]:
        """One flat record per layer: the columns every writer (text, JSON, CSV, HTML) shows."""
        macs, cycles = self.macs, self.cycles
        return [{
            "id": l.index, "name": l.name, "op": l.op, "kernel": l.kernel,
            "output_shape": list(l.output_shape), "macs": l.macs,
            "macs_pct": round(100 * l.macs / macs, 2) if macs else 0.0,
            "weight_bytes": l.weight_bytes, "activation_bytes": l.activation_bytes,
            "live_bytes": l.live_bytes, "cycles": l.cycles,
            "cycles_pct": round(100 * l.cycles / cycles, 2) if cycles else 0.0,
            "latency_ms": round(l.latency_ms, 6), "energy_mj": round(l.energy_mj, 9),
            "region": l.region, "calibrated": l.calibrated} for l in self.layers]

    def memory_rows(self) -> list[dict]:
        """Flash, RAM and arena against the user's budget (None: none given) and the device's
        capacity; margin is the tighter limit minus the use (negative: over)."""
        dev = self.device
        rows = [("flash", self.flash.total_bytes, self.limits.flash_bytes,
                 dev.flash.size if dev.flash else None),
                ("ram", self.ram_bytes, self.limits.ram_bytes, dev.ram_bytes),
                ("arena", self.arena.total_bytes, None, largest_span(dev).size)]
        out = []
        for what, used, budget, capacity in rows:
            limits = [x for x in (budget, capacity) if x]
            out.append({"what": what, "used_bytes": used, "budget_bytes": budget,
                        "capacity_bytes": capacity,
                        "margin_bytes": min(limits) - used if limits else None})
        return out


def _version() -> str:
    from edgesim import __version__
    return __version__


def check(model: str | Path | bytes | Graph, device: str | Path | DeviceProfile,
          limits: Limits | None = None, kernels: str | None = None, exact: bool = False) -> Report:
    """Plan and cost `model` on `device`; violations list every budget it breaks.

    exact: cost every layer by running the compiled int8 kernels instruction by instruction
    on the emulated core (firmware_sim/kernels; needs gcc-arm-none-eabi) instead of the fast
    fitted model. Cortex-M devices with the cmsis-nn stack only.
    """
    graph = model if isinstance(model, Graph) else load_graph(model)
    dev = device if isinstance(device, DeviceProfile) else load_device(str(device))
    limits = limits or Limits()
    stack = kernels or dev.default_kernels
    if stack not in dev.kernels:
        raise EdgesimError(f"kernel stack {stack!r} is not available on {dev.name} "
                           f"(it has: {', '.join(dev.kernels)})")
    sg = graph.main
    violations: list[Violation] = []
    notes: list[str] = []
    if len(graph.subgraphs) > 1:
        notes.append(f"{len(graph.subgraphs) - 1} further subgraph(s) (control flow) are not "
                     "planned or costed; figures cover the main subgraph")

    for op in sg.operators:
        supported = op.opcode in TFLM_OPS if dev.is_mcu else not op.opcode.startswith("CUSTOM")
        if not supported:
            violations.append(Violation("operator", f"operator {op.index} {op.opcode} has no "
                                        f"kernel in the {stack} stack"))
        message = dtype_violation(op, sg, dev.dtypes)
        if message:
            violations.append(Violation("dtype", message))

    arena = plan_arena(graph, stack)
    if arena.uncalibrated_ops:
        notes.append("arena tail uses conservative sizes for uncalibrated operators: "
                     + ", ".join(arena.uncalibrated_ops))
    placement = place_arena(dev, arena.total_bytes)
    if placement is None:
        biggest = largest_span(dev)
        violations.append(_over_bytes(
            "arena", f"tensor arena {_kib(arena.total_bytes)} is larger than any contiguous RAM "
            f"region of {dev.name} and", arena.total_bytes, biggest.size,
            f"the device's largest, {biggest.name}, {_kib(biggest.size)}"))
        placement = biggest
        notes.append(f"costed as if the arena were in {biggest.name}")
    region = placement.slowest

    flash = flash_use(graph, stack)
    flash_limit = min((x for x in (dev.flash.size if dev.flash else None, limits.flash_bytes)
                       if x), default=None)
    if flash_limit is not None and flash.total_bytes > flash_limit:
        whose = (f"the {_kib(flash_limit)} budget" if flash_limit == limits.flash_bytes
                 else f"the device's {_kib(flash_limit)} of flash")
        violations.append(_over_bytes("flash", f"flash {_kib(flash.total_bytes)} (model "
                                      f"{flash.model_bytes} + code {flash.code_bytes} bytes)",
                                      flash.total_bytes, flash_limit, whose))
    # An application processor holds the model file in RAM, plus XNNPACK's repacked copy of
    # the weights of the operators it runs (its packed-weights buffers).
    in_ram_model = 0 if dev.is_mcu else graph.size_bytes + sum(
        op.weight_bytes for op in sg.operators if op.macs)
    ram = arena.total_bytes + in_ram_model + dev.stack_bytes + dev.static_bytes
    ram_limit = min(dev.ram_bytes, limits.ram_bytes or dev.ram_bytes)
    if ram > ram_limit:
        model = f"model and packed weights {in_ram_model} + " if in_ram_model else ""
        whose = (f"the {_kib(ram_limit)} budget" if ram_limit == limits.ram_bytes
                 else f"the device's {_kib(ram_limit)} of RAM")
        violations.append(_over_bytes("ram", f"RAM {_kib(ram)} (arena {arena.total_bytes} + "
                                      f"{model}stack {dev.stack_bytes} + static "
                                      f"{dev.static_bytes} bytes)", ram, ram_limit, whose))

    exact_run, exact_cycles = None, None
    if exact:
        exact_run, exact_cycles = _exact_cycles(graph, dev, stack, arena, placement)
        notes.append(exact_run.note)
    live = live_bytes(arena, len(sg.operators))
    layers = []
    for op in sg.operators:
        if exact_cycles is not None:
            cost = exact_cycles[op.index]
        elif dev.is_mcu:
            cost = cortex_m.layer_cost(op, sg, dev, stack, region)
        else:
            cost = cortex_a.layer_cost(op, sg, dev)
        ms = cost.cycles / dev.clock_hz * 1e3
        out = sg.tensors[op.outputs[0]] if op.outputs else None
        layers.append(Layer(
            index=op.index, name=out.name if out else "", op=op.opcode, kernel=kernel_for(stack, op),
            output_shape=out.shape if out else (), macs=op.macs, weight_bytes=op.weight_bytes,
            activation_bytes=sum(t.nbytes for w in ("inputs", "outputs")
                                 for t in sg.op_tensors(op, w) if not t.constant),
            live_bytes=live[op.index],
            cycles=cost.cycles, latency_ms=ms, energy_mj=dev.active_power_mw * ms / 1e3,
            region=placement.name, calibrated=cost.calibrated))
    if any(not l.calibrated for l in layers):
        notes.append("cycles of layers marked '~' use a default per-element cost")

    latency_ms = sum(l.cycles for l in layers) / dev.clock_hz * 1e3
    if limits.latency_ms is not None and latency_ms > limits.latency_ms:
        over = latency_ms - limits.latency_ms
        violations.append(Violation("latency", f"latency {latency_ms:.3f} ms exceeds the "
                                    f"{limits.latency_ms:g} ms deadline by {over:.3f} ms "
                                    f"({100 * over / limits.latency_ms:.0f} %)",
                                    latency_ms, limits.latency_ms, "ms"))
    return Report(model=graph.path, device=dev, kernels=stack, limits=limits, arena=arena,
                  arena_region=None if any(v.kind == "arena" for v in violations)
                  else placement.name, flash=flash, ram_bytes=ram, layers=tuple(layers),
                  violations=tuple(violations), notes=tuple(notes), exact=exact_run)


def live_bytes(arena: ArenaPlan, n_ops: int) -> list[int]:
    """Per operator, the bytes of the arena-head buffers (activations and kernel scratch)
    alive while it runs: operator i runs at lifetime step i + 1 (memory/lifetimes.py)."""
    delta = [0] * (n_ops + 2)          # by step: bytes that become alive minus those freed
    for p in arena.placements:
        first, last = max(p.request.first, 1), min(p.request.last, n_ops)
        if first <= last:
            delta[first] += p.request.size
            delta[last + 1] -= p.request.size
    live, out = 0, []
    for step in range(1, n_ops + 1):
        live += delta[step]
        out.append(live)
    return out


def _exact_cycles(graph: Graph, dev: DeviceProfile, stack: str, arena: ArenaPlan,
                  placement: ArenaPlacement) -> tuple[ExactRun, list]:
    """Per-layer costs from instruction-level runs of the kernels (one inference on seeded
    random int8 inputs, with check's arena plan and placement), each plus TFLM's dispatch of
    that operator run on the same core (kernels/dispatch.py)."""
    if not dev.is_mcu:
        raise EdgesimError(f"--exact emulates Cortex-M cores; {dev.name} is a {dev.core}")
    if stack != "cmsis-nn":
        raise EdgesimError("--exact runs the CMSIS-NN-style kernels: use the cmsis-nn stack")
    from .kernels.runner import ModelMachine

    run = ModelMachine(graph, dev, plan=arena, placement=placement).run()
    costs = [cortex_m.LayerCost(instructions=l.record.instructions,
                                compute_cycles=l.record.issue_cycles + l.record.branch_cycles,
                                stall_cycles=math.ceil(l.record.stall_cycles),
                                dispatch_cycles=l.dispatch.cycles, calibrated=True) for l in run.layers]
    dispatch = round(sum(c.dispatch_cycles for c in costs) / max(1, len(costs)))   # per layer, mean
    return ExactRun(run.instructions, run.wall_s, dispatch), costs
