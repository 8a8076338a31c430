"""What load_graph checks beyond the flatbuffer's own structure: quantisation parameters,
the order operators read and write tensors in, TFLM's offline plan, and each operator's
contract after TFLite's operator specs (tensorflow/lite/kernels/*.cc Prepare(), schema.fbs,
the int8 quantization spec): operand counts, ranks and shapes, dtypes, builtin options.

Each check returns None or what is wrong, worded to follow "tensor 3 ('x') ..." or
"operator 3 CONV_2D ...". The kernels, the cost models and both interpreters read these
fields without checking them again (TFLM's release build skips its DCHECKs; its CHECKs
abort the process), so a contract covers every field they read for that operator.
Operators without a contract get the generic checks only, and the emulator does not hand
them to TFLM (emulator.py).
"""

from __future__ import annotations

import math
import struct

from .graph_layers import LAYER_CONTRACTS
from .graph_shapes import SHAPE_CONTRACTS, Refused, Site

_ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
                     "int4": (-8, 7), "uint4": (0, 15), "int32": (-2**31, 2**31 - 1)}
#: schema ActivationFunctionType. The layers with a contract fuse the first four only (no
#: TFLite kernel of theirs fuses TANH or SIGN_BIT); recurrent cells use TANH.
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
FUSED = 4
PADDINGS = ("SAME", "VALID")
#: The metadata entry whose buffer TFLM reads as an offline arena plan (micro_allocator.cc).
OFFLINE_PLAN = "OfflineMemoryAllocation"


def quantization_problem(q, shape: tuple[int, ...], dtype: str) -> str | None:
    """What is wrong with a tensor's affine parameters (scale, zero_point,
    quantized_dimension), or None."""
    if q is None:
        return None
    if len(q.zero_point) != len(q.scale):
        return f"has {len(q.scale)} scale(s) but {len(q.zero_point)} zero_point(s)"
    bad = next((s for s in q.scale if not (math.isfinite(s) and s > 0)), None)
    if bad is not None:
        return f"scale {bad} must be finite and > 0"
    if dtype in _ZERO_POINT_RANGE:
        lo, hi = _ZERO_POINT_RANGE[dtype]
        z = next((z for z in q.zero_point if not lo <= z <= hi), None)
        if z is not None:
            return f"zero_point {z} is outside the {dtype} range [{lo}, {hi}]"
    if not 0 <= q.axis < max(len(shape), 1):
        return f"quantized_dimension {q.axis} is outside the tensor's rank {len(shape)}"
    if q.per_channel and (not shape or shape[q.axis] != len(q.scale)):
        return (f"has {len(q.scale)} per-channel scales, but dimension {q.axis} of shape "
                f"{list(shape)} is {shape[q.axis] if shape else 'absent'}")
    return None


def offline_plan_problem(data: bytes, span: tuple[int, int], n_tensors: int) -> str | None:
    """TFLM reads an offline plan as uint32 [version, subgraph, tensor count, offsets...]."""
    off, size = span
    count = struct.unpack_from("<I", data, off + 8)[0] if size >= 12 else None
    if count != n_tensors or size != 12 + 4 * n_tensors:
        return (f"holds {size} bytes; an offline plan of the {n_tensors} tensors of subgraph 0 "
                f"takes {12 + 4 * n_tensors}")
    return None


def dataflow_problem(tensors, ops, inputs, outputs) -> str | None:
    """Operators run in file order: each reads tensors that hold data already (constants,
    variables, graph inputs, earlier outputs) and writes tensors nothing else writes. The
    arena planners derive lifetimes from this order; TFLM would read unset memory."""
    def name(i: int) -> str:
        return f"tensor {i} ({tensors[i].name!r})"

    def ready(i: int) -> bool:
        t = tensors[i]
        return t.constant or t.variable or not t.nbytes or i in written

    written = {}
    for i in inputs:
        if tensors[i].constant:
            return f"graph input {name(i)} holds constant data"
        written[i] = "the graph input"
    for op in ops:
        what = f"operator {op.index} {op.opcode}"
        late = next((i for i in op.inputs if i >= 0 and not ready(i)), None)
        if late is not None:
            return f"{what} reads {name(late)} before any operator writes it"
        for i in op.outputs:
            if tensors[i].constant:
                return f"{what} writes {name(i)}, which holds constant data"
            if tensors[i].variable:
                return (f"{what} writes {name(i)}, a variable (stateful operators update "
                        "variables through their inputs)")
            if i in written:
                return f"{what} writes {name(i)}, already written by {written[i]}"
            written[i] = f"operator {op.index}"
    late = next((i for i in outputs if not ready(i)), None)
    return f"graph output {name(late)} is never written" if late is not None else None


