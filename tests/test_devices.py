"""Device profiles: shipped data matches the datasheet facts; broken files fail with one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from firmware_sim.target import load_profile
from firmware_sim.devices import (
    DeviceProfile,
    DeviceProfileError,
    PROFILES_DIR,
    list_devices,
    load_device,
)

KB = 1024
MHZ = 1_000_000
SHIPPED = ["stm32f746", "stm32h743", "stm32h747", "stm32h7a3", "stm32l4r5"]

# name -> (core, clock, flash size, flash banks, flash wait states, icache, dcache, {region: (base, size)})
H7_MAP = {
    "ITCM": (0x00000000, 64 * KB), "DTCM": (0x20000000, 128 * KB), "AXI_SRAM": (0x24000000, 512 * KB),
    "SRAM1": (0x30000000, 128 * KB), "SRAM2": (0x30020000, 128 * KB), "SRAM3": (0x30040000, 32 * KB),
    "SRAM4": (0x38000000, 64 * KB),
}
FACTS = {
    "stm32h743": ("cortex-m7", 480 * MHZ, 2048 * KB, 2, 4, 16 * KB, 16 * KB, H7_MAP),
    "stm32h747": ("cortex-m7", 480 * MHZ, 2048 * KB, 2, 4, 16 * KB, 16 * KB, H7_MAP),
    "stm32h7a3": ("cortex-m7", 280 * MHZ, 2048 * KB, 2, 6, 16 * KB, 16 * KB, {
        "ITCM": (0x00000000, 64 * KB), "DTCM": (0x20000000, 128 * KB),
        "AXI_SRAM1": (0x24000000, 256 * KB), "AXI_SRAM2": (0x24040000, 384 * KB),
        "AXI_SRAM3": (0x240A0000, 384 * KB), "AHB_SRAM1": (0x30000000, 64 * KB),
        "AHB_SRAM2": (0x30010000, 64 * KB), "SRD_SRAM": (0x38000000, 32 * KB)}),
    "stm32f746": ("cortex-m7", 216 * MHZ, 1024 * KB, 1, 7, 4 * KB, 4 * KB, {
        "ITCM": (0x00000000, 16 * KB), "DTCM": (0x20000000, 64 * KB),
        "SRAM1": (0x20010000, 240 * KB), "SRAM2": (0x2004C000, 16 * KB)}),
    "stm32l4r5": ("cortex-m4", 120 * MHZ, 2048 * KB, 2, 5, 0, 0, {
        "SRAM1": (0x20000000, 192 * KB), "SRAM2": (0x20030000, 64 * KB),
        "SRAM3": (0x20040000, 384 * KB)}),
}


def test_list_devices_returns_the_shipped_microcontrollers_sorted():
    assert [d.name for d in list_devices()] == SHIPPED


def test_every_shipped_profile_has_one_target():
    from firmware_sim.target import load_profile, shipped_profiles

    kinds = {path.stem: kind for kind, path in shipped_profiles()}
    assert kinds == {**{n: "mcu" for n in SHIPPED}, "rpi4b": "cpu", "sd8gen3_cpu": "cpu",
                     "sd8gen3_htp": "npu"}
    assert load_profile("rpi4b").name == "rpi4b"
    with pytest.raises(DeviceProfileError, match="unknown microcontroller 'rpi4b'"):
        load_device("rpi4b")


def test_the_two_cpu_profiles_share_one_schema():
    from firmware_sim.devices.cpu import load_cpu

    pi, phone = load_cpu("rpi4b"), load_cpu("sd8gen3_cpu")
    assert (pi.cores, pi.clock_hz, pi.l2_bytes) == (4, 1_500_000_000, 1024**2)
    assert pi.ram_bytes == 4 * 1024**3 and pi.kernels == phone.kernels == ("xnnpack",)
    # 4 cores x 1.5 GHz x 8 lanes, 1 + 0.8 x 3 cores' worth, at half the peak
    assert pi.macs_per_s("int8") == pytest.approx(1.5e9 * 8 * 3.4 * 0.5)
    assert phone.macs_per_s("fp32") == pytest.approx(0.5 * (16 * 3.3e9 + 3 * 8 * 3.2e9
                                                            + 2 * 8 * 3e9))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_matches_facts(name):
    core, clock, flash_size, banks, ws, icache, dcache, regions = FACTS[name]
    d = load_device(name)
    assert isinstance(d, DeviceProfile) and d.name == name and d.source == PROFILES_DIR / f"{name}.toml"
    assert (d.core, d.clock_hz) == (core, clock)
    flash = (d.flash.base, d.flash.size, d.flash.banks, d.flash.wait_states)
    assert flash == (0x08000000, flash_size, banks, ws)
    assert (d.cache.icache_bytes, d.cache.dcache_bytes) == (icache, dcache)
    assert {r.name: (r.base, r.size) for r in d.memory} == regions
    assert [r.base for r in d.memory] == sorted(r.base for r in d.memory)
    assert d.ram_bytes == sum(size for _, size in regions.values())
    assert d.default_kernels == "cmsis-nn" and d.kernels == ("cmsis-nn", "reference")
    assert "float32" not in d.dtypes and "int8" in d.dtypes
    assert d.active_power_mw > 0 and d.stack_bytes > 0
    for r in d.memory:  # TCMs run at the core clock and bypass the cache
        assert (r.bus_clock_hz == clock and not r.cached) if r.kind == "tcm" else r.bus_clock_hz <= clock


def test_h7_bus_clocks_and_cache_lines():
    h743 = load_device("stm32h743")
    assert h743.flash.bus_clock_hz == 240 * MHZ and h743.cache.line_bytes == 32
    assert {r.name: r.bus_clock_hz for r in h743.memory}["AXI_SRAM"] == 240 * MHZ
    assert h743.ram_bytes == 1056 * KB  # DS12110: 192 KB TCM + 864 KB user SRAM
    assert load_device("stm32h7a3").ram_bytes == 1376 * KB
    assert load_device("stm32f746").ram_bytes - 16 * KB == 320 * KB  # 320 KB SRAM + 16 KB ITCM


def test_h7a3_power_is_within_measured_range():
    assert 122.0 <= load_device("stm32h7a3").active_power_mw <= 166.0


def test_contiguous_spans_find_sram123_on_h743():
    spans = [tuple(r.name for r in s) for s in load_device("stm32h743").contiguous_spans()]
    assert ("SRAM1", "SRAM2", "SRAM3") in spans
    assert ("SRAM1", "SRAM2") in spans and ("SRAM2", "SRAM3") in spans
    for name in H7_MAP:  # every single region is a span too
        assert (name,) in spans
    assert ("DTCM", "AXI_SRAM") not in spans and ("SRAM3", "SRAM4") not in spans
    assert max(sum(r.size for r in s) for s in load_device("stm32h743").contiguous_spans()) == 512 * KB


def test_contiguous_spans_h7a3_axi_and_f746_sram():
    spans = [tuple(r.name for r in s) for s in load_device("stm32h7a3").contiguous_spans()]
    assert ("AXI_SRAM1", "AXI_SRAM2", "AXI_SRAM3") in spans and ("AHB_SRAM1", "AHB_SRAM2") in spans
    spans = [tuple(r.name for r in s) for s in load_device("stm32f746").contiguous_spans()]
    assert ("DTCM", "SRAM1", "SRAM2") in spans


def test_profiles_are_frozen():
    d = load_device("stm32h743")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.clock_hz = 1  # type: ignore[misc]
    assert d.memory[0].end == d.memory[0].base + d.memory[0].size


def test_unknown_name_lists_known_devices():
    with pytest.raises(DeviceProfileError) as err:
        load_device("stm32f103")
    msg = str(err.value)
    assert "stm32f103" in msg and all(name in msg for name in SHIPPED) and "\n" not in msg
    assert isinstance(err.value, ValueError)


def test_name_is_case_insensitive():
    assert load_device("STM32H743").name == "stm32h743"


# ---------------------------------------------------------------- user files

VALID = (PROFILES_DIR / "stm32f746.toml").read_text()


def _write(tmp_path: Path, text: str, name: str = "board.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_file_loads_by_path(tmp_path):
    path = _write(tmp_path, VALID.replace('name = "stm32f746"', 'name = "my-board"'))
    d = load_device(str(path))
    assert d.name == "my-board" and d.source == path and d.clock_hz == 216 * MHZ
    assert load_device(path).name == "my-board"  # a Path works too


def test_missing_user_file(tmp_path):
    with pytest.raises(DeviceProfileError, match="not found"):
        load_device(str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("clock_hz = 216000000", "clock_hz = = 1", "invalid TOML"),
        ("clock_hz = 216000000", "", "missing key 'clock_hz'"),
        ("wait_states = 7 ", "", "missing key 'flash.wait_states'"),
        ("clock_hz = 216000000", 'clock_hz = "216 MHz"', "'clock_hz' must be an integer"),
        ("clock_hz = 216000000", "clock_hz = true", "'clock_hz' must be an integer"),
        ("size = 16384                # DS10916: 16 KB ITCM RAM", "size = 0",
         "'memory\\[0\\].size' must be >= 1"),
        ("size = 65536", "size = -65536", "'memory\\[1\\].size' must be >= 1"),
        ("base = 0x2004C000", "base = 0x20040000", "'SRAM1' and 'SRAM2' overlap"),
        ("base = 0x20010000", "base = 0x08000000", "overlap"),
        ('kind = "tcm"', 'kind = "sdram"', "'memory\\[0\\].kind'"),
        ('kernels = ["cmsis-nn", "reference"]', "kernels = []", "'kernels' must be a non-empty list"),
        ('kernels = ["cmsis-nn", "reference"]', 'kernels = ["arm-magic", "reference"]', "'kernels'"),
        ('dtypes = ["int8", "int16", "int32"]', 'dtypes = ["float64"]', "'dtypes'"),
        ('core = "cortex-m7"', 'core = "cortex-a53"', "'core'"),
        ("cached = false", "cached = 0", "must be true or false"),
        ("base = 0x2004C000", "base = 0xFFFFF000", "beyond the 32-bit address space"),
        ("active_power_mw = 330.0", "active_power_mw = -1.0", "'active_power_mw'"),
        ("[runtime]", "[runtime]\nheap_bytes = 1", "unknown key 'runtime.heap_bytes'"),
    ],
)
def test_broken_file_raises_one_line_error(tmp_path, old, new, match):
    assert old in VALID
    path = _write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(DeviceProfileError, match=match) as err:
        load_profile(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_shipped_name_must_match_file_stem(tmp_path, monkeypatch):
    import firmware_sim.devices as devices

    _write(tmp_path, VALID, name="stm32x000.toml")
    monkeypatch.setattr(devices, "PROFILES_DIR", tmp_path)
    with pytest.raises(DeviceProfileError, match="does not match the file name"):
        devices.load_device("stm32x000")


def test_readme_documents_every_profile_schema_field():
    """The README's schema tables are the schemas the loaders check, field for field."""
    from pathlib import Path

    from firmware_sim.devices import SCHEMA
    from firmware_sim.devices.schema import markdown
    from firmware_sim.devices.cpu import CPU_SCHEMA
    from npu_sim.devices import NPU_SCHEMA

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for schema in (SCHEMA, NPU_SCHEMA, CPU_SCHEMA):
        assert markdown(schema) in readme


