"""The PPSLU-class disentanglement encoder, at the size of wav2vec2/HuBERT-base.

Architecture (waveform float32 [batch, samples] at 16 kHz -> intent slice [batch, frames, d]):

* convolutional feature extractor: 7 x Conv1D, 512 channels, kernels 10,3,3,3,3,2,2, strides
  5,2,2,2,2,2,2 (one frame per 20 ms, receptive field 25 ms), no bias, GELU; the first layer
  is normalised per channel over time (wav2vec2's "group" norm with one group per channel);
* feature projection: layer norm, Dense 512 -> 768;
* convolutional position embedding: grouped Conv1D (kernel 128, 16 groups, padding 64, the
  last frame dropped), GELU, added to the features, then layer norm;
* 12 post-norm transformer layers (hidden 768, 12 heads, feed-forward 3072, GELU);
* the intent slice: the first `intent_dims` (256) of the 768 hidden features per frame. Only
  this slice leaves the device; in training an intent classifier reads it while an ASR head
  (CTC over characters) and a speaker head read it through gradient reversal, so the encoder
  learns to keep intent and drop words and voice there (see `train.py`).

The encoder has 94,370,816 parameters: Hugging Face's Wav2Vec2Model (wav2vec2-base) has
94,371,712, the 896 more being its `masked_spec_embed` (768, used only for pre-training) and
the weight-norm gain of the position convolution (128, folded away at inference).

All operators convert to TFLite builtins with int8 kernels: CONV_2D, FULLY_CONNECTED,
BATCH_MATMUL, SOFTMAX, GELU, MEAN, SUB, MUL, ADD, RSQRT, RESHAPE, TRANSPOSE, SPLIT,
CONCATENATION, PAD, STRIDED_SLICE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers, ops


@dataclass(frozen=True)
class PpsluConfig:
    """Size of the encoder. The defaults are the real (wav2vec2-base) size; smaller ones are
    for tests and for the brief training run, and are labelled as such where used."""

    samples: int = 64000
    conv_channels: int = 512
    conv_kernels: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_strides: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    ffn: int = 3072
    pos_kernel: int = 128
    pos_groups: int = 16
    intent_dims: int = 256
    dropout: float = 0.1

    def __post_init__(self):
        self.frames                                   # noqa: B018  (validates the front end)
        if self.hidden % self.heads or self.hidden % self.pos_groups:
            raise ValueError(f"hidden {self.hidden} must be divisible by heads {self.heads} "
                             f"and pos_groups {self.pos_groups}")
        if not 0 < self.intent_dims <= self.hidden:
            raise ValueError(f"intent_dims must lie in 1..{self.hidden}")

    @property
    def frames(self) -> int:
        """Output frames for a clip of `samples` samples (199 for 4 s at 16 kHz)."""
        return conv_frames(self.samples, self.conv_kernels, self.conv_strides)

    @property
    def full_size(self) -> bool:
        return self == PpsluConfig(samples=self.samples, intent_dims=self.intent_dims,
                                   dropout=self.dropout)


def parameter_count(cfg: PpsluConfig) -> int:
    """Parameters of `build_ppslu_encoder(cfg)` by formula (no heads)."""
    c, d, f = cfg.conv_channels, cfg.hidden, cfg.ffn
    conv = sum(k * (1 if i == 0 else c) * c for i, k in enumerate(cfg.conv_kernels)) + 2 * c
    projection = 2 * c + c * d + d
    position = cfg.pos_kernel * (d // cfg.pos_groups) * d + d
    layer = 4 * (d * d + d) + 2 * d + (d * f + f) + (f * d + d) + 2 * d
    return conv + projection + position + 2 * d + cfg.layers * layer


class LayerNorm(layers.Layer):
    """Normalisation over `axis` (-1: layer norm; 1: per channel over time) with a gain and a
    bias per feature (last axis), written with MEAN/SUB/MUL/RSQRT so it converts to int8
    TFLite builtins."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon

    def build(self, shape):
        self.gamma = self.add_weight(shape=(shape[-1],), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(shape[-1],), initializer="zeros", name="beta")

    def call(self, x):
        centred = x - ops.mean(x, axis=self.axis, keepdims=True)
        variance = ops.mean(centred * centred, axis=self.axis, keepdims=True)
        return centred * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class SelfAttention(layers.Layer):
    """Multi-head self-attention over [batch, frames, d]: Dense q, k, v, o (with bias), scaled
    dot products by BATCH_MATMUL, softmax over keys."""

    def __init__(self, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads

    def build(self, shape):
        d = shape[-1]
        if d % self.heads:
            raise ValueError(f"{self.heads} heads do not divide {d} features")
        self.q, self.k, self.v, self.o = (layers.Dense(d, name=n) for n in "qkvo")
        for dense in (self.q, self.k, self.v, self.o):
            dense.build(shape)

    def call(self, x):
        t, d = x.shape[1], x.shape[2]
        h = self.heads
        dh = d // h

        def split(y, order):
            return ops.transpose(ops.reshape(y, (-1, t, h, dh)), order)

        q = split(self.q(x) * (1.0 / math.sqrt(dh)), (0, 2, 1, 3))    # [b, h, t, dh]
        k = split(self.k(x), (0, 2, 3, 1))                              # [b, h, dh, t]
        v = split(self.v(x), (0, 2, 1, 3))                              # [b, h, t, dh]
        p = ops.softmax(ops.matmul(q, k), axis=-1)                      # [b, h, t, t]
        context = ops.reshape(ops.transpose(ops.matmul(p, v), (0, 2, 1, 3)), (-1, t, d))
        return self.o(context)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}


