"""The stretched hard-concrete gate (Louizos et al. 2018) and segment masks on waveforms.

A clip of `samples` samples is cut into k equal segments (k must divide `samples`); a mask
Z in {0, 1}^k keeps (1) or zeroes (0) whole segments: x_masked = x * repeat(Z, samples / k).
Each segment's gate is parameterised by log_alpha (a logit, nats):

    training   u ~ U(0, 1);  s = sigmoid((log u - log(1 - u) + log_alpha) / beta)
               z = clip(s * (r - l) + l, 0, 1)           exact 0s and 1s occur with mass > 0
    expected L0 (kept segments) = sum_k sigmoid(log_alpha_k - beta * log(-l / r))
    inference  z = clip(sigmoid(log_alpha) * (r - l) + l, 0, 1) > 0.5, i.e. keep a segment
               iff log_alpha > logit((0.5 - l) / (r - l))  (= log 1.4 = 0.336 for the default
               stretch): the noise-free gate, rounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from edgesim.errors import EdgesimError


class MaskError(EdgesimError):
    """A gate, mask or generator setting that cannot be used (one line for the user)."""


@dataclass(frozen=True)
class HardConcrete:
    """Gate constants: temperature beta, and the stretch interval (low, high) with low < 0 <
    1 <= high."""

    temperature: float = 0.2
    low: float = -0.2
    high: float = 1.0

    def __post_init__(self):
        if not (self.temperature > 0 and self.low < 0 and self.high >= 1):
            raise MaskError(f"hard-concrete gate needs temperature > 0 and low < 0 < 1 <= high, "
                             f"got {self.temperature}, {self.low}, {self.high}")

    @property
    def threshold(self) -> float:
        """log_alpha above which the deterministic mask keeps a segment (nats)."""
        p = (0.5 - self.low) / (self.high - self.low)
        return math.log(p / (1 - p))

    def sample(self, log_alpha: tf.Tensor, rng: tf.random.Generator,
               noise_scale=1.0) -> tf.Tensor:
        """Relaxed gates z in [0, 1], same shape as log_alpha, differentiable in log_alpha.
        `noise_scale` in [0, 1] blends towards the inference mask: the logistic noise is
        multiplied by it and the gate's median shifted by (1 - noise_scale) * (threshold -
        temperature * logit((0.5 - low) / (high - low))), so that 1 is the hard-concrete
        distribution and 0 a noise-free gate that exceeds 0.5 exactly where binary_mask
        keeps a segment (log_alpha > threshold; unshifted, the noise-free gate at
        temperature 0.2 would cross 0.5 already at log_alpha = 0.067)."""
        u = rng.uniform(tf.shape(log_alpha), 1e-6, 1 - 1e-6)
        noise = (tf.math.log(u) - tf.math.log(1 - u)) * noise_scale
        shift = (1.0 - noise_scale) * (1.0 - self.temperature) * self.threshold
        s = tf.sigmoid((noise + log_alpha - shift) / self.temperature)
        return tf.clip_by_value(s * (self.high - self.low) + self.low, 0.0, 1.0)

    def keep_probability(self, log_alpha: tf.Tensor) -> tf.Tensor:
        """P(z > 0) per segment, the segment's contribution to the expected L0."""
        return tf.sigmoid(log_alpha - self.temperature * math.log(-self.low / self.high))

    def expected_l0(self, log_alpha: tf.Tensor) -> tf.Tensor:
        """Expected number of kept segments per clip (sum over the last axis)."""
        return tf.reduce_sum(self.keep_probability(log_alpha), axis=-1)

    def binary_mask(self, log_alpha) -> np.ndarray:
        """The deterministic inference mask, float32 0/1 of log_alpha's shape."""
        return (np.asarray(log_alpha, np.float32) > self.threshold).astype(np.float32)


def segment_length(samples: int, segments: int) -> int:
    """Samples per segment; `segments` must divide `samples`."""
    if segments < 1 or samples < segments or samples % segments:
        raise MaskError(f"{segments} segments do not split a {samples}-sample clip into equal "
                         "whole-sample parts")
    return samples // segments


def apply_mask(audio, mask) -> tf.Tensor:
    """x * repeat(Z): audio [..., samples] times a per-segment mask [..., k]."""
    audio = tf.convert_to_tensor(audio, tf.float32)
    mask = tf.convert_to_tensor(mask, tf.float32)
    length = segment_length(int(audio.shape[-1]), int(mask.shape[-1]))
    return audio * tf.repeat(mask, length, axis=-1)
