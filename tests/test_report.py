"""Writers over one Report: violations with figures, per-layer columns, JSON/CSV/HTML agree."""

import csv
import hashlib
import io
import json
from html.parser import HTMLParser

import pytest

from conftest import mlperf
from edgesim import __version__
from edgesim.cli import main
from firmware_sim import Limits, check
from firmware_sim.graph import load_graph
from firmware_sim.writers import write


@pytest.fixture(scope="module")
def kws():
    return check(mlperf("kws_ref_model"), "stm32h743", kernels="reference")


def test_ram_violation_says_by_how_much_against_the_budget():
    r = check(mlperf("kws_ref_model"), "stm32h743", Limits(ram_bytes=16 * 1024))
    (v,) = r.violations
    assert (v.kind, v.value, v.limit, v.unit) == ("ram", r.ram_bytes, 16384, "bytes")
    over = r.ram_bytes - 16384
    kib = f"{over / 1024:.1f}".rstrip("0").rstrip(".")
    assert f"exceeds 16384 bytes (the 16 KiB budget) by {kib} KiB ({100 * over / 16384:.0f} %)" \
        in v.message
    assert r.to_dict()["violations"][0] == {"kind": "ram", "message": v.message,
                                            "value": r.ram_bytes, "limit": 16384, "unit": "bytes"}


def test_violation_overshoot_arithmetic_by_hand():
    from firmware_sim.records import over_bytes
    v = over_bytes("ram", "RAM 412.5 KiB", 422400, 262144, "the 256 KiB budget")
    assert v.message == "RAM 412.5 KiB exceeds 262144 bytes (the 256 KiB budget) by 156.5 KiB (61 %)"


def test_latency_and_device_capacity_violations(tmp_path):
    r = check(mlperf("kws_ref_model"), "stm32h743", Limits(latency_ms=10))
    (v,) = r.violations
    assert (v.unit, v.limit) == ("ms", 10) and v.value == pytest.approx(r.latency_ms)
    assert f"by {r.latency_ms - 10:.3f} ms ({10 * (r.latency_ms - 10):.0f} %)" in v.message
    # A budget above the device's flash: the device's capacity is the limit, and says so.
    from firmware_sim import load_device
    text = (load_device("stm32h743").source.read_text().replace('name = "stm32h743"',
                                                                 'name = "small"'))
    flash = load_device("stm32h743").flash.size
    profile = tmp_path / "small.toml"
    profile.write_text(text.replace(f"size = {flash}", "size = 65536", 1))
    small = check(mlperf("kws_ref_model"), str(profile), Limits(flash_bytes=4 << 20))
    assert small.device.flash.size == 65536
    (f,) = [v for v in small.violations if v.kind == "flash"]
    assert f.limit == 65536 and "the device's 64 KiB of flash" in f.message


def test_percentages_sum_to_100_and_layer_names(kws):
    rows = kws.layer_rows()
    assert sum(r["macs_pct"] for r in rows) == pytest.approx(100, abs=0.05)
    assert sum(r["time_pct"] for r in rows) == pytest.approx(100, abs=0.05)
    sg = load_graph(mlperf("kws_ref_model")).main
    assert [r["name"] for r in rows] == [sg.tensors[op.outputs[0]].name for op in sg.operators]


def test_live_bytes_of_first_layer_are_input_plus_output(kws):
    # Reference kernels: no scratch; input 1x49x10x1 int8 = 490 B (496 aligned to 16),
    # output 1x25x5x64 = 8000 B; nothing else is alive at step 1.
    assert kws.layers[0].live_bytes == 496 + 8000
    assert max(l.live_bytes for l in kws.layers) <= kws.plan.head_bytes


def test_memory_rows_margin():
    r = check(mlperf("kws_ref_model"), "stm32h743", Limits(ram_bytes=64 * 1024))
    rows = {m["what"]: m for m in r.to_dict()["memory"]}
    assert rows["ram"]["budget_bytes"] == 65536
    assert rows["ram"]["margin_bytes"] == 65536 - rows["ram"]["used_bytes"]
    assert rows["flash"]["budget_bytes"] is None
    assert rows["flash"]["margin_bytes"] == rows["flash"]["capacity_bytes"] - r.used("flash")


