"""Regenerate firmware_sim/cost/cortex_m_table.toml: the fast Cortex-M cycle model.

For each core (Cortex-M7 on the stm32h743 profile, Cortex-M4 on stm32l4r5) and each kernel,
run single-layer models over a sweep of shapes instruction by instruction (unicorn, the
compiled kernels of firmware_sim/kernels), and fit by least squares

    cycles (pipeline issue + branch penalties) = sum_i c_i * feature_i
    instructions                               = sum_i n_i * feature_i

with the loop-trip features of firmware_sim/cost/kernel_features.py. Memory stalls are not in
the fit: the fast model computes them from the cache model in closed form.

Each kernel's row also gets TFLM's per-operator dispatch for that kernel, measured by running
the C port of the interpreter's node loop and the kernel wrapper's Eval preamble
(firmware_sim/kernels/dispatch.py) for every layer of the sweep and of the MLPerf Tiny models:
the mean pipeline cycles and instructions, and the mean flash and RAM line fills (RAM: with
the arena in cached bus RAM, on cores with a D-cache), which the fast model prices per device.

    python tools/calibrate_cortex_m.py [--quick] [--cores ...] [--kernels ...] [--out PATH]

The table at --out is updated in place (atomically): rows for cores and kernels the run
does not regenerate are kept.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware_sim.cost.cortex_m import dispatch_row, kernel_table  # noqa: E402
from firmware_sim.cost.kernel_features import features, kernel_entry  # noqa: E402
from firmware_sim.devices import load_device  # noqa: E402
from edgesim.io import atomic_write  # noqa: E402
from firmware_sim.graph import load_graph  # noqa: E402
from firmware_sim.kernels import synth  # noqa: E402
from firmware_sim.kernels.dispatch import ENTRY_ORDER  # noqa: E402
from firmware_sim.kernels.runner import ModelMachine  # noqa: E402
from firmware_sim.ops import SAME, VALID  # noqa: E402

TABLE = ROOT / "firmware_sim" / "cost" / "cortex_m_table.toml"
CORES = {"cortex-m7": "stm32h743", "cortex-m4": "stm32l4r5"}
MLPERF = ROOT.parent / "shared" / "models" / "mlperf_tiny"
MLPERF_MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]


def sweep(quick: bool = False) -> dict[str, list[bytes]]:
    """Single-layer models per kernel; the shapes span the reference models' layer types."""
    rng = np.random.default_rng(7)
    pick = (lambda xs, n: xs[:n]) if quick else (lambda xs, n: xs)

    def sample(grid, n):
        grid = list(grid)
        idx = rng.permutation(len(grid))[:n]
        return [grid[i] for i in sorted(idx)]

    conv = sample(itertools.product([(8, 8), (9, 7), (11, 6)], [1, 3, 4, 8, 13, 16],
                                    [4, 7, 16], [(3, 3), (5, 3), (1, 3)], [1, 2]), 40)
    conv += [((12, 6), 1, 8, (10, 4), 2), ((10, 10), 3, 8, (3, 3), 2), ((6, 6), 32, 16, (3, 3), 1)]
    c1 = sample(itertools.product([(5, 5), (8, 8), (6, 7)], [4, 8, 13, 32, 64], [3, 8, 16],
                                  [1, 2]), 24)
    dw = sample(itertools.product([(6, 6), (9, 7), (12, 12)], [4, 8, 13, 32, 64],
                                  [(3, 3), (5, 5)], [1, 2]), 24)
    fc = sample(itertools.product([8, 37, 64, 130, 256], [2, 9, 16, 33, 64]), 16)
    pools = sample(itertools.product([(6, 6), (9, 7), (8, 8)], [4, 13, 32], [2, 3, 5], [1, 2, 3]), 14)
    out = {
        "conv_s8": [synth.conv_model(hw, ci, co, k, s, seed=i)
                    for i, (hw, ci, co, k, s) in enumerate(pick(conv, 12))],
        "conv_1x1_s8": [synth.conv_model(hw, ci, co, (1, 1), s, padding=VALID, seed=i)
                        for i, (hw, ci, co, s) in enumerate(pick(c1, 10))],
        "depthwise_s8": [synth.conv_model(hw, c, c, k, s, depthwise=True, seed=i)
                         for i, (hw, c, k, s) in enumerate(pick(dw, 10))],
        "fully_connected_s8": [synth.fc_model(d, u, seed=i) for i, (d, u) in enumerate(pick(fc, 8))],
        "avgpool_s8": [synth.pool_model(hw, c, f, s, padding=p, seed=i) for i, ((hw, c, f, s), p)
                       in enumerate(zip(pick(pools, 8), itertools.cycle([VALID, SAME])))]
                      + [synth.pool_model((25, 5), 64, 5, 5, seed=99), synth.pool_model((8, 8), 16, 8, 8, seed=98)],
        "maxpool_s8": [synth.pool_model(hw, c, f, s, padding=p, average=False, seed=i)
                       for i, ((hw, c, f, s), p)
                       in enumerate(zip(pick(pools, 8), itertools.cycle([VALID, SAME])))],
        "add_s8": [synth.add_model((1, h, w, c), seed=i) for i, (h, w, c) in
                   enumerate(pick([(4, 4, 3), (5, 5, 8), (8, 8, 16), (7, 3, 5), (16, 16, 8), (3, 3, 1)], 4))],
        "softmax_s8": [synth.softmax_model(r, d, seed=i) for i, (r, d) in
                       enumerate(pick([(1, 2), (1, 10), (1, 12), (3, 7), (2, 33), (4, 64)], 4))],
        "copy_s8": [synth.reshape_model((1, 1, 1, n), (1, n), seed=i) for i, n in
                    enumerate(pick([2, 16, 64, 250, 257, 1000], 4))],
    }
    # float32: TFLM's float reference kernels over the same shapes (fewer: they are slower)
    f32 = {"float32": True}
    out |= {
        "conv_f32": [synth.conv_model(hw, ci, co, k, s, seed=i, **f32)
                     for i, (hw, ci, co, k, s) in enumerate(pick(conv[::3], 8))]
                    + [synth.conv_model(hw, ci, co, (1, 1), s, padding=VALID, seed=i, **f32)
                       for i, (hw, ci, co, s) in enumerate(pick(c1[::4], 4))],
        "depthwise_f32": [synth.conv_model(hw, c, c, k, s, depthwise=True, seed=i, **f32)
                          for i, (hw, c, k, s) in enumerate(pick(dw[::2], 8))],
        "fully_connected_f32": [synth.fc_model(d, u, seed=i, **f32)
                                for i, (d, u) in enumerate(pick(fc, 6))],
        "avgpool_f32": [synth.pool_model(hw, c, f, s, padding=p, seed=i, **f32)
                        for i, ((hw, c, f, s), p)
                        in enumerate(zip(pick(pools, 8), itertools.cycle([VALID, SAME])))]
                       + [synth.pool_model((25, 5), 64, 5, 5, seed=99, **f32)],
        "maxpool_f32": [synth.pool_model(hw, c, f, s, padding=p, average=False, seed=i, **f32)
                        for i, ((hw, c, f, s), p)
                        in enumerate(zip(pick(pools, 8), itertools.cycle([VALID, SAME])))],
        "add_f32": [synth.add_model((1, h, w, c), seed=i, **f32) for i, (h, w, c) in
                    enumerate(pick([(4, 4, 3), (5, 5, 8), (8, 8, 16), (7, 3, 5), (3, 3, 1)], 4))],
        "softmax_f32": [synth.softmax_model(r, d, seed=i, **f32) for i, (r, d) in
                        enumerate(pick([(1, 2), (1, 10), (1, 12), (3, 7), (2, 33), (4, 64)], 4))],
    }
    return out


