"""The intent classifier (spoken-language understanding, SLU) on raw waveforms.

One Keras model serves twice: trained on clean audio it is the "local SLU" whose intent
distribution the mask objective preserves; fine-tuned on masked audio it is the "cloud SLU"
that reads what the device sends. Its input pipeline is differentiable TensorFlow, so the
mask generator can be trained through it: MFCCs via tf.signal (25 ms Hann frames every
10 ms, 512-point FFT, 40 mel bands 20-7600 Hz, natural log of mel power + 1e-6, DCT-II,
first 20 coefficients), standardised per coefficient with statistics of the training clips,
then four 1-D convolutions over time and a max over time. The head is factorised over the
intent's slots: a linear layer scores each action, object and location, and an intent's
logit is the sum of its slots' scores, so intents share evidence: with about 10 training
clips per intent, too few to learn one logit per intent, each slot's score is learnt from
every clip that contains that slot.

Segment-drop augmentation (`train_slu(..., drop=(0.5, 0.9))`): the local SLU can be trained
on clips of which a random fraction (uniform in `drop`) of the k equal segments is zeroed,
each clip a fresh draw every epoch, a share `clean_share` of the clips left whole. This is
SILENCE's premise made explicit: intent depends on long-term context, so a model that has
seen sparse audio still reads it from scattered segments. The mask objective measures
KL(SLU(x) || SLU(x * z)) with this model; against a model trained only on clean audio any
zeroed speech segment costs so much KL that the generator learns to zero only silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .audio import SAMPLE_RATE, AudioError, validate

FRAME_SECONDS, HOP_SECONDS, FFT_LENGTH = 0.025, 0.010, 512
LOG_FLOOR = 1e-6                     # added to mel power before the log (power of [-1, 1] audio)
CONVOLUTIONS = ((64, 5), (128, 5), (128, 3), (128, 3))   # (channels, kernel in frames)


class LogMel(layers.Layer):
    """Waveform float32 [batch, samples] -> natural-log mel power [batch, frames, n_mels]."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mels: int = 40, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate, self.n_mels = sample_rate, n_mels
        self.frame = round(FRAME_SECONDS * sample_rate)
        self.hop = round(HOP_SECONDS * sample_rate)
        self.mel = tf.signal.linear_to_mel_weight_matrix(n_mels, FFT_LENGTH // 2 + 1,
                                                         sample_rate, 20.0, 7600.0)

    def call(self, audio):
        spec = tf.signal.stft(audio, self.frame, self.hop, FFT_LENGTH)
        # |X|^2 as re^2 + im^2: tf.abs of a complex 0 (masked audio) has a NaN gradient.
        power = tf.math.square(tf.math.real(spec)) + tf.math.square(tf.math.imag(spec))
        return tf.math.log(tf.tensordot(power, self.mel, 1) + LOG_FLOOR)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "n_mels": self.n_mels}


