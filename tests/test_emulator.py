import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro.python.tflite_micro import runtime

from conftest import mlperf
from firmware_sim import EdgesimError, Emulator, InputDataError


def _litert(path, inputs, resolver):
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    out = []
    for x in inputs:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        out.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    return out


def _inputs(loaded, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=loaded.inputs[0].shape, dtype=np.int8) for _ in range(n)]


@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8"])
def test_bit_exact_with_litert_reference_kernels(name):
    loaded = Emulator("stm32h743").load(mlperf(name))
    xs = _inputs(loaded, 10)
    ours = [loaded.run(x).outputs[0] for x in xs]
    for a, b in zip(ours, _litert(mlperf(name), xs, OpResolverType.BUILTIN_REF)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,max_lsb", [("pretrainedResnet_quant", 1), ("ad01_int8", 2)])
def test_difference_to_litert_reference_kernels_is_bounded(name, max_lsb):
    """TFLM and LiteRT's reference ADD / FULLY_CONNECTED round differently in places:
    measured here at most 1 LSB (ResNet-8) and 2 LSB (AD autoencoder) of the int8 output."""
    loaded = Emulator("stm32h743").load(mlperf(name))
    xs = _inputs(loaded, 10)
    ours = [loaded.run(x).outputs[0].astype(int) for x in xs]
    theirs = [y.astype(int) for y in _litert(mlperf(name), xs, OpResolverType.BUILTIN_REF)]
    diff = max(int(np.abs(a - b).max()) for a, b in zip(ours, theirs))
    assert diff <= max_lsb


def test_same_as_bare_tflm_and_ledger_attached():
    path = mlperf("kws_ref_model")
    loaded = Emulator("stm32h743", kernels="reference").load(path)
    bare = runtime.Interpreter.from_file(str(path), arena_size=100_000)
    for x in _inputs(loaded, 3):
        result = loaded.run(x)
        bare.set_input(x, 0)
        bare.invoke()
        np.testing.assert_array_equal(result.outputs[0], bare.get_output(0))
        assert result.ledger.fits and result.ledger.cycles > 0
        assert [l.op for l in result.ledger.layers][-1] == "SOFTMAX"


def test_float_inputs_are_quantised_and_checked():
    loaded = Emulator("stm32h743").load(mlperf("kws_ref_model"))
    scale, zp = loaded.inputs[0].quant.scale[0], loaded.inputs[0].quant.zero_point[0]
    q = _inputs(loaded, 1)[0]
    real = (q.astype(np.float32) - zp) * scale
    np.testing.assert_array_equal(loaded.run(real).outputs[0], loaded.run(q).outputs[0])
    with pytest.raises(InputDataError, match="NaN"):
        loaded.run(np.full(loaded.inputs[0].shape, np.nan, dtype=np.float32))
    with pytest.raises(InputDataError, match="shape"):
        loaded.run(np.zeros((1, 10, 49, 1), dtype=np.int8))
    with pytest.raises(InputDataError, match="int8"):
        loaded.run(np.zeros(loaded.inputs[0].shape, dtype=np.int32))
    with pytest.raises(InputDataError, match="1 input"):
        loaded.run([q, q])


def test_hybrid_model_cannot_run_on_tflm():
    with pytest.raises(EdgesimError, match="hybrid CONV_2D: 5 operators"):
        Emulator("stm32h743").load(mlperf("kws_ref_model_float32"))


def test_float_model_runs_through_tflm_on_an_fpu_core():
    x = np.random.default_rng(0).normal(size=(1, 96, 96, 3)).astype(np.float32)
    out = Emulator("stm32h743").load(mlperf("vww_96_float")).run(x).outputs[0]
    lite = Emulator("rpi4b").load(mlperf("vww_96_float")).run(x).outputs[0]
    assert out.dtype == np.float32 and out.shape == (1, 2)
    np.testing.assert_allclose(out, lite, atol=1e-5)     # TFLM's and TFLite's float kernels
