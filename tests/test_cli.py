import json
import subprocess
import sys

import pytest

from conftest import mlperf
from edgesim.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "edgesim.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_check_json_fits():
    r = run("check", str(mlperf("kws_ref_model")), "--device", "stm32h743", "--kernels",
            "reference", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["fits"] is True and d["device"] == "stm32h743" and d["violations"] == []
    assert d["arena_region"] == "DTCM" and len(d["layers"]) == 13


def test_latency_violation_exits_1():
    r = run("check", str(mlperf("kws_ref_model")), "--device", "stm32h743", "--latency-ms",
            "0.001", "--json")
    assert r.returncode == 1
    assert [v["kind"] for v in json.loads(r.stdout)["violations"]] == ["latency"]


def test_float_model_exits_0_with_a_warning_and_1_with_int8_only():
    r = run("check", str(mlperf("vww_96_float")), "--device", "stm32h743")
    assert r.returncode == 0 and "FITS" in r.stdout and "\nwarning: 31 float32 operators" in r.stdout
    r = run("check", str(mlperf("vww_96_float")), "--device", "stm32h743", "--int8-only")
    assert r.returncode == 1
    assert "DOES NOT FIT" in r.stdout and "float32 CONV_2D: 14 operators" in r.stdout


def test_text_report_has_layer_table():
    r = run("check", str(mlperf("kws_ref_model")), "--device", "stm32h7a3", "--plan")
    assert r.returncode == 0
    for word in ("MACs", "weights B", "activ. B", "cycles", "region", "DEPTHWISE_CONV_2D",
                 "head =", "tail:"):
        assert word in r.stdout


@pytest.mark.parametrize("payload", [b"", b"garbage" * 10, None])
def test_unusable_model_exits_2_with_one_line(tmp_path, payload):
    path = tmp_path / "model.tflite"
    if payload is None:                       # a truncated copy of a real model
        payload = mlperf("kws_ref_model").read_bytes()[:20000]
    path.write_bytes(payload)
    r = run("check", str(path), "--device", "stm32h743")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("edgesim: error:")
    assert "Traceback" not in r.stderr


def test_unknown_device_and_bad_arguments_exit_2():
    r = run("check", str(mlperf("kws_ref_model")), "--device", "esp32")
    assert r.returncode == 2 and "unknown device" in r.stderr and r.stderr.count("\n") == 1
    assert run("check", str(mlperf("kws_ref_model")), "--device", "stm32h743",
               "--latency-ms", "nan").returncode == 2
    assert run("check", str(mlperf("kws_ref_model")), "--device", "stm32h743",
               "--ram-kb", "-5").returncode == 2


def test_devices_lists_profiles(capsys):
    assert main(["devices", "--json"]) == 0
    names = [d["name"] for d in json.loads(capsys.readouterr().out)]
    assert {"stm32h743", "stm32h7a3", "stm32h747", "stm32f746", "stm32l4r5", "rpi4b",
            "sd8gen3_htp", "sd8gen3_cpu"} <= set(names)


def test_check_path_does_not_import_tensorflow_or_tflm():
    code = ("import sys; from edgesim.cli import main; "
            f"rc = main(['check', {str(mlperf('kws_ref_model'))!r}, '--device', 'stm32h743', '--json']); "
            "bad = [m for m in ('tensorflow', 'tflite_micro', 'keras') if m in sys.modules]; "
            "sys.exit(10 if bad else rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_internal_error_exits_3_with_one_line_and_the_traceback_only_under_debug(
        monkeypatch, capsys):
    import edgesim.cli as cli

    def broken(args):
        raise KeyError("layer 7")

    monkeypatch.setattr(cli, "_devices", broken)
    monkeypatch.delenv("EDGESIM_DEBUG", raising=False)
    assert main(["devices"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "report" in err
    assert main(["--debug", "devices"]) == 3
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("EDGESIM_DEBUG", "1")
    assert main(["devices"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_misspelt_flag_exits_2_with_did_you_mean():
    r = run("check", str(mlperf("kws_ref_model")), "--device", "stm32h743", "--jsno")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "did you mean --json?" in r.stderr


def test_python_m_edgesim_and_version():
    r = subprocess.run([sys.executable, "-m", "edgesim", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "check" in r.stdout and "speech" in r.stdout
    r = subprocess.run([sys.executable, "-m", "edgesim", "--version"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("edgesim ")


def test_the_wheel_ships_only_the_project_s_own_top_level_packages():
    """The packages setuptools collects with pyproject's rules: no top-level `tools` or
    `tests` module that would shadow a user's own."""
    import tomllib
    from pathlib import Path

    from setuptools import find_packages

    root = Path(__file__).resolve().parents[1]
    rules = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(str(root), include=rules["packages"]["find"]["include"])
    assert {p.split(".")[0] for p in found} == {"edgesim", "firmware_sim", "npu_sim",
                                                 "speech_privacy"}


def test_edit_bench_writes_only_under_the_current_directory(tmp_path):
    """One edit of stories260K with both methods, run from an empty folder: the bench JSON
    and its JSON-lines rows land in ./out, the cache in $EDGESIM_CACHE, and nothing beside
    the installed code."""
    import os
    from pathlib import Path

    import edgesim
    import firmware_sim
    import npu_sim
    import speech_privacy

    def package_files():
        return {p for pkg in (edgesim, firmware_sim, npu_sim, speech_privacy)
                for p in Path(pkg.__file__).parent.rglob("*") if "__pycache__" not in p.parts}

    before = package_files()
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    stories = Path(__file__).resolve().parents[2] / "shared" / "models" / "stories260K.gguf"
    r = subprocess.run([sys.executable, "-m", "edgesim", "edit", "bench", "--model",
                        str(stories), "--edits", "1", "--quiet", "--json"], cwd=work,
                       env={**os.environ, "EDGESIM_CACHE": str(cache)}, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()) == [
        "out/bench_edit.json", "out/bench_edit.jsonl"]          # the summary, the rows
    assert json.loads((work / "out" / "bench_edit.json").read_text())["runs"]["mobiedit"]
    assert package_files() == before


def test_demo_prints_no_tensorflow_lines(tmp_path):
    """The demo builds and converts its model with TensorFlow on first use; only edgesim's
    report reaches stdout, and stderr stays empty."""
    import os

    r = subprocess.run([sys.executable, "-m", "edgesim", "demo"], capture_output=True,
                       text=True, timeout=600, cwd=tmp_path,
                       env={**os.environ, "EDGESIM_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr == ""
    assert r.stdout.startswith("demo model:") and "emulated inference through TFLM" in r.stdout
    for noise in ("Saved artifact", "TensorSpec", "oneDNN", "absl", "WARNING"):
        assert noise not in r.stdout


def test_an_argument_holding_a_newline_still_gives_one_error_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["devices", "x\ny"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
