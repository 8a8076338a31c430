"""The disentanglement baselines at their real size: parameter counts from the architecture
formulas (and Hugging Face's wav2vec2-base figure), frame rate, the int8-friendly layer norm
and attention against Keras' own, and the gradient reversal the adversaries rely on."""

from __future__ import annotations

import numpy as np
import pytest

from speech_privacy.baselines import ppslu, vae


def _conv_extractor(c=512, kernels=(10, 3, 3, 3, 3, 2, 2)):
    # 7 bias-free Conv1D (1 -> c, then c -> c) plus the first layer's per-channel gain/bias
    return sum(k * (1 if i == 0 else c) * c for i, k in enumerate(kernels)) + 2 * c


def test_full_size_ppslu_has_wav2vec2_base_parameters():
    d, f, layers = 768, 3072, 12
    per_layer = (4 * (d * d + d)        # q, k, v, o projections with bias
                 + 2 * d                # post-attention layer norm
                 + d * f + f + f * d + d  # feed-forward
                 + 2 * d)               # final layer norm
    expected = (_conv_extractor()
                + 2 * 512 + 512 * d + d          # feature layer norm + projection
                + 128 * (d // 16) * d + d        # grouped position convolution, 16 groups
                + 2 * d                          # encoder layer norm
                + layers * per_layer)
    assert expected == 94_370_816
    # Hugging Face Wav2Vec2Model (facebook/wav2vec2-base) has 94,371,712: the same plus
    # masked_spec_embed (768) and the position convolution's weight-norm gain (128)
    assert expected + 768 + 128 == 94_371_712
    model = ppslu.build_ppslu_encoder()
    assert model.count_params() == expected == ppslu.parameter_count(ppslu.PpsluConfig())
    assert tuple(model.output.shape) == (None, 199, 256)     # 20 ms frames, intent slice
    assert ppslu.PpsluConfig().full_size


def test_full_size_vae_encoder_and_decoder_parameters():
    w, k, blocks, latent, mels = 1024, 3, 7, 128, 80
    block = 2 * (k * w * w + w)
    encoder = (_conv_extractor() + 512 * w + w + blocks * block
               + 2 * (w * latent + latent))                   # mu and logvar heads
    decoder = latent * w + w + blocks * block + w * mels + mels
    assert (encoder, decoder) == (49_042_688, 44_268_624)
    cfg = vae.VaeConfig()
    full = vae.build_vae_encoder(cfg)
    assert full.count_params() == encoder == vae.encoder_parameter_count(cfg)
    device = vae.device_encoder(full)                         # what is exported: mu only
    assert device.count_params() == encoder - (w * latent + latent) == 48_911_488
    assert vae.build_vae_decoder(cfg).count_params() == decoder
    # encoder + decoder in float32: "hundreds of MB"
    assert 300e6 < 4 * (encoder + decoder) < 400e6


def test_reduced_configs_are_not_labelled_full_size():
    from speech_privacy.baselines.train import TRAIN_PPSLU, TRAIN_VAE

    assert not TRAIN_PPSLU.full_size and not TRAIN_VAE.full_size
    small = ppslu.PpsluConfig(conv_channels=16, hidden=32, layers=1, heads=2, ffn=64,
                              pos_kernel=8, pos_groups=2, intent_dims=8)
    assert ppslu.build_ppslu_encoder(small).count_params() == ppslu.parameter_count(small)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        ppslu.PpsluConfig(hidden=100, heads=12)
    with pytest.raises(ValueError, match="too short"):
        ppslu.PpsluConfig(samples=300)
    with pytest.raises(ValueError, match="intent_dims"):
        ppslu.PpsluConfig(intent_dims=0)


def test_layer_norm_matches_keras():
    import keras

    x = np.random.default_rng(0).normal(2.0, 3.0, (2, 7, 16)).astype(np.float32)
    ours = ppslu.LayerNorm(epsilon=1e-5)
    theirs = keras.layers.LayerNormalization(epsilon=1e-5)
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), atol=1e-5)
    per_channel = ppslu.LayerNorm(axis=1)(x).numpy()      # over time, per channel
    np.testing.assert_allclose(per_channel.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=1), 1, atol=1e-3)


def test_self_attention_matches_keras_multi_head_attention():
    import keras

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    ours = ppslu.SelfAttention(2)
    ours(x)
    ref = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    ref(x, x)
    # copy our q/k/v/o weights into Keras' einsum layout [d, heads, dh] / [heads, dh, d]
    wq, bq = ours.q.get_weights()
    wk, bk = ours.k.get_weights()
    wv, bv = ours.v.get_weights()
    wo, bo = ours.o.get_weights()
    ref.set_weights([wq.reshape(8, 2, 4), bq.reshape(2, 4), wk.reshape(8, 2, 4),
                     bk.reshape(2, 4), wv.reshape(8, 2, 4), bv.reshape(2, 4),
                     wo.reshape(2, 4, 8), bo])
    np.testing.assert_allclose(ours(x).numpy(), ref(x, x).numpy(), atol=1e-5)


def test_grouped_conv_keeps_groups_apart():
    x = np.zeros((1, 6, 4), np.float32)
    x[..., :2] = 1.0                          # only the first group's channels are non-zero
    conv = ppslu.GroupedConv1D(4, 3, groups=2)
    y = conv(x).numpy()
    assert y.shape == (1, 4, 4)
    second = conv.convs[1]
    np.testing.assert_allclose(y[..., 2:], np.broadcast_to(second.bias.numpy(), (1, 4, 2)),
                               atol=1e-6)     # the second group sees only its zero channels


def test_gradient_reversal_flips_and_scales_the_gradient():
    import tensorflow as tf

    from speech_privacy.baselines.train import _grad_reverse

    layer = _grad_reverse(0.5)
    x = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(y.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [[-0.5, -1.0, -1.5]])


def test_adversary_ramp_starts_at_zero_and_saturates():
    from speech_privacy.baselines.train import _grad_reverse, adversary_ramp

    values = [adversary_ramp(p) for p in np.linspace(0, 1, 11)]
    assert values[0] == 0.0 and values[-1] > 0.99
    assert all(b > a for a, b in zip(values, values[1:]))
    layer = _grad_reverse(0.5)
    layer.scale.assign(0.0)                     # scale 0: the encoder gets no adversary signal
    import tensorflow as tf

    x = tf.constant([[1.0, 2.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x))
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [[0.0, 0.0]])


def test_training_model_heads_and_one_step():
    """The PPSLU training graph: intent logits per clip, CTC logits per frame and speaker
    logits, all reading the intent slice; one Adam step changes the encoder's weights."""
    import tensorflow as tf

    from speech_privacy.baselines import train as tr

    names = ["off|heat|none", "off|lights|none", "on|heat|none", "on|lights|kitchen",
             "on|lights|none"]
    model, encoder, cfg = tr.build_training_model("ppslu", names, n_speakers=3)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, cfg.samples)).astype(np.float32)
    out = model(x)
    assert out["intent"].shape == (2, 5) and out["speaker"].shape == (2, 3)
    assert out["asr"].shape == (2, cfg.frames, 29)
    assert encoder(x).shape == (2, cfg.frames, cfg.intent_dims)
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    with tf.GradientTape() as tape:
        o = model(x, training=True)
        loss = sum(tf.reduce_mean(o[k] ** 2) for k in ("intent", "speaker", "asr"))
    grads = tape.gradient(loss, model.trainable_variables)
    tf.keras.optimizers.Adam(1e-2).apply_gradients(zip(grads, model.trainable_variables))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, encoder.trainable_weights))
