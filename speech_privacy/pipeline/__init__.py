"""What `edgesim speech train` runs (train.py, one function per stage in stages.py): every model of the SILENCE experiment on one corpus, the
attacks on masked audio, and the results JSON and privacy/utility plot.

Stages (on the default corpus's train split; every figure on its test split):
  1. local SLU (the intent model whose output the mask must preserve), on clean clips and,
     by default, clips with random segments zeroed (TrainConfig.slu_drop),
  2. ASR attacker (CTC) on clean clips, speaker classifier on clean clips (references),
  3. mask generators S and M with the DiffMask objective against the local SLU (gate noise
     annealed, TrainConfig.mask_anneal),
  4. per masker (S, M, Random at `random_ratio`): deterministic masks, the cloud SLU
     fine-tuned on masked train clips, the clean ASR's WER on masked test clips, the adaptive
     ASR (the clean ASR fine-tuned on masked train clips), the intent-guess attacker (the
     cloud SLU's intent, written in that intent's most typical training wording;
     metrics.intent_guess_transcripts) and a speaker classifier trained on masked clips,
  5. the privacy/utility curve: for each mask ratio in `curve_ratios`, Random masks and the S
     generator's ranking (keep the segments with the highest gate logits), each with its own
     cloud SLU and adaptive ASR fine-tuned at that ratio (the same budgets as in 4),
  6. on FSDD (real speech, 6 speakers) where present: speaker accuracy on clean and masked
     clips (the S generator's weights, which are per segment, applied to 1 s clips, and
     Random at `random_ratio`).
"""

from __future__ import annotations

from .config import Stopwatch, TrainConfig
from .masks import masked, ranked_masks, speech_mask_ratio
from .plot import plot_curve
from .train import train_all

__all__ = ["Stopwatch", "TrainConfig", "masked", "plot_curve", "ranked_masks",
           "speech_mask_ratio", "train_all"]
