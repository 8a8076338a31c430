"""Fast cycle model vs instruction-level emulation on the four MLPerf Tiny INT8 models.

For each model and device: cycles per layer from `edgesim check` (fitted table) and from
`edgesim check --exact` (the compiled kernels run on unicorn), the error of the fast model per
layer and per model, latency, the emulator's speed (instructions per second) and the wall
time of the exact check. Prints a table and writes out/bench_cortex_m.json.

    python tools/bench_cortex_m.py [--models NAME ...] [--devices NAME ...] [--layers]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware_sim.pipeline import check  # noqa: E402
from edgesim.io import atomic_write  # noqa: E402

MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]
DEVICES = ["stm32h743", "stm32h7a3", "stm32f746", "stm32l4r5"]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf_tiny"


def bench(model: str, device: str) -> dict:
    path = MLPERF / f"{model}.tflite"
    t0 = time.perf_counter()
    fast = check(path, device)
    fast_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = check(path, device, exact=True)
    exact_s = time.perf_counter() - t0
    instructions, emu_s = (exact.details["exact"][k] for k in ("instructions", "wall_s"))
    layers = [{"id": f.index, "op": f.op, "fast_cycles": f.cycles, "exact_cycles": e.cycles,
               "error_pct": round(100 * (f.cycles - e.cycles) / e.cycles, 2)}
              for f, e in zip(fast.layers, exact.layers)]
    return {"model": model, "device": device, "arena_region": exact.arena_region,
            "fast_cycles": fast.cycles, "exact_cycles": exact.cycles,
            "error_pct": round(100 * (fast.cycles - exact.cycles) / exact.cycles, 2),
            "fast_latency_ms": round(fast.latency_ms, 4), "exact_latency_ms": round(exact.latency_ms, 4),
            "instructions": instructions,
            "instructions_per_s": round(instructions / emu_s) if emu_s > 0 else 0,
            "exact_wall_s": round(exact_s, 2), "fast_check_s": round(fast_s, 4), "layers": layers}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--devices", nargs="*", default=DEVICES)
    ap.add_argument("--layers", action="store_true", help="print the per-layer comparison")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench_cortex_m.json")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'model':<24} {'device':<10} {'fast cyc':>12} {'exact cyc':>12} {'err %':>6} "
          f"{'fast ms':>9} {'exact ms':>9} {'Minstr':>7} {'Minstr/s':>8} {'exact s':>8} {'check s':>7}")
    for m in args.models:
        for d in args.devices:
            r = bench(m, d)
            rows.append(r)
            print(f"{m:<24} {d:<10} {r['fast_cycles']:>12,} {r['exact_cycles']:>12,} "
                  f"{r['error_pct']:>6.2f} {r['fast_latency_ms']:>9.3f} {r['exact_latency_ms']:>9.3f} "
                  f"{r['instructions'] / 1e6:>7.2f} {r['instructions_per_s'] / 1e6:>8.2f} "
                  f"{r['exact_wall_s']:>8.1f} {r['fast_check_s']:>7.3f}", flush=True)
            if args.layers:
                for l in r["layers"]:
                    print(f"    {l['id']:>3} {l['op']:<20} {l['fast_cycles']:>12,} "
                          f"{l['exact_cycles']:>12,} {l['error_pct']:>7.2f}")
    atomic_write(args.out, json.dumps(rows, indent=1).encode())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
