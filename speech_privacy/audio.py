"""Waveform I/O and checks: WAV reading, validation, resampling and fixed-length clips.

Audio is float32 mono samples in [-1, 1]; rates are in Hz; lengths in samples.
All-silent audio (all zeros) is valid input: every function returns it unchanged in kind
(zeros stay zeros) and the models downstream handle it, since masked audio is mostly zeros.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from edgesim.errors import InputDataError

SAMPLE_RATE = 16000   # Hz, the rate of every corpus and model in speech_privacy


class AudioError(InputDataError):
    """An audio file or array that cannot be used (missing, corrupt, empty, NaN, wrong rate)."""


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as (float32 mono samples in [-1, 1], sample rate in Hz).

    Multi-channel files are averaged to mono. Missing, truncated, corrupt and non-WAV files
    raise AudioError naming the file.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    _check_riff(path)
    try:
        with soundfile.SoundFile(path) as f:
            if f.format not in ("WAV", "WAVEX"):
                raise AudioError(f"{path}: not a WAV file ({f.format})")
            samples = f.read(dtype="float32", always_2d=True)
            rate = f.samplerate
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise AudioError(f"{path}: unreadable WAV file: {_one_line(exc)}") from None
    audio = samples.mean(axis=1, dtype=np.float32)
    validate(audio, rate, expected_rate=rate, name=str(path))
    return audio, rate


def validate(audio: np.ndarray, sample_rate: int, expected_rate: int | None = SAMPLE_RATE,
             name: str = "audio") -> np.ndarray:
    """Check a float32 mono waveform (1-D, samples) or a batch of them (2-D, clips x samples)
    and return it unchanged. Raises AudioError for a non-array, a wrong dtype or ndim, empty
    audio, NaN or infinite samples, samples outside [-1, 1], or a rate other than
    `expected_rate` Hz (None accepts any positive rate). All-zero audio passes."""
    if not isinstance(audio, np.ndarray):
        raise AudioError(f"{name}: expected a numpy array, got {type(audio).__name__}")
    if audio.dtype != np.float32:
        raise AudioError(f"{name}: expected float32 samples, got {audio.dtype}")
    if audio.ndim not in (1, 2):
        raise AudioError(f"{name}: expected 1-D samples or 2-D clips x samples, "
                         f"got shape {list(audio.shape)}")
    if audio.size == 0 or audio.shape[-1] == 0:
        raise AudioError(f"{name}: empty audio (shape {list(audio.shape)})")
    if not np.isfinite(audio).all():
        raise AudioError(f"{name}: {int((~np.isfinite(audio)).sum())} NaN or infinite samples")
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        raise AudioError(f"{name}: samples must lie in [-1, 1], peak is {peak:.3g}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"{name}: sample rate must be a positive integer in Hz, "
                         f"got {sample_rate!r}")
    if expected_rate is not None and sample_rate != expected_rate:
        raise AudioError(f"{name}: sample rate {sample_rate} Hz, expected {expected_rate} Hz "
                         "(resample first)")
    return audio


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample float32 audio (last axis, samples) from `rate` to `target` Hz with librosa
    (soxr, high quality), clipped back into [-1, 1]."""
    validate(audio, rate, expected_rate=None)
    if rate == target:
        return audio
    import librosa

    out = librosa.resample(audio, orig_sr=rate, target_sr=target, axis=-1)
    return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Zero-pad at the end or crop the end of audio (last axis) to exactly `samples`."""
    if samples <= 0:
        raise AudioError(f"clip length must be a positive number of samples, got {samples}")
    have = audio.shape[-1]
    if have >= samples:
        return audio[..., :samples]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, samples - have)]
    return np.pad(audio, pad)


def _check_riff(path: Path) -> None:
    """Refuse files that are not RIFF/WAVE or whose data chunk is shorter than its header
    says (libsndfile would silently read the truncated part)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            raise AudioError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        if head[:4] == b"RF64":      # sizes live in a ds64 chunk; libsndfile checks those
            return
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise AudioError(f"{path}: truncated WAV file (no data chunk)")
            tag, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if tag == b"data":
                if length != 0xFFFFFFFF and f.tell() + length > size:
                    raise AudioError(f"{path}: truncated WAV file ({size - f.tell()} of "
                                     f"{length} data bytes present)")
                return
            f.seek(length + (length & 1), 1)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
