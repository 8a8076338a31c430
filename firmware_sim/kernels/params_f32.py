"""What TFLM's Prepare() computes for each float32 operator, and the argument blocks of the
float kernels (src/edgesim_kernels_f32.c: one struct of 32-bit words per kernel, pointers
first, float scalars as their IEEE-754 single-precision bits).

Float operators need no quantisation: Prepare() only derives the fused activation's clamp
range, CalculateActivationRange<float> of tensorflow/lite/kernels/kernel_util.h.
"""

from __future__ import annotations

import numpy as np

from ..cost.kernel_features import conv_geometry, kernel_entry
from ..graph import Graph, Operator, Subgraph
from .params import ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, Prepared, UnsupportedLayer

FLT_MAX = float(np.finfo(np.float32).max)


def float_bits(x: float) -> int:
    """The 32-bit word holding float32 `x`."""
    return int(np.float32(x).view(np.uint32))


def activation_range_f32(act: int) -> tuple[int, int]:
    """(min, max) of the fused activation as float32 bit patterns."""
    lo, hi = {ACT_RELU: (0.0, FLT_MAX), ACT_RELU6: (0.0, 6.0),
              ACT_RELU_N1_TO_1: (-1.0, 1.0)}.get(act, (-FLT_MAX, FLT_MAX))
    return float_bits(lo), float_bits(hi)


def _f(sg: Subgraph, i: int, op: Operator):
    t = sg.tensors[i]
    if t.dtype != "float32":
        why = ("TFLM refuses hybrid models (float activations, integer weights)"
               if t.constant else "the float kernels take float32")
        raise UnsupportedLayer(f"operator {op.index} {op.opcode}: tensor {i} {t.name!r} is "
                               f"{t.dtype}; {why}")
    return t


def _bias(op: Operator) -> int:
    return op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else -1


def prepare_f32(graph: Graph, op: Operator, sg: Subgraph) -> Prepared:
    """The float32 operator `op` (its output is float32) ready to run."""
    o = op.options
    lo, hi = activation_range_f32(o.get("fusedActivationFunction", 0))
    entry = kernel_entry(op, sg)
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x, w, y = _f(sg, op.inputs[0], op), _f(sg, op.inputs[1], op), _f(sg, op.outputs[0], op)
        bias = _bias(op)
        if bias >= 0:
            _f(sg, bias, op)
        g = conv_geometry(op, sg)
        _, out_h, out_w, out_c = y.shape
        if (g.out_h, g.out_w) != (out_h, out_w):
            raise UnsupportedLayer(f"operator {op.index}: output shape {y.shape} does not match padding")
        if op.opcode == "CONV_2D" and w.shape[3] != g.in_c:
            raise UnsupportedLayer(f"operator {op.index}: grouped convolution")
        dm = out_c // g.in_c if op.opcode == "DEPTHWISE_CONV_2D" else 1
        fields = ["in0", f"c{op.inputs[1]}", f"c{bias}" if bias >= 0 else 0, "out",
                  g.in_h, g.in_w, g.in_c, out_h, out_w, out_c, g.k_h, g.k_w, g.stride_h,
                  g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, dm, lo, hi]
        return Prepared(op, entry, fields, [op.inputs[0]], op.outputs[0],
                        [op.inputs[1]] + ([bias] if bias >= 0 else []))
    if op.opcode == "FULLY_CONNECTED":
        x, w, y = _f(sg, op.inputs[0], op), _f(sg, op.inputs[1], op), _f(sg, op.outputs[0], op)
        bias = _bias(op)
        if bias >= 0:
            _f(sg, bias, op)
        units, depth = w.shape
        if x.elements % depth:
            raise UnsupportedLayer(f"operator {op.index}: input size not a multiple of the depth")
        fields = ["in0", f"c{op.inputs[1]}", f"c{bias}" if bias >= 0 else 0, "out",
                  x.elements // depth, depth, units, lo, hi]
        return Prepared(op, entry, fields, [op.inputs[0]], op.outputs[0],
                        [op.inputs[1]] + ([bias] if bias >= 0 else []))
    if op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        _f(sg, op.inputs[0], op), _f(sg, op.outputs[0], op)
        g = conv_geometry(op, sg)
        fields = ["in0", "out", g.in_h, g.in_w, g.in_c, g.out_h, g.out_w, g.k_h, g.k_w,
                  g.stride_h, g.stride_w, g.pad_h, g.pad_w, lo, hi]
        return Prepared(op, entry, fields, [op.inputs[0]], op.outputs[0], [])
    if op.opcode == "ADD":
        a, b, y = _f(sg, op.inputs[0], op), _f(sg, op.inputs[1], op), _f(sg, op.outputs[0], op)
        if a.shape != b.shape or a.constant or b.constant:
            raise UnsupportedLayer(f"operator {op.index}: broadcasting or constant ADD")
        fields = ["in0", "in1", "out", y.elements, lo, hi]
        return Prepared(op, entry, fields, [op.inputs[0], op.inputs[1]], op.outputs[0], [])
    if op.opcode == "SOFTMAX":
        x, _ = _f(sg, op.inputs[0], op), _f(sg, op.outputs[0], op)
        depth = x.shape[-1]
        fields = ["in0", "out", x.elements // depth, depth, float_bits(o.get("beta", 1.0))]
        return Prepared(op, entry, fields, [op.inputs[0]], op.outputs[0], [])
    # RESHAPE: a copy when TFLM gives input and output different buffers
    x, y = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
    return Prepared(op, "copy_s8", ["in0", "out", y.nbytes], [op.inputs[0]], op.outputs[0], [])
