"""TFLite flatbuffer -> the project's graph model (subgraphs, operators, tensors, buffers).

Parsed with the schema module that LiteRT ships (`ai_edge_litert.schema_py_generated`), read
lazily so that a check never copies weights. Every field a later stage reads (the arena
planner, the cost models, the kernels, the NPU check, and the TFLM and LiteRT interpreters)
is validated here, against the file and against the TFLite operator specs (graph_checks): a
model `load_graph` accepts plans, costs and runs without an exception or a crash of a C++
interpreter, and anything else is one ModelFormatError line naming the file and the field.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgesim.errors import ModelFormatError
from .graph_checks import (OFFLINE_PLAN, dataflow_problem, offline_plan_problem,
                           operator_problem, quantization_problem)
from .ops import count_macs

#: Largest tensor (bytes) a model may declare. TFLite itself caps buffers at 2 GiB
#: (flatbuffers' 32-bit offsets); anything larger is a corrupt or hostile header.
MAX_TENSOR_BYTES = 2**31 - 1
#: The schema version every TFLite interpreter requires (schema.fbs: "Version of the schema").
SCHEMA_VERSION = 3

_TYPE_NAMES = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_OPTION_NAMES = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
_ITEMSIZE = {
    "float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1, "int16": 2,
    "complex64": 8, "int8": 1, "float64": 8, "complex128": 16, "uint64": 8, "uint32": 4,
    "uint16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
}
_PACKED_BITS = {"int4": 4, "uint4": 4, "int2": 2}  # sub-byte types, packed two (four) per byte
NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "int32": np.int32,
                "uint8": np.uint8, "int64": np.int64, "bool": np.bool_, "int16": np.int16,
                "int8": np.int8, "float64": np.float64, "uint64": np.uint64,
                "uint32": np.uint32, "uint16": np.uint16}


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
    #: The shape signature: the shape with -1 where a dimension is unknown (empty when the
    #: file has none, i.e. every dimension is the stored one).
    signature: tuple[int, ...] = ()

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def dynamic(self) -> bool:
        """-1 beyond dimension 0 of its shape signature: the stored shape is a placeholder
        that the interpreter resizes. (A -1 batch alone is not: graphs run at the stored
        batch.)"""
        return -1 in self.signature[1:]

    @property
    def resizable(self) -> bool:
        """An unknown (-1) dimension anywhere in its shape signature, the batch included."""
        return -1 in self.signature


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
    #: Its operands' stored shapes disagree, which only a run-time resize of a dynamic
    #: dimension resolves: interpreters of static shapes (TFLM, the kernels) cannot run it.
    unresolved_shapes: bool = False


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
    metadata: tuple[str, ...] = ()             # names of the model's metadata entries

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
        if not tensor.constant or tensor.dtype not in NUMPY_DTYPES:
            raise ValueError(f"tensor {tensor.name!r} has no readable constant data")
        offset, size = self.buffer_spans[tensor.buffer]
        arr = np.frombuffer(self.data, dtype=NUMPY_DTYPES[tensor.dtype], count=tensor.elements,
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


def _string(table, slot: int, data: bytes, fail, what: str) -> str | None:
    """The string in field `slot` of a flatbuffer table, or None when absent. The reader
    slices it (a slice past the end is silently short); C++ readers would run off the file."""
    tab = table._tab
    o = tab.Offset(slot)
    if not o:
        return None
    at = tab.Pos + o
    start = at + struct.unpack_from("<I", data, at)[0]
    if start + 4 > len(data) or start + 4 + struct.unpack_from("<I", data, start)[0] >= len(data):
        raise fail(f"{what} lies past the end of the file")
    return tab.String(at).decode("utf-8", "replace")


def _parse(data: bytes, label: str) -> Graph:
    model = schema.Model.GetRootAs(data, 0)

    def fail(what: str) -> ModelFormatError:
        return ModelFormatError(f"{label}: {what}")

    root = struct.unpack_from("<I", data, 0)[0]
    if root >= len(data):
        raise fail("root table offset points past the end of the file")
    if model.Version() != SCHEMA_VERSION:
        raise fail(f"schema version {model.Version()}; TFLite interpreters read version "
                   f"{SCHEMA_VERSION} only")
    if model.BuffersIsNone():
        raise fail("model has no buffers vector")

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
        custom = _string(oc, 6, data, fail, f"operator code {c} custom_code")
        if name == "CUSTOM":
            name = "CUSTOM:" + (custom or "?")
        opcodes.append((name, oc.Version()))

    metadata = {}                                   # name -> buffer index
    for m in range(model.MetadataLength()):
        entry = model.Metadata(m)
        name = _string(entry, 4, data, fail, f"metadata {m} name") or ""
        if not 0 <= entry.Buffer() < len(spans):
            raise fail(f"metadata {m} ({name!r}) buffer {entry.Buffer()} is out of range "
                       f"(the model has {len(spans)} buffers)")
        metadata.setdefault(name, entry.Buffer())

    if model.SubgraphsLength() == 0:
        raise fail("model has no subgraphs")
    subgraphs = tuple(_parse_subgraph(model.Subgraphs(s), s, data, spans, opcodes, fail)
                      for s in range(model.SubgraphsLength()))
    if OFFLINE_PLAN in metadata:
        problem = offline_plan_problem(data, spans[metadata[OFFLINE_PLAN]],
                                       len(subgraphs[0].tensors))
        if problem:
            raise fail(f"metadata {OFFLINE_PLAN!r} {problem}")
    _check_signatures(model, subgraphs, data, fail)
    desc = _string(model, 10, data, fail, "model description")
    return Graph(path=label, data=data, version=model.Version(), description=desc or "",
                 subgraphs=subgraphs, buffer_spans=tuple(spans), metadata=tuple(metadata))


def _check_signatures(model, subgraphs, data: bytes, fail) -> None:
    """Signature defs (read by LiteRT) name a subgraph and tensors inside it."""
    for d in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(d)
        _string(sig, 8, data, fail, f"signature {d} signature_key")
        s = sig.SubgraphIndex()
        if not 0 <= s < len(subgraphs):
            raise fail(f"signature {d} subgraph_index {s} is out of range "
                       f"(the model has {len(subgraphs)} subgraphs)")
        n = len(subgraphs[s].tensors)
        for which in ("Inputs", "Outputs"):
            for k in range(getattr(sig, which + "Length")()):
                tmap = getattr(sig, which)(k)
                _string(tmap, 4, data, fail, f"signature {d} {which.lower()} {k} name")
                if not 0 <= tmap.TensorIndex() < n:
                    raise fail(f"signature {d} {which.lower()[:-1]} {k} tensor_index "
                               f"{tmap.TensorIndex()} is out of range (subgraph {s} has {n})")


def _parse_subgraph(sg, s_index, data, spans, opcodes, fail) -> Subgraph:
    where = f"subgraph {s_index}: " if s_index else ""
    for vector in ("Tensors", "Inputs", "Outputs", "Operators"):
        if getattr(sg, vector + "IsNone")():
            raise fail(f"subgraph {s_index} has no {vector.lower()} vector")
    tensors = tuple(_parse_tensor(sg.Tensors(t), t, data, spans, fail)
                    for t in range(sg.TensorsLength()))
    n = len(tensors)

    def indices(vec: np.ndarray | int, what: str, allow_omitted: bool) -> tuple[int, ...]:
        out = tuple(int(i) for i in (vec if isinstance(vec, np.ndarray) else ()))
        lo = -1 if allow_omitted else 0
        for i in out:
            if not lo <= i < n:
                raise fail(f"{where}{what} refers to tensor {i}, but there are {n}")
        return out

    def values(t: Tensor) -> np.ndarray | None:
        """The data of a constant int32/int64 tensor (shapes, axes, paddings), else None."""
        if not t.constant or t.dtype not in ("int32", "int64"):
            return None
        return np.frombuffer(data, NUMPY_DTYPES[t.dtype], count=t.elements,
                             offset=spans[t.buffer][0])

    inputs = indices(sg.InputsAsNumpy(), "graph input", False)
    outputs = indices(sg.OutputsAsNumpy(), "graph output", False)
    if s_index == 0 and not (inputs and outputs):
        raise fail(f"subgraph 0 has no graph {'inputs' if not inputs else 'outputs'}")
    ops = []
    for o in range(sg.OperatorsLength()):
        op = sg.Operators(o)
        if not 0 <= op.OpcodeIndex() < len(opcodes):
            raise fail(f"{where}operator {o} opcode_index {op.OpcodeIndex()} is out of range "
                       f"(the model has {len(opcodes)} operator codes)")
        opcode, version = opcodes[op.OpcodeIndex()]
        if op.InputsIsNone() or op.OutputsIsNone():
            raise fail(f"{where}operator {o} {opcode} has no "
                       f"{'inputs' if op.InputsIsNone() else 'outputs'} vector")
        ins = indices(op.InputsAsNumpy(), f"operator {o} {opcode} input", True)
        outs = indices(op.OutputsAsNumpy(), f"operator {o} {opcode} output", False)
        inter = indices(op.IntermediatesAsNumpy(), f"operator {o} {opcode} intermediate", False)
        options_type, options = _options(op)
        in_t = [tensors[i] if i >= 0 else None for i in ins]
        out_t = [tensors[i] for i in outs]
        problem, unresolved = operator_problem(opcode, in_t, out_t, options, options_type, values)
        if problem:
            raise fail(f"{where}operator {o} {opcode} {problem}")
        ops.append(Operator(
            index=o, opcode=opcode, version=version, inputs=ins, outputs=outs,
            intermediates=inter, options=options,
            macs=count_macs(opcode, in_t, out_t, options),
            weight_bytes=sum(t.nbytes for t in in_t if t is not None and t.constant),
            unresolved_shapes=unresolved))
    problem = dataflow_problem(tensors, ops, inputs, outputs)
    if problem:
        raise fail(f"{where}{problem}")
    name = _string(sg, 12, data, fail, f"subgraph {s_index} name")
    return Subgraph(name=name or f"subgraph{s_index}", tensors=tensors, operators=tuple(ops),
                    inputs=inputs, outputs=outputs)


def _parse_tensor(t, index, data, spans, fail) -> Tensor:
    name = _string(t, 10, data, fail, f"tensor {index} name") or ""
    what = f"tensor {index} ({name!r})"
    dtype = _TYPE_NAMES.get(t.Type())
    if dtype is None:
        raise fail(f"{what} has unknown type code {t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise fail(f"{what} has a negative dimension in shape {list(shape)}")
    if t.Sparsity() is not None:
        raise fail(f"{what} is sparse (sparsity parameters); edgesim reads dense tensors only")
    elements = math.prod(shape)
    if dtype in _PACKED_BITS:
        nbytes = (elements * _PACKED_BITS[dtype] + 7) // 8
    else:
        nbytes = elements * _ITEMSIZE.get(dtype, 0)
    if nbytes > MAX_TENSOR_BYTES:
        raise fail(f"{what} claims shape {list(shape)} = {elements} elements "
                   f"({nbytes} bytes), over the {MAX_TENSOR_BYTES}-byte limit")
    signature = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []
    if signature and (len(signature) != len(shape)
                      or any(g != d and g != -1 for g, d in zip(signature, shape))):
        raise fail(f"{what} shape_signature {signature} does not match its shape "
                   f"{list(shape)} (same rank; each entry the dimension or -1)")
    if not 0 <= t.Buffer() < len(spans):
        raise fail(f"{what} buffer {t.Buffer()} is out of range (the model has {len(spans)})")
    size = spans[t.Buffer()][1]
    if size and (dtype in _ITEMSIZE or dtype in _PACKED_BITS) and size != nbytes:
        raise fail(f"{what} of shape {list(shape)} {dtype} takes {nbytes} bytes, but its "
                   f"buffer {t.Buffer()} holds {size}")
    quant = _quantization(t.Quantization())
    problem = quantization_problem(quant, shape, dtype)
    if problem:
        raise fail(f"{what} quantization {problem}")
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, buffer=t.Buffer(),
                  constant=size > 0, variable=bool(t.IsVariable()), quant=quant, nbytes=nbytes,
                  signature=tuple(signature))


def _quantization(q) -> Quantization | None:
    """Affine parameters; a table without scales is no quantisation (as in both
    interpreters). A missing zero point reads as an empty tuple, which the checks refuse."""
    if q is None or q.ScaleLength() == 0:
        return None
    zp = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else ()
    return Quantization(scale=tuple(float(s) for s in q.ScaleAsNumpy()), zero_point=zp,
                        axis=int(q.QuantizedDimension()))


def _options(op) -> tuple[str | None, dict]:
    """The builtin options' table name (None: no table) and its scalar fields as a plain
    dict (e.g. {'padding': 1, 'strideW': 2, ...})."""
    table = op.BuiltinOptions()
    if table is None or op.BuiltinOptionsType() == 0:
        return None, {}
    kind = _OPTION_NAMES.get(op.BuiltinOptionsType(), f"type {op.BuiltinOptionsType()}")
    obj = schema.BuiltinOptionsCreator(op.BuiltinOptionsType(), table)
    return kind, ({k: v for k, v in vars(obj).items() if isinstance(v, (int, float, bool))}
                  if obj else {})
