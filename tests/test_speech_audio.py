"""Audio validation and WAV reading: every bad input is one clear AudioError (an
InputDataError, so `edgesim` exits 2 with one line), silent audio is valid."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile

from edgesim.errors import EdgesimError, InputDataError
from speech_privacy.audio import (SAMPLE_RATE, AudioError, fit_length, read_wav, resample,
                                  validate)


def _wav(path, audio, rate=SAMPLE_RATE):
    soundfile.write(path, audio, rate, subtype="PCM_16", format="WAV")
    return path


def test_audio_error_is_an_input_data_error():
    assert issubclass(AudioError, InputDataError) and issubclass(AudioError, EdgesimError)


@pytest.mark.parametrize("audio, rate, match", [
    (np.zeros(0, np.float32), SAMPLE_RATE, "empty audio"),
    (np.zeros((3, 0), np.float32), SAMPLE_RATE, "empty audio"),
    (np.array([0.1, np.nan, 0.2], np.float32), SAMPLE_RATE, "1 NaN or infinite"),
    (np.array([0.1, np.inf], np.float32), SAMPLE_RATE, "NaN or infinite"),
    (np.full(100, 0.1, np.float32), 8000, "sample rate 8000 Hz, expected 16000"),
    (np.full(100, 0.1, np.float64), SAMPLE_RATE, "float32"),
    (np.full(100, 1.5, np.float32), SAMPLE_RATE, r"\[-1, 1\]"),
    (np.zeros((2, 2, 2), np.float32), SAMPLE_RATE, "1-D samples or 2-D"),
    ([0.0, 0.1], SAMPLE_RATE, "numpy array"),
    (np.full(100, 0.1, np.float32), -5, "positive integer"),
])
def test_validate_rejects_bad_audio_with_one_line(audio, rate, match):
    with pytest.raises(AudioError, match=match) as info:
        validate(audio, rate)
    assert "\n" not in str(info.value)


def test_silent_audio_is_valid_and_stays_silent():
    silent = np.zeros((2, 16000), np.float32)
    assert validate(silent, SAMPLE_RATE) is silent
    up = resample(np.zeros(8000, np.float32), 8000)
    assert up.shape == (16000,) and not up.any()


def test_silent_audio_gives_finite_features_and_empty_transcript_statistics():
    from speech_privacy.attacks.speaker import clip_statistics
    from speech_privacy.features import frame_energy, log_mel, mfcc

    silent = np.zeros((1, 16000), np.float32)
    assert np.isfinite(log_mel(silent, SAMPLE_RATE)).all()
    assert np.isfinite(mfcc(silent, SAMPLE_RATE)).all()
    assert not frame_energy(silent).any()
    assert not clip_statistics(silent).any()       # defined: zeros, not NaN


def test_read_wav_round_trip_and_resample(tmp_path):
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio, rate = read_wav(_wav(tmp_path / "a.wav", tone, 8000))
    assert rate == 8000 and audio.dtype == np.float32
    assert np.max(np.abs(audio - tone)) < 1e-3
    up = resample(audio, rate)
    assert up.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(up))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(up) - 440) < 2


def test_truncated_wav_is_refused(tmp_path):
    path = _wav(tmp_path / "t.wav", np.full(4000, 0.25, np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(AudioError, match="truncated WAV file"):
        read_wav(path)


def test_header_only_wav_is_refused(tmp_path):
    path = tmp_path / "h.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 4) + b"WAVE")
    with pytest.raises(AudioError, match="truncated WAV file"):
        read_wav(path)


@pytest.mark.parametrize("content, match", [(b"", "not a WAV"), (b"hello world, not audio",
                                                                  "not a WAV")])
def test_non_wav_and_empty_files_are_refused(tmp_path, content, match):
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=match):
        read_wav(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        read_wav(tmp_path / "nope.wav")


def test_empty_wav_is_refused(tmp_path):
    path = _wav(tmp_path / "e.wav", np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="empty audio"):
        read_wav(path)


def test_fit_length_pads_and_crops():
    x = np.arange(1, 6, dtype=np.float32)[None] / 10
    assert fit_length(x, 8).tolist()[0][5:] == [0, 0, 0]
    assert fit_length(x, 3).shape == (1, 3)
    with pytest.raises(AudioError):
        fit_length(x, 0)
