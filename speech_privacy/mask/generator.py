"""Mask generators: waveform -> per-segment gate logits (log_alpha) -> binary segment mask.

Variant S: per-segment features computed in the model from the raw waveform (the clip
reshaped to [k, L], two strided convolutions along each segment with ReLU, the mean over the
segment) -> a two-layer MLP per segment -> log_alpha. Variant M: the same features plus a
learned segment-position embedding, then one self-attention encoder layer across the k
segments (single head, residual connections, a ReLU feed-forward block; no layer norm, which
quantises badly), then the MLP. Both use only operators TFLite Micro runs in int8 (RESHAPE,
CONV_2D, AVERAGE_POOL_2D, FULLY_CONNECTED; M adds ADD, BATCH_MATMUL, MUL and SOFTMAX). The
device runs the generator and applies the mask itself (x * Z, one multiply per sample).

RandomMask is the baseline: a fixed fraction of the segments, drawn at random per clip.

Public contract (used by the export and bench commands): `build_mask_generator(variant,
segments=DEFAULT_SEGMENTS, samples=64000)` returns the Keras model, `load_trained_generator(
variant)` the trained one from the cache (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers

from ..audio import SAMPLE_RATE, validate
from .gate import HardConcrete, MaskError, segment_length

VARIANTS = ("S", "M")
DEFAULT_SEGMENTS = 100            # k: 40 ms segments on a 4 s clip at 16 kHz
DEFAULT_SAMPLES = 64000           # 4 s at 16 kHz


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a mask generator. Lengths in samples; `segments` is k (the default
    100 gives 40 ms segments on a 4 s, 16 kHz clip)."""

    samples: int = DEFAULT_SAMPLES
    segments: int = DEFAULT_SEGMENTS
    filters: tuple[int, int] = (16, 32)       # channels of the two segment convolutions
    kernels: tuple[int, int] = (32, 8)        # their lengths (samples, then conv-1 frames)
    strides: tuple[int, int] = (16, 4)
    hidden: int = 32                          # MLP width
    ffn: int = 64                             # variant M: feed-forward width
    initial_log_alpha: float = 1.0            # output bias: start keeping every segment
    input_gain: float = 20.0                  # scale of the first convolution's initial weights
    gate: HardConcrete = field(default_factory=HardConcrete)

    def __post_init__(self):
        length = segment_length(self.samples, self.segments)
        frames = (length - self.kernels[0]) // self.strides[0] + 1
        if frames < self.kernels[1]:
            raise MaskError(f"segments of {length} samples are too short for the generator's "
                            f"convolutions (kernels {self.kernels}, strides {self.strides})")

    @property
    def segment_samples(self) -> int:
        return self.samples // self.segments


