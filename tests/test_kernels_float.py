"""The float32 kernels (TFLM's float reference kernels, built for the cores' FPUs): bit-exact
against TFLM's interpreter on single layers of every kind, on real layers of the float MLPerf
Tiny models, and on a whole model; the FPU timing; the fast model against the exact run.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import mlperf, tflm_invoke
from firmware_sim.pipeline import check
from firmware_sim.cost import kernel_features as kf
from firmware_sim.graph import load_graph
from firmware_sim.kernels import synth
from firmware_sim.kernels.build import Instr, build
from firmware_sim.kernels.runner import ModelMachine
from firmware_sim.kernels.timing import (M7_FMAC_ACC_SKEW, M7_LATENCY, block_cycles_m4,
                                         block_cycles_m7, decode)
from firmware_sim.ops import SAME, VALID


def _inputs(g, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(3 * rng.standard_normal(g.main.tensors[i].shape)).astype(np.float32)
            for i in g.main.inputs]


F32 = {"float32": True}
LAYERS = {
    "conv3x3_s2_same": synth.conv_model((9, 7), 3, 5, (3, 3), 2, seed=1, **F32),
    "conv1x1_valid": synth.conv_model((5, 5), 6, 7, (1, 1), 1, padding=VALID, seed=2, **F32),
    "depthwise5x5": synth.conv_model((7, 9), 13, 13, (5, 5), 1, depthwise=True, seed=3, **F32),
    "fc": synth.fc_model(37, 9, seed=4, **F32),
    "avgpool_same": synth.pool_model((7, 7), 6, 3, 2, padding=SAME, seed=5, **F32),
    "maxpool": synth.pool_model((6, 6), 5, 2, 2, average=False, seed=6, **F32),
    "add": synth.add_model((1, 5, 5, 3), seed=7, **F32),
    "softmax": synth.softmax_model(3, 40, seed=8, **F32),
    "reshape": synth.reshape_model((1, 1, 1, 10), (1, 10), seed=9, **F32),
}


def test_build_has_the_float_kernels_and_fpu_instructions():
    for core in ("cortex-m7", "cortex-m4"):
        image = build(core)
        assert {"conv_f32", "depthwise_f32", "softmax_f32", "add_f32"} <= set(image.symbols)
        mnemonics = {i.mnemonic for i in image.instructions.values()}
        assert {"vldr", "vstr", "vadd", "vdiv"} <= mnemonics
        assert {"vmul", "vmla"} & mnemonics


@pytest.mark.parametrize("device", ["stm32h743", "stm32l4r5"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_float_layers_bit_exact(name, device):
    """Every float kernel, with loop tails, padding and a fused ReLU, on both cores' builds."""
    data = LAYERS[name]
    g = load_graph(data)
    xs = _inputs(g, 5)
    ref = tflm_invoke(data, xs).get_output(0)
    run = ModelMachine(g, device).run(xs)
    out = run.outputs[0]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref.reshape(out.shape))
    assert run.layers[0].entry == kf.kernel_entry(g.main.operators[0], g.main)


@pytest.mark.parametrize("name,layers,device", [
    ("pretrainedResnet", [6, 10, 11, 12, 13, 14, 15], "stm32h743"),   # strided 1x1, add, pool, fc, softmax
    ("vww_96_float", [23, 25, 27, 28, 29, 30], "stm32l4r5"),          # strided dw, dw, pool, fc, softmax
])
def test_float_model_layers_bit_exact(name, layers, device):
    g = load_graph(mlperf(name))
    sg = g.main
    interp = tflm_invoke(g.data, _inputs(g, 11), preserve=True)
    mm = ModelMachine(g, device)
    for i in layers:
        op = sg.operators[i]
        for t in op.inputs:
            if t >= 0 and not sg.tensors[t].constant:
                mm.set_tensor(t, interp.GetTensor(t, 0)["tensor_data"])
        run = mm.run_layer(i)
        ref = interp.GetTensor(op.outputs[0], 0)["tensor_data"].reshape(run.output.shape)
        np.testing.assert_array_equal(run.output, ref, err_msg=f"{name} layer {i} {op.opcode}")
        if run.entry != "copy_s8":                  # RESHAPE copies words
            assert run.record.by_class["fload"] > 0 and run.record.cycles > 0


def _kws_float_twin():
    """The float KWS with its int8 (hybrid) conv weights dequantised: TFLM refuses the
    original ("Hybrid models are not supported on TFLite Micro")."""
    return load_graph(synth.float_weights_twin(mlperf("kws_ref_model_float32").read_bytes()))


def test_hybrid_layers_are_refused_with_the_reason():
    g = load_graph(mlperf("kws_ref_model_float32"))
    mm = ModelMachine(g, "stm32h743")
    assert set(mm.unsupported) == {0, 2, 4, 6, 8}                # the convs with int8 weights
    assert "hybrid" in mm.unsupported[2]
    assert kf.kernel_entry(g.main.operators[2], g.main) is None
    assert kf.kernel_entry(g.main.operators[1], g.main) == "depthwise_f32"


