"""Cycle model of TFLM int8 kernels on Cortex-M4/M7: the whole cost model is in this file.

cycles(layer) = instructions / IPC(core)  +  memory stall cycles  +  per-operator dispatch

* Instructions are counted from the kernels' inner loops (CMSIS-NN 6.x DSP path for cores
  with the DSP extension; TFLM's portable reference kernels compiled at -O2), per MAC, per
  output element, per im2col element and per element for element-wise kernels.
* Stalls come from where the operands sit: weights in flash behind the D-cache (a line
  fill costs the flash wait states at the flash bus clock), activations in TCM (none) or in
  bus SRAM (line fills and write-backs at the bus clock).
Every constant names its source; "estimate" marks the ones that await measurement (the
instruction-level emulation of issue 5 is to replace them with a fitted table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..devices import DeviceProfile, MemoryRegion
from ..graph import Operator, Subgraph
from ..kernel_stacks import kernel_for, weight_passes
from ..memory.regions import access_cycles

#: Instructions per cycle a DSP inner loop sustains. Cortex-M7 TRM (DDI 0489) section 1:
#: dual issue of a load/store with a data-processing instruction; with one load per ~3
#: instructions that caps IPC near 1.5, we take 1.3 (estimate). Cortex-M4 TRM (DDI 0439)
#: section 3.3: single issue, LDR 2 cycles (1 when pipelined back to back): 0.85 (estimate).
IPC = {"cortex-m7": 1.3, "cortex-m4": 0.85}

#: Instructions TFLM spends per operator outside the kernel's loops: the MicroGraph invoke
#: loop, GetEvalInput/Output, RuntimeShape construction and parameter set-up (estimate).
DISPATCH_INSTRUCTIONS = 400

#: Per-MAC / per-output instruction counts. (impl, op) -> (per MAC, per output element,
#: per im2col or widened input element). Sources: inner loops of CMSIS-NN
#: arm_nn_mat_mult_kernel_s8_s16 (24 instructions per 16 MACs: 4 LDR, 2 read_and_pad of 5,
#: 8 SMLAD, 2 loop), arm_nn_mat_mult_nt_t_s8 (22 per 16 MACs), arm_nn_vec_mat_mult_t_s8
#: (15 per 8 MACs: 3 LDR, 6 SXTB16, 4 SMLAD, 2 loop), arm_depthwise_conv_3x3_s8 (12 per 4
#: MACs), arm_depthwise_conv_s8_opt (8 per 4 MACs), arm_q7_to_q15_with_offset (9 per 4
#: elements), arm_nn_requantize + bias + clamp + store (14 per output). Reference kernels:
#: TFLM reference_ops loops at -O2: index arithmetic (Offset()) per MAC, 64-bit
#: MultiplyByQuantizedMultiplier (25 per output); counts are estimates from the C source.
MAC_KERNELS = {
    ("cmsis-nn", "CONV_2D"): (24 / 16, 14, 9 / 4),
    ("cmsis-nn", "CONV_2D_1X1"): (22 / 16, 14, 0),
    ("cmsis-nn", "DEPTHWISE_CONV_2D_3X3"): (12 / 4, 14, 0),
    ("cmsis-nn", "DEPTHWISE_CONV_2D"): (8 / 4, 14, 9 / 4),
    ("cmsis-nn", "FULLY_CONNECTED"): (15 / 8, 14, 0),
    ("reference", "CONV_2D"): (8, 25, 0),
    ("reference", "DEPTHWISE_CONV_2D"): (10, 25, 0),
    ("reference", "FULLY_CONNECTED"): (5, 25, 0),
}

#: Instructions per output element (pooling: per window element) of the other kernels.
#: CMSIS-NN: arm_avgpool_s8 / arm_max_pool_s8 work on 4 channels per word (5 instructions
#: per 4 window elements); arm_softmax_s8 makes 3 passes with fixed-point exp (~65 per
#: element); arm_elementwise_add_s8 requantises both inputs and the sum (~28 per element);
#: arm_elementwise_mul_s8 one requantisation (~15). Reference equivalents and the rest are
#: estimates from TFLM's reference_ops C source.
ELEMENT_KERNELS = {
    ("cmsis-nn", "AVERAGE_POOL_2D"): 5 / 4,
    ("cmsis-nn", "MAX_POOL_2D"): 5 / 4,
    ("cmsis-nn", "SOFTMAX"): 65,
    ("cmsis-nn", "ADD"): 28,
    ("cmsis-nn", "MUL"): 15,
    ("reference", "AVERAGE_POOL_2D"): 6,
    ("reference", "MAX_POOL_2D"): 6,
    ("reference", "SOFTMAX"): 100,
    ("reference", "ADD"): 40,
    ("reference", "MUL"): 25,
    ("reference", "RESHAPE"): 0.5,     # a memcpy: LDM/STM move 4 bytes per ~2 instructions
    ("reference", "QUANTIZE"): 12,     # one requantisation per element
    ("reference", "DEQUANTIZE"): 10,
    ("reference", "LOGISTIC"): 12,     # int8 LUT / fixed-point logistic
    ("reference", "TANH"): 12,
}
#: Any other element-wise operator (estimate; the report names such layers as rough).
DEFAULT_ELEMENT_INSTRUCTIONS = 20

#: Bus latency before the first beat of a cache-line fill, in bus cycles (estimate for the
#: STM32H7 AXI/AHB matrix; RM0433 gives no figure).
BUS_LATENCY_CYCLES = 2
#: Data bus width in bytes: AXI 64-bit (RM0433 section 2.1), AHB 32-bit.
BUS_WIDTH_BYTES = {"axi": 8, "ahb": 4, "tcm": 8}
#: Flash is read 256 bits at a time on STM32H7 (RM0433 section 4.3.6: "flash word" of 256
#: bits), so one wait-state penalty per 32-byte line.
FLASH_WORD_BYTES = 32


@dataclass(frozen=True)
class LayerCost:
    instructions: int
    compute_cycles: int
    stall_cycles: int
    dispatch_cycles: int
    calibrated: bool        # False where the kernel's instruction count is a rough default

    @property
    def cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles + self.dispatch_cycles


def layer_cost(op: Operator, sg: Subgraph, device: DeviceProfile, stack: str,
               arena: MemoryRegion) -> LayerCost:
    """Cycles of one operator on `device` with kernel `stack`, activations in `arena`."""
    impl = kernel_for(stack, op)
    instructions, calibrated = _instructions(op, sg, impl)
    ipc = IPC[device.core]
    stalls = _weight_stalls(op, sg, device) + _activation_stalls(op, sg, device, arena)
    return LayerCost(instructions=round(instructions),
                     compute_cycles=math.ceil(instructions / ipc),
                     stall_cycles=math.ceil(stalls),
                     dispatch_cycles=math.ceil(DISPATCH_INSTRUCTIONS / ipc),
                     calibrated=calibrated)


def _mac_variant(op: Operator, sg: Subgraph, impl: str) -> str:
    if impl != "cmsis-nn" or op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return op.opcode
    w = sg.tensors[op.inputs[1]]
    if op.opcode == "CONV_2D" and w.shape[1] == w.shape[2] == 1 and op.options.get("strideW") == 1:
        return "CONV_2D_1X1"
    if op.opcode == "DEPTHWISE_CONV_2D" and w.shape[1] == w.shape[2] == 3:
        return "DEPTHWISE_CONV_2D_3X3"
    return op.opcode


def _instructions(op: Operator, sg: Subgraph, impl: str) -> tuple[float, bool]:
    outputs = sg.op_tensors(op, "outputs")
    out_elems = sum(t.elements for t in outputs)
    key = (impl, _mac_variant(op, sg, impl))
    if key in MAC_KERNELS:
        per_mac, per_out, per_widened = MAC_KERNELS[key]
        widened = 0
        if per_widened:   # im2col: every output pixel widens its receptive field once
            w = sg.tensors[op.inputs[1]]
            pixels = math.prod(outputs[0].shape[:-1])
            widened = pixels * (math.prod(w.shape[1:]) if op.opcode == "CONV_2D"
                                else math.prod(w.shape[1:3]) * w.shape[3])
        return op.macs * per_mac + out_elems * per_out + widened * per_widened, True
    if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        window = op.options.get("filterWidth", 1) * op.options.get("filterHeight", 1)
        return out_elems * window * ELEMENT_KERNELS[(impl, op.opcode)], True
    per_elem = ELEMENT_KERNELS.get((impl, op.opcode), ELEMENT_KERNELS.get(("reference", op.opcode)))
    if per_elem is None:
        return out_elems * DEFAULT_ELEMENT_INSTRUCTIONS, False
    return out_elems * per_elem, True


def _flash_line_fill(device: DeviceProfile) -> float:
    """Core cycles to fill one cache line from flash."""
    f = device.flash
    words = max(1, device.cache.line_bytes // FLASH_WORD_BYTES)
    return (BUS_LATENCY_CYCLES + words * (f.wait_states + 1)) * device.clock_hz / f.bus_clock_hz


def _weight_stalls(op: Operator, sg: Subgraph, device: DeviceProfile) -> float:
    """Stalls reading constant tensors from flash, bytes x passes the kernel makes."""
    if not op.weight_bytes:
        return 0.0
    dcache = device.cache.dcache_bytes
    if dcache and device.cache.line_bytes:
        # Weights that fit in half the D-cache stay resident after the first pass; bigger
        # ones are streamed again on every pass (LRU evicts them before reuse).
        passes = 1 if op.weight_bytes <= dcache // 2 else weight_passes(op, sg)
        lines = math.ceil(op.weight_bytes / device.cache.line_bytes) * passes
        return lines * _flash_line_fill(device)
    # No data cache: every flash read of one flash word pays the wait states.
    f = device.flash
    reads = math.ceil(op.weight_bytes / 8) * weight_passes(op, sg)  # 64-bit flash reads
    return reads * f.wait_states * device.clock_hz / f.bus_clock_hz


def _activation_stalls(op: Operator, sg: Subgraph, device: DeviceProfile,
                       arena: MemoryRegion) -> float:
    """Stalls moving the operator's activations between the arena region and the core."""
    if arena.kind == "tcm":
        return 0.0                       # TCM: single-cycle at core clock (Cortex-M7 TRM)
    moved = sum(t.nbytes for t in sg.op_tensors(op, "inputs") if not t.constant)
    written = sum(t.nbytes for t in sg.op_tensors(op, "outputs"))
    line = device.cache.line_bytes
    if arena.cached and device.cache.dcache_bytes and line:
        beats = line / BUS_WIDTH_BYTES[arena.kind]
        fill = (BUS_LATENCY_CYCLES + beats * (1 + arena.wait_states)) * device.clock_hz / arena.bus_clock_hz
        # Compulsory misses on inputs and outputs, plus the write-back of dirty output lines.
        return (math.ceil(moved / line) + 2 * math.ceil(written / line)) * fill
    extra = access_cycles(arena, device.clock_hz) - 1   # per uncached 32-bit access
    return (moved + written) / 4 * extra
