"""The tiny int8 seed models of the "tflite" fuzz family, built with the TFLite schema's
object API: `zoo` (one each of most operators whose contracts load_graph checks) and `mini`
(only layers the instruction-level kernels implement)."""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

OP = s.BuiltinOperator


class _Model:
    """A tiny model under construction: tensors, buffers and operators of one subgraph."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.tensors, self.buffers, self.ops, self.codes = [], [s.BufferT()], [], []

    def tensor(self, shape, dtype=s.TensorType.INT8, scale=0.05, zp=0, data=None, axis=0):
        t = s.TensorT()
        t.shape, t.type, t.name = list(shape), dtype, f"t{len(self.tensors)}"
        if scale is not None:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale = [float(v) for v in np.atleast_1d(scale)]
            t.quantization.zeroPoint = [int(zp)] * len(t.quantization.scale)
            t.quantization.quantizedDimension = axis
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, values, dtype=s.TensorType.INT32):
        arr = np.asarray(values, np.int32)
        return self.tensor(arr.shape, dtype, None, data=arr)

    def weights(self, shape, axis, x_scale):
        n = shape[axis]
        scales = self.rng.uniform(0.002, 0.02, n)
        w = self.tensor(shape, scale=scales, axis=axis,
                        data=self.rng.integers(-127, 128, shape).astype(np.int8))
        b = self.tensor([n], s.TensorType.INT32, scale=x_scale * scales,
                        data=self.rng.integers(-500, 500, n).astype(np.int32))
        return w, b

    def op(self, code, inputs, outputs, options=None):
        if code not in self.codes:
            self.codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), list(inputs), list(outputs)
        if options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        self.ops.append(o)
        return outputs[0]

    def finish(self, inputs, outputs) -> bytes:
        m = s.ModelT()
        m.version, m.buffers, m.description = 3, self.buffers, "edgesim fuzz seed"
        m.operatorCodes = []
        for c in self.codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), 1
            m.operatorCodes.append(oc)
        sg = s.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = self.tensors, self.ops, inputs, outputs
        m.subgraphs = [sg]
        return pack(m)


def _opts(kind, **fields):
    o = getattr(s, kind + "T")()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def _conv(m, x, shape, cout, k, stride=1, padding=0, act=1):
    w, b = m.weights([cout, k, k, shape[3]], 0, 0.05)
    y = m.tensor([1, -(-shape[1] // stride), -(-shape[2] // stride), cout])
    return m.op(OP.CONV_2D, [x, w, b], [y], _opts(
        "Conv2DOptions", padding=padding, strideH=stride, strideW=stride,
        fusedActivationFunction=act, dilationHFactor=1, dilationWFactor=1))


def zoo() -> bytes:
    """Most operators with a contract, each fed by the one before, all int8."""
    m = _Model(1)
    x = m.tensor([1, 16, 16, 3])
    c = _conv(m, x, [1, 16, 16, 3], 4, 3)
    w, b = m.weights([1, 3, 3, 8], 3, 0.05)
    d = m.op(OP.DEPTHWISE_CONV_2D, [c, w, b], [m.tensor([1, 14, 14, 8])], _opts(
        "DepthwiseConv2DOptions", padding=1, strideH=1, strideW=1, depthMultiplier=2,
        dilationHFactor=1, dilationWFactor=1))
    pool = dict(padding=1, strideH=2, strideW=2, filterHeight=2, filterWidth=2)
    p = m.op(OP.MAX_POOL_2D, [d], [m.tensor([1, 7, 7, 8])], _opts("Pool2DOptions", **pool))
    pd = m.op(OP.PAD, [p, m.const([[0, 0], [1, 1], [1, 1], [0, 0]])], [m.tensor([1, 9, 9, 8])],
              _opts("PadOptions"))
    pool.update(strideH=1, strideW=1, filterHeight=3, filterWidth=3)
    ap = m.op(OP.AVERAGE_POOL_2D, [pd], [m.tensor([1, 7, 7, 8])], _opts("Pool2DOptions", **pool))
    tp = m.op(OP.TRANSPOSE, [p, m.const([0, 2, 1, 3])], [m.tensor([1, 7, 7, 8])])
    a = m.op(OP.ADD, [ap, tp], [m.tensor([1, 7, 7, 8], scale=0.1)], _opts("AddOptions"))
    k = m.tensor([], data=np.array(100, np.int8), scale=0.01)
    mu = m.op(OP.MUL, [a, k], [m.tensor([1, 7, 7, 8], scale=0.1)], _opts("MulOptions"))
    cc = m.op(OP.CONCATENATION, [mu, a], [m.tensor([1, 7, 7, 16], scale=0.1)],
              _opts("ConcatenationOptions", axis=-1))
    mn = m.op(OP.MEAN, [cc, m.const([1, 2])], [m.tensor([1, 16])], _opts("ReducerOptions"))
    rs = m.op(OP.RESHAPE, [mn, m.const([1, 2, 8])], [m.tensor([1, 2, 8])])
    w, b = m.weights([10, 8], 0, 0.05)
    fc = m.op(OP.FULLY_CONNECTED, [rs, w, b], [m.tensor([1, 2, 10])],
              _opts("FullyConnectedOptions", keepNumDims=True))
    sl = m.op(OP.STRIDED_SLICE, [fc, m.const([0, 1, 0]), m.const([1, 2, 10]), m.const([1, 1, 2])],
              [m.tensor([1, 1, 5])], _opts("StridedSliceOptions"))
    lg = m.op(OP.LOGISTIC, [sl], [m.tensor([1, 1, 5], scale=1 / 256, zp=-128)])
    sm = m.op(OP.SOFTMAX, [sl], [m.tensor([1, 1, 5], scale=1 / 256, zp=-128)],
              _opts("SoftmaxOptions", beta=1.0))
    sb = m.op(OP.SUB, [lg, sm], [m.tensor([1, 1, 5], scale=1 / 128)], _opts("SubOptions"))
    th = m.op(OP.TANH, [sb], [m.tensor([1, 1, 5], scale=1 / 128)])
    return m.finish([x], [th, fc])


def mini() -> bytes:
    """Only layers the instruction-level kernels implement (check --exact runs them all)."""
    m = _Model(2)
    x = m.tensor([1, 6, 6, 2])
    c = _conv(m, x, [1, 6, 6, 2], 4, 3, stride=2)
    w, b = m.weights([1, 3, 3, 4], 3, 0.05)
    dw = dict(padding=0, strideH=1, strideW=1, depthMultiplier=1, dilationHFactor=1,
              dilationWFactor=1, fusedActivationFunction=3)
    d = m.op(OP.DEPTHWISE_CONV_2D, [c, w, b], [m.tensor([1, 3, 3, 4])],
             _opts("DepthwiseConv2DOptions", **dw))
    a = m.op(OP.ADD, [c, d], [m.tensor([1, 3, 3, 4], scale=0.1)], _opts("AddOptions"))
    c1 = _conv(m, a, [1, 3, 3, 4], 8, 1)
    p = m.op(OP.AVERAGE_POOL_2D, [c1], [m.tensor([1, 1, 1, 8])], _opts(
        "Pool2DOptions", padding=1, strideH=3, strideW=3, filterHeight=3, filterWidth=3))
    r = m.op(OP.RESHAPE, [p, m.const([1, 8])], [m.tensor([1, 8])])
    w, b = m.weights([5, 8], 0, 0.05)
    fc = m.op(OP.FULLY_CONNECTED, [r, w, b], [m.tensor([1, 5])], _opts("FullyConnectedOptions"))
    sm = m.op(OP.SOFTMAX, [fc], [m.tensor([1, 5], scale=1 / 256, zp=-128)],
              _opts("SoftmaxOptions", beta=1.0))
    return m.finish([x], [sm])


def pack(model) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
