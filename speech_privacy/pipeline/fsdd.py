"""Speaker privacy on real speech: FSDD's six speakers, clean and masked."""

from __future__ import annotations

from pathlib import Path

from .config import TrainConfig
from .masks import masked


def fsdd_speaker_privacy(folder: Path, generator, cfg: TrainConfig, progress: bool) -> dict:
    """Speaker accuracy on FSDD (train takes 5-49, test takes 0-4, 1 s clips): clean, masked
    by `generator`'s per-segment weights (its segment length, 1 s / k' segments) and by Random
    masks at cfg.random_ratio."""
    from ..attacks.speaker import train_speaker_classifier
    from ..datasets import load_fsdd
    from ..mask.generator import GeneratorConfig, RandomMask, build_generator

    test = load_fsdd(folder, clip_seconds=1.0, takes=range(5), progress=progress)
    train = load_fsdd(folder, clip_seconds=1.0, takes=range(5, 50), progress=progress)
    speakers = len(set(train.speakers) | set(test.speakers))
    out = {"clips": len(train) + len(test), "train": len(train), "test": len(test),
           "speakers": speakers, "chance": 1.0 / speakers}
    out["speaker_accuracy_clean"] = train_speaker_classifier(
        train, cfg.speaker_epochs, cfg.seed).accuracy(test)
    seg = generator.config.segment_samples if generator is not None else 640
    k = train.audio.shape[1] // seg
    rand = RandomMask(k, 1.0 - cfg.random_ratio, cfg.seed)
    m_tr, m_te = rand.masks(train.audio), rand.masks(test.audio)
    out["speaker_accuracy_random"] = train_speaker_classifier(
        masked(train, m_tr), cfg.speaker_epochs, cfg.seed).accuracy(masked(test, m_te))
    out["speaker_accuracy_masked"] = out["mask_ratio"] = None
    if generator is not None and generator.variant == "S" and train.audio.shape[1] % seg == 0:
        small = build_generator("S", GeneratorConfig(samples=train.audio.shape[1], segments=k))
        small.keras.set_weights(generator.keras.get_weights())
        m_tr, m_te = small.masks(train.audio), small.masks(test.audio)
        out["mask_ratio"] = float(1.0 - m_te.mean())
        out["speaker_accuracy_masked"] = train_speaker_classifier(
            masked(train, m_tr), cfg.speaker_epochs, cfg.seed).accuracy(masked(test, m_te))
    return out
