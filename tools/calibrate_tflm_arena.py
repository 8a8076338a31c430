#!/usr/bin/env python3
"""Calibrate edgesim's model of TensorFlow Lite Micro's tensor arena (firmware_sim/memory/arena.py).

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
report (print_allocations) and differences the reports.

Small models need more than head + tail while TFLM sets up: while it plans memory, and while a
kernel's Prepare() holds temporary TfLiteTensor structs for its tensors (arena.py models both).
Some kernels hold more than those structs; to measure that, each probe also builds one instance
of its operator with tiny activations, bisects the smallest arena TFLM accepts for it, and keeps
what exceeds the tail plus the structs as the operator's `prepare_temp_extra`.

It writes the result to firmware_sim/memory/tflm_arena.toml (atomically), then recomputes with
firmware_sim.memory.arena, from the written file, the tail of every model it built and of the
MLPerf Tiny INT8 models (category by category), and the whole arena of the small models and the
MLPerf models against their bisected minimum. It exits non-zero if a tail differs or a predicted
arena is below the minimum (or more than 2% above it, for arenas of 4 KiB and more).

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
import sys
import tempfile
import textwrap
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from edgesim.io import atomic_write
from firmware_sim.export import convert_int8  # noqa: E402
from firmware_sim.graph import Graph, load_graph  # noqa: E402
from firmware_sim.memory import arena  # noqa: E402
from firmware_sim.memory.arena import (  # noqa: E402
    BUFFERS, EVAL, NODES, QUANT, TENSORS, UNRECORDED, plan_arena, tail_allocations)
from firmware_sim.tflm_probe import TflmAllocation, allocation_report, minimum_arena  # noqa: E402

DEFAULT_OUT = arena.TABLE
MLPERF_DIR = REPO.parent / "shared" / "models" / "mlperf_tiny"
MLPERF_MODELS = ("ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant")

#: Probe parameters: c = channels (last dimension), s = spatial size, n = inputs of CONCATENATION.
BASE = {"c": 4, "s": 6, "n": 2}
VARIANTS = {"base": {}, "channels": {"c": 8}, "spatial": {"s": 9}, "inputs": {"n": 3}}
#: Parameters of the one-instance model whose minimum arena is bisected: activations so small
#: that a kernel's Prepare(), not the head, binds (Probe.small overrides them where needed).
SMALL = {"s": 1}

#: The project's accuracy target for the whole arena; toy models (below SMALL_ARENA bytes)
#: are only reported against it, as the 16-byte start-alignment slack alone is ~1% of them.
TARGET_OVER = 0.02
SMALL_ARENA = 4096
BISECT_WORKERS = 2


# ---------------------------------------------------------------------------------------------
# Measuring: the RecordingMicroAllocator report (firmware_sim.tflm_probe)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recorded:
    """One RecordingMicroAllocator category: bytes used (with alignment padding), bytes
    requested, and the number of allocations (or tensors / structs) it counts."""

    used: int
    requested: int
    count: int


def recorded(report: TflmAllocation, category: str) -> Recorded:
    return Recorded(*report.by_type.get(category, (0, 0, 0)))


def unrecorded(report: TflmAllocation) -> int:
    """Tail bytes no category accounts for: fixed objects, builtin data, scratch handles."""
    return report.tail_bytes - sum(used for used, _, _ in report.by_type.values())


# ---------------------------------------------------------------------------------------------
# Building: tiny INT8 models with TensorFlow
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def quiet():
    """Send file descriptors 1 and 2 to /dev/null: TensorFlow's banner, the converter's C++
    chatter and Keras' export messages."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _tf():
    """Import TensorFlow quietly (it is slow to import, so only when models are built)."""
    warnings.filterwarnings("ignore")
    with quiet():
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


def _keras_model(spec: ModelSpec):
    """`spec` as a Keras model (one layer running the body), for export.convert_int8."""
    tf = _tf()

    class Body(tf.keras.layers.Layer):
        def call(self, xs):
            return spec.body(*xs)

    inputs = [tf.keras.Input(s[1:], batch_size=s[0]) for s in spec.shapes]
    return tf.keras.Model(inputs, Body()(inputs))


