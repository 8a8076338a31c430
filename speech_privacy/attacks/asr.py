"""The content attacker: a CTC character recogniser (TensorFlow/Keras) on MFCC frames,
trained on clean clips of a corpus (the eavesdropper's recogniser) and optionally fine-tuned
on masked clips (the adaptive attacker). Plus PyPI pocketsphinx's bundled en-us recogniser as
an off-the-shelf attacker for real corpora.

Network: MFCC [frames, 13] (10 ms hop) -> normalisation -> 2 x Conv1D (the first strides 2,
so one output frame per 20 ms) -> 2 x bidirectional GRU -> dense logits over a-z, apostrophe,
space and the CTC blank (last class). Each clip is read up to its last non-zero frame (clips
are zero-padded, and a mask zeroes segments), in batches of similar lengths, so that the
recurrent layers skip the padding. Decoding is greedy (best path); a recogniser trained on a
corpus then re-spells the decoded words with the language model of its training transcripts
(language.Lexicon: a class bigram over words and entity types), as every real recogniser
decodes with one.
"""

from __future__ import annotations

import re
import time

import numpy as np

from ..audio import SAMPLE_RATE, AudioError, resample, validate
from ..corpus import SpeechCorpus
from ..features import frame_energy, mfcc
from .language import Lexicon

ALPHABET = "abcdefghijklmnopqrstuvwxyz' "
BLANK = len(ALPHABET)           # index of the CTC blank, the last logit
N_MFCC = 13
HOP, WIN = 160, 400             # samples: 10 ms hop, 25 ms window at 16 kHz
STRIDE = 2                      # MFCC frames per output frame
BUCKET = 8                      # batches per run of clips sorted by length (fit_ctc)
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
    training epoch, the fine-tuning epochs appended; `train_seconds` the training time;
    `lexicon` the language model of its training transcripts (None: transcripts as
    decoded)."""

    def __init__(self, network, history: list[float], train_seconds: float,
                 lexicon: Lexicon | None = None):
        self.network, self.history, self.train_seconds = network, history, train_seconds
        self.lexicon = lexicon

    def logits(self, audio: np.ndarray, batch_size: int = 64) -> list[np.ndarray]:
        """CTC logits of float32 audio at 16 kHz (1-D samples or 2-D clips x samples): per
        clip, [output frames up to its last non-zero frame, len(ALPHABET) + 1]."""
        audio = np.atleast_2d(audio)
        feats, frames = _features(audio), content_frames(audio)
        out: list = [None] * len(audio)
        order = np.argsort(frames, kind="stable")
        for i in range(0, len(order), batch_size):
            b = order[i:i + batch_size]
            logits = self.network(feats[b, :frames[b].max()], training=False).numpy()
            for j, clip in enumerate(b):
                out[clip] = logits[j, :-(-frames[clip] // STRIDE)]
        return out

    def transcribe(self, audio: np.ndarray, batch_size: int = 64) -> list[str]:
        """Greedy transcripts of float32 audio at 16 kHz (1-D samples or 2-D clips x
        samples), re-spelt with the language model; silent audio gives empty strings."""
        texts = [greedy_decode(x) for x in self.logits(audio, batch_size)]
        return texts if self.lexicon is None else [self.lexicon.spell(t) for t in texts]

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
                         "fine-tuning ASR", lengths=content_frames(corpus.audio))
        return AsrModel(network, self.history + losses,
                        self.train_seconds + time.perf_counter() - start, self.lexicon)


def train_asr(corpus: SpeechCorpus, epochs: int = 40, seed: int = 0,
              learning_rate: float = 1e-3, batch_size: int = 32,
              progress: bool = True, lexicon: bool = True) -> AsrModel:
    """Train the CTC recogniser from scratch on `corpus` (its transcripts as targets, and
    with `lexicon` its transcripts and entity spans as the language model); feature
    normalisation comes from the corpus's non-silent frames."""
    import tensorflow as tf

    start = time.perf_counter()
    tf.keras.utils.set_random_seed(seed)
    feats = _features(corpus.audio, corpus.sample_rate)
    voiced = feats[frame_energy(corpus.audio, HOP, WIN) > 0]
    if not len(voiced):
        raise AudioError("cannot train the recogniser on a corpus of silent clips")
    network = build_network(voiced.mean(axis=0), voiced.var(axis=0) + 1e-6)
    losses = fit_ctc(network, feats, corpus.transcripts, epochs, seed, learning_rate,
                     batch_size, progress, "training ASR",
                     lengths=content_frames(corpus.audio))
    return AsrModel(network, losses, time.perf_counter() - start,
                    Lexicon([normalise_text(t) for t in corpus.transcripts], corpus.entities)
                    if lexicon else None)


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


