"""A Report as text: summary, per-layer table and violations, in the spirit of STM32Cube.AI's
`analyze` report and Vela's per-layer output."""

from __future__ import annotations

from .records import Report, Violation


def _kib(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def format_summary(r: Report) -> str:
    """The verdict and whole-model figures, then the target's own lines, then the memory
    table."""
    cycles = f"{r.cycles:,} cycles, " if r.cycles is not None else ""
    lines = [("model", r.model), ("verdict", "FITS" if r.fits else "DOES NOT FIT"),
             ("MACs", f"{r.macs:,}"), *r.summary,
             ("latency", f"{r.latency_ms:.3f} ms ({cycles}"
                         + (f"fixed {r.fixed_ms:.3f} ms + " if r.fixed_ms else "")
                         + f"{len(r.layers)} layers)"),
             ("energy", f"{r.energy_mj:.4f} mJ")]
    width = max(len(label) for label, _ in lines) + 2
    return ("\n".join(f"{label:<{width}}{text}" for label, text in lines) + "\n\n"
            + format_memory(r))


def text_table(head, rows, left: set[int], footer=None, rule: bool = True) -> str:
    """Aligned columns: integers with thousands separators, columns in `left` left-aligned, the
    others right-aligned; a rule under the header (unless `rule` is false) and, when a
    `footer` row (a total) is given, a rule above it."""
    body = [head] + list(rows) + ([footer] if footer is not None else [])
    cells = [[f"{c:,}" if isinstance(c, int) and not isinstance(c, bool) else str(c)
              for c in row] for row in body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
    line = "-" * len(lines[0])
    if footer is not None:
        lines.insert(len(lines) - 1, line)
    if rule:
        lines.insert(1, line)
    return "\n".join(lines)


def format_memory(r: Report) -> str:
    """Each memory against the budget and the device's capacity, with the margin."""
    return text_table(["", "used B", "budget B", "device B", "margin B"], [
        [m.what, m.used_bytes, _opt(m.budget_bytes), _opt(m.capacity_bytes),
         _opt(m.margin_bytes)] for m in r.memory], left={0}, rule=False)


def _opt(n: int | None) -> int | str:
    return "-" if n is None else n


def _short(name: str, width: int = 28) -> str:
    """Tensor names run to hundreds of characters; the text table keeps their head."""
    return name if len(name) <= width else name[:width - 3] + "..."


def format_layers(r: Report) -> str:
    timed = r.cycles is None         # no single clock: the roofline's bound instead of cycles
    head = ("id", "name", "op", "kernel", "output shape", "MACs", "MACs %", "weights B",
            "activ. B", "live B", "bound" if timed else "cycles", "time %", "ms", "region")
    rows = [(
        l["id"], _short(l["name"]), l["op"], l["kernel"],
        "x".join(map(str, l["output_shape"])), l["macs"], f"{l['macs_pct']:.1f}",
        l["weight_bytes"], l["activation_bytes"], l["live_bytes"],
        l["bound"] if timed else f"{'~' if not l['calibrated'] else ''}{l['cycles']:,}",
        f"{l['time_pct']:.1f}", f"{l['latency_ms']:.3f}", l["region"]) for l in r.layer_rows()]
    layer_ms = sum(l.latency_ms for l in r.layers)
    total = ("", "", "total", "", "", r.macs, "100.0", sum(l.weight_bytes for l in r.layers), "",
             max((l.live_bytes for l in r.layers), default=0), "" if timed else r.cycles,
             "100.0", f"{layer_ms:.3f}", "")
    return text_table(head, rows, left={1, 2, 3, 4, 10 if timed else 13, 13}, footer=total)


def format_violations(violations: tuple[Violation, ...] | list[Violation]) -> str:
    if not violations:
        return "no violations"
    width = max(len(v.kind) for v in violations)
    return "\n".join(["violations:"] + [f"  {v.kind:<{width}}  {v.message}" for v in violations])


def format_report(r: Report) -> str:
    parts = [format_summary(r), "", format_layers(r), "", format_violations(r.violations)]
    if r.notes:
        parts += [""] + [n if n.startswith("warning: ") else f"note: {n}" for n in r.notes]
    return "\n".join(parts)
