"""Two models on one device, layer by layer: what `edgesim diff A B --device D` prints.

Layers are paired by position (the i-th operator of each graph); a layer only one model has
shows '-' for the other. Deltas are B - A, percentages relative to A.
"""

from __future__ import annotations

import json

from .records import Report
from .report import text_table

#: Whole-model figures compared: (label, unit, value from one report).
SUMMARY = (("flash", "B", lambda r: r.stored_bytes),
           ("RAM", "B", lambda r: r.ram_bytes),
           ("arena", "B", lambda r: r.plan.total_bytes), ("MACs", "", lambda r: r.macs),
           ("cycles", "", lambda r: r.cycles or 0),
           ("latency", "ms", lambda r: round(r.latency_ms, 4)),
           ("energy", "mJ", lambda r: round(r.energy_mj, 4)))
#: Per-layer figures compared: key of Report.layer_rows() -> column label.
LAYER_KEYS = {"macs": "MACs", "live_bytes": "live bytes", "latency_ms": "ms"}


def summary_rows(a: Report, b: Report) -> list[dict]:
    rows = []
    for label, unit, get in SUMMARY:
        va, vb = get(a), get(b)
        delta = vb - va
        rows.append({"what": label, "unit": unit, "a": va, "b": vb,
                     "delta": round(delta, 4) if isinstance(delta, float) else delta,
                     "delta_pct": round(100 * delta / va, 2) if va else None})
    return rows


def layer_rows(a: Report, b: Report) -> list[dict]:
    la, lb = a.layer_rows(), b.layer_rows()
    rows = []
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else None
        y = lb[i] if i < len(lb) else None
        row = {"id": i, "op_a": x["op"] if x else None, "op_b": y["op"] if y else None}
        for k in LAYER_KEYS:
            row[f"{k}_a"] = x[k] if x else None
            row[f"{k}_b"] = y[k] if y else None
            row[f"{k}_delta"] = round(y[k] - x[k], 6) if x and y else None
        rows.append(row)
    return rows


def write_diff(a: Report, b: Report, fmt: str = "text") -> str:
    summary, layers = summary_rows(a, b), layer_rows(a, b)
    if fmt == "json":
        return json.dumps({"device": a.device.name, "a": a.to_dict(), "b": b.to_dict(),
                           "summary": summary, "layers": layers}, indent=2) + "\n"

    def show(v):
        return "-" if v is None else v

    top = text_table(["what", "A", "B", "B - A", "%"],
                     [[f"{s['what']} {s['unit']}".strip(), s["a"], s["b"], s["delta"],
                       show(s["delta_pct"])] for s in summary], left={0})
    head = ["id", "op A", "op B"] + [f"{label} {side}" for label in LAYER_KEYS.values()
                                     for side in ("A", "B", "B-A")]
    body = text_table(head, [[r["id"], show(r["op_a"]), show(r["op_b"])]
                             + [show(r[f"{k}_{s}"]) for k in LAYER_KEYS
                                for s in ("a", "b", "delta")] for r in layers], left={1, 2})
    verdicts = [f"{tag}: {'fits' if r.fits else 'DOES NOT FIT'}"
                + "".join(f"\n  {v.message}" for v in r.violations)
                for tag, r in (("A", a), ("B", b))]
    return "\n".join([f"A      {a.model}", f"B      {b.model}",
                      f"device {a.device.name}, kernels {a.kernels}", "", top, "", body, "",
                      *verdicts]) + "\n"
