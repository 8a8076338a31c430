"""`edgesim speech corpus` and `edgesim speech train`: help, JSON output, one-line errors with
exit status 2, and (slow) a whole quick training run with its results JSON and plot."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgesim.cli import main


def test_speech_cli_import_is_cheap():
    code = ("import sys, edgesim.cli_speech, edgesim.cli; edgesim.cli._parser(); "
            "print(sorted(m for m in ('tensorflow', 'librosa', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("argv, words", [
    (["speech", "--help"], ["corpus", "train"]),
    (["speech", "corpus", "--help"], ["--corpus", "--utterances-per-intent", "--manifest",
                                      "--fsdd", "--wav-out", "--json"]),
    (["speech", "train", "--help"], ["--quick", "--gamma", "--segments", "--curve-ratios",
                                     "--no-fsdd", "--json"]),
])
def test_help(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(w in out for w in words)


def test_corpus_json_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path / "cache"))
    code = main(["speech", "corpus", "--utterances-per-intent", "1", "--seed", "5", "--json",
                 "--no-progress", "--wav-out", str(tmp_path / "wavs")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["clips"] == 28 and summary["intents"] == 28
    assert summary["sample_rate"] == 16000 and summary["samples"] == 64000
    assert len(summary["speakers"]) >= 8 and summary["silent_clips"] == 0
    assert (tmp_path / "wavs" / "manifest.csv").is_file()
    assert str(tmp_path / "cache") in summary["cache"]
    # the written folder loads back through --manifest
    assert main(["speech", "corpus", "--manifest", str(tmp_path / "wavs"), "--json",
                 "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["clips"] == 28 and again["speakers"] == summary["speakers"]


@pytest.mark.parametrize("argv, message", [
    (["speech", "corpus", "--manifest", "/nonexistent/folder"], "cannot read the manifest"),
    (["speech", "corpus", "--fsdd", "/nonexistent/folder"], "no such folder"),
    (["speech", "train", "--segments", "7", "--no-progress"], "does not divide"),
])
def test_unusable_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgesim: error: ") and message in err
    assert err.count("\n") == 1


def test_bad_wav_in_manifest_exits_2(tmp_path, capsys):
    (tmp_path / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    (tmp_path / "manifest.csv").write_text("path,transcript,intent,speaker\na.wav,hi,x,s\n")
    assert main(["speech", "corpus", "--manifest", str(tmp_path), "--no-progress"]) == 2
    assert "a.wav" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["speech", "train", "--curve-ratios", "0.5,1.5"],
                                  ["speech", "train", "--variants", "S,X"],
                                  ["speech", "train", "--gamma", "-1"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


@pytest.mark.slow
def test_quick_training_run_writes_results_plot_and_generators(tmp_path):
    env_cache = tmp_path / "cache"
    import os

    env = {**os.environ, "EDGESIM_CACHE": str(env_cache)}
    out = subprocess.run([sys.executable, "-m", "edgesim.cli", "speech", "train", "--quick",
                          "--json", "--no-progress", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=1200, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(out.stdout)
    assert results["quick"] is True and results["corpus"]["name"] == "fsc-style"
    assert list(results["maskers"]) == ["none", "S", "M", "random"]
    for m in results["maskers"].values():
        for key in ("intent_acc", "wer_passive", "wer_adaptive", "wer_offtheshelf",
                    "entity_error_passive", "entity_error_adaptive", "entity_error_offtheshelf",
                    "wer_accompanying", "speaker_acc", "mask_ratio", "test_kl"):
            assert key in m
        assert 0 <= m["mask_ratio"] <= 1 and 0 <= m["intent_acc"] <= 1
        assert m["wer_passive"] >= 0 and m["wer_adaptive"] >= 0 and m["test_kl"] >= 0
        assert m["entity_error_adaptive"] is None           # FSC-style has no entities
    assert results["maskers"]["none"]["mask_ratio"] == 0 == results["maskers"]["none"]["test_kl"]
    assert results["maskers"]["random"]["mask_ratio"] == pytest.approx(0.5)
    assert (tmp_path / "out" / "privacy_utility.png").read_bytes()[:4] == b"\x89PNG"
    trained = env_cache / "speech" / "trained"
    assert json.loads((trained / "results.json").read_text()) == json.loads(
        (tmp_path / "out" / "results.json").read_text())
    assert (trained / "mask_generator_s.npz").is_file()
    assert (trained / "mask_generator_m.npz").is_file()


def test_train_help_states_the_config_defaults(capsys):
    import re

    from speech_privacy.pipeline import TrainConfig

    with pytest.raises(SystemExit):
        main(["speech", "train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split("options:")[1].split())
    cfg = TrainConfig()
    for flag, field in [("--slu-epochs", "slu_epochs"), ("--asr-epochs", "asr_epochs"),
                        ("--mask-steps", "mask_steps"), ("--cloud-epochs", "cloud_epochs"),
                        ("--adaptive-epochs", "adaptive_epochs"), ("--gamma", "gamma"),
                        ("--segments", "segments"), ("--random-ratio", "random_ratio")]:
        stated = re.search(re.escape(flag) + r" [A-Z_]+ [^()]*\(default ([0-9.]+)", help_text)
        assert stated, flag
        assert float(stated.group(1)) == getattr(cfg, field), flag
    from speech_privacy.corpus import grammar

    assert cfg.utterances_per_intent is None        # each corpus's own
    assert (f"{grammar('fsc-style').DEFAULT_UTTERANCES_PER_INTENT} fsc-style, "
            f"{grammar('slurp-style').DEFAULT_UTTERANCES_PER_INTENT} slurp-style") in help_text


def test_speech_export_prints_no_tensorflow_or_litert_lines(tmp_path):
    """Converting with TensorFlow and re-loading with LiteRT: stdout holds edgesim's table,
    stderr stays empty; with -v TensorFlow's own lines come through."""
    import os

    env = {**os.environ, "EDGESIM_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "edgesim", "speech", "export", "--out", str(tmp_path / "m"),
            "--only", "s", "--calibration", "2", "--heldout", "2", "--no-progress"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr == "" and r.stdout.startswith("encoder")
    loud = subprocess.run(args[:3] + ["-v"] + args[3:], capture_output=True, text=True,
                          timeout=600, env=env)
    assert loud.returncode == 0 and "XNNPACK" in loud.stderr + loud.stdout
