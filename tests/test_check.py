import dataclasses

import pytest

from conftest import FLOAT_MODELS, INT8_MODELS, mlperf
from firmware_sim import EdgesimError, Limits, check, load_device
from firmware_sim.devices import DeviceProfileError
from firmware_sim.graph import load_graph


@pytest.mark.parametrize("name", INT8_MODELS)
def test_reference_models_fit_stm32h743(name):
    report = check(mlperf(name), "stm32h743", kernels="reference")
    assert report.fits, report.violations
    assert report.arena_region == "DTCM"             # all four fit the fastest data RAM
    assert report.latency_ms == pytest.approx(report.cycles / 480e6 * 1e3)
    assert report.energy_mj == pytest.approx(report.device.active_power_mw * report.latency_ms / 1e3)
    assert report.ram_bytes == report.plan.total_bytes + report.device.stack_bytes + report.device.static_bytes
    assert report.details["flash_model_bytes"] == mlperf(name).stat().st_size
    assert sum(l.cycles for l in report.layers) == report.cycles


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_float_models_run_on_an_fpu_with_a_warning_unless_int8_only(name):
    sg = load_graph(mlperf(name)).main
    kinds = list(dict.fromkeys(op.opcode for op in sg.operators))
    report = check(mlperf(name), "stm32h743")
    hybrid = [v for v in report.violations if v.message.startswith("hybrid")]
    # the float KWS keeps int8 weights in its convolutions: TFLM cannot run those
    assert [v.kind for v in report.violations] == ["dtype"] * len(hybrid)
    assert bool(hybrid) == (name == "kws_ref_model_float32")
    assert report.notes[0].startswith("warning: ") and "float reference kernels" in report.notes[0]
    strict = check(mlperf(name), "stm32h743", int8_only=True)
    dtype = [v.message for v in strict.violations if not v.message.startswith("hybrid")]
    assert [m.split(":")[0] for m in dtype] == [f"float32 {k}" for k in kinds]
    assert all(m.endswith("(--int8-only)") for m in dtype)
    m4 = check(mlperf(name), "stm32l4r5", int8_only=True)
    assert [v.kind for v in m4.violations] == ["dtype"] * len(kinds)


def test_a_core_without_an_fpu_refuses_float_operators(tmp_path):
    text = load_device("stm32h743").source.read_text().replace('fpu = "dp"', 'fpu = "none"')
    (tmp_path / "nofpu.toml").write_text(text)
    report = check(mlperf("vww_96_float"), tmp_path / "nofpu.toml")
    assert report.violations and all(v.message.endswith("(no FPU)") for v in report.violations)


def test_latency_deadline():
    report = check(mlperf("kws_ref_model"), "stm32h743", Limits(latency_ms=0.001))
    assert [v.kind for v in report.violations] == ["latency"]
    assert check(mlperf("kws_ref_model"), "stm32h743", Limits(latency_ms=1000)).fits


def test_ram_and_flash_limits():
    report = check(mlperf("vww_96_int8"), "stm32h743", Limits(ram_bytes=64 * 1024, flash_bytes=100 * 1024))
    kinds = {v.kind for v in report.violations}
    assert kinds == {"ram", "flash"}


def test_arena_larger_than_any_region(tmp_path):
    # A device whose largest data RAM is 64 KiB cannot hold VWW's ~100 KiB arena.
    text = (load_device("stm32h743").source.read_text()
            .replace("size = 524288 ", "size = 65536 ")      # AXI SRAM
            .replace('name = "stm32h743"', 'name = "tiny"'))
    for big in ("size = 131072 ", "size = 32768 "):      # DTCM, SRAM2, SRAM3 -> 8 KiB
        text = text.replace(big, "size = 8192 ")
    profile = tmp_path / "tiny.toml"
    profile.write_text(text)
    report = check(mlperf("vww_96_int8"), str(profile))
    assert "arena" in {v.kind for v in report.violations}
    assert report.arena_region is None


