"""Masks as arrays: a generator's ranking at a chosen ratio, the share of speech they zero,
and a corpus with its clips masked."""

from __future__ import annotations

import dataclasses

import numpy as np


def ranked_masks(log_alpha: np.ndarray, mask_ratio: float) -> np.ndarray:
    """Binary masks [N, k] that keep, per clip, the round((1 - mask_ratio) * k) segments with
    the highest gate logits (ties by position)."""
    k = log_alpha.shape[1]
    keep = round((1.0 - mask_ratio) * k)
    order = np.argsort(-log_alpha, axis=1, kind="stable")
    masks = np.zeros_like(log_alpha, dtype=np.float32)
    np.put_along_axis(masks, order[:, :keep], 1.0, axis=1)
    return masks


def speech_mask_ratio(audio: np.ndarray, masks: np.ndarray, floor_db: float = -20.0) -> float:
    """Fraction of the speech segments that the masks zero, where a segment counts as speech
    when its RMS lies within `floor_db` dB of the loudest segment of its clip
    (features.voiced_frames; this leaves out the zero padding and most of the background
    noise around the command)."""
    from ..features import voiced_frames

    k = masks.shape[1]
    length = audio.shape[1] // k
    speech = voiced_frames(audio, k, hop=length, win=length, floor_db=floor_db)
    return float(1.0 - masks[speech].mean()) if speech.any() else 0.0


def masked(corpus, masks: np.ndarray):
    """A copy of `corpus` (labels, entity spans and all) whose clips are multiplied by the
    segment masks [N, k]."""
    from ..mask.gate import apply_mask

    return dataclasses.replace(corpus, audio=apply_mask(corpus.audio, masks).numpy())
