"""The local SLU's segment-drop augmentation (speech_privacy.slu.train_slu(drop=...))."""

from __future__ import annotations

import numpy as np
import pytest

from speech_privacy.audio import AudioError
from speech_privacy.corpus import SpeechCorpus
from speech_privacy.slu import random_segment_masks, train_slu


def test_random_segment_masks_drop_the_drawn_fraction():
    rng = np.random.default_rng(0)
    m = random_segment_masks(2000, 100, 0.5, 0.9, 0.25, rng)
    assert m.shape == (2000, 100) and set(np.unique(m)) <= {0.0, 1.0}
    dropped = 1.0 - m.mean(axis=1)
    clean = dropped == 0
    assert clean.mean() == pytest.approx(0.25, abs=0.04)
    assert dropped[~clean].min() >= 0.5 and dropped[~clean].max() <= 0.9
    assert dropped[~clean].mean() == pytest.approx(0.7, abs=0.02)
    # the zeroed segments are spread over the clip, not a fixed block
    assert 0.2 < m[~clean].mean(axis=0).min() and m[~clean].mean(axis=0).max() < 0.45


def _tiny_corpus(n=8, samples=6400):
    rng = np.random.default_rng(1)
    audio = (rng.normal(size=(n, samples)) * 0.1).astype(np.float32)
    intents = tuple("a|b|c" if i % 2 else "d|e|f" for i in range(n))
    return SpeechCorpus(audio, 16000, ("x",) * n, intents, tuple(f"s{i % 2}" for i in range(n)))


def test_train_slu_with_segment_drop_and_bad_settings():
    corpus = _tiny_corpus()
    slu = train_slu(corpus, epochs=2, progress=False, drop=(0.5, 0.9), segments=10)
    assert slu.logits(corpus.audio).shape == (8, 2)
    for drop, share in (((0.9, 0.5), 0.25), ((0.5, 1.0), 0.25), ((0.5, 0.9), 1.5)):
        with pytest.raises(AudioError):
            train_slu(corpus, epochs=1, progress=False, drop=drop, segments=10,
                      clean_share=share)


def test_validation_split_holds_voices_out_where_the_test_split_does():
    from speech_privacy.corpus import SpeechCorpus
    from speech_privacy.pipeline.stages import validation_split

    voices = [f"v{i}" for i in range(8)] * 6
    corpus = SpeechCorpus(np.zeros((48, 160), np.float32), 16000, ("a b",) * 48,
                          tuple(f"i{k % 4}" for k in range(48)), tuple(voices))
    fit, val = validation_split(corpus, 0.25, seed=0, by_speaker=True)
    assert len(set(val.speakers)) == 2 and not set(val.speakers) & set(fit.speakers)
    assert len(fit) + len(val) == 48
    fit, val = validation_split(corpus, 0.25, seed=0, by_speaker=False)
    assert set(val.speakers) & set(fit.speakers) and len(val) == 12     # 3 of 12 per intent
