"""TFLite flatbuffer -> the project's graph model (subgraphs, operators, tensors, buffers).

Parsed with the schema module that LiteRT ships (`ai_edge_litert.schema_py_generated`), read
lazily so that a check never copies weights. Every index and size in the file is validated
before use, so a corrupted file raises ModelFormatError instead of crashing a C++ interpreter
later, and a header that claims an absurd tensor is refused before anything is allocated.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgesim.errors import ModelFormatError
from .ops import count_macs

#: Largest tensor (bytes) a model may declare. TFLite itself caps buffers at 2 GiB
#: (flatbuffers' 32-bit offsets); anything larger is a corrupt or hostile header.
MAX_TENSOR_BYTES = 2**31 - 1

_TYPE_NAMES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_ITEMSIZE = {
    "float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2,
    "complex64": 8, "int8": 1, "float64": 8, "complex128": 16, "uint64": 8, "uint32": 4,
    "uint16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
}
_PACKED_BITS = {"int4": 4, "uint4": 4, "int2": 2}  # sub-byte types, packed two (four) per byte
_NUMPY = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8,
          "int64": np.int64, "bool": np.bool_, "int16": np.int16, "int8": np.int8,
          "float64": np.float64, "uint64": np.uint64, "uint32": np.uint32, "uint16": np.uint16}


@dataclass(frozen=True)
class Quantization:
    """Affine quantisation: real = scale * (q - zero_point), per tensor or per channel `axis`."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int
    constant: bool                 # backed by non-empty data in the flatbuffer
    variable: bool
    quant: Quantization | None
    nbytes: int                    # bytes of the tensor's data, bytes

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: str                    # builtin operator name, e.g. "CONV_2D", or "CUSTOM:<code>"
    version: int
    inputs: tuple[int, ...]        # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    intermediates: tuple[int, ...]
    options: dict
    macs: int                      # multiply-accumulates per inference
    weight_bytes: int              # bytes of constant inputs (weights, biases), bytes


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_tensors(self, op: Operator, which: str = "inputs") -> list[Tensor]:
        return [self.tensors[i] for i in getattr(op, which) if i >= 0]


@dataclass(frozen=True)
class Graph:
    path: str
    data: bytes = field(repr=False)            # the whole flatbuffer, as read
    version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    buffer_spans: tuple[tuple[int, int], ...] = field(repr=False)  # (offset, size) per buffer

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def macs(self) -> int:
        return sum(op.macs for sg in self.subgraphs for op in sg.operators)

    def tensor_data(self, tensor: Tensor) -> np.ndarray:
        """The constant data of `tensor` as a numpy array of its shape (a copy)."""
        if not tensor.constant or tensor.dtype not in _NUMPY:
            raise ValueError(f"tensor {tensor.name!r} has no readable constant data")
        offset, size = self.buffer_spans[tensor.buffer]
        arr = np.frombuffer(self.data, dtype=_NUMPY[tensor.dtype], count=tensor.elements,
                            offset=offset)
        return arr.reshape(tensor.shape).copy()


