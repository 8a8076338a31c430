"""What each `edgesim speech` subcommand does, once cli_speech.py has parsed it: `HANDLERS`
by subcommand name, each `handler(args) -> exit status`. Heavy packages are imported inside the
handlers."""

from __future__ import annotations

import json
import sys

from edgesim.logs import import_tensorflow


def _say(args):
    stream = sys.stderr if args.json else sys.stdout
    return lambda text: print(text, file=stream, flush=True)


def _corpus(args) -> int:
    import numpy as np

    from speech_privacy.corpus import grammar, load_corpus
    from speech_privacy.datasets import load_fsdd, load_manifest

    progress = not args.no_progress
    if args.manifest:
        corpus, source = load_manifest(args.manifest, progress=progress), args.manifest
    elif args.fsdd:
        corpus, source = load_fsdd(args.fsdd, progress=progress), args.fsdd
    else:
        per_intent = (args.utterances_per_intent
                      or grammar(args.corpus).DEFAULT_UTTERANCES_PER_INTENT)
        corpus = load_corpus(args.corpus, per_intent, args.seed, progress)
        source = "synthetic (eSpeak NG)"
    voiced = np.abs(corpus.audio) > 1e-4
    summary = {"source": str(source), "clips": len(corpus), "sample_rate": corpus.sample_rate,
               "samples": int(corpus.audio.shape[1]),
               "seconds_per_clip": corpus.audio.shape[1] / corpus.sample_rate,
               "intents": len(corpus.intent_names()), "speakers": corpus.speaker_names(),
               "distinct_transcripts": len(set(corpus.transcripts)),
               "silent_clips": int((~voiced.any(axis=1)).sum()),
               "peak": float(np.abs(corpus.audio).max()), **_content(corpus)}
    if not (args.manifest or args.fsdd):
        from speech_privacy.corpus import accompanying_corpus, cache_path

        summary["corpus"] = args.corpus
        summary["seed"] = args.seed
        summary["cache"] = str(cache_path(per_intent, args.seed, corpus=args.corpus))
        if corpus.test_speakers:     # what split_by_speaker() gives, counted without copies
            test = sum(s in corpus.test_speakers for s in corpus.speakers)
            summary["split"] = {"by": "speaker", "train": len(corpus) - test, "test": test}
        if args.corpus == "slurp-style":
            extra = accompanying_corpus(seed=args.seed, progress=progress)
            summary["accompanying"] = {
                "clips": len(extra),
                "test_clips": sum(s in extra.test_speakers for s in extra.speakers),
                "distinct_words": len({w for t in extra.transcripts for w in t.split()}),
                "cache": str(cache_path(len(extra), args.seed, corpus="accompanying"))}
    if args.wav_out:
        summary["wav_out"] = str(write_wavs(corpus, args.wav_out, progress))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"corpus       {summary['source']}")
        print(f"clips        {summary['clips']} x {summary['seconds_per_clip']:g} s at "
              f"{summary['sample_rate']} Hz ({summary['silent_clips']} silent)")
        print(f"intents      {summary['intents']} ({summary['distinct_transcripts']} distinct "
              "transcripts)")
        print(f"speakers     {len(summary['speakers'])}: {', '.join(summary['speakers'])}")
        if summary.get("test_speakers"):
            print(f"held out     {', '.join(summary['test_speakers'])} (test: "
                  f"{summary['split']['test']} of {summary['clips']} clips)")
        if summary["scenarios"]:
            print(f"scenarios    {len(summary['scenarios'])}: "
                  f"{', '.join(summary['scenarios'])}")
        if summary["entity_types"]:
            print(f"entities     {summary['entity_spans']} spans, "
                  f"{summary['distinct_entity_values']} distinct values: " + ", ".join(
                      f"{k} {v['spans']}" for k, v in summary["entity_types"].items()))
        if "accompanying" in summary:
            extra = summary["accompanying"]
            print(f"accompanying {extra['clips']} free sentences, {extra['distinct_words']} "
                  f"distinct words ({extra['cache']})")
        for key in ("cache", "wav_out"):
            if key in summary:
                print(f"{key:<12} {summary[key]}")
    return 0


