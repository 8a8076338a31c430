"""The microcontroller target: TFLM on a Cortex-M, the model in internal flash, one tensor
arena in RAM (memory/arena.py), cycles from cost/cortex_m.py or, with `exact`, from the
compiled kernels run instruction by instruction (kernels/)."""

from __future__ import annotations

import math

from edgesim.errors import EdgesimError

from ..cost import cortex_m
from ..devices import PROFILES_DIR, DeviceProfile, load_device
from ..graph import Graph
from ..graph_quantized import int8_twin
from ..kernel_stacks import TFLM_OPS, dtype_messages, foreign_dtypes, hybrid_ops, kernel_for
from ..memory.arena import plan_arena
from ..memory.flash import flash_use
from ..memory.regions import largest_span, place_arena
from ..records import Limits, MemoryRow, Violation, kib, over_budget, over_bytes
from ..target import Findings, MemoryUse, Target, Timing


class McuTarget(Target):
    """TFLM with the `cmsis-nn` or `reference` kernel stack on a microcontroller profile."""

    kind = "mcu"
    profile_type = DeviceProfile
    folder, loader = PROFILES_DIR, staticmethod(load_device)
    #: No kernel for an operator or a type, or no RAM region for the arena: TFLM cannot run it.
    unrunnable = ("dtype", "operator", "arena")

    def rules(self, graph: Graph, found: Findings, int8_only: bool) -> None:
        """Operators TFLM lacks; tensor types outside the profile's. float32 runs TFLM's float
        reference kernels where the core has an FPU, unless `int8_only`."""
        dev, sg = self.profile, graph.main
        for op in sg.operators:
            if op.opcode not in TFLM_OPS:
                found.violations.append(Violation(
                    "operator", f"operator {op.index} {op.opcode} has no kernel in the "
                    f"{self.kernels} stack"))
        floats = dev.fpu != "none" and not int8_only
        allowed = dev.dtypes + (("float32",) if floats else ())
        why = (" (--int8-only)" if int8_only and dev.fpu != "none"
               else "" if dev.fpu != "none" else " (no FPU)")
        for message in dtype_messages(foreign_dtypes(sg, allowed), allowed, dev.name, why):
            found.violations.append(Violation("dtype", message))
        for opcode, ops in hybrid_ops(sg).items() if floats else ():
            found.violations.append(Violation(
                "dtype", f"hybrid {opcode}: {len(ops)} operator{'s' * (len(ops) > 1)} "
                f"({', '.join(map(str, ops[:8]))}) take int8 weights with float32 activations, "
                "which TFLM has no kernels for; quantize the model fully to int8, or keep its "
                "weights float32"))
        if floats:
            by_kind = foreign_dtypes(sg, dev.dtypes)
            if by_kind:
                n = sum(len(ops) for ops in by_kind.values())
                kinds = ", ".join(f"{op} x{len(ops)}" for (op, _), ops in by_kind.items())
                twin = int8_twin(sg)
                region = largest_span(dev).slowest
                ms = sum(cortex_m.layer_cost(op, twin, dev, self.kernels, region).cycles
                         for op in twin.operators) / dev.clock_hz * 1e3
                weights = sum(op.weight_bytes for op in sg.operators)
                found.notes.append(
                    f"warning: {n} float32 operators ({kinds}) run TFLM's float reference "
                    f"kernels on the FPU. The int8 alternative (full-integer quantization: "
                    f"TFLiteConverter with Optimize.DEFAULT and a representative dataset) would "
                    f"take about {ms:.3f} ms with the {self.kernels} kernels and "
                    f"{sum(op.weight_bytes for op in twin.operators):,} weight bytes instead "
                    f"of {weights:,}; --int8-only refuses float operators")

    def memory(self, graph: Graph, limits: Limits, found: Findings) -> MemoryUse:
        """The TFLM arena in the fastest RAM span that holds it; flash for the model and
        code; RAM for the arena, stack and static data."""
        dev = self.profile
        arena = plan_arena(graph, self.kernels)
        if arena.uncalibrated_ops:
            found.notes.append("arena tail uses conservative sizes for uncalibrated operators: "
                               + ", ".join(arena.uncalibrated_ops))
        placement = place_arena(dev, arena.total_bytes)
        region = placement.name if placement else None
        if placement is None:
            biggest = largest_span(dev)
            found.violations.append(over_bytes(
                "arena", f"tensor arena {kib(arena.total_bytes)} is larger than any contiguous "
                f"RAM region of {dev.name} and", arena.total_bytes, biggest.size,
                f"the device's largest, {biggest.name}, {kib(biggest.size)}"))
            placement = biggest
            found.notes.append(f"costed as if the arena were in {biggest.name}")
        flash = flash_use(graph, self.kernels)
        ram = arena.total_bytes + dev.stack_bytes + dev.static_bytes
        for v in (over_budget("flash", f"flash {kib(flash.total_bytes)} (model "
                              f"{flash.model_bytes} + code {flash.code_bytes} bytes)",
                              flash.total_bytes, dev.flash.size, limits.flash_bytes, "flash"),
                  over_budget("ram", f"RAM {kib(ram)} (arena {arena.total_bytes} + stack "
                              f"{dev.stack_bytes} + static {dev.static_bytes} bytes)", ram,
                              dev.ram_bytes, limits.ram_bytes, "RAM")):
            if v:
                found.violations.append(v)
        found.summary += [
            ("device", f"{dev.name} ({dev.core}, {dev.clock_hz / 1e6:g} MHz), kernels "
                       f"{self.kernels}"),
            ("flash", f"{flash.total_bytes:,} B = model {flash.model_bytes:,} + code "
                      f"{flash.code_bytes:,}"),
            ("arena", f"{arena.total_bytes:,} B = head {arena.head_bytes:,} + tail "
                      f"{arena.tail_bytes:,} + {arena.slack_bytes}, in "
                      f"{region or 'no region (too large)'}"),
            ("RAM", f"{ram:,} B = arena + stack {dev.stack_bytes:,} + static "
                    f"{dev.static_bytes:,}")]
        found.details.update(flash_model_bytes=flash.model_bytes,
                             flash_code_bytes=flash.code_bytes, clock_hz=dev.clock_hz)
        rows = (MemoryRow("flash", flash.total_bytes, limits.flash_bytes, dev.flash.size),
                MemoryRow("ram", ram, limits.ram_bytes, dev.ram_bytes),
                MemoryRow("arena", arena.total_bytes, None, largest_span(dev).size))
        return MemoryUse(plan=arena, rows=rows, arena_region=region,
                         region_bytes=placement.size, placement=placement)

    def cost(self, graph: Graph, memory: MemoryUse, found: Findings,
             exact: bool) -> list[Timing]:
        dev, sg = self.profile, graph.main
        placement = memory.placement
        if exact:
            run, costs = self._exact(graph, memory)
            found.details["exact"] = run
            found.notes.append(f"cycles from instruction-level emulation: "
                               f"{run['instructions']:,} instructions in {run['wall_s']:.1f} s, "
                               f"TFLM's dispatch included (mean {run['dispatch_cycles']} cycles "
                               "per layer)")
        else:
            costs = [cortex_m.layer_cost(op, sg, dev, self.kernels, placement.slowest)
                     for op in sg.operators]
        out = []
        for op, c in zip(sg.operators, costs):
            ms = c.cycles / dev.clock_hz * 1e3
            out.append(Timing(kernel=kernel_for(self.kernels, op, sg), cycles=c.cycles,
                              latency_ms=ms, energy_mj=dev.active_power_mw * ms / 1e3,
                              region=placement.name, calibrated=c.calibrated))
        if not all(c.calibrated for c in costs):
            found.notes.append("cycles of layers marked '~' use a default per-element cost")
        return out

    def interpreter(self, graph: Graph):
        from ..interpreters import TflmInterpreter
        return TflmInterpreter(graph)

    def _exact(self, graph: Graph, memory: MemoryUse) -> tuple[dict, list]:
        """The run's figures (instructions retired, host seconds, mean dispatch cycles per
        layer) and per-layer costs from instruction-level runs of the kernels (one inference on
        seeded random inputs, with this arena plan and placement), each plus TFLM's dispatch
        of that operator run on the same core (kernels/dispatch.py)."""
        if self.kernels != "cmsis-nn":
            raise EdgesimError("--exact runs the CMSIS-NN-style kernels: use the cmsis-nn stack")
        from ..kernels.runner import ModelMachine

        dev = self.profile
        run = ModelMachine(graph, dev, plan=memory.plan, placement=memory.placement).run()
        costs = [cortex_m.LayerCost(instructions=l.record.instructions,
                                    compute_cycles=l.record.issue_cycles + l.record.branch_cycles,
                                    stall_cycles=math.ceil(l.record.stall_cycles),
                                    dispatch_cycles=l.dispatch.cycles, calibrated=True)
                 for l in run.layers]
        dispatch = round(sum(c.dispatch_cycles for c in costs) / max(1, len(costs)))
        return {"instructions": run.instructions, "wall_s": round(run.wall_s, 3),
                "dispatch_cycles": dispatch}, costs