def test_json_carries_plan_profile_budgets_and_version(kws):
    d = json.loads(write(kws, "json"))
    assert d["edgesim_version"] == __version__
    assert d["profile"]["sha256"] == hashlib.sha256(kws.device.source.read_bytes()).hexdigest()
    assert d["budgets"] == {"latency_ms": None, "ram_bytes": None, "flash_bytes": None}
    plan = d["arena_plan"]
    assert plan["head_bytes"] == max(b["offset"] + b["size"] for b in plan["buffers"])
    assert all(b["first"] <= b["last"] for b in plan["buffers"])


@pytest.mark.parametrize("device", ["stm32h743", "rpi4b", "sd8gen3_htp"])
def test_csv_round_trips_to_the_json_layers(device):
    r = check(mlperf("kws_ref_model"), device)
    d = json.loads(write(r, "json"))
    rows = list(csv.DictReader(io.StringIO(write(r, "csv"))))
    assert len(rows) == len(d["layers"]) == 13
    for row, layer in zip(rows, d["layers"]):
        assert list(row) == list(layer)
        for key, value in layer.items():
            if value is None:
                assert row[key] == ""
            elif key == "output_shape":
                assert row[key] == "x".join(map(str, value))
            elif isinstance(value, bool):
                assert row[key] == str(value).lower()
            elif isinstance(value, (int, float)):
                assert type(value)(row[key]) == value
            else:
                assert row[key] == value


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.current, self.cell, self.urls, self.scripts = {}, None, None, [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("href", "src") and v]
        self.scripts += tag == "script"
        if tag == "table":
            self.current = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr":
            self.current.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.current[-1].append(self.cell)
            self.cell = None


@pytest.mark.parametrize("device", ["stm32h743", "rpi4b", "sd8gen3_htp"])
def test_html_tables_equal_the_json(device):
    """One page writer for every target: its tables hold the JSON's values."""
    r = check(mlperf("kws_ref_model"), device, Limits(latency_ms=0.01))
    d = r.to_dict()
    page = write(r, "html")
    p = _Tables()
    p.feed(page)
    assert not p.urls and not p.scripts and "<svg" in page
    assert page.count("<rect") == len(d["layers"])
    summary = dict(p.tables["summary"][1:])
    for key in ("device", "target", "macs", "ram_bytes", "arena_bytes", "cycles", "latency_ms",
                "energy_mj", "edgesim_version"):
        assert summary[key] == ("" if d[key] is None else str(d[key]))
    head, *rows = p.tables["layers"]
    assert head == list(d["layers"][0])
    for row, layer in zip(rows, d["layers"]):
        for key, cell in zip(head, row):
            want = ("x".join(map(str, layer[key])) if key == "output_shape"
                    else "" if layer[key] is None else str(layer[key]))
            assert cell == want
    (v,) = p.tables["violations"][1:]
    assert v[:2] == ["latency", d["violations"][0]["message"]]


def test_cli_format_out_and_device_comparison(tmp_path, capsys):
    model = str(mlperf("kws_ref_model"))
    out = tmp_path / "r.csv"
    assert main(["check", model, "--device", "stm32h743", "--format", "csv", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert len(list(csv.DictReader(out.open()))) == 13
    # stm32h743 meets a 50 ms deadline; the slower stm32l4r5 does not: exit 1.
    rc = main(["check", model, "--device", "stm32h743,stm32l4r5", "--latency-ms", "50"])
    text = capsys.readouterr().out
    assert rc == 1
    lines = {l.split()[0]: l.split() for l in text.splitlines() if l.startswith("stm32")}
    assert lines["stm32h743"][1] == "yes" and lines["stm32l4r5"][1] == "NO"
    assert lines["stm32l4r5"][-1] == "latency"
    rc = main(["check", model, "--device", "stm32h743,stm32l4r5", "--json"])
    reports = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["device"] for r in reports] == ["stm32h743", "stm32l4r5"]


def test_text_table_has_the_new_columns(kws):
    text = write(kws, "text")
    for word in ("name", "MACs %", "live B", "time %", "budget B", "margin B"):
        assert word in text


def test_plot_writes_a_png_and_matplotlib_stays_off_the_plain_path(tmp_path):
    import subprocess
    import sys
    model = str(mlperf("kws_ref_model"))
    png = tmp_path / "mem.png"
    code = ("import sys; from edgesim.cli import main; "
            "rc = main(sys.argv[1:]); sys.exit(10 if 'matplotlib' in sys.modules else rc)")
    plain = subprocess.run([sys.executable, "-c", code, "check", model, "--device", "stm32h743",
                            "--json"], capture_output=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert main(["check", model, "--device", "stm32h743", "--format", "json", "--out",
                 str(tmp_path / "r.json"), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
