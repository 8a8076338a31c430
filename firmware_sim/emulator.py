"""Emulator(device).load(model).run(inputs): one inference through the numerics backend the
device's target names (TFLM for a microcontroller, LiteRT for an application CPU or an NPU;
interpreters.py) plus the ledger of check(): what the inference costs on the device.

A graph the device cannot run at all (a violation of a kind in the target's `unrunnable`:
no kernel for an operator or a type, no RAM for the arena, a dynamic shape on an NPU) is
refused at load with an EdgesimError; budget violations are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesim.errors import EdgesimError, InputDataError

from .graph import Graph, load_graph
from .pipeline import run
from .records import Limits, Report
from .target import target_for


@dataclass(frozen=True)
class RunResult:
    outputs: list[np.ndarray]    # raw output tensors (int8 for an int8 model)
    ledger: Report               # what the inference costs on the device


class Emulator:
    """A device of a given profile (and kernel stack), ready to load models."""

    def __init__(self, device="stm32h743", kernels: str | None = None,
                 limits: Limits | None = None):
        self.device, self.kernels, self.limits = device, kernels, limits

    def load(self, model: str | Path | bytes | Graph) -> "LoadedModel":
        graph = model if isinstance(model, Graph) else load_graph(model)
        target = target_for(self.device, self.kernels)
        ledger = run(graph, target, self.limits or Limits())
        blockers = [v for v in ledger.violations if v.kind in target.unrunnable]
        if blockers:
            raise EdgesimError(f"{graph.path}: cannot run on {ledger.device.name}: "
                               f"{blockers[0].message}")
        return LoadedModel(graph, ledger, target.interpreter(graph))


class LoadedModel:
    """A graph inside its device's interpreter, with its ledger."""

    def __init__(self, graph: Graph, ledger: Report, interpreter):
        self.graph, self.ledger, self._interp = graph, ledger, interpreter
        self.arena_bytes = interpreter.arena_bytes   # the interpreter's arena (None: its own)
        sg = graph.main
        self.inputs = [sg.tensors[i] for i in sg.inputs]
        self.outputs = [sg.tensors[i] for i in sg.outputs]

    def run(self, inputs: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> RunResult:
        """One inference. Float inputs to a quantised input tensor are quantised with its
        scale and zero point; integer inputs must already have the tensor's dtype."""
        for index, array in enumerate(prepare_inputs(inputs, self.inputs)):
            self._interp.set(index, array)
        self._interp.invoke()
        return RunResult([self._interp.get(i) for i in range(len(self.outputs))], self.ledger)


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