def convert(spec: ModelSpec, seed: int = 0) -> bytes:
    """Full-integer quantisation of `spec` with a representative data set: the project's
    converter (export.convert_int8: int8 input and output), or, for the probes that need other
    settings (private converter flags, float input or output), the same settings plus those."""
    tf = _tf()
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(16):
            yield [rng.uniform(-1, 1, s).astype(np.float32) for s in spec.shapes]

    with quiet():
        if not (spec.flags or spec.float_input or spec.float_output):
            return convert_int8(_keras_model(spec), representative)
        fn = tf.function(spec.body)
        concrete = fn.get_concrete_function(*[tf.TensorSpec(s, tf.float32) for s in spec.shapes])
        conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.float32 if spec.float_input else tf.int8
        conv.inference_output_type = tf.float32 if spec.float_output else tf.int8
        for flag in spec.flags:
            setattr(conv, flag, True)
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
    small: dict = field(default_factory=dict)  # overrides SMALL for the minimum-arena model
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
    dense_small = {"s": BASE["s"]}                          # batch 1 is as small as it gets
    after_tanh = {"ks": (0, 1), "helper": tf.tanh, "helper_op": "TANH"}
    return [
        Probe("conv", "CONV_2D", conv, img, weights="per_channel"),
        Probe("conv/per_tensor", "CONV_2D", conv, img, flags=per_tensor_all,
              weights="per_tensor"),
        Probe("dwconv", "DEPTHWISE_CONV_2D", dwconv, img, weights="per_channel"),
        Probe("dwconv/per_tensor", "DEPTHWISE_CONV_2D", dwconv, img, flags=per_tensor_all,
              weights="per_tensor"),
        Probe("fc", "FULLY_CONNECTED", dense, dense_shape, weights="per_channel",
              small=dense_small),
        Probe("fc/per_tensor", "FULLY_CONNECTED", dense, dense_shape, flags=per_tensor_dense,
              weights="per_tensor", small=dense_small),
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
              lambda p: [(1, p["s"], p["s"], p["s"], p["c"])], small={"s": 2}),
        Probe("pad", "PAD", lambda x, _, p: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), img),
        Probe("strided_slice", "STRIDED_SLICE", lambda x, _, p: x[:, 1:, :, :], img,
              small={"s": 2}),
        Probe("batch_matmul", "BATCH_MATMUL",
              lambda x, _, p: tf.matmul(x, x, transpose_b=True),
              lambda p: [(1, p["c"], p["c"])], variants=("base", "channels"),
              note="probed as x @ x^T (adj_y) on rank-3 int8 inputs only; whether the "
                   "Prepare() allocations depend on the rank or the adjoint flags is untested"),
        # The converter merges or moves repeated instances of these: one instance after a TANH.
        Probe("reshape", "RESHAPE", lambda x, _, p: tf.reshape(x, (1, p["c"], p["s"])), vec,
              **after_tanh),
        Probe("transpose", "TRANSPOSE", lambda x, _, p: tf.transpose(x, [0, 2, 1]), vec,
              **after_tanh, small={"s": 2}),     # s=1 would be a RESHAPE
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
    report: TflmAllocation


@dataclass
class ProbeResult:
    """Measurements of one probe: built models per variant and k, the one-instance model with
    small activations (for the minimum arena), plus notes."""

    probe: Probe
    models: dict[str, dict[int, Built]] = field(default_factory=dict)
    small: Built | None = None
    notes: list[str] = field(default_factory=list)


def _weights_per_channel(graph: Graph, op: str) -> bool | None:
    """Whether the weight input (input 1) of the first `op` is quantised per channel."""
    for o in graph.main.operators:
        if o.opcode == op and len(o.inputs) > 1 and o.inputs[1] >= 0:
            q = graph.main.tensor(o.inputs[1]).quant
            return q is not None and q.per_channel
    return None


def _other_ops(graph: Graph, op: str) -> Counter:
    """The operators of `graph` other than `op`, counted."""
    ops = Counter(o.opcode for o in graph.main.operators)
    del ops[op]
    return ops


