"""The cost model, in one place (after Vela's npu_performance.py): time, memory traffic and
energy of one operator on a mobile-NPU profile, and of dense FP32 work on a mobile-CPU profile.

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

CPU work: time = max(MACs / sustained FP32 MACs/s, DRAM bytes / DRAM bandwidth); energy
likewise from pJ/MAC, pJ/byte and idle power x time.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.graph import Operator, Subgraph

from .devices import CpuProfile, NpuProfile


@dataclass(frozen=True)
class Cost:
    """Time (s), traffic (bytes) and energy (J) of one piece of work."""

    compute_s: float
    memory_s: float
    overhead_s: float            # fixed dispatch or invocation time
    onchip_bytes: int            # VTCM traffic
    dram_bytes: int
    mac_j: float
    onchip_j: float
    dram_j: float
    static_j: float              # idle power x time

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s) + self.overhead_s

    @property
    def energy_j(self) -> float:
        return self.mac_j + self.onchip_j + self.dram_j + self.static_j

    @property
    def bound(self) -> str:
        """What sets the time: "compute", "memory" or "dispatch"."""
        if self.overhead_s > max(self.compute_s, self.memory_s):
            return "dispatch"
        return "compute" if self.compute_s >= self.memory_s else "memory"


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


def cpu_cost(dev: CpuProfile, *, macs: int, dram_bytes: int) -> Cost:
    """Cost of `macs` FP32 multiply-accumulates moving `dram_bytes` on the CPU's big cores."""
    compute = macs / dev.fp32_macs_per_s
    memory = dram_bytes / dev.dram.bytes_per_s
    return Cost(compute_s=compute, memory_s=memory, overhead_s=0.0, onchip_bytes=0,
                dram_bytes=dram_bytes, mac_j=macs * dev.pj_per_fp32_mac * 1e-12, onchip_j=0.0,
                dram_j=dram_bytes * dev.dram.pj_per_byte * 1e-12,
                static_j=dev.idle_power_mw * 1e-3 * max(compute, memory))
