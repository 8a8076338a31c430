"""The application-CPU target: TFLite + XNNPACK on Linux or Android. The model file is read
from storage into DRAM; XNNPACK repacks the weights of the operators it runs; the activations
follow a greedy plan; each operator is costed by the roofline (cost/roofline.py)."""

from __future__ import annotations


from edgesim.errors import EdgesimError

from ..cost.roofline import layer_cost
from ..devices.cpu import PROFILES_DIR, CpuProfile, load_cpu
from ..graph import Graph
from ..kernel_stacks import dtype_messages, foreign_dtypes
from ..memory.arena import plan_activations
from ..records import Limits, MemoryRow, Violation, kib, over_budget
from ..target import Findings, MemoryUse, Target, Timing


class CpuTarget(Target):
    kind = "cpu"
    profile_type = CpuProfile
    folder, loader = PROFILES_DIR, staticmethod(load_cpu)
    unrunnable = ("dtype", "operator")

    def rules(self, graph: Graph, found: Findings, int8_only: bool) -> None:
        """Custom operators have no kernel; tensor types outside the profile's are refused
        (float32 too with `int8_only`)."""
        sg = graph.main
        for op in sg.operators:
            if op.opcode.startswith("CUSTOM"):
                found.violations.append(Violation(
                    "operator", f"operator {op.index} {op.opcode} has no kernel in TFLite's "
                    "builtin set"))
        allowed = tuple(d for d in self.profile.dtypes if not (int8_only and d == "float32"))
        for message in dtype_messages(foreign_dtypes(sg, allowed), allowed, self.profile.name,
                                      " (--int8-only)" if int8_only else ""):
            found.violations.append(Violation("dtype", message))

    def memory(self, graph: Graph, limits: Limits, found: Findings) -> MemoryUse:
        dev, sg = self.profile, graph.main
        plan = plan_activations(graph)
        packed = sum(op.weight_bytes for op in sg.operators if op.macs)
        ram = plan.total_bytes + graph.size_bytes + packed + dev.stack_bytes + dev.static_bytes
        v = over_budget("ram", f"RAM {kib(ram)} (activations {plan.total_bytes} + model and "
                        f"packed weights {graph.size_bytes + packed} + stack {dev.stack_bytes} "
                        f"+ static {dev.static_bytes} bytes)", ram, dev.ram_bytes,
                        limits.ram_bytes, "RAM")
        if v:
            found.violations.append(v)
        v = over_budget("flash", f"model file {kib(graph.size_bytes)}", graph.size_bytes,
                        None, limits.flash_bytes, "storage")
        if v:
            found.violations.append(v)
        found.summary += [
            ("device", f"{dev.name} ({dev.cores} cores, {dev.clock_hz / 1e6:g} MHz), kernels "
                       f"{self.kernels}"),
            ("storage", f"{graph.size_bytes:,} B (the model file, read into RAM)"),
            ("RAM", f"{ram:,} B = activations {plan.total_bytes:,} + model "
                    f"{graph.size_bytes:,} + packed weights {packed:,} + stack "
                    f"{dev.stack_bytes:,} + static {dev.static_bytes:,}")]
        found.details.update(clock_hz=dev.clock_hz)
        rows = (MemoryRow("flash", graph.size_bytes, limits.flash_bytes, None),
                MemoryRow("ram", ram, limits.ram_bytes, dev.ram_bytes),
                MemoryRow("arena", plan.total_bytes, None, dev.ram_bytes))
        return MemoryUse(plan=plan, rows=rows, arena_region="DRAM", region_bytes=dev.ram_bytes)

    def cost(self, graph: Graph, memory: MemoryUse, found: Findings,
             exact: bool) -> list[Timing]:
        if exact:
            raise EdgesimError(f"--exact emulates Cortex-M cores; {self.profile.name} is an "
                               "application CPU")
        dev, sg = self.profile, graph.main
        out = []
        for op in sg.operators:
            c = layer_cost(op, sg, dev)
            out.append(Timing(kernel=self.kernels, cycles=round(c.time_s * dev.clock_hz),
                              latency_ms=c.time_s * 1e3, energy_mj=c.energy_j * 1e3,
                              region="DRAM", bound=c.bound, traffic={"dram": c.dram_bytes}))
        return out

    def interpreter(self, graph: Graph):
        from ..interpreters import LiteRtInterpreter
        return LiteRtInterpreter(graph)