def content_frames(audio: np.ndarray) -> np.ndarray:
    """Per clip (2-D clips x samples at 16 kHz), the MFCC frames up to its last frame that
    holds a non-zero sample (at least STRIDE), rounded up to a multiple of STRIDE."""
    voiced = frame_energy(np.atleast_2d(audio), HOP, WIN) > 0
    last = voiced.shape[1] - np.argmax(voiced[:, ::-1], axis=1)
    last[~voiced.any(axis=1)] = 0
    return np.minimum(np.maximum(-(-last // STRIDE) * STRIDE, STRIDE), voiced.shape[1])


def _features(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    validate(audio, sample_rate)
    return mfcc(audio, sample_rate, N_MFCC, HOP, WIN)


def fit_ctc(network, feats: np.ndarray, transcripts, epochs: int, seed: int,
            learning_rate: float, batch_size: int, progress: bool, desc: str,
            stride: int = STRIDE, lengths: np.ndarray | None = None) -> list[float]:
    """Train `network` (features [batch, frames, d] -> CTC logits over ALPHABET + blank, one
    output frame per `stride` input frames) on `feats` [clips, frames, d] and their
    `transcripts`: Adam (clipnorm 5) on the mean CTC loss, the clips shuffled every epoch;
    returns the mean loss of every epoch. `lengths` (frames per clip, default all): each
    batch is read up to its longest clip, and batches gather clips of similar length (sorted
    within runs of BUCKET batches of a shuffled order, the batches then shuffled)."""
    import tensorflow as tf
    from tqdm import tqdm

    if epochs < 1:
        raise AudioError(f"epochs must be >= 1, got {epochs}")
    labels = [encode_text(t) for t in transcripts]
    # CTC needs an output frame per character and a blank between repeated ones
    needed = np.array([len(x) + int(np.sum(x[1:] == x[:-1])) for x in labels])
    frames = -(-feats.shape[1] // stride)
    if min(len(x) for x in labels) == 0:
        raise AudioError(f"transcript {transcripts[int(needed.argmin())]!r} has no "
                         "letters to recognise")
    if needed.max() > frames:
        raise AudioError(f"a transcript needing {needed.max()} output frames does not fit the "
                         f"{frames} output frames of a {feats.shape[1]}-frame clip")
    optimizer = tf.keras.optimizers.Adam(learning_rate, clipnorm=5.0)

    # one trace for every batch length and label length
    @tf.function(input_signature=[tf.TensorSpec([None, None, feats.shape[2]], tf.float32),
                                  tf.SparseTensorSpec([None, None], tf.int32)])
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = network(x, training=True)
            t_len = tf.fill([tf.shape(x)[0]], tf.shape(logits)[1])
            loss = tf.reduce_mean(tf.nn.ctc_loss(y, logits, None, t_len,
                                                 logits_time_major=False, blank_index=BLANK))
        grads = tape.gradient(loss, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))
        return loss

    # a clip is read at least as far as its transcript needs (a mask can end the sound before)
    lengths = np.full(len(feats), feats.shape[1]) if lengths is None else lengths
    lengths = np.minimum(np.maximum(lengths, needed * stride), feats.shape[1])
    rng = np.random.default_rng(seed)
    history = []
    with tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress) as bar:
        for _ in bar:
            order = rng.permutation(len(feats))
            batches = []
            for i in range(0, len(order), batch_size * BUCKET):
                run = order[i:i + batch_size * BUCKET]
                run = run[np.argsort(lengths[run], kind="stable")]
                batches += [run[j:j + batch_size] for j in range(0, len(run), batch_size)]
            total = 0.0
            for k in rng.permutation(len(batches)):
                b = batches[k]
                x = feats[b, :int(np.max(lengths[b]))].astype(np.float32, copy=False)
                total += float(step(x, _sparse_labels([labels[j] for j in b]))) * len(b)
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
