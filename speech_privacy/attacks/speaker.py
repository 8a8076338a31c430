"""The speaker attacker: who is speaking, from MFCC statistics and a small MLP.

Each clip is summarised by the mean and standard deviation of its MFCCs (20 coefficients,
10 ms hop) over its non-silent frames, so zero padding and masked-out segments do not count;
a clip with no non-silent frame is summarised by zeros. The MLP (one hidden layer, dropout)
is trained with Adam on standardised summaries.
"""

from __future__ import annotations

import time

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, validate
from ..corpus import SpeechCorpus
from ..features import frame_energy, mfcc

N_MFCC = 20
HOP, WIN = 160, 400      # samples: 10 ms hop, 25 ms window at 16 kHz


def clip_statistics(audio: np.ndarray) -> np.ndarray:
    """[clips, 2 * N_MFCC] float32: MFCC mean and standard deviation over the non-silent
    frames of each clip of float32 audio at 16 kHz (clips x samples)."""
    validate(audio, SAMPLE_RATE)
    audio = np.atleast_2d(audio)
    coeffs = mfcc(audio, SAMPLE_RATE, N_MFCC, HOP, WIN)
    voiced = frame_energy(audio, HOP, WIN) > 0
    out = np.zeros((len(audio), 2 * N_MFCC), np.float32)
    for i, (c, v) in enumerate(zip(coeffs, voiced)):
        if v.any():
            out[i] = np.concatenate([c[v].mean(axis=0), c[v].std(axis=0)])
    return out


class SpeakerClassifier:
    """A trained speaker classifier over `speaker_names` (sorted, as in the training corpus).
    `chance` is the accuracy of guessing: 1 / number of speakers."""

    def __init__(self, network, mean: np.ndarray, std: np.ndarray, speaker_names: list[str],
                 train_seconds: float):
        self.network, self.mean, self.std = network, mean, std
        self.speaker_names, self.train_seconds = speaker_names, train_seconds

    @property
    def chance(self) -> float:
        return 1.0 / len(self.speaker_names)

    def predict(self, audio: np.ndarray) -> np.ndarray:
        """Speaker indices into `speaker_names` of float32 16 kHz clips (clips x samples)."""
        x = (clip_statistics(audio) - self.mean) / self.std
        return np.argmax(self.network(x, training=False).numpy(), axis=1)

    def accuracy(self, corpus: SpeechCorpus) -> float:
        """Fraction of the corpus's clips attributed to their true speaker, who must be one
        of the training speakers."""
        lookup = {name: i for i, name in enumerate(self.speaker_names)}
        unknown = sorted(set(corpus.speakers) - set(lookup))
        if unknown:
            raise AudioError(f"speakers unseen in training: {', '.join(unknown)}")
        true = np.array([lookup[s] for s in corpus.speakers])
        return float(np.mean(self.predict(corpus.audio) == true))


def train_speaker_classifier(corpus: SpeechCorpus, epochs: int = 300, seed: int = 0,
                             hidden: int = 128, learning_rate: float = 3e-3
                             ) -> SpeakerClassifier:
    """Train on `corpus` (e.g. masked clips): full-batch Adam for `epochs` steps."""

    names = corpus.speaker_names()
    if len(names) < 2:
        raise AudioError(f"a speaker classifier needs at least 2 speakers, got {len(names)}")
    if epochs < 1:
        raise AudioError(f"epochs must be >= 1, got {epochs}")
    start = time.perf_counter()
    network, mean, std = fit_mlp(clip_statistics(corpus.audio), corpus.speaker_ids(),
                                 len(names), epochs, seed, hidden, learning_rate)
    return SpeakerClassifier(network, mean, std, names, time.perf_counter() - start)


def fit_mlp(x: np.ndarray, labels: np.ndarray, classes: int, epochs: int, seed: int = 0,
            hidden: int = 128, learning_rate: float = 3e-3, batch_size: int | None = None):
    """(network, mean, std): an MLP (Dense `hidden` relu, dropout 0.3, Dense `classes`)
    trained with Adam on the standardised rows of `x` [N, d] ((x - mean) / std) to predict
    `labels`; full batch and unshuffled by default, else shuffled batches of `batch_size`."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    L = tf.keras.layers
    network = tf.keras.Sequential([L.Input((x.shape[1],)), L.Dense(hidden, activation="relu"),
                                   L.Dropout(0.3), L.Dense(classes)], name="speaker_mlp")
    network.compile(tf.keras.optimizers.Adam(learning_rate),
                    tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    network.fit((x - mean) / std, labels, batch_size=batch_size or len(x), epochs=epochs,
                verbose=0, shuffle=batch_size is not None)
    return network, mean, std