def load_graph(source: str | Path | bytes, name: str | None = None) -> Graph:
    """Read a .tflite file (path or bytes) into a Graph; ModelFormatError if it is unusable."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name or "<bytes>"
    else:
        label = str(source)
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise ModelFormatError(f"{label}: no such file") from None
        except IsADirectoryError:
            raise ModelFormatError(f"{label}: is a directory, not a .tflite file") from None
        except OSError as exc:
            raise ModelFormatError(f"{label}: cannot read ({exc.strerror})") from None
    if len(data) < 8:
        raise ModelFormatError(f"{label}: {len(data)} bytes is too short for a TFLite flatbuffer")
    if data[4:8] != b"TFL3":
        raise ModelFormatError(f"{label}: not a TFLite model (file identifier {data[4:8]!r}, "
                               "expected b'TFL3')")
    try:
        return _parse(data, label)
    except ModelFormatError:
        raise
    except (IndexError, struct.error, ValueError, TypeError, OverflowError, UnicodeDecodeError,
            AttributeError) as exc:
        raise ModelFormatError(f"{label}: corrupted flatbuffer ({type(exc).__name__}: {exc})") from None


def _parse(data: bytes, label: str) -> Graph:
    model = schema.Model.GetRootAs(data, 0)

    def fail(what: str) -> ModelFormatError:
        return ModelFormatError(f"{label}: {what}")

    root = struct.unpack_from("<I", data, 0)[0]
    if root >= len(data):
        raise fail("root table offset points past the end of the file")

    spans = []
    for b in range(model.BuffersLength()):
        buf = model.Buffers(b)
        if buf.Offset() > 1:                        # data stored after the flatbuffer
            off, size = buf.Offset(), buf.Size()
        else:
            size = buf.DataLength()
            off = buf._tab.Vector(buf._tab.Offset(4)) if size else 0
        if off + size > len(data):
            raise fail(f"buffer {b} ({size} bytes at offset {off}) lies past the end of the "
                       f"{len(data)}-byte file: truncated?")
        spans.append((off, size))

    opcodes = []
    for c in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(c)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = _OP_NAMES.get(code)
        if name is None:
            raise fail(f"operator code {c} has unknown builtin code {code}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (oc.CustomCode() or b"?").decode("utf-8", "replace")
        opcodes.append((name, oc.Version()))

    if model.SubgraphsLength() == 0:
        raise fail("model has no subgraphs")
    subgraphs = tuple(_parse_subgraph(model.Subgraphs(s), s, spans, opcodes, fail)
                      for s in range(model.SubgraphsLength()))
    desc = model.Description()
    return Graph(path=label, data=data, version=model.Version(),
                 description=desc.decode("utf-8", "replace") if desc else "",
                 subgraphs=subgraphs, buffer_spans=tuple(spans))


def _parse_subgraph(sg, s_index, spans, opcodes, fail) -> Subgraph:
    tensors = tuple(_parse_tensor(sg.Tensors(t), t, spans, fail) for t in range(sg.TensorsLength()))
    n = len(tensors)

    def indices(vec: np.ndarray | int, what: str, allow_omitted: bool) -> tuple[int, ...]:
        out = tuple(int(i) for i in (vec if isinstance(vec, np.ndarray) else ()))
        lo = -1 if allow_omitted else 0
        for i in out:
            if not lo <= i < n:
                raise fail(f"subgraph {s_index}: {what} refers to tensor {i}, but there are {n}")
        return out

    ops = []
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        if not 0 <= op.OpcodeIndex() < len(opcodes):
            raise fail(f"operator {o} uses opcode index {op.OpcodeIndex()} of {len(opcodes)}")
        opcode, version = opcodes[op.OpcodeIndex()]
        ins = indices(op.InputsAsNumpy(), f"operator {o} input", True)
        outs = indices(op.OutputsAsNumpy(), f"operator {o} output", False)
        inter = indices(op.IntermediatesAsNumpy(), f"operator {o} intermediate", False)
        options = _options(op)
        in_t = [tensors[i] if i >= 0 else None for i in ins]
        out_t = [tensors[i] for i in outs]
        problem = _layout_problem(opcode, in_t, out_t)
        if problem:
            raise fail(f"subgraph {s_index}: operator {o} {opcode} {problem}")
        ops.append(Operator(
            index=o, opcode=opcode, version=version, inputs=ins, outputs=outs,
            intermediates=inter, options=options,
            macs=count_macs(opcode, in_t, out_t, options),
            weight_bytes=sum(t.nbytes for t in in_t if t is not None and t.constant)))
    name = sg.Name()
    return Subgraph(name=name.decode("utf-8", "replace") if name else f"subgraph{s_index}",
                    tensors=tensors, operators=tuple(ops),
                    inputs=indices(sg.InputsAsNumpy(), "input", False),
                    outputs=indices(sg.OutputsAsNumpy(), "output", False))


#: Operators whose kernels assume a layout: {opcode: ((input position, rank), ...)}; the
#: output must have the rank of input 0. Checked at load so that a malformed graph is a
#: ModelFormatError here rather than an IndexError in the planner or the cost model.
_LAYOUTS = {
    "CONV_2D": ((0, 4), (1, 4)),
    "DEPTHWISE_CONV_2D": ((0, 4), (1, 4)),
    "TRANSPOSE_CONV": ((1, 4), (2, 4)),
    "FULLY_CONNECTED": ((1, 2),),
    "AVERAGE_POOL_2D": ((0, 4),),
    "MAX_POOL_2D": ((0, 4),),
}


def _layout_problem(opcode: str, ins: list, outs: list) -> str | None:
    """What is wrong with the operands of a layout-bound operator, or None."""
    if not outs:
        return "has no output"
    for position, rank in _LAYOUTS.get(opcode, ()):
        t = ins[position] if position < len(ins) else None
        if t is None:
            return f"lacks input {position}"
        if len(t.shape) != rank:
            return f"input {position} {t.name!r} has shape {list(t.shape)}, not rank {rank}"
    if opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D") \
            and len(outs[0].shape) != 4:
        return f"output {outs[0].name!r} has shape {list(outs[0].shape)}, not rank 4"
    return None


def _parse_tensor(t, index, spans, fail) -> Tensor:
    name = (t.Name() or b"").decode("utf-8", "replace")
    dtype = _TYPE_NAMES.get(t.Type())
    if dtype is None:
        raise fail(f"tensor {index} ({name!r}) has unknown type code {t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise fail(f"tensor {index} ({name!r}) has a negative dimension in shape {list(shape)}")
    elements = math.prod(shape)
    if dtype in _PACKED_BITS:
        nbytes = (elements * _PACKED_BITS[dtype] + 7) // 8
    else:
        nbytes = elements * _ITEMSIZE.get(dtype, 0)
    if nbytes > MAX_TENSOR_BYTES:
        raise fail(f"tensor {index} ({name!r}) claims shape {list(shape)} = {elements} elements "
                   f"({nbytes} bytes), over the {MAX_TENSOR_BYTES}-byte limit")
    if not 0 <= t.Buffer() < max(len(spans), 1):
        raise fail(f"tensor {index} ({name!r}) refers to buffer {t.Buffer()} of {len(spans)}")
    size = spans[t.Buffer()][1] if spans else 0
    if size and dtype in _ITEMSIZE and dtype not in ("string",) and size < nbytes:
        raise fail(f"tensor {index} ({name!r}) needs {nbytes} bytes but its buffer holds {size}")
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, buffer=t.Buffer(),
                  constant=size > 0, variable=bool(t.IsVariable()),
                  quant=_quantization(t.Quantization()), nbytes=nbytes)


def _quantization(q) -> Quantization | None:
    if q is None or q.ScaleLength() == 0:
        return None
    zp = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,)
    return Quantization(scale=tuple(float(s) for s in q.ScaleAsNumpy()), zero_point=zp,
                        axis=int(q.QuantizedDimension()))


def _options(op) -> dict:
    """Builtin options as a plain dict (e.g. {'padding': 1, 'strideW': 2, ...})."""
    table = op.BuiltinOptions()
    if table is None or op.BuiltinOptionsType() == 0:
        return {}
    obj = schema.BuiltinOptionsCreator(op.BuiltinOptionsType(), table)
    return {k: v for k, v in vars(obj).items() if isinstance(v, (int, float, bool))} if obj else {}
