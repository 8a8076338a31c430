"""The instruction-level path: C kernels cross-compiled for Cortex-M, run on unicorn.

The compiler is clang from the `ziglang` wheel, installed with edgesim. Bit-exactness is checked against TFLM on real layers
of the four MLPerf Tiny models: each layer is fed TFLM's own input tensor (the interpreter
keeps every intermediate with kPreserveAllTensors) and must reproduce TFLM's output exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import mlperf, tflm_invoke
from firmware_sim.pipeline import check
from firmware_sim.cost import kernel_features as kf
from edgesim.errors import EdgesimError
from firmware_sim.graph import load_graph
from firmware_sim.kernels import synth
from firmware_sim.kernels import build as build_module
from firmware_sim.kernels.build import ToolchainMissing, build
from firmware_sim.kernels.params import UnsupportedLayer
from firmware_sim.kernels.runner import ModelMachine
from firmware_sim.kernels.timing import (Decoded, block_cycles_m4, block_cycles_m7, decode)
from firmware_sim.kernels.build import Instr


def _check_layers(name: str, layers, device="stm32h743"):
    g = load_graph(mlperf(name))
    sg = g.main
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, sg.tensors[sg.inputs[0]].shape).astype(np.int8)
    interp = tflm_invoke(g.data, [x], preserve=True)
    mm = ModelMachine(g, device)
    records = {}
    for i in layers:
        op = sg.operators[i]
        for t in op.inputs:
            if t >= 0 and not sg.tensors[t].constant:
                mm.set_tensor(t, interp.GetTensor(t, 0)["tensor_data"])
        run = mm.run_layer(i)
        ref = interp.GetTensor(op.outputs[0], 0)["tensor_data"].reshape(run.output.shape)
        np.testing.assert_array_equal(run.output, ref, err_msg=f"{name} layer {i} {op.opcode}")
        records[i] = run
    return g, records


def test_build_is_cached_and_uses_dsp_instructions():
    for core in ("cortex-m7", "cortex-m4"):
        a, b = build(core), build(core)
        assert a.path == b.path and a.path.is_dir()
        mnemonics = {i.mnemonic for i in a.instructions.values()}
        assert {"smlad", "sxtb16", "sxtab16", "smlal"} <= mnemonics
        assert set(a.symbols) >= {"conv_s8", "depthwise_s8", "fully_connected_s8", "softmax_s8"}
    assert build("cortex-m7").path != build("cortex-m4").path


def test_missing_compiler_is_one_line_naming_the_wheel(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    def not_installed(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(build_module, "version", not_installed)
    build_module._compiler_version.cache_clear()
    try:
        with pytest.raises(ToolchainMissing) as exc:
            build("cortex-m7")
        assert "pip install ziglang" in str(exc.value) and "\n" not in str(exc.value)
        from edgesim.cli import main
        assert main(["check", str(mlperf("ad01_int8")), "--device", "stm32h743", "--exact"]) == 2
    finally:
        build_module._compiler_version.cache_clear()


def test_ad01_every_layer_bit_exact_and_counts():
    g, recs = _check_layers("ad01_int8", range(10))
    sg = g.main
    for i, run in recs.items():
        op, r = sg.operators[i], run.record
        assert sum(r.by_class.values()) == r.instructions
        # two 16-bit MACs per SMLAD, plus one SMLAL per output for the requantisation
        outputs = sg.tensors[op.outputs[0]].elements
        assert op.macs / 2 <= r.by_class["mac"] <= op.macs / 2 + 2 * outputs
        assert r.accesses["flash"] >= op.weight_bytes / 4      # weights stream from flash
        assert r.accesses["DTCM"] > 0 and r.cycles > 0


@pytest.mark.parametrize("name,layers", [
    ("kws_ref_model", [0, 1, 2, 9, 10, 11, 12]),                 # 10x4 conv, dw 3x3, 1x1, pool, fc, softmax
    ("pretrainedResnet_quant", [6, 10, 11, 12, 13, 14, 15]),     # strided 1x1, add, pool, fc, softmax
    ("vww_96_int8", [23, 24, 25, 26, 27, 29, 30]),               # strided dw, 1x1, dw, pool, fc, softmax
])
def test_reference_model_layers_bit_exact(name, layers):
    _check_layers(name, layers)


def test_3x3_conv_layers_bit_exact():
    _check_layers("pretrainedResnet_quant", [8])                  # 3x3 stride 2, 32 -> 64, padded
    _check_layers("vww_96_int8", [0], device="stm32l4r5")        # 3x3 stride 2, 3 channels, on the M4 build


@pytest.mark.parametrize("data", [
    synth.conv_model((9, 7), 3, 5, (3, 3), 2, seed=1), synth.conv_model((5, 5), 5, 7, (1, 1), 2, seed=2),
    synth.conv_model((7, 9), 13, 13, (5, 5), 1, depthwise=True, seed=3), synth.fc_model(37, 9, seed=4),
    synth.pool_model((7, 7), 6, 3, 2, padding=0, seed=5), synth.pool_model((6, 6), 5, 2, 2, average=False, seed=6),
    synth.add_model((1, 5, 5, 3), seed=7), synth.softmax_model(3, 7, seed=8)], ids=lambda _: "")
def test_odd_shapes_bit_exact(data):
    """Tails of every loop: odd filter and pixel counts, channels not a multiple of 4, SAME padding."""
    g = load_graph(data)
    rng = np.random.default_rng(5)
    xs = [rng.integers(-128, 128, g.main.tensors[i].shape).astype(np.int8) for i in g.main.inputs]
    ref = tflm_invoke(data, xs).get_output(0)
    out = ModelMachine(g, "stm32h743").run(xs).outputs[0]
    np.testing.assert_array_equal(out, ref.reshape(out.shape))


def test_arena_region_changes_stalls_not_instructions():
    g = load_graph(mlperf("kws_ref_model"))
    tcm = ModelMachine(g, "stm32h743").run_layer(1).record
    axi = ModelMachine(g, "stm32h743", arena_region="AXI_SRAM").run_layer(1).record
    assert tcm.instructions == axi.instructions
    assert "AXI_SRAM" in axi.accesses and "AXI_SRAM" not in tcm.accesses
    assert axi.misses.get("AXI_SRAM", 0) > 0
    assert axi.stall_cycles > tcm.stall_cycles + 1000


def _d(cls, dests, srcs, acc=-1, root="add"):
    return Decoded(cls, root, tuple(dests), tuple(srcs), acc, 1, False, False, 2)


def test_m7_pairing_and_load_use():
    independent = [_d("alu", [0], [1]), _d("alu", [2], [3])]
    dependent = [_d("alu", [0], [1]), _d("alu", [2], [0])]
    load_use = [_d("load", [0], [1], root="ldr"), _d("alu", [2], [0])]
    two_loads = [_d("load", [0], [1], root="ldr"), _d("load", [2], [3], root="ldr")]
    mac_chain = [_d("mac", [4], [0, 1, 4], acc=4, root="smlad"), _d("mac", [4], [2, 3, 4], acc=4, root="smlad")]
    assert block_cycles_m7(independent) == 1
    assert block_cycles_m7(dependent) == 2
    assert block_cycles_m7(load_use) == 3
    assert block_cycles_m7(two_loads) == 2
    assert block_cycles_m7(mac_chain) == 2          # accumulator forwarding, one MAC pipe
    # Cortex-M4: LDR 2, a following LDR pipelines to 1, ALU 1
    assert block_cycles_m4(two_loads + [_d("alu", [5], [0])]) == 4


def test_decode_classes():
    def dec(m, ops):
        return decode(Instr(0, 4, m, ops))
    assert dec("smlad", "r4, r0, r1, r4").cls == "mac"
    assert dec("smlad", "r4, r0, r1, r4").acc == 4
    assert dec("ldr", "r3, [r2, #4]").dests == (3,)
    assert set(dec("ldr", "r3, [r2], #4").dests) == {2, 3}
    assert dec("pop", "{r4, r5, pc}").is_return
    assert dec("bne", "8000100 <x>").conditional_branch
    assert dec("sdiv", "r0, r1, r2").cls == "div"
    assert dec("sxtb16", "r0, r1, ror #8").cls == "dsp"
    assert dec("movlt", "r0, r3").cls == "alu"


def test_cyclic_lru_misses():
    assert kf.cyclic_misses(100, 5, sets=128, ways=4) == 100        # fits: compulsory only
    assert kf.cyclic_misses(1024, 3, sets=128, ways=4) == 3 * 1024  # 8 lines per set: thrash
    assert kf.cyclic_misses(576, 2, sets=128, ways=4) == 576 + 64 * 5   # half the sets hold 5


@pytest.mark.parametrize("name,device", [("ad01_int8", "stm32h743"), ("ad01_int8", "stm32l4r5"),
                                         ("kws_ref_model", "stm32h743")])
def test_fast_model_within_5_percent_of_exact(name, device):
    fast = check(mlperf(name), device)
    exact = check(mlperf(name), device, exact=True)
    assert [l.op for l in fast.layers] == [l.op for l in exact.layers]
    assert any("instruction-level" in n for n in exact.notes)
    assert abs(fast.cycles - exact.cycles) / exact.cycles < 0.05
    assert fast.cycles != exact.cycles


def test_exact_refuses_reference_stack_and_cpus():
    with pytest.raises(EdgesimError, match="cmsis-nn"):
        check(mlperf("ad01_int8"), "stm32h743", kernels="reference", exact=True)
    with pytest.raises(EdgesimError, match="Cortex-M"):
        check(mlperf("ad01_int8"), "rpi4b", exact=True)


def test_unsupported_layer_reports_its_own_reason():
    g = load_graph(mlperf("kws_ref_model_float32"))      # its convs are hybrid: no kernel
    mm = ModelMachine(g, "stm32h743")
    layer2_weights = g.main.operators[2].inputs[1]
    with pytest.raises(UnsupportedLayer, match=f"^operator 2 CONV_2D: tensor {layer2_weights} "
                                               ".* is int8; TFLM refuses hybrid"):
        mm.run_layer(2)
    with pytest.raises(UnsupportedLayer, match="^operator 0 "):
        mm.run()                                          # the first layer that fails


def _fc_with_dangling_tensor() -> bytes:
    """synth.fc_model(8, 4, seed=3) plus a non-constant tensor no operator uses (named like
    the output, listed before it): TFLM plans no buffer for it."""
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(3)
    b = synth._Builder()
    x = b.tensor((1, 8), "int8", synth._act_quant(rng))
    wscale = rng.uniform(0.002, 0.02)
    wt = b.tensor((4, 8), "int8", synth._quant(wscale, 0),
                  rng.integers(-127, 128, (4, 8)).astype(np.int8))
    bs = b.tensor((4,), "int32", synth._quant(b.tensors[x].quantization.scale[0] * wscale, 0),
                  rng.integers(-3000, 3000, 4).astype(np.int32))
    unused = b.tensor((1, 64), "int8", synth._quant(0.1, 0))
    y = b.tensor((1, 4), "int8", synth._act_quant(rng))
    b.tensors[unused].name = b.tensors[y].name
    o = s.FullyConnectedOptionsT()
    o.fusedActivationFunction = 1
    return b.finish(s.BuiltinOperator.FULLY_CONNECTED, [x, wt, bs], [y],
                    s.BuiltinOptions.FullyConnectedOptions, o)


def test_unused_tensor_does_not_shift_arena_addresses():
    g, ref = load_graph(_fc_with_dangling_tensor()), load_graph(synth.fc_model(8, 4, seed=3))
    mm = ModelMachine(g, "stm32h743")
    y = g.main.outputs[0]
    assert 3 not in mm.addr and mm.addr[y] == ModelMachine(ref, "stm32h743").addr[ref.main.outputs[0]]
    x = np.arange(-4, 4, dtype=np.int8).reshape(1, 8)
    np.testing.assert_array_equal(mm.run([x]).outputs[0],
                                  ModelMachine(ref, "stm32h743").run([x]).outputs[0])


def test_calibration_regenerates_a_usable_table(tmp_path):
    import tomllib

    from tools import calibrate_cortex_m as cal
    out = tmp_path / "table.toml"
    assert cal.main(["--cores", "cortex-m4", "--kernels", "conv_1x1_s8", "add_s8",
                     "--out", str(out)]) == 0
    table = tomllib.loads(out.read_text())["cortex-m4"]
    assert set(table) == {"conv_1x1_s8", "add_s8"}
    for row in table.values():
        assert len(row["features"]) == len(row["cycles"]) == len(row["instructions"])
    # the quick table predicts a layer it never saw (KWS's 1x1 conv) within 10% of emulation
    g = load_graph(mlperf("kws_ref_model"))
    op = g.main.operators[2]
    f = kf.features("conv_1x1_s8", op, g.main)
    row = table["conv_1x1_s8"]
    predicted = sum(c * f[n] for n, c in zip(row["features"], row["cycles"]))
    rec = ModelMachine(g, "stm32l4r5").run_layer(2).record
    assert abs(predicted - (rec.issue_cycles + rec.branch_cycles)) / rec.cycles < 0.10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"])
def test_whole_model_bit_exact_and_fast_model_within_5_percent(name):
    g = load_graph(mlperf(name))
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, g.main.tensors[g.main.inputs[0]].shape).astype(np.int8)
    ref = tflm_invoke(g.data, [x], preserve=True).get_output(0)
    run = ModelMachine(g, "stm32h743").run([x])
    np.testing.assert_array_equal(run.outputs[0], ref.reshape(run.outputs[0].shape))
    for device in ("stm32h743", "stm32h7a3", "stm32f746", "stm32l4r5"):
        fast, exact = check(g, device), check(g, device, exact=True)
        assert abs(fast.cycles - exact.cycles) / exact.cycles < 0.05, device


def test_concurrent_cold_builds_all_succeed_and_leave_no_temporaries(tmp_path):
    """Three processes build into one empty cache at once: each gets the build, the folder
    is published once, and no private temporary folder is left behind."""
    import os
    import subprocess
    import sys

    code = "from firmware_sim.kernels.build import build; print(build('cortex-m4').path)"
    env = {**os.environ, "EDGESIM_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    kernels = tmp_path / "kernels"
    assert [p.name for p in kernels.iterdir()] == [Path(paths.pop()).name]
    assert (kernels / next(kernels.iterdir()).name / "image.json").is_file()
