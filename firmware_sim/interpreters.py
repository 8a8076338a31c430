"""The numerics backends a target runs a graph with, behind one small interface:
set(index, array), invoke(), get(index).

* TflmInterpreter: the TFLM interpreter (PyPI tflite-micro, reference kernels: bit-exact with
  what an MCU computes with them) in the arena edgesim predicts for the reference stack.
  TFLM trusts the model it is given, so a graph is handed to it only when load_graph has
  checked the contract of every operator in it and TFLM can run all of them (tflm_problem).
* LiteRtInterpreter: LiteRT (PyPI ai-edge-litert, TFLite's builtin kernels, no delegate): the
  TFLite quantization spec; an NPU's kernels may round differently in the last bit.
"""

from __future__ import annotations

import struct

import numpy as np

from edgesim.errors import EdgesimError

from .graph import NUMPY_DTYPES, Graph
from .graph_checks import CONTRACTS, OFFLINE_PLAN
from .kernel_stacks import TFLM_OPS
from .memory.arena import plan_arena

#: Operators handed to TFLM: those TFLM registers whose whole contract load_graph checks
#: (graph_checks). TFLM's kernels trust the model (its release build skips the DCHECKs),
#: so an operator checked less could crash the process instead of failing.
TFLM_RUNS = frozenset(CONTRACTS) & TFLM_OPS
#: Parameter inputs TFLM's Prepare() reads as data: {operator: ((position, what), ...)}.
#: They must be constants (already checked by value); activations are unset at Prepare().
_PARAMETERS = {"PAD": ((1, "paddings"),), "PADV2": ((1, "paddings"), (2, "constant value")),
               "TRANSPOSE": ((1, "permutation"),), "SPLIT": ((0, "axis"),),
               "STRIDED_SLICE": ((1, "begin"), (2, "end"), (3, "strides")),
               "TRANSPOSE_CONV": ((0, "output shape"),),
               **{op: ((1, "axes"),) for op in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")}}



class TflmInterpreter:
    def __init__(self, graph: Graph):
        from tflite_micro.python.tflite_micro import runtime

        problem = tflm_problem(graph)
        if problem:
            raise EdgesimError(f"{graph.path}: TFLM cannot run it here: {problem}")
        self.graph = graph
        self.arena_bytes = plan_arena(graph, "reference").total_bytes
        try:
            self._interp = runtime.Interpreter.from_bytes(graph.data, arena_size=self.arena_bytes)
        except RuntimeError as exc:
            raise EdgesimError(f"{graph.path}: TFLM refused the model with a "
                               f"{self.arena_bytes}-byte arena: {exc}") from None
        except (ValueError, IndexError, TypeError, AttributeError, struct.error) as exc:
            # the wrapper unpacks the whole flatbuffer in Python before the C++ side starts
            raise EdgesimError(f"{graph.path}: TFLM's Python wrapper cannot read the model: "
                               f"{type(exc).__name__}: {exc}") from None

    def set(self, index: int, array: np.ndarray) -> None:
        self._interp.set_input(array, index)

    def invoke(self) -> None:
        try:
            self._interp.invoke()
        except RuntimeError as exc:
            raise EdgesimError(f"{self.graph.path}: TFLM failed to run the model: {exc}") from None

    def get(self, index: int) -> np.ndarray:
        return self._interp.get_output(index).copy()


class LiteRtInterpreter:
    def __init__(self, graph: Graph):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.graph = graph
        self.arena_bytes = None
        try:
            self._interp = Interpreter(
                model_content=graph.data,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise EdgesimError(f"{graph.path}: LiteRT refused the model: "
                               f"{' '.join(str(exc).split())}") from None
        sg = graph.main
        self._inputs, self._outputs = list(sg.inputs), list(sg.outputs)

    def set(self, index: int, array: np.ndarray) -> None:
        self._interp.set_tensor(self._inputs[index], array)

    def invoke(self) -> None:
        self._interp.invoke()

    def get(self, index: int) -> np.ndarray:
        return self._interp.get_tensor(self._outputs[index]).copy()


def tflm_problem(graph: Graph) -> str | None:
    """Why the TFLM interpreter must not be handed `graph` (None: it may)."""
    if len(graph.subgraphs) > 1:
        return f"{len(graph.subgraphs)} subgraphs (control flow) are not emulated"
    if OFFLINE_PLAN in graph.metadata:
        return (f"an offline arena plan (metadata {OFFLINE_PLAN!r}) is not emulated; edgesim "
                "plans the arena itself")
    sg = graph.main
    state = next((t for t in sg.tensors if t.variable), None)
    if state is not None:
        return f"variable tensor {state.name!r} (operator state) is not emulated"
    for which, group in (("input", sg.inputs), ("output", sg.outputs)):
        t = next((sg.tensors[i] for i in group if sg.tensors[i].dtype not in NUMPY_DTYPES), None)
        if t is not None:
            return f"graph {which} {t.name!r} is {t.dtype}, which TFLM's Python API cannot pass"
    for op in sg.operators:
        what = f"operator {op.index} {op.opcode}"
        if op.opcode not in TFLM_RUNS:
            return f"{what} is not among the operators edgesim checks for TFLM"
        if op.unresolved_shapes:
            return f"{what} has shapes that only a run-time resize resolves"
        for position, name in _PARAMETERS.get(op.opcode, ()):
            if position < len(op.inputs) and not sg.tensors[op.inputs[position]].constant:
                return f"{what} computes its {name} at run time; TFLM reads it when preparing"
        if op.opcode == "STRIDED_SLICE" and any(op.options.get(k) for k in (
                "ellipsisMask", "newAxisMask", "offset")):
            return f"{what} uses ellipsis, new-axis or offset slicing, which TFLM lacks"
        operands = sg.op_tensors(op) + sg.op_tensors(op, "outputs")
        empty = next((t for t in operands if not t.constant and not t.elements), None)
        if empty is not None:
            return f"{what} has the empty tensor {empty.name!r} {list(empty.shape)}"
    return None
