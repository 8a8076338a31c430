"""Single-operator TFLite models with random weights, int8 or (float32=True) float32: the
shapes the calibration sweeps.

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
        t.type = {"int8": s.TensorType.INT8, "int32": s.TensorType.INT32,
                  "float32": s.TensorType.FLOAT32}[dtype]
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


def _act(b: _Builder, shape, rng, float32: bool, quant=None) -> int:
    """An activation tensor: float32 without quantisation, or int8 with `quant` (default:
    random scale and zero point)."""
    if float32:
        return b.tensor(shape, "float32", None)
    return b.tensor(shape, "int8", quant or _act_quant(rng))


def _float_weights(b: _Builder, shape, rng) -> int:
    """Constant float32 weights, standard normal scaled by 1/sqrt(fan-in)."""
    fan_in = max(1, int(np.prod(shape[1:])))
    data = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    return b.tensor(shape, "float32", None, data)


def conv_model(in_hw, cin, cout, k, stride=1, padding=SAME, depthwise=False, seed=0,
               float32=False) -> bytes:
    """CONV_2D (or DEPTHWISE_CONV_2D with cout = cin) on a 1 x H x W x cin input."""
    rng = np.random.default_rng(seed)
    b = _Builder()
    h, w = in_hw
    kh, kw = k
    oh, _ = output_and_padding(padding, stride, 1, h, kh)
    ow, _ = output_and_padding(padding, stride, 1, w, kw)
    x = _act(b, (1, h, w, cin), rng, float32)
    wshape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    if float32:
        wt = _float_weights(b, wshape, rng)
        bs = b.tensor((cout,), "float32", None, rng.standard_normal(cout).astype(np.float32))
    else:
        wscale = rng.uniform(0.002, 0.02, cout)
        wt = b.tensor(wshape, "int8", _quant(wscale, np.zeros(cout, int), 3 if depthwise else 0),
                      rng.integers(-127, 128, wshape).astype(np.int8))
        bias_scale = b.tensors[x].quantization.scale[0] * wscale
        bs = b.tensor((cout,), "int32", _quant(bias_scale, np.zeros(cout, int)),
                      rng.integers(-3000, 3000, cout).astype(np.int32))
    y = _act(b, (1, oh, ow, cout), rng, float32)
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


def fc_model(depth, units, seed=0, float32=False) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    x = _act(b, (1, depth), rng, float32)
    if float32:
        wt = _float_weights(b, (units, depth), rng)
        bs = b.tensor((units,), "float32", None, rng.standard_normal(units).astype(np.float32))
    else:
        wscale = rng.uniform(0.002, 0.02)
        wt = b.tensor((units, depth), "int8", _quant(wscale, 0),
                      rng.integers(-127, 128, (units, depth)).astype(np.int8))
        bs = b.tensor((units,), "int32", _quant(b.tensors[x].quantization.scale[0] * wscale, 0),
                      rng.integers(-3000, 3000, units).astype(np.int32))
    y = _act(b, (1, units), rng, float32)
    o = s.FullyConnectedOptionsT()
    o.fusedActivationFunction = 1
    return b.finish(s.BuiltinOperator.FULLY_CONNECTED, [x, wt, bs], [y], s.BuiltinOptions.FullyConnectedOptions, o)


def pool_model(in_hw, ch, f, stride, padding=VALID, average=True, seed=0, float32=False) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    h, w = in_hw
    q = _act_quant(rng)
    oh, _ = output_and_padding(padding, stride, 1, h, f)
    ow, _ = output_and_padding(padding, stride, 1, w, f)
    x = _act(b, (1, h, w, ch), rng, float32, q)
    y = _act(b, (1, oh, ow, ch), rng, float32, _quant(q.scale[0], q.zeroPoint[0]))
    o = s.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = padding, stride, stride, f, f
    code = s.BuiltinOperator.AVERAGE_POOL_2D if average else s.BuiltinOperator.MAX_POOL_2D
    return b.finish(code, [x], [y], s.BuiltinOptions.Pool2DOptions, o)


def add_model(shape, seed=0, float32=False) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    x1 = _act(b, shape, rng, float32)
    x2 = _act(b, shape, rng, float32)
    y = _act(b, shape, rng, float32)
    o = s.AddOptionsT()
    o.fusedActivationFunction = 1
    return b.finish(s.BuiltinOperator.ADD, [x1, x2], [y], s.BuiltinOptions.AddOptions, o)


def softmax_model(rows, depth, seed=0, float32=False) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    x = _act(b, (rows, depth), rng, float32)
    y = _act(b, (rows, depth), rng, float32, _quant(1 / 256, -128))
    o = s.SoftmaxOptionsT()
    o.beta = 1.0
    return b.finish(s.BuiltinOperator.SOFTMAX, [x], [y], s.BuiltinOptions.SoftmaxOptions, o)


def reshape_model(shape, new_shape, seed=0, float32=False) -> bytes:
    rng = np.random.default_rng(seed)
    b = _Builder()
    q = _act_quant(rng)
    x = _act(b, shape, rng, float32, q)
    y = _act(b, new_shape, rng, float32, _quant(q.scale[0], q.zeroPoint[0]))
    o = s.ReshapeOptionsT()
    o.newShape = list(new_shape)
    return b.finish(s.BuiltinOperator.RESHAPE, [x], [y], s.BuiltinOptions.ReshapeOptions, o)


def float_weights_twin(data: bytes) -> bytes:
    """`data` with every int8 weight tensor of a float operator (the hybrid layers TFLM
    refuses) replaced by its dequantised float32 values, (q - zero point) x scale per channel:
    a model TFLM runs with its float kernels, of the same shapes."""
    m = s.ModelT.InitFromPackedBuf(data, 0)
    for sg in m.subgraphs:
        for op in sg.operators:
            if len(op.inputs) < 2 or sg.tensors[op.outputs[0]].type != s.TensorType.FLOAT32:
                continue
            t = sg.tensors[op.inputs[1]]
            buf = m.buffers[t.buffer]
            if t.type != s.TensorType.INT8 or buf.data is None:
                continue
            q = t.quantization
            axis = q.quantizedDimension if len(q.scale) > 1 else 0
            shape = [1] * len(t.shape)
            shape[axis] = len(q.scale)
            scale = np.asarray(q.scale, np.float32).reshape(shape)
            zp = np.asarray(q.zeroPoint, np.float32).reshape(shape)
            w = np.frombuffer(bytes(buf.data), np.int8).reshape(t.shape).astype(np.float32)
            buf.data = np.frombuffer(((w - zp) * scale).astype(np.float32).tobytes(), np.uint8)
            t.type, t.quantization = s.TensorType.FLOAT32, None
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())
