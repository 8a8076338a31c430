"""Writers over one Report (or a list of them, one per device), after Vela's stats_writer:
each turns the same record into one format; none computes a figure of its own."""

from __future__ import annotations

import csv
import io
import json

from .records import Report
from .report import format_report, text_table

FORMATS = ("text", "json", "csv", "html")



def write_text(r: Report) -> str:
    return format_report(r) + "\n"


def write_json(r: Report) -> str:
    return json.dumps(r.to_dict(), indent=2) + "\n"


def write_csv(r: Report) -> str:
    """One row per layer, the columns of Report.layer_rows; the shape as "1x25x5x64",
    booleans as true/false."""
    rows = r.layer_rows()
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["id"], lineterminator="\n")
    w.writeheader()
    for row in rows:
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
    ("flash B", lambda r: r.stored_bytes), ("RAM B", lambda r: r.ram_bytes),
    ("arena B", lambda r: r.plan.total_bytes), ("cycles", lambda r: r.cycles or "-"),
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
