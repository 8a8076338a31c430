"""Roofline model of TFLite + XNNPACK int8 inference on Cortex-A application processors.

time(layer) = max(compute time, DRAM time) + dispatch, with
* compute: MACs / (cores x MACs per cycle per core x kernel efficiency x clock); element-wise
  operators at a per-element cost;
* DRAM: weights plus the activations that do not fit in L2, over the sustained bandwidth.
Every constant names its source; "estimate" marks the ones that await measurement. The
processor's figures (MACs per cycle per core, the speed-up per added core, L2, DRAM
bandwidth) are read from the device profile, where each cites its source.
"""

from __future__ import annotations

import math

from ..devices import DeviceProfile
from ..graph import Operator, Subgraph
from .cortex_m import LayerCost

#: Share of the peak (the profile's macs_per_cycle) XNNPACK's QS8 GEMM/convolution micro-kernels sustain, after
#: accumulator widening (SADALP), requantisation and packing (estimate).
KERNEL_EFFICIENCY = 0.5
#: Cycles per output element of element-wise int8 kernels (add, mul, softmax, layer-norm
#: pieces) with 16-lane NEON plus requantisation (estimate).
ELEMENT_CYCLES = 1.0
#: TFLite's per-operator overhead: node dispatch and XNNPACK operator setup, seconds (estimate).
DISPATCH_S = 2e-6


def layer_cost(op: Operator, sg: Subgraph, device: DeviceProfile) -> LayerCost:
    """Cycles (at the core clock) of one operator with TFLite + XNNPACK on `device`."""
    threads = device.cores * device.parallel_efficiency
    if op.macs:
        rate = device.macs_per_cycle * KERNEL_EFFICIENCY * threads
        compute = op.macs / rate
    else:
        out = sum(t.elements for t in sg.op_tensors(op, "outputs"))
        compute = out * ELEMENT_CYCLES / threads
    activations = sum(t.nbytes for w in ("inputs", "outputs") for t in sg.op_tensors(op, w)
                      if not t.constant)
    from_dram = op.weight_bytes + (activations if activations > device.l2_bytes else 0)
    memory = from_dram / device.dram_bandwidth_bytes_per_s * device.clock_hz
    stall = max(0.0, memory - compute)
    return LayerCost(instructions=0, compute_cycles=math.ceil(compute),
                     stall_cycles=math.ceil(stall),
                     dispatch_cycles=math.ceil(DISPATCH_S * device.clock_hz), calibrated=True)
