"""Waveform I/O and checks: WAV reading, validation, resampling and fixed-length clips.

Audio is float32 mono samples in [-1, 1]; rates are in Hz; lengths in samples.
All-silent audio (all zeros) is valid input: every function returns it unchanged in kind
(zeros stay zeros) and the models downstream handle it, since masked audio is mostly zeros.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from edgesim.errors import InputDataError
from edgesim.io import open_regular

SAMPLE_RATE = 16000   # Hz, the rate of every corpus and model in speech_privacy
MIN_RATE, MAX_RATE = 4000, 192000   # Hz: telephone speech to studio audio
MAX_CHANNELS = 16
MAX_SECONDS = 300     # the longest clip a file may hold: a corpus holds short utterances
#: The WAV encodings read (libsndfile subtype names); others (GSM 6.10, G.721, MP3 in WAV,
#: ...) are refused: libsndfile cannot tell their length before decoding.
ENCODINGS = ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW",
             "IMA_ADPCM", "MS_ADPCM")
#: The fmt chunk's encoding tags of those (WAVE_FORMAT_*), checked before libsndfile opens it.
FORMAT_TAGS = {0x0001: "PCM", 0x0002: "MS ADPCM", 0x0003: "IEEE float", 0x0006: "A-law",
               0x0007: "u-law", 0x0011: "IMA ADPCM"}
OTHER_TAGS = {0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM", 0x0050: "MPEG", 0x0055: "MP3",
              0x0000: "unknown", 0x0161: "WMA"}


class AudioError(InputDataError):
    """An audio file or array that cannot be used (missing, corrupt, empty, NaN, wrong rate)."""


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as (float32 mono samples in [-1, 1], sample rate in Hz).

    Multi-channel files are averaged to mono. Missing, truncated, corrupt and non-WAV files,
    non-regular files (a FIFO would block), encodings outside `ENCODINGS`, rates outside
    `MIN_RATE`..`MAX_RATE` Hz, more than `MAX_CHANNELS` channels and clips longer than
    `MAX_SECONDS` (judged from the header, before decoding) raise AudioError naming the file.
    """
    import soundfile

    path = Path(path)
    try:
        raw = open_regular(path, "audio file", AudioError)
    except FileNotFoundError:
        raise AudioError(f"{path}: no such audio file") from None
    with raw:
        encoding = _check_riff(raw, path)
        raw.seek(0)
        try:
            with soundfile.SoundFile(raw) as f:
                audio, rate = _decode(f, path)
        except (soundfile.SoundFileError, RuntimeError, ValueError, OSError) as exc:
            why = getattr(exc, "error_string", None) or _one_line(exc)
            raise AudioError(f"{path}: unreadable WAV file ({encoding}): {why}") from None
    validate(audio, rate, expected_rate=rate, name=str(path))
    return audio, rate


def _decode(f, path: Path) -> tuple[np.ndarray, int]:
    """The samples of open SoundFile `f`, averaged to mono block by block, after checking
    what its header declares."""
    if f.format not in ("WAV", "WAVEX"):
        raise AudioError(f"{path}: not a WAV file ({f.format})")
    if f.subtype not in ENCODINGS:
        raise AudioError(f"{path}: WAV encoding {f.subtype} ({f.subtype_info}) is not "
                         f"supported (supported: {', '.join(ENCODINGS)})")
    if not 1 <= f.channels <= MAX_CHANNELS:
        raise AudioError(f"{path}: {f.channels} channels (1 to {MAX_CHANNELS} are supported)")
    rate = f.samplerate
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{path}: sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
    limit = MAX_SECONDS * rate
    if f.frames > limit:
        raise AudioError(f"{path}: {f.frames} frames ({f.frames / rate:.0f} s) exceed the "
                         f"{MAX_SECONDS} s a clip may last")
    blocks, frames = [], 0
    for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
        frames += len(block)
        if frames > limit:
            raise AudioError(f"{path}: more than the {MAX_SECONDS} s a clip may last")
        with np.errstate(invalid="ignore", over="ignore"):     # `validate` reports NaN, inf
            blocks.append(block.mean(axis=1, dtype=np.float32))
    return (np.concatenate(blocks) if blocks else np.zeros(0, np.float32)), rate


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
    for name, value in (("rate", rate), ("target rate", target)):
        if not MIN_RATE <= value <= MAX_RATE:
            raise AudioError(f"resample: {name} {value} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
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


def _check_riff(f, path: Path) -> str:
    """Refuse files that are not RIFF/WAVE, with an unsupported encoding, or whose data
    chunk is shorter than its header says (libsndfile would silently read the truncated
    part). `f`: the open file. Returns the encoding in words, for error messages."""
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    if head[:4] == b"RF64":      # sizes live in a ds64 chunk; libsndfile checks those
        return "RF64"
    size, encoding = os.fstat(f.fileno()).st_size, "no fmt chunk"
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise AudioError(f"{path}: truncated WAV file (no data chunk)")
        tag, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if tag == b"fmt ":
            fmt = f.read(min(length, 26))
            encoding = _check_encoding(fmt, path)
            f.seek(-len(fmt), 1)
        if tag == b"data":
            if length != 0xFFFFFFFF and f.tell() + length > size:
                raise AudioError(f"{path}: truncated WAV file ({size - f.tell()} of "
                                 f"{length} data bytes present)")
            return encoding
        f.seek(length + (length & 1), 1)


def _check_encoding(fmt: bytes, path: Path) -> str:
    """Refuse a fmt chunk whose encoding tag (or, for WAVE_FORMAT_EXTENSIBLE, sub-format)
    is none of `FORMAT_TAGS`, naming the encoding; else return it in words ("PCM 16-bit")."""
    if len(fmt) < 16:
        return "a short fmt chunk"
    tag, bits = struct.unpack_from("<H", fmt)[0], struct.unpack_from("<H", fmt, 14)[0]
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if tag not in FORMAT_TAGS:
        name = OTHER_TAGS.get(tag, "unknown")
        raise AudioError(f"{path}: WAV encoding tag 0x{tag:04x} ({name}) is not supported "
                         f"(supported: {', '.join(FORMAT_TAGS.values())})")
    return f"{FORMAT_TAGS[tag]} {bits}-bit"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
