"""The int8 twin of a float subgraph: the same operators and shapes with int8 activations and
weights and int32 biases, as full-integer post-training quantization (TFLiteConverter with
Optimize.DEFAULT, a representative dataset and TFLITE_BUILTINS_INT8) would produce. Costing
it gives the int8 alternative a float model's report quotes."""

from __future__ import annotations

import dataclasses

from .graph import Subgraph

#: Operator input positions that quantization turns into int32 biases.
BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}


def int8_twin(sg: Subgraph) -> Subgraph:
    """`sg` with every float32 tensor int8 (a bias int32), the operators' weight bytes
    recounted (bytes)."""
    biases = {op.inputs[BIAS_INPUT[op.opcode]] for op in sg.operators
              if op.opcode in BIAS_INPUT and len(op.inputs) > BIAS_INPUT[op.opcode]}
    tensors = []
    for t in sg.tensors:
        if t.dtype != "float32":
            tensors.append(t)
        elif t.index in biases:
            tensors.append(dataclasses.replace(t, dtype="int32", nbytes=4 * t.elements))
        else:
            tensors.append(dataclasses.replace(t, dtype="int8", nbytes=t.elements))
    ops = tuple(dataclasses.replace(op, weight_bytes=sum(
        tensors[i].nbytes for i in op.inputs if i >= 0 and tensors[i].constant))
        for op in sg.operators)
    return dataclasses.replace(sg, tensors=tuple(tensors), operators=ops)