def test_cmsis_nn_is_default_and_faster_with_scratch():
    ref = check(mlperf("pretrainedResnet_quant"), "stm32h743", kernels="reference")
    cmsis = check(mlperf("pretrainedResnet_quant"), "stm32h743")
    assert cmsis.kernels == "cmsis-nn"
    assert cmsis.cycles < ref.cycles / 2
    # arm_convolve_s8 asks for im2col scratch (3x3x16 -> 2 * 144 * 2 = 576 bytes at least).
    assert cmsis.plan.head_bytes > ref.plan.head_bytes


def test_slower_cores_take_longer():
    fast = check(mlperf("kws_ref_model"), "stm32h743")
    assert check(mlperf("kws_ref_model"), "stm32h7a3").latency_ms > fast.latency_ms
    assert check(mlperf("kws_ref_model"), "stm32l4r5").latency_ms > 3 * fast.latency_ms


def test_unknown_device_and_stack():
    with pytest.raises(DeviceProfileError, match="stm32h743"):
        check(mlperf("kws_ref_model"), "esp32")
    dev = dataclasses.replace(load_device("stm32h743"), kernels=("reference",))
    with pytest.raises(EdgesimError, match="cmsis-nn"):
        check(mlperf("kws_ref_model"), dev, kernels="cmsis-nn")


def test_report_json_keys():
    d = check(mlperf("kws_ref_model"), "stm32h743").to_dict()
    for key in ("device", "fits", "flash_bytes", "ram_bytes", "arena_bytes", "arena_region",
                "cycles", "latency_ms", "energy_mj", "macs", "layers", "violations"):
        assert key in d
    assert d["layers"][0]["op"] == "CONV_2D" and d["macs"] == 2_656_768


def test_variable_batch_graph_with_scalar_tensors_is_checked(tmp_path):
    """Keras graphs with an unknown batch carry shape arithmetic (SHAPE, STRIDED_SLICE to a
    scalar, PACK) and reductions to scalars; planning and costing them must not fail."""
    import numpy as np
    import tensorflow as tf

    from firmware_sim.export import convert_int8

    inp = tf.keras.Input((64,))
    x = tf.keras.layers.Lambda(lambda t: tf.reshape(t, [tf.shape(t)[0], 8, 8, 1]))(inp)
    x = tf.keras.layers.Conv2D(4, 3)(x)
    x = tf.keras.layers.Lambda(lambda t: t / (1.0 + tf.reduce_max(tf.abs(t))))(x)
    x = tf.keras.layers.Softmax()(tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(x)))
    rng = np.random.default_rng(0)
    data = convert_int8(tf.keras.Model(inp, x),
                        lambda: ([rng.normal(size=(1, 64)).astype(np.float32)] for _ in range(4)))
    path = tmp_path / "variable_batch.tflite"
    path.write_bytes(data)
    report = check(path, "stm32h743")
    scalars = [layer for layer in report.layers if layer.output_shape == ()]
    assert scalars, "the graph should hold scalar tensors"
    assert report.fits and report.macs == 6 * 6 * 9 * 4 + 144 * 3


def test_the_float_warning_quotes_the_int8_alternative_near_the_real_int8_model():
    import re

    note = check(mlperf("vww_96_float"), "stm32h743").notes[0]
    ms, weights = re.search(r"about ([\d.]+) ms .* and ([\d,]+) weight bytes", note).groups()
    int8 = check(mlperf("vww_96_int8"), "stm32h743")
    assert float(ms) == pytest.approx(int8.latency_ms, rel=0.05)
    assert int(weights.replace(",", "")) == pytest.approx(
        sum(l.weight_bytes for l in int8.layers), rel=0.01)


def test_exact_check_reports_its_emulation_in_the_json():
    r = check(mlperf("ad01_int8"), "stm32l4r5", exact=True)
    run = r.to_dict()["exact"]
    assert run["instructions"] > 264_192 and run["wall_s"] > 0      # more than one per MAC
    assert run["dispatch_cycles"] > 0 and "instruction-level emulation" in r.notes[-1]