def operator_problem(opcode: str, ins: list, outs: list, options: dict,
                     options_type: str | None, values) -> tuple[str | None, bool]:
    """(What is wrong with one operator or None, whether its shapes disagree in a way only
    a run-time resize resolves). `ins` holds None for omitted (-1) inputs; `values(tensor)`
    reads a constant int32/int64 tensor (None when it is not one)."""
    if not outs:
        return "has no output", False
    want = OPTIONS.get(opcode)
    if opcode in CONTRACTS and options_type != (want[0] if want else None):
        if want and options_type is None and want[1]:
            return f"has no {want[0]} (the builtin options it requires)", False
        if options_type is not None:
            return (f"builtin options are {options_type}; {opcode} takes "
                    f"{want[0] if want else 'none'}"), False
    act = options.get("fusedActivationFunction", 0)
    known = ACTIVATIONS[:FUSED] if opcode in CONTRACTS else ACTIVATIONS
    if not 0 <= act < len(known):
        return f"fused_activation_function {act} is not one of {', '.join(known)}", False
    if options.get("padding", 0) not in (0, 1):
        return f"padding {options['padding']} is not one of {', '.join(PADDINGS)}", False
    contract = CONTRACTS.get(opcode)
    if contract is None:
        return None, False
    site = Site(opcode, ins, outs, options, values)
    try:
        contract(site)
    except Refused as why:
        return str(why), site.unresolved
    return None, site.unresolved


#: Builtin options table each contracted operator reads, and whether it must be present
#: (an absent table reads as zeros: stride 0, beta 0).
OPTIONS = {
    "CONV_2D": ("Conv2DOptions", True), "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", True),
    "TRANSPOSE_CONV": ("TransposeConvOptions", True), "CONV_3D": ("Conv3DOptions", True),
    "FULLY_CONNECTED": ("FullyConnectedOptions", False),
    "BATCH_MATMUL": ("BatchMatMulOptions", False),
    "AVERAGE_POOL_2D": ("Pool2DOptions", True), "MAX_POOL_2D": ("Pool2DOptions", True),
    "L2_POOL_2D": ("Pool2DOptions", True),
    "ADD": ("AddOptions", False), "SUB": ("SubOptions", False), "MUL": ("MulOptions", False),
    "DIV": ("DivOptions", False), "MAXIMUM": ("MaximumMinimumOptions", False),
    "MINIMUM": ("MaximumMinimumOptions", False), "SOFTMAX": ("SoftmaxOptions", True),
    "LEAKY_RELU": ("LeakyReluOptions", False), "GELU": ("GeluOptions", False),
    "HARD_SWISH": ("HardSwishOptions", False), "ABS": ("AbsOptions", False),
    "NEG": ("NegOptions", False), "QUANTIZE": ("QuantizeOptions", False),
    "DEQUANTIZE": ("DequantizeOptions", False), "RESHAPE": ("ReshapeOptions", False),
    "CONCATENATION": ("ConcatenationOptions", False), "PACK": ("PackOptions", True),
    "SPLIT": ("SplitOptions", True), "PAD": ("PadOptions", False),
    "PADV2": ("PadV2Options", False), "TRANSPOSE": ("TransposeOptions", False),
    "STRIDED_SLICE": ("StridedSliceOptions", False), "SHAPE": ("ShapeOptions", False),
    "MEAN": ("ReducerOptions", False), "SUM": ("ReducerOptions", False),
    "REDUCE_MAX": ("ReducerOptions", False), "REDUCE_MIN": ("ReducerOptions", False),
    "REDUCE_PROD": ("ReducerOptions", False),
}

#: The operators whose contract load_graph checks, and the check.
CONTRACTS = {**LAYER_CONTRACTS, **SHAPE_CONTRACTS}
