"""Single-operator int8 TFLite models with random weights: the shapes the calibration sweeps.

Built with the flatbuffer object API of LiteRT's schema module, so they load through
`graph.load_graph` and run through TFLM like any other model.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

from ..ops import SAME, VALID, output_and_padding


def _quant(scale, zp, axis=0):
    q = s.QuantizationParametersT()
    q.scale = [float(x) for x in np.atleast_1d(scale)]
    q.zeroPoint = [int(x) for x in np.atleast_1d(zp)]
    q.quantizedDimension = axis
    return q


class _Builder:
    def __init__(self):
        self.tensors, self.buffers = [], [s.BufferT()]

    def tensor(self, shape, dtype, quant, data=None):
        t = s.TensorT()
        t.shape = list(shape)
        t.type = {"int8": s.TensorType.INT8, "int32": s.TensorType.INT32}[dtype]
        t.quantization = quant
        t.name = f"t{len(self.tensors)}"
        b = s.BufferT()
        if data is not None:
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        self.buffers.append(b)
        t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def finish(self, opcode, inputs, outputs, options_type, options) -> bytes:
        code = s.OperatorCodeT()
        code.builtinCode = opcode
        code.deprecatedBuiltinCode = min(opcode, 127)
        code.version = 1
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, inputs, outputs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        sg = s.SubGraphT()
        sg.tensors, sg.operators = self.tensors, [op]
        sg.inputs = [i for i in inputs if self.buffers[self.tensors[i].buffer].data is None]
        sg.outputs = outputs
        m = s.ModelT()
        m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [sg], self.buffers
        m.description = "edgesim calibration layer"
        fb = flatbuffers.Builder(1024)
        fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
        return bytes(fb.Output())


def _act_quant(rng):
    return _quant(rng.uniform(0.02, 0.1), int(rng.integers(-20, 20)))


def conv_model(in_hw, cin, cout, k, stride=1, padding=SAME, depthwise=False, seed=0) -> bytes:
    """CONV_2D (or DEPTHWISE_CONV_2D with cout = cin) on a 1 x H x W x cin input."""
    rng = np.random.default_rng(seed)
    b = _Builder()
    h, w = in_hw
    kh, kw = k
    oh, _ = output_and_padding(padding, stride, 1, h, kh)
    ow, _ = output_and_padding(padding, stride, 1, w, kw)
    x = b.tensor((1, h, w, cin), "int8", _act_quant(rng))
    wshape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    wscale = rng.uniform(0.002, 0.02, cout)
    wt = b.tensor(wshape, "int8", _quant(wscale, np.zeros(cout, int), 3 if depthwise else 0),
                  rng.integers(-127, 128, wshape).astype(np.int8))
    bias_scale = b.tensors[x].quantization.scale[0] * wscale
    bs = b.tensor((cout,), "int32", _quant(bias_scale, np.zeros(cout, int)),
                  rng.integers(-3000, 3000, cout).astype(np.int32))
    y = b.tensor((1, oh, ow, cout), "int8", _act_quant(rng))
    if depthwise:
        o = s.DepthwiseConv2DOptionsT()
        o.depthMultiplier = 1
        kind, code = s.BuiltinOptions.DepthwiseConv2DOptions, s.BuiltinOperator.DEPTHWISE_CONV_2D
    else:
        o = s.Conv2DOptionsT()
        kind, code = s.BuiltinOptions.Conv2DOptions, s.BuiltinOperator.CONV_2D
    o.padding, o.strideH, o.strideW = padding, stride, stride
    o.dilationHFactor = o.dilationWFactor = 1
    o.fusedActivationFunction = 1
    return b.finish(code, [x, wt, bs], [y], kind, o)


def fc_model(depth, units, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    x = b.tensor((1, depth), "int8", _act_quant(rng))
    wscale = rng.uniform(0.002, 0.02)
    wt = b.tensor((units, depth), "int8", _quant(wscale, 0), rng.integers(-127, 128, (units, depth)).astype(np.int8))
    bs = b.tensor((units,), "int32", _quant(b.tensors[x].quantization.scale[0] * wscale, 0),
                  rng.integers(-3000, 3000, units).astype(np.int32))
    y = b.tensor((1, units), "int8", _act_quant(rng))
    o = s.FullyConnectedOptionsT()
    o.fusedActivationFunction = 1
    return b.finish(s.BuiltinOperator.FULLY_CONNECTED, [x, wt, bs], [y], s.BuiltinOptions.FullyConnectedOptions, o)


def pool_model(in_hw, ch, f, stride, padding=VALID, average=True, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    h, w = in_hw
    q = _act_quant(rng)
    oh, _ = output_and_padding(padding, stride, 1, h, f)
    ow, _ = output_and_padding(padding, stride, 1, w, f)
    x = b.tensor((1, h, w, ch), "int8", q)
    y = b.tensor((1, oh, ow, ch), "int8", _quant(q.scale[0], q.zeroPoint[0]))
    o = s.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = padding, stride, stride, f, f
    code = s.BuiltinOperator.AVERAGE_POOL_2D if average else s.BuiltinOperator.MAX_POOL_2D
    return b.finish(code, [x], [y], s.BuiltinOptions.Pool2DOptions, o)


def add_model(shape, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    x1 = b.tensor(shape, "int8", _act_quant(rng))
    x2 = b.tensor(shape, "int8", _act_quant(rng))
    y = b.tensor(shape, "int8", _act_quant(rng))
    o = s.AddOptionsT()
    o.fusedActivationFunction = 1
    return b.finish(s.BuiltinOperator.ADD, [x1, x2], [y], s.BuiltinOptions.AddOptions, o)


def softmax_model(rows, depth, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    x = b.tensor((rows, depth), "int8", _act_quant(rng))
    y = b.tensor((rows, depth), "int8", _quant(1 / 256, -128))
    o = s.SoftmaxOptionsT()
    o.beta = 1.0
    return b.finish(s.BuiltinOperator.SOFTMAX, [x], [y], s.BuiltinOptions.SoftmaxOptions, o)


def reshape_model(shape, new_shape, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    q = _act_quant(rng)
    x = b.tensor(shape, "int8", q)
    y = b.tensor(new_shape, "int8", _quant(q.scale[0], q.zeroPoint[0]))
    o = s.ReshapeOptionsT()
    o.newShape = list(new_shape)
    return b.finish(s.BuiltinOperator.RESHAPE, [x], [y], s.BuiltinOptions.ReshapeOptions, o)
