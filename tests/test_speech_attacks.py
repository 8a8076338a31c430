"""Attackers: the CTC recogniser (text coding, greedy decoding, learning on real speech), the
speaker classifier, and pocketsphinx as the optional off-the-shelf recogniser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speech_privacy.attacks.asr import (ALPHABET, BLANK, HOP, STRIDE, content_frames,
                                        encode_text, greedy_decode, normalise_text, train_asr)
from speech_privacy.audio import AudioError
from speech_privacy.metrics import word_error_rate

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
needs_fsdd = pytest.mark.skipif(not FSDD.is_dir(), reason="../shared/data/fsdd not present")


def test_text_coding():
    assert normalise_text("  Turn ON the Lights!  ") == "turn on the lights"
    assert normalise_text("I'd like 2 juices") == "i'd like juices"
    assert [ALPHABET[i] for i in encode_text("Hi, you")] == list("hi you")


def _logits(path: str) -> np.ndarray:
    out = np.zeros((len(path), BLANK + 1), np.float32)
    for t, c in enumerate(path):
        out[t, BLANK if c == "_" else ALPHABET.index(c)] = 5.0
    return out


def test_greedy_decode_merges_repeats_and_drops_blanks():
    assert greedy_decode(_logits("__hh_ee_ll_ll_oo__")) == "hello"
    assert greedy_decode(_logits("ab  _ c")) == "ab c"           # spaces collapse
    assert greedy_decode(_logits("____")) == ""
    with pytest.raises(AudioError):
        greedy_decode(np.zeros((4, 3), np.float32))


def test_content_frames_end_at_the_last_sound():
    audio = np.zeros((3, 16000), np.float32)
    audio[0, 4000] = 0.5                       # sound in the frame centred near 25 frames
    audio[1] = 0.1                             # sound to the end
    frames = content_frames(audio)
    assert frames[0] % STRIDE == 0 and 4000 // HOP < frames[0] <= 4000 // HOP + 4
    assert frames[1] == 1 + 16000 // HOP       # every frame
    assert frames[2] == STRIDE                 # silence: the shortest read


def test_ctc_attacker_learns_beyond_chance_on_real_speech():
    """40 FSDD clips (two speakers, all ten digits, 1 s): after 40 short epochs the recogniser
    transcribes its training clips far better than the empty/guessing baseline (WER 1)."""
    from speech_privacy.datasets import load_fsdd

    data = load_fsdd(FSDD, clip_seconds=1.0, takes=[5, 6], progress=False)
    data = data.subset([i for i, s in enumerate(data.speakers) if s in ("jackson", "theo")])
    assert len(data) == 40
    asr = train_asr(data, epochs=40, batch_size=8, learning_rate=3e-3, progress=False)
    assert asr.history[-1] < 0.5 * asr.history[1]
    wer = word_error_rate(data.transcripts, asr.transcribe(data.audio))
    assert wer < 0.6, wer
    # silent input decodes to nothing rather than failing
    silent = asr.transcribe(np.zeros((1, 16000), np.float32))
    assert len(silent) == 1 and isinstance(silent[0], str)


@needs_fsdd
def test_speaker_classifier_beats_chance_on_fsdd_and_masking_everything_kills_it():
    from speech_privacy.attacks.speaker import train_speaker_classifier
    from speech_privacy.corpus import SpeechCorpus
    from speech_privacy.datasets import load_fsdd

    data = load_fsdd(FSDD, clip_seconds=1.0, takes=range(5), progress=False)
    test_mask = np.array([i % 5 == 0 for i in range(len(data))])
    train, test = data.subset(~test_mask), data.subset(test_mask)
    clf = train_speaker_classifier(train, epochs=150)
    assert clf.chance == pytest.approx(1 / 6)
    assert clf.accuracy(test) > 0.6
    silent = SpeechCorpus(np.zeros_like(test.audio), test.sample_rate, test.transcripts,
                          test.intents, test.speakers)
    assert clf.accuracy(silent) < 0.5            # defined result on all-masked audio


def test_speaker_classifier_needs_two_speakers():
    from speech_privacy.attacks.speaker import train_speaker_classifier
    from speech_privacy.corpus import SpeechCorpus

    one = SpeechCorpus(np.zeros((2, 1600), np.float32), 16000, ("a", "b"), ("x", "y"),
                       ("s", "s"))
    with pytest.raises(AudioError, match="at least 2 speakers"):
        train_speaker_classifier(one)


@needs_fsdd
def test_pocketsphinx_transcribes_real_speech_offline():
    from speech_privacy.attacks.asr import pocketsphinx_transcribe
    from speech_privacy.datasets import load_fsdd

    data = load_fsdd(FSDD, clip_seconds=1.0, takes=[0], progress=False)
    hyp = pocketsphinx_transcribe(data.audio[0])
    assert isinstance(hyp, str) and hyp == normalise_text(hyp)
    assert pocketsphinx_transcribe(np.zeros(16000, np.float32)) == ""
