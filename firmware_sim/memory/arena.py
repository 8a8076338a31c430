"""TFLM tensor arena = head (planned activations and scratch) + tail (persistent data).

The head comes from a memory planner (greedy by default, as TFLM). The tail is replayed
allocation by allocation, in TFLM's order and with its alignments, from the struct and
OpData sizes in `tflm_arena.toml` (or a table passed in), which firmware_sim.calibration
(run by `tools/calibrate_tflm_arena.py`) measures on the PyPI tflite-micro interpreter (a
64-bit host build: pointer-holding structs are larger there than on a 32-bit Cortex-M, so the
figure is an upper bound for the device).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..graph import Graph, Operator, Subgraph
from ..kernel_stacks import CMSIS_NN_OPDATA_EXTRA, kernel_for, scratch_bytes
from .greedy_planner import GreedyPlanner
from .lifetimes import align_up, buffer_requests
from .planner import MemoryPlanner, Placement, format_plan

TABLE = Path(__file__).with_name("tflm_arena.toml")

#: Slack for an arena buffer that does not start on a 16-byte boundary: TFLM aligns the
#: start up and so can lose up to 15 bytes (micro_interpreter.h: "add 16 bytes").
START_ALIGNMENT_SLACK = 16

#: Transient needs while TFLM sets up, C layouts of the 64-bit host build: one
#: AllocationInfo per tensor and scratch buffer while planning (size_t bytes, void** ptr, int
#: first/last, int32 offline offset, bool: 32 bytes; allocation_info.h) and the greedy
#: planner's working memory per planned buffer (BufferRequirements of 4 ints, 2 sort ints,
#: a 3-int ListEntry and an offset: 40 bytes; GreedyMemoryPlanner::per_buffer_size()). The
#: AD01 model's planner capacity grows by one buffer per 40 bytes of arena, as this says.
ALLOCATION_INFO_BYTES = 32
PLANNER_BYTES_PER_BUFFER = 40

#: Sizes used for an operator the calibration has not measured: larger than any measured
#: one, so the prediction errs high, and the operator is named in the report.
UNCALIBRATED_OP = {"builtin_bytes": 64, "builtin_align": 4, "init_bytes": 128,
                   "per_channel_arrays": 2, "per_channel_when": "always", "scratch_buffers": 1,
                   "prepare_temp_extra": 512}


@cache
def arena_table(path: Path = TABLE) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class ArenaPlan:
    """The arena in bytes: the largest of three moments, plus start-alignment slack.

    Steady state needs head + tail; while planning, TFLM needs the tail plus its allocation
    records and planner memory; while a kernel prepares, the tail plus temporary TfLiteTensor
    structs for that operator's tensors. Small models can be bound by the latter two.
    """

    placements: tuple[Placement, ...]
    head_bytes: int
    tail: tuple[tuple[str, int], ...]  # (TFLM report category, bytes incl. alignment padding)
    tail_bytes: int
    planning_bytes: int                # tail + allocation records + planner memory
    prepare_bytes: int                 # tail + the largest operator's temporary tensors
    uncalibrated_ops: tuple[str, ...]
    slack_bytes: int = START_ALIGNMENT_SLACK    # 0 outside TFLM's arena

    @property
    def peak_bytes(self) -> int:
        return max(self.head_bytes + self.tail_bytes, self.planning_bytes, self.prepare_bytes)

    @property
    def bound_by(self) -> str:
        if self.peak_bytes == self.head_bytes + self.tail_bytes:
            return "head + tail"
        return "planning" if self.peak_bytes == self.planning_bytes else "kernel prepare"

    @property
    def total_bytes(self) -> int:
        return self.peak_bytes + self.slack_bytes

    def live_bytes(self, n_ops: int) -> list[int]:
        """Per operator, the bytes of the head buffers (activations and kernel scratch)
        alive while it runs: operator i runs at lifetime step i + 1 (lifetimes.py)."""
        delta = [0] * (n_ops + 2)      # by step: bytes that become alive minus those freed
        for p in self.placements:
            first, last = max(p.request.first, 1), min(p.request.last, n_ops)
            if first <= last:
                delta[first] += p.request.size
                delta[last + 1] -= p.request.size
        live, out = 0, []
        for step in range(1, n_ops + 1):
            live += delta[step]
            out.append(live)
        return out

    def to_dict(self) -> dict:
        return {"total_bytes": self.total_bytes, "head_bytes": self.head_bytes,
                "tail_bytes": self.tail_bytes, "bound_by": self.bound_by,
                "buffers": [{"name": p.request.name, "offset": p.offset, "size": p.request.size,
                             "first": p.request.first, "last": p.request.last}
                            for p in self.placements],
                "tail": [{"category": what, "bytes": size} for what, size in self.tail]}

    def format(self) -> str:
        lines = [f"arena {self.total_bytes} bytes = {self.bound_by} {self.peak_bytes} + "
                 f"{self.slack_bytes} start-alignment slack (head {self.head_bytes}, tail "
                 f"{self.tail_bytes}, planning peak {self.planning_bytes}, prepare peak "
                 f"{self.prepare_bytes})", format_plan(list(self.placements)), "tail:"]
        lines += [f"  {what:<44} {size:>8}" for what, size in self.tail]
        return "\n".join(lines)


def plan_arena(graph: Graph, stack: str = "reference",
               planner: MemoryPlanner | None = None, table: dict | None = None) -> ArenaPlan:
    """Predict TFLM's arena for the main subgraph of `graph` with kernel `stack`, from the
    calibration `table` (default: the shipped tflm_arena.toml). For TFLite on Linux (stack
    "xnnpack") only the planned activations count: its runtime structures live on the heap,
    outside an arena, and are part of the device's static bytes."""
    sg = graph.main
    if stack == "xnnpack":
        return plan_activations(graph, planner)
    table = arena_table() if table is None else table
    scratch = {op.index: scratch_bytes(stack, op, sg) for op in sg.operators}
    requests = buffer_requests(sg, scratch)
    placements = (planner or GreedyPlanner()).plan(requests)
    n_scratch = sum(1 for size in scratch.values() if size)
    tail, uncalibrated = tail_allocations(sg, stack, n_scratch, table)
    tail_bytes = sum(tail.values())
    planning = (tail_bytes + align_up(ALLOCATION_INFO_BYTES * (len(sg.tensors) + n_scratch))
                + PLANNER_BYTES_PER_BUFFER * len(requests))
    prepare = tail_bytes + max((prepare_temp(op, sg, table) for op in sg.operators), default=0)
    return ArenaPlan(placements=tuple(placements),
                     head_bytes=MemoryPlanner.head_bytes(placements), tail=tuple(tail.items()),
                     tail_bytes=tail_bytes, planning_bytes=planning, prepare_bytes=prepare,
                     uncalibrated_ops=tuple(sorted(uncalibrated)))


