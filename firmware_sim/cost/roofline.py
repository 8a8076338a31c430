"""The roofline of application CPUs running TFLite + XNNPACK, and the `Cost` record every
time-based target (CPU, NPU) reports. The processor's figures (MAC lanes, utilization, the
speed-up per added core, L2, DRAM bandwidth, energy per MAC and per byte, per-operator
dispatch) are read from its profile (devices/cpu.py), where each cites its source.

Work: time = max(compute, memory) + dispatch, where
* compute = MACs / the sustained MAC rate of the precision (CpuProfile.macs_per_s); an operator
  without MACs streams its output elements at ELEMENT_CYCLES each, spread over the cores;
* memory = DRAM bytes / sustained DRAM bandwidth: the weights, plus the activations when they
  do not fit in L2;
* energy = MACs x pJ/MAC + DRAM bytes x pJ/byte + idle power x time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..devices.cpu import CpuProfile
from ..graph import Operator, Subgraph

#: Cycles per output element of element-wise kernels (add, mul, softmax, layer-norm pieces)
#: with 16-lane NEON plus requantisation (estimate).
ELEMENT_CYCLES = 1.0


@dataclass(frozen=True)
class Cost:
    """Time (s), traffic (bytes) and energy (J) of one piece of work."""

    compute_s: float
    memory_s: float
    overhead_s: float            # fixed dispatch or invocation time
    onchip_bytes: int            # traffic to on-chip memory (NPU VTCM; 0 on a CPU)
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


def cpu_cost(cpu: CpuProfile, *, macs: int = 0, precision: str = "int8", element_ops: int = 0,
             dram_bytes: int = 0, overhead_s: float = 0.0) -> Cost:
    """`macs` at `precision` ("int8" or "fp32") plus `element_ops` element-wise outputs,
    moving `dram_bytes`, plus a fixed `overhead_s`."""
    compute = macs / cpu.macs_per_s(precision) if macs else 0.0
    compute += element_ops * ELEMENT_CYCLES / (cpu.clock_hz * cpu.cores * cpu.parallel_efficiency)
    memory = dram_bytes / cpu.dram_bytes_per_s
    pj = cpu.int8_pj_per_mac if precision == "int8" else cpu.fp32_pj_per_mac
    return Cost(compute_s=compute, memory_s=memory, overhead_s=overhead_s, onchip_bytes=0,
                dram_bytes=dram_bytes, mac_j=macs * pj * 1e-12, onchip_j=0.0,
                dram_j=dram_bytes * cpu.dram_pj_per_byte * 1e-12,
                static_j=cpu.idle_power_mw * 1e-3 * (max(compute, memory) + overhead_s))


def layer_cost(op: Operator, sg: Subgraph, cpu: CpuProfile) -> Cost:
    """One TFLite operator on `cpu`: float32 operators run XNNPACK's F32 kernels, the others
    its QS8 ones; the weights stream from DRAM, the activations too when L2 cannot hold them."""
    acts = sum(t.nbytes for w in ("inputs", "outputs") for t in sg.op_tensors(op, w)
               if not t.constant)
    floats = any(t.dtype == "float32" for t in sg.op_tensors(op, "outputs"))
    elements = 0 if op.macs else sum(t.elements for t in sg.op_tensors(op, "outputs"))
    return cpu_cost(cpu, macs=op.macs, precision="fp32" if floats else "int8",
                    element_ops=elements,
                    dram_bytes=op.weight_bytes + (acts if acts > cpu.l2_bytes else 0),
                    overhead_s=cpu.dispatch_s)
