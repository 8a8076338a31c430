"""The two TFLM kernel stacks edgesim models: TFLM's portable `reference` kernels and the
`cmsis-nn` kernels TFLM links on Arm Cortex-M (tensorflow/lite/micro/kernels/cmsis_nn/).

What differs between them for memory: CMSIS-NN kernels keep a scratch-buffer index in their
OpData and request im2col-style scratch buffers through TFLM; for cycles: see cost/cortex_m.py.
"""

from __future__ import annotations

import math

from .graph import Operator, Subgraph

STACKS = ("reference", "cmsis-nn")

#: Builtin operators TFLM registers (tensorflow/lite/micro/micro_mutable_op_resolver.h, one
#: AddXxx() per entry). An operator outside this set cannot run on either stack.
TFLM_OPS = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CIRCULAR_BUFFER CONCATENATION CONV_2D COS
CUMSUM DEPTH_TO_SPACE DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXP
EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER
GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG
LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX MAXIMUM MAX_POOL_2D MEAN MINIMUM
MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE READ_VARIABLE REDUCE_MAX
REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR ROUND RSQRT SELECT_V2
SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE TRANSPOSE_CONV UNPACK
UNIDIRECTIONAL_SEQUENCE_LSTM VAR_HANDLE WHILE ZEROS_LIKE
""".split())

#: Operators the cmsis-nn stack replaces with CMSIS-NN kernels; the rest stay reference.
CMSIS_NN_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
                          "MAX_POOL_2D", "SOFTMAX", "ADD", "MUL", "SVDF", "TRANSPOSE_CONV",
                          "BATCH_MATMUL", "UNIDIRECTIONAL_SEQUENCE_LSTM", "PAD"})

#: Extra OpData bytes of a CMSIS-NN kernel over its reference twin: `int buffer_idx` for the
#: scratch buffer (kernels/cmsis_nn/{conv,depthwise_conv,fully_connected,pooling}.cc OpData).
CMSIS_NN_OPDATA_EXTRA = {"CONV_2D": 4, "DEPTHWISE_CONV_2D": 4, "FULLY_CONNECTED": 4,
                         "AVERAGE_POOL_2D": 4, "MAX_POOL_2D": 4}


def kernel_for(stack: str, op: Operator, sg: Subgraph | None = None) -> str:
    """Which implementation runs `op`: 'cmsis-nn' or 'reference' on an MCU, else the stack.
    Without `sg`, the kernel TFLM registers for it; with `sg`, the code that computes it: the
    CMSIS-NN wrappers hand float32 operators to TFLM's float reference kernels."""
    if stack not in STACKS:
        return stack
    if sg is not None and op.outputs and sg.tensors[op.outputs[0]].dtype == "float32":
        return "reference"
    return "cmsis-nn" if stack == "cmsis-nn" and op.opcode in CMSIS_NN_OPS else "reference"


def scratch_bytes(stack: str, op: Operator, sg: Subgraph) -> int:
    """Scratch buffer (bytes) the kernel requests in Prepare(); 0 for none.

    Formulas of CMSIS-NN's *_get_buffer_size() for cores with the DSP extension and no MVE
    (Cortex-M4/M7), as dispatched by the wrapper functions TFLM calls.
    """
    if kernel_for(stack, op, sg) != "cmsis-nn":
        return 0
    x = sg.tensors[op.inputs[0]]
    o = op.options
    if op.opcode == "CONV_2D":
        w = sg.tensors[op.inputs[1]]
        _, kh, kw, cin = w.shape
        one_by_one = (kh == kw == 1 and o.get("strideW") == o.get("strideH") == 1
                      and x.shape[-1] % 4 == 0)
        if one_by_one:             # arm_convolve_1x1_s8_fast: works in place, no buffer
            return 0
        cols = kh * kw * cin       # arm_convolve_s8_get_buffer_size: two int16 im2col columns,
        cols += -cols % 4          # each padded to a multiple of 4
        return 2 * cols * 2
    if op.opcode == "DEPTHWISE_CONV_2D":
        w = sg.tensors[op.inputs[1]]
        _, kh, kw, cout = w.shape
        if o.get("depthMultiplier", 1) != 1 or o.get("dilationWFactor", 1) != 1:
            return 0               # generic arm_depthwise_conv_s8: no buffer
        if kh == kw == 3 and o.get("padding") in (0, 1) and cout % 4 == 0:
            return 0               # arm_depthwise_conv_3x3_s8: no buffer
        return x.shape[-1] * kh * kw * 2  # arm_depthwise_conv_s8_opt: int16 per tap and channel
    if op.opcode == "AVERAGE_POOL_2D":
        return x.shape[-1] * 4     # arm_avgpool_s8_get_buffer_size: one int32 per channel
    return 0


def foreign_dtypes(sg: Subgraph, dtypes: tuple[str, ...] | frozenset[str]
                   ) -> dict[tuple[str, str], list[int]]:
    """{(operator kind, tensor type): [operator indices]} of the operators with a tensor of a
    type outside `dtypes` (its first such tensor names the type).

    A QUANTIZE reading float32 or a DEQUANTIZE writing float32 is a boundary conversion that
    integer-only firmware still runs, so those two tensors are allowed.
    """
    found: dict[tuple[str, str], list[int]] = {}
    for op in sg.operators:
        for which in ("inputs", "outputs"):
            boundary = ((op.opcode == "QUANTIZE" and which == "inputs")
                        or (op.opcode == "DEQUANTIZE" and which == "outputs"))
            bad = next((t for t in sg.op_tensors(op, which) if t.dtype not in dtypes
                        and not (boundary and t.dtype == "float32")), None)
            if bad is not None:
                found.setdefault((op.opcode, bad.dtype), []).append(op.index)
                break
    return found


def hybrid_ops(sg: Subgraph) -> dict[str, list[int]]:
    """{operator kind: [indices]} of "hybrid" operators: float32 activations with integer
    weights (dynamic-range quantization). TFLM has no kernels for them: its conv and fully
    connected Prepare() refuse them (kernels/conv_common.cc: "Hybrid models are not supported
    on TFLite Micro")."""
    found: dict[str, list[int]] = {}
    for op in sg.operators:
        if op.macs and len(op.inputs) > 1 and op.inputs[1] >= 0:
            weights = sg.tensors[op.inputs[1]]
            acts = [t for t in sg.op_tensors(op) if not t.constant]
            if weights.constant and weights.dtype.startswith("int") and acts \
                    and acts[0].dtype == "float32":
                found.setdefault(op.opcode, []).append(op.index)
    return found


def dtype_messages(foreign: dict[tuple[str, str], list[int]], dtypes, device: str,
                   why: str = "") -> list[str]:
    """One line per operator kind of `foreign` (foreign_dtypes(sg, dtypes)), naming the
    operators."""
    lines = []
    for (opcode, dtype), ops in foreign.items():
        shown = ", ".join(map(str, ops[:8])) + (", ..." if len(ops) > 8 else "")
        lines.append(f"{dtype} {opcode}: {len(ops)} operator{'s' * (len(ops) > 1)} ({shown}); "
                     f"the kernels of {device} take {'/'.join(dtypes)}{why}")
    return lines


def weight_passes(op: Operator, sg: Subgraph) -> int:
    """How many times a kernel streams the whole weight tensor for one inference."""
    out = sg.tensors[op.outputs[0]]
    if op.opcode == "CONV_2D":     # im2col kernels walk all filters for every 2 output pixels
        return max(1, math.ceil(math.prod(out.shape[:-1]) / 2))
    return 1
