"""Predicted vs TFLM-measured tensor arena, and predicted latency per device.

    python tools/bench_arena.py [MODEL ...] [--devices stm32h743,stm32h7a3] [--json-out PATH]

For each model: the arena edgesim predicts with reference kernels, the smallest arena_size the
TFLM interpreter accepts (bisected, one child process per probe), the error in percent, and the
predicted latency (ms) with each kernel stack on each device.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from firmware_sim import check, load_graph
from edgesim.io import atomic_write
from firmware_sim.memory.arena import plan_arena
from firmware_sim.tflm_probe import allocation_report, minimum_arena
from bench_check import DEFAULT_MODELS  # a sibling script: tools/ is on sys.path when run


def measure(path: Path, devices: list[str]) -> dict:
    graph = load_graph(path)
    plan = plan_arena(graph, "reference")
    measured = minimum_arena(path, low=allocation_report(path.read_bytes()).tail_bytes)
    latency = {f"{d}/{k}": check(graph, d, kernels=k).latency_ms
               for d in devices for k in ("cmsis-nn", "reference")}
    return {"model": path.name, "predicted_arena_bytes": plan.total_bytes,
            "tflm_min_arena_bytes": measured,
            "error_percent": 100 * (plan.total_bytes - measured) / measured,
            "bound_by": plan.bound_by, "latency_ms": latency}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    p.add_argument("--devices", default="stm32h743,stm32h7a3")
    p.add_argument("--json-out", type=Path, default=Path("out/bench_arena.json"))
    args = p.parse_args(argv)
    devices = args.devices.split(",")

    rows = [measure(m, devices) for m in args.models]
    cols = list(rows[0]["latency_ms"])
    print(f"{'model':<30} {'predicted':>10} {'TFLM min':>9} {'error':>7}  "
          + " ".join(f"{c:>22}" for c in cols))
    for r in rows:
        print(f"{r['model']:<30} {r['predicted_arena_bytes']:>10,} {r['tflm_min_arena_bytes']:>9,} "
              f"{r['error_percent']:>+6.2f}%  "
              + " ".join(f"{r['latency_ms'][c]:>19.2f} ms" for c in cols))
    atomic_write(args.json_out, json.dumps(rows, indent=2).encode())
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
