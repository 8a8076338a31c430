"""Benchmark of the exported speech encoders on the emulated devices.

`bench(model_dir)` costs every `<encoder>.tflite` written by `export_encoders` with
`firmware_sim.pipeline.check` on each device (default stm32h743 and rpi4b: a 4 s clip, one
inference), and returns one JSON-able dict (schema below). All cost figures come from
firmware_sim; nothing here is timed on the host.

    schema, models (folder), clip_seconds, devices, baselines {"ppslu": "ppslu_encoder",
    "vae": "vae_encoder"},
    encoders {name: {parameters, file_bytes, trained, full_size, agreement (from the export
        manifest, or null), devices {device: {
            latency_ms, ram_bytes, flash_bytes, fits, arena_bytes, energy_mj, macs,
            model_ram_bytes      ram_bytes less the runtime's fixed stack and static data
                                 (the arena on a microcontroller; arena + model + packed
                                 weights on Linux),
            violations [{kind, message}],
            speedup_vs_<b>       latency of baseline b / latency of this encoder,
            memory_ratio_vs_<b>  ram_bytes of b / ram_bytes of this encoder,
            model_memory_ratio_vs_<b>  the same on model_ram_bytes}}}},
    targets [{name, value, target, met, note}] (the cost targets, then privacy_target()),
    utility_privacy (the results JSON of `edgesim speech train`, or null),
    utility_privacy_by_corpus {corpus: quick, created, corpus, gamma, reference, curve,
    maskers} (the last training on each corpus) and
    utility_privacy_note, baselines_utility_privacy (`edgesim speech baselines` results, or
    null) and baselines_note, plot (PNG path or null).
Ratios compare encoders on the same device.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesim.errors import EdgesimError

from .export import ENCODERS, MANIFEST, _read_manifest

DEVICES = ("stm32h743", "rpi4b")
BASELINES = {"ppslu": "ppslu_encoder", "vae": "vae_encoder"}
BENCH_SCHEMA = 1


class BenchError(EdgesimError):
    """A benchmark that cannot run (no exported models)."""


def missing_models(model_dir: str | Path) -> list[str]:
    return [n for n in ENCODERS if not (Path(model_dir) / f"{n}.tflite").is_file()]


def cost_encoders(model_dir: str | Path, devices=DEVICES, names=ENCODERS) -> dict:
    """{encoder: {device: cost entry}} for the .tflite files in `model_dir`."""
    from firmware_sim.pipeline import check
    from firmware_sim.target import load_profile
    from firmware_sim.graph import load_graph

    profiles = {device: load_profile(device) for device in devices}
    keys = ("latency_ms", "ram_bytes", "flash_bytes", "fits", "arena_bytes", "energy_mj", "macs")
    out: dict[str, dict] = {}
    for name in names:
        path = Path(model_dir) / f"{name}.tflite"
        if not path.is_file():
            raise BenchError(f"{path}: missing; run `edgesim speech export --out {model_dir}`")
        graph = load_graph(path)
        out[name] = {}
        for device, dev in profiles.items():
            r = check(graph, dev).to_dict()
            out[name][device] = {**{k: r[k] for k in keys},
                                 "model_ram_bytes": r["ram_bytes"] - dev.stack_bytes
                                 - dev.static_bytes, "violations": r["violations"]}
    return out


def add_ratios(costs: dict) -> None:
    """Add speedup_vs_<b>, memory_ratio_vs_<b>, model_memory_ratio_vs_<b> in place, for each
    baseline b present in `costs`, comparing on the same device."""
    for key, baseline in BASELINES.items():
        if baseline not in costs:
            continue
        for per_device in costs.values():
            for device, entry in per_device.items():
                base = costs[baseline][device]
                entry[f"speedup_vs_{key}"] = _ratio(base["latency_ms"], entry["latency_ms"])
                entry[f"memory_ratio_vs_{key}"] = _ratio(base["ram_bytes"], entry["ram_bytes"])
                entry[f"model_memory_ratio_vs_{key}"] = _ratio(base["model_ram_bytes"],
                                                               entry["model_ram_bytes"])


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


def targets(costs: dict) -> list[dict]:
    """The project's cost targets, each evaluated on `costs` and reported, never asserted."""
    rows = []

    def row(name, value, target, met, note=""):
        rows.append({"name": name, "value": value, "target": target, "met": met, "note": note})

    s = costs.get("mask_generator_s", {})
    if "stm32h743" in s:
        e = s["stm32h743"]
        row("mask_generator_s stm32h743 ram_bytes", e["ram_bytes"], "< 400 KB (409600 bytes)",
            e["ram_bytes"] < 400 * 1024)
        row("mask_generator_s stm32h743 latency_ms (4 s clip)", e["latency_ms"], "< 1000 ms",
            e["latency_ms"] < 1000)
        row("mask_generator_s stm32h743 fits", e["fits"], "true", e["fits"])
    if "rpi4b" in s and "ppslu_encoder" in costs:
        e = s["rpi4b"]
        row("mask_generator_s speedup_vs_ppslu on rpi4b", e["speedup_vs_ppslu"], ">= 50x",
            e["speedup_vs_ppslu"] is not None and e["speedup_vs_ppslu"] >= 50)
        row("mask_generator_s memory_ratio_vs_ppslu on rpi4b", e["memory_ratio_vs_ppslu"],
            ">= 130x", e["memory_ratio_vs_ppslu"] is not None and e["memory_ratio_vs_ppslu"] >= 130,
            _fixed_memory_note("rpi4b"))
        row("mask_generator_s model_memory_ratio_vs_ppslu on rpi4b",
            e["model_memory_ratio_vs_ppslu"], ">= 130x (same target on model memory)",
            e["model_memory_ratio_vs_ppslu"] is not None
            and e["model_memory_ratio_vs_ppslu"] >= 130,
            "arena + model + packed weights, without the process's fixed stack and static data")
        if "stm32h743" in s:
            p = costs["ppslu_encoder"]["rpi4b"]
            m = s["stm32h743"]
            row("cross-device: ppslu on rpi4b latency / mask_generator_s on stm32h743",
                _ratio(p["latency_ms"], m["latency_ms"]), "(reported, as in the paper)", None)
            row("cross-device: ppslu on rpi4b ram / mask_generator_s on stm32h743",
                _ratio(p["ram_bytes"], m["ram_bytes"]), "(reported, as in the paper)", None)
    return rows


