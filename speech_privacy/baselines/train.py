"""Brief training of the disentanglement baselines, for their utility and privacy figures.

The real-size encoders (PPSLU 94.4 M parameters, VAE encoder 49.0 M) cannot be trained on the
CPUs this project runs on in minutes, so this trains REDUCED-WIDTH copies (same structure,
`TRAIN_PPSLU` / `TRAIN_VAE` below), for a fixed wall-time budget each, and says so in the
results. Their figures measure what these architectures and objectives do after a short
training; they are undertrained and not the figures of a fully trained PPSLU or VAE. Cost
figures (export, bench) always use the real size.

Objectives (one Adam step per batch on the sum):
* PPSLU: cross-entropy of an intent classifier on the time-mean of the intent slice, plus
  an ASR head (CTC over characters, per frame) and a speaker head (time-mean, MLP) reading
  the slice through gradient reversal (weight `ADVERSARY_WEIGHT`, off for the first
  `ADVERSARY_START` of the time budget, then ramped up with DANN's schedule over the rest,
  `adversary_ramp`): the heads learn to recognise, the encoder learns to defeat them.
* VAE: log-mel reconstruction (MSE, 80 bands per 20 ms frame) + beta * KL(q(z|x) || N(0, I))
  + intent cross-entropy on the time-mean of mu + the same two adversaries on z through
  gradient reversal.

The intent classifier is factorised over the intent's slots like the project's SLU
(`speech_privacy.slu.IntentLogits`: logit of "a|o|l" = score(a) + score(o) + score(l)), so the
10 training clips per intent share evidence. Two choices let the reduced copies learn the
intent at all, which with neither stays at chance (intent cross-entropy near ln 28):
(1) regularisation: without augmentation or dropout the PPSLU copy memorises the training
clips and does not generalise, so every clip is circularly shifted by a random offset of up
to `MAX_SHIFT` samples per batch and the PPSLU copy has dropout 0.1; (2) the adversaries start
only after the intent: with DANN's ramp from step 0 the reversed CTC and speaker gradients
outweigh the intent's before the encoder has learnt anything, so they are off for the first
`ADVERSARY_START` of the budget. The VAE copy (no dropout) gets the same two changes and a
higher learning rate, at which its intent head learns within the budget where the lower one
does not (`LEARNING_RATE`). Bench JSON records the figures of each run.

Privacy is then measured by fresh attackers on the frozen encoder's device output (the
intent slice; mu): a CTC recogniser (Conv1D + 2 x BiGRU, trained on the training split's
outputs and transcripts) -> WER on the test split, and a speaker classifier (MLP on the
time-mean and standard deviation) -> accuracy on the test split. Utility: intent accuracy of
the trained intent head on the test split. On the default corpus every (intent, speaker)
pair occurs once, so each test clip pairs its intent with a voice never heard with that
intent in training: features that carry the intent but not the voice make the speaker probe
pick one of the intent's training voices, i.e. score near 0, below the 1/12 chance. Read such
figures as "no usable voice information", not as more privacy than chance.

`edgesim speech baselines` runs it over several seeds (baselines/run.py).
"""

from __future__ import annotations

import time

import numpy as np

from ..features import voiced_frames
from .ppslu import PpsluConfig
from .vae import VaeConfig

#: Reduced-width training copies (NOT the real size; see the module docstring).
TRAIN_PPSLU = PpsluConfig(conv_channels=32, hidden=64, layers=2, heads=4, ffn=128,
                          pos_kernel=16, pos_groups=4, intent_dims=32, dropout=0.1)
TRAIN_VAE = VaeConfig(conv_channels=32, width=64, blocks=2, latent=16)
ADVERSARY_WEIGHT = 0.5   # gradient-reversal factor and adversary loss weight
ADVERSARY_START = 0.5    # share of the time budget trained on the intent alone
MAX_SHIFT = 8000         # random circular shift of each training clip, samples (0.5 s)
WARMUP_STEPS = 50        # linear learning-rate warm-up (post-norm transformer)
LEARNING_RATE = {"ppslu": 1e-3, "vae": 2e-3}
KL_BETA = 0.01


