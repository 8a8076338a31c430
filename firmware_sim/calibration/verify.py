"""Recompute measured models with a calibration table (firmware_sim.memory.arena) and compare:
the tail category by category, and the whole arena against the bisected minimum."""

from __future__ import annotations

from ..memory.arena import UNRECORDED, plan_arena, tail_allocations
from .probe import Built, unrecorded

#: The project's accuracy target for the whole arena; toy models (below SMALL_ARENA bytes)
#: are only reported against it, as the 16-byte start-alignment slack alone is ~1% of them.
TARGET_OVER = 0.02
SMALL_ARENA = 4096


def mismatch(built: Built, table: dict) -> list[str]:
    """Where arena.tail_allocations (reference kernels) with `table` differs from the measured
    report: the tail, and the bytes used per report category (and unrecorded)."""
    predicted, uncalibrated = tail_allocations(built.graph.main, "reference", 0, table)
    if uncalibrated:
        return ["no calibration for " + ", ".join(sorted(uncalibrated))]
    measured = {category: used for category, (used, _, _) in built.report.by_type.items()}
    measured[UNRECORDED] = unrecorded(built.report)
    out = []
    if sum(predicted.values()) != built.report.tail_bytes:
        out.append(f"tail {sum(predicted.values())} != {built.report.tail_bytes}")
    for category in sorted(measured.keys() | predicted.keys()):
        if predicted.get(category, 0) != measured.get(category, 0):
            out.append(f"{category!r} {predicted.get(category, 0)} != {measured.get(category, 0)}")
    return out


def verify_tails(built: list[Built], table: dict) -> int:
    """Print measured vs predicted tail for every model; return the number that differ."""
    print(f"\n{'model':<44}{'measured':>10}{'predicted':>10}{'diff':>7}  notes")
    bad = 0
    for b in built:
        predicted, _ = tail_allocations(b.graph.main, "reference", 0, table)
        issues = mismatch(b, table)
        bad += bool(issues)
        tail = sum(predicted.values())
        print(f"{b.name:<44}{b.report.tail_bytes:>10}{tail:>10}"
              f"{tail - b.report.tail_bytes:>+7}  {'; '.join(issues) if issues else 'exact'}")
    return bad


def verify_arenas(built: list[Built], minima: dict[str, int], table: dict) -> int:
    """Print the bisected minimum arena vs arena.plan_arena(...).total_bytes with `table`;
    return the number of failures: below the minimum, or more than TARGET_OVER above it for
    an arena of SMALL_ARENA bytes or more (smaller ones are only flagged)."""
    print(f"\n{'model':<36}{'minimum':>9}{'predicted':>10}{'over %':>8}  {'bound by':<15}check")
    bad = 0
    for b in built:
        plan, minimum = plan_arena(b.graph, table=table), minima[b.name]
        over = plan.total_bytes / minimum - 1
        if plan.total_bytes < minimum:
            check, bad = "FAIL: below the minimum", bad + 1
        elif over > TARGET_OVER and minimum >= SMALL_ARENA:
            check, bad = f"FAIL: over {TARGET_OVER:.0%}", bad + 1
        elif over > TARGET_OVER:
            check = f"ok (over {TARGET_OVER:.0%}, but under {SMALL_ARENA} bytes)"
        else:
            check = "ok"
        print(f"{b.name:<36}{minimum:>9}{plan.total_bytes:>10}{100 * over:>8.2f}  "
              f"{plan.bound_by:<15}{check}")
    return bad