def _fixed_memory_note(device: str) -> str:
    from firmware_sim.target import load_profile

    dev = load_profile(device)
    fixed = dev.stack_bytes + dev.static_bytes
    return (f"ram_bytes includes the LiteRT process's fixed stack and static data ({device} "
            f"profile: {fixed:,} bytes), which bounds any ratio to ram(ppslu) / {fixed:,}")


def _summary(results: dict) -> dict:
    """One corpus's training results as the bench reports them: the run's kind, the maskers'
    figures (without training logs) and the curve."""
    return {"quick": results.get("quick"), "created": results.get("created"),
            "corpus": results["corpus"], "gamma": results.get("gamma"),
            "reference": results.get("reference"), "curve": results.get("curve", []),
            "maskers": {k: {x: y for x, y in v.items() if x != "training"}
                        for k, v in results.get("maskers", {}).items()}}


def privacy_target(results: dict | None, max_drop: float = 0.07, min_wer: float = 0.75
                   ) -> dict | None:
    """The project's privacy/utility target on `edgesim speech train` results: among the
    trained maskers and the curve's points whose adaptive-attacker WER is >= `min_wer`, the
    one whose intent accuracy is closest to the unmasked model's; met when it is within
    `max_drop` (fraction of test clips). None without results."""
    if not results:
        return None
    clean = results["maskers"]["none"]["intent_acc"]
    points = ([{"masker": k, **v} for k, v in results["maskers"].items() if k != "none"]
              + results.get("curve", []))
    private = [p for p in points if p["wer_adaptive"] >= min_wer]
    best = max(private, key=lambda p: p["intent_acc"], default=None)
    oracle = results["reference"].get("wer_intent_oracle")
    note = ("" if oracle is None else
            f"an attacker who knows the true intent and guesses the wording gets WER "
            f"{oracle:.3f} on clean clips; ")
    if best is None:
        return {"name": f"intent accuracy drop where adaptive WER >= {min_wer}", "value": None,
                "target": f"<= {max_drop:.2f}", "met": False,
                "note": note + "no masker or curve point reaches that WER"}
    drop = clean - best["intent_acc"]
    return {"name": f"intent accuracy drop where adaptive WER >= {min_wer}",
            "value": round(drop, 4), "target": f"<= {max_drop:.2f}", "met": drop <= max_drop,
            "note": note + f"best point: {best['masker']} at mask ratio "
                           f"{best['mask_ratio']:.2f}, intent accuracy "
                           f"{best['intent_acc']:.3f} (unmasked {clean:.3f}), adaptive WER "
                           f"{best['wer_adaptive']:.3f}"}


