"""TFLM's per-operator dispatch, run on the emulated core: src/tflm_dispatch.c.

The host lays out what MicroAllocator and MicroInterpreter hold at run time, as 32-bit
structs (layouts in the C file's comments):
  * in flash, beside the flatbuffer: each operator's input and output index arrays and each
    tensor's dims array (TFLM points TfLiteNode::inputs/outputs and TfLiteEvalTensor::dims
    into the flatbuffer, micro_allocator.cc FlatBufferVectorToTfLiteTypeArray);
  * in RAM after the arena tail: one TfLiteEvalTensor per tensor, one NodeAndRegistration per
    operator, each operator's OpData and builtin data, the scratch buffer handles, the
    registrations, the TfLiteContext, MicroContext and MicroGraph objects.
`tflm_invoke_node` then runs one pass of the interpreter's node loop for operator i: the
kernel's Eval preamble up to the CMSIS-NN call, which lands on a stub. The stub's own record
(called alone) is subtracted, so what remains is the dispatch TFLM adds to the kernel.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from ..cost.cortex_m import dispatch_cycles, dispatch_row
from ..cost.kernel_features import conv_geometry
from ..memory.regions import ArenaPlacement
from ..ops import SAME, VALID
from .machine import CallRecord, Machine

#: Registration order of tflm_setup's invoke table (src/tflm_dispatch.c).
ENTRY_ORDER = ("conv_s8", "conv_1x1_s8", "depthwise_s8", "fully_connected_s8", "avgpool_s8",
               "maxpool_s8", "add_s8", "softmax_s8", "copy_s8")
#: TfLiteType codes (tensorflow/lite/core/c/c_api_types.h).
TFLITE_TYPES = {"float32": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7,
                "int8": 9, "float16": 10}
#: TfLitePadding (c/builtin_op_data.h) by schema Padding (ops.py).
_PADDING = {SAME: 1, VALID: 2}
_GRAPH_OPERATOR_INDEX = 16          # graph.current_operator_index: byte offset in the struct


@dataclass(frozen=True)
class DispatchRecord:
    """Per-operator dispatch on the device: the node-loop pass and the Eval preamble."""

    instructions: int
    compute_cycles: int         # pipeline issue + branch penalties
    stall_cycles: float         # flash line / ART fills, RAM line fills
    flash_misses: int           # flash lines (D-cache) or ART lines filled
    ram_misses: int             # D-cache line fills from bus RAM

    @property
    def cycles(self) -> int:
        return int(round(self.compute_cycles + self.stall_cycles))


def _words(*values) -> bytes:
    return struct.pack(f"<{len(values)}I", *[int(v) & 0xFFFFFFFF for v in values])


def _int_array(values) -> bytes:
    """TfLiteIntArray: size, then the ints."""
    return _words(len(values), *values)


class _Area:
    """Bytes laid out from `base`, each piece at its alignment."""

    def __init__(self, base: int):
        self.base, self.data = base, bytearray()

    def put(self, raw: bytes, align: int = 4) -> int:
        self.data += bytes(-(self.base + len(self.data)) % align)
        address = self.base + len(self.data)
        self.data += raw
        return address


def _opdata(entry: str, op, sg, fields: list, extra: dict, buffer_idx: int) -> tuple[bytes, bytes, int]:
    """(OpData, builtin data, OpData alignment) of one operator, as the kernel's Prepare()
    leaves them; only what the Eval preamble reads matters to the cost."""
    o = op.options
    act = o.get("fusedActivationFunction", 0)
    padding = _PADDING[o.get("padding", SAME)]
    if entry in ("conv_s8", "conv_1x1_s8", "depthwise_s8"):
        g = conv_geometry(op, sg)
        in_off, out_zp, lo, hi = fields[21:25]
        data = _words(g.pad_w, g.pad_h, 0, 0, -in_off, 0, out_zp, 0, 0, extra["mult"],
                      extra["shift"], lo, hi, buffer_idx)
        if entry == "depthwise_s8":
            builtin = _words(padding, g.stride_w, g.stride_h, o.get("depthMultiplier", 1), act,
                             g.dil_w, g.dil_h)
        else:
            builtin = _words(padding, g.stride_w, g.stride_h, act, g.dil_w, g.dil_h)
        return data, builtin, 4
    if entry == "fully_connected_s8":
        in_off, out_zp, lo, hi = fields[9:13]
        return _words(0, 0, lo, hi, -in_off, 0, out_zp, buffer_idx), _words(act, 0, 0, 0), 4
    if entry in ("avgpool_s8", "maxpool_s8"):
        g = conv_geometry(op, sg)
        lo, hi = fields[14:16]
        return (_words(g.pad_w, g.pad_h, 0, 0, lo, hi, 0, 0, buffer_idx),
                _words(padding, g.stride_w, g.stride_h, g.k_w, g.k_h, act), 4)
    if entry == "add_s8":
        (_n, in1_off, m1, s1, in2_off, m2, s2, left, out_zp, mo, so, lo, hi) = fields[3:16]
        return (_words(0, lo, hi, left, in1_off, m1, s1, in2_off, m2, s2, out_zp, mo, so),
                _words(act, 0), 4)
    if entry == "softmax_s8":
        _rows, depth, mult, left, diff_min = fields[2:7]
        params = struct.pack("<d", 0.0) + _words(mult, left, 0, 0, diff_min, 0, 0, 0, 0, 0, 0, 0)
        return params + _words(depth, 0), _words(0), 8
    return b"", b"", 4                              # RESHAPE: neither is read


class DispatchProgram:
    """The TFLM interpreter state for one model in an emulated device (see the module doc)."""

    def __init__(self, mm, ram_base: int, flash_base: int, model_base: int):
        """Lay out the structs of ModelMachine `mm`: RAM from `ram_base`, flash arrays from
        `flash_base`, the model's constants at `model_base`; `load` writes them into a
        machine."""
        sg = mm.sg
        ram, flash = _Area(ram_base), _Area(flash_base)
        tensors = bytearray()
        for i, t in enumerate(sg.tensors):
            dims = flash.put(_int_array(t.shape))
            if t.constant:
                data = model_base + mm.graph.buffer_spans[t.buffer][0]
            else:
                data = mm.addr.get(i, 0)
            tensors += _words(data, dims, TFLITE_TYPES.get(t.dtype, 0))
        tensors_addr = ram.put(bytes(tensors))
        scratch = [extra["scratch"] for extra in mm.opdata if "scratch" in extra]
        handles = ram.put(_words(*scratch)) if scratch else 0
        registrations = ram.put(bytes(28 * len(ENTRY_ORDER)))
        nodes = bytearray()
        n_scratch = 0
        for op, prep, extra in zip(sg.operators, mm.prepared, mm.opdata):
            if prep is None or prep.entry not in ENTRY_ORDER:    # no wrapper ported for it
                nodes += bytes(32)
                continue
            buffer_idx = -1
            if "scratch" in extra:
                buffer_idx, n_scratch = n_scratch, n_scratch + 1
            data, builtin, align = _opdata(prep.entry, op, sg, prep.fields, extra, buffer_idx)
            inputs = flash.put(_int_array(op.inputs))
            outputs = flash.put(_int_array(op.outputs))
            user = ram.put(data, align) if data else 0
            options = ram.put(builtin) if builtin else 0
            reg = registrations + 28 * ENTRY_ORDER.index(prep.entry)
            nodes += _words(inputs, outputs, 0, user, options, 0, 0, reg)
        nodes_addr = ram.put(bytes(nodes))
        allocations = ram.put(_words(nodes_addr, tensors_addr))
        context = ram.put(_words(0, 0, 0))
        micro_context = ram.put(_words(0, 0, handles))
        self.graph = ram.put(_words(0, context, allocations, 0, 0, len(sg.operators), 0))
        self._setup = ram.put(_words(context, micro_context, self.graph, registrations))
        self._ram, self._flash = ram, flash
        self.ram_bytes, self.flash_bytes = len(ram.data), len(flash.data)
        self.entries = [prep.entry if prep else None for prep in mm.prepared]
        self.device, self.arena = mm.device, ArenaPlacement(tuple(mm.arena_regions)).slowest
        self.machine: Machine | None = None

    def load(self, machine: Machine) -> None:
        """Write the structs into `machine` (its model at the layout's `model_base`) and run
        TFLM's setup there, then the stub kernel whose record each dispatch subtracts."""
        machine.write(self._ram.base, self._ram.data)
        machine.write(self._flash.base, self._flash.data)
        machine.call("tflm_setup", self._setup)
        self._stub = machine.call("cmsis_nn_stub", 0)
        self.machine = machine

    def run(self, index: int) -> DispatchRecord:
        """Dispatch operator `index`: one node-loop pass less the stub kernel's record. A
        float layer's wrapper is not ported: it gets the measured figures of its int8 twin
        (cost.cortex_m.dispatch_cycles)."""
        entry = self.entries[index]
        if entry not in ENTRY_ORDER:
            return self._twin(entry)
        m = self.machine
        m.write(self.graph + _GRAPH_OPERATOR_INDEX, _words(index))
        rec = m.call("tflm_invoke_node", self.graph)
        if m.read(self.graph + _GRAPH_OPERATOR_INDEX, 4) != _words(index + 1):
            raise RuntimeError(f"TFLM dispatch of operator {index} returned an error status")
        return _less(rec, self._stub)


    def _twin(self, entry: str) -> DispatchRecord:
        row = dispatch_row(self.device.core, entry)
        total = dispatch_cycles(self.device, entry, self.arena)
        return DispatchRecord(instructions=round(row["dispatch_instructions"]),
                              compute_cycles=math.ceil(row["dispatch_cycles"]),
                              stall_cycles=total - math.ceil(row["dispatch_cycles"]),
                              flash_misses=round(row["dispatch_flash_lines"]),
                              ram_misses=round(row["dispatch_ram_lines"]))


def _less(rec: CallRecord, stub: CallRecord) -> DispatchRecord:
    flash = rec.misses.get("flash", 0)
    return DispatchRecord(
        instructions=rec.instructions - stub.instructions,
        compute_cycles=(rec.issue_cycles + rec.branch_cycles) - (stub.issue_cycles + stub.branch_cycles),
        stall_cycles=rec.stall_cycles - stub.stall_cycles,
        flash_misses=flash, ram_misses=sum(rec.misses.values()) - flash)