def _build(probe: Probe, variant: str, k: int, p: dict, workdir: Path, notes: list[str],
           others: Counter | None) -> Built | None:
    """Convert, check and measure the model with k instances of the probe's operator and
    parameters p; None (and a note) if it fails or its operators are not what the probe
    intends: k instances of the operator and, unless `others` is None, those other operators."""
    name = f"{probe.key.replace('/', '_')}_{variant}_k{k}"
    try:
        data = convert(probe.spec(k, p))
    except Exception as exc:  # noqa: BLE001 - the converter raises many kinds
        notes.append(f"{variant} k={k}: conversion failed: {str(exc)[:200]}")
        return None
    path = workdir / f"{name}.tflite"
    path.write_bytes(data)
    graph = load_graph(path)
    n = sum(1 for o in graph.main.operators if o.opcode == probe.op)
    if n != k or (others is not None and _other_ops(graph, probe.op) != others):
        notes.append(f"{variant} k={k}: converter produced "
                     f"{[o.opcode for o in graph.main.operators]}")
        return None
    if probe.weights:
        pc = _weights_per_channel(graph, probe.op)
        if pc is not None and pc != (probe.weights == "per_channel"):
            notes.append(f"{variant}: weights are not {probe.weights}")
            return None
    try:
        report = allocation_report(data)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"{variant} k={k}: tflite-micro failed: {str(exc)[:200]}")
        return None
    return Built(name, path, graph, report)


def run_probe(probe: Probe, workdir: Path) -> ProbeResult:
    """Build, check and measure every model of `probe`. A model whose operators are not what
    the probe intends (k instances of the operator, everything else equal) voids the variant."""
    result = ProbeResult(probe)
    for variant in probe.variants:
        p = {**BASE, **VARIANTS[variant]}
        ks = probe.ks if variant == "base" else probe.ks[:2]
        built: dict[int, Built] = {}
        for k in ks:
            others = _other_ops(built[max(built)].graph, probe.op) if built else None
            if (b := _build(probe, variant, k, p, workdir, result.notes, others)) is None:
                break
            built[k] = b
        else:
            result.models[variant] = built
    if "base" in result.models:
        k = min(k for k in probe.ks if k > 0)
        result.small = _build(probe, "small", k, {**BASE, **SMALL, **probe.small}, workdir,
                              result.notes, _other_ops(result.models["base"][k].graph, probe.op))
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
        ba, bb = recorded(ra, BUFFERS), recorded(rb, BUFFERS)
        steps.append(Delta((unrecorded(rb) - unrecorded(ra)) // n,
                           (bb.requested - ba.requested) // n, (bb.count - ba.count) // n))
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
    prepare_temp_extra: int = 0         # transient Prepare() bytes beyond the temp tensors
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

def _ratio(reports: list[TflmAllocation], category: str, per: int = 1) -> int:
    """Bytes per counted item of `category` (checked equal in every report)."""
    values = {rec.requested * per // rec.count for rec in (recorded(r, category) for r in reports)
              if rec.count}
    if len(values) != 1:
        raise RuntimeError(f"category {category!r} is not a whole number of equal items: {values}")
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
        "eval_tensor": _ratio(reports, EVAL),
        "node_and_registration": _ratio(reports, NODES),
        "persistent_tensor": _ratio(reports, TENSORS),
    }
    # Quantisation data: 2 allocations per quantised input/output tensor (the
    # TfLiteAffineQuantization and its zero-point TfLiteIntArray), per-tensor in every probe.
    per_tensor_quant = _ratio(reports, QUANT, per=2)
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
                                allocation_report(path.read_bytes())))
        q1, qc = (recorded(b.report, QUANT).requested for b in edited)
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


# ---------------------------------------------------------------------------------------------
# Checking the tail with the project's predictor (firmware_sim.memory.arena)
# ---------------------------------------------------------------------------------------------

