"""Emulator(device).load(model).run(inputs): real int8 inference through the TFLM interpreter
(PyPI tflite-micro, reference kernels: bit-exact with what an MCU computes with them) plus the
ledger of check(): per-layer cycles, arena, flash and energy on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .budget import Limits, Report, check
from .devices import DeviceProfile
from edgesim.errors import EdgesimError, InputDataError
from .graph import Graph, load_graph
from .memory.arena import plan_arena

_RUNNABLE_BLOCKERS = ("dtype", "operator")


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
        return LoadedModel(graph, ledger)


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
        sg = graph.main
        self.inputs = [sg.tensors[i] for i in sg.inputs]
        self.outputs = [sg.tensors[i] for i in sg.outputs]

    def run(self, inputs: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> RunResult:
        """One inference. Float inputs to a quantised input tensor are quantised with its
        scale and zero point; integer inputs must already have the tensor's dtype."""
        for index, array in enumerate(prepare_inputs(inputs, self.inputs)):
            self._interp.set_input(array, index)
        self._interp.invoke()
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
