"""Emulator(device).load(model).run(inputs): real int8 inference through the TFLM interpreter
(PyPI tflite-micro, reference kernels: bit-exact with what an MCU computes with them) plus the
ledger of check(): per-layer cycles, arena, flash and energy on the device.

TFLM trusts the model it is given, so a model is handed to it only when load_graph has
checked the contract of every operator in it and TFLM can run all of them (tflm_problem);
anything else is refused at load with an EdgesimError instead of risking a crash.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .budget import Limits, Report, check
from .devices import DeviceProfile
from edgesim.errors import EdgesimError, InputDataError
from .graph import NUMPY_DTYPES, Graph, load_graph
from .graph_checks import CONTRACTS, OFFLINE_PLAN
from .kernel_stacks import TFLM_OPS
from .memory.arena import plan_arena

#: Violations after which the device cannot run the graph: no kernel for an operator or a
#: dtype, or no RAM region that holds the arena (TFLM would allocate it on the host).
_RUNNABLE_BLOCKERS = ("dtype", "operator", "arena")

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


@dataclass(frozen=True)
class RunResult:
    outputs: list[np.ndarray]    # raw output tensors (int8 for an int8 model)
    ledger: Report               # what the inference costs on the device


class Emulator:
    """An MCU of a given device profile and kernel stack, ready to load models."""

    def __init__(self, device: str | Path | DeviceProfile = "stm32h743",
                 kernels: str | None = None, limits: Limits | None = None):
        self.device, self.kernels, self.limits = device, kernels, limits

    def load(self, model: str | Path | bytes | Graph) -> "LoadedModel":
        graph = model if isinstance(model, Graph) else load_graph(model)
        ledger = check(graph, self.device, self.limits, self.kernels)
        ensure_runnable(graph, ledger, _RUNNABLE_BLOCKERS)
        problem = tflm_problem(graph)
        if problem:
            raise EdgesimError(f"{graph.path}: TFLM cannot run it here: {problem}")
        return LoadedModel(graph, ledger)


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


class LoadedModel:
    """A model inside a TFLM interpreter whose arena is the predicted (reference) arena."""

    def __init__(self, graph: Graph, ledger: Report):
        from tflite_micro.python.tflite_micro import runtime

        self.graph, self.ledger = graph, ledger
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
        sg = graph.main
        self.inputs = [sg.tensors[i] for i in sg.inputs]
        self.outputs = [sg.tensors[i] for i in sg.outputs]

    def run(self, inputs: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> RunResult:
        """One inference. Float inputs to a quantised input tensor are quantised with its
        scale and zero point; integer inputs must already have the tensor's dtype."""
        for index, array in enumerate(prepare_inputs(inputs, self.inputs)):
            self._interp.set_input(array, index)
        try:
            self._interp.invoke()
        except RuntimeError as exc:
            raise EdgesimError(f"{self.graph.path}: TFLM failed to run the model: {exc}") from None
        return RunResult([self._interp.get_output(i).copy() for i in range(len(self.outputs))],
                         self.ledger)


def ensure_runnable(graph: Graph, ledger, kinds: tuple[str, ...]) -> None:
    """Raise EdgesimError with the first violation of `ledger` whose kind is in `kinds`
    (those after which the device cannot execute the graph at all)."""
    blockers = [v for v in ledger.violations if v.kind in kinds]
    if blockers:
        raise EdgesimError(f"{graph.path}: cannot run on {ledger.device.name}: "
                           f"{blockers[0].message}")


def prepare_inputs(inputs, tensors) -> list[np.ndarray]:
    """The arrays to feed `tensors` (the graph's inputs): one array or a sequence of them;
    float arrays for a quantised tensor are quantised with its scale and zero point, integer
    arrays must already have the tensor's dtype."""
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if len(arrays) != len(tensors):
        raise InputDataError(f"model takes {len(tensors)} input(s), got {len(arrays)}")
    return [_prepare(np.asarray(a), t) for a, t in zip(arrays, tensors)]


def _prepare(array: np.ndarray, tensor) -> np.ndarray:
    want = np.dtype(tensor.dtype)
    if array.shape != tensor.shape:
        raise InputDataError(f"input {tensor.name!r} has shape {list(tensor.shape)}, "
                             f"got {list(array.shape)}")
    if array.dtype == want:
        return array
    if np.issubdtype(array.dtype, np.floating) and tensor.quant and np.issubdtype(want, np.integer):
        if not np.all(np.isfinite(array)):
            raise InputDataError(f"input {tensor.name!r} contains NaN or infinite values")
        info = np.iinfo(want)
        q = np.round(array / tensor.quant.scale[0]) + tensor.quant.zero_point[0]
        return np.clip(q, info.min, info.max).astype(want)
    raise InputDataError(f"input {tensor.name!r} is {want}, got {array.dtype}")
