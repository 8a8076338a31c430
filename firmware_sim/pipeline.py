"""check(): load -> rules -> plan -> cost -> one Report, for every target (microcontroller,
application CPU, NPU: target.py). The target supplies its rules, memory rule and per-layer
cost; this file does what is common: the records, live memory and the deadline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .graph import Graph, load_graph
from .records import Layer, Limits, Report, over_deadline
from .target import Findings, Target, target_for


def check(model: str | Path | bytes | Graph, device, limits: Limits | None = None,
          kernels: str | None = None, exact: bool = False, int8_only: bool = False) -> Report:
    """Plan and cost `model` on `device` (a profile, a shipped profile's name or a .toml
    path); the Report's violations list every rule and budget it breaks.

    kernels: the kernel stack (default: the profile's first). exact: cost every layer by
    running the compiled kernels instruction by instruction on the emulated core (Cortex-M
    only). int8_only: refuse float32 operators even where the device could run them.
    """
    graph = model if isinstance(model, Graph) else load_graph(model)
    target = target_for(device, kernels)
    return run(graph, target, limits or Limits(), exact, int8_only)


def run(graph: Graph, target: Target, limits: Limits, exact: bool = False,
        int8_only: bool = False) -> Report:
    """The pipeline on an already built target."""
    sg = graph.main
    found = Findings()
    if len(graph.subgraphs) > 1:
        found.notes.append(f"{len(graph.subgraphs) - 1} further subgraph(s) (control flow) are "
                           "not planned or costed; figures cover the main subgraph")
    target.rules(graph, found, int8_only)
    memory = target.memory(graph, limits, found)
    timings = target.cost(graph, memory, found, exact)
    live = memory.plan.live_bytes(len(sg.operators))
    layers = []
    for op, t in zip(sg.operators, timings):
        out = sg.tensors[op.outputs[0]] if op.outputs else None
        layers.append(Layer(
            index=op.index, name=out.name if out else "", op=op.opcode, kernel=t.kernel,
            output_shape=out.shape if out else (), macs=op.macs, weight_bytes=op.weight_bytes,
            activation_bytes=sum(x.nbytes for w in ("inputs", "outputs")
                                 for x in sg.op_tensors(op, w) if not x.constant),
            live_bytes=live[op.index], cycles=t.cycles, latency_ms=t.latency_ms,
            energy_mj=t.energy_mj, region=t.region, calibrated=t.calibrated, bound=t.bound,
            traffic=t.traffic))
    fixed_ms, fixed_mj = target.fixed()
    report = Report(model=graph.path, device=target.profile, target=target.kind,
                    kernels=target.kernels, limits=limits, plan=memory.plan,
                    arena_region=memory.arena_region, region_bytes=memory.region_bytes,
                    memory=memory.rows, layers=tuple(layers),
                    violations=tuple(found.violations), notes=tuple(found.notes),
                    summary=tuple(found.summary), details=found.details, fixed_ms=fixed_ms,
                    fixed_mj=fixed_mj)
    late = over_deadline(report.latency_ms, limits)
    return replace(report, violations=report.violations + (late,)) if late else report
