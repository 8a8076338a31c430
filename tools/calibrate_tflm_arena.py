#!/usr/bin/env python3
"""Calibrate edgesim's model of TensorFlow Lite Micro's persistent arena ("tail").

TFLM's MicroAllocator splits the tensor arena into a *head* (planned activations and scratch
buffers) and a *tail* (persistent objects, allocated downwards from the end of the arena and
never freed). The tail is a sequence of allocations, each one placed at

    d = roundup(d + size, align)          # d: distance (bytes) from the 16-aligned arena end

in this order:

 1. fixed objects (allocator, memory planner, interpreter graph objects), not recorded,
 2. one TfLiteEvalTensor per tensor,
 3. one NodeAndRegistration per operator,
 4. per operator, in operator order: its parsed builtin options ("builtin data"), not recorded,
 5. per operator, in operator order: the persistent buffers allocated in the kernel's Init(),
 6. per operator, in operator order: the persistent buffers allocated in Prepare() (some of them
    sized by the output-channel count),
 6b. one ScratchBufferHandle per scratch buffer requested in Prepare(), not recorded,
 7. for the subgraph inputs, then the outputs: an array of tensor pointers (a persistent buffer),
    then per tensor a persistent TfLiteTensor, its TfLiteAffineQuantization and its zero-point
    TfLiteIntArray (quantised tensors only).

This script regenerates every number of that model from scratch: it builds tiny INT8 models
with TensorFlow (chains of 1, 2, 3 identical operators, or a model with and without one
operator), runs them through the PyPI tflite-micro interpreter, reads the RecordingMicroAllocator
report (print_allocations) and differences the reports. It writes the result to
firmware_sim/memory/tflm_arena.toml (atomically) and finally recomputes the tail of every model it
built, plus the MLPerf Tiny INT8 models, from the TOML and compares with the measured tail.

Caveat: the PyPI interpreter is a 64-bit host build, so the struct sizes are those of a 64-bit
target (8-byte pointers); a 32-bit Cortex-M build has smaller structs.

Usage: python tools/calibrate_tflm_arena.py [--out PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.metadata
import os
import re
import sys
import tempfile
import textwrap
import tomllib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from firmware_sim.graph import Graph, load_graph  # noqa: E402

DEFAULT_OUT = REPO / "firmware_sim" / "memory" / "tflm_arena.toml"
MLPERF_DIR = Path("/work/shared/models/mlperf_tiny")
MLPERF_MODELS = ("ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant")

#: RecordingMicroAllocator category names (as printed) -> short keys used here.
CATEGORIES = {
    "TfLiteEvalTensor data": "eval",
    "Persistent TfLiteTensor data": "tensor",
    "Persistent TfLiteTensor quantization data": "quant",
    "Persistent buffer data": "buffer",
    "NodeAndRegistration struct": "node",
    "TfLiteTensor variable buffer data": "variable",
}

#: Probe parameters: c = channels (last dimension), s = spatial size, n = inputs of CONCATENATION.
BASE = {"c": 4, "s": 6, "n": 2}
VARIANTS = {"base": {}, "channels": {"c": 8}, "spatial": {"s": 9}, "inputs": {"n": 3}}


# ---------------------------------------------------------------------------------------------
# Measuring: the RecordingMicroAllocator report
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recorded:
    """One RecordingMicroAllocator category: bytes used (with alignment padding), bytes
    requested, and the number of allocations (or tensors / structs) it counts."""

    used: int
    requested: int
    count: int


@dataclass(frozen=True)
class ArenaReport:
    """What print_allocations() reports for one model: head and tail bytes, and the recorded
    tail categories (short key -> Recorded)."""

    head: int
    tail: int
    categories: dict[str, Recorded]

    def get(self, key: str) -> Recorded:
        return self.categories.get(key, Recorded(0, 0, 0))

    @property
    def unrecorded(self) -> int:
        """Tail bytes no category accounts for: fixed objects, builtin data, scratch handles."""
        return self.tail - sum(r.used for r in self.categories.values())


_LINE_TOTAL = re.compile(r"Arena allocation (head|tail) (\d+) bytes")
_LINE_CAT = re.compile(r"'(.+)' used (\d+) bytes with alignment overhead "
                       r"\(requested (\d+) bytes for (\d+) ")


def parse_report(text: str) -> ArenaReport:
    """Parse print_allocations() output into an ArenaReport."""
    totals, cats = {}, {}
    for line in text.splitlines():
        if m := _LINE_TOTAL.search(line):
            totals[m[1]] = int(m[2])
        elif m := _LINE_CAT.search(line):
            key = CATEGORIES.get(m[1], m[1])
            cats[key] = Recorded(int(m[2]), int(m[3]), int(m[4]))
    if "tail" not in totals:
        raise RuntimeError(f"no arena report in interpreter output:\n{text}")
    return ArenaReport(totals.get("head", 0), totals["tail"], cats)


@contextlib.contextmanager
def captured_stderr():
    """Redirect the C-level stderr (fd 2) to a temporary file; yields a list that holds the
    captured text once the block ends."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def measure_arena(model: bytes, arena_size: int = 1 << 22) -> ArenaReport:
    """Load `model` in the tflite-micro interpreter and return its allocation report.

    print_allocations() writes to the C-level stderr, so fd 2 is captured around it."""
    from tflite_micro.python.tflite_micro import runtime

    with captured_stderr() as out:
        interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
        interpreter.print_allocations()
    return parse_report(out[0])