def _mismatch(built: Built, table: dict) -> list[str]:
    """Where arena.tail_allocations (reference kernels) with `table` differs from the measured
    report: the tail, and the bytes used per report category (and unrecorded)."""
    predicted, uncalibrated = tail_allocations(built.graph.main, "reference", 0, table)
    if uncalibrated:
        return ["no calibration for " + ", ".join(sorted(uncalibrated))]
    measured = {category: used for category, (used, _, _) in built.report.by_type.items()}
    measured[UNRECORDED] = unrecorded(built.report)
    out = []
    if sum(predicted.values()) != built.report.tail_bytes:
        out.append(f"tail {sum(predicted.values())} != {built.report.tail_bytes}")
    for category in sorted(measured.keys() | predicted.keys()):
        if predicted.get(category, 0) != measured.get(category, 0):
            out.append(f"{category!r} {predicted.get(category, 0)} != {measured.get(category, 0)}")
    return out


@contextlib.contextmanager
def using_table(table: dict):
    """Make arena.plan_arena use `table` (it reads the module's arena_table())."""
    with mock.patch.object(arena, "arena_table", lambda path=None: table):
        yield


# ---------------------------------------------------------------------------------------------
# The transient peak: a kernel's Prepare(), from the minimum arena
# ---------------------------------------------------------------------------------------------

def bisect_minimum(path: Path, report: TflmAllocation) -> int:
    """The smallest arena TFLM accepts for the model (tflm_probe.minimum_arena), bisected
    between the tail (too small) and twice head + tail plus 4 KiB (else up to 16 MiB)."""
    guess = 2 * report.total_bytes + 4096
    try:
        return minimum_arena(path, low=report.tail_bytes, high=guess)
    except RuntimeError:
        return minimum_arena(path, low=guess)


def bisect_all(models: list[Built]) -> dict[str, int]:
    """Minimum arena per model name, bisected BISECT_WORKERS models at a time."""
    minima, t0 = {}, time.monotonic()
    with ThreadPoolExecutor(BISECT_WORKERS) as pool:
        futures = {pool.submit(bisect_minimum, b.path, b.report): b for b in models}
        for i, future in enumerate(as_completed(futures), 1):
            b = futures[future]
            minima[b.name] = future.result()
            print(f"  [{i:2d}/{len(models)}] {b.name:<36} minimum arena {minima[b.name]:>8} "
                  f"({time.monotonic() - t0:5.1f} s)", flush=True)
    return minima


def derive_prepare_extras(results: list[ProbeResult], cals: dict[str, OpCalibration],
                          structs: dict, minima: dict[str, int]) -> None:
    """Set each operator's prepare_temp_extra from the minimum arena of its probes' small
    models: where that minimum exceeds head + tail, the planning peak and the tail plus every
    operator's temporary tensor structs (arena._prepare_temp without this operator's extra),
    the excess over tail + structs of the probed operator; else 0. The largest over the
    operator's probes. Probes without a helper operator go first, so that a helper's own extra
    is known when its probe model is explained."""
    print(f"\n{'small probe model':<30}{'minimum':>8}{'head+tail':>10}{'planning':>9}"
          f"{'tail':>6}{'temp':>6}{'max temp':>9}{'extra':>6}")
    for r in sorted(results, key=lambda r: bool(r.probe.helper_op)):
        op, b = r.probe.op, r.small
        if b is None or op not in cals:
            continue
        ops = {o: {**_op_table(c), "prepare_temp_extra": 0 if o == op else c.prepare_temp_extra}
               for o, c in cals.items()}
        table = {"structs": structs, "ops": ops}
        sg = b.graph.main
        temps = [(o.opcode, arena._prepare_temp(o, sg, table)) for o in sg.operators]
        own = max(t for o, t in temps if o == op)
        with using_table(table):
            planning = plan_arena(b.graph).planning_bytes
        minimum, tail = minima[b.name], b.report.tail_bytes
        floor = max(b.report.total_bytes, planning, tail + max(t for _, t in temps))
        extra = minimum - tail - own if minimum > floor else 0
        cals[op].prepare_temp_extra = max(cals[op].prepare_temp_extra, extra)
        print(f"{b.name:<30}{minimum:>8}{b.report.total_bytes:>10}{planning:>9}{tail:>6}"
              f"{own:>6}{max(t for _, t in temps):>9}{extra:>6}")


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
    t["prepare_temp_extra"] = cal.prepare_temp_extra
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
            fixed.add(unrecorded(base.report) - k * cals[r.probe.op].unrecorded - helper_unrec)
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
        lines += _table_lines(f"[ops.{name}]", _op_table(cal), _OP_KEY_COMMENTS)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

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


