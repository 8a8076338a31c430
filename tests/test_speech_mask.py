"""The differential mask: hard-concrete relaxation, deterministic inference mask, the
Lagrangian constraint, the generators S/M (shapes, save/load, INT8 on stm32h743) and Random."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from speech_privacy.mask.gate import HardConcrete, MaskError, apply_mask, segment_length
from speech_privacy.mask.generator import (GeneratorConfig, RandomMask, build_generator,
                                           build_mask_generator, load_generator,
                                           save_generator)
from speech_privacy.mask.train import (DEFAULT_GAMMA, LAMBDA_MAX, Lagrangian, kl_divergence,
                                       train_mask_generator)

# Small clips for speed: 10 segments of 640 samples (the default segment length).
SMALL = GeneratorConfig(samples=6400, segments=10)


# --- hard-concrete gate --------------------------------------------------------------------

@pytest.mark.parametrize("log_alpha", [-2.0, 0.0, 0.8, 2.5])
def test_hard_concrete_sampling_statistics(log_alpha):
    gate = HardConcrete()
    n = 40000
    z = gate.sample(tf.fill([n], log_alpha), tf.random.Generator.from_seed(1)).numpy()
    assert z.min() >= 0.0 and z.max() <= 1.0
    # P(z > 0) = sigmoid(log_alpha - beta log(-l/r)), which is also the expected-L0 term.
    p_keep = 1 / (1 + math.exp(-(log_alpha - 0.2 * math.log(0.2 / 1.0))))
    assert np.mean(z > 0) == pytest.approx(p_keep, abs=0.015)
    assert float(gate.keep_probability(tf.constant(log_alpha))) == pytest.approx(p_keep, 1e-6)
    # exact zeros occur with positive mass (the stretch below 0), and values in between too
    assert 0 < np.mean(z == 0) < 1 and np.mean((z > 0) & (z < 1)) > 0.01
    # at temperature 0.2 the gates are nearly binary: most mass within 0.1 of 0 or 1
    assert np.mean((z < 0.1) | (z > 0.9)) > 0.6


def test_hard_concrete_is_differentiable_and_monotone_in_log_alpha():
    gate = HardConcrete()
    la = tf.Variable(tf.fill([5000], 0.5))
    with tf.GradientTape() as tape:
        mean_gate = tf.reduce_mean(gate.sample(la, tf.random.Generator.from_seed(0)))
    grad = tape.gradient(mean_gate, la).numpy()
    assert np.all(grad >= 0) and grad.sum() > 0
    low = gate.sample(tf.fill([5000], -1.0), tf.random.Generator.from_seed(0)).numpy().mean()
    high = gate.sample(tf.fill([5000], 1.0), tf.random.Generator.from_seed(0)).numpy().mean()
    assert low < high


def test_expected_l0_sums_keep_probabilities():
    gate = HardConcrete()
    la = tf.constant([[-10.0, 10.0, 0.0]])
    l0 = float(gate.expected_l0(la)[0])
    assert l0 == pytest.approx(1.0 + float(gate.keep_probability(tf.constant(0.0))), abs=1e-4)


def test_deterministic_inference_mask():
    gate = HardConcrete()
    t = gate.threshold
    assert t == pytest.approx(math.log(1.4))      # (0.5 + 0.2) / 1.2 = 7/12, logit = log 1.4
    la = np.array([[t - 1e-3, t + 1e-3, -5.0, 5.0]], np.float32)
    mask = gate.binary_mask(la)
    assert mask.tolist() == [[0.0, 1.0, 0.0, 1.0]]
    assert gate.binary_mask(la).tolist() == mask.tolist()          # no randomness
    # it is the noise-free gate rounded: clip(sigmoid(la) * 1.2 - 0.2, 0, 1) > 0.5
    noise_free = np.clip(1 / (1 + np.exp(-la)) * 1.2 - 0.2, 0, 1) > 0.5
    assert (mask == noise_free).all()


def test_gate_constants_are_checked():
    with pytest.raises(MaskError):
        HardConcrete(temperature=0.0)
    with pytest.raises(MaskError):
        HardConcrete(low=0.1)


def test_apply_mask_zeroes_whole_segments():
    x = np.ones((1, 12), np.float32)
    out = apply_mask(x, np.array([[1, 0, 1]], np.float32)).numpy()
    assert out.tolist() == [[1] * 4 + [0] * 4 + [1] * 4]
    with pytest.raises(MaskError, match="equal"):
        segment_length(64000, 7)


# --- Lagrangian constraint -----------------------------------------------------------------

def test_multiplier_rises_while_kl_exceeds_gamma_and_is_clamped():
    lag = Lagrangian(gamma=0.15, learning_rate=1.0)
    values = [lag.update(0.65) for _ in range(3)]
    assert values == pytest.approx([0.5, 1.0, 1.5])
    for _ in range(1000):
        lag.update(5.0)
    assert lag.value == LAMBDA_MAX == 200.0


def test_multiplier_stays_at_zero_while_constraint_holds_and_decays_to_zero():
    lag = Lagrangian(gamma=DEFAULT_GAMMA)
    for _ in range(10):
        assert lag.update(0.05) == 0.0           # KL < gamma: clamped at 0, never negative
    lag = Lagrangian(gamma=0.15, learning_rate=1.0, initial=0.3)
    assert lag.update(0.05) == pytest.approx(0.2)
    lag.update(0.0)
    assert lag.update(0.0) == 0.0


def test_kl_divergence():
    p = tf.constant([[2.0, 0.0, -1.0]])
    assert float(kl_divergence(p, p)[0]) == pytest.approx(0.0, abs=1e-6)
    q = tf.constant([[0.0, 0.0, 0.0]])
    probs = np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum()
    assert float(kl_divergence(p, q)[0]) == pytest.approx(
        float(np.sum(probs * np.log(probs * 3))), rel=1e-5)


def _toy_slu(samples: int, sensitive: bool):
    """A fixed 'intent model': logits from segment energies (sensitive: masking changes them
    a lot) or constant logits (masking changes nothing)."""
    weights = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32) * 40
    x = inputs = tf.keras.Input((samples,))
    energy = tf.keras.layers.Lambda(
        lambda a: tf.reduce_mean(tf.reshape(a, [-1, 10, samples // 10]) ** 2, axis=-1))(x)
    if not sensitive:
        energy = tf.keras.layers.Lambda(lambda e: e * 0.0)(energy)
    out = tf.keras.layers.Lambda(lambda e: tf.matmul(e, weights))(energy)
    return tf.keras.Model(inputs, out)


def _noise_clips(n=32, samples=6400):
    return (np.random.default_rng(3).uniform(-0.5, 0.5, (n, samples))).astype(np.float32)


def test_training_raises_multiplier_when_masking_breaks_the_intent():
    gen = build_generator("S", GeneratorConfig(samples=6400, segments=10,
                                               initial_log_alpha=-1.0))
    log = train_mask_generator(gen, _toy_slu(6400, True), _noise_clips(), steps=15,
                               batch_size=8, gamma=0.15, progress=False)
    assert max(log.kl) > 0.15
    assert max(log.multiplier) > 0 and all(0 <= m <= 200 for m in log.multiplier)


def test_training_drops_segments_when_nothing_depends_on_them():
    gen = build_generator("S", SMALL)
    before = gen.log_alpha(_noise_clips(4)).mean()
    log = train_mask_generator(gen, _toy_slu(6400, False), _noise_clips(), steps=40,
                               batch_size=8, learning_rate=3e-2, progress=False)
    assert log.multiplier == [0.0] * 40 and max(log.kl) < 1e-6
    assert log.l0[-1] < log.l0[0] and gen.log_alpha(_noise_clips(4)).mean() < before


# --- generators ----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["S", "M"])
def test_generator_maps_waveform_to_segment_logits(variant):
    model = build_mask_generator(variant, segments=10, samples=6400)
    out = model(_noise_clips(3)).numpy()
    assert out.shape == (3, 10) and np.isfinite(out).all()
    # silent input gives a defined (finite) mask
    gen = build_generator(variant, SMALL)
    m = gen.masks(np.zeros((2, 6400), np.float32))
    assert m.shape == (2, 10) and set(np.unique(m)) <= {0.0, 1.0}


def test_generator_bad_settings():
    with pytest.raises(MaskError, match="unknown mask generator variant"):
        build_mask_generator("L")
    with pytest.raises(MaskError, match="equal whole-sample"):
        build_mask_generator("S", segments=7)
    with pytest.raises(MaskError, match="too short"):
        build_mask_generator("S", segments=6400, samples=64000)
    gen = build_generator("S", SMALL)
    with pytest.raises(MaskError, match="takes clips of 6400 samples"):
        gen.masks(np.zeros((1, 640), np.float32))


@pytest.mark.parametrize("variant", ["S", "M"])
def test_save_and_load_round_trip(tmp_path, variant):
    gen = build_generator(variant, SMALL, seed=3)
    x = _noise_clips(2)
    path = save_generator(gen, tmp_path / "g.npz")
    back = load_generator(variant, path)
    assert np.allclose(back.log_alpha(x), gen.log_alpha(x))
    assert back.keras.input_shape == (None, 6400)
    assert load_generator(variant, tmp_path / "missing.npz") is None
    other = "M" if variant == "S" else "S"
    with pytest.raises(MaskError, match="holds variant"):
        load_generator(other, path)


def test_load_trained_generator_from_cache(tmp_path, monkeypatch):
    from speech_privacy.mask.generator import load_trained_generator

    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))
    assert load_trained_generator("S") is None
    gen = build_generator("S", SMALL, seed=1)
    save_generator(gen)
    model = load_trained_generator("S", batch_size=1)
    assert model.input_shape == (1, 6400)
    x = _noise_clips(1)
    assert np.allclose(model(x).numpy(), gen.log_alpha(x))


def test_random_mask_keeps_the_fraction():
    rnd = RandomMask(segments=10, keep_fraction=0.3, seed=0)
    m = rnd.masks(_noise_clips(50))
    assert m.shape == (50, 10) and (m.sum(axis=1) == 3).all()
    assert len({tuple(r) for r in m}) > 10           # different clips, different masks
    with pytest.raises(MaskError):
        RandomMask(keep_fraction=1.5)


def test_ranked_masks_keep_highest_logits():
    from speech_privacy.pipeline import ranked_masks

    la = np.array([[0.1, 3.0, -1.0, 2.0]], np.float32)
    assert ranked_masks(la, 0.5).tolist() == [[0, 1, 0, 1]]
    assert ranked_masks(la, 0.0).tolist() == [[1, 1, 1, 1]]


@pytest.mark.parametrize("variant", ["S", "M"])
def test_int8_generator_fits_stm32h743(tmp_path, variant):
    from firmware_sim.pipeline import check
    from edgesim.io import atomic_write
    from firmware_sim.export import convert_int8

    model = build_mask_generator(variant, batch_size=1)
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(4):
            yield [rng.uniform(-0.5, 0.5, (1, 64000)).astype(np.float32)]

    path = atomic_write(tmp_path / f"g_{variant}.tflite", convert_int8(model, representative))
    report = check(path, "stm32h743")
    assert report.fits, report.violations
    assert report.ram_bytes < 400 * 1024 and report.latency_ms < 1000
    assert {layer.op for layer in report.layers} <= {
        "CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "RESHAPE", "BATCH_MATMUL", "MUL",
        "SOFTMAX", "ADD"}


def test_speech_mask_ratio_counts_only_loud_segments():
    from speech_privacy.pipeline import speech_mask_ratio

    audio = np.zeros((1, 40), np.float32)
    audio[0, :10] = 0.5          # segment 0: speech
    audio[0, 10:20] = 0.4        # segment 1: speech (within 20 dB)
    audio[0, 20:30] = 0.001      # segment 2: background noise; segment 3: zero padding
    assert speech_mask_ratio(audio, np.array([[1, 0, 0, 0]], np.float32)) == 0.5
    assert speech_mask_ratio(audio, np.array([[1, 1, 0, 0]], np.float32)) == 0.0
    assert speech_mask_ratio(np.zeros((1, 40), np.float32), np.ones((1, 4), np.float32)) == 0.0


# --- noise annealing -------------------------------------------------------------------------

def test_noise_free_gate_rounds_to_the_inference_mask():
    gate = HardConcrete()
    la = tf.constant(np.linspace(-4, 4, 81, dtype=np.float32))
    z = gate.sample(la, tf.random.Generator.from_seed(0), noise_scale=0.0).numpy()
    assert np.array_equal((z > 0.5).astype(np.float32), gate.binary_mask(la.numpy()))
    # full noise is the default distribution
    a = gate.sample(la, tf.random.Generator.from_seed(5)).numpy()
    b = gate.sample(la, tf.random.Generator.from_seed(5), noise_scale=1.0).numpy()
    assert np.array_equal(a, b)


def test_annealed_training_runs_and_checks_its_fraction():
    gen = build_generator("S", SMALL)
    log = train_mask_generator(gen, _toy_slu(6400, False), _noise_clips(), steps=10,
                               batch_size=8, learning_rate=3e-2, progress=False, anneal=0.5)
    assert len(log.l0) == 10 and log.l0[-1] < log.l0[0]
    with pytest.raises(MaskError):
        train_mask_generator(gen, _toy_slu(6400, False), _noise_clips(), steps=2,
                             progress=False, anneal=1.5)


def test_collapse_guard_restores_the_last_feasible_generator():
    # A toy SLU whose masked output turns into a constant far from the clean one after 30
    # calls: from then on the KL has no gradient (as with every segment zeroed), the
    # multiplier saturates, and the guard returns the last iterate whose KL met the bound.
    calls = tf.Variable(0.0, trainable=False)
    weights = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)

    def logits(a):
        calls.assign_add(1.0)
        energy = tf.reduce_mean(tf.reshape(a, [-1, 10, 640]) ** 2, axis=-1)
        broken = tf.cast(calls > 30, tf.float32)
        return (1.0 - broken) * tf.matmul(energy, weights) + broken * tf.constant(
            [[9.0, 0.0, 0.0, 0.0]])

    x = inputs = tf.keras.Input((6400,))
    slu = tf.keras.Model(inputs, tf.keras.layers.Lambda(logits)(x))
    gen = build_generator("S", GeneratorConfig(samples=6400, segments=10,
                                               initial_log_alpha=4.0))
    log = train_mask_generator(gen, slu, _noise_clips(), steps=60, batch_size=8,
                               learning_rate=1e-3, lagrange_lr=100.0, progress=False)
    assert log.multiplier[-1] == LAMBDA_MAX and log.kl[-1] > 1.0
    assert log.restored_step is not None and 10 <= log.restored_step <= 31
    assert np.mean(log.kl[log.restored_step - 10:log.restored_step]) <= DEFAULT_GAMMA
    assert log.to_dict()["restored_step"] == log.restored_step


class _LoudnessSLU:
    """A stand-in local SLU whose two logits are the clip's RMS in each half: masking either
    half moves its output, so the KL of a mask is known in closed form."""

    def logits(self, audio):
        audio = np.asarray(audio, np.float64)
        half = audio.shape[1] // 2
        rms = [np.sqrt((audio[:, s] ** 2).mean(axis=1)) for s in (slice(0, half),
                                                                   slice(half, None))]
        return (10 * np.stack(rms, axis=1)).astype(np.float32)


def test_operating_threshold_holds_the_kl_bound_on_held_out_clips_and_zeroes_the_most():
    from speech_privacy.mask.calibrate import operating_threshold
    from speech_privacy.mask.gate import apply_mask
    from speech_privacy.mask.generator import GeneratorConfig, build_generator
    from speech_privacy.mask.train import mean_kl

    rng = np.random.default_rng(0)
    clips = (rng.normal(0, 0.1, (12, 16000)) * np.linspace(0.2, 1, 16000)).astype(np.float32)
    gen = build_generator("S", GeneratorConfig(samples=16000, segments=20), seed=0)
    slu = _LoudnessSLU()
    clean = slu.logits(clips)
    for gamma in (0.002, 0.02):
        # every distinct gate logit a candidate: the scan's best is then the best there is
        threshold, kl, bound = operating_threshold(gen, slu, clips, gamma, points=12 * 20 + 1,
                                                   confidence=0.5)
        assert bound == kl
        gen.threshold = threshold
        masks = gen.masks(clips)
        assert kl <= gamma
        assert kl == pytest.approx(mean_kl(clean, slu.logits(apply_mask(clips, masks).numpy())),
                                   abs=1e-6)
        # the next segment zeroed (the kept one with the lowest gate logit) breaks the bound
        log_alpha = gen.log_alpha(clips)
        kept = log_alpha[masks == 1]
        if len(kept):
            tighter = (log_alpha > kept.min()).astype(np.float32)
            assert mean_kl(clean, slu.logits(apply_mask(clips, tighter).numpy())) > gamma


def test_a_collapsed_generator_is_not_deployed_to_zero_every_clip():
    """Gates that all closed in training (every logit below the gate's threshold) still get
    an operating point that keeps enough segments for the bound."""
    from speech_privacy.mask.calibrate import operating_threshold
    from speech_privacy.mask.generator import GeneratorConfig, build_generator

    rng = np.random.default_rng(1)
    clips = (rng.normal(0, 0.1, (8, 16000)) * np.linspace(0.2, 1, 16000)).astype(np.float32)
    gen = build_generator("S", GeneratorConfig(samples=16000, segments=20), seed=0)
    bias = gen.keras.get_layer("gate_logit").bias
    bias.assign(bias - 1000.0)                       # every gate logit far below threshold
    assert gen.masks(clips).sum() == 0               # the collapsed deterministic mask
    gen.threshold, kl, bound = operating_threshold(gen, _LoudnessSLU(), clips, 0.01)
    assert kl <= bound <= 0.01 and gen.masks(clips).mean() > 0.2


def test_operating_threshold_bounds_the_mean_kl_with_confidence():
    """At 95 % the mean KL plus 1.645 standard errors must hold gamma: the threshold keeps
    more segments than the bare mean would, and the bound is computed as stated."""
    from speech_privacy.mask.calibrate import operating_threshold
    from speech_privacy.mask.gate import MaskError, apply_mask
    from speech_privacy.mask.generator import GeneratorConfig, build_generator
    from speech_privacy.mask.train import clip_kl

    rng = np.random.default_rng(0)
    clips = (rng.normal(0, 0.1, (12, 16000)) * np.linspace(0.2, 1, 16000)
             * np.linspace(0.3, 2.5, 12)[:, None]).clip(-1, 1).astype(np.float32)
    gen = build_generator("S", GeneratorConfig(samples=16000, segments=20), seed=0)
    slu = _LoudnessSLU()
    loose, _, _ = operating_threshold(gen, slu, clips, 0.01, points=241, confidence=0.5)
    tight, kl, bound = operating_threshold(gen, slu, clips, 0.01, points=241)
    assert tight < loose and bound <= 0.01     # a lower threshold: more segments kept
    gen.threshold = loose
    kept_by_mean = gen.masks(clips).mean()
    gen.threshold = tight
    assert gen.masks(clips).mean() > kept_by_mean
    per_clip = clip_kl(slu.logits(clips), slu.logits(apply_mask(clips, gen.masks(clips)).numpy()))
    assert kl == pytest.approx(per_clip.mean(), abs=1e-6)
    assert bound == pytest.approx(per_clip.mean() + 1.6448536 * per_clip.std(ddof=1) / 12 ** 0.5,
                                  abs=1e-6)
    with pytest.raises(MaskError, match="confidence"):
        operating_threshold(gen, slu, clips, 0.01, confidence=1.0)


def test_saved_generator_keeps_its_operating_threshold(tmp_path):
    from speech_privacy.mask.generator import (GeneratorConfig, build_generator,
                                               load_generator, save_generator)

    gen = build_generator("S", GeneratorConfig(samples=16000, segments=20), seed=0)
    gen.threshold = 0.375
    loaded = load_generator("S", save_generator(gen, tmp_path / "s.npz"))
    assert loaded.threshold == 0.375
