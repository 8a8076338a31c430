import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from conftest import FLOAT_MODELS, INT8_MODELS, PUBLISHED_MACS, mlperf
from edgesim.errors import ModelFormatError
from firmware_sim.graph import load_graph


@pytest.mark.parametrize("name", INT8_MODELS)
def test_macs_match_published_counts(name):
    assert load_graph(mlperf(name)).macs == PUBLISHED_MACS[name]


def test_kws_structure():
    g = load_graph(mlperf("kws_ref_model"))
    sg = g.main
    assert [op.opcode for op in sg.operators[:3]] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    assert len(sg.operators) == 13 and len(sg.tensors) == 35
    x = sg.tensors[sg.inputs[0]]
    assert (x.shape, x.dtype) == ((1, 49, 10, 1), "int8")
    assert x.quant.zero_point == (83,)
    conv = sg.operators[0]
    assert conv.options["strideW"] == 2 and conv.options["fusedActivationFunction"] == 1
    w = sg.tensors[conv.inputs[1]]
    assert w.shape == (64, 10, 4, 1) and w.quant.per_channel and len(w.quant.scale) == 64
    assert conv.weight_bytes == 64 * 10 * 4 + 64 * 4       # int8 filter + int32 bias
    data = g.tensor_data(w)
    assert data.dtype == np.int8 and data.shape == w.shape and np.abs(data).max() == 127


@pytest.mark.parametrize("name", FLOAT_MODELS)
def test_float_models_load_as_float32(name):
    sg = load_graph(mlperf(name)).main
    assert sg.tensors[sg.inputs[0]].dtype == "float32"


def _bad(tmp_path, data: bytes, name="bad.tflite"):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ModelFormatError) as info:
        load_graph(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_truncated_file(tmp_path):
    data = mlperf("kws_ref_model").read_bytes()
    for cut in (4, 100, 1000, len(data) - 10):
        _bad(tmp_path, data[:cut])


def test_not_a_tflite_file(tmp_path):
    assert "not a TFLite model" in _bad(tmp_path, b"hello world, I am a text file")
    assert "too short" in _bad(tmp_path, b"")


def test_missing_and_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="no such file"):
        load_graph(tmp_path / "nope.tflite")
    with pytest.raises(ModelFormatError, match="directory"):
        load_graph(tmp_path)


def test_random_corruption_never_crashes(tmp_path):
    data = bytearray(mlperf("kws_ref_model").read_bytes())
    rng = np.random.default_rng(1)
    for trial in range(40):
        bad = bytearray(data)
        for pos in rng.integers(8, 4096, size=16):          # the tables live at the start
            bad[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"c{trial}.tflite"
        path.write_bytes(bytes(bad))
        try:
            load_graph(path)                                  # may still parse: that's fine
        except ModelFormatError as exc:
            assert "\n" not in str(exc)


def _with_shape(shape) -> bytes:
    model = schema.ModelT.InitFromPackedBuf(mlperf("kws_ref_model").read_bytes(), 0)
    model.subgraphs[0].tensors[0].shape = np.array(shape, dtype=np.int32)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_absurd_tensor_is_refused_not_allocated(tmp_path):
    message = _bad(tmp_path, _with_shape([1_000_000, 1_000_000]))
    assert "over the" in message and "1000000000000 elements" in message


def test_negative_dimension(tmp_path):
    assert "negative dimension" in _bad(tmp_path, _with_shape([1, -49, 10, 1]))


def test_rewritten_model_still_loads(tmp_path):
    """The rewrite helper itself produces valid models (so the tests above test the shape)."""
    path = tmp_path / "ok.tflite"
    path.write_bytes(_with_shape([1, 49, 10, 1]))
    assert load_graph(path).macs == PUBLISHED_MACS["kws_ref_model"]


def _repacked(path, edit) -> bytes:
    """The model at `path` after `edit(model_object)`, through the schema's object API."""
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_operator_with_wrong_operand_rank_is_a_format_error():
    def flatten_fc_weights(model):
        sg = model.subgraphs[0]
        fc = next(op for op in sg.operators   # the first FULLY_CONNECTED (builtin code 9)
                  if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                         model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == 9)
        w = sg.tensors[fc.inputs[1]]
        w.shape = [int(np.prod(w.shape))]

    data = _repacked(mlperf("ad01_int8"), flatten_fc_weights)
    with pytest.raises(ModelFormatError, match=r"FULLY_CONNECTED input 1 .* not rank 2"):
        load_graph(data)
