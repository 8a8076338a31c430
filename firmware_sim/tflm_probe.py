"""Ground truth from the TFLM Python interpreter (PyPI tflite-micro): its arena report and
its minimum arena, found by bisecting `arena_size`.

Each bisection probe runs in a child process: TFLM can crash the whole process (not just
fail) when an arena is far too small, and a crash there must read as "too small" here.
Usage as a script: `python -m firmware_sim.tflm_probe MODEL [ARENA_BYTES]` exits 0 when the
model allocates in ARENA_BYTES, else 1; without ARENA_BYTES it prints the allocation report.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TflmAllocation:
    total_bytes: int
    head_bytes: int
    tail_bytes: int
    by_type: dict[str, tuple[int, int, int]]  # type -> (used bytes, requested bytes, count)


def _capture_stderr(fn) -> str:
    """Run fn() and return what C code wrote to file descriptor 2 meanwhile."""
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        fn()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    with os.fdopen(read_end, "rb") as f:
        return f.read().decode("utf-8", "replace")


def allocation_report(model: bytes, arena_size: int = 8 * 1024 * 1024) -> TflmAllocation:
    """TFLM's own account (print_allocations) of the arena it used for `model`."""
    from tflite_micro.python.tflite_micro import runtime

    holder = []
    text = _capture_stderr(lambda: holder.append(
        runtime.Interpreter.from_bytes(model, arena_size=arena_size)))
    text += _capture_stderr(holder[0].print_allocations)

    def total(what: str) -> int:
        return int(re.search(rf"Arena allocation {what} (\d+) bytes", text).group(1))

    by_type = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in re.findall(
        r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+)",
        text)}
    return TflmAllocation(total("total"), total("head"), total("tail"), by_type)


def allocates(model_path: str | Path, arena_size: int) -> bool:
    """True if TFLM allocates `model_path` in `arena_size` bytes (probed in a child process)."""
    result = subprocess.run([sys.executable, "-m", "firmware_sim.tflm_probe", str(model_path),
                             str(arena_size)], capture_output=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": _package_root()})
    return result.returncode == 0


def minimum_arena(model_path: str | Path, low: int = 0, high: int = 1 << 24) -> int:
    """Smallest arena_size (bytes) with which TFLM allocates the model."""
    if not allocates(model_path, high):
        raise RuntimeError(f"{model_path}: TFLM cannot allocate it even in {high} bytes")
    while low + 1 < high:
        mid = (low + high) // 2
        if allocates(model_path, mid):
            high = mid
        else:
            low = mid
    return high


def _package_root() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)


def _main(argv: list[str]) -> int:
    from tflite_micro.python.tflite_micro import runtime

    model = Path(argv[0]).read_bytes()
    if len(argv) == 1:
        print(allocation_report(model))
        return 0
    try:
        _capture_stderr(lambda: runtime.Interpreter.from_bytes(model, arena_size=int(argv[1])))
    except RuntimeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