def measure(models: list[bytes], dev) -> list[tuple[dict, int, int]]:
    """Features, cycles and instructions of each single-layer model's run; each run's output
    must equal TFLM's on the same input, so a miscompiled or mis-emulated kernel cannot
    enter the fit."""
    from tflite_micro.python.tflite_micro import runtime

    rows = []
    for data in models:
        g = load_graph(data)
        op = g.main.operators[0]
        entry = kernel_entry(op, g.main)
        x = [np.random.default_rng(0).standard_normal(t.shape).astype(np.float32)
             if t.dtype == "float32" else
             np.random.default_rng(0).integers(-128, 128, t.shape).astype(np.int8)
             for t in (g.main.tensors[i] for i in g.main.inputs)]
        run = ModelMachine(g, dev).run(x, dispatch=False)
        tflm = runtime.Interpreter.from_bytes(data, arena_size=1 << 22)
        for k, arr in enumerate(x):
            tflm.set_input(arr, k)
        tflm.invoke()
        if not np.array_equal(run.outputs[0], tflm.get_output(0).reshape(run.outputs[0].shape)):
            raise SystemExit(f"{entry} on {dev.name}: output differs from TFLM's; not fitted")
        rec = run.layers[0].record
        rows.append((features(entry, op, g.main), rec.issue_cycles + rec.branch_cycles, rec.instructions))
    return rows


