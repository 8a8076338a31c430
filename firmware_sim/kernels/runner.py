"""Run int8 and float32 layers and whole models through the compiled kernels on the emulated
core.

Memory layout follows the firmware: the flatbuffer in flash right after the code (weights and
biases are read where TFLM reads them), activation tensors and scratch buffers at the offsets
of the arena plan of `firmware_sim.memory.arena` (TFLM's greedy planner), OpData (per-channel
multipliers and shifts, the kernel's argument block) in the arena tail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..devices import DeviceProfile, load_device
from ..graph import NUMPY_DTYPES, Graph
from ..memory.arena import ArenaPlan, plan_arena
from ..memory.lifetimes import align_up
from ..memory.regions import ArenaPlacement, largest_span, place_arena
from .build import build
from .dispatch import DispatchProgram, DispatchRecord
from .machine import CallRecord, Machine, model_base
from .params import Prepared, UnsupportedLayer, prepare


@dataclass
class LayerRun:
    index: int
    opcode: str
    entry: str
    record: CallRecord
    dispatch: DispatchRecord | None  # TFLM's work around the kernel call (None: not run)
    output: np.ndarray


@dataclass
class ModelRun:
    device: str
    layers: list[LayerRun]
    outputs: list[np.ndarray]
    wall_s: float

    @property
    def instructions(self) -> int:
        return sum(l.record.instructions for l in self.layers)

    @property
    def cycles(self) -> int:
        return sum(l.record.cycles + (l.dispatch.cycles if l.dispatch else 0)
                   for l in self.layers)


class ModelMachine:
    """A model loaded into an emulated device: flash holds code + flatbuffer (+ the arrays
    TFLM's dispatch reads from it), RAM the arena and TFLM's run-time structs after its tail.

    plan / placement: the cmsis-nn arena plan and its RAM span when the caller has them
    already (check() does); by default planned and placed here. arena_region names a region
    to put the arena in instead of the placement's."""

    def __init__(self, graph: Graph, device: DeviceProfile | str, arena_region: str | None = None,
                 plan: ArenaPlan | None = None, placement: ArenaPlacement | None = None):
        self.graph = graph
        self.device = device if isinstance(device, DeviceProfile) else load_device(device)
        self.sg = sg = graph.main
        self.prepared: list[Prepared | None] = []
        self.unsupported: dict[int, str] = {}       # operator index -> why it has no kernel
        for op in sg.operators:
            try:
                self.prepared.append(prepare(graph, op, sg))
            except UnsupportedLayer as exc:
                self.prepared.append(None)
                self.unsupported[op.index] = str(exc)
        if plan is None:
            plan = plan_arena(graph, "cmsis-nn")
        if placement is None:
            placement = place_arena(self.device, plan.total_bytes) or largest_span(self.device)
        if arena_region is not None:
            region = next(r for r in self.device.memory if r.name == arena_region)
            base = region.base
            regions = (region,)
        else:
            base = placement.regions[0].base
            regions = placement.regions
        self.arena_regions = regions
        self.arena_name = "+".join(r.name for r in regions)
        # tensor and scratch offsets from the plan
        self.addr: dict[int, int] = {}
        scratch: dict[int, tuple[int, int]] = {}       # op index -> (address, bytes)
        for p in plan.placements:
            if p.request.tensor is not None:
                self.addr[p.request.tensor] = base + p.offset
            elif p.request.op is not None:
                scratch[p.request.op] = (base + p.offset, p.request.size)
        tail = base + align_up(plan.head_bytes, 16)
        self.args: list[int] = []
        self.opdata: list[dict] = []
        for op, prep in zip(sg.operators, self.prepared):
            if prep is None:
                self.args.append(0)
                self.opdata.append({})
                continue
            extra = {}
            if prep.scratch_bytes:
                got = scratch.get(op.index)
                if got and got[1] >= prep.scratch_bytes:
                    extra["scratch"] = got[0]
                else:                                   # the plan had none for this kernel
                    extra["scratch"] = tail
                    tail += align_up(prep.scratch_bytes, 16)
            for name, arr in prep.opdata.items():
                extra[name] = tail
                tail += align_up(arr.nbytes, 16)
            self.args.append(tail)
            tail += align_up(4 * len(prep.fields), 16)
            self.opdata.append(extra)
        flash_extra = align_up(len(graph.data), 16)
        image = build(self.device.core)
        at = model_base(image)
        self.dispatch = DispatchProgram(self, tail, at + flash_extra, at)
        ram_end = tail + self.dispatch.ram_bytes
        blob = graph.data + bytes(flash_extra - len(graph.data) + self.dispatch.flash_bytes)
        self.machine = Machine(self.device, image, blob, (base, ram_end))
        limit = max(r.end for r in regions)
        if ram_end > limit:
            raise UnsupportedLayer(f"arena + OpData + TFLM structs ({ram_end - base} bytes) "
                                   f"exceed {self.arena_name}")
        self._write_opdata()
        self.dispatch.load(self.machine)

    def const_address(self, tensor: int) -> int:
        t = self.sg.tensors[tensor]
        return self.machine.model_base + self.graph.buffer_spans[t.buffer][0]

    def _write_opdata(self) -> None:
        for prep, extra, arg in zip(self.prepared, self.opdata, self.args):
            if prep is None:
                continue
            for name, arr in prep.opdata.items():
                self.machine.write(extra[name], arr.astype("<i4").tobytes())
            addr = dict(extra)
            for k, t in enumerate(prep.inputs):
                addr[f"in{k}"] = self.addr[t]
            addr["out"] = self.addr[prep.output]
            for t in prep.constants:
                addr[f"c{t}"] = self.const_address(t)
            self.machine.write(arg, prep.pack(addr))

    def set_tensor(self, index: int, data: np.ndarray) -> None:
        t = self.sg.tensors[index]
        arr = np.ascontiguousarray(data, dtype=NUMPY_DTYPES[t.dtype]).reshape(-1)
        if arr.size != t.elements:
            raise ValueError(f"tensor {index} has {t.elements} elements, got {arr.size}")
        if index in self.addr:          # empty and variable tensors have no place in the plan
            self.machine.write(self.addr[index], arr.tobytes())

    def get_tensor(self, index: int) -> np.ndarray:
        t = self.sg.tensors[index]
        if t.constant:                  # in flash, not planned (a graph output may be one)
            return self.graph.tensor_data(t)
        if index not in self.addr:      # empty, or a variable no kernel here writes: zeros
            return np.zeros(t.shape, NUMPY_DTYPES[t.dtype])
        data = self.machine.read(self.addr[index], t.nbytes)
        return np.frombuffer(data, NUMPY_DTYPES[t.dtype]).reshape(t.shape).copy()

    def run_layer(self, i: int, dispatch: bool = True) -> LayerRun:
        """Operator `i`'s kernel, then (if `dispatch`) TFLM's dispatch of it."""
        prep = self.prepared[i]
        if prep is None:
            raise UnsupportedLayer(self.unsupported[i])
        rec = self.machine.call(prep.entry, self.args[i])
        return LayerRun(i, prep.op.opcode, prep.entry, rec,
                        self.dispatch.run(i) if dispatch else None, self.get_tensor(prep.output))

    def run(self, inputs: list[np.ndarray] | None = None, seed: int = 0,
            dispatch: bool = True) -> ModelRun:
        """One inference, layer after layer; `inputs` default to seeded random data (int8:
        uniform over its range; float32: standard normal). dispatch=False runs the kernels
        alone (calibrating them needs no dispatch figures)."""
        if self.unsupported:
            raise UnsupportedLayer(next(iter(self.unsupported.values())))
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        for k, idx in enumerate(self.sg.inputs):
            t = self.sg.tensors[idx]
            if inputs is not None:
                x = inputs[k]
            elif t.dtype == "float32":
                x = rng.standard_normal(t.shape)
            else:
                x = rng.integers(-128, 128, t.shape)
            self.set_tensor(idx, x)
        layers = [self.run_layer(i, dispatch) for i in range(len(self.sg.operators))]
        outs = [self.get_tensor(i) for i in self.sg.outputs]
        return ModelRun(self.device.name, layers, outs, time.perf_counter() - t0)
