"""The arena prediction against TFLM itself: the tail category by category, and the whole
arena against the smallest arena_size the TFLM interpreter accepts (bisected)."""

import pytest

from conftest import INT8_MODELS, mlperf
from firmware_sim.graph import load_graph
from firmware_sim.memory.arena import plan_arena, tail_allocations
from firmware_sim.tflm_probe import allocation_report, minimum_arena


def _check_prediction(path):
    measured = minimum_arena(path, low=allocation_report(path.read_bytes()).tail_bytes)
    predicted = plan_arena(load_graph(path), "reference").total_bytes
    assert measured <= predicted <= measured * 1.02, (measured, predicted)


@pytest.mark.parametrize("name", INT8_MODELS)
def test_tail_matches_tflm_category_by_category(name):
    path = mlperf(name)
    report = allocation_report(path.read_bytes())
    predicted, uncalibrated = tail_allocations(load_graph(path).main, "reference")
    assert not uncalibrated
    assert sum(predicted.values()) == report.tail_bytes
    for category, (used, _, _) in report.by_type.items():
        assert predicted[category] == used, category


@pytest.mark.parametrize("name", INT8_MODELS)
def test_arena_within_2_percent_and_never_below_tflm_minimum(name):
    _check_prediction(mlperf(name))


def test_exported_demo_model_arena(demo_model):
    _check_prediction(demo_model)


def test_cmsis_nn_adds_scratch_to_the_head():
    g = load_graph(mlperf("pretrainedResnet_quant"))
    ref, cmsis = plan_arena(g, "reference"), plan_arena(g, "cmsis-nn")
    scratch = [p for p in cmsis.placements if p.request.name.startswith("scratch:")]
    # 3x3 convs over 16..64 channels: arm_convolve_s8 asks for 2 int16 im2col columns.
    assert max(p.request.size for p in scratch) == 2 * (3 * 3 * 64) * 2
    assert cmsis.tail_bytes > ref.tail_bytes         # buffer_idx in OpData + scratch handles
