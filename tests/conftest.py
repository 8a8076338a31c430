"""Shared fixtures: the reference models and data beside the project (../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
MLPERF = SHARED / "models" / "mlperf_tiny"
INT8_MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]
FLOAT_MODELS = ["kws_ref_model_float32", "vww_96_float", "pretrainedResnet"]

# MACs published with the models (../shared/models/README.md).
PUBLISHED_MACS = {"kws_ref_model": 2_656_768, "vww_96_int8": 7_489_664,
                  "pretrainedResnet_quant": 12_501_632, "ad01_int8": 264_192}


def tflm_invoke(data: bytes, inputs: list, preserve: bool = False):
    """A TFLite Micro interpreter (the reference) that ran `data` on `inputs`; with
    `preserve`, every intermediate tensor stays readable."""
    from tflite_micro.python.tflite_micro import runtime

    config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve
              else runtime.InterpreterConfig.kAllocationRecording)
    interp = runtime.Interpreter.from_bytes(data, intrepreter_config=config)
    for k, x in enumerate(inputs):
        interp.set_input(x, k)
    interp.invoke()
    return interp


def mlperf(name: str) -> Path:
    path = MLPERF / f"{name}.tflite"
    assert path.exists(), f"reference model missing: {path} (../shared must sit beside the repo)"
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """One fresh edgesim cache for the whole run, whatever the order of the tests: nothing
    is read from (or written to) the user's ~/.cache/edgesim, as on a CI machine."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESIM_CACHE", str(tmp_path_factory.mktemp("edgesim-cache")))
        yield


@pytest.fixture(scope="session")
def demo_model() -> Path:
    """The project's own exported INT8 model (built once per session)."""
    from firmware_sim.demo_model import demo_model_path

    return demo_model_path()
