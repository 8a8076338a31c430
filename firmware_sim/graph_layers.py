"""Contracts of the layer operators (after TFLite's kernels' Prepare() and the int8
quantization spec): convolutions, fully connected, batch matmul, pooling, element-wise and
activation operators, (de)quantize. Each raises Refused, or calls Site.mismatch for shapes
that disagree; graph_checks dispatches to them.
"""

from __future__ import annotations

import math

import numpy as np

from .graph_shapes import QUANTIZED, Refused, Site
from .ops import output_and_padding

INT32_MAX = 2**31 - 1
#: Weight and bias dtypes per activation dtype (float32 with int8 weights: hybrid).
_WEIGHTS = {"int8": ("int8", "int4"), "int16": ("int8",), "uint8": ("uint8",),
            "float32": ("float32", "int8")}
_BIAS = {"int8": ("int32",), "int16": ("int64", "int32"), "uint8": ("int32",),
         "float32": ("float32",)}
#: Fixed output quantisation of int8/int16 LUT-style kernels: {op: {dtype: (scale, zp)}}.
_SIGMOID = {"int8": (1 / 256, -128), "uint8": (1 / 256, 0), "int16": (1 / 32768, 0)}
_FIXED_OUTPUT = {"SOFTMAX": _SIGMOID, "LOGISTIC": _SIGMOID,
                 "TANH": {"int8": (1 / 128, 0), "uint8": (1 / 128, 128), "int16": (1 / 32768, 0)}}


# ---------------------------------------------------------------------------------------
# Weighted layers: convolutions and fully connected