# ---------------------------------------------------------------------------------------------
# Building: tiny INT8 models with TensorFlow
# ---------------------------------------------------------------------------------------------

def _tf():
    """Import TensorFlow quietly (it is slow to import, so only when models are built)."""
    warnings.filterwarnings("ignore")
    with captured_stderr():                     # TensorFlow's start-up banner
        import absl.logging
        import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)
    return tf


@dataclass(frozen=True)
class ModelSpec:
    """A model to convert: body(*inputs) -> output, float input shapes, converter options."""

    body: Callable
    shapes: tuple[tuple[int, ...], ...]
    flags: tuple[str, ...] = ()          # private converter attributes set to True
    float_input: bool = False            # keep a float32 input (adds QUANTIZE)
    float_output: bool = False           # keep a float32 output (adds DEQUANTIZE)


def convert(spec: ModelSpec, seed: int = 0) -> bytes:
    """Full-integer quantisation of `spec` (representative data set, TFLITE_BUILTINS_INT8,
    int8 input/output unless float_input/float_output). The converter's C++ chatter on stderr
    is dropped."""
    tf = _tf()
    rng = np.random.default_rng(seed)
    fn = tf.function(spec.body)
    concrete = fn.get_concrete_function(*[tf.TensorSpec(s, tf.float32) for s in spec.shapes])
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative():
        for _ in range(16):
            yield [rng.uniform(-1, 1, s).astype(np.float32) for s in spec.shapes]

    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.float32 if spec.float_input else tf.int8
    conv.inference_output_type = tf.float32 if spec.float_output else tf.int8
    for flag in spec.flags:
        setattr(conv, flag, True)
    with captured_stderr():
        return conv.convert()


_WEIGHT_RNG = np.random.default_rng(1)


