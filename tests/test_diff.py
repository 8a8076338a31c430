"""`edgesim diff`: two models on one device, whole-model and per-layer deltas."""

import json

from conftest import mlperf
from edgesim.cli import main
from firmware_sim.pipeline import check
from firmware_sim.report_diff import layer_rows, summary_rows


def test_deltas_are_b_minus_a_and_unpaired_layers_show_none():
    a = check(mlperf("kws_ref_model"), "stm32h743")
    b = check(mlperf("vww_96_int8"), "stm32h743")
    s = {row["what"]: row for row in summary_rows(a, b)}
    assert s["cycles"]["delta"] == b.cycles - a.cycles
    assert s["flash"]["delta_pct"] == round(100 * (b.used("flash") - a.used("flash"))
                                            / a.used("flash"), 2)
    rows = layer_rows(a, b)
    assert len(rows) == max(len(a.layers), len(b.layers)) == len(b.layers)
    assert rows[0]["latency_ms_delta"] == round(b.layers[0].latency_ms - a.layers[0].latency_ms, 6)
    last = rows[-1]
    assert last["op_a"] is None and last["latency_ms_a"] is None and last["latency_ms_delta"] is None
    assert last["op_b"] == b.layers[-1].op


def test_diff_of_a_model_with_itself_is_zero_and_exit_status_follows_the_budgets(capsys):
    kws = str(mlperf("kws_ref_model"))
    assert main(["diff", kws, kws, "--device", "stm32h743", "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert all(r["delta"] == 0 for r in d["summary"])
    assert all(r["latency_ms_delta"] == 0 for r in d["layers"])
    vww = str(mlperf("vww_96_int8"))
    assert main(["diff", kws, vww, "--device", "stm32h743", "--ram-kb", "120"]) == 1
    out = capsys.readouterr().out
    assert "B: DOES NOT FIT" in out and "A: fits" in out and "ms B-A" in out