def test_kws_float_whole_model_bit_exact_on_stm32h743():
    g = _kws_float_twin()
    xs = _inputs(g, 3)
    ref = tflm_invoke(g.data, xs).get_output(0)
    run = ModelMachine(g, "stm32h743").run(xs)
    np.testing.assert_array_equal(run.outputs[0], ref.reshape(run.outputs[0].shape))


def test_fpu_decode_and_cortex_m4_cycles():
    def dec(m, ops):
        return decode(Instr(0, 4, m, ops))
    vmla = dec("vmla", "s2, s4, s6")
    assert vmla.cls == "fmac" and vmla.acc == vmla.dests[0] and vmla.acc in vmla.srcs
    assert dec("vldr", "s0, [r1, #4]").cls == "fload"
    assert dec("vpush", "{d8, d9}").regs_moved == 4
    assert dec("vcmp", "s4, s2").dests == dec("vmrs", "apsr_nzcv, fpscr").srcs   # the FPSCR flags
    # Cortex-M4 TRM Table 7-1: VLDR.32 2, VADD 1, VMLA 3, VDIV 14, VPUSH of 4 words 1 + 4
    for ins, cycles in [(("vldr", "s0, [r1]"), 2), (("vadd", "s0, s1, s2"), 1),
                        (("vmla", "s2, s4, s6"), 3), (("vdiv", "s4, s6, s4"), 14),
                        (("vpush", "{d8, d9}"), 5)]:
        assert block_cycles_m4([dec(*ins)]) == cycles, ins
    # Cortex-M7: a dependent VADD waits for its operand's latency; independent ones issue
    # back to back (one FPU pipe); a VMLA chain on one accumulator advances by the
    # accumulator skew, a VADD of the VMLA's result waits for the full latency
    dependent = [dec("vadd", "s0, s1, s2"), dec("vadd", "s3, s0, s2")]
    independent = [dec("vadd", "s0, s1, s2"), dec("vadd", "s3, s4, s5")]
    assert block_cycles_m7(independent) == 2
    assert block_cycles_m7(dependent) == 1 + M7_LATENCY["fpu"]
    chain = [dec("vmla", "s0, s2, s4"), dec("vmla", "s0, s6, s8")]
    assert block_cycles_m7(chain) == 1 + M7_FMAC_ACC_SKEW
    assert block_cycles_m7([chain[0], dec("vadd", "s1, s2, s0")]) == 1 + M7_LATENCY["fmac"]
    # a load pairs with an FPU instruction in the same cycle
    assert block_cycles_m7([dec("vldr", "s5, [r1]"), dec("vadd", "s0, s1, s2")]) == 1


def test_float_fast_model_within_5_percent_of_exact():
    g = _kws_float_twin()
    fast = check(g, "stm32h743")
    exact = check(g, "stm32h743", exact=True)
    for f, e in zip(fast.layers, exact.layers):
        assert f.calibrated and f.op == e.op
    assert abs(fast.cycles - exact.cycles) / exact.cycles < 0.05
    assert fast.cycles != exact.cycles


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vww_96_float", "pretrainedResnet", "kws_float_twin"])
def test_float_whole_models_bit_exact_and_fast_within_5_percent(name):
    g = _kws_float_twin() if name == "kws_float_twin" else load_graph(mlperf(name))
    xs = _inputs(g, 3)
    ref = tflm_invoke(g.data, xs).get_output(0)
    run = ModelMachine(g, "stm32h743").run(xs)
    np.testing.assert_array_equal(run.outputs[0], ref.reshape(run.outputs[0].shape))
    for device in ("stm32h743", "stm32l4r5"):
        fast, exact = check(g, device), check(g, device, exact=True)
        assert abs(fast.cycles - exact.cycles) / exact.cycles < 0.05, device


def test_calibration_fits_a_float_kernel(tmp_path):
    import tomllib

    from tools import calibrate_cortex_m as cal
    out = tmp_path / "table.toml"
    assert cal.main(["--quick", "--cores", "cortex-m7", "--kernels", "depthwise_f32",
                     "--out", str(out)]) == 0
    row = tomllib.loads(out.read_text())["cortex-m7"]["depthwise_f32"]
    # the quick table predicts a layer it never saw (the float KWS's depthwise) closely
    g = _kws_float_twin()
    f = kf.features("depthwise_f32", g.main.operators[1], g.main)
    predicted = sum(c * f[n] for n, c in zip(row["features"], row["cycles"]))
    rec = ModelMachine(g, "stm32h743").run_layer(1).record
    assert abs(predicted - (rec.issue_cycles + rec.branch_cycles)) / rec.cycles < 0.05
