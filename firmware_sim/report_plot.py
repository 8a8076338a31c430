"""A Report's activation memory as a PNG: live bytes per layer against the RAM regions.
Imports matplotlib (Agg, no display) only when called, so `check` stays light without --plot."""

from __future__ import annotations

import io
from pathlib import Path

from .records import Report


def plot_memory(r: Report, path: str | Path) -> Path:
    """Bars: live arena-head bytes per layer; lines: the arena's total and its region's size."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from edgesim.io import atomic_write

    rows = r.layer_rows()
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.25), 4))
    try:
        ax.bar([row["id"] for row in rows], [row["live_bytes"] for row in rows],
               color="#4a7ebb", label="live activations")
        ax.axhline(r.plan.total_bytes, color="#444", linestyle=":", label="arena (head + tail)")
        ax.axhline(r.region_bytes, color="#b00", linestyle="--",
                   label=f"{r.arena_region or 'largest region'} size")
        ax.set_xlabel("layer")
        ax.set_ylabel("bytes")
        ax.set_title(f"{Path(r.model).name} on {r.device.name}")
        ax.legend(loc="best", fontsize=8)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return atomic_write(path, buf.getvalue())
