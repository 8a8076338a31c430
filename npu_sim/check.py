"""check_npu(): load -> plan -> cost -> an NpuReport with a verdict against an NPU profile, and
the report as text (summary, per-layer table, violations) or JSON.

Violation kinds: "dtype" (a float op, or a precision the MAC array lacks), "shape" (a dynamic
dimension), "operator" (no NPU kernel: custom, Flex and gradient ops, control flow, ...),
"graph" (the model over the per-graph limit), "ram" (session memory = model + activation
arena, over the session limit) and "latency". `Limits.flash_bytes` caps the graph size,
`Limits.ram_bytes` the session memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema

from firmware_sim.budget import Limits, Violation
from firmware_sim.graph import Graph, load_graph
from firmware_sim.kernel_stacks import dtype_violation
from firmware_sim.memory.greedy_planner import GreedyPlanner
from firmware_sim.memory.lifetimes import buffer_requests
from firmware_sim.memory.planner import MemoryPlanner
from firmware_sim.report import format_violations

from .devices import NpuProfile, load_npu
from .performance import Cost, invoke_cost, op_cost, precision

#: Violations after which the graph cannot run on the NPU at all (see runner.py).
UNRUNNABLE = ("dtype", "shape", "operator")


@dataclass(frozen=True)
class NpuLayer:
    index: int
    op: str
    precision: str               # "a8w8", "a16w8", ... ("-": no MACs)
    output_shape: tuple[int, ...]
    macs: int
    weight_bytes: int            # constant inputs (bytes)
    activation_bytes: int        # non-constant inputs + outputs (bytes)
    region: str                  # where its activations sit: "vtcm" or "dram"
    cost: Cost

    @property
    def latency_ms(self) -> float:
        return self.cost.time_s * 1e3

    @property
    def energy_mj(self) -> float:
        return self.cost.energy_j * 1e3


@dataclass(frozen=True)
class NpuReport:
    model: str
    device: NpuProfile = field(repr=False)
    limits: Limits
    graph_bytes: int             # the model as the NPU session holds it (bytes)
    weight_bytes: int            # constant tensors (bytes)
    arena_bytes: int             # activations, greedy plan (bytes)
    ram_bytes: int               # session memory: graph + arena (bytes)
    weights_in_vtcm: bool        # weights resident in VTCM (else streamed from DRAM)
    layers: tuple[NpuLayer, ...]
    invoke: Cost                 # fixed cost of the graph execution itself
    violations: tuple[Violation, ...]
    notes: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return not self.violations

    @property
    def costs(self) -> list[Cost]:
        return [self.invoke] + [layer.cost for layer in self.layers]

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def latency_ms(self) -> float:
        return sum(c.time_s for c in self.costs) * 1e3

    @property
    def energy_mj(self) -> float:
        return sum(c.energy_j for c in self.costs) * 1e3

    @property
    def energy_parts_mj(self) -> dict[str, float]:
        """Energy (mJ) by source: MACs, VTCM traffic, DRAM traffic, static power."""
        return {"mac": sum(c.mac_j for c in self.costs) * 1e3,
                "vtcm": sum(c.onchip_j for c in self.costs) * 1e3,
                "dram": sum(c.dram_j for c in self.costs) * 1e3,
                "static": sum(c.static_j for c in self.costs) * 1e3}

    @property
    def power_mw(self) -> float:
        """Average power over the inference (mW)."""
        return self.energy_mj / self.latency_ms * 1e3 if self.latency_ms else 0.0

    @property
    def vtcm_bytes(self) -> int:
        """VTCM traffic per inference (bytes)."""
        return sum(c.onchip_bytes for c in self.costs)

    @property
    def dram_bytes(self) -> int:
        """DRAM traffic per inference (bytes)."""
        return sum(c.dram_bytes for c in self.costs)

    def to_dict(self) -> dict:
        """The report as plain JSON-able data; keys shared with `edgesim check --json` mean the
        same there (ram_bytes is the session memory)."""
        return {
            "model": self.model, "device": self.device.name, "fits": self.fits,
            "graph_bytes": self.graph_bytes, "weight_bytes": self.weight_bytes,
            "weights_in": "vtcm" if self.weights_in_vtcm else "dram",
            "ram_bytes": self.ram_bytes, "arena_bytes": self.arena_bytes,
            "latency_ms": round(self.latency_ms, 6),
            "invoke_ms": round(self.invoke.time_s * 1e3, 6),
            "energy_mj": round(self.energy_mj, 9),
            "energy_parts_mj": {k: round(v, 9) for k, v in self.energy_parts_mj.items()},
            "power_mw": round(self.power_mw, 3), "macs": self.macs,
            "vtcm_bytes": self.vtcm_bytes, "dram_bytes": self.dram_bytes,
            "layers": [{
                "id": l.index, "op": l.op, "precision": l.precision,
                "output_shape": list(l.output_shape), "macs": l.macs,
                "weight_bytes": l.weight_bytes, "activation_bytes": l.activation_bytes,
                "vtcm_bytes": l.cost.onchip_bytes, "dram_bytes": l.cost.dram_bytes,
                "region": l.region, "compute_ms": round(l.cost.compute_s * 1e3, 9),
                "memory_ms": round(l.cost.memory_s * 1e3, 9),
                "dispatch_ms": round(l.cost.overhead_s * 1e3, 9), "bound": l.cost.bound,
                "latency_ms": round(l.latency_ms, 9), "energy_mj": round(l.energy_mj, 12)}
                for l in self.layers],
            "violations": [{"kind": v.kind, "message": v.message} for v in self.violations],
            "notes": list(self.notes),
        }


def check_npu(model: str | Path | bytes | Graph, device: str | Path | NpuProfile,
              limits: Limits | None = None) -> NpuReport:
    """Plan and cost `model` on the NPU `device`; violations list every rule it breaks."""
    graph = model if isinstance(model, Graph) else load_graph(model)
    dev = device if isinstance(device, NpuProfile) else load_npu(device)
    limits = limits or Limits()
    sg = graph.main
    violations: list[Violation] = []
    notes: list[str] = []
    if len(graph.subgraphs) > 1:
        notes.append(f"{len(graph.subgraphs) - 1} further subgraph(s) are not costed")

    resizable = _resizable_tensors(graph)
    dynamic = [(i, signature) for i, signature in resizable if min(signature[1:], default=0) < 0]
    if dynamic:
        index, signature = dynamic[0]
        more = f" (and {len(dynamic) - 1} more tensors)" if len(dynamic) > 1 else ""
        violations.append(Violation("shape", f"tensor {index} {sg.tensors[index].name!r} has "
                                    f"dynamic shape {signature}{more}; {dev.name} runs static "
                                    "shapes only"))
    if len(resizable) > len(dynamic):
        notes.append(f"{len(resizable) - len(dynamic)} tensors have a resizable batch (-1 in "
                     "dimension 0 of their shape signature): the NPU graph is compiled and "
                     "costed at the stored batch")
    for op in sg.operators:
        if op.opcode not in dev.ops:
            why = (": gradient ops exist for training only, and no NPU runtime has a backward "
                   "pass" if "Grad" in op.opcode else "")
            violations.append(Violation("operator", f"operator {op.index} {op.opcode} has no "
                                        f"kernel on {dev.name}{why}"))
        message = dtype_violation(op, sg, dev.dtypes)
        p = precision(op, sg)
        if message is None and op.macs and p not in dev.precisions:
            message = (f"operator {op.index} {op.opcode} runs at precision {p} (activation and "
                       f"weight bits); the MAC array of {dev.name} runs "
                       f"{', '.join(dev.precisions)}")
        if message:
            violations.append(Violation("dtype", message))

    arena = MemoryPlanner.head_bytes(GreedyPlanner().plan(buffer_requests(sg)))
    weights = sum(t.nbytes for t in sg.tensors if t.constant)
    ram = graph.size_bytes + arena
    graph_limit = min(dev.graph_limit_bytes, limits.flash_bytes or dev.graph_limit_bytes)
    if graph.size_bytes > graph_limit:
        violations.append(Violation("graph", f"graph of {graph.size_bytes} bytes exceeds the "
                                    f"{graph_limit}-byte per-graph limit"))
    ram_limit = min(dev.session_limit_bytes, limits.ram_bytes or dev.session_limit_bytes)
    if ram > ram_limit:
        violations.append(Violation("ram", f"session memory {ram} bytes (graph "
                                    f"{graph.size_bytes} + activation arena {arena}) exceeds "
                                    f"{ram_limit} bytes"))

    resident = weights + arena <= dev.vtcm.size_bytes
    notes.append(f"weights ({weights} B) and activation arena ({arena} B) "
                 + ("fit VTCM: weights stay resident, loaded once per session" if resident else
                    f"exceed VTCM ({dev.vtcm.size_bytes} B): weights stream from DRAM"))
    layers = []
    for op in sg.operators:
        c = op_cost(dev, op, sg, resident)
        out = sg.tensors[op.outputs[0]] if op.outputs else None
        layers.append(NpuLayer(
            index=op.index, op=op.opcode, precision=c.precision,
            output_shape=out.shape if out else (), macs=op.macs, weight_bytes=op.weight_bytes,
            activation_bytes=sum(t.nbytes for w in ("inputs", "outputs")
                                 for t in sg.op_tensors(op, w) if not t.constant),
            region=c.region, cost=c.cost))
    report = NpuReport(model=graph.path, device=dev, limits=limits, graph_bytes=graph.size_bytes,
                       weight_bytes=weights, arena_bytes=arena, ram_bytes=ram,
                       weights_in_vtcm=resident, layers=tuple(layers), invoke=invoke_cost(dev),
                       violations=tuple(violations), notes=tuple(notes))

    if limits.latency_ms is not None and report.latency_ms > limits.latency_ms:
        violations.append(Violation("latency", f"latency {report.latency_ms:.3f} ms exceeds the "
                                    f"{limits.latency_ms:g} ms deadline"))
    if any(v.kind in UNRUNNABLE for v in violations):
        notes.append("the NPU cannot run this graph: its figures are nominal (a precision the "
                     "MAC array lacks is costed at the slowest one it has)")
    if report.power_mw > dev.active_power_mw:
        notes.append(f"average power {report.power_mw:.0f} mW exceeds the profile's active "
                     f"power {dev.active_power_mw:g} mW: the unscaled 45 nm energy figures "
                     "overstate this workload's energy")
    return replace(report, violations=tuple(violations), notes=tuple(notes))


def _resizable_tensors(graph: Graph) -> list[tuple[int, list[int]]]:
    """(index, shape signature) of each main-subgraph tensor with an unknown (-1) dimension.

    firmware_sim's Tensor carries the static shape only; the signature is read here from the
    flatbuffer, already validated by load_graph. Keras leaves the batch unknown (-1 in
    dimension 0) unless it is fixed; the stored shape then holds the batch a runtime compiles."""
    sg = schema.Model.GetRootAs(graph.data, 0).Subgraphs(0)
    found = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        if t.ShapeSignatureLength():
            signature = [int(d) for d in t.ShapeSignatureAsNumpy()]
            if any(d < 0 for d in signature):
                found.append((i, signature))
    return found


def _kib(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def format_summary(r: NpuReport) -> str:
    dev = r.device
    by_precision = Counter()
    for layer in r.layers:
        if layer.macs:
            by_precision[layer.precision] += layer.macs
    mix = ", ".join(f"{p} {m:,}" for p, m in by_precision.most_common())
    parts = r.energy_parts_mj
    return "\n".join([
        f"model        {r.model}",
        f"device       {dev.name} ({dev.description})",
        f"verdict      {'FITS' if r.fits else 'DOES NOT FIT'}",
        f"MACs         {r.macs:,}" + (f" ({mix})" if mix else ""),
        f"graph        {_kib(r.graph_bytes)} of {dev.graph_limit_bytes:,} allowed per graph",
        f"weights      {_kib(r.weight_bytes)}, "
        + ("resident in VTCM" if r.weights_in_vtcm else "streamed from DRAM each inference"),
        f"arena        {_kib(r.arena_bytes)} of activations (greedy plan)",
        f"session      {_kib(r.ram_bytes)} = graph + arena, of {dev.session_limit_bytes:,} allowed",
        f"traffic      VTCM {r.vtcm_bytes:,} B, DRAM {r.dram_bytes:,} B per inference "
        f"(VTCM holds {dev.vtcm.size_bytes:,} B)",
        f"latency      {r.latency_ms:.4f} ms = invoke {r.invoke.time_s * 1e3:.4f} + layers "
        f"{r.latency_ms - r.invoke.time_s * 1e3:.4f}",
        f"energy       {r.energy_mj:.6f} mJ = MACs {parts['mac']:.6f} + VTCM {parts['vtcm']:.6f}"
        f" + DRAM {parts['dram']:.6f} + static {parts['static']:.6f}",
        f"power        {r.power_mw:.0f} mW average (active power {dev.active_power_mw:g} mW, "
        f"idle {dev.idle_power_mw:g} mW)",
    ])


def format_layers(r: NpuReport) -> str:
    head = ("id", "op", "prec", "output shape", "MACs", "weights B", "activ. B", "VTCM B",
            "DRAM B", "acts", "us", "bound", "uJ")
    rows = [(str(l.index), l.op, l.precision, "x".join(map(str, l.output_shape)), f"{l.macs:,}",
             f"{l.weight_bytes:,}", f"{l.activation_bytes:,}", f"{l.cost.onchip_bytes:,}",
             f"{l.cost.dram_bytes:,}", l.region, f"{l.latency_ms * 1e3:.3f}", l.cost.bound,
             f"{l.energy_mj * 1e3:.4f}") for l in r.layers]
    layer_ms = sum(l.latency_ms for l in r.layers)
    total = ("", "layers", "", "", f"{r.macs:,}", f"{sum(l.weight_bytes for l in r.layers):,}",
             "", f"{sum(l.cost.onchip_bytes for l in r.layers):,}",
             f"{sum(l.cost.dram_bytes for l in r.layers):,}", "", f"{layer_ms * 1e3:.3f}", "",
             f"{sum(l.energy_mj for l in r.layers) * 1e3:.4f}")
    widths = [max(len(row[i]) for row in [head, total, *rows]) for i in range(len(head))]
    left = {1, 2, 3, 9, 11}

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "-" * len(line(head))
    return "\n".join([line(head), rule, *map(line, rows), rule, line(total)])


def format_report(r: NpuReport) -> str:
    parts = [format_summary(r), "", format_layers(r), "", format_violations(r.violations)]
    return "\n".join(parts + ([""] + [f"note: {n}" for n in r.notes] if r.notes else []))