class MaskGenerator:
    """A Keras generator (waveform float32 [batch, samples] -> log_alpha [batch, k]) with its
    variant, configuration and gate. `threshold`: the gate logit above which the device keeps
    a segment; the gate's own until calibrate.operating_threshold sets it on held-out clips."""

    def __init__(self, variant: str, config: GeneratorConfig, keras_model,
                 threshold: float | None = None):
        self.variant = variant
        self.config = config
        self.keras = keras_model
        self.threshold = config.gate.threshold if threshold is None else float(threshold)

    @property
    def gate(self) -> HardConcrete:
        return self.config.gate

    def log_alpha(self, audio: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Gate logits float32 [N, k] for clips float32 [N, samples]."""
        audio = self._check(audio)
        return np.concatenate([self.keras(audio[i:i + batch_size], training=False).numpy()
                               for i in range(0, len(audio), batch_size)])

    def masks(self, audio: np.ndarray) -> np.ndarray:
        """Deterministic binary masks float32 [N, k]: a segment is kept where its gate logit
        exceeds the operating threshold."""
        return (self.log_alpha(audio) > self.threshold).astype(np.float32)

    def _check(self, audio: np.ndarray) -> np.ndarray:
        audio = validate(audio, SAMPLE_RATE, None, "mask generator input")
        if audio.ndim != 2 or audio.shape[1] != self.config.samples:
            raise MaskError(f"mask generator takes clips of {self.config.samples} samples, "
                            f"got shape {list(audio.shape)}")
        return audio


def build_mask_generator(variant: str, segments: int = DEFAULT_SEGMENTS,
                         samples: int = DEFAULT_SAMPLES, seed: int = 0,
                         batch_size: int | None = None) -> keras.Model:
    """The untrained Keras generator of `variant` ("S" or "M"): float32 waveform
    [batch, samples] in [-1, 1] at 16 kHz -> gate logits log_alpha [batch, segments]. A
    segment is kept iff its logit exceeds HardConcrete().threshold (0.336). Pass
    `batch_size=1` for TFLite export: a fixed batch keeps every shape static (a dynamic
    batch adds SHAPE/PACK/REDUCE_PROD shape arithmetic to the graph)."""
    return build_generator(variant, GeneratorConfig(samples=samples, segments=segments),
                           seed, batch_size).keras


def build_generator(variant: str = "S", config: GeneratorConfig | None = None,
                    seed: int = 0, batch_size: int | None = None) -> MaskGenerator:
    """A freshly initialised generator of `variant` ("S" or "M"), batch dimension
    `batch_size` (None: any)."""
    if variant not in VARIANTS:
        raise MaskError(f"unknown mask generator variant {variant!r} (known: S, M)")
    cfg = config or GeneratorConfig()
    keras.utils.set_random_seed(seed)
    k, width = cfg.segments, cfg.filters[1]
    audio = layers.Input((cfg.samples,), batch_size=batch_size, name="waveform")
    x = layers.Reshape((k, cfg.segment_samples, 1))(audio)
    for i in range(2):
        # The first convolution starts with weights input_gain x Glorot: speech samples are
        # small (|x| ~ 0.01-0.1), and features near 0 would leave the gates uninformed.
        init = keras.initializers.VarianceScaling(
            (cfg.input_gain ** 2 if i == 0 else 1.0), "fan_avg", "uniform", seed=seed + i)
        x = layers.Conv2D(cfg.filters[i], (1, cfg.kernels[i]), strides=(1, cfg.strides[i]),
                          activation="relu", kernel_initializer=init,
                          name=f"segment_conv{i + 1}")(x)
    x = layers.AveragePooling2D((1, x.shape[2]), name="segment_mean")(x)
    x = layers.Reshape((k, width))(x)
    if variant == "M":
        x = SegmentPosition(name="segment_position")(x)
        x = encoder_layer(x, cfg.ffn, name="encoder")
    x = layers.Dense(cfg.hidden, activation="relu", name="gate_hidden")(x)
    x = layers.Dense(1, bias_initializer=keras.initializers.Constant(cfg.initial_log_alpha),
                     name="gate_logit")(x)
    log_alpha = layers.Reshape((k,), name="log_alpha")(x)
    return MaskGenerator(variant, cfg, keras.Model(audio, log_alpha,
                                                   name=f"mask_generator_{variant.lower()}"))


def encoder_layer(x, ffn: int, name: str):
    """One single-head self-attention encoder layer over [batch, k, width] without layer
    normalisation: x + Attn(x), then + FFN."""
    width = int(x.shape[-1])
    q = layers.Dense(width, name=f"{name}_query")(x)
    kk = layers.Dense(width, name=f"{name}_key")(x)
    v = layers.Dense(width, name=f"{name}_value")(x)
    attended = DotAttention(name=f"{name}_attention")([q, kk, v])
    x = layers.Add(name=f"{name}_residual1")([x, layers.Dense(width, name=f"{name}_out")(attended)])
    h = layers.Dense(ffn, activation="relu", name=f"{name}_ffn1")(x)
    return layers.Add(name=f"{name}_residual2")([x, layers.Dense(width, name=f"{name}_ffn2")(h)])


class DotAttention(layers.Layer):
    """softmax(q k^T / sqrt(d)) v for [batch, k, d] inputs (BATCH_MATMUL + SOFTMAX in TFLite)."""

    def call(self, inputs):
        import tensorflow as tf

        q, k, v = inputs
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / float(q.shape[-1]) ** 0.5)
        return tf.matmul(tf.nn.softmax(scores, axis=-1), v)


class SegmentPosition(layers.Layer):
    """Adds a learned embedding per segment position to [batch, k, features]."""

    def build(self, shape):
        self.table = self.add_weight(shape=tuple(shape[1:]), initializer="zeros", name="table")

    def call(self, x):
        return x + self.table


class RandomMask:
    """Baseline masker: keeps round(keep_fraction * k) segments per clip, drawn at random
    (a fresh draw per clip and call, from a generator seeded once)."""

    def __init__(self, segments: int = 100, keep_fraction: float = 0.5, seed: int = 0):
        if not 0.0 <= keep_fraction <= 1.0:
            raise MaskError(f"keep_fraction must lie in [0, 1], got {keep_fraction}")
        if segments < 1:
            raise MaskError(f"segments must be >= 1, got {segments}")
        self.segments = segments
        self.keep_fraction = keep_fraction
        self._rng = np.random.default_rng(seed)

    def masks(self, audio: np.ndarray) -> np.ndarray:
        """Binary masks float32 [N, k] for clips float32 [N, samples]."""
        audio = validate(audio, SAMPLE_RATE, None, "random mask input")
        segment_length(audio.shape[-1], self.segments)
        keep = round(self.keep_fraction * self.segments)
        order = np.argsort(self._rng.random((len(audio), self.segments)), axis=1)
        return (order < keep).astype(np.float32)


def save_generator(generator: MaskGenerator, path=None):
    """Write the generator's weights, variant, segments and samples to one .npz file
    (atomically; default: results.generator_path(variant)); returns the path."""
    import io

    from edgesim.io import atomic_write

    from ..results import generator_path

    path = path if path is not None else generator_path(generator.variant)
    arrays = {f"w{i}": w for i, w in enumerate(generator.keras.get_weights())}
    buf = io.BytesIO()
    np.savez(buf, variant=np.array(generator.variant), segments=generator.config.segments,
             samples=generator.config.samples, threshold=generator.threshold, **arrays)
    return atomic_write(path, buf.getvalue())


def load_generator(variant: str, path=None, batch_size: int | None = None
                   ) -> MaskGenerator | None:
    """The trained generator of `variant` saved by `save_generator` (default: in the cache
    where `edgesim speech train` puts it), or None when there is none. A file that does not
    match the variant's architecture raises MaskError."""
    from pathlib import Path

    from ..results import generator_path

    if variant not in VARIANTS:
        raise MaskError(f"unknown mask generator variant {variant!r} (known: S, M)")
    path = Path(path) if path is not None else generator_path(variant)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            saved = str(data["variant"])
            segments, samples = int(data["segments"]), int(data["samples"])
            threshold = float(data["threshold"]) if "threshold" in data.files else None
            weights = [data[f"w{i}"] for i in range(sum(k.startswith("w") for k in data.files))]
    except (OSError, ValueError, KeyError) as exc:
        raise MaskError(f"{path}: unreadable mask generator weights: {exc}") from None
    if saved != variant:
        raise MaskError(f"{path}: holds variant {saved}, not {variant}")
    generator = build_generator(variant, GeneratorConfig(samples=samples, segments=segments),
                                batch_size=batch_size)
    try:
        generator.keras.set_weights(weights)
    except ValueError as exc:
        raise MaskError(f"{path}: weights do not fit the {variant} generator: "
                        f"{' '.join(str(exc).split())}") from None
    if threshold is not None:
        generator.threshold = threshold
    return generator


def load_trained_generator(variant: str, batch_size: int | None = None) -> keras.Model | None:
    """The Keras model (as `build_mask_generator` returns it) with the weights that
    `edgesim speech train` saved in the cache, or None when it has not been trained.
    `batch_size=1` for TFLite export."""
    generator = load_generator(variant, batch_size=batch_size)
    return None if generator is None else generator.keras
