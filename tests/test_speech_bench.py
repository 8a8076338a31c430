"""`edgesim speech bench`: keys of the JSON, consistency of the ratios with the costs,
targets, the utility/privacy pass-through and the plot. Small builds of the baselines (a
1-layer narrow PPSLU and VAE) keep it quick; the ratios' arithmetic does not depend on size.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from speech_privacy import bench as sb
from speech_privacy import export as ex

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DEVICE_KEYS = {"latency_ms", "ram_bytes", "flash_bytes", "fits", "arena_bytes", "energy_mj",
               "macs", "model_ram_bytes", "violations", "speedup_vs_ppslu",
               "memory_ratio_vs_ppslu", "model_memory_ratio_vs_ppslu", "speedup_vs_vae",
               "memory_ratio_vs_vae", "model_memory_ratio_vs_vae"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    cal, held, note = ex.corpus_clips(4, 2, progress=False)
    out = tmp_path_factory.mktemp("models")
    ex.export_encoders(out, ex.ENCODERS, cal, held, note, small=True, progress=False)
    return out


@pytest.fixture(scope="module")
def result(models, tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_results")
    return sb.bench(models, results=empty / "results.json",
                    baselines_results=empty / "baselines.json", plot_dir=models)


def test_every_encoder_and_device_has_the_figures(result):
    assert set(result["encoders"]) == set(ex.ENCODERS)
    for name, e in result["encoders"].items():
        assert set(e["devices"]) == {"stm32h743", "rpi4b"}
        assert e["parameters"] > 0 and e["file_bytes"] > 0
        for device, c in e["devices"].items():
            assert set(c) == DEVICE_KEYS, (name, device)
            assert c["latency_ms"] > 0 and c["ram_bytes"] > 0 and c["flash_bytes"] > 0
            assert isinstance(c["fits"], bool)
            assert c["fits"] == (not c["violations"])
    json.dumps(result)          # JSON-able throughout


def test_ratios_are_the_quotients_of_the_costs(result):
    enc = result["encoders"]
    for key, baseline in sb.BASELINES.items():
        for name, e in enc.items():
            for device, c in e["devices"].items():
                b = enc[baseline]["devices"][device]
                assert c[f"speedup_vs_{key}"] == pytest.approx(
                    b["latency_ms"] / c["latency_ms"], rel=1e-3)
                assert c[f"memory_ratio_vs_{key}"] == pytest.approx(
                    b["ram_bytes"] / c["ram_bytes"], rel=1e-3)
                assert c[f"model_memory_ratio_vs_{key}"] == pytest.approx(
                    b["model_ram_bytes"] / c["model_ram_bytes"], rel=1e-3)
        for device in ("stm32h743", "rpi4b"):
            assert enc[baseline]["devices"][device][f"speedup_vs_{key}"] == 1.0
    # a mask generator does far less work than even the 1-layer PPSLU on every device
    for device in ("stm32h743", "rpi4b"):
        s = enc["mask_generator_s"]["devices"][device]
        assert s["speedup_vs_ppslu"] > 1 and s["macs"] < enc["ppslu_encoder"]["devices"][
            device]["macs"]


def test_model_ram_excludes_the_runtime_only(result):
    from firmware_sim.target import load_profile

    for device in ("stm32h743", "rpi4b"):
        d = load_profile(device)
        for e in result["encoders"].values():
            c = e["devices"][device]
            assert c["ram_bytes"] - c["model_ram_bytes"] == d.stack_bytes + d.static_bytes
            if device == "stm32h743":
                assert c["model_ram_bytes"] == c["arena_bytes"]
            else:    # Linux: the model file and XNNPACK's packed weights sit in RAM too
                assert c["model_ram_bytes"] > c["arena_bytes"] + e["file_bytes"] * 0.5


def test_targets_report_the_mask_generator_on_stm32h743(result):
    rows = {t["name"]: t for t in result["targets"]}
    ram = rows["mask_generator_s stm32h743 ram_bytes"]
    s = result["encoders"]["mask_generator_s"]["devices"]["stm32h743"]
    assert ram["value"] == s["ram_bytes"] and ram["met"] == (s["ram_bytes"] < 400 * 1024)
    assert rows["mask_generator_s stm32h743 fits"]["met"] is True
    speed = rows["mask_generator_s speedup_vs_ppslu on rpi4b"]
    assert speed["value"] == result["encoders"]["mask_generator_s"]["devices"]["rpi4b"][
        "speedup_vs_ppslu"]


def test_missing_results_are_said_not_invented(result):
    assert result["utility_privacy"] is None
    assert "has not been run" in result["utility_privacy_note"]
    assert result["baselines_utility_privacy"] is None and result["baselines_note"]


def test_results_json_is_passed_through(models, tmp_path):
    from speech_privacy.results import SCHEMA

    results = {"schema": SCHEMA, "corpus": {"name": "fsc-style"},
               "reference": {"wer_intent_oracle": 0.7}, "maskers": {"none": {"intent_acc": 0.5}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    out = sb.bench(models, devices=("stm32h743",), results=tmp_path / "results.json",
                   baselines_results=tmp_path / "none.json")
    assert out["utility_privacy"] == results and out["utility_privacy_note"] is None
    assert set(out["encoders"]["mask_generator_s"]["devices"]) == {"stm32h743"}


def test_every_corpus_trained_is_reported(models, tmp_path):
    from speech_privacy.results import SCHEMA, corpus_results_path

    def results(corpus, acc):
        return {"schema": SCHEMA, "corpus": {"name": corpus}, "reference": {},
                "maskers": {"none": {"intent_acc": acc, "training": {"log": 1}}}}

    folder = corpus_results_path("x").parent
    folder.mkdir(parents=True, exist_ok=True)
    for corpus, acc in (("fsc-style", 0.9), ("slurp-style", 0.5)):
        corpus_results_path(corpus).write_text(json.dumps(results(corpus, acc)))
    try:
        out = sb.bench(models, devices=("stm32h743",), results=tmp_path / "none.json",
                       baselines_results=tmp_path / "none.json")
    finally:
        for corpus in ("fsc-style", "slurp-style"):
            corpus_results_path(corpus).unlink()
    by = out["utility_privacy_by_corpus"]
    assert set(by) == {"fsc-style", "slurp-style"}
    assert by["slurp-style"]["maskers"]["none"] == {"intent_acc": 0.5}   # no training log
    text = sb.format_table(out)
    assert "fsc-style corpus" in text and "slurp-style corpus" in text


def test_privacy_target_picks_the_most_useful_private_point():
    results = {"reference": {"wer_intent_oracle": 0.69},
               "maskers": {"none": {"mask_ratio": 0.0, "intent_acc": 0.95, "wer_adaptive": 0.1},
                           "S": {"mask_ratio": 0.8, "intent_acc": 0.9, "wer_adaptive": 0.6}},
               "curve": [{"masker": "random", "mask_ratio": 0.75, "intent_acc": 0.8,
                          "wer_adaptive": 0.8},
                         {"masker": "S", "mask_ratio": 0.9, "intent_acc": 0.7,
                          "wer_adaptive": 0.9}]}
    t = sb.privacy_target(results)
    assert t["value"] == pytest.approx(0.15) and t["met"] is False
    assert "random at mask ratio 0.75" in t["note"] and "WER 0.690" in t["note"]
    results["curve"][0]["intent_acc"] = 0.9
    assert sb.privacy_target(results)["met"] is True
    for p in results["curve"]:
        p["wer_adaptive"] = 0.5
    none = sb.privacy_target(results)
    assert none["value"] is None and none["met"] is False
    assert sb.privacy_target(None) is None


def test_plot_is_a_png(result):
    with open(result["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_missing_models_are_a_clear_error(tmp_path):
    with pytest.raises(sb.BenchError, match="edgesim speech export"):
        sb.bench(tmp_path)


def test_cli_bench_json_is_one_object(models, tmp_path, capsys):
    from edgesim.cli import main

    assert main(["speech", "bench", "--models", str(models), "--out", str(tmp_path),
                 "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["encoders"]) == set(ex.ENCODERS)
    assert json.loads((tmp_path / "speech_bench.json").read_text())["encoders"] == \
        out["encoders"]
    assert (tmp_path / "speech_bench.png").is_file()
    # the text form carries the same numbers
    assert main(["speech", "bench", "--models", str(models), "--devices", "rpi4b"]) == 0
    text = capsys.readouterr().out
    lat = out["encoders"]["mask_generator_s"]["devices"]["rpi4b"]["latency_ms"]
    assert f"{lat:.3f}" in text and "stm32h743" not in text.split("\n\n")[0]


def test_tools_bench_speech_script(models, tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "tools/bench_speech.py", "--models", str(models),
                        "--out", str(tmp_path), "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    s = out["encoders"]["mask_generator_s"]["devices"]["stm32h743"]
    assert np.isfinite(s["latency_ms"]) and (tmp_path / "speech_bench.json").is_file()


def test_baselines_are_reported_as_mean_and_spread_over_seeds():
    from speech_privacy.baselines.run import spread

    runs = {"0": {"intent_accuracy": 0.5, "wer_asr_probe": 0.9, "speaker_accuracy_probe": 0.1},
            "1": {"intent_accuracy": 0.7, "wer_asr_probe": 0.8, "speaker_accuracy_probe": 0.3},
            "2": {"intent_accuracy": 0.9, "wer_asr_probe": 0.7, "speaker_accuracy_probe": 0.2}}
    s = spread(runs)
    assert s["seeds"] == 3
    assert s["intent_accuracy"] == 0.7 and s["intent_accuracy_std"] == 0.2    # sample std
    assert (s["wer_asr_probe_min"], s["wer_asr_probe_max"]) == (0.7, 0.9)
    assert spread({"0": runs["0"]})["speaker_accuracy_probe_std"] == 0.0
    lines = sb.format_baselines({"ppslu": {**s, "speaker_chance": 0.083, "train_seconds": 240.0},
                                 "corpus": {"name": "fsc-style"}})
    assert "intent accuracy 0.7 +- 0.2, ASR-probe WER 0.8 +- 0.1" in lines[1]
    assert "3 seeds" in lines[1]
    assert len(lines) == 2
