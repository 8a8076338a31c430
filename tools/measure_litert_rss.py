#!/usr/bin/env python3
"""Measure the resident memory a LiteRT inference process adds beyond the model: the
runtime's pages after import, then an interpreter with XNNPACK that has run one inference,
less the model file. The rpi4b profile's [runtime] figures come from this (x86_64 wheel;
an aarch64 build is of similar size). Prints bytes; Linux only (reads /proc/self/status).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np

MODEL = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf_tiny" / "ad01_int8.tflite"


def _status(key: str) -> int:
    """A /proc/self/status field (bytes)."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", type=Path, default=MODEL, help="a small int8 .tflite")
    args = ap.parse_args(argv)
    before = _status("VmRSS")
    from ai_edge_litert.interpreter import Interpreter

    imported = _status("VmRSS")
    interp = Interpreter(model_path=str(args.model))
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interp.invoke()
    ran = _status("VmRSS")
    model = os.path.getsize(args.model)
    print(f"runtime pages after import     {imported - before:>12,} B")
    print(f"interpreter + one inference    {ran - imported - model:>12,} B (model {model:,} B excluded)")
    print(f"runtime total (static_bytes)   {ran - before - model:>12,} B")
    print(f"main-thread stack resident     {_status('VmStk'):>12,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