def plan_activations(graph: Graph, planner: MemoryPlanner | None = None) -> ArenaPlan:
    """The activations of the main subgraph alone (greedy plan, no runtime tail, no slack):
    the arena of runtimes that keep their own structures on the heap (TFLite on Linux, NPU
    sessions)."""
    placements = (planner or GreedyPlanner()).plan(buffer_requests(graph.main))
    return ArenaPlan(placements=tuple(placements), head_bytes=MemoryPlanner.head_bytes(placements),
                     tail=(), tail_bytes=0, planning_bytes=0, prepare_bytes=0,
                     uncalibrated_ops=(), slack_bytes=0)


def prepare_temp(op: Operator, sg: Subgraph, table: dict) -> int:
    """Temporary bytes while `op` prepares: a TfLiteTensor and its quantisation for each of
    its tensors, plus what the calibration measured beyond that for this kernel."""
    s = table["structs"]
    used = 0
    for t in (sg.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0):
        used = align_up(used + s["persistent_tensor"], s["persistent_tensor_align"])
        if t.quant is not None:
            used = align_up(used + s["affine_quantization"], s["affine_quantization_align"])
            used = align_up(used + s["zero_point_array_header"] + s["zero_point_per_channel"]
                            * len(t.quant.zero_point), s["zero_point_array_align"])
    return used + table["ops"].get(op.opcode, UNCALIBRATED_OP).get("prepare_temp_extra", 0)