class GroupedConv1D(layers.Layer):
    """Conv1D with `groups` groups ('valid' padding): the input split along channels, one
    Conv1D per group, outputs concatenated (TFLite SPLIT, CONV_2D, CONCATENATION)."""

    def __init__(self, filters: int, kernel_size: int, groups: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.groups = filters, kernel_size, groups

    def build(self, shape):
        cin = shape[-1]
        if cin % self.groups or self.filters % self.groups:
            raise ValueError(f"{self.groups} groups do not divide {cin} -> {self.filters}")
        self.convs = [layers.Conv1D(self.filters // self.groups, self.kernel_size,
                                    name=f"group{i}") for i in range(self.groups)]
        part = (*shape[:-1], cin // self.groups)
        for conv in self.convs:
            conv.build(part)

    def call(self, x):
        parts = ops.split(x, self.groups, axis=-1)
        return ops.concatenate([conv(p) for conv, p in zip(self.convs, parts)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "groups": self.groups}


class FeatureSlice(layers.Layer):
    """The first `dims` features of the last axis (TFLite STRIDED_SLICE)."""

    def __init__(self, dims: int, **kwargs):
        super().__init__(**kwargs)
        self.dims = dims

    def call(self, x):
        return x[..., :self.dims]

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


def transformer_layer(x, heads: int, ffn: int, activation: str = "gelu", dropout: float = 0.0,
                      name: str = "layer"):
    """One post-norm transformer encoder layer (wav2vec2-base / BERT style) on a Keras tensor
    [batch, frames, d]: x = LN(x + MHSA(x)); x = LN(x + W2 act(W1 x)). Parameters:
    4(d^2 + d) + 2d + (d ffn + ffn) + (ffn d + d) + 2d."""
    d = x.shape[-1]
    a = SelfAttention(heads, name=f"{name}_attention")(x)
    if dropout:
        a = layers.Dropout(dropout, name=f"{name}_attention_dropout")(a)
    x = LayerNorm(name=f"{name}_norm1")(layers.Add(name=f"{name}_residual1")([x, a]))
    f = layers.Dense(ffn, activation=activation, name=f"{name}_ffn1")(x)
    f = layers.Dense(d, name=f"{name}_ffn2")(f)
    if dropout:
        f = layers.Dropout(dropout, name=f"{name}_ffn_dropout")(f)
    return LayerNorm(name=f"{name}_norm2")(layers.Add(name=f"{name}_residual2")([x, f]))


def conv_frames(samples: int, kernels, strides) -> int:
    """Frames out of a stack of unpadded 1-D convolutions (kernel k, stride s) over `samples`;
    ValueError if the stack is malformed or the clip too short for it."""
    if len(kernels) != len(strides):
        raise ValueError("conv_kernels and conv_strides differ in length")
    n = samples
    for k, s in zip(kernels, strides):
        n = (n - k) // s + 1
    if n < 1:
        raise ValueError(f"{samples} samples are too short for the feature extractor")
    return n


def conv_feature_extractor(audio, channels: int, kernels, strides, prefix: str = "conv"):
    """wav2vec2's waveform feature extractor on a Keras tensor [batch, samples] ->
    [batch, frames, channels]."""
    x = layers.Reshape((audio.shape[1], 1), name=f"{prefix}_input")(audio)
    for i, (k, s) in enumerate(zip(kernels, strides)):
        x = layers.Conv1D(channels, k, strides=s, use_bias=False, name=f"{prefix}{i}")(x)
        if i == 0:
            x = LayerNorm(axis=1, name=f"{prefix}0_norm")(x)
        x = layers.Activation("gelu", name=f"{prefix}{i}_gelu")(x)
    return x


def ppslu_backbone(cfg: PpsluConfig, audio, dropout: float = 0.0):
    """The encoder up to its full hidden state [batch, frames, hidden]."""
    x = conv_feature_extractor(audio, cfg.conv_channels, cfg.conv_kernels, cfg.conv_strides)
    x = LayerNorm(name="feature_norm")(x)
    x = layers.Dense(cfg.hidden, name="feature_projection")(x)
    pad = cfg.pos_kernel // 2
    pos = layers.ZeroPadding1D(pad, name="position_pad")(x)
    pos = GroupedConv1D(cfg.hidden, cfg.pos_kernel, cfg.pos_groups, name="position_conv")(pos)
    if cfg.pos_kernel % 2 == 0:
        pos = layers.Cropping1D((0, 1), name="position_crop")(pos)
    pos = layers.Activation("gelu", name="position_gelu")(pos)
    x = LayerNorm(name="encoder_norm")(layers.Add(name="position_add")([x, pos]))
    for i in range(cfg.layers):
        x = transformer_layer(x, cfg.heads, cfg.ffn, "gelu", dropout, name=f"layer{i}")
    return x


def build_ppslu_encoder(config: PpsluConfig | None = None, seed: int = 0,
                        dropout: float = 0.0) -> keras.Model:
    """The PPSLU encoder (waveform float32 [batch, samples] -> intent slice float32
    [batch, frames, intent_dims]), freshly initialised."""
    cfg = config or PpsluConfig()
    keras.utils.set_random_seed(seed)
    audio = layers.Input((cfg.samples,), name="waveform")
    hidden = ppslu_backbone(cfg, audio, dropout)
    out = FeatureSlice(cfg.intent_dims, name="intent_slice")(hidden)
    return keras.Model(audio, out, name="ppslu_encoder")
