"""Benchmark `check` and the emulator, as figures and ratios measured in one run.

    python tools/bench_check.py [MODEL ...] [--repeat N] [--json-out PATH]

Per model: in-process wall time of check() (median), `edgesim check` cold start in a fresh
process (median), and the overhead of an emulated run (Emulator ... .run) over a bare TFLM
invoke on the same interpreter settings (ratio of medians, interleaved so machine noise hits
both alike). Targets: check < 0.3 s, cold start < 3 s, overhead < 1.2x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from firmware_sim import Emulator, check
from edgesim.io import atomic_write

DEFAULT_MODELS = [Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny" / f
                  for f in ("kws_ref_model.tflite", "vww_96_int8.tflite",
                            "pretrainedResnet_quant.tflite", "ad01_int8.tflite")]


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_model(path: Path, device: str, repeat: int) -> dict:
    from tflite_micro.python.tflite_micro import runtime

    check_s = _median_seconds(lambda: check(path, device), repeat)
    cold = _median_seconds(lambda: subprocess.run(
        [sys.executable, "-m", "edgesim.cli", "check", str(path), "--device", device, "--json"],
        check=False, capture_output=True), max(3, repeat // 3))

    loaded = Emulator(device).load(path)
    bare = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=loaded.arena_bytes)
    x = np.random.default_rng(0).integers(-128, 128, size=loaded.inputs[0].shape, dtype=np.int8)

    def bare_run():
        bare.set_input(x, 0)
        bare.invoke()
        bare.get_output(0)

    emulated, plain = [], []
    for _ in range(repeat):                     # interleaved: both see the same machine state
        emulated.append(_median_seconds(lambda: loaded.run(x), 1))
        plain.append(_median_seconds(bare_run, 1))
    return {"model": path.name, "check_s": check_s, "cli_cold_start_s": cold,
            "tflm_invoke_s": statistics.median(plain), "emulated_run_s": statistics.median(emulated),
            "run_overhead_ratio": statistics.median(emulated) / statistics.median(plain)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", type=Path, default=DEFAULT_MODELS)
    p.add_argument("--device", default="stm32h743")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--json-out", type=Path, default=Path("out/bench_check.json"))
    args = p.parse_args(argv)

    rows = [bench_model(m, args.device, args.repeat) for m in args.models]
    print(f"{'model':<30} {'check s':>8} {'cold s':>7} {'invoke ms':>10} {'run ms':>8} {'overhead':>9}")
    for r in rows:
        print(f"{r['model']:<30} {r['check_s']:>8.4f} {r['cli_cold_start_s']:>7.3f} "
              f"{r['tflm_invoke_s'] * 1e3:>10.3f} {r['emulated_run_s'] * 1e3:>8.3f} "
              f"{r['run_overhead_ratio']:>8.3f}x")
    atomic_write(args.json_out, json.dumps({"device": args.device, "repeat": args.repeat,
                                            "models": rows}, indent=2).encode())
    print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
