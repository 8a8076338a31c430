"""Log-mel and MFCC features with librosa, frames x coefficients, float32.

Frames are `hop` samples apart (160 = 10 ms at 16 kHz) and `win` samples long (400 = 25 ms),
centred, so a clip of n samples gives 1 + n // hop frames. Power is floored at 1e-10 before
the logarithm, so all-zero (masked) audio gives finite features.
"""

from __future__ import annotations

import numpy as np

from .audio import AudioError, validate

N_MELS = 40        # mel bands
FMIN, FMAX = 20.0, 7600.0   # Hz, the mel filterbank's edges for 16 kHz speech


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = N_MELS, hop: int = 160,
            win: int = 400) -> np.ndarray:
    """Log mel power spectrum in dB (ref 1.0, no per-clip clamping): [frames, n_mels] for one
    clip (1-D samples), [clips, frames, n_mels] for a batch (2-D)."""
    import librosa

    validate(audio, sample_rate, expected_rate=None)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=sample_rate, n_fft=_n_fft(win), hop_length=hop, win_length=win,
        n_mels=n_mels, fmin=FMIN, fmax=min(FMAX, sample_rate / 2), power=2.0)
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    return np.swapaxes(db, -1, -2).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int, n_mfcc: int = 13, hop: int = 160,
         win: int = 400, n_mels: int = N_MELS) -> np.ndarray:
    """MFCCs (DCT-II of the log mel spectrum): [frames, n_mfcc] for one clip (1-D samples),
    [clips, frames, n_mfcc] for a batch (2-D)."""
    import librosa

    if not 1 <= n_mfcc <= n_mels:
        raise AudioError(f"n_mfcc must lie in 1..{n_mels}, got {n_mfcc}")
    db = log_mel(audio, sample_rate, n_mels, hop, win)
    coeffs = librosa.feature.mfcc(S=np.swapaxes(db, -1, -2), n_mfcc=n_mfcc)
    return np.swapaxes(coeffs, -1, -2).astype(np.float32)


def frame_energy(audio: np.ndarray, hop: int = 160, win: int = 400) -> np.ndarray:
    """Mean power of each frame (same framing as `mfcc`): [frames] or [clips, frames];
    exactly 0 where the frame's samples are all zero (padding or masked)."""
    import librosa

    padded = np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(_n_fft(win) // 2,) * 2])
    frames = librosa.util.frame(padded, frame_length=_n_fft(win), hop_length=hop)
    return np.mean(frames.astype(np.float64) ** 2, axis=-2).astype(np.float32)


def voiced_frames(clips: np.ndarray, frames: int, hop: int = 320, win: int = 400,
                  floor_db: float = -20.0) -> np.ndarray:
    """bool [clips, frames]: frames (`win` samples every `hop`; by default the encoders' 25 ms
    windows every 20 ms at 16 kHz) whose RMS is within `floor_db` dB of the clip's loudest
    frame; never an all-zero frame."""
    idx = np.arange(frames)[:, None] * hop + np.arange(win)[None, :]
    idx = np.minimum(idx, clips.shape[1] - 1)
    rms = np.sqrt((clips[:, idx].astype(np.float64) ** 2).mean(-1))
    return rms >= rms.max(axis=1, keepdims=True) * 10 ** (floor_db / 20) + 1e-12


def _n_fft(win: int) -> int:
    """FFT size: the next power of two at or above the window length."""
    return 1 << (win - 1).bit_length()
