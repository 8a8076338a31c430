"""Writers over one Report (or a list of them, one per device), after Vela's stats_writer:
each turns the same record into one format; none computes a figure of its own."""

from __future__ import annotations

import csv
import io
import json

from .budget import Report
from .report import format_report, text_table

FORMATS = ("text", "json", "csv", "html")

#: CSV columns, in order: the per-layer record (Report.layer_rows) with the shape flattened.
CSV_COLUMNS = ("id", "name", "op", "kernel", "output_shape", "macs", "macs_pct", "weight_bytes",
               "activation_bytes", "live_bytes", "cycles", "cycles_pct", "latency_ms",
               "energy_mj", "region", "calibrated")


def write_text(r: Report) -> str:
    return format_report(r) + "\n"


def write_json(r: Report) -> str:
    return json.dumps(r.to_dict(), indent=2) + "\n"


def write_csv(r: Report) -> str:
    """One row per layer; the shape as "1x25x5x64", booleans as true/false."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in r.layer_rows():
        w.writerow({**row, "output_shape": "x".join(map(str, row["output_shape"])),
                    "calibrated": str(row["calibrated"]).lower()})
    return out.getvalue()


def write_html(r: Report) -> str:
    from .report_html import html_page
    return html_page(r)


def write(r: Report, fmt: str) -> str:
    return {"text": write_text, "json": write_json, "csv": write_csv, "html": write_html}[fmt](r)


#: The comparison across devices: (column, value from one report).
COMPARE = (
    ("device", lambda r: r.device.name), ("fits", lambda r: "yes" if r.fits else "NO"),
    ("flash B", lambda r: r.flash.total_bytes), ("RAM B", lambda r: r.ram_bytes),
    ("arena B", lambda r: r.arena.total_bytes), ("cycles", lambda r: r.cycles),
    ("latency ms", lambda r: round(r.latency_ms, 3)), ("energy mJ", lambda r: round(r.energy_mj, 4)),
    ("violations", lambda r: ", ".join(v.kind for v in r.violations) or "-"))


def compare_rows(reports: list[Report]) -> list[list]:
    return [[get(r) for _, get in COMPARE] for r in reports]


def write_many(reports: list[Report], fmt: str) -> str:
    """Several devices: one comparison table (text, CSV, HTML) or a list of reports (JSON)."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in reports], indent=2) + "\n"
    head = [name for name, _ in COMPARE]
    rows = compare_rows(reports)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerows([head] + rows)
        return out.getvalue()
    if fmt == "html":
        from .report_html import compare_page
        return compare_page(reports[0].model, head, rows)
    body = "\n".join([f"model  {reports[0].model}", "",
                      text_table(head, rows, left={0, 1, len(head) - 1})])
    details = [f"{r.device.name}: {v.message}" for r in reports for v in r.violations]
    return body + ("\n\n" + "\n".join(details) if details else "") + "\n"