def bench(model_dir: str | Path, devices=DEVICES, results: str | Path | None = None,
          baselines_results: str | Path | None = None, plot_dir: str | Path | None = None
          ) -> dict:
    """The benchmark dict (module docstring) for the encoders exported into `model_dir`;
    with `plot_dir`, also a PNG of per-encoder latency and memory there."""
    from .baselines.results import load_baseline_results
    from .results import load_results_by_corpus, load_training_results

    missing = missing_models(model_dir)
    if missing:
        raise BenchError(f"{model_dir}: no {', '.join(m + '.tflite' for m in missing)}; run "
                         f"`edgesim speech export --out {model_dir}` first")
    costs = cost_encoders(model_dir, devices)
    add_ratios(costs)
    manifest = _read_manifest(Path(model_dir)).get("encoders", {})
    encoders = {}
    for name in ENCODERS:
        m = manifest.get(name, {})
        encoders[name] = {"parameters": m.get("parameters"),
                          "file_bytes": (Path(model_dir) / f"{name}.tflite").stat().st_size,
                          "trained": m.get("trained"), "full_size": m.get("full_size"),
                          "agreement": m.get("agreement"), "devices": costs[name]}
    up = load_training_results(results)
    by_corpus = {**load_results_by_corpus(), **({up["corpus"]["name"]: up} if up else {})}
    base = load_baseline_results(baselines_results)
    privacy = privacy_target(up)
    out = {"schema": BENCH_SCHEMA, "models": str(model_dir), "clip_seconds": 4.0,
           "devices": list(devices), "baselines": dict(BASELINES), "encoders": encoders,
           "targets": targets(costs) + ([privacy] if privacy else []),
           "utility_privacy": up,
           "utility_privacy_by_corpus": {name: _summary(r) for name, r in by_corpus.items()},
           "utility_privacy_note": None if up is not None else
           "no results: `edgesim speech train` has not been run, so intent accuracy and "
           "attacker WER of the mask generators are not measured",
           "baselines_utility_privacy": base,
           "baselines_note": None if base is not None else
           "no results: the baselines' brief training (`edgesim speech baselines`) has "
           "not been run",
           "manifest": str(Path(model_dir) / MANIFEST) if manifest else None,
           "plot": None}
    if plot_dir is not None:
        out["plot"] = str(plot(costs, Path(plot_dir) / "speech_bench.png"))
    return out


