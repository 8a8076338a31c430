"""The NPU target: a static quantized graph in one NPU session (Hexagon HTP-class profile,
devices.py), costed by performance.py; it plugs into firmware_sim's one `check` pipeline
(registered in pyproject.toml under `edgesim.targets`).

Violation kinds beyond the common ones: "shape" (a dynamic dimension) and "graph" (the model
over the per-graph limit). `Limits.flash_bytes` caps the graph size, `Limits.ram_bytes` the
session memory (graph + activation arena).
"""

from __future__ import annotations

from collections import Counter


from firmware_sim.graph import Graph
from firmware_sim.kernel_stacks import dtype_messages, foreign_dtypes
from firmware_sim.memory.arena import plan_activations
from firmware_sim.records import Limits, MemoryRow, Violation, kib, over_budget
from firmware_sim.target import Findings, MemoryUse, Target, Timing

from .devices import PROFILES_DIR, NpuProfile, load_npu
from .performance import invoke_cost, op_cost, precision


class NpuTarget(Target):
    kind = "npu"
    profile_type = NpuProfile
    folder, loader = PROFILES_DIR, staticmethod(load_npu)
    #: After these the NPU cannot run the graph at all.
    unrunnable = ("dtype", "shape", "operator")

    @staticmethod
    def stacks(profile) -> tuple[str, ...]:
        return ("htp",)                 # the NPU's own kernels: one stack

    def rules(self, graph: Graph, found: Findings, int8_only: bool) -> None:
        """Static shapes, operators with an NPU kernel, integer types at a precision the MAC
        array runs (NPU targets are integer-only whatever `int8_only` says)."""
        dev, sg = self.profile, graph.main
        resizable = [t for t in sg.tensors if t.resizable]
        dynamic = [t for t in resizable if t.dynamic]
        if dynamic:
            t = dynamic[0]
            more = f" (and {len(dynamic) - 1} more tensors)" if len(dynamic) > 1 else ""
            found.violations.append(Violation(
                "shape", f"tensor {t.index} {t.name!r} has dynamic shape {list(t.signature)}"
                f"{more}; {dev.name} runs static shapes only"))
        if len(resizable) > len(dynamic):
            found.notes.append(f"{len(resizable) - len(dynamic)} tensors have a resizable batch "
                               "(-1 in dimension 0 of their shape signature): the NPU graph is "
                               "compiled and costed at the stored batch")
        for op in sg.operators:
            if op.opcode not in dev.ops:
                why = (": gradient ops exist for training only, and no NPU runtime has a "
                       "backward pass" if "Grad" in op.opcode else "")
                found.violations.append(Violation(
                    "operator", f"operator {op.index} {op.opcode} has no kernel on "
                    f"{dev.name}{why}"))
        foreign = foreign_dtypes(sg, dev.dtypes)
        for message in dtype_messages(foreign, dev.dtypes, dev.name):
            found.violations.append(Violation("dtype", message))
        flagged = {i for ops in foreign.values() for i in ops}
        for op in sg.operators:
            p = precision(op, sg)
            if op.macs and op.index not in flagged and p not in dev.precisions:
                found.violations.append(Violation(
                    "dtype", f"operator {op.index} {op.opcode} runs at precision {p} "
                    f"(activation and weight bits); the MAC array of {dev.name} runs "
                    f"{', '.join(dev.precisions)}"))
        if any(v.kind in self.unrunnable for v in found.violations):
            found.notes.append("the NPU cannot run this graph: its figures are nominal (a "
                               "precision the MAC array lacks is costed at the slowest one)")

    def memory(self, graph: Graph, limits: Limits, found: Findings) -> MemoryUse:
        """Session memory = the graph + its activation arena (greedy plan); weights stay in
        VTCM when they fit there beside the arena (MemoryUse.placement: whether they do)."""
        dev, sg = self.profile, graph.main
        plan = plan_activations(graph)
        arena = plan.total_bytes
        ram = graph.size_bytes + arena
        for v in (over_budget("graph", f"graph {kib(graph.size_bytes)}", graph.size_bytes,
                              dev.graph_limit_bytes, limits.flash_bytes, "per-graph allocation"),
                  over_budget("ram", f"session memory {kib(ram)} (graph {graph.size_bytes} + "
                              f"activation arena {arena} bytes)", ram, dev.session_limit_bytes,
                              limits.ram_bytes, "session memory")):
            if v:
                found.violations.append(v)
        weights = sum(t.nbytes for t in sg.tensors if t.constant)
        resident = weights + arena <= dev.vtcm.size_bytes
        found.notes.append(
            f"weights ({weights} B) and activation arena ({arena} B) "
            + ("fit VTCM: weights stay resident, loaded once per session" if resident
               else f"exceed VTCM ({dev.vtcm.size_bytes} B): weights stream from DRAM"))
        found.summary += [
            ("device", f"{dev.name} ({dev.description})"),
            ("graph", f"{graph.size_bytes:,} B of {dev.graph_limit_bytes:,} allowed per graph"),
            ("weights", f"{weights:,} B, " + ("resident in VTCM" if resident
                                                   else "streamed from DRAM each inference")),
            ("session", f"{ram:,} B = graph + arena {arena:,}, of "
                        f"{dev.session_limit_bytes:,} allowed")]
        found.details.update(weight_bytes=weights,
                             weights_in="vtcm" if resident else "dram")
        rows = (MemoryRow("graph", graph.size_bytes, limits.flash_bytes, dev.graph_limit_bytes),
                MemoryRow("ram", ram, limits.ram_bytes, dev.session_limit_bytes),
                MemoryRow("arena", arena, None, dev.vtcm.size_bytes))
        in_vtcm = arena <= dev.vtcm.size_bytes
        return MemoryUse(plan=plan, rows=rows, arena_region="VTCM" if in_vtcm else "DRAM",
                         region_bytes=dev.vtcm.size_bytes if in_vtcm else dev.session_limit_bytes,
                         placement=resident)

    def cost(self, graph: Graph, memory: MemoryUse, found: Findings,
             exact: bool) -> list[Timing]:
        dev, sg = self.profile, graph.main
        if exact:
            from edgesim.errors import EdgesimError
            raise EdgesimError(f"--exact emulates Cortex-M cores; {dev.name} is an NPU")
        costs = [op_cost(dev, op, sg, memory.placement) for op in sg.operators]
        invoke = invoke_cost(dev)
        every = [invoke] + [c.cost for c in costs]
        time_s = sum(c.time_s for c in every)
        parts = {"mac": sum(c.mac_j for c in every) * 1e3,
                 "vtcm": sum(c.onchip_j for c in every) * 1e3,
                 "dram": sum(c.dram_j for c in every) * 1e3,
                 "static": sum(c.static_j for c in every) * 1e3}
        power_mw = sum(parts.values()) / time_s if time_s else 0.0   # mJ/s = mW
        by_precision = Counter()
        for op, c in zip(sg.operators, costs):
            if op.macs:
                by_precision[c.precision] += op.macs
        vtcm = sum(c.onchip_bytes for c in every)
        dram = sum(c.dram_bytes for c in every)
        found.summary += [
            ("MACs by precision", ", ".join(f"{p} {m:,}" for p, m in by_precision.most_common())
             or "-"),
            ("traffic", f"VTCM {vtcm:,} B, DRAM {dram:,} B per inference (VTCM holds "
                        f"{dev.vtcm.size_bytes:,} B)"),
            ("invoke", f"{invoke.time_s * 1e3:.4f} ms per graph execution"),
            ("energy parts", " + ".join(f"{k} {v:.6f}" for k, v in parts.items()) + " mJ"),
            ("power", f"{power_mw:.0f} mW average (active power {dev.active_power_mw:g} mW, "
                      f"idle {dev.idle_power_mw:g} mW)")]
        found.details.update(invoke_ms=round(invoke.time_s * 1e3, 6),
                             energy_parts_mj={k: round(v, 9) for k, v in parts.items()},
                             power_mw=round(power_mw, 3), vtcm_bytes=vtcm, dram_bytes=dram)
        if power_mw > dev.active_power_mw:
            found.notes.append(f"average power {power_mw:.0f} mW exceeds the profile's active "
                               f"power {dev.active_power_mw:g} mW: the unscaled 45 nm energy "
                               "figures overstate this workload's energy")
        return [Timing(kernel=c.precision, cycles=None, latency_ms=c.cost.time_s * 1e3,
                       energy_mj=c.cost.energy_j * 1e3, region=c.region, bound=c.cost.bound,
                       traffic={"vtcm": c.cost.onchip_bytes, "dram": c.cost.dram_bytes})
                for c in costs]

    def fixed(self) -> tuple[float, float]:
        c = invoke_cost(self.profile)
        return c.time_s * 1e3, c.energy_j * 1e3

    def interpreter(self, graph: Graph):
        from firmware_sim.interpreters import LiteRtInterpreter
        return LiteRtInterpreter(graph)
