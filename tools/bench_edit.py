"""Benchmark knowledge editing, MobiEdit against ROME with backpropagation (the same bench as
`edgesim edit bench`; npu_sim.editing.bench says what it measures).

    python tools/bench_edit.py [--model smollm2] [--edits N] [--json] [--out FILE]
                               [--unbatched] [--rescore JSON]
"""

from __future__ import annotations

import argparse
import json
import sys

from npu_sim.editing.bench import DEFAULT_EDITS, DEFAULT_OUT, bench_to_file, format_bench


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--edits", type=int, default=DEFAULT_EDITS,
                   help=f"run the first N edits of the set (default {DEFAULT_EDITS})")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--unbatched", action="store_true", help="MobiEdit with one NPU invocation "
                   "per forward pass (default: each ZO step's perturbations in one batched "
                   "invocation)")
    p.add_argument("--rescore", metavar="JSON", help="summarise the runs recorded in an earlier "
                   "bench JSON again (cost model and scaling) instead of editing")
    args = p.parse_args(argv)
    if args.edits < 1:
        p.error("--edits must be >= 1")
    bench = bench_to_file(args.out, args.model, args.edits,
                          progress=not args.quiet and sys.stderr.isatty(),
                          batched=False if args.unbatched else None, rescore=args.rescore)
    summary = {k: v for k, v in bench.items() if k != "runs"}
    print(json.dumps(summary, indent=2) if args.json else format_bench(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
