"""load_graph checks every TFLite field before a planner, cost model, kernel or interpreter
reads it: hand-made bad models (real models edited through the schema's object API) are each
refused with one ModelFormatError line naming the file and the field."""

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from conftest import mlperf
from edgesim.cli import main
from edgesim.errors import EdgesimError, ModelFormatError
from firmware_sim import Emulator, check
from firmware_sim.graph import load_graph

OP = schema.BuiltinOperator


def _edited(name: str, edit) -> bytes:
    """The MLPerf Tiny model `name` after edit(model, subgraph) on its object-API form."""
    model = schema.ModelT.InitFromPackedBuf(mlperf(name).read_bytes(), 0)
    edit(model, model.subgraphs[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _first(model, sg, code: int):
    """The first operator of builtin `code`."""
    return next(op for op in sg.operators
                if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                       model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == code)


def _refused(tmp_path, data: bytes, *words: str) -> str:
    """Load `data` from a file: a one-line ModelFormatError naming the file and `words`."""
    path = tmp_path / "bad.tflite"
    path.write_bytes(data)
    with pytest.raises(ModelFormatError) as info:
        load_graph(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_a_repacked_model_is_still_accepted():
    for name in ("kws_ref_model", "ad01_int8", "kws_ref_model_float32"):
        graph = load_graph(_edited(name, lambda m, sg: None))
        assert graph.macs == load_graph(mlperf(name)).macs
        assert not any(op.unresolved_shapes for op in graph.main.operators)


def test_stride_zero(tmp_path):
    def edit(m, sg):
        _first(m, sg, OP.CONV_2D).builtinOptions.strideW = 0
    _refused(tmp_path, _edited("kws_ref_model", edit), "operator 0 CONV_2D", "stride_w 0 must be >= 1")


def test_dilation_zero_and_pool_filter_zero(tmp_path):
    def dilation(m, sg):
        _first(m, sg, OP.DEPTHWISE_CONV_2D).builtinOptions.dilationHFactor = 0
    _refused(tmp_path, _edited("kws_ref_model", dilation), "DEPTHWISE_CONV_2D",
             "dilation_h_factor 0 must be >= 1")

    def filter_size(m, sg):
        _first(m, sg, OP.AVERAGE_POOL_2D).builtinOptions.filterWidth = 0
    _refused(tmp_path, _edited("kws_ref_model", filter_size), "filter_width 0 must be >= 1")


def test_padding_and_activation_enums(tmp_path):
    def padding(m, sg):
        _first(m, sg, OP.CONV_2D).builtinOptions.padding = 2
    _refused(tmp_path, _edited("kws_ref_model", padding), "padding 2 is not one of SAME, VALID")

    def activation(m, sg):
        _first(m, sg, OP.FULLY_CONNECTED).builtinOptions.fusedActivationFunction = 9
    _refused(tmp_path, _edited("ad01_int8", activation), "fused_activation_function 9")


def test_missing_or_mismatched_builtin_options(tmp_path):
    def missing(m, sg):
        op = _first(m, sg, OP.CONV_2D)
        op.builtinOptionsType, op.builtinOptions = 0, None
    _refused(tmp_path, _edited("kws_ref_model", missing), "has no Conv2DOptions")

    def mismatched(m, sg):
        op = _first(m, sg, OP.SOFTMAX)
        op.builtinOptionsType = schema.BuiltinOptions.Pool2DOptions
        op.builtinOptions = schema.Pool2DOptionsT()
    _refused(tmp_path, _edited("kws_ref_model", mismatched),
             "builtin options are Pool2DOptions; SOFTMAX takes SoftmaxOptions")


def test_per_channel_axis_outside_the_rank(tmp_path):
    def edit(m, sg):
        w = sg.tensors[_first(m, sg, OP.CONV_2D).inputs[1]]
        w.quantization.quantizedDimension = 7
    _refused(tmp_path, _edited("kws_ref_model", edit), "quantization quantized_dimension 7",
             "outside the tensor's rank 4")


def test_per_channel_scales_must_match_their_dimension(tmp_path):
    def edit(m, sg):
        w = sg.tensors[_first(m, sg, OP.CONV_2D).inputs[1]]
        w.quantization.quantizedDimension = 3          # 64 scales along a dimension of 1
    _refused(tmp_path, _edited("kws_ref_model", edit), "64 per-channel scales",
             "dimension 3 of shape [64, 10, 4, 1] is 1")


@pytest.mark.parametrize("scale", [0.0, float("nan"), float("inf"), -0.5])
def test_scale_zero_nan_infinite_or_negative(tmp_path, scale):
    def edit(m, sg):
        sg.tensors[sg.inputs[0]].quantization.scale = [scale]
    _refused(tmp_path, _edited("kws_ref_model", edit), f"scale {scale}", "finite and > 0")


def test_zero_point_range_and_count(tmp_path):
    def out_of_range(m, sg):
        sg.tensors[sg.inputs[0]].quantization.zeroPoint = [300]
    _refused(tmp_path, _edited("kws_ref_model", out_of_range),
             "zero_point 300 is outside the int8 range [-128, 127]")

    def missing(m, sg):
        sg.tensors[sg.inputs[0]].quantization.zeroPoint = None
    _refused(tmp_path, _edited("kws_ref_model", missing), "1 scale(s) but 0 zero_point(s)")


def test_empty_conv_inputs(tmp_path):
    def edit(m, sg):
        _first(m, sg, OP.CONV_2D).inputs = []
    _refused(tmp_path, _edited("kws_ref_model", edit), "operator 0 CONV_2D has 0 input(s)",
             "it takes 2 to 3")


def test_omitted_required_input(tmp_path):
    def edit(m, sg):
        op = _first(m, sg, OP.CONV_2D)
        op.inputs = [op.inputs[0], -1, op.inputs[2]]
    _refused(tmp_path, _edited("kws_ref_model", edit), "input 1 is omitted (-1)")


@pytest.mark.parametrize("which", ["outputs", "inputs"])
def test_emptied_graph_inputs_or_outputs(tmp_path, which):
    def edit(m, sg):
        setattr(sg, which, [])
    _refused(tmp_path, _edited("kws_ref_model", edit), f"subgraph 0 has no graph {which}")

    def absent(m, sg):
        setattr(sg, which, None)
    _refused(tmp_path, _edited("kws_ref_model", absent), f"has no {which} vector")


def test_emptied_graph_outputs_refused_by_check_exact_in_one_line(tmp_path, capsys):
    path = tmp_path / "no_outputs.tflite"
    path.write_bytes(_edited("ad01_int8", lambda m, sg: setattr(sg, "outputs", [])))
    assert main(["check", str(path), "--device", "stm32h743", "--exact"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no graph outputs" in err


def test_indices_out_of_range(tmp_path):
    def tensor(m, sg):
        op = _first(m, sg, OP.CONV_2D)
        op.inputs = [999, *op.inputs[1:]]
    _refused(tmp_path, _edited("kws_ref_model", tensor), "operator 0 CONV_2D input",
             "refers to tensor 999, but there are 35")

    def opcode(m, sg):
        sg.operators[2].opcodeIndex = 42
    _refused(tmp_path, _edited("kws_ref_model", opcode), "operator 2 opcode_index 42 is out of range")

    def buffer(m, sg):
        sg.tensors[3].buffer = len(m.buffers) + 4
    _refused(tmp_path, _edited("kws_ref_model", buffer), "tensor 3", "buffer", "is out of range")

    def graph_output(m, sg):
        sg.outputs = [sg.outputs[0], 35]
    _refused(tmp_path, _edited("kws_ref_model", graph_output), "graph output refers to tensor 35")


def _reshaped(sg, index: int, shape: list[int]) -> None:
    sg.tensors[index].shape = shape
    sg.tensors[index].shapeSignature = None


def test_reshape_element_count(tmp_path):
    def edit(m, sg):
        _reshaped(sg, _first(m, sg, OP.RESHAPE).outputs[0], [1, 63])
    _refused(tmp_path, _edited("kws_ref_model", edit), "RESHAPE", "64 elements", "has 63",
             "keeps the element count")


def test_shapes_against_the_operator_contracts(tmp_path):
    def conv_output(m, sg):
        _reshaped(sg, _first(m, sg, OP.CONV_2D).outputs[0], [1, 24, 5, 64])
    _refused(tmp_path, _edited("kws_ref_model", conv_output), "operator 0 CONV_2D output 0",
             "has shape [1, 24, 5, 64], but input, filter, strides, dilations and padding give "
             "[1, 25, 5, 64]")

    def depth_multiplier(m, sg):
        _first(m, sg, OP.DEPTHWISE_CONV_2D).builtinOptions.depthMultiplier = 2
    _refused(tmp_path, _edited("kws_ref_model", depth_multiplier),
             "depth_multiplier 2 x 64 input channels != 64 filter channels")

    def fc_units(m, sg):
        _reshaped(sg, _first(m, sg, OP.FULLY_CONNECTED).outputs[0], [1, 127])
    _refused(tmp_path, _edited("ad01_int8", fc_units), "FULLY_CONNECTED output 0",
             "1 rows of 128 units expected")


def test_constant_data_length_must_equal_the_tensor_size(tmp_path):
    def edit(m, sg):
        w = sg.tensors[_first(m, sg, OP.CONV_2D).inputs[1]]
        m.buffers[w.buffer].data = m.buffers[w.buffer].data[:-1]
    _refused(tmp_path, _edited("kws_ref_model", edit), "takes 2560 bytes", "holds 2559")


def test_quantised_kernel_preconditions(tmp_path):
    """Parameters for which TFLite's int8 kernels CHECK-fail (abort the process)."""
    def softmax_beta(m, sg):
        _first(m, sg, OP.SOFTMAX).builtinOptions.beta = 1e-12
    _refused(tmp_path, _edited("kws_ref_model", softmax_beta), "SOFTMAX beta 1e-12")

    def add_output_scale(m, sg):
        sg.tensors[_first(m, sg, OP.ADD).outputs[0]].quantization.scale = [1e-9]
    _refused(tmp_path, _edited("pretrainedResnet_quant", add_output_scale), "ADD output 0",
             "scale 1e-09", "multipliers outside (0, 1)")


def test_optional_inputs_the_interpreters_dereference(tmp_path):
    """Valid in the schema, but TFLM or LiteRT read them through a null pointer."""
    def depthwise_without_bias(m, sg):
        op = _first(m, sg, OP.DEPTHWISE_CONV_2D)
        op.inputs = op.inputs[:2]
    _refused(tmp_path, _edited("kws_ref_model", depthwise_without_bias),
             "operator 1 DEPTHWISE_CONV_2D has 2 input(s); it takes 3")

    def reshape_shape_omitted(m, sg):
        op = _first(m, sg, OP.RESHAPE)
        op.inputs = [op.inputs[0], -1]
    _refused(tmp_path, _edited("kws_ref_model", reshape_shape_omitted),
             "RESHAPE input 1 is omitted (-1)")


def test_dataflow(tmp_path):
    def read_before_write(m, sg):
        sg.operators[0], sg.operators[1] = sg.operators[1], sg.operators[0]
    _refused(tmp_path, _edited("kws_ref_model", read_before_write),
             "operator 0 DEPTHWISE_CONV_2D reads tensor", "before any operator writes it")

    def written_twice(m, sg):
        sg.operators[1].outputs = list(sg.operators[0].outputs)
    _refused(tmp_path, _edited("kws_ref_model", written_twice), "already written by operator 0")

    def variable_output(m, sg):
        sg.tensors[sg.operators[0].outputs[0]].isVariable = True
    _refused(tmp_path, _edited("kws_ref_model", variable_output), "a variable")


def test_file_level_fields(tmp_path):
    _refused(tmp_path, _edited("ad01_int8", lambda m, sg: setattr(m, "version", 2)),
             "schema version 2")

    def sparse(m, sg):
        sg.tensors[1].sparsity = schema.SparsityParametersT()
    _refused(tmp_path, _edited("kws_ref_model", sparse), "tensor 1", "is sparse")

    def metadata(m, sg):
        m.metadata[0].buffer = 10_000
    _refused(tmp_path, _edited("kws_ref_model", metadata), "metadata 0", "buffer 10000")

    def signature(m, sg):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = "x", 500
        sig = schema.SignatureDefT()
        sig.signatureKey, sig.inputs, sig.outputs = "serving_default", [entry], []
        m.signatureDefs = [sig]
    _refused(tmp_path, _edited("kws_ref_model", signature), "signature 0 input 0 tensor_index 500")


def test_operators_tflm_does_not_run_are_refused_at_emulator_load(tmp_path):
    """A model check accepts but whose operator edgesim does not check for TFLM."""
    def gather(m, sg):
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = OP.GATHER
        m.operatorCodes.append(code)
        op = _first(m, sg, OP.RESHAPE)
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = 0, None
    path = tmp_path / "gather.tflite"
    path.write_bytes(_edited("kws_ref_model", gather))
    assert check(path, "stm32h743").layers[10].op == "GATHER"
    with pytest.raises(EdgesimError, match="operator 10 GATHER is not among the operators"):
        Emulator("stm32h743").load(path)


def test_valid_model_still_runs_in_the_emulator():
    loaded = Emulator("stm32h743").load(_edited("kws_ref_model", lambda m, sg: None))
    out = loaded.run(np.zeros(loaded.inputs[0].shape, np.int8)).outputs[0]
    assert out.shape == (1, 12) and out.dtype == np.int8