class MFCC(LogMel):
    """Waveform float32 [batch, samples] -> MFCCs [batch, frames, n_mfcc]."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mfcc: int = 20, **kwargs):
        super().__init__(sample_rate, **kwargs)
        self.n_mfcc = n_mfcc

    def call(self, audio):
        return tf.signal.mfccs_from_log_mel_spectrograms(super().call(audio))[..., :self.n_mfcc]

    def get_config(self):
        return {**super().get_config(), "n_mfcc": self.n_mfcc}


class Standardise(layers.Layer):
    """(x - mean) / std per feature (last axis), with non-trainable statistics set by
    `fit_statistics` (kept as weights, so copies of the model carry them)."""

    def build(self, shape):
        self.mean = self.add_weight(shape=(shape[-1],), initializer="zeros", trainable=False,
                                    name="mean")
        self.std = self.add_weight(shape=(shape[-1],), initializer="ones", trainable=False,
                                   name="std")

    def fit_statistics(self, features: np.ndarray) -> None:
        flat = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
        self.mean.assign(flat.mean(axis=0).astype(np.float32))
        self.std.assign(np.maximum(flat.std(axis=0), 1e-6).astype(np.float32))

    def call(self, x):
        return (x - self.mean) / self.std


class IntentLogits(layers.Layer):
    """Slot scores [batch, slot values] -> intent logits [batch, intents]: the logit of
    "a|o|l" is score(a) + score(o) + score(l). Names not all made of the same number of
    "|"-separated slots are scored one by one."""

    def __init__(self, intent_names: list[str], **kwargs):
        super().__init__(**kwargs)
        self.intent_names = list(intent_names)
        slots = [name.split("|") for name in self.intent_names]
        if len({len(s) for s in slots}) != 1:
            slots = [[name] for name in self.intent_names]
        values = [sorted({s[j] for s in slots}) for j in range(len(slots[0]))]
        offsets = np.cumsum([0] + [len(v) for v in values])
        table = np.zeros((offsets[-1], len(slots)), np.float32)
        for i, slot in enumerate(slots):
            for j, value in enumerate(slot):
                table[offsets[j] + values[j].index(value), i] = 1.0
        self.table = tf.constant(table)

    @property
    def slot_values(self) -> int:
        return int(self.table.shape[0])

    def call(self, scores):
        return tf.matmul(scores, self.table)

    def get_config(self):
        return {**super().get_config(), "intent_names": self.intent_names}


@dataclass
class SLU:
    """A trained intent classifier: `keras` maps audio [batch, samples] to intent logits over
    `intent_names` (sorted "action|object|location" strings)."""

    keras: keras.Model
    intent_names: list[str]
    sample_rate: int

    @property
    def samples(self) -> int:
        return int(self.keras.input_shape[-1])

    def logits(self, audio: np.ndarray, batch_size: int = 32) -> np.ndarray:
        audio = self._check(audio)
        return np.concatenate([self.keras(audio[i:i + batch_size], training=False).numpy()
                               for i in range(0, len(audio), batch_size)])

    def predict_intents(self, corpus, masks: np.ndarray | None = None) -> list[str]:
        """The top intent name of every `corpus` clip; with `masks` [N, k] the clips are
        masked first (x * repeat(Z))."""
        best = self.logits(self._corpus_audio(corpus, masks)).argmax(axis=1)
        return [self.intent_names[i] for i in best]

    def accuracy(self, corpus, masks: np.ndarray | None = None) -> float:
        """Share of `corpus` clips whose top intent is right (masks as in predict_intents)."""
        truth = self._labels(corpus)
        return float(np.mean(np.array(self.predict_intents(corpus, masks)) ==
                             np.array(self.intent_names)[truth]))

    def _labels(self, corpus) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.intent_names)}
        unknown = sorted(set(corpus.intents) - lookup.keys())
        if unknown:
            raise AudioError(f"intents unknown to the SLU model: {', '.join(unknown[:3])}")
        return np.array([lookup[x] for x in corpus.intents], np.int64)

    def _corpus_audio(self, corpus, masks: np.ndarray | None) -> np.ndarray:
        validate(corpus.audio, corpus.sample_rate, self.sample_rate, "corpus")
        if masks is None:
            return corpus.audio
        from .mask.gate import apply_mask

        masks = np.asarray(masks, np.float32)
        if masks.ndim != 2 or len(masks) != len(corpus.audio):
            raise AudioError(f"need one mask per clip ({len(corpus.audio)}), got masks of shape "
                             f"{list(masks.shape)}")
        return apply_mask(corpus.audio, masks).numpy()

    def _check(self, audio: np.ndarray) -> np.ndarray:
        validate(audio, self.sample_rate, self.sample_rate, "SLU input")
        if audio.ndim != 2 or audio.shape[1] != self.samples:
            raise AudioError(f"SLU model takes clips of {self.samples} samples, got shape "
                             f"{list(audio.shape)}")
        return audio


def build_slu_model(samples: int, intent_names: list[str], sample_rate: int = SAMPLE_RATE,
                    seed: int = 0) -> keras.Model:
    """The untrained classifier (its Standardise layer still needs `fit_statistics`)."""
    keras.utils.set_random_seed(seed)
    audio = layers.Input((samples,), name="waveform")
    x = MFCC(sample_rate, name="mfcc")(audio)
    x = Standardise(name="standardise")(x)
    for i, (width, kernel) in enumerate(CONVOLUTIONS):
        x = layers.Conv1D(width, kernel, padding="same", activation="relu", name=f"conv{i}")(x)
        if i < len(CONVOLUTIONS) - 1:
            x = layers.MaxPooling1D(2)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.3)(x)
    head = IntentLogits(intent_names, name="intent")
    x = layers.Dense(head.slot_values, name="slot_scores")(x)
    return keras.Model(audio, head(x), name="slu")


def train_slu(corpus, epochs: int = 40, seed: int = 0, batch_size: int = 16,
              learning_rate: float = 1e-3, progress: bool = True,
              drop: tuple[float, float] | None = None, segments: int = 100,
              clean_share: float = 0.25) -> SLU:
    """The local SLU: trained on `corpus`'s clean clips, or with `drop=(low, high)` on clips
    with a random fraction in [low, high] of their `segments` segments zeroed (fresh masks
    every epoch; a share `clean_share` of the clips stays clean), see the module docstring."""
    _check_corpus(corpus)
    model = build_slu_model(corpus.audio.shape[1], corpus.intent_names(), corpus.sample_rate,
                            seed)
    slu = SLU(model, corpus.intent_names(), corpus.sample_rate)
    model.get_layer("standardise").fit_statistics(model.get_layer("mfcc")(corpus.audio[:256]))
    labels = slu._labels(corpus)
    if drop is None:
        _fit(slu, corpus.audio, labels, epochs, batch_size, learning_rate, seed, progress,
             "training local SLU")
        return slu
    low, high = drop
    if not (0.0 <= low <= high < 1.0 and 0.0 <= clean_share <= 1.0):
        raise AudioError(f"segment drop needs 0 <= low <= high < 1 and clean_share in [0, 1], "
                         f"got {drop} and {clean_share}")
    from .mask.gate import apply_mask, segment_length

    segment_length(corpus.audio.shape[1], segments)
    rng = np.random.default_rng(seed)
    n = len(corpus.audio)
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    from tqdm import tqdm

    keras.utils.set_random_seed(seed)
    with tqdm(range(epochs), desc="training local SLU (segment drop)", unit="epoch",
              disable=not progress) as bar:
        for _ in bar:
            masks = random_segment_masks(n, segments, low, high, clean_share, rng)
            hist = model.fit(apply_mask(corpus.audio, masks).numpy(), labels,
                             batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
            bar.set_postfix(loss=f"{hist.history['loss'][-1]:.3f}")
    return slu


def random_segment_masks(n: int, segments: int, low: float, high: float, clean_share: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Masks float32 [n, segments]: per row, with probability clean_share all ones, else
    round(r * segments) segments zeroed at random, r ~ U(low, high)."""
    ratio = rng.uniform(low, high, n) * (rng.random(n) >= clean_share)
    drop = np.round(ratio * segments).astype(int)
    rank = np.argsort(rng.random((n, segments)), axis=1)
    return (rank >= drop[:, None]).astype(np.float32)


