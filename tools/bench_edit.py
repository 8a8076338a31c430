"""Benchmark knowledge editing, MobiEdit against ROME with backpropagation (the same bench as
`edgesim edit bench`; npu_sim.editing.bench says what it measures). Each edit runs as a Ray
task and its result, with its wall time (s), is appended to --results as it finishes; a rerun
skips the edits that file holds. The table ends with the mean wall time per edit per method.

    python tools/bench_edit.py [--model smollm2] [--dataset COUNTERFACT.json] [--edits N]
                               [--json] [--out FILE] [--results FILE.jsonl] [--workers N]
                               [--address ADDR] [--unbatched] [--rescore JSON] [--finished]
"""

from __future__ import annotations

import argparse
import json
import sys

from npu_sim.editing.bench import DEFAULT_EDITS, DEFAULT_OUT, bench_to_file
from npu_sim.editing.bench_text import format_bench


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--dataset", help="a CounterFact-format JSON edit set (default: the "
                   "project's)")
    p.add_argument("--edits", type=int, help=f"run the first N edits of the set (default "
                   f"{DEFAULT_EDITS} of the project's set, all of a --dataset)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--results", help="JSON-lines file of the edits' results, resumed from "
                   "(default: --out with the suffix .jsonl)")
    p.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    p.add_argument("--address", help="join the Ray cluster at this address (default: a "
                   "local Ray in this process)")
    p.add_argument("--finished", action="store_true", help="run nothing; summarise the edits "
                   "--results already holds with both methods")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--unbatched", action="store_true", help="MobiEdit with one NPU invocation "
                   "per forward pass (default: each ZO step's perturbations in one batched "
                   "invocation)")
    p.add_argument("--rescore", metavar="JSON", help="summarise the runs recorded in an earlier "
                   "bench JSON again (cost model and scaling) instead of editing")
    args = p.parse_args(argv)
    for name in ("edits", "workers"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    bench = bench_to_file(args.out, args.model, args.edits,
                          progress=not args.quiet and sys.stderr.isatty(),
                          batched=False if args.unbatched else None, rescore=args.rescore,
                          dataset=args.dataset, results=args.results, workers=args.workers,
                          address=args.address, finished=args.finished)
    summary = {k: v for k, v in bench.items() if k != "runs"}
    print(json.dumps(summary, indent=2) if args.json else format_bench(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
