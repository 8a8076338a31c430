"""The content attacker: a CTC character recogniser (TensorFlow/Keras) on MFCC frames,
trained on clean clips of a corpus (the eavesdropper's recogniser) and optionally fine-tuned
on masked clips (the adaptive attacker). Plus PyPI pocketsphinx's bundled en-us recogniser as
an off-the-shelf attacker for real corpora.

Network: MFCC [frames, 13] (10 ms hop) -> normalisation -> 2 x Conv1D (the first strides 2,
so one output frame per 20 ms) -> 2 x bidirectional GRU -> dense logits over a-z, apostrophe,
space and the CTC blank (last class). Decoding is greedy (best path).
"""

from __future__ import annotations

import re
import time

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, resample, validate
from ..corpus import SpeechCorpus
from ..features import frame_energy, mfcc

ALPHABET = "abcdefghijklmnopqrstuvwxyz' "
BLANK = len(ALPHABET)           # index of the CTC blank, the last logit
N_MFCC = 13
HOP, WIN = 160, 400             # samples: 10 ms hop, 25 ms window at 16 kHz
STRIDE = 2                      # MFCC frames per output frame
WIDTH = 128                     # conv channels; each GRU direction has WIDTH // 2 units


def normalise_text(text: str) -> str:
    """Lower case, characters outside the alphabet dropped, whitespace collapsed."""
    kept = re.sub(f"[^{re.escape(ALPHABET)}]", " ", text.lower())
    return " ".join(kept.split())


def encode_text(text: str) -> np.ndarray:
    """Character indices (int32) of the normalised text."""
    return np.array([ALPHABET.index(c) for c in normalise_text(text)], dtype=np.int32)


def greedy_decode(logits: np.ndarray) -> str:
    """Best-path CTC decoding of one clip's logits [frames, len(ALPHABET) + 1]: the most
    likely class per frame, repeats merged, blanks dropped."""
    if logits.ndim != 2 or logits.shape[1] != BLANK + 1:
        raise AudioError(f"CTC logits must be [frames, {BLANK + 1}], got {list(logits.shape)}")
    best = np.argmax(logits, axis=1)
    keep = np.ones(len(best), bool)
    keep[1:] = best[1:] != best[:-1]
    return " ".join("".join(ALPHABET[i] for i in best[keep & (best != BLANK)]).split())