# ------------------------------------------------- the figures the cost models read

def test_cost_model_figures_come_from_the_profiles():
    """Flash word, line-fill latency, D-cache ways, bus widths, ART and CPU throughput."""
    for name in ("stm32h743", "stm32h747", "stm32h7a3", "stm32f746"):
        d = load_device(name)
        assert d.has_dcache and d.cache.dcache_ways == 4 and d.flash.art is None
        # RM0455: the H7A3's flash word is 128 bits; the others read 256 bits at a time
        word = 16 if name == "stm32h7a3" else 32
        assert (d.flash.word_bytes, d.flash.latency_cycles, d.flash.bus_width_bytes) == (word, 2, 8)
        for r in d.memory:
            if r.kind != "tcm":
                assert (r.bus_width_bytes, r.latency_cycles) == ({"axi": 8, "ahb": 4}[r.kind], 2)
    l4 = load_device("stm32l4r5")
    assert not l4.has_dcache and l4.flash.word_bytes == 8
    assert (l4.flash.art.lines, l4.flash.art.line_bytes) == (8, 32)
    from firmware_sim.devices.cpu import load_cpu
    pi = load_cpu("rpi4b")
    assert (pi.clusters[0].int8_macs_per_cycle, pi.parallel_efficiency, pi.dispatch_s) == \
        (8, 0.8, 2e-6)


