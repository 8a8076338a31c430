"""Cycle model of TFLM kernels on Cortex-M4/M7: the whole cost model is in this file.

cycles(layer) = instructions / IPC  +  memory stall cycles  +  per-operator dispatch

* Instructions are counted from the kernels' inner loops (CMSIS-NN 6.x DSP path for cores
  with the DSP extension; TFLM's portable reference kernels compiled at -O2), per MAC, per
  output element, per im2col element and per element for element-wise kernels.
* Stalls come from where the operands sit: weights in flash behind the D-cache (a line
  fill costs the flash wait states at the flash bus clock and the bus beats) or behind the
  ART (Cortex-M4 parts), activations in TCM (none) or in bus SRAM (line fills and
  write-backs at the bus clock).
* Dispatch is TFLM's work per operator outside the kernel (the interpreter's node loop and
  the kernel wrapper's Eval preamble), measured per kernel entry and core by running a C
  port of it on the emulated core (firmware_sim/kernels/dispatch.py), stored in the table.
Every constant names its source; "estimate" marks the ones that await measurement. What
describes the device (IPC, caches, flash word, ART, bus widths and latencies) is read from the
device profile, where each figure cites its source; TFLM's software costs and the kernels'
instruction counts stay here.

On the `cmsis-nn` stack, layers the project's kernels implement (firmware_sim/kernels: conv,
1x1 conv, depthwise conv, fully connected, pooling, add, softmax, reshape; in int8, and in
float32 with TFLM's float reference kernels, which TFLM runs on either stack) are costed from
`cortex_m_table.toml` instead: per-kernel cycle functions fitted by
`tools/calibrate_cortex_m.py` to instruction-level runs of those kernels compiled for the core,
plus memory stalls from the same cache/flash model the instruction-level runs replay
(`_kernel_stalls`). `edgesim check --exact` runs the kernels themselves.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from edgesim.errors import EdgesimError

from ..devices import ArtSpec, DeviceProfile, MemoryRegion
from ..graph import Operator, Subgraph
from ..kernel_stacks import kernel_for, weight_passes
from ..memory.regions import access_cycles
from . import kernel_features as kf

TABLE = Path(__file__).with_name("cortex_m_table.toml")


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
    fitted = _fitted(op, sg, device, stack, arena)
    if fitted is not None:
        return fitted
    instructions, calibrated = _instructions(op, sg, kernel_for(stack, op, sg))
    ipc = device.ipc
    stalls = _weight_stalls(op, sg, device) + _activation_stalls(op, sg, device, arena)
    return LayerCost(instructions=round(instructions),
                     compute_cycles=math.ceil(instructions / ipc),
                     stall_cycles=math.ceil(stalls),
                     dispatch_cycles=dispatch_cycles(device, kf.kernel_entry(op, sg), arena),
                     calibrated=calibrated)


def dispatch_cycles(device: DeviceProfile, entry: str | None, arena: MemoryRegion) -> int:
    """Cycles TFLM spends per operator outside the kernel with the arena in `arena`: the
    table's measured pipeline cycles of the kernel entry's dispatch, plus its flash line
    fills (flash dims and index arrays) and, with the arena in cached bus RAM, its RAM line
    fills. A reference-stack operator is priced as the CMSIS-NN wrapper of the same operator
    (its Eval makes the same tensor and shape look-ups), a float one as its int8 twin
    (kernel_features.DISPATCH_TWIN); an operator without a measured entry costs the mean of
    the core's entries."""
    row = dispatch_row(device.core, entry)
    stall = row["dispatch_flash_lines"] * flash_miss_cycles(device)
    if device.has_dcache and arena.kind != "tcm" and arena.cached:
        stall += row["dispatch_ram_lines"] * ram_line_fill(device, arena)[0]
    return math.ceil(row["dispatch_cycles"] + stall)


@cache
def dispatch_row(core: str, entry: str | None) -> dict:
    """The table's measured dispatch figures (cycles, instructions, flash and RAM lines) for
    kernel `entry` on `core`: its own row, its int8 twin's for a float kernel, else the mean
    of the core's measured rows."""
    rows = [r for r in kernel_table().get(core, {}).values() if "dispatch_cycles" in r]
    if not rows:
        raise EdgesimError(f"no measured TFLM dispatch for {core} in {TABLE.name}: "
                           "run tools/calibrate_cortex_m.py")
    row = kernel_table()[core].get(kf.DISPATCH_TWIN.get(entry, entry))
    if row is not None and "dispatch_cycles" in row:
        return row
    keys = ("dispatch_cycles", "dispatch_instructions", "dispatch_flash_lines",
            "dispatch_ram_lines")
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


