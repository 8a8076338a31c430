"""Fuzz edgesim's inputs and print what came back, per input family and entry point.

    python tools/fuzz.py [--cases N] [--families tflite,gguf,...] [--seed S] [--jobs J]
                         [--out DIR] [--json FILE] [--timeout S] [--slow-every N]
                         [--no-warm-up]
    python tools/fuzz.py --replay out/fuzz/<family>/<finding>.json

Columns: runs tried, clean errors, accepted, internal errors, crashes, hangs (killed after
--timeout s), memory failures (over 1 GiB above the worker), and seconds: wall time for a
family, summed run time for an entry point. Failing cases are kept in --out (default
out/fuzz under the current directory) with a one-command reproduction. Exit status 0 when
no run failed, 1 otherwise. The runner is tests/fuzz/harness.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgesim.io import atomic_write  # noqa: E402
from tests.fuzz import harness  # noqa: E402
from tests.fuzz.child import run_child  # noqa: E402

COLUMNS = ("tried", "clean", "accepted", "internal", "crash", "hang", "memory")
HEADS = ("tried", "clean", "accepted", "internal", "crashes", "hangs", "mem>1GB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=5000, help="cases per family (default 5000)")
    p.add_argument("--families", default=",".join(harness.FAMILIES),
                   help="comma-separated families: names in tests/fuzz or .py files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", default="out/fuzz", help="findings folder (default out/fuzz)")
    p.add_argument("--json", help="also write the report to this file")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a run is a "
                   "hang (default 10)")
    p.add_argument("--slow-every", type=int, default=5, help="entry points a family lists "
                   "in SLOW_ENTRY_POINTS run on every Nth case (default 5)")
    p.add_argument("--no-warm-up", action="store_true", help="do not run the entry points "
                   "on the seeds first to import what they import lazily")
    p.add_argument("--replay", metavar="FINDING", help="run one kept case again and exit")
    args = p.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.timeout)

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    last = {}

    def progress(family, done, total):
        now = time.monotonic()
        if done == total or now - last.get(family, 0) > 30:
            last[family] = now
            print(f"  {family}: {done}/{total}", file=sys.stderr, flush=True)

    report = harness.run(families, args.cases, seed=args.seed, jobs=args.jobs, out=args.out,
                         timeout=args.timeout, slow_every=args.slow_every,
                         warm_up=not args.no_warm_up, progress=progress)
    print(format_table(report))
    failed = harness.failures(report)
    if failed:
        print(f"\n{len(failed)} failure(s); reproduce one with `python tools/fuzz.py "
              "--replay FINDING.json`:")
        print("\n".join(f"  {line}" for line in failed[:40]))
        if len(failed) > 40:
            print(f"  ... and {len(failed) - 40} more in {args.out}")
    if args.json:
        atomic_write(args.json, json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


def format_table(report: dict) -> str:
    """One row per family (its entry points' sums) and one per entry point under it."""
    lines = [f"{'family / entry point':<24}" + "".join(f"{h:>10}" for h in HEADS)
             + f"{'seconds':>10}"]
    for name, fam in report["families"].items():
        if fam["note"]:
            lines.append(f"{name:<24} {fam['note']}")
            continue
        entries = fam["entries"]
        total = {c: sum(e[c] for e in entries.values()) for c in COLUMNS}
        lines.append(f"{name + ' (' + str(fam['cases']) + ' cases)':<24}"
                     + "".join(f"{total[c]:>10}" for c in COLUMNS) + f"{fam['wall_s']:>10.1f}")
        for entry, e in entries.items():
            lines.append(f"{'  ' + entry:<24}" + "".join(f"{e[c]:>10}" for c in COLUMNS)
                         + f"{e['seconds']:>10.1f}")
        lines += [f"  ! {err}" for err in fam["errors"][:5] + fam["warnings"]]
    return "\n".join(lines)


def replay(finding: str, timeout: float) -> int:
    """Run a kept case through its entry point again as the harness does (forked, limited,
    with EDGESIM_DEBUG=1) and print the outcome, traceback and stderr; 1 when it still
    fails, else 0."""
    info = json.loads(Path(finding).read_text())
    os.environ.update(harness.WORKER_ENV, EDGESIM_DEBUG="1")
    fam = harness.load_family(info["spec"])
    print(f"{info['family']} case {info['case']} through {info['entry']} "
          f"({info['case_file']}): was {info['outcome']} ({info['detail']})")
    with tempfile.TemporaryDirectory(prefix="edgesim-replay-") as tmp:
        os.environ["EDGESIM_CACHE"] = str(Path(tmp) / "cache")
        harness.warm(fam, list(fam.seeds()), [info["entry"]], Path(tmp))
        r = run_child(fam.ENTRY_POINTS[info["entry"]], Path(info["case_file"]).resolve(),
                              Path(tmp) / "run", timeout)
    for key in ("traceback", "stderr_tail"):
        if r[key].strip():
            print(f"--- {key}\n{r[key].rstrip()}")
    print(f"now: {r['outcome']} ({r['detail']}), {r['seconds']:.2f} s, peak RSS "
          f"+{r['rss_growth_mb']:.0f} MiB")
    return 1 if r["outcome"] in harness.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
