"""TFLM's per-operator dispatch (kernels/src/tflm_dispatch.c) run on the emulated cores, and
the fast model's use of the measured figures."""

import math

import pytest

from conftest import mlperf
from firmware_sim.cost.cortex_m import dispatch_cycles, flash_line_fill, kernel_table, layer_cost
from firmware_sim.cost.kernel_features import kernel_entry
from firmware_sim.devices import load_device
from firmware_sim.graph import load_graph
from firmware_sim.kernels.dispatch import ENTRY_ORDER
from firmware_sim.kernels.runner import ModelMachine

pytest.importorskip("unicorn")


def _dispatch(model: str, device: str, **kw) -> tuple[ModelMachine, dict]:
    mm = ModelMachine(load_graph(mlperf(model)), device, **kw)
    return mm, {i: mm.dispatch.run(i) for i in range(len(mm.prepared))}


@pytest.mark.parametrize("device", ["stm32h743", "stm32l4r5"])
def test_dispatch_is_measured_per_entry(device):
    """Every operator of KWS and ResNet dispatches without an error status, costs instructions
    and cycles of its own, and reads flash (node index arrays and tensor dims)."""
    by_entry = {}
    for model in ("kws_ref_model", "pretrainedResnet_quant"):
        mm, runs = _dispatch(model, device)
        for i, r in runs.items():
            assert r.instructions > 100 and r.compute_cycles >= r.instructions * 0.9
            assert r.flash_misses >= 3 and r.stall_cycles > 0
            by_entry.setdefault(mm.prepared[i].entry, set()).add(r.instructions)
    assert {"conv_s8", "conv_1x1_s8", "depthwise_s8", "fully_connected_s8", "avgpool_s8",
            "add_s8", "softmax_s8", "copy_s8"} <= set(by_entry)
    worst = {e: max(v) for e, v in by_entry.items()}
    # the Eval preambles differ: ADD builds and compares three shapes, a reshape only counts
    # elements; the stub kernel's own instructions are not in any of them
    assert worst["add_s8"] > worst["conv_s8"] > worst["fully_connected_s8"] > worst["softmax_s8"]
    assert worst["softmax_s8"] > worst["copy_s8"]


@pytest.mark.parametrize("core,device", [("cortex-m7", "stm32h743"), ("cortex-m4", "stm32l4r5")])
def test_table_holds_the_measured_dispatch(core, device):
    """The calibration tool wrote, per kernel entry, what a run of the dispatch program gives:
    the fully connected preamble does not depend on the shapes, so AD01's layers reproduce it."""
    rows = kernel_table()[core]
    assert all(rows[e]["dispatch_points"] > 0 and rows[e]["dispatch_cycles"] > 0 for e in ENTRY_ORDER)
    _, runs = _dispatch("ad01_int8", device)
    row = rows["fully_connected_s8"]
    for r in runs.values():
        assert r.compute_cycles == pytest.approx(row["dispatch_cycles"], rel=0.01)
        assert r.instructions == pytest.approx(row["dispatch_instructions"], rel=0.01)


@pytest.mark.parametrize("model,device", [("ad01_int8", "stm32l4r5"), ("ad01_int8", "stm32h7a3"),
                                          ("kws_ref_model", "stm32f746")])
def test_fast_and_exact_use_the_same_dispatch(model, device):
    """The fast model's dispatch (table cycles + the device's line fills) tracks the dispatch
    the exact run counts per layer."""
    dev = load_device(device)
    mm, runs = _dispatch(model, dev)
    arena = mm.arena_regions[0]
    sg = mm.sg
    fast = [layer_cost(op, sg, dev, "cmsis-nn", arena).dispatch_cycles for op in sg.operators]
    exact = [runs[i].cycles for i in range(len(sg.operators))]
    for f, e in zip(fast, exact):
        assert abs(f - e) / e < 0.15
    assert abs(sum(fast) - sum(exact)) / sum(exact) < 0.05


def test_dispatch_prices_flash_and_cached_ram_per_device():
    """Same measured entry, different devices: the flash fills follow each profile, and an
    arena in cached AXI SRAM adds the RAM line fills of TFLM's structs that DTCM does not."""
    sg = load_graph(mlperf("ad01_int8")).main
    op = sg.operators[0]
    entry = kernel_entry(op, sg)
    row = kernel_table()["cortex-m7"][entry]
    h743 = load_device("stm32h743")
    dtcm = next(r for r in h743.memory if r.name == "DTCM")
    axi = next(r for r in h743.memory if r.name == "AXI_SRAM")
    base = dispatch_cycles(h743, entry, dtcm)
    assert base == math.ceil(row["dispatch_cycles"] + row["dispatch_flash_lines"] * flash_line_fill(h743))
    assert dispatch_cycles(h743, entry, axi) > base
    h7a3 = load_device("stm32h7a3")
    assert dispatch_cycles(h7a3, entry, dtcm) != base
