"""The `edgesim` command.

Exit status: 0 the model fits, 1 a budget is violated, 2 the input is unusable (a bad model
file, an unknown device, bad arguments). Errors are one line on stderr, never a traceback.
`check` imports neither TensorFlow nor the TFLM runtime, so it starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

EXIT_FITS, EXIT_VIOLATION, EXIT_UNUSABLE = 0, 1, 2


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgesim", description="Check INT8 TFLite models against "
                                "microcontroller memory and latency budgets.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="plan, cost and check a model on a device")
    c.add_argument("model", help="a .tflite file")
    c.add_argument("--device", required=True, help="device name (see `edgesim devices`) or a "
                   "profile .toml file")
    c.add_argument("--kernels", choices=("reference", "cmsis-nn"),
                   help="kernel stack (default: the device's, cmsis-nn on Cortex-M)")
    c.add_argument("--latency-ms", type=_positive(float), help="deadline per inference, ms")
    c.add_argument("--ram-kb", type=_positive(int), help="RAM budget, KiB")
    c.add_argument("--flash-kb", type=_positive(int), help="flash budget, KiB")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--exact", action="store_true", help="cost every layer by running the int8 "
                   "kernels instruction by instruction on the emulated core (slow; needs "
                   "gcc-arm-none-eabi)")
    c.add_argument("--plan", action="store_true", help="also print the arena memory plan")

    d = sub.add_parser("devices", help="list the shipped device profiles")
    d.add_argument("--json", action="store_true")

    demo = sub.add_parser("demo", help="build the project's INT8 DS-CNN keyword-spotting model, "
                          "check it on a device and run one emulated inference")
    demo.add_argument("--device", default="stm32h743")

    for module in _extensions():
        module.add_parser(sub)
    return p


def _extensions():
    """Command groups that live in their own modules (`speech`, `npu`, `edit`): each has
    `add_parser(subparsers)`, which sets `handler=run` on its parser, and `run(args) -> int`.
    Importing them must stay cheap: they import their packages inside `run`."""
    names = ("tools.speech_cli", "tools.npu_cli", "tools.edit_cli")
    return [importlib.import_module(n) for n in names
            if importlib.util.find_spec(n) is not None]


def _check(args) -> int:
    from firmware_sim.budget import Limits, check
    from firmware_sim.report import format_report

    limits = Limits(latency_ms=args.latency_ms,
                    ram_bytes=args.ram_kb * 1024 if args.ram_kb else None,
                    flash_bytes=args.flash_kb * 1024 if args.flash_kb else None)
    report = check(args.model, args.device, limits, args.kernels, exact=args.exact)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
        if args.plan:
            print("\n" + report.arena.format())
    return EXIT_FITS if report.fits else EXIT_VIOLATION


def _devices(args) -> int:
    from firmware_sim.devices import list_devices
    from npu_sim.devices import NpuProfile, list_profiles

    devices, mobile = list_devices(), list_profiles()
    if args.json:
        print(json.dumps([{"name": d.name, "core": d.core, "clock_hz": d.clock_hz,
                           "ram_bytes": d.ram_bytes, "flash_bytes": d.flash.size if d.flash else None,
                           "kernels": list(d.kernels), "description": d.description}
                          for d in devices] +
                         [{"name": m.name, "kind": "npu" if isinstance(m, NpuProfile) else "cpu",
                           "description": m.description} for m in mobile], indent=2))
        return EXIT_FITS
    print(f"{'device':<12} {'core':<10} {'MHz':>5} {'RAM KiB':>8} {'flash KiB':>9}  regions")
    for d in devices:
        regions = ", ".join(f"{r.name} {r.size // 1024}K" for r in d.memory)
        flash = f"{d.flash.size // 1024:>9}" if d.flash else f"{'-':>9}"
        print(f"{d.name:<12} {d.core:<10} {d.clock_hz / 1e6:>5g} {d.ram_bytes // 1024:>8} "
              f"{flash}  {regions}")
    print(f"\n{'mobile':<12} {'kind':<4}  description  (`edgesim npu check`, `edgesim edit`)")
    for m in mobile:
        print(f"{m.name:<12} {'npu' if isinstance(m, NpuProfile) else 'cpu':<4}  {m.description}")
    return EXIT_FITS


def _demo(args) -> int:
    import numpy as np

    from firmware_sim.demo_model import INPUT_SHAPE, demo_model_path
    from firmware_sim.emulator import Emulator
    from firmware_sim.report import format_report

    path = demo_model_path()
    print(f"demo model: {path}\n")
    loaded = Emulator(args.device).load(path)
    print(format_report(loaded.ledger))
    x = np.random.default_rng(0).normal(0, 10, size=(1, *INPUT_SHAPE)).astype(np.float32)
    result = loaded.run(x)
    print(f"\nemulated inference through TFLM (arena {loaded.arena_bytes:,} bytes): "
          f"output {result.outputs[0].tolist()}")
    return EXIT_FITS if loaded.ledger.fits else EXIT_VIOLATION


def main(argv: list[str] | None = None) -> int:
    from firmware_sim.errors import EdgesimError

    args = _parser().parse_args(argv)
    try:
        handler = getattr(args, "handler", None) or {
            "check": _check, "devices": _devices, "demo": _demo}[args.command]
        return handler(args)
    except EdgesimError as exc:
        print(f"edgesim: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:           # stdout closed early (e.g. piped into `head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