def weights(*shape):
    """A constant float weight tensor (quantised by the converter)."""
    return _tf().constant(_WEIGHT_RNG.normal(size=shape).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Probes: which models isolate which operator
# ---------------------------------------------------------------------------------------------

@dataclass
class Probe:
    """Models with k = ks[0], ks[1], ... instances of operator `op` and nothing else changing.

    `unit(x, extra_inputs, p)` applies one instance to x; chains apply it k times. Probes whose
    operator the converter merges when repeated use ks=(0, 1) and a `helper` applied once
    (k=0 is the helper alone). `shapes(p)` gives the model input shapes."""

    key: str                                   # unique probe name
    op: str                                    # builtin operator name under test
    unit: Callable
    shapes: Callable[[dict], list[tuple[int, ...]]]
    ks: tuple[int, ...] = (1, 2, 3)
    helper: Callable | None = None             # applied once, before the chain
    helper_op: str = ""                        # the operator `helper` converts to
    flags: tuple[str, ...] = ()
    float_input: bool = False
    float_output: bool = False
    weights: str = ""                          # "per_channel" / "per_tensor" for weighted ops
    variants: tuple[str, ...] = ("base", "channels", "spatial")
    note: str = ""                             # caveat copied into the TOML

    def spec(self, k: int, p: dict) -> ModelSpec:
        def body(x, *extra):
            if self.helper is not None:
                x = self.helper(x)
            for _ in range(k):
                x = self.unit(x, extra, p)
            return x
        return ModelSpec(body, tuple(self.shapes(p)), self.flags,
                         self.float_input and k > 0, self.float_output and k > 0)


def _probes() -> list[Probe]:
    """Every operator probe. Channel counts stay equal along a chain unless noted."""
    tf = _tf()
    img = lambda p: [(1, p["s"], p["s"], p["c"])]           # noqa: E731
    vec = lambda p: [(1, p["s"], p["c"])]                   # noqa: E731
    two_img = lambda p: img(p) * 2                          # noqa: E731
    per_tensor_all = ("_experimental_disable_per_channel",)
    per_tensor_dense = ("_experimental_disable_per_channel_quantization_for_dense_layers",)

    def conv(x, _, p):
        return tf.nn.conv2d(x, weights(3, 3, p["c"], p["c"]), 1, "SAME") + weights(p["c"])

    def dwconv(x, _, p):
        return tf.nn.depthwise_conv2d(x, weights(3, 3, p["c"], 1), [1, 1, 1, 1], "SAME") \
            + weights(p["c"])

    def dense(x, _, p):
        return tf.matmul(x, weights(p["c"], p["c"])) + weights(p["c"])

    dense_shape = lambda p: [(p["s"] - 5, p["c"])]          # noqa: E731  batch 1, then 4
    after_tanh = {"ks": (0, 1), "helper": tf.tanh, "helper_op": "TANH"}
    return [
        Probe("conv", "CONV_2D", conv, img, weights="per_channel"),
        Probe("conv/per_tensor", "CONV_2D", conv, img, flags=per_tensor_all,
              weights="per_tensor"),
        Probe("dwconv", "DEPTHWISE_CONV_2D", dwconv, img, weights="per_channel"),
        Probe("dwconv/per_tensor", "DEPTHWISE_CONV_2D", dwconv, img, flags=per_tensor_all,
              weights="per_tensor"),
        Probe("fc", "FULLY_CONNECTED", dense, dense_shape, weights="per_channel"),
        Probe("fc/per_tensor", "FULLY_CONNECTED", dense, dense_shape, flags=per_tensor_dense,
              weights="per_tensor"),
        Probe("avgpool", "AVERAGE_POOL_2D", lambda x, _, p: tf.nn.avg_pool2d(x, 2, 1, "SAME"),
              img),
        Probe("maxpool", "MAX_POOL_2D", lambda x, _, p: tf.nn.max_pool2d(x, 2, 1, "SAME"), img),
        Probe("add", "ADD", lambda x, e, p: x + e[0], two_img),
        Probe("mul", "MUL", lambda x, e, p: x * e[0], two_img),
        Probe("sub", "SUB", lambda x, e, p: x - e[0], two_img),
        Probe("squared_difference", "SQUARED_DIFFERENCE",
              lambda x, e, p: tf.math.squared_difference(x, e[0]), two_img),
        Probe("softmax", "SOFTMAX", lambda x, _, p: tf.nn.softmax(x), vec,
              note="int8 only; int16 SOFTMAX allocates lookup tables in Prepare() (not probed)"),
        Probe("logistic", "LOGISTIC", lambda x, _, p: tf.sigmoid(x), vec),
        Probe("tanh", "TANH", lambda x, _, p: tf.tanh(x), vec),
        Probe("leaky_relu", "LEAKY_RELU", lambda x, _, p: tf.nn.leaky_relu(x, 0.1), vec),
        Probe("hard_swish", "HARD_SWISH", lambda x, _, p: x * tf.nn.relu6(x + 3) / 6, vec),
        Probe("concatenation", "CONCATENATION", lambda x, _, p: tf.concat([x] * p["n"], -1),
              vec, variants=("base", "channels", "spatial", "inputs")),
        # MEAN over axis 1 of a rank-5 input: each instance removes one dimension.
        Probe("mean", "MEAN", lambda x, _, p: tf.reduce_mean(x, axis=1),
              lambda p: [(1, p["s"], p["s"], p["s"], p["c"])]),
        Probe("pad", "PAD", lambda x, _, p: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), img),
        Probe("strided_slice", "STRIDED_SLICE", lambda x, _, p: x[:, 1:, :, :], img),
        Probe("batch_matmul", "BATCH_MATMUL",
              lambda x, _, p: tf.matmul(x, x, transpose_b=True),
              lambda p: [(1, p["c"], p["c"])], variants=("base", "channels"),
              note="probed as x @ x^T (adj_y) on rank-3 int8 inputs only; whether the "
                   "Prepare() allocations depend on the rank or the adjoint flags is untested"),
        # The converter merges or moves repeated instances of these: one instance after a TANH.
        Probe("reshape", "RESHAPE", lambda x, _, p: tf.reshape(x, (1, p["c"], p["s"])), vec,
              **after_tanh),
        Probe("transpose", "TRANSPOSE", lambda x, _, p: tf.transpose(x, [0, 2, 1]), vec,
              **after_tanh),
        Probe("relu", "RELU", lambda x, _, p: tf.nn.relu(x), vec, **after_tanh),
        Probe("relu6", "RELU6", lambda x, _, p: tf.nn.relu6(x), vec, **after_tanh),
        # QUANTIZE / DEQUANTIZE: float input / output instead of int8 (k=0: int8 model).
        Probe("quantize", "QUANTIZE", lambda x, _, p: x, vec, **after_tanh,
              float_input=True),
        Probe("dequantize", "DEQUANTIZE", lambda x, _, p: x, vec, **after_tanh,
              float_output=True),
    ]


@dataclass
class Built:
    """One converted, checked and measured probe model."""

    name: str
    path: Path
    graph: Graph
    report: ArenaReport


