"""The pure parts of the TFLM arena calibration (firmware_sim.calibration): differencing probe
reports, deriving an operator's numbers, rendering the TOML, and plan_arena's table parameter.
No TensorFlow and no TFLM: every report here is written by hand."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import mlperf
from firmware_sim.calibration.fit import OpCalibration, derive_op, op_table, per_instance, split
from firmware_sim.calibration.probe import Built, ProbeResult
from firmware_sim.calibration.probes import Probe
from firmware_sim.calibration.verify import mismatch
from firmware_sim.calibration.write import render_toml, struct_table, write_toml
from firmware_sim.graph import load_graph
from firmware_sim.memory.arena import BUFFERS, UNRECORDED, arena_table, plan_arena, tail_allocations
from firmware_sim.tflm_probe import TflmAllocation

# A made-up operator: per instance 24 unrecorded bytes and 3 persistent buffers, a 40-byte
# OpData plus 2 int32 arrays of output-channel length.
UNREC, OPDATA, ARRAYS = 24, 40, 2


def _report(k: int, channels: int) -> TflmAllocation:
    buffers = 100 + k * (OPDATA + ARRAYS * 4 * channels)
    tail = 1000 + k * UNREC + buffers
    return TflmAllocation(total_bytes=tail + 500, head_bytes=500, tail_bytes=tail,
                          by_type={BUFFERS: (buffers, buffers, 2 + 3 * k)})


def _built(k: int, channels: int = 4) -> Built:
    return Built(f"k{k}_c{channels}", Path("unused.tflite"), None, _report(k, channels))


def _result() -> ProbeResult:
    probe = Probe("made_up", "MADE_UP", unit=None, shapes=None)
    return ProbeResult(probe, models={
        "base": {k: _built(k) for k in (1, 2, 3)},
        "channels": {k: _built(k, 8) for k in (1, 2)},
        "spatial": {k: _built(k) for k in (1, 2)},
    })


def test_per_instance_differences_consecutive_chains():
    delta, linear = per_instance({k: _built(k) for k in (1, 2, 3)})
    assert (delta.unrecorded, delta.buffer_bytes, delta.buffer_allocs) == (
        UNREC, OPDATA + ARRAYS * 16, 3)
    assert linear


def test_derive_op_separates_the_opdata_from_the_per_channel_arrays():
    cal = derive_op([_result()])
    assert cal.op == "MADE_UP" and cal.probes == ["made_up"]
    assert cal.unrecorded == cal.builtin_bytes == UNREC
    assert cal.builtin_align == 4                 # min(4, lowest set bit of 24)
    assert cal.per_channel_arrays == ARRAYS and cal.init_bytes == OPDATA
    assert cal.allocations == 3 and cal.prepare_allocations == 0
    assert cal.per_channel_when == "always"       # no per-tensor probe to tell otherwise
    assert any("no per-tensor probe" in n for n in cal.notes)


def test_derive_op_without_a_base_variant_is_none():
    assert derive_op([ProbeResult(Probe("x", "X", None, None))]) is None


def test_split_and_op_table():
    assert split(40, 3) == [16, 16, 8] and split(40, 0) == []
    cal = OpCalibration("X", init_bytes=8, prepare_bytes=40, prepare_allocations=3,
                        prepare_bytes_per_input=12)
    t = op_table(cal)
    assert t["prepare_allocation_bytes"] == [16, 16, 8]
    assert t["prepare_bytes_per_input"] == 12
    assert list(t)[-1] == "prepare_temp_extra"


def test_render_round_trips_through_toml(tmp_path):
    structs = struct_table({k: i for i, k in enumerate(reversed(arena_table()["structs"]))})
    cals = {"MADE_UP": derive_op([_result()])}
    text = render_toml(structs, cals, "9.9.9", ["SKIPPED_OP"])
    path = tmp_path / "table.toml"
    write_toml(path, text)
    assert path.read_text() == text
    parsed = tomllib.loads(text)
    assert parsed["tflite_micro_version"] == "9.9.9"
    assert parsed["structs"] == structs and list(parsed["structs"]) == list(structs)
    assert parsed["ops"]["MADE_UP"] == op_table(cals["MADE_UP"])
    assert "# Not calibrated (could not be isolated): SKIPPED_OP" in text
    assert "# note: no per-tensor probe" in text


def test_render_of_the_shipped_table_reproduces_its_numbers():
    shipped = arena_table()
    assert tomllib.loads(render_toml(struct_table(shipped["structs"]), {}, "x", []))[
        "structs"] == shipped["structs"]


def test_mismatch_compares_category_by_category():
    graph = load_graph(mlperf("ad01_int8"))
    predicted, _ = tail_allocations(graph.main, "reference", 0, arena_table())
    by_type = {c: (used, used, 1) for c, used in predicted.items() if c != UNRECORDED}
    tail = sum(predicted.values())
    exact = Built("ad01", Path("x"), graph, TflmAllocation(tail, 0, tail, by_type))
    assert mismatch(exact, arena_table()) == []
    off = Built("ad01", Path("x"), graph, TflmAllocation(tail + 8, 0, tail + 8, by_type))
    assert mismatch(off, arena_table()) == [f"tail {tail} != {tail + 8}",
                                            f"{UNRECORDED!r} {predicted[UNRECORDED]} != "
                                            f"{predicted[UNRECORDED] + 8}"]


def test_plan_arena_uses_the_table_it_is_given():
    graph = load_graph(mlperf("ad01_int8"))
    shipped = arena_table()
    assert plan_arena(graph, table=shipped) == plan_arena(graph)
    bigger = copy.deepcopy(shipped)
    fc = bigger["ops"]["FULLY_CONNECTED"]
    fc["init_bytes"] += 64
    n_fc = sum(1 for o in graph.main.operators if o.opcode == "FULLY_CONNECTED")
    assert n_fc
    plan = plan_arena(graph, table=bigger)
    assert plan.tail_bytes >= plan_arena(graph).tail_bytes + 64 * n_fc
    assert arena_table() == shipped              # the shipped table is left alone


def test_calibration_package_imports_no_tensorflow():
    code = ("import sys; import firmware_sim.calibration.probes, firmware_sim.calibration.probe, "
            "firmware_sim.calibration.fit, firmware_sim.calibration.structs, "
            "firmware_sim.calibration.verify, firmware_sim.calibration.write; "
            "sys.exit(10 if {'tensorflow', 'keras'} & set(sys.modules) else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_check_path_does_not_import_the_calibration():
    code = ("import sys; from edgesim.cli import main; "
            f"rc = main(['check', {str(mlperf('kws_ref_model'))!r}, '--device', 'stm32h743', "
            "'--json']); "
            "sys.exit(10 if any(m.startswith('firmware_sim.calibration') for m in sys.modules) "
            "else rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