def _content(corpus) -> dict:
    """What the clips say beyond the intent: scenarios (clips each), entity types (spans and
    distinct values each) and the held-out speakers."""
    from collections import Counter

    values = corpus.entity_values()
    kinds = Counter(kind for kind, _ in values)
    return {"scenarios": dict(sorted(Counter(corpus.scenarios).items())),
            "entity_types": {k: {"spans": n, "distinct_values": len({v for t, v in values
                                                                      if t == k})}
                             for k, n in sorted(kinds.items())},
            "entity_spans": len(values), "distinct_entity_values": len(set(values)),
            "test_speakers": list(corpus.test_speakers)}


def write_wavs(corpus, folder, progress: bool = True):
    """Write every clip as 16-bit PCM WAV plus manifest.csv into `folder` (atomically per
    file); returns the manifest path."""
    import csv
    import io
    from pathlib import Path

    import numpy as np
    import soundfile
    from tqdm import tqdm

    from edgesim.io import atomic_write

    folder = Path(folder)
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["path", "transcript", "intent", "speaker"])
    for i in tqdm(range(len(corpus)), desc="writing WAV files", unit="file",
                  disable=not progress):
        name = f"clip_{i:05d}.wav"
        buf = io.BytesIO()
        soundfile.write(buf, np.clip(corpus.audio[i], -1, 1), corpus.sample_rate,
                        subtype="PCM_16", format="WAV")
        atomic_write(folder / name, buf.getvalue())
        writer.writerow([name, corpus.transcripts[i], corpus.intents[i], corpus.speakers[i]])
    return atomic_write(folder / "manifest.csv", rows.getvalue().encode())


def _train(args) -> int:
    import_tensorflow()            # quietly, before the handler's packages import it
    from dataclasses import replace
    from pathlib import Path

    from edgesim.io import atomic_write
    from edgesim.paths import fsdd_dir
    from speech_privacy.pipeline import TrainConfig, train_all
    from speech_privacy.results import results_path, trained_dir

    cfg = TrainConfig(corpus=args.corpus)
    if args.quick:
        cfg = replace(cfg, quick=True, utterances_per_intent=3, slu_epochs=6, asr_epochs=4,
                      mask_steps=20, cloud_epochs=2, adaptive_epochs=1, speaker_epochs=50,
                      curve_ratios=(0.5,), fsdd=None, accompanying=40, offtheshelf_clips=8,
                      attacker_utterances_per_intent=3, attacker_sentences=40)
    overrides = {"seed": args.seed, "utterances_per_intent": args.utterances_per_intent,
                 "segments": args.segments, "gamma": args.gamma, "variants": args.variants,
                 "slu_epochs": args.slu_epochs, "asr_epochs": args.asr_epochs,
                 "mask_steps": args.mask_steps, "cloud_epochs": args.cloud_epochs,
                 "adaptive_epochs": args.adaptive_epochs, "random_ratio": args.random_ratio,
                 "curve_ratios": args.curve_ratios}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    fsdd = None if args.no_fsdd or (args.quick and not args.fsdd) else fsdd_dir(args.fsdd)
    cfg = replace(cfg, fsdd=str(fsdd) if fsdd else None)
    results = train_all(cfg, progress=not args.no_progress, say=_say(args))
    results["results_json"] = str(results_path())
    if args.out:
        for source in (results_path(), trained_dir() / "privacy_utility.png"):
            atomic_write(Path(args.out) / source.name, source.read_bytes())
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_results(results))
    return 0


