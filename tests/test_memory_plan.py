import pytest

from conftest import INT8_MODELS, mlperf
from firmware_sim.graph import load_graph
from firmware_sim.memory.greedy_planner import GreedyPlanner
from firmware_sim.memory.lifetimes import buffer_requests
from firmware_sim.memory.linear_planner import LinearPlanner
from firmware_sim.memory.planner import BufferRequest, MemoryPlanner, format_plan
from firmware_sim.tflm_probe import allocation_report


def _offsets(planner, requests):
    return [p.offset for p in planner.plan(requests)]


def test_greedy_reuses_memory_of_dead_buffers():
    # a -> b -> c chain: a and c never overlap in time, so c reuses a's offset.
    reqs = [BufferRequest("a", 64, 0, 1), BufferRequest("b", 32, 1, 2), BufferRequest("c", 48, 2, 3)]
    placed = GreedyPlanner().plan(reqs)
    assert [p.offset for p in placed] == [0, 64, 0]
    assert MemoryPlanner.head_bytes(placed) == 96


def test_greedy_places_largest_first_and_fills_gaps():
    reqs = [BufferRequest("small", 16, 0, 3), BufferRequest("big", 128, 0, 1),
            BufferRequest("mid", 64, 2, 3)]
    # big at 0 (largest first); mid is not alive with big -> 0; small after both -> 128.
    assert _offsets(GreedyPlanner(), reqs) == [128, 0, 0]


def test_greedy_ties_take_the_later_buffer_first():
    # TFLM fills its sort array from the back: equal sizes are placed last-added first.
    reqs = [BufferRequest("x", 32, 0, 1), BufferRequest("y", 32, 0, 1)]
    assert _offsets(GreedyPlanner(), reqs) == [32, 0]


def test_linear_planner_never_reuses():
    reqs = [BufferRequest("a", 64, 0, 1), BufferRequest("b", 32, 1, 2), BufferRequest("c", 48, 2, 3)]
    assert _offsets(LinearPlanner(), reqs) == [0, 64, 96]


def test_plan_is_printable():
    reqs = [BufferRequest("a", 64, 0, 1), BufferRequest("b", 32, 1, 2)]
    text = format_plan(GreedyPlanner().plan(reqs))
    assert "head = 96 bytes" in text and text.count("\n") == 2


def test_lifetimes_follow_tflm():
    sg = load_graph(mlperf("kws_ref_model")).main
    reqs = {r.name: r for r in buffer_requests(sg)}
    x = reqs[sg.tensors[sg.inputs[0]].name]
    y = reqs[sg.tensors[sg.outputs[0]].name]
    assert (x.first, x.last) == (0, 1)              # created before op 0, used by it
    assert (y.first, y.last) == (13, 13)            # written by the last op, kept to the end
    assert x.size == 496                            # 49 x 10 = 490 bytes, rounded up to 16
    assert all(r.size % 16 == 0 for r in reqs.values())
    assert len(reqs) == 14                          # input + 13 op outputs; no constants


@pytest.mark.parametrize("name", INT8_MODELS)
def test_greedy_head_equals_tflm_head(name):
    path = mlperf(name)
    placed = GreedyPlanner().plan(buffer_requests(load_graph(path).main))
    assert MemoryPlanner.head_bytes(placed) == allocation_report(path.read_bytes()).head_bytes