#: TFLM's names for the tail categories its RecordingMicroAllocator reports; "unrecorded"
#: collects what it does not report (its own objects, builtin options, scratch handles).
EVAL, NODES, BUFFERS = "TfLiteEvalTensor data", "NodeAndRegistration struct", "Persistent buffer data"
TENSORS, QUANT = "Persistent TfLiteTensor data", "Persistent TfLiteTensor quantization data"
UNRECORDED = "unrecorded"


class _Tail:
    """TFLM's persistent allocator: grows down from the aligned arena end."""

    def __init__(self) -> None:
        self.used = 0
        self.by_category: dict[str, int] = {}

    def alloc(self, category: str, size: int, alignment: int) -> None:
        if size:
            before = self.used
            self.used = align_up(self.used + size, alignment)
            self.by_category[category] = self.by_category.get(category, 0) + self.used - before


def _op_buffers(op: Operator, sg: Subgraph, entry: dict, stack: str) -> tuple[list[int], list[int]]:
    """(Init() allocations, Prepare() allocations) of one operator's kernel, bytes."""
    extra = CMSIS_NN_OPDATA_EXTRA.get(op.opcode, 0) if kernel_for(stack, op) == "cmsis-nn" else 0
    init = [entry["init_bytes"] + extra] if entry.get("init_bytes") else []
    prepare = list(entry.get("prepare_allocation_bytes", []))
    when = entry.get("per_channel_when", "never")
    weights = sg.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    per_channel = weights is not None and weights.quant is not None and weights.quant.per_channel
    if when == "always" or (when == "per_channel_weights" and per_channel):
        shape = sg.tensors[op.outputs[0]].shape if op.outputs else ()
        channels = shape[-1] if shape else 1
        prepare += [4 * channels] * entry.get("per_channel_arrays", 0)
    if entry.get("prepare_bytes_per_input"):
        prepare.append(entry["prepare_bytes_per_input"] * sum(1 for i in op.inputs if i >= 0))
    return init, prepare


def tail_allocations(sg: Subgraph, stack: str, cmsis_scratch: int = 0,
                     table: dict | None = None) -> tuple[dict[str, int], set[str]]:
    """Tail bytes per TFLM report category, replaying TFLM's allocation order (see
    tflm_arena.toml's header), and the operators the table has no entry for."""
    table = table or arena_table()
    s, ops = table["structs"], table["ops"]
    uncalibrated = {op.opcode for op in sg.operators if op.opcode not in ops}
    entries = [ops.get(op.opcode, UNCALIBRATED_OP) for op in sg.operators]
    tail = _Tail()
    tail.alloc(UNRECORDED, s["fixed_bytes"], 1)
    tail.alloc(EVAL, s["eval_tensor"] * len(sg.tensors), s["eval_tensor_align"])
    tail.alloc(NODES, s["node_and_registration"] * len(sg.operators),
               s["node_and_registration_align"])
    for entry in entries:
        tail.alloc(UNRECORDED, entry.get("builtin_bytes", 0), entry.get("builtin_align", 1))
    buffers = [_op_buffers(op, sg, e, stack) for op, e in zip(sg.operators, entries)]
    for phase in (0, 1):                      # every kernel's Init(), then every Prepare()
        for allocations in buffers:
            for size in allocations[phase]:
                tail.alloc(BUFFERS, size, s["persistent_buffer_align"])
    handles = sum(e.get("scratch_buffers", 0) for e in entries) + cmsis_scratch
    tail.alloc(UNRECORDED, s["scratch_buffer_handle"] * handles, s["scratch_buffer_handle_align"])
    for group in (sg.inputs, sg.outputs):
        tail.alloc(BUFFERS, s["tensor_pointer"] * len(group), s["persistent_buffer_align"])
        for t in group:
            quant = sg.tensors[t].quant
            tail.alloc(TENSORS, s["persistent_tensor"], s["persistent_tensor_align"])
            if quant is not None:
                tail.alloc(QUANT, s["affine_quantization"], s["affine_quantization_align"])
                tail.alloc(QUANT, s["zero_point_array_header"]
                           + s["zero_point_per_channel"] * len(quant.zero_point),
                           s["zero_point_array_align"])
    return tail.by_category, uncalibrated