@dataclass
class ProbeResult:
    """Measurements of one probe: built models per variant and k, plus notes."""

    probe: Probe
    models: dict[str, dict[int, Built]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _weights_per_channel(graph: Graph, op: str) -> bool | None:
    """Whether the weight input (input 1) of the first `op` is quantised per channel."""
    for o in graph.main.operators:
        if o.opcode == op and len(o.inputs) > 1 and o.inputs[1] >= 0:
            q = graph.main.tensor(o.inputs[1]).quant
            return q is not None and q.per_channel
    return None


def run_probe(probe: Probe, workdir: Path) -> ProbeResult:
    """Build, check and measure every model of `probe`. A model whose operators are not what
    the probe intends (k instances of the operator, everything else equal) voids the variant."""
    result = ProbeResult(probe)
    for variant in probe.variants:
        p = {**BASE, **VARIANTS[variant]}
        ks = probe.ks if variant == "base" else probe.ks[:2]
        built: dict[int, Built] = {}
        others = None
        for k in ks:
            name = f"{probe.key.replace('/', '_')}_{variant}_k{k}"
            try:
                data = convert(probe.spec(k, p))
            except Exception as exc:  # noqa: BLE001 - the converter raises many kinds
                result.notes.append(f"{variant} k={k}: conversion failed: {str(exc)[:200]}")
                break
            path = workdir / f"{name}.tflite"
            path.write_bytes(data)
            graph = load_graph(path)
            ops = Counter(o.opcode for o in graph.main.operators)
            rest = ops.copy()
            del rest[probe.op]
            if ops[probe.op] != k or (others is not None and rest != others):
                result.notes.append(f"{variant} k={k}: converter produced "
                                    f"{[o.opcode for o in graph.main.operators]}")
                break
            if probe.weights:
                pc = _weights_per_channel(graph, probe.op)
                if pc is not None and pc != (probe.weights == "per_channel"):
                    result.notes.append(f"{variant}: weights are not {probe.weights}")
                    break
            others = rest
            try:
                report = measure_arena(data)
            except Exception as exc:  # noqa: BLE001
                result.notes.append(f"{variant} k={k}: tflite-micro failed: {str(exc)[:200]}")
                break
            built[k] = Built(name, path, graph, report)
        else:
            result.models[variant] = built
    return result


# ---------------------------------------------------------------------------------------------
# Deriving per-operator numbers
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delta:
    """Per-instance change of a probe's report: unrecorded tail bytes (builtin data + scratch
    handles), persistent-buffer bytes requested and persistent-buffer allocations."""

    unrecorded: int
    buffer_bytes: int
    buffer_allocs: int


def per_instance(models: dict[int, Built]) -> tuple[Delta, bool]:
    """The change per added instance between consecutive k, and whether it is the same for every
    step (a chain that is not linear in k hints at alignment effects)."""
    ks = sorted(models)
    steps = []
    for a, b in zip(ks, ks[1:], strict=False):
        ra, rb, n = models[a].report, models[b].report, b - a
        steps.append(Delta((rb.unrecorded - ra.unrecorded) // n,
                           (rb.get("buffer").requested - ra.get("buffer").requested) // n,
                           (rb.get("buffer").count - ra.get("buffer").count) // n))
    return steps[0], all(s == steps[0] for s in steps)


@dataclass
class OpCalibration:
    """Derived numbers for one operator (bytes unless noted)."""

    op: str
    unrecorded: int = 0                 # builtin data + scratch handles per instance
    builtin_bytes: int = 0
    builtin_align: int = 1
    scratch_buffers: int = 0            # ScratchBufferHandles per instance
    init_bytes: int = 0                 # first persistent buffer (Init's OpData)
    prepare_bytes: int = 0              # constant-size persistent buffers after the first
    prepare_allocations: int = 0
    per_channel_arrays: int = 0         # int32 arrays of output-channel length (Prepare)
    per_channel_when: str = "never"
    prepare_bytes_per_input: int = 0    # CONCATENATION-like dependence on the input count
    allocations: int = 0                # persistent buffers per instance at the base probe
    probes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def derive_op(results: list[ProbeResult]) -> OpCalibration | None:
    """Combine the probes of one operator into an OpCalibration (None if none measured)."""
    usable = [r for r in results if "base" in r.models]
    if not usable:
        return None
    cal = OpCalibration(usable[0].probe.op)
    arrays_by_weights = {}
    for res in usable:
        probe = res.probe
        cal.probes.append(probe.key)
        deltas = {}
        for variant, models in res.models.items():
            delta, linear = per_instance(models)
            deltas[variant] = delta
            if not linear:
                cal.notes.append(f"{probe.key}: {variant} chain not linear in k")
        base = deltas["base"]
        c0 = BASE["c"]
        arrays = 0
        if "channels" in deltas:
            wide = deltas["channels"]
            dc = VARIANTS["channels"]["c"] - c0
            slope = (wide.buffer_bytes - base.buffer_bytes) / dc
            if slope:
                if slope % 4 == 0 and wide.buffer_allocs == base.buffer_allocs:
                    arrays = int(slope // 4)
                else:
                    cal.notes.append(f"{probe.key}: persistent bytes change by {slope:g} per "
                                     "output channel (not whole int32 arrays)")
            if wide.unrecorded != base.unrecorded:
                cal.notes.append(f"{probe.key}: unrecorded bytes depend on the channel count")
        for variant, what in (("spatial", "spatial size"), ("inputs", "input count")):
            if variant in deltas and deltas[variant] != base:
                d = deltas[variant]
                if variant == "inputs" and d.buffer_allocs == base.buffer_allocs \
                        and d.unrecorded == base.unrecorded:
                    cal.prepare_bytes_per_input = (d.buffer_bytes - base.buffer_bytes) // (
                        VARIANTS["inputs"]["n"] - BASE["n"])
                else:
                    cal.notes.append(f"{probe.key}: depends on the {what}: {base} -> {d}")
        arrays_by_weights[probe.weights or "none"] = arrays
        cal.notes += [f"{probe.key}: {note}" for note in res.notes]
        cal.notes += [probe.note] if probe.note else []
        if probe.weights == "per_tensor":
            continue                         # the per-channel probe gives the other numbers
        cal.unrecorded = base.unrecorded
        cal.builtin_bytes = base.unrecorded  # split by fit() if scratch handles are needed
        cal.builtin_align = min(4, _lowbit(base.unrecorded))
        cal.allocations = base.buffer_allocs
        per_input = cal.prepare_bytes_per_input * BASE["n"]
        constant = base.buffer_bytes - arrays * 4 * c0 - per_input
        const_allocs = base.buffer_allocs - arrays - (1 if per_input else 0)
        cal.per_channel_arrays = arrays
        if const_allocs >= 1:
            cal.init_bytes = constant        # split by fit() if more than one allocation
            cal.prepare_allocations = const_allocs - 1
        elif constant:
            cal.notes.append(f"{probe.key}: {constant} bytes without an allocation")
    if cal.per_channel_arrays:
        if "per_tensor" not in arrays_by_weights:
            cal.per_channel_when = "always"
            cal.notes.append("no per-tensor probe: assumed the arrays are always allocated")
        elif arrays_by_weights["per_tensor"] == cal.per_channel_arrays:
            cal.per_channel_when = "always"
        elif arrays_by_weights["per_tensor"] == 0:
            cal.per_channel_when = "per_channel_weights"
        else:
            cal.notes.append(f"per-tensor weights give {arrays_by_weights['per_tensor']} arrays")
    return cal


# ---------------------------------------------------------------------------------------------
# Deriving the global struct sizes
# ---------------------------------------------------------------------------------------------

def _ratio(reports: list[ArenaReport], key: str, per: int = 1) -> int:
    """Bytes per counted item of category `key` (checked equal in every report)."""
    values = {r.get(key).requested * per // r.get(key).count for r in reports if r.get(key).count}
    if len(values) != 1:
        raise RuntimeError(f"category {key!r} is not a whole number of equal items: {values}")
    return values.pop()


def _ctypes_layouts() -> dict[str, tuple[int, int]]:
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


def _per_channel_io_model(model: bytes, channels: int) -> bytes:
    """`model` with its input tensor's quantisation made per-channel along the last axis
    (`channels` copies of the scale and zero point); used to size the zero-point array."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(model, 0)
    sg = m.subgraphs[0]
    t = sg.tensors[sg.inputs[0]]
    q = t.quantization
    q.scale = [q.scale[0]] * channels
    q.zeroPoint = [q.zeroPoint[0]] * channels
    q.quantizedDimension = len(t.shape) - 1
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def derive_structs(results: list[ProbeResult],
                   extra: list[Built]) -> tuple[dict, list[str]]:
    """Global struct sizes and alignments from all probe reports. Returns (structs, notes);
    the models it builds itself (per-channel quantised input) are appended to `extra`."""
    notes = []
    reports = [b.report for r in results for ms in r.models.values() for b in ms.values()]
    layouts = _ctypes_layouts()
    s = {
        "eval_tensor": _ratio(reports, "eval"),
        "node_and_registration": _ratio(reports, "node"),
        "persistent_tensor": _ratio(reports, "tensor"),
    }
    # Quantisation data: 2 allocations per quantised input/output tensor (the
    # TfLiteAffineQuantization and its zero-point TfLiteIntArray), per-tensor in every probe.
    per_tensor_quant = _ratio(reports, "quant", per=2)
    # Zero-point bytes per channel: the tanh probe with a per-channel quantised input.
    tanh = next(r for r in results if r.probe.key == "tanh").models["base"][1]
    data = tanh.path.read_bytes()
    c = BASE["c"]
    try:
        edited = []
        for channels in (1, c):
            path = tanh.path.with_name(f"tanh_input_per_channel_c{channels}.tflite")
            path.write_bytes(_per_channel_io_model(data, channels))
            edited.append(Built(path.stem, path, load_graph(path),
                                measure_arena(path.read_bytes())))
        q1, qc = (b.report.get("quant").requested for b in edited)
        zp_per_channel = (qc - q1) // (c - 1)
        extra.extend(edited)
    except Exception as exc:  # noqa: BLE001
        zp_per_channel = layouts["int"][0]
        notes.append(f"per-channel input model failed ({exc}); zero-point element = sizeof(int)")
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
        io_bytes = b.report.get("buffer").requested - k * delta.buffer_bytes
        io_allocs = b.report.get("buffer").count - k * delta.buffer_allocs
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


# ---------------------------------------------------------------------------------------------
# The tail recomputed from the calibration (a small stand-in for firmware_sim/memory/arena.py)
# ---------------------------------------------------------------------------------------------

def roundup(value: int, align: int) -> int:
    return -(-value // align) * align


@dataclass
class OpFacts:
    """What the tail model needs to know about one operator of a graph."""

    opcode: str
    out_channels: int
    per_channel_weights: bool
    n_inputs: int


def graph_facts(graph: Graph) -> tuple[int, list[OpFacts], list[int | None], list[int | None]]:
    """(tensor count, operator facts, zero-point counts of the inputs, of the outputs) of the
    main subgraph; a zero-point count is None for a tensor without quantisation."""
    sg = graph.main
    ops = []
    for o in sg.operators:
        out = sg.tensor(o.outputs[0]) if o.outputs else None
        w = sg.tensor(o.inputs[1]) if len(o.inputs) > 1 and o.inputs[1] >= 0 else None
        ops.append(OpFacts(o.opcode, out.shape[-1] if out is not None and out.shape else 1,
                           bool(w is not None and w.quant is not None and w.quant.per_channel),
                           sum(1 for i in o.inputs if i >= 0)))

    def zp(i):
        q = sg.tensor(i).quant
        return len(q.zero_point) if q is not None and q.scale and q.zero_point else None
    return len(sg.tensors), ops, [zp(i) for i in sg.inputs], [zp(i) for i in sg.outputs]


def op_buffers(op: OpFacts, table: dict) -> tuple[list[int], list[int]]:
    """(Init allocations, Prepare allocations) in bytes for one operator."""
    init = [table["init_bytes"]] if table.get("init_bytes") else []
    prepare = list(table.get("prepare_allocation_bytes", []))
    arrays = table.get("per_channel_arrays", 0)
    when = table.get("per_channel_when", "never")
    if arrays and (when == "always" or (when == "per_channel_weights"
                                        and op.per_channel_weights)):
        prepare += [4 * op.out_channels] * arrays
    if table.get("prepare_bytes_per_input"):
        prepare.append(table["prepare_bytes_per_input"] * op.n_inputs)
    return init, prepare


def predict_tail(graph: Graph, cal: dict) -> tuple[int, dict[str, int]] | str:
    """Recompute the tail of `graph` from a calibration (the parsed TOML). Returns (tail bytes,
    used bytes per category) or a string naming the missing operator."""
    st, ops_table = cal["structs"], cal["ops"]
    n_tensors, ops, ins, outs = graph_facts(graph)
    missing = sorted({o.opcode for o in ops if o.opcode not in ops_table})
    if missing:
        return "no calibration for " + ", ".join(missing)
    d, used = 0, Counter()

    def alloc(size: int, align: int, category: str):
        nonlocal d
        if size:
            new = roundup(d + size, align)
            used[category] += new - d
            d = new

    alloc(st["fixed_bytes"], 1, "unrecorded")
    alloc(st["eval_tensor"] * n_tensors, st["eval_tensor_align"], "eval")
    alloc(st["node_and_registration"] * len(ops), st["node_and_registration_align"], "node")
    for o in ops:
        t = ops_table[o.opcode]
        alloc(t.get("builtin_bytes", 0), t.get("builtin_align", 1), "unrecorded")
    buffers = [op_buffers(o, ops_table[o.opcode]) for o in ops]
    for phase in (0, 1):                           # all Init() allocations, then all Prepare()
        for allocations in buffers:
            for size in allocations[phase]:
                alloc(size, st["persistent_buffer_align"], "buffer")
    scratch = sum(ops_table[o.opcode].get("scratch_buffers", 0) for o in ops)
    alloc(scratch * st["scratch_buffer_handle"], st["scratch_buffer_handle_align"], "unrecorded")
    for tensors in (ins, outs):
        alloc(st["tensor_pointer"] * len(tensors), st["persistent_buffer_align"], "buffer")
        for channels in tensors:
            alloc(st["persistent_tensor"], st["persistent_tensor_align"], "tensor")
            if channels is not None:
                alloc(st["affine_quantization"], st["affine_quantization_align"], "quant")
                alloc(st["zero_point_array_header"] + st["zero_point_per_channel"] * channels,
                      st["zero_point_array_align"], "quant")
    return d, dict(used)


def _mismatch(built: Built, cal: dict) -> list[str] | str:
    """Categories where the recomputed 'used' bytes differ from the measured report."""
    pred = predict_tail(built.graph, cal)
    if isinstance(pred, str):
        return pred
    tail, used = pred
    rep = built.report
    out = []
    if tail != rep.tail:
        out.append(f"tail {tail} != {rep.tail}")
    measured = {k: rep.get(k).used for k in ("eval", "node", "buffer", "tensor", "quant")}
    measured["unrecorded"] = rep.unrecorded
    for k, v in measured.items():
        if used.get(k, 0) != v:
            out.append(f"{k} {used.get(k, 0)} != {v}")
    return out


# ---------------------------------------------------------------------------------------------
# Fitting what the report cannot separate
# ---------------------------------------------------------------------------------------------

def _lowbit(n: int) -> int:
    return n & -n if n else 1


def _op_table(cal: OpCalibration) -> dict:
    """The TOML table of one operator (also used, unwritten, while fitting)."""
    t = {
        "builtin_bytes": cal.builtin_bytes,
        "builtin_align": cal.builtin_align,
        "init_bytes": cal.init_bytes,
        "prepare_bytes": cal.prepare_bytes,
        "prepare_allocations": cal.prepare_allocations,
        "per_channel_arrays": cal.per_channel_arrays,
        "per_channel_when": cal.per_channel_when,
        "scratch_buffers": cal.scratch_buffers,
        "allocations": cal.allocations,
    }
    if cal.prepare_allocations:
        t["prepare_allocation_bytes"] = _split(cal.prepare_bytes, cal.prepare_allocations)
    if cal.prepare_bytes_per_input:
        t["prepare_bytes_per_input"] = cal.prepare_bytes_per_input
    return t


def _split(total: int, parts: int) -> list[int]:
    """`total` bytes as `parts` allocations: 16-byte pieces, the remainder in the last one."""
    if parts <= 0:
        return []
    pieces = [16] * (parts - 1)
    return pieces + [total - sum(pieces)]


def _candidates(cal: OpCalibration, handle: int):
    """Every (scratch handles, builtin bytes, init bytes, prepare bytes) split of the measured
    per-instance numbers, most plausible first: no scratch buffers, then as many as fit (the
    builtin option structs are small); the first persistent buffer largest first."""
    max_scratch = cal.unrecorded // handle
    scratch_order = [0] + list(range(max_scratch, 0, -1))
    constant = cal.init_bytes + cal.prepare_bytes
    if cal.prepare_allocations:
        inits = range(constant - 16 * cal.prepare_allocations, 0, -4)
    else:
        inits = [constant]
    for n in scratch_order:
        for init in inits:
            yield n, cal.unrecorded - n * handle, init, constant - init


def _fitting_splits(name: str, cal: OpCalibration, cals: dict[str, OpCalibration],
                    structs: dict, models: list[Built]) -> list[OpCalibration]:
    """Every split of `cal` (see _candidates) that recomputes all `models` of the operator
    exactly, category by category, most plausible first."""
    others = {o: _op_table(c) for o, c in cals.items() if o != name}
    fits = []
    for n, builtin, init, prep in _candidates(cal, structs["scratch_buffer_handle"]):
        trial = OpCalibration(**{**cal.__dict__, "notes": list(cal.notes),
                                 "scratch_buffers": n, "builtin_bytes": builtin,
                                 "builtin_align": min(4, _lowbit(builtin)),
                                 "init_bytes": init, "prepare_bytes": prep})
        table = {"structs": structs, "ops": {**others, name: _op_table(trial)}}
        if all(not _mismatch(b, table) for b in models):
            fits.append(trial)
    return fits


def fit(cals: dict[str, OpCalibration], results: list[ProbeResult], structs: dict,
        notes: list[str]) -> None:
    """Fit what the report leaves open, by recomputing every probe model exactly:
    the persistent-buffer alignment, the fixed bytes, and per operator the split of its
    unrecorded bytes into builtin data and scratch handles and of its persistent buffers into
    the first (Init) allocation and the rest."""
    by_op: dict[str, list[Built]] = {}
    for r in results:
        for ms in r.models.values():
            by_op.setdefault(r.probe.op, []).extend(ms.values())
    # Fixed bytes: unrecorded bytes of the first model of each chain less its instances'.
    fixed = set()
    for r in results:
        if "base" in r.models and r.probe.op in cals:
            k = min(r.models["base"])
            base = r.models["base"][k]
            helper_unrec = cals[r.probe.helper_op].unrecorded if r.probe.helper_op else 0
            fixed.add(base.report.unrecorded - k * cals[r.probe.op].unrecorded - helper_unrec)
    if len(fixed) != 1:
        notes.append(f"fixed bytes differ between probes: {sorted(fixed)}")
    structs["fixed_bytes"] = min(fixed)
    for align in (4, 8, 16, 32, 64):
        structs["persistent_buffer_align"] = align
        chosen = {}
        for name, cal in cals.items():
            fits = _fitting_splits(name, cal, cals, structs, by_op.get(name, []))
            if not fits:
                break
            best = chosen[name] = fits[0]
            if len(fits) > 1 and (best.scratch_buffers or best.prepare_allocations):
                alts = "; ".join(f"builtin {t.builtin_bytes} + {t.scratch_buffers} scratch, "
                                 f"init {t.init_bytes}" for t in fits[1:4])
                best.notes.append(f"split fitted, not unique (also consistent: {alts})")
        else:
            cals.update(chosen)
            return
    notes.append("no persistent-buffer alignment reproduces every probe model; "
                 "keeping 16 and builtin = unrecorded bytes")
    structs["persistent_buffer_align"] = 16
    for cal in cals.values():
        cal.builtin_bytes = cal.unrecorded
        cal.builtin_align = min(4, _lowbit(cal.unrecorded))


# ---------------------------------------------------------------------------------------------
# Writing the TOML
# ---------------------------------------------------------------------------------------------

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
        lines += _table_lines(f"[ops.{name}]", _op_table(cal), _OP_KEY_COMMENTS)
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)           # mkstemp creates 0600; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def print_op_table(cals: dict[str, OpCalibration]) -> None:
    """One line per operator: the numbers written to the TOML (bytes)."""
    cols = ("builtin", "b_align", "init", "prepare", "prep_n", "pc_arrays", "scratch",
            "allocs", "per_input")
    print(f"{'op':<20}" + "".join(f"{c:>10}" for c in cols) + "  per_channel_when")
    for name in sorted(cals):
        c = cals[name]
        nums = (c.builtin_bytes, c.builtin_align, c.init_bytes, c.prepare_bytes,
                c.prepare_allocations, c.per_channel_arrays, c.scratch_buffers, c.allocations,
                c.prepare_bytes_per_input)
        print(f"{name:<20}" + "".join(f"{v:>10}" for v in nums) + f"  {c.per_channel_when}")


def verify(built: list[Built], cal: dict) -> int:
    """Print measured vs recomputed tail for every model; return the number that differ."""
    print(f"\n{'model':<44}{'measured':>10}{'predicted':>10}{'diff':>7}  notes")
    bad = 0
    for b in built:
        pred = predict_tail(b.graph, cal)
        if isinstance(pred, str):
            print(f"{b.name:<44}{b.report.tail:>10}{'-':>10}{'-':>7}  {pred}")
            bad += 1
            continue
        diff = pred[0] - b.report.tail
        issues = _mismatch(b, cal)
        bad += bool(diff)
        print(f"{b.name:<44}{b.report.tail:>10}{pred[0]:>10}{diff:>+7}  "
              f"{'; '.join(issues) if issues else 'exact'}")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="TOML file to write")
    args = ap.parse_args(argv)
    version = importlib.metadata.version("tflite-micro")
    with tempfile.TemporaryDirectory(prefix="tflm_cal_") as tmp:
        workdir = Path(tmp)
        results = []
        for probe in _probes():
            res = run_probe(probe, workdir)
            n = sum(len(m) for m in res.models.values())
            print(f"probe {probe.key:<22} {n:2d} models" +
                  (f"  ({'; '.join(res.notes)})" if res.notes else ""), flush=True)
            results.append(res)
        by_op: dict[str, list[ProbeResult]] = {}
        for r in results:
            by_op.setdefault(r.probe.op, []).append(r)
        cals, skipped = {}, []
        for op, rs in by_op.items():
            cal = derive_op(rs)
            if cal is None:
                skipped.append(op)
                print(f"note: {op} could not be isolated, not calibrated")
            else:
                cals[op] = cal
        extra: list[Built] = []
        structs, notes = derive_structs(results, extra)
        fit(cals, results, structs, notes)
        structs = {k: structs[k] for k in _STRUCT_COMMENTS}
        for note in notes:
            print("note:", note)
        text = render_toml(structs, cals, version, skipped)
        write_atomic(args.out, text)
        print(f"\nwrote {args.out}\n")
        print_op_table(cals)
        print("\n[structs]")
        for k, v in structs.items():
            print(f"  {k} = {v}")
        cal = tomllib.loads(args.out.read_text())
        built = [b for r in results for ms in r.models.values() for b in ms.values()] + extra
        for name in MLPERF_MODELS:
            path = MLPERF_DIR / f"{name}.tflite"
            if path.exists():
                built.append(Built(name, path, load_graph(path),
                                   measure_arena(path.read_bytes())))
            else:
                print(f"note: {path} not found")
        bad = verify(built, cal)
        print(f"\n{len(built) - bad} of {len(built)} models exact, {bad} off")
        for op, cal_ in sorted(cals.items()):
            for note in cal_.notes:
                print(f"note: {op}: {note}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
