"""Build each probe's models and measure them with the tflite-micro interpreter.

A measurement is TFLM's RecordingMicroAllocator report (firmware_sim.tflm_probe) and, for the
one-instance models with tiny activations and the reference models, the smallest arena TFLM
accepts (bisected).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..graph import Graph, load_graph
from ..tflm_probe import TflmAllocation, allocation_report, minimum_arena
from .build import convert
from .probes import BASE, SMALL, VARIANTS, Probe

#: Models bisected at a time (each bisection step runs TFLM in a child process).
BISECT_WORKERS = 2


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


@dataclass
class Built:
    """One converted, checked and measured model."""

    name: str
    path: Path
    graph: Graph
    report: TflmAllocation


def measure(name: str, path: Path) -> Built:
    """A model file already on disk (a reference model, an edited probe model), measured."""
    return Built(name, path, load_graph(path), allocation_report(path.read_bytes()))


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


def per_channel_input_models(results: list[ProbeResult]) -> tuple[list[Built], str]:
    """The one-TANH probe model with its input quantised per channel over 1 and BASE["c"]
    channels, measured (the difference sizes a zero point); ([], why) if TFLM or the loader
    refuses them."""
    tanh = next(r for r in results if r.probe.key == "tanh").models["base"][1]
    data = tanh.path.read_bytes()
    edited = []
    try:
        for channels in (1, BASE["c"]):
            path = tanh.path.with_name(f"tanh_input_per_channel_c{channels}.tflite")
            path.write_bytes(_per_channel_io_model(data, channels))
            edited.append(measure(path.stem, path))
    except Exception as exc:  # noqa: BLE001 - the loader and TFLM raise many kinds
        return [], str(exc)
    return edited, ""


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