class AsrModel:
    """A trained CTC recogniser. `history` holds the mean CTC loss (nats per clip) of every
    training epoch, the fine-tuning epochs appended; `train_seconds` the training time."""

    def __init__(self, network, history: list[float], train_seconds: float):
        self.network, self.history, self.train_seconds = network, history, train_seconds

    def logits(self, audio: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """CTC logits [clips, output frames, len(ALPHABET) + 1] of float32 audio at 16 kHz
        (1-D samples or 2-D clips x samples)."""
        feats = _features(np.atleast_2d(audio))
        return np.concatenate([self.network(feats[i:i + batch_size], training=False).numpy()
                               for i in range(0, len(feats), batch_size)])

    def transcribe(self, audio: np.ndarray, batch_size: int = 64) -> list[str]:
        """Greedy transcripts of float32 audio at 16 kHz (1-D samples or 2-D clips x
        samples); silent audio gives empty strings."""
        return [greedy_decode(x) for x in self.logits(audio, batch_size)]

    def fine_tune(self, corpus: SpeechCorpus, epochs: int, seed: int = 0,
                  learning_rate: float = 3e-4, batch_size: int = 32,
                  progress: bool = True) -> "AsrModel":
        """The adaptive attacker: a copy of this model trained `epochs` more epochs on
        `corpus` (e.g. masked clips with their true transcripts). This model is unchanged."""
        import tensorflow as tf

        network = tf.keras.models.clone_model(self.network)
        network.set_weights(self.network.get_weights())
        start = time.perf_counter()
        losses = fit_ctc(network, _features(corpus.audio, corpus.sample_rate),
                         corpus.transcripts, epochs, seed, learning_rate, batch_size, progress,
                         "fine-tuning ASR")
        return AsrModel(network, self.history + losses,
                        self.train_seconds + time.perf_counter() - start)


def train_asr(corpus: SpeechCorpus, epochs: int = 40, seed: int = 0,
              learning_rate: float = 1e-3, batch_size: int = 32,
              progress: bool = True) -> AsrModel:
    """Train the CTC recogniser from scratch on `corpus` (its transcripts as targets);
    feature normalisation comes from the corpus's non-silent frames."""
    import tensorflow as tf

    start = time.perf_counter()
    tf.keras.utils.set_random_seed(seed)
    feats = _features(corpus.audio, corpus.sample_rate)
    voiced = feats[frame_energy(corpus.audio, HOP, WIN) > 0]
    if not len(voiced):
        raise AudioError("cannot train the recogniser on a corpus of silent clips")
    network = build_network(voiced.mean(axis=0), voiced.var(axis=0) + 1e-6)
    losses = fit_ctc(network, feats, corpus.transcripts, epochs, seed, learning_rate,
                     batch_size, progress, "training ASR")
    return AsrModel(network, losses, time.perf_counter() - start)


def build_network(mean: np.ndarray, variance: np.ndarray):
    """The recogniser's Keras network: MFCC [batch, frames, N_MFCC] -> logits
    [batch, ceil(frames / STRIDE), len(ALPHABET) + 1]."""
    import tensorflow as tf

    L = tf.keras.layers
    x = inputs = L.Input((None, N_MFCC))
    x = L.Normalization(mean=mean, variance=variance)(x)
    x = L.Conv1D(WIDTH, 5, strides=STRIDE, padding="same", activation="relu")(x)
    x = L.Conv1D(WIDTH, 5, padding="same", activation="relu")(x)
    for _ in range(2):
        x = L.Bidirectional(L.GRU(WIDTH // 2, return_sequences=True))(x)
    return tf.keras.Model(inputs, L.Dense(BLANK + 1)(x), name="ctc_asr")


def _features(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    validate(audio, sample_rate)
    return mfcc(audio, sample_rate, N_MFCC, HOP, WIN)


def fit_ctc(network, feats: np.ndarray, transcripts, epochs: int, seed: int,
            learning_rate: float, batch_size: int, progress: bool, desc: str,
            stride: int = STRIDE) -> list[float]:
    """Train `network` (features [batch, frames, d] -> CTC logits over ALPHABET + blank, one
    output frame per `stride` input frames) on `feats` [clips, frames, d] and their
    `transcripts`: Adam (clipnorm 5) on the mean CTC loss, the clips shuffled every epoch;
    returns the mean loss of every epoch."""
    import tensorflow as tf
    from tqdm import tqdm

    if epochs < 1:
        raise AudioError(f"epochs must be >= 1, got {epochs}")
    labels = [encode_text(t) for t in transcripts]
    lengths = np.array([len(x) for x in labels], np.int32)
    frames = -(-feats.shape[1] // stride)
    if lengths.min() == 0:
        raise AudioError(f"transcript {transcripts[int(lengths.argmin())]!r} has no "
                         "letters to recognise")
    if lengths.max() > frames:
        raise AudioError(f"a {lengths.max()}-character transcript does not fit the "
                         f"{frames} output frames of a {feats.shape[1]}-frame clip")
    optimizer = tf.keras.optimizers.Adam(learning_rate, clipnorm=5.0)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = network(x, training=True)
            t_len = tf.fill([tf.shape(x)[0]], tf.shape(logits)[1])
            loss = tf.reduce_mean(tf.nn.ctc_loss(y, logits, None, t_len,
                                                 logits_time_major=False, blank_index=BLANK))
        grads = tape.gradient(loss, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    history = []
    with tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress) as bar:
        for _ in bar:
            order = rng.permutation(len(feats))
            total = 0.0
            for i in range(0, len(order), batch_size):
                b = order[i:i + batch_size]
                total += float(step(feats[b], _sparse_labels([labels[j] for j in b]))) * len(b)
            history.append(total / len(order))
            bar.set_postfix(loss=f"{history[-1]:.2f}")
    return history


def _sparse_labels(labels: list[np.ndarray]):
    """A batch of label sequences as the tf.SparseTensor that TF's fast CTC kernel takes
    (dense labels take a slower pure-TF path on CPU)."""
    import tensorflow as tf

    indices = [(i, j) for i, x in enumerate(labels) for j in range(len(x))]
    return tf.SparseTensor(np.array(indices, np.int64), np.concatenate(labels).astype(np.int32),
                           (len(labels), max(len(x) for x in labels)))


def pocketsphinx_transcribe(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """Transcribe one clip (float32 1-D samples) with PyPI pocketsphinx's bundled en-us
    acoustic model, dictionary and language model, offline; "" when it hears nothing and
    for all-zero audio (on which the decoder would otherwise hallucinate a word)."""
    from pocketsphinx import Decoder

    validate(audio, sample_rate, expected_rate=None)
    if audio.ndim != 1:
        raise AudioError(f"pocketsphinx takes one clip of 1-D samples, got {list(audio.shape)}")
    if not audio.any():
        return ""                    # digital silence (a fully masked clip): nothing said
    pcm = np.round(resample(audio, sample_rate, SAMPLE_RATE) * 32767).astype(np.int16)
    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return normalise_text(hyp.hypstr) if hyp is not None else ""
