"""A Report as text: summary, per-layer table and violations, in the spirit of STM32Cube.AI's
`analyze` report and Vela's per-layer output."""

from __future__ import annotations

from .budget import Report, Violation


def _kib(n: int) -> str:
    return f"{n:,} B ({n / 1024:.1f} KiB)"


def format_summary(r: Report) -> str:
    dev = r.device
    lines = [
        f"model        {r.model}",
        f"device       {dev.name} ({dev.cores}x {dev.core}, {dev.clock_hz / 1e6:g} MHz), "
        f"kernels {r.kernels}",
        f"verdict      {'FITS' if r.fits else 'DOES NOT FIT'}",
        f"MACs         {r.macs:,}",
        (f"flash        {_kib(r.flash.total_bytes)} = model {r.flash.model_bytes:,} + code "
         f"{r.flash.code_bytes:,} (of {dev.flash.size:,})" if dev.flash else
         f"storage      {_kib(r.flash.total_bytes)} (model file, loaded into RAM)"),
        f"arena        {_kib(r.arena.total_bytes)} = head {r.arena.head_bytes:,} + tail "
        f"{r.arena.tail_bytes:,} + 16, in {r.arena_region or 'no region (too large)'}",
        f"RAM          {_kib(r.ram_bytes)} = arena{'' if dev.is_mcu else ' + model + packed weights'}"
        f" + stack {dev.stack_bytes:,} + static {dev.static_bytes:,} (of {dev.ram_bytes:,})",
        f"cycles       {r.cycles:,}",
        f"latency      {r.latency_ms:.3f} ms",
        f"energy       {r.energy_mj:.4f} mJ at {dev.active_power_mw:g} mW",
    ]
    return "\n".join(lines) + "\n\n" + format_memory(r)


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
    """Flash, RAM and arena against the budget and the device's capacity, with the margin."""
    return text_table(["", "used B", "budget B", "device B", "margin B"], [
        [m["what"], m["used_bytes"], _opt(m["budget_bytes"]), _opt(m["capacity_bytes"]),
         _opt(m["margin_bytes"])] for m in r.memory_rows()], left={0}, rule=False)


def _opt(n: int | None) -> int | str:
    return "-" if n is None else n


def _short(name: str, width: int = 28) -> str:
    """Tensor names run to hundreds of characters; the text table keeps their head."""
    return name if len(name) <= width else name[:width - 3] + "..."


def format_layers(r: Report) -> str:
    head = ("id", "name", "op", "kernel", "output shape", "MACs", "MACs %", "weights B",
            "activ. B", "live B", "cycles", "cyc. %", "ms", "region")
    rows = [(
        l["id"], _short(l["name"]), l["op"], l["kernel"],
        "x".join(map(str, l["output_shape"])), l["macs"], f"{l['macs_pct']:.1f}",
        l["weight_bytes"], l["activation_bytes"], l["live_bytes"],
        f"{'~' if not l['calibrated'] else ''}{l['cycles']:,}", f"{l['cycles_pct']:.1f}",
        f"{l['latency_ms']:.3f}", l["region"]) for l in r.layer_rows()]
    total = ("", "", "total", "", "", r.macs, "100.0", sum(l.weight_bytes for l in r.layers), "",
             max((l.live_bytes for l in r.layers), default=0), r.cycles, "100.0",
             f"{r.latency_ms:.3f}", "")
    return text_table(head, rows, left={1, 2, 3, 4, 13}, footer=total)


def format_violations(violations: tuple[Violation, ...] | list[Violation]) -> str:
    if not violations:
        return "no violations"
    width = max(len(v.kind) for v in violations)
    return "\n".join(["violations:"] + [f"  {v.kind:<{width}}  {v.message}" for v in violations])


def format_report(r: Report) -> str:
    parts = [format_summary(r), "", format_layers(r), "", format_violations(r.violations)]
    if r.notes:
        parts += [""] + [f"note: {n}" for n in r.notes]
    return "\n".join(parts)