def format_results(r: dict) -> str:
    """A text table of the training results: one row per masker, `-` where a figure does not
    apply (no entities in the corpus)."""
    keys = (("mask_ratio", "mask"), ("test_kl", "KL"), ("intent_acc", "intent"),
            ("wer_passive", "WER pass."), ("wer_adaptive", "WER adapt."),
            ("wer_offtheshelf", "WER pocket."), ("entity_error_passive", "ent. pass."),
            ("entity_error_adaptive", "ent. adapt."), ("entity_error_offtheshelf", "ent. pocket."),
            ("wer_accompanying", "WER acc."), ("speaker_acc", "speaker"))
    lines = [f"{'masker':<7}" + "".join(f" {label:>12}" for _, label in keys)]
    for name, m in r["maskers"].items():
        lines.append(f"{name:<7}" + "".join(
            f" {'-' if m.get(k) is None else format(m[k], '.3f'):>12}" for k, _ in keys))
    ref = r["reference"]
    c = r["corpus"]
    lines.append(f"corpus {c['name']}{' (quick)' if r.get('quick') else ''}: {c['train']} "
                 f"train / {c['test']} test clips; an attacker who knows only the intent: WER "
                 f"{ref['wer_intent_oracle']:.3f}; speaker chance {ref['speaker_chance']:.3f}; "
                 f"pocketsphinx on {ref['offtheshelf_clips']} test clips")
    lines.append(f"curve points {len(r['curve'])}; plot {r['plot']}")
    if r.get("fsdd"):
        f = r["fsdd"]
        lines.append(f"FSDD speakers: clean {f['speaker_accuracy_clean']:.3f}, masked S "
                     f"{f['speaker_accuracy_masked']}, random {f['speaker_accuracy_random']:.3f}"
                     f", chance {f['chance']:.3f}")
    lines.append(f"time: {r['seconds'].get('total', 0):.0f} s; results {r.get('results_json')}")
    return "\n".join(lines)


def _export(args) -> int:
    import_tensorflow()            # quietly, before the handler's packages import it
    import os

    from speech_privacy.export import ENCODERS, corpus_clips, export_encoders

    say = _say(args)
    progress = not args.no_progress
    cal, held, note = corpus_clips(args.calibration, args.heldout, progress=progress)
    manifest = export_encoders(args.out, args.only or ENCODERS, cal, held, note,
                               progress=progress)
    if args.json:
        print(json.dumps(manifest, indent=2))
        return 0
    say(f"{'encoder':<18} {'bytes':>12} {'params':>12} {'trained':>7} {'convert s':>9} "
        f"{'cosine':>7} {'voiced':>7} {'mask agr.':>9}")
    for name, e in manifest["encoders"].items():
        a = e["agreement"]
        voiced, agree = a.get("cosine_voiced"), a.get("mask_agreement")
        say(f"{name:<18} {e['bytes']:>12,} {e['parameters']:>12,} {str(e['trained']).lower():>7}"
            f" {e['conversion_s']:>9.1f} {a['cosine']:>7.3f} "
            f"{'-' if voiced is None else f'{voiced:.3f}':>7} "
            f"{'-' if agree is None else f'{agree:.3f}':>9}")
    say(f"manifest: {os.path.join(args.out, 'manifest.json')}")
    return 0


def _bench(args) -> int:
    import_tensorflow()            # quietly, before the handler's packages import it
    from pathlib import Path

    from edgesim.errors import EdgesimError
    from edgesim.paths import cache_dir
    from speech_privacy.bench import bench, format_table, missing_models, write_json
    from speech_privacy.export import export_encoders, stale_exports

    say = _say(args)
    models = Path(args.models) if args.models else cache_dir() / "speech" / "export"
    if args.models and not models.is_dir():
        raise EdgesimError(f"--models {args.models}: no such folder (export into it first: "
                           f"`edgesim speech export --out {args.models}`)")
    missing = missing_models(models)
    if missing:
        say(f"exporting {', '.join(missing)} into {models} first")
        export_encoders(models, missing, progress=not args.no_progress)
    stale = [n for n in stale_exports(models) if n not in missing]
    if stale:
        say(f"re-exporting {', '.join(stale)} into {models}: exported from other weights than "
            "the last `edgesim speech train` saved")
        export_encoders(models, stale, progress=not args.no_progress)
    devices = tuple(d.strip() for d in args.devices.split(",") if d.strip())
    result = bench(models, devices, plot_dir=args.out or models)
    if args.out:
        result["json"] = str(write_json(result, Path(args.out) / "speech_bench.json"))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return 0


def _baselines(args) -> int:
    import_tensorflow()
    from speech_privacy.baselines.run import KINDS, train_baselines

    results = train_baselines(args.seeds, args.seconds, tuple(args.only or KINDS),
                              args.adversary_weight, args.reference, args.out,
                              progress=not args.no_progress, say=_say(args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        from speech_privacy.bench import format_baselines

        print("\n".join(format_baselines(results)))
    return 0


#: Handlers by subcommand name.
HANDLERS = {"corpus": _corpus, "train": _train, "export": _export, "bench": _bench,
            "baselines": _baselines}
