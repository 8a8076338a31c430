"""NpuEmulator(device).load(model).run(inputs): the graph's numerics through the LiteRT
interpreter (PyPI ai-edge-litert, TFLite's builtin integer kernels, no delegate) plus the
ledger of check_npu(): what each inference costs on the NPU profile.

LiteRT computes the TFLite quantization spec; an NPU's kernels may round differently in the
last bit. Graphs the NPU cannot run (float, dynamic shapes, operators without an NPU kernel)
are refused at load; budget violations (graph size, session memory, latency) are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_sim.budget import Limits
from firmware_sim.emulator import ensure_runnable, prepare_inputs
from edgesim.errors import EdgesimError
from firmware_sim.graph import Graph, load_graph

from .check import UNRUNNABLE, NpuReport, check_npu
from .devices import NpuProfile


@dataclass(frozen=True)
class RunResult:
    outputs: list[np.ndarray]    # raw output tensors (int8 or int16 for a quantized graph)
    ledger: NpuReport            # what one inference costs on the NPU


class NpuEmulator:
    """A mobile NPU of a given profile, ready to load models."""

    def __init__(self, device: str | Path | NpuProfile = "sd8gen3_htp",
                 limits: Limits | None = None):
        self.device, self.limits = device, limits

    def load(self, model: str | Path | bytes | Graph) -> "LoadedNpuModel":
        graph = model if isinstance(model, Graph) else load_graph(model)
        ledger = check_npu(graph, self.device, self.limits)
        ensure_runnable(graph, ledger, UNRUNNABLE)
        return LoadedNpuModel(graph, ledger)


class LoadedNpuModel:
    """A graph inside a LiteRT interpreter, with its NPU ledger."""

    def __init__(self, graph: Graph, ledger: NpuReport):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.graph, self.ledger = graph, ledger
        try:
            self._interp = Interpreter(
                model_content=graph.data,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise EdgesimError(f"{graph.path}: LiteRT refused the model: "
                               f"{' '.join(str(exc).split())}") from None
        sg = graph.main
        self.inputs = [sg.tensors[i] for i in sg.inputs]
        self.outputs = [sg.tensors[i] for i in sg.outputs]

    def run(self, inputs: np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]) -> RunResult:
        """One inference. Float inputs to a quantized input tensor are quantized with its
        scale and zero point; integer inputs must already have the tensor's dtype."""
        for array, tensor in zip(prepare_inputs(inputs, self.inputs), self.inputs):
            self._interp.set_tensor(tensor.index, array)
        self._interp.invoke()
        return RunResult([self._interp.get_tensor(t.index).copy() for t in self.outputs],
                         self.ledger)
