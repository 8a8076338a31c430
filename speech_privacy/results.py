"""Where `edgesim speech train` keeps what it trained, and the results JSON it writes.

Everything lives in `trained_dir()` = `cache_dir()/speech/trained` (EDGESIM_CACHE or
~/.cache/edgesim): `mask_generator_{s,m}.npz` (Keras weights plus the generator's segments and
samples), `results.json` (the figures below) and `privacy_utility.png` (the curve). Every file
is written atomically, so a reader never sees a half-written one. This module imports neither
TensorFlow nor librosa.

results.json (schema 1):
    schema, created (UTC ISO time), seconds (wall time per stage and "total"),
    corpus {name, clips, train, test, intents, speakers, seed, utterances_per_intent,
            sample_rate, samples},
    segments (k), gamma (the KL bound, nats),
    unmasked {intent_accuracy (the local SLU fine-tuned as long as the cloud SLUs, on clean
              audio), intent_accuracy_local, wer_asr, speaker_accuracy,
              wer_intent_oracle (WER of writing, for each test clip's true intent, that
              intent's most typical training wording, metrics.intent_guess_transcripts: what
              knowing the intent alone gives an attacker)}   (clean test clips),
    maskers {"mask_generator_s" | "mask_generator_m" | "random_mask": {
        mask_ratio          fraction of segments zeroed on the test clips,
        speech_mask_ratio   fraction of the speech segments zeroed (segments within 20 dB
                            of the clip's loudest; padding and background noise left out),
        kl                  mean KL(local SLU on clean || on masked), nats,
        intent_accuracy_local   the local SLU (not fine-tuned on this masker) on masked
                            test clips,
        intent_accuracy     the cloud SLU fine-tuned on this masker's masked audio,
        wer_asr             WER of the ASR attacker trained on clean audio,
        wer_adaptive        WER of that attacker fine-tuned on masked audio,
        wer_intent_guess    WER of writing, for the intent the cloud SLU hears, that intent's
                            most typical training wording (what the utility itself leaks),
        speaker_accuracy    speaker classifier trained and tested on masked clips}},
    speaker_chance, curve [{masker, mask_ratio, speech_mask_ratio, intent_accuracy,
                            intent_accuracy_local, wer_asr, wer_adaptive, wer_intent_guess}],
    fsdd null or {clips, train, test, speakers, chance, speaker_accuracy_clean,
                  speaker_accuracy_random, speaker_accuracy_masked, mask_ratio},
    plot (path of the PNG).
WERs are fractions (1.0 = 100%), accuracies fractions of test clips.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesim.paths import cache_dir
from edgesim.errors import InputDataError

SCHEMA = 1
MASKERS = ("mask_generator_s", "mask_generator_m", "random_mask")


def trained_dir() -> Path:
    """The folder of trained speech artefacts (not created here)."""
    return cache_dir() / "speech" / "trained"


def results_path() -> Path:
    return trained_dir() / "results.json"


def generator_path(variant: str) -> Path:
    return trained_dir() / f"mask_generator_{variant.lower()}.npz"


def load_training_results(path: str | Path | None = None) -> dict | None:
    """The results JSON of the last `edgesim speech train` (see the module docstring), or
    None when it never ran. A file that exists but is unreadable raises InputDataError."""
    path = Path(path) if path is not None else results_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: unreadable training results: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputDataError(f"{path}: training results of an unknown schema "
                             f"(expected {SCHEMA}); rerun `edgesim speech train`")
    return data
