"""A VAE disentanglement encoder with adversarial attribute removal, at a realistic size.

Encoder (waveform float32 [batch, samples] -> mu [batch, frames, latent]; on the device only
mu is computed and sent):

* the wav2vec2 convolutional feature extractor (7 x Conv1D, 512 channels, strides
  5,2,2,2,2,2,2: one frame per 20 ms);
* a 1x1 projection to `width` (1024) channels, then `blocks` (7) residual blocks, each
  x + Conv1D_k(GELU(Conv1D_k(x))) with k = 3 and 'same' padding;
* 1x1 convolutions to mu and log-variance (`latent` = 128 per frame).

Decoder (training only): z = mu + exp(logvar / 2) * eps -> 1x1 conv to `width` -> the same
number of residual blocks -> 1x1 conv to 80 log-mel bands per 20 ms frame (the reconstruction
target). Adversaries (training only) read z through gradient reversal: a CTC character
recogniser per frame and a speaker classifier on the time-mean; an intent classifier on the
time-mean of mu gives the utility signal (see `train.py`).

Size. Disentanglement encoders need hundreds of MB (SILENCE paper, below). With the defaults the
encoder has 49,042,688 parameters (196 MB in float32, 49 MB in int8) and the whole VAE
(encoder + decoder) 93,311,312 (373 MB in float32): the same class as the PPSLU encoder
(94.4 M; the SILENCE paper measured its PPSLU encoder at 648.7 MB on a Raspberry Pi 4B). The
width and depth were chosen so the encoder alone is about half of PPSLU, as a convolutional
VAE front-end of a wav2vec2-size system; they are parameters, not measured from a paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from .ppslu import LayerNorm, conv_feature_extractor, conv_frames  # noqa: F401  (LayerNorm: custom object)

N_MELS = 80


@dataclass(frozen=True)
class VaeConfig:
    samples: int = 64000
    conv_channels: int = 512
    conv_kernels: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_strides: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    width: int = 1024
    blocks: int = 7
    kernel: int = 3
    latent: int = 128
    mels: int = N_MELS

    def __post_init__(self):
        self.frames                                   # noqa: B018  (validates the front end)

    @property
    def frames(self) -> int:
        """Output frames for a clip of `samples` samples."""
        return conv_frames(self.samples, self.conv_kernels, self.conv_strides)

    @property
    def full_size(self) -> bool:
        return self == VaeConfig(samples=self.samples)


def encoder_parameter_count(cfg: VaeConfig) -> int:
    """Parameters of `build_vae_encoder(cfg)` by formula."""
    c, w = cfg.conv_channels, cfg.width
    conv = sum(k * (1 if i == 0 else c) * c for i, k in enumerate(cfg.conv_kernels)) + 2 * c
    block = 2 * (cfg.kernel * w * w + w)
    return conv + (c * w + w) + cfg.blocks * block + 2 * (w * cfg.latent + cfg.latent)


def decoder_parameter_count(cfg: VaeConfig) -> int:
    w = cfg.width
    block = 2 * (cfg.kernel * w * w + w)
    return (cfg.latent * w + w) + cfg.blocks * block + (w * cfg.mels + cfg.mels)


def _residual_blocks(x, cfg: VaeConfig, prefix: str):
    for i in range(cfg.blocks):
        h = layers.Conv1D(cfg.width, cfg.kernel, padding="same", activation="gelu",
                          name=f"{prefix}{i}_conv1")(x)
        h = layers.Conv1D(cfg.width, cfg.kernel, padding="same", name=f"{prefix}{i}_conv2")(h)
        x = layers.Add(name=f"{prefix}{i}_add")([x, h])
    return x


def vae_encoder_outputs(cfg: VaeConfig, audio):
    """(mu, logvar) Keras tensors [batch, frames, latent] for the waveform tensor `audio`."""
    x = conv_feature_extractor(audio, cfg.conv_channels, cfg.conv_kernels, cfg.conv_strides)
    x = layers.Conv1D(cfg.width, 1, name="projection")(x)
    x = _residual_blocks(x, cfg, "encoder_block")
    mu = layers.Conv1D(cfg.latent, 1, name="mu")(x)
    logvar = layers.Conv1D(cfg.latent, 1, name="logvar")(x)
    return mu, logvar


def build_vae_encoder(config: VaeConfig | None = None, seed: int = 0) -> keras.Model:
    """The device-side encoder: waveform float32 [batch, samples] -> (mu, logvar); use
    `device_encoder` for the model that is exported (mu only)."""
    cfg = config or VaeConfig()
    keras.utils.set_random_seed(seed)
    audio = layers.Input((cfg.samples,), name="waveform")
    mu, logvar = vae_encoder_outputs(cfg, audio)
    return keras.Model(audio, [mu, logvar], name="vae_encoder_full")


def device_encoder(encoder: keras.Model) -> keras.Model:
    """The exported encoder: waveform -> mu (deterministic; logvar is only for training)."""
    return keras.Model(encoder.input, encoder.outputs[0], name="vae_encoder")


def build_vae_decoder(config: VaeConfig | None = None) -> keras.Model:
    """z [batch, frames, latent] -> log-mel [batch, frames, mels] (training only)."""
    cfg = config or VaeConfig()
    z = layers.Input((cfg.frames, cfg.latent), name="z")
    x = layers.Conv1D(cfg.width, 1, name="decoder_projection")(z)
    x = _residual_blocks(x, cfg, "decoder_block")
    out = layers.Conv1D(cfg.mels, 1, name="log_mel")(x)
    return keras.Model(z, out, name="vae_decoder")
