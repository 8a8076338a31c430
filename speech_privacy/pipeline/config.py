"""The sizes of every stage of `edgesim speech train`, and the per-stage wall clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Sizes of every stage. The defaults keep a full run within CPU-only training; the
    run's per-stage wall time is recorded in its results (`Stopwatch`)."""

    corpus: str = "fsc-style"     # speech_privacy.corpus.CORPORA
    utterances_per_intent: int | None = None    # None: the corpus's own
    accompanying: int = 240       # free sentences for WER on general speech (0: none)
    # The attackers' recogniser trains on speech of its own (corpus.attacker_corpus): this
    # many commands per intent, with every entity value, and the training voices' share of
    # this many free sentences; none of it is a clip of the run.
    attacker_utterances_per_intent: int = 40
    attacker_sentences: int = 1000
    offtheshelf_clips: int = 40   # test clips pocketsphinx transcribes per masker (~1-2 s each)
    quick: bool = False           # a smoke run: figures mean little
    validation_share: float = 0.15    # train clips held out of generator training to set
                                      # its operating threshold (mask/calibrate.py)
    kl_confidence: float = 0.95       # ... where the mean KL's upper bound at this
                                      # confidence must be <= gamma
    seed: int = 0
    segments: int = 100
    gamma: float = 0.15
    variants: tuple[str, ...] = ("S", "M")
    slu_epochs: int = 80          # twice the clean-only budget: it also learns sparse audio
    asr_epochs: int = 25
    mask_steps: int = 1000
    mask_batch: int = 16
    # Adam's learning rate per generator. M's attention moves every gate of a clip together:
    # at S's rate it closes them all within a few dozen steps while the KL is still below
    # gamma, so the multiplier is still 0, and a closed gate gets no gradient to reopen
    # (mask.train's collapse guard); at a third of it the multiplier keeps up.
    mask_lr: dict = field(default_factory=lambda: {"S": 3e-3, "M": 1e-3})
    # The local SLU is trained with segment-drop augmentation (a random 40-90% of the
    # segments zeroed on all but `slu_clean_share` of the clips; slu.train_slu), so that
    # zeroing speech segments costs KL in proportion to the intent evidence they carry; and
    # the gate noise is annealed away over the first `mask_anneal` of the generator's steps
    # (mask.train), so that the KL bound holds for the deterministic mask the device sends.
    # None and 0.0 give the plain DiffMask setting (clean local SLU, full noise throughout),
    # under which the generator zeroes mostly silence and leaves the speech segments, and so
    # the words, to the attacker; the results JSON records the masked shares, WER and intent.
    slu_drop: tuple[float, float] | None = (0.4, 0.9)
    slu_clean_share: float = 0.1
    mask_anneal: float = 0.75
    cloud_epochs: int = 15
    # Every adaptive attacker (trained maskers and curve points alike) gets this budget of
    # fine-tuning on the masked train clips, from the passive attacker.
    adaptive_epochs: int = 10
    speaker_epochs: int = 300
    random_ratio: float = 0.5
    curve_ratios: tuple[float, ...] = (0.5, 0.75, 0.9)
    fsdd: str | None = None       # FSDD folder (edgesim.paths.fsdd_dir); None skips it


@dataclass
class Stopwatch:
    seconds: dict = field(default_factory=dict)

    def __call__(self, name: str, start: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 1)
