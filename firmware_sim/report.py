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
    return "\n".join(lines)


def format_layers(r: Report) -> str:
    head = ("id", "op", "kernel", "output shape", "MACs", "weights B", "activ. B", "cycles",
            "ms", "region")
    rows = [head] + [(
        str(l.index), l.op, l.kernel, "x".join(map(str, l.output_shape)), f"{l.macs:,}",
        f"{l.weight_bytes:,}", f"{l.activation_bytes:,}",
        f"{'~' if not l.calibrated else ''}{l.cycles:,}", f"{l.latency_ms:.3f}", l.region)
        for l in r.layers]
    rows.append(("", "total", "", "", f"{r.macs:,}", f"{sum(l.weight_bytes for l in r.layers):,}",
                 "", f"{r.cycles:,}", f"{r.latency_ms:.3f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    left = {1, 2, 3, 9}
    fmt = lambda row: "  ".join(c.ljust(w) if i in left else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths)))
    rule = "-" * len(fmt(head))
    return "\n".join([fmt(head), rule] + [fmt(row) for row in rows[1:-1]] + [rule, fmt(rows[-1])])


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
