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


def test_float_model_exits_1_naming_float_op():
    r = run("check", str(mlperf("vww_96_float")), "--device", "stm32h743")
    assert r.returncode == 1
    assert "DOES NOT FIT" in r.stdout and "float32 op" in r.stdout


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