def _grad_reverse(factor: float):
    """A gradient-reversal layer: identity forward, gradient times -scale backward; `scale`
    (a non-trainable tf.Variable, initially `factor`) can be changed during training."""
    import tensorflow as tf
    from keras import layers

    class GradientReversal(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scale = tf.Variable(float(factor), trainable=False, name="scale")

        def call(self, x):
            @tf.custom_gradient
            def reverse(y):
                return tf.identity(y), lambda dy: -self.scale * dy
            return reverse(x)

    return GradientReversal(name="gradient_reversal")


def adversary_ramp(progress: float) -> float:
    """DANN's schedule (Ganin et al. 2016): 2 / (1 + exp(-10 p)) - 1, 0 at p = 0, 0.99 at
    p = 0.5. `train_baseline` counts p from `ADVERSARY_START` of the time budget to its
    end: the encoder first learns the task, then the adversaries weigh in."""
    return 2.0 / (1.0 + float(np.exp(-10.0 * min(max(progress, 0.0), 1.0)))) - 1.0


def _log_mel_targets(audio: np.ndarray, frames: int, mels: int) -> np.ndarray:
    """Log-mel [clips, frames, mels]: 25 ms windows every 20 ms, matching the encoders'
    frame rate."""
    import librosa

    out = np.empty((len(audio), frames, mels), np.float32)
    for i, clip in enumerate(audio):
        m = librosa.feature.melspectrogram(y=clip, sr=16000, n_fft=512, win_length=400,
                                           hop_length=320, n_mels=mels, center=False)
        out[i] = np.log(m.T[:frames] + 1e-6)
    return (out - out.mean()) / (out.std() + 1e-6)


def build_training_model(kind: str, intent_names: list[str], n_speakers: int, seed: int = 0,
                         adversary_weight: float = ADVERSARY_WEIGHT):
    """(training model: waveform -> dict of outputs, device encoder: waveform -> features)."""
    import keras
    from keras import layers

    from ..attacks.asr import BLANK
    from ..slu import IntentLogits
    from .ppslu import FeatureSlice, ppslu_backbone
    from .vae import build_vae_decoder, vae_encoder_outputs

    keras.utils.set_random_seed(seed)
    if kind == "ppslu":
        cfg = TRAIN_PPSLU
        audio = layers.Input((cfg.samples,), name="waveform")
        hidden = ppslu_backbone(cfg, audio, dropout=cfg.dropout)
        feats = FeatureSlice(cfg.intent_dims, name="intent_slice")(hidden)
        extra = {}
        adv_in = feats
    else:
        cfg = TRAIN_VAE
        audio = layers.Input((cfg.samples,), name="waveform")
        mu, logvar = vae_encoder_outputs(cfg, audio)
        feats = mu

        class Sample(layers.Layer):
            def call(self, inputs):
                m, lv = inputs
                lv = keras.ops.clip(lv, -8.0, 8.0)      # keeps exp() finite early on
                return m + keras.ops.exp(0.5 * lv) * keras.random.normal(keras.ops.shape(m))

        z = Sample(name="z")([mu, logvar])
        extra = {"recon": build_vae_decoder(cfg)(z), "mu": mu, "logvar": logvar}
        adv_in = z
    pooled = layers.GlobalAveragePooling1D()(feats)
    head = IntentLogits(intent_names, name="intent")
    intent = head(layers.Dense(head.slot_values, name="slot_scores")(pooled))
    rev = _grad_reverse(adversary_weight)(adv_in)
    if kind == "vae":
        # z is unbounded: without normalising the adversaries' input, the reversed gradient
        # lets the encoder defeat them by scaling z up until the loss is NaN
        rev = layers.LayerNormalization(name="adversary_norm")(rev)
    asr = layers.Dense(BLANK + 1, name="asr")(layers.Dense(128, activation="relu")(rev))
    spk = layers.Dense(n_speakers, name="speaker")(
        layers.Dense(64, activation="relu")(layers.GlobalAveragePooling1D()(rev)))
    outputs = {"intent": intent, "asr": asr, "speaker": spk, **extra}
    return keras.Model(audio, outputs), keras.Model(audio, feats), cfg


def train_baseline(kind: str, train, test, seconds: float = 240.0, batch_size: int = 16,
                   learning_rate: float | None = None,
                   adversary_weight: float = ADVERSARY_WEIGHT,
                   seed: int = 0, progress: bool = True) -> dict:
    """Train the reduced `kind` ("ppslu" or "vae") for about `seconds` of wall time, then
    attack its device output; returns the figures (see module docstring). The learning
    rate defaults to `LEARNING_RATE[kind]`."""
    import tensorflow as tf
    from tqdm import tqdm

    from ..attacks.asr import BLANK, _sparse_labels, encode_text

    n_spk = len(train.speaker_names())
    model, encoder, cfg = build_training_model(kind, train.intent_names(), n_spk, seed,
                                               adversary_weight)
    y_int, y_spk = train.intent_ids(), train.speaker_ids()
    labels = [encode_text(t) for t in train.transcripts]
    mels = _log_mel_targets(train.audio, cfg.frames, cfg.mels) if kind == "vae" else None
    learning_rate = learning_rate or LEARNING_RATE[kind]
    # VAE: at lr 2e-3, clipnorm 5 without warm-up lets it diverge to NaN; clipnorm 1 with
    # the warm-up keeps it stable
    opt = tf.keras.optimizers.Adam(learning_rate, clipnorm=1.0 if kind == "vae" else 5.0)
    ce = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(reduce_retracing=True)
    def step(x, yi, ys, yt, m):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            frames = tf.fill([tf.shape(x)[0]], tf.shape(out["asr"])[1])
            ctc = tf.reduce_mean(tf.nn.ctc_loss(yt, out["asr"], None, frames,
                                                logits_time_major=False, blank_index=BLANK))
            li, ls = ce(yi, out["intent"]), ce(ys, out["speaker"])
            loss = li + reversal.scale * (ctc / 30.0 + ls)
            if m is not None:
                lv = tf.clip_by_value(out["logvar"], -8.0, 8.0)
                kl = -0.5 * tf.reduce_mean(1 + lv - out["mu"] ** 2 - tf.exp(lv))
                loss += tf.reduce_mean((out["recon"] - m) ** 2) + KL_BETA * kl
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return li, ctc, ls

    reversal = model.get_layer("gradient_reversal")
    rng = np.random.default_rng(seed)
    start, epochs, steps, history = time.perf_counter(), 0, 0, []
    bar = tqdm(desc=f"training {kind} (reduced width)", unit="epoch", disable=not progress)
    while time.perf_counter() - start < seconds:
        order = rng.permutation(len(train))
        sums = np.zeros(3)
        for i in range(0, len(order), batch_size):
            b = order[i:i + batch_size]
            m = None if mels is None else mels[b]
            x = np.stack([np.roll(train.audio[j], rng.integers(-MAX_SHIFT, MAX_SHIFT + 1))
                          for j in b])
            elapsed = (time.perf_counter() - start) / seconds
            reversal.scale.assign(adversary_weight * adversary_ramp(
                (elapsed - ADVERSARY_START) / (1.0 - ADVERSARY_START)))
            steps += 1
            opt.learning_rate.assign(learning_rate * min(1.0, steps / WARMUP_STEPS))
            out = step(x, y_int[b], y_spk[b], _sparse_labels([labels[j] for j in b]), m)
            sums += np.array([float(v) for v in out]) * len(b)
        epochs += 1
        history.append((sums / len(order)).round(4).tolist())
        if not np.isfinite(sums).all():
            raise FloatingPointError(f"{kind} training diverged (NaN loss) in epoch {epochs}")
        bar.update()
        bar.set_postfix(intent=f"{history[-1][0]:.2f}", ctc=f"{history[-1][1]:.1f}",
                        speaker=f"{history[-1][2]:.2f}")
    bar.close()
    train_s = time.perf_counter() - start
    pred = np.concatenate([model(test.audio[i:i + 32], training=False)["intent"].numpy()
                           for i in range(0, len(test), 32)]).argmax(1)
    intent_acc = float((pred == _ids(test.intents, train.intent_names())).mean())
    f_train = _encode(encoder, train.audio)
    f_test = _encode(encoder, test.audio)
    t0 = time.perf_counter()
    wer = probe_asr(f_train, train.transcripts, f_test, test.transcripts, seed, progress)
    spk_acc = probe_speaker(f_train, y_spk, f_test, _ids(test.speakers, train.speaker_names()),
                            n_spk, seed,
                            voiced_train=voiced_frames(train.audio, cfg.frames),
                            voiced_test=voiced_frames(test.audio, cfg.frames))
    return {"architecture": "REDUCED width for training (not the real size): "
                            + _describe(cfg),
            "parameters_trained_encoder": int(encoder.count_params()),
            "train_seconds": round(train_s, 1), "epochs": epochs, "batch_size": batch_size,
            "learning_rate": learning_rate, "warmup_steps": WARMUP_STEPS,
            "augmentation": f"random circular shift of up to {MAX_SHIFT} samples",
            "intent_head": "slot-factorised (logit = sum of slot scores)",
            "adversary_weight": adversary_weight,
            "adversary_schedule": f"0 for the first {ADVERSARY_START:.0%} of the time "
                                  "budget, then DANN ramp 2/(1+exp(-10p))-1 over the rest",
            "loss_history [intent_ce, ctc, speaker_ce]": history,
            "intent_accuracy": round(intent_acc, 4), "wer_asr_probe": round(wer, 4),
            "speaker_accuracy_probe": round(spk_acc, 4),
            "speaker_chance": round(1 / n_spk, 4),
            "attack_seconds": round(time.perf_counter() - t0, 1),
            "undertrained": True}


def _ids(labels, names: list[str]) -> np.ndarray:
    """Label indices in the TRAINING split's sorted names: a test split's own
    `speaker_ids()` numbers only the speakers it contains, so its ids can differ."""
    lookup = {n: i for i, n in enumerate(names)}
    return np.array([lookup.get(x, -1) for x in labels], np.int64)


def _describe(cfg) -> str:
    return ", ".join(f"{k}={v}" for k, v in cfg.__dict__.items())


def _encode(encoder, audio: np.ndarray) -> np.ndarray:
    return np.concatenate([encoder(audio[i:i + 32], training=False).numpy()
                           for i in range(0, len(audio), 32)])


def probe_asr(f_train, t_train, f_test, t_test, seed: int = 0, progress: bool = True,
              epochs: int = 45) -> float:
    """WER on the test features of a CTC recogniser (Conv1D + 2 x BiGRU, one output per
    frame) trained on the training features with attacks.asr.fit_ctc."""
    import tensorflow as tf

    from ..attacks.asr import BLANK, fit_ctc, greedy_decode
    from ..metrics import word_error_rate

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    mean, std = f_train.mean((0, 1)), f_train.std((0, 1)) + 1e-6
    x = inp = L.Input((None, f_train.shape[-1]))
    x = L.Conv1D(128, 5, padding="same", activation="relu")(x)
    for _ in range(2):
        x = L.Bidirectional(L.GRU(64, return_sequences=True))(x)
    net = tf.keras.Model(inp, L.Dense(BLANK + 1)(x))
    a = ((f_train - mean) / std).astype(np.float32)
    b = ((f_test - mean) / std).astype(np.float32)
    fit_ctc(net, a, list(t_train), epochs, seed, 1e-3, 32, progress,
            "ASR attacker on encoder output", stride=1)
    hyp = [greedy_decode(x) for x in net(b, training=False).numpy()]
    return word_error_rate(list(t_test), hyp)


def probe_speaker(f_train, y_train, f_test, y_test, n_speakers: int, seed: int = 0,
                  epochs: int = 300, voiced_train=None, voiced_test=None) -> float:
    """Accuracy on the test features of an MLP speaker classifier on the mean and standard
    deviation over time (over the voiced frames when `voiced_*` masks [clips, frames] are
    given, so the noise-only lead-in and padding do not dilute the voice)."""
    from ..attacks.speaker import fit_mlp

    def stats(f, voiced):
        out = []
        for i, x in enumerate(f):
            v = x[voiced[i]] if voiced is not None and voiced[i].any() else x
            out.append(np.concatenate([v.mean(0), v.std(0)]))
        return np.array(out, np.float32)

    a, b = stats(f_train, voiced_train), stats(f_test, voiced_test)
    net, mean, std = fit_mlp(a, y_train, n_speakers, epochs, seed, learning_rate=1e-3,
                             batch_size=32)
    return float((net.predict((b - mean) / std, verbose=0).argmax(1) == y_test).mean())


def reference_probes(train, test, seed: int = 0, progress: bool = True) -> dict:
    """The same two attackers on clean MFCC frames (13 coefficients, 25 ms windows every
    20 ms, the encoders' frame rate): how strong the attackers are when nothing is hidden,
    the yardstick for the encoders' figures. MFCCs rather than 80-band log-mel frames: the ASR
    probe learns far faster on them, so it is a strong attacker within its epoch budget."""
    from ..features import mfcc

    start = time.perf_counter()
    frames = TRAIN_PPSLU.frames       # the encoders' frame count (199 for 4 s)
    both = mfcc(np.concatenate([train.audio, test.audio]), train.sample_rate, 13, 320,
                400)[:, :frames]
    a, b = both[:len(train)], both[len(train):]
    wer = probe_asr(a, train.transcripts, b, test.transcripts, seed, progress)
    spk = probe_speaker(a, train.speaker_ids(), b, _ids(test.speakers, train.speaker_names()),
                        len(train.speaker_names()), seed,
                        voiced_train=voiced_frames(train.audio, frames),
                        voiced_test=voiced_frames(test.audio, frames))
    return {"features": "clean MFCC, 13 coefficients, 25 ms windows every 20 ms",
            "wer_asr_probe": round(wer, 4), "speaker_accuracy_probe": round(spk, 4),
            "speaker_chance": round(1 / len(train.speaker_names()), 4),
            "seconds": round(time.perf_counter() - start, 1)}
