"""Per-operator arithmetic: multiply-accumulates (MACs) counted from tensor shapes.

The counts follow the convention of the MLPerf Tiny model table and STM32Cube.AI's "macc":
one MAC per weight use; element-wise ops, pooling and softmax count no MACs.
"""

from __future__ import annotations

import math

# Operators whose work is a weighted sum: MACs are counted for these only.
_MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV",
            "BATCH_MATMUL", "CONV_3D"}


def count_macs(opcode: str, inputs: list, outputs: list, options: dict) -> int:
    """MACs of one operator for one inference (tensors may be None for omitted inputs)."""
    if opcode not in _MAC_OPS or not outputs or len(inputs) < 2 or inputs[1] is None:
        return 0
    out, w = outputs[0], inputs[1]
    if opcode == "CONV_2D":            # weights [Cout, kh, kw, Cin/groups]
        return out.elements * math.prod(w.shape[1:])
    if opcode == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, Cout]
        return out.elements * math.prod(w.shape[1:3])
    if opcode == "FULLY_CONNECTED":    # weights [units, depth]
        return out.elements * (w.shape[-1] if w.shape else 0)
    if opcode == "TRANSPOSE_CONV":     # inputs: output_shape, weights [Cout, kh, kw, Cin], input
        x = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
        return x.elements * math.prod(w.shape[:3]) if x is not None else 0
    if opcode == "BATCH_MATMUL":       # [.., m, k] x [.., k, n] (or transposed)
        a = inputs[0]
        if a is None or len(a.shape) < 2:
            return 0
        k = a.shape[-1] if not options.get("adjX") else a.shape[-2]
        return out.elements * k
    if opcode == "CONV_3D":            # weights [kd, kh, kw, Cin, Cout]
        return out.elements * math.prod(w.shape[:4])
    return 0


SAME, VALID = 0, 1      # TFLite schema Padding


def output_and_padding(padding: int, stride: int, dilation: int, size: int,
                       kernel: int) -> tuple[int, int]:
    """(output size, padding before) along one axis of a TFLite conv or pool, as TFLite's
    ComputePaddingHeightWidth: SAME pads to ceil(size / stride) outputs, VALID not at all."""
    eff = (kernel - 1) * dilation + 1
    out = -(-size // stride) if padding == SAME else (size - eff + stride) // stride
    return out, max(0, (out - 1) * stride + eff - size) // 2
