"""Where `edgesim speech train` keeps what it trained, and the results JSON it writes.

Everything lives in `trained_dir()` = `cache_dir()/speech/trained` (EDGESIM_CACHE or
~/.cache/edgesim): `mask_generator_{s,m}.npz` (Keras weights plus the generator's segments and
samples), `results.json` (the figures below), the same as `results_<corpus>.json` (the last
run on each corpus) and `privacy_utility.png` (the curve). Every file
is written atomically, so a reader never sees a half-written one. This module imports neither
TensorFlow nor librosa.

results.json (schema 2):
    schema, created (UTC ISO time), quick (a --quick smoke run), config, seconds (wall time
    per stage and "total"),
    corpus {name ("fsc-style" | "slurp-style"), clips, train, test, intents, scenarios,
            speakers, test_speakers (held out of training; [] when train and test share
            speakers), entity_spans, seed, sample_rate, samples, accompanying_test},
    segments (k), gamma (the KL bound, nats),
    reference {wer_intent_oracle (WER of writing, for each test clip's true intent, that
               intent's most typical training wording: what knowing the intent alone gives
               an attacker), speaker_chance, offtheshelf_clips},
    maskers {"none" | "S" | "M" | "random": {
        intent_acc          the cloud SLU fine-tuned on this masker's masked train clips,
        scenario_acc        ... counting an intent of the right scenario (null: none),
        intent_acc_local    the local SLU (not fine-tuned) on the masked test clips,
        wer_passive         WER of the ASR attacker trained on clean speech,
        wer_adaptive        WER of that attacker fine-tuned on the masked train clips,
        wer_offtheshelf     WER of pocketsphinx on the first offtheshelf_clips test clips,
        entity_error_{passive,adaptive,offtheshelf}   share of entity words each misses
                            (null on corpora without entities),
        wer_accompanying    the passive attacker's WER on masked accompanying sentences,
        speaker_acc         speaker classifier trained and tested on masked clips,
        mask_ratio          fraction of segments zeroed on the test clips,
        speech_mask_ratio   fraction of the speech segments zeroed (within 20 dB of the
                            clip's loudest),
        test_kl             mean KL(local SLU on clean || on masked) on the test clips, nats,
        wer_intent_guess    WER of writing the heard intent's most typical wording,
        training            (S, M) the generator's training log}},
    curve [{masker ("S" | "random"), mask_ratio, speech_mask_ratio, test_kl, intent_acc,
            intent_acc_local, wer_passive, wer_adaptive, entity_error_adaptive,
            wer_intent_guess}],
    fsdd null or {clips, train, test, speakers, chance, speaker_accuracy_clean,
                  speaker_accuracy_random, speaker_accuracy_masked, mask_ratio},
    plot (path of the PNG).
WERs and error rates are fractions (1.0 = 100%), accuracies fractions of test clips.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesim.paths import cache_dir
from edgesim.errors import InputDataError

SCHEMA = 2


def trained_dir() -> Path:
    """The folder of trained speech artefacts (not created here)."""
    return cache_dir() / "speech" / "trained"


def results_path() -> Path:
    return trained_dir() / "results.json"


def corpus_results_path(corpus: str) -> Path:
    """The results of the last `edgesim speech train` on `corpus`."""
    return trained_dir() / f"results_{corpus}.json"


def load_results_by_corpus(folder: str | Path | None = None) -> dict[str, dict]:
    """{corpus: its last training results} of every `results_<corpus>.json` in `folder`
    (default trained_dir()), by corpus name."""
    folder = Path(folder) if folder is not None else trained_dir()
    found = {}
    for path in sorted(folder.glob("results_*.json")):
        data = load_training_results(path)
        found[data["corpus"]["name"]] = data
    return found


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