def plot(costs: dict, path: Path) -> Path:
    """Bar charts (log scale) of latency and RAM per encoder and device, as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from edgesim.io import atomic_write

    names = list(costs)
    devices = list(next(iter(costs.values())))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(devices)
    for ax, key, label in ((axes[0], "latency_ms", "latency per 4 s clip (ms)"),
                           (axes[1], "ram_bytes", "RAM (bytes)")):
        for j, dev in enumerate(devices):
            values = [costs[n][dev][key] for n in names]
            x = np.arange(len(names)) + (j - (len(devices) - 1) / 2) * width
            bars = ax.bar(x, values, width, label=dev)
            for b, n in zip(bars, names):
                if not costs[n][dev]["fits"]:
                    b.set_hatch("//")
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels([n.replace("_", "\n", 1) for n in names], fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].legend(title="device (hatched: does not fit)", fontsize=8)
    fig.suptitle("speech encoders, INT8, emulated by firmware_sim")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def format_baselines(base: dict) -> list[str]:
    """Lines for the baselines' results (baselines.run): each figure as mean +- sample standard
    deviation over the seeds, and the attackers' yardstick on clean MFCC frames."""
    def pm(b, key):
        return f"{_fmt(b[key])} +- {_fmt(b[key + '_std'])}"

    lines = ["baselines (reduced width, briefly trained, undertrained):"]
    for name, b in base.items():
        if isinstance(b, dict) and "seeds" in b:
            lines.append(f"  {name:<18} intent accuracy {pm(b, 'intent_accuracy')}, ASR-probe "
                         f"WER {pm(b, 'wer_asr_probe')}, speaker-probe accuracy "
                         f"{pm(b, 'speaker_accuracy_probe')} (chance "
                         f"{_fmt(b['speaker_chance'])}); {b['seeds']} seeds, "
                         f"{b['train_seconds']} s each")
    ref = base.get("attackers_on_clean_mfcc")
    if isinstance(ref, dict):
        lines.append(f"  attackers on clean MFCC (yardstick): ASR-probe WER "
                     f"{_fmt(ref.get('wer_asr_probe'))}, speaker-probe accuracy "
                     f"{_fmt(ref.get('speaker_accuracy_probe'))}")
    return lines


def format_table(result: dict) -> str:
    """The benchmark as a text table."""
    lines = [f"{'encoder':<18} {'device':<10} {'latency ms':>12} {'RAM bytes':>13} "
             f"{'flash bytes':>12} {'fits':>5} {'x faster/ppslu':>14} {'x less mem/ppslu':>16}"]
    for name, e in result["encoders"].items():
        for dev, c in e["devices"].items():
            lines.append(f"{name:<18} {dev:<10} {c['latency_ms']:>12.3f} {c['ram_bytes']:>13,} "
                         f"{c['flash_bytes']:>12,} {str(c['fits']).lower():>5} "
                         f"{_fmt(c.get('speedup_vs_ppslu')):>14} "
                         f"{_fmt(c.get('memory_ratio_vs_ppslu')):>16}")
    lines.append("")
    for t in result["targets"]:
        met = {True: "met", False: "NOT met", None: ""}[t["met"]]
        lines.append(f"target {t['name']}: {t['value']} ({t['target']}) {met}")
    for corpus, up in result.get("utility_privacy_by_corpus", {}).items():
        lines.append(f"utility/privacy (edgesim speech train, {corpus} corpus"
                     f"{', quick' if up.get('quick') else ''}):")
        for name, m in up.get("maskers", {}).items():
            lines.append(f"  {name:<7} mask ratio {_fmt(m.get('mask_ratio'))}, intent "
                         f"accuracy {_fmt(m.get('intent_acc'))}, WER passive "
                         f"{_fmt(m.get('wer_passive'))} / adaptive {_fmt(m.get('wer_adaptive'))}"
                         f" / off-the-shelf {_fmt(m.get('wer_offtheshelf'))}, entity error "
                         f"adaptive {_fmt(m.get('entity_error_adaptive'))}, WER accompanying "
                         f"{_fmt(m.get('wer_accompanying'))}, speaker accuracy "
                         f"{_fmt(m.get('speaker_acc'))}")
    base = result.get("baselines_utility_privacy")
    if base:
        lines += format_baselines(base)
    for key in ("utility_privacy_note", "baselines_note"):
        if result.get(key):
            lines.append(f"note: {result[key]}")
    if result.get("plot"):
        lines.append(f"plot: {result['plot']}")
    return "\n".join(lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def write_json(result: dict, path: str | Path) -> Path:
    from edgesim.io import atomic_write

    return atomic_write(path, (json.dumps(result, indent=2) + "\n").encode())