H743 = (PROFILES_DIR / "stm32h743.toml").read_text()
L4R5 = (PROFILES_DIR / "stm32l4r5.toml").read_text()
RPI4B = (PROFILES_DIR / "rpi4b.toml").read_text()


@pytest.mark.parametrize(
    ("text", "old", "new", "match"),
    [
        (H743, "dcache_ways = 4 ", "", "missing key 'cache.dcache_ways'"),
        (H743, "dcache_ways = 4 ", "dcache_ways = 3 ", "multiple of 'cache.line_bytes' x"),
        (H743, "word_bytes = 32 ", "", "missing key 'flash.word_bytes'"),
        (H743, "latency_cycles = 2          # bus cycles", "# bus cycles",
         "missing key 'flash.latency_cycles'"),
        (H743, "bus_width_bytes = 8 ", "", "missing key 'flash.bus_width_bytes'"),
        (H743, "bus_width_bytes = 8 ", "bus_width_bytes = 0 ", "'flash.bus_width_bytes' must be >= 1"),
        (H743, "bus_width_bytes = 8         # AXI: 64-bit data bus (RM0433 section 2.1)\n", "",
         "missing key 'memory\\[2\\].bus_width_bytes'"),
        (H743, "bus_width_bytes = 8         # AXI: 64-bit data bus (RM0433 section 2.1)\n",
         "bus_width_bytes = 0\n", "'memory\\[2\\].bus_width_bytes'"),
        (L4R5, "[flash.art]", "[flash.artt]", "unknown key 'flash.artt'"),
        (L4R5, "[flash.art]\n", "", "unknown key 'flash.lines'"),
        (L4R5, "line_bytes = 32\n", "line_bytes = 12\n", "multiple of 'flash.word_bytes'"),
        (L4R5, "lines = 8\n", "lines = 0\n", "'flash.art.lines' must be >= 1"),
        (RPI4B, "int8_macs_per_cycle = 8\n", "", "missing key 'cluster\\[0\\].int8_macs_per_cycle'"),
        (RPI4B, "parallel_efficiency = 0.8\n", "parallel_efficiency = 1.5\n",
         "'parallel_efficiency' must be <= 1"),
    ],
)
def test_broken_cost_figure_raises_one_line_error(tmp_path, text, old, new, match):

    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(DeviceProfileError, match=match) as err:
        load_profile(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_cortex_m4_needs_the_art(tmp_path):
    cut = L4R5[L4R5.index("[flash.art]"):L4R5.index("[cache]")]
    path = _write(tmp_path, L4R5.replace(cut, ""))
    with pytest.raises(DeviceProfileError, match="missing table 'flash.art'"):
        load_device(str(path))
