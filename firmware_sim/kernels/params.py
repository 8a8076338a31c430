"""What TFLM's Prepare() computes for each int8 operator (float32 ones: params_f32.py), and
the argument blocks of the C kernels (src/edgesim_kernels.c: one struct of 32-bit words per
kernel, pointers first).

Quantisation follows tensorflow/lite/kernels/internal/quantization_util.cc (QuantizeMultiplier:
frexp, round half away from zero, 2^31 -> 2^30 with shift + 1), kernel_util.cc
(PopulateConvolutionQuantizationParams, CalculateActivationRangeQuantized) and TFLM's
add.cc / softmax_common.cc, all in double precision from the float32 scales of the file.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from ..cost.kernel_features import conv_geometry, kernel_entry
from edgesim.errors import EdgesimError
from ..graph import Graph, Operator, Subgraph, Tensor

ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3   # schema ActivationFunctionType
SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D",
             "ADD", "SOFTMAX", "RESHAPE")


class UnsupportedLayer(EdgesimError):
    """A layer the instruction-level kernels do not implement."""


def tflite_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(m: float) -> tuple[int, int]:
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def activation_range(act: int, out_scale: float, out_zp: int) -> tuple[int, int]:
    def quantize(f: float) -> int:    # float arithmetic, as TFLite's lambda does
        return out_zp + tflite_round(float(np.float32(f) / np.float32(out_scale)))
    lo, hi = -128, 127
    if act == ACT_RELU:
        return max(lo, quantize(0.0)), hi
    if act == ACT_RELU6:
        return max(lo, quantize(0.0)), min(hi, quantize(6.0))
    if act == ACT_RELU_N1_TO_1:
        return max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    return lo, hi


@dataclass
class Prepared:
    """One operator, ready to run: which kernel, its scalars, and the data it needs placed."""

    op: Operator
    entry: str                           # C function
    fields: list                         # struct words in order; str entries name an address
    inputs: list[int]                    # non-constant tensors read (tensor indices)
    output: int                          # tensor written
    constants: list[int]                 # constant tensors (weights, bias) read from flash
    opdata: dict = field(default_factory=dict)   # name -> int32 array placed in the arena tail
    scratch_bytes: int = 0

    def pack(self, addr: dict) -> bytes:
        words = [addr[f] if isinstance(f, str) else int(f) for f in self.fields]
        return struct.pack(f"<{len(words)}I", *[w & 0xFFFFFFFF for w in words])


def _q(sg: Subgraph, i: int):
    t = sg.tensors[i]
    if t.dtype != "int8" and not (t.constant and t.dtype == "int32"):
        raise UnsupportedLayer(f"tensor {i} {t.name!r} is {t.dtype}; the kernels take int8")
    if t.quant is None:
        raise UnsupportedLayer(f"tensor {i} {t.name!r} has no quantisation parameters")
    return t


def _bias(op: Operator) -> int:
    """The bias tensor of a conv or fully connected layer, -1 when it has none."""
    return op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else -1


def _output_quantisation(op: Operator, x: Tensor, w: Tensor, y: Tensor,
                         channels: int) -> tuple[dict, int, int]:
    """A conv or fully connected layer's OpData (per-channel output multipliers and shifts)
    and activation range (PopulateConvolutionQuantizationParams)."""
    ws = w.quant.scale
    mult, shift = zip(*(quantize_multiplier(x.quant.scale[0] * ws[c if len(ws) > 1 else 0]
                                            / y.quant.scale[0]) for c in range(channels)))
    lo, hi = activation_range(op.options.get("fusedActivationFunction", 0), y.quant.scale[0],
                              y.quant.zero_point[0])
    return {"mult": np.array(mult, np.int32), "shift": np.array(shift, np.int32)}, lo, hi


def prepare(graph: Graph, op: Operator, sg: Subgraph | None = None) -> Prepared:
    sg = sg or graph.main
    o = op.options
    if op.opcode not in SUPPORTED:
        raise UnsupportedLayer(f"operator {op.index} {op.opcode} has no instruction-level kernel "
                               f"(have: {', '.join(SUPPORTED)})")
    if op.unresolved_shapes:
        raise UnsupportedLayer(f"operator {op.index} {op.opcode} has shapes that only a run-time "
                               "resize resolves")
    operands = sg.op_tensors(op) + sg.op_tensors(op, "outputs")
    odd = next((t for t in operands if not t.nbytes or t.variable), None)
    if odd is not None:                 # neither has a place in the arena plan
        raise UnsupportedLayer(f"operator {op.index} {op.opcode}: tensor {odd.name!r} is "
                               + ("a variable (operator state)" if odd.variable else
                                  f"empty ({list(odd.shape)})"))
    if sg.tensors[op.outputs[0]].dtype == "float32":
        from .params_f32 import prepare_f32     # here: params_f32 imports this module
        return prepare_f32(graph, op, sg)
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w = _q(sg, op.inputs[0]), _q(sg, op.inputs[1])
        y = _q(sg, op.outputs[0])
        bias = _bias(op)
        _, out_h, out_w, out_c = y.shape
        g = conv_geometry(op, sg)
        if (g.out_h, g.out_w) != (out_h, out_w):
            raise UnsupportedLayer(f"operator {op.index}: output shape {y.shape} does not match padding")
        opdata, lo, hi = _output_quantisation(op, x, w, y, out_c)
        entry, scratch = kernel_entry(op, sg), 0
        if entry == "depthwise_s8" and (o.get("depthMultiplier", 1) != 1 or g.in_c != out_c):
            raise UnsupportedLayer(f"operator {op.index}: depth multiplier != 1")
        if entry == "conv_s8":
            if w.shape[3] != g.in_c:
                raise UnsupportedLayer(f"operator {op.index}: grouped convolution")
            scratch = 2 * (g.k_h * g.k_w * g.in_c) * 2
        fields = ["in0", f"c{op.inputs[1]}", f"c{bias}" if bias >= 0 else 0, "out", "mult", "shift",
                  "scratch" if scratch else 0, g.in_h, g.in_w, g.in_c, out_h, out_w, out_c,
                  g.k_h, g.k_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w,
                  -x.quant.zero_point[0], y.quant.zero_point[0], lo, hi]
        return Prepared(op, entry, fields, [op.inputs[0]], op.outputs[0],
                        [op.inputs[1]] + ([bias] if bias >= 0 else []), opdata, scratch)
    if op.opcode == "FULLY_CONNECTED":
        x, w, y = _q(sg, op.inputs[0]), _q(sg, op.inputs[1]), _q(sg, op.outputs[0])
        bias = _bias(op)
        depth = w.shape[1]
        units = w.shape[0]
        if x.elements % depth:
            raise UnsupportedLayer(f"operator {op.index}: input size not a multiple of the depth")
        opdata, lo, hi = _output_quantisation(op, x, w, y, units)
        fields = ["in0", f"c{op.inputs[1]}", f"c{bias}" if bias >= 0 else 0, "out", "mult", "shift",
                  x.elements // depth, depth, units, -x.quant.zero_point[0], y.quant.zero_point[0], lo, hi]
        return Prepared(op, "fully_connected_s8", fields, [op.inputs[0]], op.outputs[0],
                        [op.inputs[1]] + ([bias] if bias >= 0 else []), opdata)
    if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        x, y = _q(sg, op.inputs[0]), _q(sg, op.outputs[0])
        g = conv_geometry(op, sg)
        lo, hi = activation_range(o.get("fusedActivationFunction", 0), y.quant.scale[0], y.quant.zero_point[0])
        avg = op.opcode == "AVERAGE_POOL_2D"
        fields = ["in0", "out", "scratch" if avg else 0, g.in_h, g.in_w, g.in_c, g.out_h, g.out_w,
                  g.k_h, g.k_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w, lo, hi]
        return Prepared(op, "avgpool_s8" if avg else "maxpool_s8", fields, [op.inputs[0]],
                        op.outputs[0], [], {}, g.in_c * 4 if avg else 0)
    if op.opcode == "ADD":
        a, b, y = _q(sg, op.inputs[0]), _q(sg, op.inputs[1]), _q(sg, op.outputs[0])
        if a.shape != b.shape or a.constant or b.constant:
            raise UnsupportedLayer(f"operator {op.index}: broadcasting or constant ADD")
        left = 20
        sa, sb, so = a.quant.scale[0], b.quant.scale[0], y.quant.scale[0]
        twice_max = 2 * float(max(np.float32(sa), np.float32(sb)))
        m1, s1 = quantize_multiplier(sa / twice_max)
        m2, s2 = quantize_multiplier(sb / twice_max)
        mo, shift_o = quantize_multiplier(twice_max / ((1 << left) * so))
        lo, hi = activation_range(o.get("fusedActivationFunction", 0), so, y.quant.zero_point[0])
        fields = ["in0", "in1", "out", y.elements, -a.quant.zero_point[0], m1, s1,
                  -b.quant.zero_point[0], m2, s2, left, y.quant.zero_point[0], mo, shift_o, lo, hi]
        return Prepared(op, "add_s8", fields, [op.inputs[0], op.inputs[1]], op.outputs[0], [])
    if op.opcode == "SOFTMAX":
        x, y = _q(sg, op.inputs[0]), _q(sg, op.outputs[0])
        if y.quant.zero_point[0] != -128 or abs(y.quant.scale[0] - 1 / 256) > 1e-9:
            raise UnsupportedLayer(f"operator {op.index}: softmax output must be scale 1/256, zp -128")
        beta = float(np.float32(o.get("beta", 1.0)))
        real = min(beta * x.quant.scale[0] * (1 << (31 - 5)), (1 << 31) - 1.0)
        mult, left = quantize_multiplier(real)
        radius = math.floor(1.0 * ((1 << 5) - 1) * (1 << (31 - 5)) / (1 << left))
        depth = x.shape[-1]
        fields = ["in0", "out", x.elements // depth, depth, mult, left, -radius]
        return Prepared(op, "softmax_s8", fields, [op.inputs[0]], op.outputs[0], [])
    # RESHAPE: a copy when TFLM gives input and output different buffers
    x, y = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
    return Prepared(op, "copy_s8", ["in0", "out", y.nbytes], [op.inputs[0]], op.outputs[0], [])
