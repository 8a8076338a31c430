"""The global struct sizes and alignments of TFLM's tail, from the probe measurements.

What the RecordingMicroAllocator counts is measured (bytes per item of a category); what it
only reports summed, or not at all (most alignments), comes from the C layouts of the structs
on this host, mirrored with ctypes.
"""

from __future__ import annotations

import ctypes

from ..memory.arena import BUFFERS, EVAL, NODES, QUANT, TENSORS
from ..tflm_probe import TflmAllocation
from .fit import per_instance
from .probe import Built, ProbeResult, recorded
from .probes import BASE


def _ratio(reports: list[TflmAllocation], category: str, per: int = 1) -> int:
    """Bytes per counted item of `category` (checked equal in every report)."""
    values = {rec.requested * per // rec.count for rec in (recorded(r, category) for r in reports)
              if rec.count}
    if len(values) != 1:
        raise RuntimeError(f"category {category!r} is not a whole number of equal items: {values}")
    return values.pop()


def ctypes_layouts() -> dict[str, tuple[int, int]]:
    """(size, alignment) of the C structs whose sizes the allocator only reports summed or whose
    alignment it does not report, mirrored from TFLM's C declarations for this host."""
    ptr, cint = ctypes.c_void_p, ctypes.c_int

    class EvalTensor(ctypes.Structure):          # TfLiteEvalTensor
        _fields_ = [("data", ptr), ("dims", ptr), ("type", cint)]

    class AffineQuantization(ctypes.Structure):  # TfLiteAffineQuantization
        _fields_ = [("scale", ptr), ("zero_point", ptr), ("quantized_dimension", ctypes.c_int32)]

    return {
        "pointer": (ctypes.sizeof(ptr), ctypes.alignment(ptr)),
        "int": (ctypes.sizeof(cint), ctypes.alignment(cint)),
        "eval_tensor": (ctypes.sizeof(EvalTensor), ctypes.alignment(EvalTensor)),
        "affine_quantization": (ctypes.sizeof(AffineQuantization),
                                ctypes.alignment(AffineQuantization)),
    }


def derive_structs(results: list[ProbeResult], per_channel: list[Built],
                   per_channel_failure: str = "") -> tuple[dict, list[str]]:
    """Global struct sizes and alignments from all probe reports. `per_channel` are the
    per-channel-input models (probe.per_channel_input_models; empty if they failed, and why in
    `per_channel_failure`). Returns (structs, notes)."""
    notes = []
    reports = [b.report for r in results for ms in r.models.values() for b in ms.values()]
    layouts = ctypes_layouts()
    s = {
        "eval_tensor": _ratio(reports, EVAL),
        "node_and_registration": _ratio(reports, NODES),
        "persistent_tensor": _ratio(reports, TENSORS),
    }
    # Quantisation data: 2 allocations per quantised input/output tensor (the
    # TfLiteAffineQuantization and its zero-point TfLiteIntArray), per-tensor in every probe.
    per_tensor_quant = _ratio(reports, QUANT, per=2)
    # Zero-point bytes per channel: the tanh probe with a per-channel quantised input.
    if per_channel:
        q1, qc = (recorded(b.report, QUANT).requested for b in per_channel)
        zp_per_channel = (qc - q1) // (BASE["c"] - 1)
    else:
        zp_per_channel = layouts["int"][0]
        notes.append(f"per-channel input model failed ({per_channel_failure}); "
                     "zero-point element = sizeof(int)")
    # The affine struct and the zero-point array header are only reported summed: split it with
    # the C layout of TfLiteAffineQuantization (checked: the header must be one int, the count).
    affine = layouts["affine_quantization"][0]
    header = per_tensor_quant - affine - zp_per_channel
    if header != layouts["int"][0]:
        notes.append(f"zero-point array header {header} bytes != sizeof(int)")
    s["affine_quantization"] = affine
    s["zero_point_array_header"] = header
    s["zero_point_per_channel"] = zp_per_channel
    # I/O tensor pointer arrays: the persistent buffers of a chain that are not per instance.
    pointer_sizes = set()
    for r in results:
        if r.probe.ks[0] == 0 or "base" not in r.models:
            continue
        delta, _ = per_instance(r.models["base"])
        b = r.models["base"][r.probe.ks[0]]
        g, k = b.graph.main, r.probe.ks[0]
        io_bytes = recorded(b.report, BUFFERS).requested - k * delta.buffer_bytes
        io_allocs = recorded(b.report, BUFFERS).count - k * delta.buffer_allocs
        if io_allocs == 2:
            pointer_sizes.add(io_bytes // (len(g.inputs) + len(g.outputs)))
    if len(pointer_sizes) != 1:
        raise RuntimeError(f"tensor pointer size not unique: {pointer_sizes}")
    s["tensor_pointer"] = pointer_sizes.pop()
    # Alignments the report does not show: from the C layouts (pointer-holding structs align
    # like a pointer, the TfLiteIntArray like an int); persistent buffers: fitted later.
    s["eval_tensor_align"] = layouts["eval_tensor"][1]
    s["node_and_registration_align"] = layouts["pointer"][1]
    s["persistent_tensor_align"] = layouts["pointer"][1]
    s["affine_quantization_align"] = layouts["affine_quantization"][1]
    s["zero_point_array_align"] = layouts["int"][1]
    s["scratch_buffer_handle"] = layouts["pointer"][0]
    s["scratch_buffer_handle_align"] = layouts["pointer"][1]
    if s["eval_tensor"] != layouts["eval_tensor"][0]:
        notes.append(f"TfLiteEvalTensor measured {s['eval_tensor']} bytes, "
                     f"C layout {layouts['eval_tensor'][0]}")
    return s, notes
