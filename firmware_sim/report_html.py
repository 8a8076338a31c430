"""A Report as one self-contained HTML page: summary, violations, per-layer table and the
activation memory per layer as inline SVG. No scripts, styles inline, no external URLs."""

from __future__ import annotations

from html import escape

from .records import Report

STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0}"
         "td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px}th{white-space:nowrap}"
         "td{max-width:32em;overflow-wrap:anywhere}td.n{text-align:right;white-space:nowrap}"
         ".bad{color:#b00}")


def _table(table_id: str, head: list[str], rows: list[list]) -> str:
    """Cells hold the JSON value's text (str()), so a reader can compare them to the JSON."""
    def cell(c):
        text = "" if c is None else str(c)
        return f'<td class="n">{escape(text)}</td>' if isinstance(c, (int, float)) \
            else f"<td>{escape(text)}</td>"
    out = [f'<table id="{table_id}"><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head)
           + "</tr>"]
    out += ["<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows]
    return "\n".join(out + ["</table>"])


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + escape(title)
            + f"</title><style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def memory_svg(r: Report, rows: list[dict] | None = None, width: int = 720,
               height: int = 240) -> str:
    """Live activation bytes per layer as bars; the size of the arena's region (the largest
    one where the arena fits none) as a dashed line on the same scale. `rows`: r.layer_rows(),
    where the caller has them already."""
    rows = r.layer_rows() if rows is None else rows
    region_bytes = r.region_bytes
    top = max([row["live_bytes"] for row in rows] + [region_bytes, 1])
    pad, n = 40, max(len(rows), 1)
    bar = (width - 2 * pad) / n
    scale = (height - 2 * pad) / top
    parts = [f'<svg id="memory" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for i, row in enumerate(rows):
        h = row["live_bytes"] * scale
        parts.append(f'<rect x="{pad + i * bar:.1f}" y="{height - pad - h:.1f}" '
                     f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}" fill="#4a7ebb">'
                     f'<title>{escape(row["name"])}: {row["live_bytes"]} B</title></rect>')
    y = height - pad - region_bytes * scale
    parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{y:.1f}" y2="{y:.1f}" stroke="#b00" '
                 'stroke-dasharray="4"/>')
    parts.append(f'<text x="{pad}" y="{max(y - 4, 12):.1f}" font-size="11">'
                 f'{escape(r.arena_region or "largest region")}: {region_bytes} B</text>')
    parts.append(f'<text x="{pad}" y="{height - pad / 3:.1f}" font-size="11">live activation '
                 f'bytes per layer (0 .. {n - 1})</text></svg>')
    return "\n".join(parts)


def html_page(r: Report) -> str:
    d = r.to_dict()
    summary = [[k, d[k]] for k in ("model", "device", "target", "kernels", "fits", "macs",
                                    *(f"{m.what}_bytes" for m in r.memory), "arena_region",
                                    "cycles", "latency_ms", "energy_mj", "edgesim_version")]
    memory = [[m["what"], m["used_bytes"], m["budget_bytes"], m["capacity_bytes"],
               m["margin_bytes"]] for m in d["memory"]]
    violations = [[v["kind"], v["message"], v["value"], v["limit"], v["unit"]]
                  for v in d["violations"]]
    layer_keys = list(d["layers"][0]) if d["layers"] else []
    layers = [[("x".join(map(str, l[k])) if k == "output_shape" else l[k]) for k in layer_keys]
              for l in d["layers"]]
    verdict = "FITS" if r.fits else '<span class="bad">DOES NOT FIT</span>'
    body = [f"<h1>{escape(r.model)} on {escape(r.device.name)}: {verdict}</h1>",
            "<h2>Summary</h2>", _table("summary", ["key", "value"], summary),
            _table("target", ["what", "figures"], [list(line) for line in r.summary]),
            _table("memory-budget", ["what", "used_bytes", "budget_bytes", "capacity_bytes",
                                     "margin_bytes"], memory),
            "<h2>Violations</h2>",
            _table("violations", ["kind", "message", "value", "limit", "unit"], violations)
            + ("" if violations else "\n<p>none: every budget holds</p>"),
            "<h2>Memory</h2>", memory_svg(r, d["layers"]),
            "<h2>Layers</h2>", _table("layers", layer_keys, layers)]
    body += [f"<p>note: {escape(n)}</p>" for n in r.notes]
    return _page(f"edgesim check {r.model}", body)


def compare_page(model: str, head: list[str], rows: list[list]) -> str:
    return _page(f"edgesim check {model}", [f"<h1>{escape(model)}</h1>",
                                            _table("compare", head, rows)])
