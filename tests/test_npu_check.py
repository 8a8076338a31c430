"""npu_sim: profiles, the roofline cost model, the NPU target's verdicts through the one check,
the CLI and LiteRT numerics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import mlperf
from firmware_sim.records import Limits
from firmware_sim.pipeline import check
from edgesim.errors import EdgesimError
from firmware_sim.graph import load_graph
from firmware_sim.cost.roofline import cpu_cost
from firmware_sim.devices.cpu import load_cpu
from firmware_sim.devices import DeviceProfileError
from npu_sim.devices import load_npu
from npu_sim.performance import npu_cost
from edgesim.cli import main


@pytest.fixture(scope="module")
def htp():
    return load_npu("sd8gen3_htp")


def test_profiles_load_with_their_numbers(htp):
    assert htp.int8_macs_per_s == pytest.approx(3.65e13 * 0.25)
    assert htp.graph_limit_bytes == 2**31
    assert htp.vtcm.size_bytes == 8 * 2**20
    assert htp.precisions["a16w8"].rate == 0.5
    cpu = load_cpu("sd8gen3_cpu")
    # 1x X4 (16 lanes, 3.3 GHz) + 3x A720 (8, 3.2 GHz) + 2x A720 (8, 3.0 GHz), at 50 %
    assert cpu.macs_per_s("fp32") == pytest.approx(0.5 * (16 * 3.3e9 + 3 * 8 * 3.2e9 + 2 * 8 * 3e9))


def test_unknown_or_mismatched_profiles_are_refused():
    with pytest.raises(DeviceProfileError, match="unknown npu device 'nope'"):
        load_npu("nope")
    with pytest.raises(DeviceProfileError, match="kind"):
        load_npu(load_cpu("sd8gen3_cpu").source)


def test_roofline_takes_the_slower_of_compute_and_memory(htp):
    macs = 10**9
    c8 = npu_cost(htp, macs=macs, precision="a8w8")
    c16 = npu_cost(htp, macs=macs, precision="a16w8")
    assert c8.compute_s == pytest.approx(macs / htp.int8_macs_per_s)
    assert c16.compute_s == pytest.approx(2 * c8.compute_s)          # int16 activations: half rate
    assert c8.bound == "compute" and c8.time_s == pytest.approx(c8.compute_s + htp.dispatch_s)
    heavy = npu_cost(htp, macs=1000, dram_bytes=10**9)
    assert heavy.bound == "memory"
    assert heavy.time_s == pytest.approx(10**9 / htp.dram.bytes_per_s + htp.dispatch_s)
    assert heavy.dram_j == pytest.approx(10**9 * htp.dram.pj_per_byte * 1e-12)
    assert heavy.static_j == pytest.approx(htp.idle_power_mw * 1e-3 * heavy.memory_s
                                           + htp.idle_power_mw * 1e-3 * htp.dispatch_s)
    cpu = load_cpu("sd8gen3_cpu")
    c = cpu_cost(cpu, macs=macs, precision="fp32", dram_bytes=0)
    assert c.time_s == pytest.approx(macs / cpu.macs_per_s("fp32"))
    assert c.mac_j == pytest.approx(macs * cpu.fp32_pj_per_mac * 1e-12)


def test_int8_reference_model_fits_and_adds_up(htp):
    r = check(mlperf("kws_ref_model"), htp)
    assert r.fits and r.violations == ()
    assert r.macs == 2_656_768
    assert r.target == "npu" and r.details["weights_in"] == "vtcm" and r.cycles is None
    assert r.fixed_ms == pytest.approx(htp.invoke_s * 1e3)
    assert r.latency_ms == pytest.approx(r.fixed_ms + sum(l.latency_ms for l in r.layers))
    assert r.energy_mj == pytest.approx(sum(r.details["energy_parts_mj"].values()))
    assert {layer.kernel for layer in r.layers if layer.macs} == {"a8w8"}


@pytest.mark.parametrize("name", ["kws_ref_model_float32", "vww_96_float"])
def test_float_models_are_refused_naming_a_float_op(name, htp):
    r = check(mlperf(name), htp)
    dtype = [v for v in r.violations if v.kind == "dtype"]
    assert dtype and "float32" in dtype[0].message
    assert load_graph(mlperf(name)).main.operators[0].opcode in " ".join(v.message for v in dtype)


def test_graph_and_session_budgets(htp):
    r = check(mlperf("vww_96_int8"), htp, Limits(ram_bytes=100_000, flash_bytes=100_000))
    kinds = {v.kind for v in r.violations}
    assert kinds == {"graph", "ram"}
    r = check(mlperf("vww_96_int8"), htp, Limits(latency_ms=1e-6))
    assert [v.kind for v in r.violations] == ["latency"]


def test_operator_without_npu_kernel_is_named(tmp_path, htp):
    text = htp.source.read_text().replace('"DEPTHWISE_CONV_2D", ', "")
    custom = tmp_path / "no_dw.toml"
    custom.write_text(text)
    r = check(mlperf("kws_ref_model"), custom)
    ops = [v.message for v in r.violations if v.kind == "operator"]
    assert len(ops) == 4 and all("DEPTHWISE_CONV_2D has no kernel on sd8gen3_htp" in m for m in ops)


@pytest.fixture(scope="module")
def dynamic_and_int16(tmp_path_factory):
    """A float model with a dynamic time axis, and the same dense layer quantized 16x8."""
    import tensorflow as tf

    out = tmp_path_factory.mktemp("npu")
    dense = tf.keras.layers.Dense(8)
    dense.build((None, 16))

    @tf.function(input_signature=[tf.TensorSpec([1, None, 16], tf.float32)])
    def dyn(x):
        return dense(x)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([dyn.get_concrete_function()], dense)
    (out / "dynamic.tflite").write_bytes(conv.convert())

    model = tf.keras.Sequential([tf.keras.Input((16,), batch_size=1), tf.keras.layers.Dense(8)])
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: ([rng.normal(size=(1, 16)).astype(np.float32)]
                                           for _ in range(8))
    conv.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    (out / "a16w8.tflite").write_bytes(conv.convert())
    return out


def test_dynamic_shapes_are_refused(dynamic_and_int16, htp):
    r = check(dynamic_and_int16 / "dynamic.tflite", htp)
    shape = [v for v in r.violations if v.kind == "shape"]
    assert shape and "dynamic shape [1, -1, 16]" in shape[0].message


def test_int16_activations_run_at_half_rate(dynamic_and_int16, htp):
    r = check(dynamic_and_int16 / "a16w8.tflite", htp)
    assert r.fits
    fc = [layer for layer in r.layers if layer.macs]
    assert [layer.kernel for layer in fc] == ["a16w8"] and fc[0].macs == 16 * 8
    from npu_sim.performance import op_cost
    sg = load_graph(dynamic_and_int16 / "a16w8.tflite").main
    c = op_cost(htp, sg.operators[fc[0].index], sg, r.details["weights_in"] == "vtcm").cost
    assert c.compute_s == pytest.approx(128 / (htp.int8_macs_per_s * 0.5))
    assert fc[0].latency_ms == pytest.approx(c.time_s * 1e3)


def test_runner_matches_tflm_on_kws():
    """LiteRT's builtin kernels and TFLM agree bit for bit on KWS (measured, firmware_sim)."""
    from firmware_sim.emulator import Emulator

    x = np.random.default_rng(1).integers(-128, 128, size=(1, 49, 10, 1), dtype=np.int8)
    npu = Emulator("sd8gen3_htp").load(mlperf("kws_ref_model")).run(x)
    mcu = Emulator("stm32h743").load(mlperf("kws_ref_model")).run(x)
    np.testing.assert_array_equal(npu.outputs[0], mcu.outputs[0])
    assert npu.ledger.macs == 2_656_768


def test_runner_refuses_float_graphs():
    from firmware_sim.emulator import Emulator

    with pytest.raises(EdgesimError, match="cannot run on sd8gen3_htp: .*float32"):
        Emulator("sd8gen3_htp").load(mlperf("kws_ref_model_float32"))


def test_cli_exit_codes_and_json(capsys, tmp_path):
    assert main(["npu", "check", str(mlperf("ad01_int8")), "--device", "sd8gen3_htp",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("device", "fits", "ram_bytes", "arena_bytes", "latency_ms", "energy_mj", "macs",
                "layers", "violations"):
        assert key in out
    assert out["macs"] == 264_192 and out["fits"] is True
    assert main(["npu", "check", str(mlperf("pretrainedResnet")), "--device",
                 "sd8gen3_htp"]) == 1
    assert "dtype" in capsys.readouterr().out
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(mlperf("ad01_int8").read_bytes()[:300])
    assert main(["npu", "check", str(bad), "--device", "sd8gen3_htp"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgesim: error:") and "\n" not in err
    assert main(["npu", "check", str(mlperf("ad01_int8")), "--device", "nope"]) == 2