def verify_tails(built: list[Built], table: dict) -> int:
    """Print measured vs predicted tail for every model; return the number that differ."""
    print(f"\n{'model':<44}{'measured':>10}{'predicted':>10}{'diff':>7}  notes")
    bad = 0
    for b in built:
        predicted, _ = tail_allocations(b.graph.main, "reference", 0, table)
        issues = _mismatch(b, table)
        bad += bool(issues)
        tail = sum(predicted.values())
        print(f"{b.name:<44}{b.report.tail_bytes:>10}{tail:>10}"
              f"{tail - b.report.tail_bytes:>+7}  {'; '.join(issues) if issues else 'exact'}")
    return bad


def verify_arenas(built: list[Built], minima: dict[str, int], table: dict) -> int:
    """Print the bisected minimum arena vs arena.plan_arena(...).total_bytes with `table`;
    return the number of failures: below the minimum, or more than TARGET_OVER above it for
    an arena of SMALL_ARENA bytes or more (smaller ones are only flagged)."""
    print(f"\n{'model':<36}{'minimum':>9}{'predicted':>10}{'over %':>8}  {'bound by':<15}check")
    bad = 0
    with using_table(table):
        for b in built:
            plan, minimum = plan_arena(b.graph), minima[b.name]
            over = plan.total_bytes / minimum - 1
            if plan.total_bytes < minimum:
                check, bad = "FAIL: below the minimum", bad + 1
            elif over > TARGET_OVER and minimum >= SMALL_ARENA:
                check, bad = f"FAIL: over {TARGET_OVER:.0%}", bad + 1
            elif over > TARGET_OVER:
                check = f"ok (over {TARGET_OVER:.0%}, but under {SMALL_ARENA} bytes)"
            else:
                check = "ok"
            print(f"{b.name:<36}{minimum:>9}{plan.total_bytes:>10}{100 * over:>8.2f}  "
                  f"{plan.bound_by:<15}{check}")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="TOML file to write")
    args = ap.parse_args(argv)
    version = importlib.metadata.version("tflite-micro")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tflm_cal_") as tmp:
        workdir = Path(tmp)
        results = []
        for probe in _probes():
            res = run_probe(probe, workdir)
            n = sum(len(m) for m in res.models.values()) + (res.small is not None)
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
        print(f"tail calibrated ({time.monotonic() - t0:.0f} s)", flush=True)

        mlperf = []
        for name in MLPERF_MODELS:
            path = MLPERF_DIR / f"{name}.tflite"
            if path.exists():
                mlperf.append(Built(name, path, load_graph(path),
                                    allocation_report(path.read_bytes())))
            else:
                print(f"note: {path} not found")
        small = [r.small for r in results if r.small is not None]
        print(f"\nbisecting the minimum arena of {len(small)} small probe models and "
              f"{len(mlperf)} MLPerf Tiny models ({BISECT_WORKERS} at a time)", flush=True)
        minima = bisect_all(small + mlperf)
        derive_prepare_extras(results, cals, structs, minima)

        text = render_toml(structs, cals, version, skipped)
        atomic_write(args.out, text.encode("utf-8"))
        arena.arena_table.cache_clear()
        print(f"\nwrote {args.out}\n")
        print_op_table(cals)
        print("\n[structs]")
        for k, v in structs.items():
            print(f"  {k} = {v}")

        table = arena.arena_table(args.out)
        built = [b for r in results for ms in r.models.values() for b in ms.values()]
        built += small + extra + mlperf
        bad_tails = verify_tails(built, table)
        print(f"\n{len(built) - bad_tails} of {len(built)} tails exact, {bad_tails} off")
        bad_arenas = verify_arenas(small + mlperf, minima, table)
        print(f"\n{len(small) + len(mlperf) - bad_arenas} of {len(small) + len(mlperf)} "
              f"arena predictions ok, {bad_arenas} failed")
        for op, cal_ in sorted(cals.items()):
            for note in cal_.notes:
                print(f"note: {op}: {note}")
    print(f"\ndone in {time.monotonic() - t0:.0f} s")
    return 0 if bad_tails == 0 and bad_arenas == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
