#!/usr/bin/env python3
"""Calibrate edgesim's model of TensorFlow Lite Micro's tensor arena (firmware_sim/memory/arena.py).

It regenerates every number of that model (see firmware_sim/calibration/__init__.py for the tail
model) from scratch: it builds tiny INT8 models with TensorFlow (chains of 1, 2, 3 identical
operators, or a model with and without one operator), runs them through the PyPI tflite-micro
interpreter, reads the RecordingMicroAllocator report (print_allocations) and differences the
reports.

Small models need more than head + tail while TFLM sets up: while it plans memory, and while a
kernel's Prepare() holds temporary TfLiteTensor structs for its tensors (arena.py models both).
Some kernels hold more than those structs; to measure that, each probe also builds one instance
of its operator with tiny activations, bisects the smallest arena TFLM accepts for it, and keeps
what exceeds the tail plus the structs as the operator's `prepare_temp_extra`.

It writes the result to firmware_sim/memory/tflm_arena.toml (atomically), then recomputes with
firmware_sim.memory.arena, from the written file, the tail of every model it built and of the
MLPerf Tiny INT8 models (category by category), and the whole arena of the small models and the
MLPerf models against their bisected minimum. It exits non-zero if a tail differs or a predicted
arena is below the minimum (or more than 2% above it, for arenas of 4 KiB and more).

Caveat: the PyPI interpreter is a 64-bit host build, so the struct sizes are those of a 64-bit
target (8-byte pointers); a 32-bit Cortex-M build has smaller structs.

Usage: python tools/calibrate_tflm_arena.py [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from firmware_sim.calibration.fit import (  # noqa: E402
    OpCalibration, derive_op, derive_prepare_extras, fit)
from firmware_sim.calibration.probe import (  # noqa: E402
    BISECT_WORKERS, Built, ProbeResult, bisect_all, measure, per_channel_input_models, run_probe)
from firmware_sim.calibration.probes import probes  # noqa: E402
from firmware_sim.calibration.structs import derive_structs  # noqa: E402
from firmware_sim.calibration.verify import verify_arenas, verify_tails  # noqa: E402
from firmware_sim.calibration.write import (  # noqa: E402
    print_op_table, render_toml, struct_table, write_toml)
from firmware_sim.memory import arena  # noqa: E402

DEFAULT_OUT = arena.TABLE
MLPERF_DIR = REPO.parent / "shared" / "models" / "mlperf_tiny"
MLPERF_MODELS = ("ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant")


def calibrate_tail(workdir: Path) -> tuple[list[ProbeResult], dict[str, OpCalibration],
                                           list[str], dict, list[Built]]:
    """Run every probe and derive the tail: (results, calibrations, skipped operators,
    structs, the extra per-channel-input models)."""
    results = []
    for probe in probes():
        res = run_probe(probe, workdir)
        n = sum(len(m) for m in res.models.values()) + (res.small is not None)
        print(f"probe {probe.key:<22} {n:2d} models" +
              (f"  ({'; '.join(res.notes)})" if res.notes else ""), flush=True)
        results.append(res)
    by_op: dict[str, list[ProbeResult]] = {}
    for r in results:
        by_op.setdefault(r.probe.op, []).append(r)
    cals, skipped = {}, []
    for op, rs in by_op.items():
        cal = derive_op(rs)
        if cal is None:
            skipped.append(op)
            print(f"note: {op} could not be isolated, not calibrated")
        else:
            cals[op] = cal
    extra, failure = per_channel_input_models(results)
    structs, notes = derive_structs(results, extra, failure)
    fit(cals, results, structs, notes)
    for note in notes:
        print("note:", note)
    return results, cals, skipped, struct_table(structs), extra


def mlperf_models() -> list[Built]:
    """The MLPerf Tiny INT8 reference models found in the shared folder, measured."""
    found = []
    for name in MLPERF_MODELS:
        path = MLPERF_DIR / f"{name}.tflite"
        if path.exists():
            found.append(measure(name, path))
        else:
            print(f"note: {path} not found")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="TOML file to write")
    args = ap.parse_args(argv)
    version = importlib.metadata.version("tflite-micro")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tflm_cal_") as tmp:
        results, cals, skipped, structs, extra = calibrate_tail(Path(tmp))
        print(f"tail calibrated ({time.monotonic() - t0:.0f} s)", flush=True)

        mlperf = mlperf_models()
        small = [r.small for r in results if r.small is not None]
        print(f"\nbisecting the minimum arena of {len(small)} small probe models and "
              f"{len(mlperf)} MLPerf Tiny models ({BISECT_WORKERS} at a time)", flush=True)
        minima = bisect_all(small + mlperf)
        derive_prepare_extras(results, cals, structs, minima)

        write_toml(args.out, render_toml(structs, cals, version, skipped))
        arena.arena_table.cache_clear()
        print(f"\nwrote {args.out}\n")
        print_op_table(cals)
        print("\n[structs]")
        for k, v in structs.items():
            print(f"  {k} = {v}")

        table = arena.arena_table(args.out)
        built = [b for r in results for ms in r.models.values() for b in ms.values()]
        built += small + extra + mlperf
        bad_tails = verify_tails(built, table)
        print(f"\n{len(built) - bad_tails} of {len(built)} tails exact, {bad_tails} off")
        bad_arenas = verify_arenas(small + mlperf, minima, table)
        print(f"\n{len(small) + len(mlperf) - bad_arenas} of {len(small) + len(mlperf)} "
              f"arena predictions ok, {bad_arenas} failed")
        for op, cal_ in sorted(cals.items()):
            for note in cal_.notes:
                print(f"note: {op}: {note}")
    print(f"\ndone in {time.monotonic() - t0:.0f} s")
    return 0 if bad_tails == 0 and bad_arenas == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
