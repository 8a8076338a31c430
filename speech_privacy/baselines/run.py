"""`edgesim speech baselines`: the reduced-width baselines (train.py) trained once per seed on
the FSC-style corpus's split, with each figure's mean and spread over the seeds, written to
`baselines_path()` (JSON, atomically) for `edgesim speech bench` to report."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .results import BASELINES_SCHEMA, SPREAD_KEYS, baselines_path, load_baseline_results

KINDS = ("ppslu", "vae")


def spread(runs: dict[str, dict]) -> dict:
    """Per SPREAD_KEYS figure over the seeds' `runs` ({seed: train_baseline() result}): the
    mean under the figure's own key, and `<key>_std` (sample standard deviation; 0 for one
    seed), `<key>_min`, `<key>_max`."""
    out = {"seeds": len(runs)}
    for key in SPREAD_KEYS:
        xs = np.array([r[key] for r in runs.values()], np.float64)
        out[key] = round(float(xs.mean()), 4)
        out[f"{key}_std"] = round(float(xs.std(ddof=1)) if len(xs) > 1 else 0.0, 4)
        out[f"{key}_min"], out[f"{key}_max"] = round(float(xs.min()), 4), round(float(xs.max()), 4)
    return out


def train_baselines(seeds=(0, 1, 2), seconds: float = 240.0, kinds=KINDS,
                    adversary_weight: float | None = None, reference: bool = False,
                    out: str | Path | None = None, progress: bool = True, say=print) -> dict:
    """Train each of `kinds` once per seed for about `seconds` of wall time each (with
    `reference`, only measure the attackers on clean MFCC frames) and write the results,
    merged into those already at `out`; returns them."""
    from edgesim.io import atomic_write

    from ..corpus import load_default_corpus
    from .train import ADVERSARY_WEIGHT, reference_probes, train_baseline

    weight = ADVERSARY_WEIGHT if adversary_weight is None else adversary_weight
    corpus = load_default_corpus(progress=progress)
    train, test = corpus.split(0.2, seed=0)
    out = Path(out) if out else baselines_path()
    results = load_baseline_results(out) or {}
    results.update({"schema": BASELINES_SCHEMA,
                    "corpus": {"name": "fsc-style", "train": len(train), "test": len(test),
                               "intents": len(corpus.intent_names()),
                               "speakers": len(corpus.speaker_names())},
                    "note": "reduced-width copies trained briefly on a shared CPU: "
                            "undertrained; cost figures use the real-size architectures"})

    def save():
        results["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write(out, (json.dumps(results, indent=2) + "\n").encode())

    if reference:
        results["attackers_on_clean_mfcc"] = reference_probes(train, test, progress=progress)
        save()
        return results
    for kind in kinds:
        runs = {}
        for seed in seeds:
            r = train_baseline(kind, train, test, seconds, adversary_weight=weight, seed=seed,
                               progress=progress)
            runs[str(seed)] = r
            say(f"{kind} seed {seed}: intent accuracy {r['intent_accuracy']:.3f}, ASR-probe "
                f"WER {r['wer_asr_probe']:.3f}, speaker-probe accuracy "
                f"{r['speaker_accuracy_probe']:.3f} (chance {r['speaker_chance']:.3f}), "
                f"{r['train_seconds']} s, {r['epochs']} epochs")
            first = next(iter(runs.values()))
            results[kind] = {**spread(runs), "speaker_chance": first["speaker_chance"],
                             "architecture": first["architecture"],
                             "train_seconds": round(float(np.mean(
                                 [x["train_seconds"] for x in runs.values()])), 1),
                             "epochs": [x["epochs"] for x in runs.values()],
                             "adversary_weight": weight, "runs": runs}
            save()
    return results
