"""The NPU cost model, in one place (after Vela's npu_performance.py): time, memory traffic
and energy of one operator on a mobile-NPU profile (application CPUs: firmware_sim's
cost/roofline.py, whose `Cost` record this shares).

NPU operator: time = max(compute, memory) + dispatch, where
* compute = MACs / (sustained int8 MACs/s x the precision's rate), e.g. half rate for int16
  activations; operators without MACs stream their output bytes through the vector unit;
* memory = the slowest level: VTCM bytes / VTCM bandwidth vs DRAM bytes / DRAM bandwidth
  (levels transfer in parallel; Vela likewise takes the maximum over memory areas);
* energy = MACs x pJ/MAC(precision) + bytes x pJ/byte per level + idle power x time.
Placement, per graph: weights are read from VTCM when all of them fit there beside the
activation arena (loaded once per session), else streamed from DRAM by every operator;
graph inputs and outputs cross DRAM (buffers shared with the CPU); an operator's other
activations sit in VTCM when they fit there, else in DRAM. Each tensor an operator touches
moves once. A graph execution adds the profile's fixed invocation cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.cost.roofline import Cost
from firmware_sim.graph import Operator, Subgraph

from .devices import NpuProfile


@dataclass(frozen=True)
class OpCost:
    """One operator on the NPU: its precision ("a8w8", "a16w8", "-" without MACs), where its
    activations sit ("vtcm" or "dram") and its cost."""

    precision: str
    region: str
    cost: Cost


def npu_cost(dev: NpuProfile, *, macs: int = 0, precision: str = "a8w8", vector_bytes: int = 0,
             vtcm_bytes: int = 0, dram_bytes: int = 0, overhead_s: float | None = None) -> Cost:
    """Cost of `macs` at `precision` plus `vector_bytes` through the vector unit, moving
    `vtcm_bytes` and `dram_bytes`; `overhead_s` defaults to the per-operator dispatch.
    A precision the profile lacks is costed at its slowest one."""
    p = dev.precisions.get(precision) or min(dev.precisions.values(), key=lambda q: q.rate)
    compute = macs / (dev.int8_macs_per_s * p.rate) + vector_bytes / dev.vector_bytes_per_s
    memory = max(vtcm_bytes / dev.vtcm.bytes_per_s, dram_bytes / dev.dram.bytes_per_s)
    overhead = dev.dispatch_s if overhead_s is None else overhead_s
    return Cost(compute_s=compute, memory_s=memory, overhead_s=overhead,
                onchip_bytes=vtcm_bytes, dram_bytes=dram_bytes,
                mac_j=macs * p.pj_per_mac * 1e-12, onchip_j=vtcm_bytes * dev.vtcm.pj_per_byte * 1e-12,
                dram_j=dram_bytes * dev.dram.pj_per_byte * 1e-12,
                static_j=dev.idle_power_mw * 1e-3 * (max(compute, memory) + overhead))


def invoke_cost(dev: NpuProfile) -> Cost:
    """The fixed cost of one graph execution (the CPU's call into the NPU)."""
    return npu_cost(dev, overhead_s=dev.invoke_s)


def precision(op: Operator, sg: Subgraph) -> str:
    """"a<bits>w<bits>" of a MAC operator (its activation and weight inputs), else "-"."""
    if not op.macs:
        return "-"
    act_input = 2 if op.opcode == "TRANSPOSE_CONV" else 0    # inputs: shape, weights, input
    act, weights = (sg.tensors[op.inputs[i]].dtype for i in (act_input, 1))
    return f"a{_bits(act)}w{_bits(weights)}"


def _bits(dtype: str) -> str:
    return dtype.replace("uint", "u").replace("int", "").replace("float", "f")


def op_cost(dev: NpuProfile, op: Operator, sg: Subgraph, weights_in_vtcm: bool) -> OpCost:
    """Cost of one operator of `sg` on `dev` (see the module docstring for placement)."""
    io = set(sg.inputs) | set(sg.outputs)
    acts = [t for which in ("inputs", "outputs") for t in sg.op_tensors(op, which)
            if not t.constant]
    io_bytes = sum(t.nbytes for t in acts if t.index in io)
    inner = sum(t.nbytes for t in acts if t.index not in io)
    in_vtcm = inner <= dev.vtcm.size_bytes
    vtcm = (inner if in_vtcm else 0) + (op.weight_bytes if weights_in_vtcm else 0)
    dram = io_bytes + (0 if in_vtcm else inner) + (0 if weights_in_vtcm else op.weight_bytes)
    vector = 0 if op.macs else sum(t.nbytes for t in sg.op_tensors(op, "outputs"))
    p = precision(op, sg)
    return OpCost(p, "vtcm" if in_vtcm else "dram",
                  npu_cost(dev, macs=op.macs, precision=p, vector_bytes=vector, vtcm_bytes=vtcm,
                           dram_bytes=dram))