def _window(op: Site, size: tuple[int, int], kernel: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    """Check strides (and dilations) and return the output height and width TFLite
    computes from the padding rule."""
    for name, v in (("stride_h", op.opt("strideH")), ("stride_w", op.opt("strideW")),
                    ("dilation_h_factor", dilation[0]), ("dilation_w_factor", dilation[1])):
        if v < 1:
            raise Refused(f"{name} {v} must be >= 1")
    out = []
    for axis, n, k, s, d in zip(("height", "width"), size, kernel,
                                (op.opt("strideH"), op.opt("strideW")), dilation):
        eff = (k - 1) * d + 1
        if n + eff + s > INT32_MAX:   # TFLite sizes and paddings are 32-bit ints
            raise Refused(f"{axis}: filter {k}, dilation {d} and stride {s} overflow 32-bit "
                          "size arithmetic")
        o, _ = output_and_padding(op.opt("padding"), s, d, n, k)
        if o < 1:
            op.mismatch(f"input {axis} {n} is smaller than the {'dilated ' if d > 1 else ''}"
                        f"filter ({eff}) under VALID padding")
        out.append(o)
    return out[0], out[1]


def _dilations(op: Site) -> tuple[int, int]:
    return op.opt("dilationHFactor"), op.opt("dilationWFactor")


def _weighted(op: Site, x, w, b, y, channels: int, axis: int) -> None:
    """dtypes and quantisation of input x, weights w, bias b and output y; per-channel
    weights along `axis`, one scale per output channel."""
    if x.dtype not in _WEIGHTS:
        raise Refused(f"{op.label(x)} is {x.dtype}; {op.opcode} takes "
                      f"{', '.join(_WEIGHTS)}")
    if w.dtype not in _WEIGHTS[x.dtype]:
        raise Refused(f"{op.label(w)} is {w.dtype}; with {x.dtype} input the weights are "
                      f"{' or '.join(_WEIGHTS[x.dtype])}")
    op.same_dtype(x, y)
    if b is not None:
        if b.dtype not in _BIAS[x.dtype]:
            raise Refused(f"{op.label(b)} is {b.dtype}; with {x.dtype} input the bias is "
                          f"{' or '.join(_BIAS[x.dtype])}")
        op.rank(b, 1)
        if b.shape[0] != channels:
            raise Refused(f"{op.label(b)} has shape {list(b.shape)}, not [{channels}] "
                          "(one per output channel)")
    if x.dtype in QUANTIZED:
        op.per_tensor(x, y)
    if w.dtype != "float32":
        op.quantized(w)
        if w.quant.per_channel and (w.quant.axis != axis or len(w.quant.scale) != channels):
            raise Refused(f"{op.label(w)} has {len(w.quant.scale)} per-channel scales along "
                          f"dimension {w.quant.axis}; {op.opcode} needs {channels} along "
                          f"dimension {axis}")


def _conv_2d(op: Site) -> None:
    op.counts(2, 3, optional=(2,))
    x, w, b, y = op.x(0), op.x(1), op.x(2), op.y(0)
    op.rank(x, 4), op.rank(w, 4), op.rank(y, 4)
    op.positive(w)
    n, ih, iw, ic = x.shape
    cout, kh, kw, kc = w.shape
    if ic % kc or cout % (ic // kc or 1) or ic < kc:
        op.mismatch(f"{op.label(x)} has {ic} channels: not a multiple of the {kc} input "
                    f"channels of {op.label(w)} (groups), or {cout} filters not divisible "
                    "into those groups")
    oh, ow = _window(op, (ih, iw), (kh, kw), _dilations(op))
    op.shape(y, (n, oh, ow, cout), "input, filter, strides, dilations and padding give")
    _weighted(op, x, w, b, y, cout, 0)


def _depthwise(op: Site) -> None:
    op.counts(3)   # without a bias LiteRT (and TFLM, given -1) reads one through a null
    x, w, b, y = op.x(0), op.x(1), op.x(2), op.y(0)
    op.rank(x, 4), op.rank(w, 4), op.rank(y, 4)
    op.positive(w)
    n, ih, iw, ic = x.shape
    one, kh, kw, cout = w.shape
    mult = op.opt("depthMultiplier")
    if one != 1:
        raise Refused(f"{op.label(w)} has shape {list(w.shape)}; depthwise filters are "
                      "[1, height, width, channels]")
    if mult < 1:
        raise Refused(f"depth_multiplier {mult} must be >= 1")
    if ic * mult != cout:
        op.mismatch(f"depth_multiplier {mult} x {ic} input channels != {cout} filter channels")
    oh, ow = _window(op, (ih, iw), (kh, kw), _dilations(op))
    op.shape(y, (n, oh, ow, cout), "input, filter, strides, dilations and padding give")
    _weighted(op, x, w, b, y, cout, 3)


def _transpose_conv(op: Site) -> None:
    op.counts(3, 4, optional=(3,))
    shape, w, x, b, y = op.x(0), op.x(1), op.x(2), op.x(3), op.y(0)
    op.rank(shape, 1), op.rank(w, 4), op.rank(x, 4), op.rank(y, 4)
    op.positive(w)
    if shape.dtype != "int32" or shape.shape != (4,):
        raise Refused(f"{op.label(shape)} (output_shape) is {shape.dtype} {list(shape.shape)}, "
                      "not int32 [4]")
    given = op.values(shape)
    if given is not None and tuple(int(v) for v in given) != y.shape:
        op.mismatch(f"output_shape {list(given)} != {op.label(y)} shape {list(y.shape)}")
    n, ih, iw, ic = x.shape
    cout, kh, kw, kc = w.shape
    if ic != kc or y.shape[0] != n or y.shape[3] != cout:
        op.mismatch(f"{op.label(x)} {list(x.shape)}, {op.label(w)} {list(w.shape)} and "
                    f"{op.label(y)} {list(y.shape)} disagree on batch or channels")
    back = _window(op, y.shape[1:3], (kh, kw))   # the convolution this op transposes
    if back != (ih, iw):
        op.mismatch(f"{op.label(y)} {list(y.shape)} convolved with the filter, strides and "
                    f"padding gives {list(back)}, not the input's {[ih, iw]}")
    _weighted(op, x, w, b, y, cout, 0)


def _conv_3d(op: Site) -> None:
    op.counts(2, 3, optional=(2,))
    x, w, b, y = op.x(0), op.x(1), op.x(2), op.y(0)
    op.rank(x, 5), op.rank(w, 5), op.rank(y, 5)
    op.positive(w)
    strides = [op.opt(f"stride{a}") for a in "DHW"]
    dilations = [op.opt(f"dilation{a}Factor") for a in "DHW"]
    for a, s, d in zip("dhw", strides, dilations):
        if s < 1 or d < 1:
            raise Refused(f"stride_{a} {s} and dilation_{a}_factor {d} must be >= 1")
    if x.shape[4] % w.shape[3] or y.shape[4] != w.shape[4] or y.shape[0] != x.shape[0]:
        op.mismatch(f"{op.label(x)} {list(x.shape)}, {op.label(w)} {list(w.shape)} and "
                    f"{op.label(y)} {list(y.shape)} disagree on batch or channels")
    out = [output_and_padding(op.opt("padding"), s, d, n, k)[0]
           for n, k, s, d in zip(x.shape[1:4], w.shape[:3], strides, dilations)]
    op.shape(y, (x.shape[0], *out, w.shape[4]), "input, filter, strides, dilations and "
             "padding give")
    _weighted(op, x, w, b, y, w.shape[4], 4)


def _fully_connected(op: Site) -> None:
    op.counts(2, 3, optional=(2,))
    x, w, b, y = op.x(0), op.x(1), op.x(2), op.y(0)
    op.rank(w, 2)
    op.positive(w)
    if not x.shape or not y.shape:
        raise Refused(f"{op.label(x if not x.shape else y)} is a scalar")
    units, depth = w.shape
    if op.opt("weightsFormat") != 0:
        raise Refused(f"weights_format {op.opt('weightsFormat')} is not DEFAULT (0)")
    if x.elements % depth:
        op.mismatch(f"{op.label(x)} has {x.elements} elements, not a multiple of the "
                    f"depth {depth} of {op.label(w)}")
    batch = x.elements // depth
    if y.shape[-1] != units or y.elements != batch * units:
        op.mismatch(f"{op.label(y)} has shape {list(y.shape)}; {batch} rows of {units} "
                    "units expected")
    if op.opt("keepNumDims") and y.shape[:-1] != x.shape[:-1]:
        op.mismatch(f"keep_num_dims: {op.label(y)} {list(y.shape)} must keep the leading "
                    f"dimensions of {op.label(x)} {list(x.shape)}")
    _weighted(op, x, w, b, y, units, 0)


def _batch_matmul(op: Site) -> None:
    op.counts(2)
    a, b, y = op.x(0), op.x(1), op.y(0)
    for t in (a, b, y):
        op.rank(t, 2, 3, 4, 5)
    m, k = a.shape[-2:][::-1] if op.opt("adjX") else a.shape[-2:]
    k2, n = b.shape[-2:][::-1] if op.opt("adjY") else b.shape[-2:]
    if k != k2:
        op.mismatch(f"{op.label(a)} {list(a.shape)} and {op.label(b)} {list(b.shape)} have "
                    f"inner dimensions {k} and {k2}")
    batch = op.broadcast(a.shape[:-2], b.shape[:-2], a, b)
    op.shape(y, (*batch, m, n), "the matrix product gives")
    op.same_dtype(a, b, y)
    if a.dtype in QUANTIZED:
        op.per_tensor(a, b, y)


# ---------------------------------------------------------------------------------------
# Pooling, element-wise and activation operators

def _pool(op: Site) -> None:
    op.counts(1)
    x, y = op.x(0), op.y(0)
    op.rank(x, 4), op.rank(y, 4)
    kh, kw = op.opt("filterHeight"), op.opt("filterWidth")
    for name, v in (("filter_height", kh), ("filter_width", kw)):
        if v < 1:
            raise Refused(f"{name} {v} must be >= 1")
    oh, ow = _window(op, x.shape[1:3], (kh, kw))
    op.shape(y, (x.shape[0], oh, ow, x.shape[3]), "input, filter, strides and padding give")
    op.same_dtype(x, y)
    if x.dtype in QUANTIZED:
        op.per_tensor(x, y)
        if (x.quant.scale, x.quant.zero_point) != (y.quant.scale, y.quant.zero_point):
            raise Refused(f"{op.label(x)} and {op.label(y)} are quantised differently; "
                          f"quantised {op.opcode} does not rescale")


def _binary(op: Site) -> None:
    op.counts(2)
    a, b, y = op.x(0), op.x(1), op.y(0)
    op.shape(y, op.broadcast(a.shape, b.shape, a, b), "broadcasting the inputs gives")
    op.same_dtype(a, b, y)
    if a.dtype in QUANTIZED:
        op.per_tensor(a, b, y)
        if op.opcode in ("ADD", "SUB"):
            _add_multipliers(op, a.quant.scale[0], b.quant.scale[0], y, a.dtype)


def _add_multipliers(op: Site, s1: float, s2: float, y, dtype: str) -> None:
    """TFLite's quantised ADD and SUB rescale both inputs to twice the larger input scale,
    shifted left by 20 bits (15 for int16), in float32, and CHECK (abort) that each
    multiplier lies in (0, 1)."""
    f32 = np.float32
    with np.errstate(over="ignore"):
        twice = f32(2) * f32(max(s1, s2))
        shifted = f32(2 ** (15 if dtype == "int16" else 20)) * f32(y.quant.scale[0])
        out = float(twice) / float(shifted)
    if not (math.isfinite(twice) and 0 < out < 1 and s1 / twice > 0 and s2 / twice > 0):
        raise Refused(f"{op.label(y)} scale {y.quant.scale[0]:g} and input scales {s1:g}, "
                      f"{s2:g} put TFLite's rescaling multipliers outside (0, 1)")


def _unary(op: Site) -> None:
    op.counts(1)
    x, y = op.x(0), op.y(0)
    op.shape(y, x.shape, "the input has")
    op.same_dtype(x, y)
    if not math.isfinite(op.opt("alpha", 0.0)):
        raise Refused(f"alpha {op.opt('alpha')} must be finite")
    if x.dtype in QUANTIZED:
        op.per_tensor(x, y)
    _fixed_output(op, y)


def _fixed_output(op: Site, y) -> None:
    """Outputs whose quantisation the kernel fixes (e.g. int8 softmax: 1/256, -128)."""
    fixed = _FIXED_OUTPUT.get(op.opcode, {}).get(y.dtype)
    if fixed and not (math.isclose(y.quant.scale[0], fixed[0], rel_tol=1e-3)
                      and y.quant.zero_point[0] == fixed[1]):
        raise Refused(f"{op.label(y)} is quantised ({y.quant.scale[0]:g}, "
                      f"{y.quant.zero_point[0]}); {y.dtype} {op.opcode} writes scale "
                      f"{fixed[0]:g}, zero_point {fixed[1]}")


def _softmax(op: Site) -> None:
    op.counts(1)
    x, y = op.x(0), op.y(0)
    beta = op.opt("beta")
    if not math.isfinite(beta):
        raise Refused(f"beta {beta} must be finite")
    if not x.shape or not x.elements:
        raise Refused(f"{op.label(x)} has shape {list(x.shape)}; softmax needs a non-empty "
                      "last dimension")
    op.shape(y, x.shape, "the input has")
    if x.dtype == "int8" and y.dtype == "int16":
        op.per_tensor(x, y)
    else:
        _unary(op)
    if x.dtype in ("int8", "uint8") and not beta * x.quant.scale[0] * 2**26 > 1:
        # TFLite's PreprocessSoftmaxScaling CHECKs its multiplier > 1
        raise Refused(f"beta {beta:g} x input scale {x.quant.scale[0]:g} x 2^26 must "
                      "exceed 1")
    if y.dtype != x.dtype:
        _fixed_output(op, y)


def _quantize(op: Site) -> None:
    op.counts(1)
    x, y = op.x(0), op.y(0)
    op.shape(y, x.shape, "the input has")
    if x.dtype not in ("float32", "float16", *QUANTIZED, "int32") or y.dtype not in QUANTIZED:
        raise Refused(f"converts {x.dtype} to {y.dtype}; QUANTIZE writes int8, uint8 or int16")
    op.quantized(y, *([x] if x.dtype in QUANTIZED else []))


def _dequantize(op: Site) -> None:
    op.counts(1)
    x, y = op.x(0), op.y(0)
    op.shape(y, x.shape, "the input has")
    if x.dtype not in ("int8", "uint8", "int16", "float16", "int4") or y.dtype != "float32":
        raise Refused(f"converts {x.dtype} to {y.dtype}; DEQUANTIZE reads int8, uint8, int16, "
                      "int4 or float16 and writes float32")
    if x.dtype != "float16":
        op.quantized(x)


LAYER_CONTRACTS = {
    "CONV_2D": _conv_2d, "DEPTHWISE_CONV_2D": _depthwise, "TRANSPOSE_CONV": _transpose_conv,
    "CONV_3D": _conv_3d, "FULLY_CONNECTED": _fully_connected, "BATCH_MATMUL": _batch_matmul,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "L2_POOL_2D": _pool,
    "SOFTMAX": _softmax, "QUANTIZE": _quantize, "DEQUANTIZE": _dequantize,
    **{op: _binary for op in ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM")},
    **{op: _unary for op in ("ABS", "NEG", "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH",
                             "RSQRT", "SQRT", "GELU", "HARD_SWISH", "LEAKY_RELU")},
}
