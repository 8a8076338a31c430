import math

import pytest

from conftest import mlperf
from firmware_sim.cost.cortex_m import kernel_table, layer_cost
from firmware_sim.devices import load_device
from firmware_sim.graph import load_graph


def _region(device, name):
    return next(r for r in device.memory if r.name == name)


def test_fully_connected_cycles_by_hand():
    """AD01 layer 0: 640 -> 128 fully connected, reference kernel, activations in DTCM."""
    dev = load_device("stm32h743")
    sg = load_graph(mlperf("ad01_int8")).main
    op = sg.operators[0]
    cost = layer_cost(op, sg, dev, "reference", _region(dev, "DTCM"))
    instructions = 640 * 128 * 5 + 128 * 25                 # 5 per MAC, 25 per output
    assert cost.instructions == instructions
    assert cost.compute_cycles == math.ceil(instructions / 1.3)     # the profile's ipc
    # 81,920 weight + 512 bias bytes > half the 16 KiB D-cache: one streaming pass of 32-byte
    # lines, each 2 latency + (4 wait states + 1) for the 256-bit flash word + 3 more 64-bit
    # AXI beats = 10 flash-bus cycles at 240 MHz = 20 core cycles.
    assert cost.stall_cycles == math.ceil((640 * 128 + 512) / 32) * 20
    # dispatch: the measured pipeline cycles of the fully connected Eval preamble plus its
    # flash line fills; the arena in DTCM adds none
    row = kernel_table()["cortex-m7"]["fully_connected_s8"]
    assert cost.dispatch_cycles == math.ceil(row["dispatch_cycles"] + row["dispatch_flash_lines"] * 20)


def test_memory_region_matters():
    dev = load_device("stm32h743")
    sg = load_graph(mlperf("kws_ref_model")).main
    op = sg.operators[1]                                     # depthwise conv
    tcm = layer_cost(op, sg, dev, "cmsis-nn", _region(dev, "DTCM"))
    axi = layer_cost(op, sg, dev, "cmsis-nn", _region(dev, "AXI_SRAM"))
    assert axi.stall_cycles > tcm.stall_cycles             # TCM stalls only on flash weights
    assert tcm.compute_cycles == axi.compute_cycles


def test_cmsis_nn_beats_reference_on_mac_layers():
    # cmsis-nn figures come from the emulated kernels (fitted table), reference ones are
    # still instruction-count estimates. Every convolution and fully connected layer is
    # faster on cmsis-nn; depthwise layers with few channels are dominated by per-pixel
    # requantisation in the emulated kernel, so only the model total is compared there.
    dev = load_device("stm32h743")
    sg = load_graph(mlperf("vww_96_int8")).main
    dtcm = _region(dev, "DTCM")
    total = {"cmsis-nn": 0, "reference": 0}
    for op in sg.operators:
        if op.macs:
            cost = {k: layer_cost(op, sg, dev, k, dtcm).cycles for k in total}
            for k in total:
                total[k] += cost[k]
            if op.opcode != "DEPTHWISE_CONV_2D":
                assert cost["cmsis-nn"] < cost["reference"], op.opcode
    assert total["cmsis-nn"] < total["reference"] / 2


def test_cortex_m4_without_cache_pays_art_fills_on_a_weight_stream():
    """No D-cache: flash weights go through the 8-line ART. A fully connected weight stream
    far bigger than the ART misses once per 32-byte ART line on either kernel stack; the
    words read from a filled line are free."""
    from firmware_sim.cost.cortex_m import art_line_fill

    m4 = load_device("stm32l4r5")
    sg = load_graph(mlperf("ad01_int8")).main
    op = sg.operators[0]                                     # 640 x 128 weights + 512 bias bytes
    per_miss = art_line_fill(m4) - 1                         # 4 x (5 + 1) less the load's cycle
    for stack in ("cmsis-nn", "reference"):
        cost = layer_cost(op, sg, m4, stack, m4.memory[0])
        lines = math.ceil(640 * 128 / 32) + math.ceil(512 / 32)
        assert lines * per_miss <= cost.stall_cycles <= (lines + 2) * per_miss, stack
    # the wait states are paid per line, not per 64-bit flash word read
    assert cost.stall_cycles < math.ceil((640 * 128 + 512) / 8) * (m4.flash.wait_states + 1)


def test_line_fills_read_the_profile():
    """The fill costs follow the profile's flash word, latency, bus width and ART geometry."""
    import dataclasses

    from firmware_sim.cost.cortex_m import art_line_fill, flash_line_fill, ram_line_fill

    dev = load_device("stm32h743")
    # (2 latency + 1 flash word x (4 wait states + 1) + 3 more 64-bit beats of the 256-bit
    # word) bus cycles at 240 MHz, core at 480 MHz
    assert flash_line_fill(dev) == (2 + 5 + 3) * 2
    half = dataclasses.replace(dev, flash=dataclasses.replace(dev.flash, word_bytes=16))
    assert flash_line_fill(half) == (2 + 2 * 5 + 1) * 2     # two 128-bit words, 2 beats each
    wide_bus = dataclasses.replace(dev, flash=dataclasses.replace(dev.flash, bus_width_bytes=32))
    assert flash_line_fill(wide_bus) == (2 + 5) * 2
    slow_bus = dataclasses.replace(dev, flash=dataclasses.replace(dev.flash, bus_width_bytes=2,
                                                                  wait_states=0))
    assert flash_line_fill(slow_bus) == (2 + 16 + 15) * 2   # the beats, not the reads, pace it
    assert flash_line_fill(load_device("stm32h7a3")) == 2 + 2 * 7 + 1
    axi = _region(dev, "AXI_SRAM")
    assert ram_line_fill(dev, axi) == ((2 + 32 / 8) * 2, 32 / 8 * 2)
    narrow = dataclasses.replace(axi, bus_width_bytes=4, latency_cycles=0)
    assert ram_line_fill(dev, narrow) == (32 / 4 * 2, 32 / 4 * 2)
    m4 = load_device("stm32l4r5")
    assert art_line_fill(m4) == 32 // 8 * (5 + 1)
    wide = dataclasses.replace(m4.flash, art=dataclasses.replace(m4.flash.art, line_bytes=64))
    assert art_line_fill(dataclasses.replace(m4, flash=wide)) == 64 // 8 * (5 + 1)


def test_cpu_roofline_reads_the_profile():
    import dataclasses

    from firmware_sim.cost import roofline
    from firmware_sim.devices.cpu import load_cpu

    pi = load_cpu("rpi4b")
    sg = load_graph(mlperf("ad01_int8")).main
    op = sg.operators[0]
    base = roofline.layer_cost(op, sg, pi)
    assert base.compute_s == pytest.approx(op.macs / pi.macs_per_s("int8"))
    assert base.memory_s == pytest.approx(op.weight_bytes / pi.dram_bytes_per_s)
    assert base.time_s == pytest.approx(max(base.compute_s, base.memory_s) + pi.dispatch_s)
    assert base.energy_j == pytest.approx(op.macs * pi.int8_pj_per_mac * 1e-12
                                          + op.weight_bytes * pi.dram_pj_per_byte * 1e-12
                                          + pi.idle_power_mw * 1e-3 * base.time_s)
    wide = dataclasses.replace(pi, clusters=(dataclasses.replace(pi.clusters[0],
                                                                 int8_macs_per_cycle=16),))
    assert roofline.layer_cost(op, sg, wide).compute_s == pytest.approx(base.compute_s / 2)
