"""The editing kernel as an NPU graph: tf_model.TfLlama.kernel exported to a W8A16 TFLite
model (int8 weights, static per-tensor int16 activations: TFLite's 16x8 quantization), run
by LiteRT through firmware_sim's Emulator and costed by check() on the NPU profile.

One graph serves every edit of a shape: the edit's prefix cache, suffix states, rope tables,
attention mask and output rows are inputs, and lengths are padded up to buckets
(`shape_for`), so edits of similar prompts share a kernel. Graphs are cached in memory and
on disk (edgesim.paths.cache_dir("edit-kernels")), keyed by the model's weights, the shape
and the calibration recipe; a cache file that fails its checksum is exported again.

Calibration does not depend on any one edit: it feeds windows of text the model generates
itself from a few seed prompts (their prefix caches and states, at full and half prefix
length), with deltas of norm 0 up to DELTA_RANGE times the largest MLP output norm of the
edit layer over those windows (ROME clamps ||delta|| to 4 ||v_init||), so the delta input's
int16 step stays far below a ZO perturbation (its scale is reported as `delta_step`).
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass

import numpy as np

from edgesim.io import atomic_write
from edgesim.paths import cache_dir
from firmware_sim.emulator import Emulator
from firmware_sim.records import Report
from npu_sim.llm.reference import Trace, forward, generate_fast, rope_tables, states

RECIPE = 1                  # calibration recipe version (part of the cache key)
PREFIX_STEP, SUFFIX_STEP = 8, 4     # length buckets: prefix (masked padding), suffix
DELTA_RANGE = 6.0           # calibrated delta norms: up to 1.5 x ROME's clamp of 4 ||v||
SEEDS = ("The", "Once upon a time,", "The city of", "In the year")
CALIBRATION_DELTAS = 5      # per window: norms 0 .. DELTA_RANGE ||v||max, evenly spaced
MAGIC = b"edgesim-edit-kernel\n"
INPUTS = ("h", "k_cache", "v_cache", "mask", "cos", "sin", "rows", "delta")

conversions = 0             # TFLite conversions run by this process (cache misses)
_loaded: dict[tuple, tuple] = {}           # (cache key, device) -> (tflite, LoadedModel)
_digests: dict[int, tuple] = {}            # id(array) -> (weakref, sha256 hex)


@dataclass(frozen=True)
class KernelShape:
    layer: int
    prefix: int         # cached positions per sequence (padded, masked)
    suffix: int         # computed positions per sequence, from the edited one
    rows: int           # output rows per sequence
    seqs: int = 1       # sequences per delta
    batch: int = 1      # deltas per invocation


def _up(n: int, step: int) -> int:
    return max(step, -(-n // step) * step)


def shape_for(layer: int, seqs, batch: int = 1) -> KernelShape:
    """The bucketed shape that holds `seqs` (rome.Sequence): prefixes up to a multiple of
    PREFIX_STEP, suffixes to one of SUFFIX_STEP, output rows to a power of 2."""
    prefix = max(q.subject_pos for q in seqs)
    suffix = max(len(q.ids) - q.subject_pos for q in seqs)
    rows = max(len(q.target_ids) for q in seqs)
    return KernelShape(layer, _up(prefix, PREFIX_STEP), _up(suffix, SUFFIX_STEP),
                       1 << (rows - 1).bit_length(), len(seqs), batch)


def feed(model, shape: KernelShape, seqs) -> dict[str, np.ndarray]:
    """The kernel's inputs for `seqs` (rome.Sequence: the delta goes in at `subject_pos`, the
    logits come out at `rows`), all but delta; one prefix pass per sequence (`states`)."""
    cfg = model.config
    S, P, T, R = shape.seqs, shape.prefix, shape.suffix, shape.rows
    assert len(seqs) == S, "one sequence per kernel slot"
    n_later = cfg.n_layers - shape.layer - 1
    h = np.zeros((S, T, cfg.dim), np.float32)
    kc = np.zeros((n_later, S, P, cfg.n_kv_heads, cfg.head_dim), np.float32)
    vc = np.zeros_like(kc)
    mask = np.zeros((S, T, P + T), np.float32)
    cos = np.zeros((S, T, cfg.head_dim // 2), np.float32)
    sin = np.zeros_like(cos)
    rows = np.zeros((S, R), np.int64)
    for i, q in enumerate(seqs):
        s, m = q.subject_pos, len(q.ids) - q.subject_pos
        resid, ks, vs = states(model, list(q.ids), shape.layer)
        h[i, :m] = resid[s:]
        h[i, m:] = resid[-1]                 # padding rows: a realistic value, never read
        kc[:, i, :s], vc[:, i, :s] = ks[:, :s], vs[:, :s]
        mask[i, :, :s] = 1.0
        mask[i, :, P:] = np.tril(np.ones((T, T), np.float32))
        cos[i], sin[i] = rope_tables(cfg, np.arange(s, s + T))
        r = [x - s for x in q.rows]
        rows[i] = r + [r[-1]] * (R - len(r))
    flat = (np.arange(shape.batch * S)[:, None] * T + np.tile(rows, (shape.batch, 1)))
    return {"h": h, "k_cache": kc, "v_cache": vc, "mask": mask, "cos": cos, "sin": sin,
            "rows": flat.reshape(-1).astype(np.int32)}


def model_digest(model) -> str:
    """sha256 of the model's tensors (names, shapes and values): a kernel serves exactly
    these weights (an edited model in memory keeps its file's path, not its weights). Each
    array's digest is remembered while it lives."""
    h = hashlib.sha256()
    for name in sorted(model.weights):
        a = model.weights[name]
        hit = _digests.get(id(a))
        if hit is None or hit[0]() is not a:
            hit = (weakref.ref(a), hashlib.sha256(np.ascontiguousarray(a).data).hexdigest())
            _digests[id(a)] = hit
        h.update(f"{name}{a.shape}{a.dtype}{hit[1]}".encode())
    return h.hexdigest()


def _calibration(model, shape: KernelShape):
    """Representative inputs: windows of the model's own greedy text (one per sequence
    slot and sample) at full and half prefix length, each with CALIBRATION_DELTAS deltas as
    rows (repeated to fill a batch); the same values whatever the batch, so kernels of every
    batch size get the same int16 scales up to float rounding."""
    from .rome import Sequence

    cfg, tok = model.config, model.tokenizer
    length = shape.prefix + shape.suffix
    texts = []
    for seed in SEEDS:
        ids = tok.encode(seed)
        texts.append(ids + generate_fast(model, ids, max(0, length - len(ids))))
    norms = []
    for ids in texts:
        trace = Trace()
        forward(model, ids, edit_layer=shape.layer, trace=trace)
        norms.append(np.linalg.norm(trace.values[1:], axis=-1).max())
    top = DELTA_RANGE * float(max(norms))
    rng = np.random.default_rng(0)
    samples = []
    for k, cut in enumerate((shape.prefix, max(1, shape.prefix // 2))):
        seqs = []
        for i in range(shape.seqs):
            ids = texts[(k * shape.seqs + i) % len(texts)][:cut + shape.suffix]
            first = cut + int(rng.integers(0, shape.suffix - shape.rows + 1))
            seqs.append(Sequence(tuple(ids), cut, tuple(ids[:shape.rows]), first))
        inputs = feed(model, shape, seqs)
        deltas = []
        for j in range(CALIBRATION_DELTAS):
            d = rng.normal(size=cfg.dim).astype(np.float32)
            deltas.append(d * (top * j / (CALIBRATION_DELTAS - 1) / np.linalg.norm(d)))
        samples.append((inputs, deltas))
    return samples


def _convert(model, shape: KernelShape, tfm) -> bytes:
    import tensorflow as tf

    from edgesim.logs import quiet

    global conversions
    if tfm is None:
        from npu_sim.llm.tf_model import TfLlama
        tfm = TfLlama(model)
    fn = tfm.kernel(shape.layer, shape.prefix, shape.suffix, shape.rows, shape.batch,
                    shape.seqs)
    samples = _calibration(model, shape)

    def representative():
        for inputs, deltas in samples:
            for j in range(0, len(deltas), shape.batch):
                rows = np.stack([deltas[(j + r) % len(deltas)] for r in range(shape.batch)])
                yield [inputs[n] for n in INPUTS[:-1]] + [rows]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16
    with quiet():             # the converter's C++ and Keras' export lines
        data = conv.convert()
    conversions += 1
    return data


def load_kernel(model, shape: KernelShape, device: str = "sd8gen3_htp", tfm=None):
    """The kernel graph for `shape`, as (TFLite bytes, LoadedModel): from this process's
    cache, else from the disk cache, else exported (with `tfm`, a TfLlama of `model`, when
    given) and stored. A cache file that fails its checksum or does not load is exported
    again."""
    key = f"{model_digest(model)[:16]}-L{shape.layer}-P{shape.prefix}-S{shape.suffix}" \
          f"-R{shape.rows}-T{shape.seqs}-B{shape.batch}-r{RECIPE}"
    if (key, device) in _loaded:
        return _loaded[(key, device)]
    path = cache_dir("edit-kernels", f"{key}.tflite")
    loaded = None
    try:
        blob = path.read_bytes()
    except OSError:
        blob = b""
    head, data = len(MAGIC) + 32, blob[len(MAGIC) + 32:]
    if blob[:len(MAGIC)] == MAGIC and hashlib.sha256(data).digest() == blob[len(MAGIC):head]:
        try:
            loaded = Emulator(device).load(data)
        except Exception:     # noqa: BLE001 -- any failure to load a cache file: export again
            loaded = None
    if loaded is None:
        data = _convert(model, shape, tfm)
        atomic_write(path, MAGIC + hashlib.sha256(data).digest() + data)
        loaded = Emulator(device).load(data)
    _loaded[(key, device)] = (data, loaded)
    return data, loaded


class FloatKernel:
    """The editing kernel's float twin: TfLlama.kernel (`tfm`) at the W8A16 graph's bucketed
    shape for `seqs`, with the same inputs bound (`feed`). Called on a [batch, D] tensor it
    gives TensorFlow logits [batch, seqs, rows, vocab] (differentiable: ROME-BP);
    `logits`/`logits_batch` are EditingKernel's NumPy interface (mobiedit.search)."""

    def __init__(self, model, tfm, layer: int, seqs, batch: int = 1):
        import tensorflow as tf

        self.shape = s = shape_for(layer, seqs, batch)
        self.batch = batch
        self._fn = tfm.kernel(s.layer, s.prefix, s.suffix, s.rows, s.batch, s.seqs)
        fed = feed(model, s, seqs)
        self._args = [tf.constant(fed[n]) for n in INPUTS[:-1]]

    def __call__(self, deltas):
        return self._fn(*self._args, deltas)

    def logits_batch(self, deltas: np.ndarray) -> np.ndarray:
        return self(np.asarray(deltas, np.float32)).numpy().astype(np.float64)

    def logits(self, delta: np.ndarray) -> np.ndarray:
        return self.logits_batch(np.repeat(np.asarray(delta, np.float32)[None], self.batch, 0))[0]


class EditingKernel:
    """A cached kernel graph with one edit's inputs bound (`feed`): evaluates deltas."""

    def __init__(self, model, shape: KernelShape, seqs, device="sd8gen3_htp", tfm=None):
        self.shape = shape
        self.batch = shape.batch
        self.tflite, self.loaded = load_kernel(model, shape, device, tfm)
        self._inputs = feed(model, shape, seqs)
        self._order = [next(i for i, t in enumerate(self.loaded.inputs)
                            if t.name == n or t.name.endswith(f"_{n}:0") or
                            t.name.endswith(f"_{n}")) for n in INPUTS]
        self.delta_step = float(self.loaded.inputs[self._order[-1]].quant.scale[0])
        out = self.loaded.outputs[0]
        self._out_scale, self._out_zero = float(out.quant.scale[0]), int(out.quant.zero_point[0])
        self.forward_passes = 0       # deltas evaluated (one forward pass each, all sequences)
        self.invocations = 0          # graph invocations (each runs `batch` deltas)

    @property
    def ledger(self) -> Report:
        return self.loaded.ledger

    def logits(self, delta: np.ndarray) -> np.ndarray:
        """Dequantized logits [seqs, rows, vocab] for `delta` (one forward pass; a batched
        kernel runs it as a whole invocation with `delta` in every row)."""
        deltas = np.repeat(np.asarray(delta, np.float32)[None], self.batch, 0)
        return self.logits_batch(deltas, count=1)[0]

    def logits_batch(self, deltas: np.ndarray, count: int | None = None) -> np.ndarray:
        """Dequantized logits [batch, seqs, rows, vocab] for deltas [batch, D] in one
        invocation (`count` forward passes recorded, default batch)."""
        assert deltas.shape[0] == self.batch, "not a batch of this kernel's size"
        arrays: list = [None] * len(INPUTS)
        for n, i in zip(INPUTS, self._order):
            arrays[i] = deltas.astype(np.float32) if n == "delta" else self._inputs[n]
        result = self.loaded.run(arrays)
        self.forward_passes += self.batch if count is None else count
        self.invocations += 1
        return (result.outputs[0].astype(np.float64) - self._out_zero) * self._out_scale
