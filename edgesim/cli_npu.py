"""`edgesim npu check MODEL --device D [--latency-ms X] [--ram-mb N] [--json]`.

Wired into edgesim/cli.py with `add_parser(subparsers)` and `run(args)`. Exit status as for
`edgesim check`: 0 the model fits, 1 a rule or budget is violated, 2 the input is unusable
(one line on stderr). Imports neither TensorFlow nor the LiteRT interpreter.
"""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    """Add the `npu` command (with its `check` subcommand) to edgesim's subparsers."""
    from edgesim.cli import _positive

    npu = subparsers.add_parser("npu", help="mobile-NPU targets (Hexagon-class HTP)")
    sub = npu.add_subparsers(dest="npu_command", required=True)
    c = sub.add_parser("check", help="cost and check an INT8/INT16 model on a mobile NPU")
    c.add_argument("model", help="a .tflite file")
    c.add_argument("--device", required=True, help="NPU profile name (e.g. sd8gen3_htp) or a "
                   "profile .toml file")
    c.add_argument("--latency-ms", type=_positive(float), help="deadline per inference, ms")
    c.add_argument("--ram-mb", type=_positive(int), help="session memory budget, MiB")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(handler=run)


def run(args) -> int:
    """Run the parsed `npu` command; returns the exit status."""
    from firmware_sim.budget import Limits
    from npu_sim.check import check_npu, format_report
    from edgesim.cli import EXIT_FITS, EXIT_VIOLATION

    limits = Limits(latency_ms=args.latency_ms,
                    ram_bytes=args.ram_mb * 2**20 if args.ram_mb else None)
    report = check_npu(args.model, args.device, limits)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return EXIT_FITS if report.fits else EXIT_VIOLATION