def fine_tune_on_masked(slu: SLU, corpus, masks: np.ndarray, epochs: int = 20, seed: int = 0,
                        batch_size: int = 16, learning_rate: float = 5e-4,
                        progress: bool = True) -> SLU:
    """The cloud SLU: a copy of `slu` trained further on `corpus` masked with `masks` [N, k]
    (the masks the device would send, e.g. MaskGenerator.masks); `slu` is left unchanged."""
    _check_corpus(corpus)
    model = keras.models.clone_model(slu.keras)
    model.set_weights(slu.keras.get_weights())
    cloud = SLU(model, list(slu.intent_names), slu.sample_rate)
    _fit(cloud, cloud._corpus_audio(corpus, masks), cloud._labels(corpus), epochs, batch_size,
         learning_rate, seed, progress, "fine-tuning cloud SLU on masked audio")
    return cloud


def _fit(slu: SLU, audio, labels, epochs, batch_size, learning_rate, seed, progress, desc):
    from tqdm import tqdm

    keras.utils.set_random_seed(seed)
    slu.keras.compile(keras.optimizers.Adam(learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with tqdm(total=epochs, desc=desc, unit="epoch", disable=not progress) as bar:
        class Bar(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                bar.set_postfix(loss=f"{logs['loss']:.3f}")
                bar.update()

        slu.keras.fit(audio, labels, batch_size=batch_size, epochs=epochs, shuffle=True,
                      verbose=0, callbacks=[Bar()])


def _check_corpus(corpus) -> None:
    if len(corpus.audio) == 0:
        raise AudioError("cannot train an SLU model on an empty corpus")
    validate(corpus.audio, corpus.sample_rate, None, "corpus")
