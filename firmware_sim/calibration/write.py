"""Render the calibration: the TOML file (written atomically) and the console table.

The file's header comment documents the tail model in full, so that a reader of
tflm_arena.toml needs nothing else to replay it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from edgesim.io import atomic_write

from .fit import OpCalibration, op_table

_STRUCT_COMMENTS = {
    "fixed_bytes": "allocator, planner and interpreter objects (step 1, unrecorded)",
    "eval_tensor": "TfLiteEvalTensor, one per tensor of the subgraph (step 2)",
    "eval_tensor_align": "",
    "node_and_registration": "NodeAndRegistration, one per operator (step 3)",
    "node_and_registration_align": "",
    "persistent_buffer_align": "every persistent buffer: Init/Prepare data, I/O arrays",
    "scratch_buffer_handle": "ScratchBufferHandle, one per scratch buffer request (step 6b)",
    "scratch_buffer_handle_align": "",
    "tensor_pointer": "TfLiteTensor* in the input / output arrays (step 7)",
    "persistent_tensor": "TfLiteTensor for each subgraph input and output (step 7)",
    "persistent_tensor_align": "",
    "affine_quantization": "TfLiteAffineQuantization of a quantised I/O tensor (C layout)",
    "affine_quantization_align": "",
    "zero_point_array_header": "TfLiteIntArray of the zero points: header ...",
    "zero_point_per_channel": "... plus this per quantisation channel",
    "zero_point_array_align": "",
}

_OP_KEY_COMMENTS = {
    "builtin_bytes": "parsed builtin options (step 4, unrecorded)",
    "init_bytes": "persistent buffer allocated in Init(), the OpData (step 5)",
    "prepare_bytes": "constant-size persistent buffers allocated in Prepare() (step 6)",
    "prepare_allocation_bytes": "their sizes (only their 16-rounded sum is measured)",
    "per_channel_arrays": "int32 arrays of output-channel length allocated in Prepare()",
    "scratch_buffers": "scratch buffer requests (handles in the tail, buffers in the head)",
    "prepare_bytes_per_input": "Prepare() bytes per operator input",
    "allocations": "persistent buffers per instance in the base probe (4 channels)",
    "builtin_align": "alignof the options struct: min(4, lowest set bit of its size)",
    "prepare_temp_extra": "bytes a kernel's Prepare() holds in temporary memory beyond its "
                          "tensors' TfLiteTensor structs, from the minimum arena of the probe",
}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


def _table_lines(header: str, table: dict, comments: dict) -> list[str]:
    lines = [header]
    width = max(len(f"{k} = {_toml_value(v)}") for k, v in table.items())
    for k, v in table.items():
        text = f"{k} = {_toml_value(v)}"
        note = comments.get(k, "")
        lines.append(f"{text:<{width}}  # {note}" if note else text)
    return lines


def render_toml(structs: dict, cals: dict[str, OpCalibration], version: str,
                skipped: list[str]) -> str:
    """The calibration file: header comment, [structs], one [ops.NAME] table per operator."""
    lines = [
        "# TensorFlow Lite Micro tensor-arena calibration: the persistent (\"tail\") allocations",
        "# that MicroAllocator makes, used by edgesim to predict the arena size of a model.",
        f"# Measured with tflite-micro {version} (PyPI interpreter, 64-bit host build: pointers",
        "# are 8 bytes, so structs are larger than on a 32-bit MCU), RecordingMicroAllocator.",
        "# Produced by tools/calibrate_tflm_arena.py. Do not edit by hand: re-run the script.",
        "#",
        "# Tail model, all sizes in bytes. Each allocation moves d, the distance from the",
        "# 16-aligned arena end, to roundup(d + size, align), in this order:",
        "#  1. fixed_bytes",
        "#  2. eval_tensor * tensors                    3. node_and_registration * operators",
        "#  4. per op, in op order: builtin_bytes (align builtin_align)",
        "#  5. per op: init_bytes                       (align persistent_buffer_align)",
        "#  6. per op: prepare_allocation_bytes, then per_channel_arrays arrays of",
        "#     4 * output channels bytes each (when per_channel_when says so: \"always\", or",
        "#     \"per_channel_weights\" = only if input 1 has more than one scale; \"never\"),",
        "#     then prepare_bytes_per_input * inputs if present, each a separate allocation",
        "#  6b. scratch_buffer_handle * sum(scratch_buffers), if any",
        "#  7. for the inputs, then the outputs: tensor_pointer * count (persistent buffer),",
        "#     then per tensor persistent_tensor, and if quantised affine_quantization and",
        "#     zero_point_array_header + zero_point_per_channel * channels",
        "# Output channels = last dimension of the operator's output 0.",
        "#",
        "# Measured: every size whose allocations the report counts (eval_tensor,",
        "# node_and_registration, persistent_tensor, tensor_pointer, zero_point_per_channel,",
        "# per-operator persistent buffers and their count, builtin data + scratch handles).",
        "# Fitted (recomputing every probe model exactly): persistent_buffer_align, and what the",
        "# tail cannot tell apart by more than 16 bytes: the split of an operator's unrecorded",
        "# bytes into builtin data and scratch handles (no scratch buffers unless that fails to",
        "# reproduce the measurements, then as many 8-byte handles as fit) and of its constant",
        "# persistent buffers into Init() and Prepare() ones (all in Init() when there is one",
        "# allocation). From the C layout on this host: the other alignments,",
        "# affine_quantization (the report sums it with the zero-point array) and",
        "# scratch_buffer_handle.",
        "#",
        "# Transient peaks (firmware_sim/memory/arena.py): while TFLM plans memory, the tail plus",
        "# allocation records and planner memory; while an operator's kernel runs Prepare(), the",
        "# tail plus a temporary TfLiteTensor (with quantisation and zero points) per tensor of",
        "# the operator plus its prepare_temp_extra. prepare_temp_extra is measured: the smallest",
        "# arena TFLM accepts (bisected) for one instance with tiny activations, less the tail and",
        "# those structs, where it exceeds head + tail, the planning peak and every operator's",
        "# structs; else 0.",
        "",
        f'tflite_micro_version = "{version}"',
        'generated_by = "tools/calibrate_tflm_arena.py"',
    ]
    if skipped:
        lines.append("# Not calibrated (could not be isolated): " + ", ".join(skipped))
    lines += [""] + _table_lines("[structs]", structs, _STRUCT_COMMENTS)
    for name in sorted(cals):
        cal = cals[name]
        lines.append("")
        lines.append(f"# {name}: probes {', '.join(cal.probes)}")
        for note in cal.notes:
            lines += textwrap.wrap(note, 96, initial_indent="# note: ",
                                   subsequent_indent="#   ")
        if cal.scratch_buffers:
            lines.append(f"# {name} requests {cal.scratch_buffers} scratch buffer(s) per "
                         "instance in Prepare(); their sizes (head) depend on the shapes.")
        if cal.prepare_bytes_per_input:
            lines.append(f"# {name} allocates {cal.prepare_bytes_per_input} bytes per input "
                         "in Prepare().")
        lines += _table_lines(f"[ops.{name}]", op_table(cal), _OP_KEY_COMMENTS)
    return "\n".join(lines) + "\n"


def struct_table(structs: dict) -> dict:
    """The struct sizes in the order the file lists them (every key documented above)."""
    return {k: structs[k] for k in _STRUCT_COMMENTS}


def write_toml(path: Path, text: str) -> None:
    """Write the rendered calibration to `path` atomically (a reader never sees half a file)."""
    atomic_write(path, text.encode("utf-8"))


def print_op_table(cals: dict[str, OpCalibration]) -> None:
    """One line per operator: the numbers written to the TOML (bytes)."""
    cols = ("builtin", "b_align", "init", "prepare", "prep_n", "pc_arrays", "scratch",
            "allocs", "per_input", "prep_temp")
    print(f"{'op':<20}" + "".join(f"{c:>10}" for c in cols) + "  per_channel_when")
    for name in sorted(cals):
        c = cals[name]
        nums = (c.builtin_bytes, c.builtin_align, c.init_bytes, c.prepare_bytes,
                c.prepare_allocations, c.per_channel_arrays, c.scratch_buffers, c.allocations,
                c.prepare_bytes_per_input, c.prepare_temp_extra)
        print(f"{name:<20}" + "".join(f"{v:>10}" for v in nums) + f"  {c.per_channel_when}")
