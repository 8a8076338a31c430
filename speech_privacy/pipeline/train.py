"""train_all(): the stages in order, then results.json, the generators and the plot."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from ..results import SCHEMA, corpus_results_path, results_path, trained_dir
from . import stages
from .config import Stopwatch, TrainConfig
from .fsdd import fsdd_speaker_privacy
from .plot import plot_curve


def train_all(config: TrainConfig | None = None, progress: bool = True, say=print,
              out_dir: str | Path | None = None) -> dict:
    """Run every stage, save the generators, results.json and the PNG into `out_dir`
    (default results.trained_dir()) and return the results (schema in speech_privacy.results)."""
    from edgesim.io import atomic_write

    from ..mask.gate import MaskError

    cfg = config or TrainConfig()
    for r in (cfg.random_ratio, *cfg.curve_ratios):
        if not 0.0 <= r < 1.0:
            raise MaskError(f"mask ratios must lie in [0, 1), got {r}")
    out = Path(out_dir) if out_dir is not None else trained_dir()
    run = stages.Run(cfg, Stopwatch(), progress, say)
    t_all = time.perf_counter()
    stages.load_data(run)
    refs = stages.train_references(run)
    generators, logs = stages.train_generators(run, refs, out)
    maskers = stages.evaluate_maskers(run, refs, generators, logs)
    curve = stages.privacy_curve(run, refs, generators)
    fsdd = None
    if cfg.fsdd:
        t = time.perf_counter()
        fsdd = fsdd_speaker_privacy(Path(cfg.fsdd), generators.get("S"), cfg, progress)
        run.clock("fsdd", t)
        say(f"FSDD: speaker accuracy clean {fsdd['speaker_accuracy_clean']:.3f}, masked "
            f"(S) {fsdd['speaker_accuracy_masked']}, random "
            f"{fsdd['speaker_accuracy_random']:.3f}, chance {fsdd['chance']:.3f}")
    run.clock("total", t_all)

    corpus, train, test = run.corpus, run.train, run.test
    results = {
        "schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": cfg.quick,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "seconds": run.clock.seconds,
        "corpus": {"name": cfg.corpus, "clips": len(corpus), "train": len(train),
                   "test": len(test), "intents": len(corpus.intent_names()),
                   "scenarios": len(corpus.scenario_names()),
                   "speakers": len(corpus.speaker_names()),
                   "test_speakers": list(corpus.test_speakers),
                   "entity_spans": sum(len(e) for e in corpus.entities), "seed": cfg.seed,
                   "sample_rate": corpus.sample_rate, "samples": int(corpus.audio.shape[1]),
                   "accompanying_test": len(run.accompanying_test)
                   if run.accompanying_test is not None else 0},
        "segments": cfg.segments, "gamma": cfg.gamma, "reference": refs.reference,
        "maskers": maskers, "curve": curve, "fsdd": fsdd,
        "plot": str(out / "privacy_utility.png")}
    atomic_write(out / "privacy_utility.png", plot_curve(results))
    blob = json.dumps(results, indent=2).encode()
    atomic_write(out / results_path().name, blob)
    atomic_write(out / corpus_results_path(cfg.corpus).name, blob)
    return results