def measure_dispatch(models: list[bytes], dev) -> dict[str, dict]:
    """Per kernel entry, the mean dispatch of every layer of `models` (file bytes) run on
    device `dev`, with the arena in its first cached bus-RAM region where it has a D-cache."""
    cached = next((r.name for r in dev.memory if dev.has_dcache and r.kind != "tcm" and r.cached
                   and r.data), None)
    runs: dict[str, list] = {}
    for data in models:
        mm = ModelMachine(load_graph(data), dev, arena_region=cached)
        for i, prep in enumerate(mm.prepared):
            if prep is not None and prep.entry in ENTRY_ORDER:   # float layers: their twin's
                runs.setdefault(prep.entry, []).append(mm.dispatch.run(i))
    return {entry: {"dispatch_points": len(rs),
                    "dispatch_cycles": float(np.mean([r.compute_cycles for r in rs])),
                    "dispatch_instructions": float(np.mean([r.instructions for r in rs])),
                    "dispatch_flash_lines": float(np.mean([r.flash_misses for r in rs])),
                    "dispatch_ram_lines": float(np.mean([r.ram_misses for r in rs]))}
            for entry, rs in runs.items()}


def fit(rows):
    names = list(rows[0][0])
    X = np.array([[r[0][n] for n in names] for r in rows], float)
    cyc = np.array([r[1] for r in rows], float)
    ins = np.array([r[2] for r in rows], float)
    # drop features that never vary in the sweep (other than the constant)
    keep = [i for i, n in enumerate(names) if n == "const" or np.ptp(X[:, i]) > 0]
    names, X = [names[i] for i in keep], X[:, keep]
    c, *_ = np.linalg.lstsq(X, cyc, rcond=None)
    n, *_ = np.linalg.lstsq(X, ins, rcond=None)
    err = np.abs(X @ c - cyc) / cyc
    return names, c, n, float(err.max()), len(rows)


def _row_lines(core: str, entry: str, row: dict) -> list[str]:
    lines = [f"[{core}.{entry}]", f"device = \"{row['device']}\"", f"points = {row['points']}",
             f"max_fit_error = {row['max_fit_error']:.5f}",
             "features = [" + ", ".join(f'"{x}"' for x in row["features"]) + "]",
             "cycles = [" + ", ".join(f"{v:.6g}" for v in row["cycles"]) + "]",
             "instructions = [" + ", ".join(f"{v:.6g}" for v in row["instructions"]) + "]"]
    if "dispatch_cycles" in row:
        lines += [f"dispatch_points = {row['dispatch_points']}"] + [
            f"{k} = {row[k]:.6g}" for k in ("dispatch_cycles", "dispatch_instructions",
                                             "dispatch_flash_lines", "dispatch_ram_lines")]
    return lines + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few shapes per kernel (for tests)")
    ap.add_argument("--out", type=Path, default=TABLE,
                    help="table to update: rows not regenerated are kept")
    ap.add_argument("--cores", nargs="*", default=list(CORES), choices=list(CORES))
    ap.add_argument("--kernels", nargs="*", help="only these kernels (default: all)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    models = sweep(args.quick)
    if args.kernels:
        models = {k: v for k, v in models.items() if k in args.kernels}
    lines = ["# Fast Cortex-M cycle model: per kernel, cycles = sum(cycles[i] * features[i]) and",
             "# instructions = sum(instructions[i] * features[i]); features: firmware_sim/cost/kernel_features.py.",
             "# Fitted (least squares) to instruction-level runs of the compiled kernels over a sweep of",
             "# shapes (tools/calibrate_cortex_m.py). Memory stalls are added by the fast model itself.",
             "# dispatch_*: TFLM's per-operator work around the kernel (node loop + Eval preamble), run on",
             "# the core (firmware_sim/kernels/dispatch.py) for dispatch_points layers: mean pipeline cycles,",
             "# instructions, flash line fills and RAM line fills (arena in cached bus RAM).",
             "# Regenerate: python tools/calibrate_cortex_m.py", ""]
    table = {core: dict(rows) for core, rows in kernel_table(args.out).items()}
    mlperf = [(MLPERF / f"{m}.tflite").read_bytes() for m in MLPERF_MODELS]
    for core in args.cores:
        device = CORES[core]
        dev = load_device(device)
        dispatch = measure_dispatch([m for e, ms in models.items() if e in ENTRY_ORDER
                                     for m in ms] + mlperf, dev)
        for entry, ms in models.items():
            names, c, n, err, pts = fit(measure(ms, dev))
            table.setdefault(core, {})[entry] = {
                "device": device, "points": pts, "max_fit_error": err, "features": names,
                "cycles": list(c), "instructions": list(n), **dispatch.get(entry, {})}
            d = dispatch.get(entry)
            print(f"{core:10} {entry:20} {pts:3} shapes  max fit error {100 * err:5.2f}%  "
                  + (f"dispatch {d['dispatch_cycles']:.0f} cycles ({d['dispatch_points']} "
                     "layers)" if d else "dispatch: its int8 twin's"), flush=True)
    for core, rows in table.items():
        for entry, row in rows.items():
            lines += _row_lines(core, entry, row)
    atomic_write(args.out, "\n".join(lines).encode())
    kernel_table.cache_clear()       # this process now reads the table just written
    dispatch_row.cache_clear()
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
