"""The generator's operating point, set on held-out clips: the KL bound gamma must hold for
the deterministic mask the device applies on clips the generator was not trained on, not only
for the noisy gates of training. Among the gate-logit thresholds, the one that zeroes the most
segments while the mean KL(local SLU on clean || on masked) stays <= gamma on the validation
clips, with confidence: the mean's one-sided upper confidence bound (mean + z x standard
error, z the normal quantile of `confidence`) must hold it, since a few dozen validation
clips give a noisy mean and the bound is meant for the clips to come. Keeping every segment
gives KL 0, so a threshold always exists and a generator whose gates all closed in training
cannot zero every clip unless the intent survives it."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from .gate import MaskError, apply_mask
from .train import clip_kl


def operating_threshold(generator, local, clips: np.ndarray, gamma: float,
                        points: int = 33, clean: np.ndarray | None = None,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """(threshold, validation KL, its upper confidence bound; nats) for `generator` against
    the local SLU `local` (an object with logits(audio)) on validation `clips`, scanning
    `points` thresholds from "zero everything" down to "keep everything" (quantiles of the
    clips' gate logits). `clean`: the local SLU's logits on `clips`, where the caller has
    them. `confidence` 0.5 bounds the mean itself."""
    if not 0.5 <= confidence < 1.0:
        raise MaskError(f"confidence must lie in [0.5, 1), got {confidence}")
    z = NormalDist().inv_cdf(confidence)
    log_alpha = generator.log_alpha(clips)
    clean = local.logits(clips) if clean is None else clean
    top, bottom = float(log_alpha.max()) + 1e-3, float(log_alpha.min()) - 1e-3
    inner = np.quantile(log_alpha, np.linspace(1.0, 0.0, points))
    previous = None
    for threshold in [top, *sorted(set(inner.tolist()), reverse=True)]:
        masks = (log_alpha > threshold).astype(np.float32)
        if previous is not None and np.array_equal(masks, previous):
            continue                   # the same masks as the threshold before: same KL
        previous = masks
        kl = clip_kl(clean, local.logits(apply_mask(clips, masks).numpy()))
        error = kl.std(ddof=1) / np.sqrt(len(kl)) if len(kl) > 1 else 0.0
        bound = float(kl.mean() + z * error)
        if bound <= gamma:
            return float(threshold), float(kl.mean()), bound
    return bottom, 0.0, 0.0            # every segment kept: the clean clips themselves