def flash_miss_cycles(device: DeviceProfile) -> float:
    """Stall cycles of one flash data miss: a D-cache line fill (Cortex-M7), else an ART
    line fill less the load's own cycle, which the pipeline count holds."""
    return flash_line_fill(device) if device.has_dcache else art_line_fill(device) - 1


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


def flash_line_fill(device: DeviceProfile) -> float:
    """Core cycles to fill one D-cache line from flash: the bus latency, one read of
    (wait states + 1) bus cycles per flash word of the line, each word crossing the bus in
    word / bus-width beats. The first beat of a word leaves in its read's last cycle and the
    next read overlaps the rest, so a word occupies max(wait states + 1, beats) cycles and
    only the last word's remaining beats add."""
    f = device.flash
    line = device.cache.line_bytes
    words = max(1, line // f.word_bytes)
    beats = max(1, min(line, f.word_bytes) // f.bus_width_bytes)
    bus = f.latency_cycles + words * max(f.wait_states + 1, beats) + beats - 1
    return bus * device.clock_hz / f.bus_clock_hz


def ram_line_fill(device: DeviceProfile, region: MemoryRegion) -> tuple[float, float]:
    """Core cycles to fill one D-cache line from bus RAM `region`, and to write a dirty one
    back (the same beats without the bus latency)."""
    beats = device.cache.line_bytes / region.bus_width_bytes
    fill = (region.latency_cycles + beats * (1 + region.wait_states)) * device.clock_hz / region.bus_clock_hz
    writeback = beats * (1 + region.wait_states) * device.clock_hz / region.bus_clock_hz
    return fill, writeback


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
        return lines * flash_line_fill(device)
    # No core cache: flash data goes through the ART; weights that fit in it stay after the
    # first pass, bigger ones miss once per ART line on every pass.
    art = device.flash.art
    lines = math.ceil(op.weight_bytes / art.line_bytes)
    passes = 1 if lines <= art.lines else weight_passes(op, sg)
    return lines * passes * flash_miss_cycles(device)


def _activation_stalls(op: Operator, sg: Subgraph, device: DeviceProfile,
                       arena: MemoryRegion) -> float:
    """Stalls moving the operator's activations between the arena region and the core."""
    if arena.kind == "tcm":
        return 0.0                       # TCM: single-cycle at core clock (Cortex-M7 TRM)
    moved = sum(t.nbytes for t in sg.op_tensors(op, "inputs") if not t.constant)
    written = sum(t.nbytes for t in sg.op_tensors(op, "outputs"))
    line = device.cache.line_bytes
    if arena.cached and device.cache.dcache_bytes and line:
        fill, _ = ram_line_fill(device, arena)
        # Compulsory misses on inputs and outputs, plus the write-back of dirty output lines.
        return (math.ceil(moved / line) + 2 * math.ceil(written / line)) * fill
    extra = access_cycles(arena, device.clock_hz) - 1   # per uncached 32-bit access
    return (moved + written) / 4 * extra


# ---------------------------------------------------------------------------------------
# The calibrated path: fitted kernel cycles + modelled memory stalls

def art_line_fill(device: DeviceProfile) -> float:
    """Core cycles to fill one line of the ART (the data cache in front of flash on parts
    without a core D-cache): one read of (wait states + 1) cycles per flash word of the
    line, all waited for (no data prefetch): conservative. The kernels' instruction-level
    runs charge the same (firmware_sim/kernels/machine.py)."""
    f = device.flash
    return (f.art.line_bytes // f.word_bytes) * (f.wait_states + 1) * device.clock_hz / f.bus_clock_hz


@cache
def kernel_table(path: Path = TABLE) -> dict:
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def _fitted(op: Operator, sg: Subgraph, device: DeviceProfile, stack: str,
            arena: MemoryRegion) -> LayerCost | None:
    entry = kf.kernel_entry(op, sg)
    if stack != "cmsis-nn" and not (entry or "").endswith("_f32"):
        return None                     # the float kernels are the same on both stacks
    row = kernel_table().get(device.core, {}).get(entry) if entry else None
    if row is None:
        return None
    try:
        f = kf.features(entry, op, sg)
    except (IndexError, KeyError, ValueError):
        return None
    compute = sum(c * f.get(n, 0) for n, c in zip(row["features"], row["cycles"]))
    instructions = sum(c * f.get(n, 0) for n, c in zip(row["features"], row["instructions"]))
    stalls = _kernel_stalls(entry, f, op, sg, device, arena)
    return LayerCost(instructions=max(0, round(instructions)), compute_cycles=max(0, math.ceil(compute)),
                     stall_cycles=math.ceil(stalls),
                     dispatch_cycles=dispatch_cycles(device, entry, arena),
                     calibrated=True)


#: Kernels that stream a weight tensor (the operator's second input) from flash.
WEIGHTED_KERNELS = ("conv_s8", "conv_1x1_s8", "depthwise_s8", "fully_connected_s8", "conv_f32",
                    "depthwise_f32", "fully_connected_f32")


def _kernel_stalls(entry: str, feats: dict[str, float], op: Operator, sg: Subgraph,
                   device: DeviceProfile, arena: MemoryRegion) -> float:
    """Stall cycles of one kernel call (`feats`: its kf.features): flash and cached-RAM line
    fills (Cortex-M7 D-cache, LRU), flash reads through the ART (Cortex-M4 parts), uncached
    RAM wait states."""
    weights = sg.tensors[op.inputs[1]] if entry in WEIGHTED_KERNELS else None
    consts = [t for t in sg.op_tensors(op, "inputs") if t.constant]
    other_const = sum(t.nbytes for t in consts if t is not weights)
    ins = [t for t in sg.op_tensors(op, "inputs") if not t.constant]
    outs = sg.op_tensors(op, "outputs")
    in_bytes, out_bytes = sum(t.nbytes for t in ins), sum(t.nbytes for t in outs)
    clock = device.clock_hz
    line = device.cache.line_bytes
    stall = 0.0
    if device.has_dcache:
        ways = device.cache.dcache_ways
        sets = device.cache.dcache_bytes // (line * ways)
        if weights is not None:
            lines = -(-weights.nbytes // line) + 1
            misses = kf.cyclic_misses(lines, kf.weight_passes(entry, op, sg), sets, ways)
        else:
            misses = 0
        misses += -(-other_const // line)
        stall += misses * flash_line_fill(device)
        if arena.kind != "tcm":
            if arena.cached:
                fill, wb = ram_line_fill(device, arena)
                in_lines = -(-in_bytes // line)
                passes = 1
                if entry == "conv_1x1_s8":
                    passes = max(1, sg.tensors[op.outputs[0]].shape[-1] // 2)
                in_miss = kf.cyclic_misses(in_lines, passes, sets, ways)
                out_lines = -(-out_bytes // line)
                stall += in_miss * fill + out_lines * (fill + wb)
            else:
                stall += (in_bytes + out_bytes) / 4 * (access_cycles(arena, clock) - 1)
        return stall
    # no core cache (Cortex-M4): flash data through the ART data cache
    art = device.flash.art
    art_fill = flash_miss_cycles(device)
    if weights is not None:
        stall += _art_misses(entry, feats, op, sg, weights.nbytes, art) * art_fill
    stall += -(-other_const // art.line_bytes) * art_fill
    if arena.kind != "tcm":
        extra = access_cycles(arena, clock) - 1
        stall += (in_bytes + out_bytes) / 4 * extra
    return stall


def _art_misses(entry: str, feats: dict[str, float], op: Operator, sg: Subgraph,
                nbytes: int, art: ArtSpec) -> float:
    lines = -(-nbytes // art.line_bytes) + 1
    if lines <= art.lines:
        return lines
    if entry == "conv_1x1_s8":
        k = sg.tensors[op.inputs[0]].shape[-1]
        rows = math.prod(sg.tensors[op.outputs[0]].shape[1:-1])
        pair_lines = 2 * (-(-k // art.line_bytes) + 1)
        return lines if pair_lines <= art.lines else lines * max(1, rows // 2)
    if entry == "depthwise_s8":
        w = sg.tensors[op.inputs[1]]
        kh, kw, c = w.shape[1], w.shape[2], w.shape[3]
        if kh * kw > art.lines:        # a group's taps cycle through more lines than the ART holds
            return feats["tap_groups"]
        return feats["pixels"] * kh * kw * -(-c // art.line_bytes)
    if entry == "depthwise_f32":
        # per pixel, channel by channel, one float from each tap's row of the filter
        kh, kw = sg.tensors[op.inputs[1]].shape[1:3]
        return feats["valid"] if kh * kw > art.lines else feats["pixels"] * lines
    return lines * kf.weight_passes(entry, op, sg)
