"""Corpora: the synthetic eSpeak corpus (reproducible from its seed, cached), the CSV-manifest
loader and the FSDD loader."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from speech_privacy.audio import SAMPLE_RATE, AudioError
from speech_privacy.corpus import SpeechCorpus, cache_path, intents, synthetic_corpus
from speech_privacy.espeak import VOICES, espeak_synthesise
from speech_privacy.datasets import load_fsdd, load_manifest

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
# sha256 of the float32 audio of `tiny` as the single-module corpus synthesised it, before the
# corpus became a package with several grammars; it moves only with eSpeak NG itself.
FSC_TINY_AUDIO_SHA256 = "b3d6ed890a0198aecd17598b6a9cb49337f1eba942e0855eb0d9f0de2cfc86b1"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One clip per intent (28 clips), seed 5, in a private cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESIM_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield synthetic_corpus(1, seed=5, progress=False), cache_path(1, seed=5)


def test_synthetic_corpus_shape_and_labels(tiny):
    corpus, _ = tiny
    assert len(corpus) == 28 == len(intents())
    assert corpus.audio.shape == (28, 64000) and corpus.audio.dtype == np.float32
    assert corpus.sample_rate == SAMPLE_RATE
    assert len(corpus.intent_names()) == 28
    assert all(len(i.split("|")) == 3 for i in corpus.intents)
    assert {i.split("|")[0] for i in corpus.intents} == {"activate", "deactivate", "increase",
                                                          "decrease", "bring"}
    assert set(corpus.speakers) <= set(VOICES) and len(set(corpus.speakers)) >= 8
    peaks = np.abs(corpus.audio).max(axis=1)
    assert (peaks > 0.25).all() and (peaks <= 0.91).all()
    # background noise: the lead-in before the speech is not digital silence
    assert (np.abs(corpus.audio[:, :400]).max(axis=1) > 0).all()


def test_fsc_style_corpus_is_unchanged(tiny):
    corpus, path = tiny
    assert hashlib.sha256(corpus.audio.tobytes()).hexdigest() == FSC_TINY_AUDIO_SHA256
    assert path.name.startswith("fsc-style_") and corpus.test_speakers == ()
    assert corpus.entities == ((),) * len(corpus) and corpus.scenarios == ()


def test_synthetic_corpus_is_reproducible_from_its_seed(tiny, tmp_path, monkeypatch):
    corpus, path = tiny
    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))       # fresh cache: synthesise again
    again = synthetic_corpus(1, seed=5, progress=False)
    assert np.array_equal(again.audio, corpus.audio)
    assert again.transcripts == corpus.transcripts and again.speakers == corpus.speakers
    other = synthetic_corpus(1, seed=6, progress=False)
    assert not np.array_equal(other.audio, corpus.audio)


def test_cache_is_read_back_and_a_corrupt_cache_regenerated(tiny, monkeypatch):
    corpus, path = tiny
    monkeypatch.setenv("EDGESIM_CACHE", str(path.parents[1]))
    assert path.is_file() and path.with_suffix(".json").is_file()
    stamp = path.stat().st_mtime_ns
    assert np.array_equal(synthetic_corpus(1, seed=5, progress=False).audio, corpus.audio)
    assert path.stat().st_mtime_ns == stamp                    # read, not rewritten
    path.write_bytes(path.read_bytes()[:1000])                 # truncated cache file
    assert np.array_equal(synthetic_corpus(1, seed=5, progress=False).audio, corpus.audio)


def test_espeak_voices_differ():
    a, rate = espeak_synthesise("turn on the lights", "m1")
    b, _ = espeak_synthesise("turn on the lights", "f3")
    assert rate == 22050 and len(a) > 0.3 * rate
    n = min(len(a), len(b))
    assert not np.allclose(a[:n], b[:n])
    with pytest.raises(AudioError, match="unknown eSpeak voice"):
        espeak_synthesise("hello", "nobody")


def test_split_is_stratified_and_disjoint(tiny):
    corpus, _ = tiny
    doubled = SpeechCorpus(np.concatenate([corpus.audio] * 3), SAMPLE_RATE,
                           corpus.transcripts * 3, corpus.intents * 3, corpus.speakers * 3)
    train, test = doubled.split(test_fraction=0.34, seed=0)
    assert len(train) + len(test) == len(doubled)
    assert set(test.intents) == set(train.intents) == set(doubled.intents)
    assert doubled.split(0.34, 0)[1].intents == test.intents        # deterministic
    with pytest.raises(AudioError):
        doubled.split(1.5)


def test_concatenate_keeps_every_label_in_order(tiny):
    corpus, _ = tiny
    a, b = corpus.subset([0, 1]), corpus.subset([2])
    both = a.concatenate(b)
    assert np.array_equal(both.audio, corpus.audio[:3])
    assert both.transcripts == corpus.transcripts[:3] and both.speakers == corpus.speakers[:3]
    assert both.scenarios == () and both.entities == ((),) * 3
    short = SpeechCorpus(np.zeros((1, 10), np.float32), corpus.sample_rate, ("x",), ("i",),
                         ("s",))
    with pytest.raises(AudioError, match="cannot join"):
        a.concatenate(short)


def test_corpus_rejects_mismatched_labels():
    with pytest.raises(AudioError, match="2 clips but 1 transcripts"):
        SpeechCorpus(np.zeros((2, 10), np.float32), SAMPLE_RATE, ("a",), ("x", "y"),
                     ("s", "t"))


def test_manifest_round_trip(tiny, tmp_path):
    from edgesim.speech_commands import write_wavs

    corpus, _ = tiny
    part = corpus.subset(range(5))
    write_wavs(part, tmp_path, progress=False)
    back = load_manifest(tmp_path, progress=False)
    assert back.transcripts == part.transcripts and back.intents == part.intents
    assert back.speakers == part.speakers
    assert np.max(np.abs(back.audio - part.audio)) < 1e-4          # 16-bit PCM


def test_manifest_errors(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,transcript,intent\na.wav,hi,x\n")
    with pytest.raises(AudioError, match="lacks the column"):
        load_manifest(tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_text("path,transcript,intent,speaker\na.wav,hi,x,s\n")
    with pytest.raises(AudioError, match="no such audio file"):
        load_manifest(tmp_path, progress=False)
    (tmp_path / "manifest.csv").write_text("path,transcript,intent,speaker\na.wav,,x,s\n")
    with pytest.raises(AudioError, match="empty transcript"):
        load_manifest(tmp_path, progress=False)
    with pytest.raises(AudioError, match="cannot read the manifest"):
        load_manifest(tmp_path / "nowhere", progress=False)


@pytest.mark.skipif(not FSDD.is_dir(), reason="../shared/data/fsdd not present")
def test_fsdd_loader_resamples_to_16k():
    corpus = load_fsdd(FSDD, clip_seconds=1.0, takes=[0], progress=False)
    assert len(corpus) == 60 and corpus.audio.shape == (60, 16000)
    assert corpus.sample_rate == SAMPLE_RATE
    assert len(corpus.speaker_names()) == 6 and len(corpus.intent_names()) == 10
    assert set(corpus.transcripts) == {"zero", "one", "two", "three", "four", "five", "six",
                                       "seven", "eight", "nine"}
    assert (np.abs(corpus.audio).max(axis=1) > 0.01).all()


def test_fsdd_bad_folder(tmp_path):
    with pytest.raises(AudioError, match="no such folder"):
        load_fsdd(tmp_path / "missing")
    (tmp_path / "hello.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="not an FSDD file name"):
        load_fsdd(tmp_path)
