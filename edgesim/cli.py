"""The `edgesim` command (also `python -m edgesim`).

Exit status, the same for every subcommand:
  0  the model fits / the job reached its goal
  1  a budget is violated / the job's goal was not reached (e.g. the edit did not take)
  2  the input is unusable (a bad model file, an unknown device, bad arguments): one line
  3  an internal error (a bug in edgesim): one line; the traceback with --debug or
     EDGESIM_DEBUG=1
An unexpected exception never exits 1. `check` imports neither TensorFlow nor the TFLM
runtime, so it starts fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import sys
import traceback

EXIT_FITS, EXIT_VIOLATION, EXIT_UNUSABLE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and a "did you mean" for a misspelt flag (exit 2)."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            known = sorted(_option_strings(self))
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], known, n=1)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        message = message.replace("\r", "\\r").replace("\n", "\\n")   # arguments may hold them
        self.exit(EXIT_UNUSABLE, f"{self.prog}: error: {message}\n")


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


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every flag of `parser` and of its subcommands."""
    found = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= _option_strings(child)
    return found


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="edgesim", description="Check INT8 TFLite models against microcontroller "
                "and mobile-NPU memory and latency budgets.")
    p.add_argument("--version", action="version", version=f"edgesim {__version__}")
    p.add_argument("--debug", action="store_true", help="print the traceback of an internal "
                   "error (also EDGESIM_DEBUG=1)")
    p.add_argument("-v", "--verbose", action="store_true", help="let TensorFlow's own log "
                   "lines through (also EDGESIM_VERBOSE=1)")
    sub = p.add_subparsers(dest="command", required=True)

    add_check_parser(sub, "check")

    f = sub.add_parser("diff", help="compare two models layer by layer on one device")
    f.add_argument("model_a", help="a .tflite file (A)")
    f.add_argument("model_b", help="a .tflite file (B)")
    f.add_argument("--device", required=True, help="device name or profile .toml file")
    _add_budgets(f)
    f.add_argument("--format", choices=("text", "json"), default="text")

    d = sub.add_parser("devices", help="list the shipped device profiles")
    d.add_argument("--json", action="store_true")

    demo = sub.add_parser("demo", help="build the project's INT8 DS-CNN keyword-spotting model, "
                          "check it on a device and run one emulated inference")
    demo.add_argument("--device", default="stm32h743")

    for module in _extensions():
        module.add_parser(sub)
    return p


def add_check_parser(sub, name: str) -> argparse.ArgumentParser:
    """`check` (and its `npu check` alias): one command for every target."""
    c = sub.add_parser(name, help="plan, cost and check a model on a device (microcontroller, "
                       "application CPU or NPU: the profile decides)")
    c.add_argument("model", help="a .tflite file")
    c.add_argument("--device", required=True, help="device name (see `edgesim devices`), "
                   "several separated by commas for a comparison table, or a "
                   "profile .toml file")
    _add_budgets(c)
    c.add_argument("--int8-only", action="store_true", help="refuse float32 operators even "
                   "on a core with an FPU")
    c.add_argument("--format", choices=("text", "json", "csv", "html"), default=None,
                   help="report format (default text); csv: one row per layer")
    c.add_argument("--json", action="store_true", help="same as --format json")
    c.add_argument("--out", metavar="FILE", help="write the report to FILE (atomically) "
                   "instead of stdout")
    c.add_argument("--plot", metavar="PNG", help="also draw the live activation memory per "
                   "layer against the region sizes (needs matplotlib; one device)")
    c.add_argument("--exact", action="store_true", help="cost every layer by running the "
                   "kernels instruction by instruction on the emulated core (Cortex-M; slower)")
    c.add_argument("--plan", action="store_true", help="also print the arena memory plan")
    c.set_defaults(handler=_check)
    return c


def _add_budgets(p: argparse.ArgumentParser) -> None:
    """The kernel stack and budgets `check` and `diff` share (read back by `_limits`)."""
    p.add_argument("--kernels", choices=("reference", "cmsis-nn"),
                   help="kernel stack (default: the device's, cmsis-nn on Cortex-M)")
    p.add_argument("--latency-ms", type=_positive(float), help="deadline per inference, ms")
    p.add_argument("--ram-kb", type=_positive(int), help="RAM budget, KiB (NPU: session memory)")
    p.add_argument("--flash-kb", type=_positive(int), help="flash budget, KiB (NPU: graph size)")


def _extensions():
    """Command groups that live in their own modules (`speech`, `npu`, `edit`): each has
    `add_parser(subparsers)`, which sets `handler=run` on its parser, and `run(args) -> int`.
    Importing them must stay cheap: they import their packages inside `run`."""
    names = ("edgesim.cli_speech", "edgesim.cli_npu", "edgesim.cli_edit")
    return [importlib.import_module(n) for n in names]


def _limits(args):
    """The budgets of `check` and `diff` (--latency-ms, --ram-kb, --flash-kb)."""
    from firmware_sim.records import Limits

    return Limits(latency_ms=args.latency_ms,
                  ram_bytes=args.ram_kb * 1024 if args.ram_kb else None,
                  flash_bytes=args.flash_kb * 1024 if args.flash_kb else None)


def _device_list(text: str) -> list[str]:
    """`--device`: a profile file (a .toml name or a path, as load_device reads it), else
    shipped names separated by commas."""
    from firmware_sim.devices.schema import is_profile_path

    if is_profile_path(text):
        return [text]
    return [d.strip() for d in text.split(",") if d.strip()] or [text]


def _check(args) -> int:
    from firmware_sim.pipeline import check
    from firmware_sim.graph import load_graph
    from firmware_sim.writers import write, write_many

    from .errors import EdgesimError

    if args.json and args.format not in (None, "json"):
        raise EdgesimError(f"--json and --format {args.format} ask for two formats; give one")
    fmt = "json" if args.json else args.format or "text"
    limits = _limits(args)
    devices = _device_list(args.device)
    graph = load_graph(args.model)           # read and validated once for every device
    reports = [check(graph, d, limits, args.kernels, exact=args.exact,
                     int8_only=args.int8_only) for d in devices]
    if args.plot:
        if len(reports) > 1:
            raise EdgesimError("--plot draws one device; give one --device")
        from firmware_sim.report_plot import plot_memory
        plot_memory(reports[0], args.plot)
    if len(reports) == 1:
        text = write(reports[0], fmt)
        if args.plan and fmt == "text":
            text += "\n" + reports[0].plan.format() + "\n"
    else:
        text = write_many(reports, fmt)
    if args.out:
        from edgesim.io import atomic_write
        atomic_write(args.out, text)
    else:
        sys.stdout.write(text)
    return EXIT_FITS if all(r.fits for r in reports) else EXIT_VIOLATION


def _diff(args) -> int:
    from firmware_sim.graph import load_graph
    from firmware_sim.pipeline import run
    from firmware_sim.report_diff import write_diff
    from firmware_sim.target import target_for

    limits = _limits(args)
    target = target_for(args.device, args.kernels)       # one profile for both models
    a, b = (run(load_graph(m), target, limits) for m in (args.model_a, args.model_b))
    print(write_diff(a, b, args.format), end="")
    return EXIT_FITS if a.fits and b.fits else EXIT_VIOLATION


def _devices(args) -> int:
    from firmware_sim.target import shipped_profiles, targets

    rows = []
    for kind, path in shipped_profiles():
        target = targets()[kind]
        d = target.loader(path.stem)
        rows.append({"name": d.name, "kind": kind, "core": getattr(d, "core", None),
                     "clock_hz": getattr(d, "clock_hz", None),
                     "ram_bytes": getattr(d, "ram_bytes", None),
                     "flash_bytes": d.flash.size if kind == "mcu" else None,
                     "kernels": list(target.stacks(d)),
                     "description": d.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_FITS
    print(f"{'device':<12} {'kind':<4} {'MHz':>5} {'RAM KiB':>12} {'flash KiB':>9}  description")
    for r in rows:
        mhz = f"{r['clock_hz'] / 1e6:>5g}" if r["clock_hz"] else f"{'-':>5}"
        ram = f"{r['ram_bytes'] // 1024:>12}" if r["ram_bytes"] else f"{'-':>12}"
        flash = f"{r['flash_bytes'] // 1024:>9}" if r["flash_bytes"] else f"{'-':>9}"
        print(f"{r['name']:<12} {r['kind']:<4} {mhz} {ram} {flash}  {r['description']}")
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
    from .errors import EdgesimError

    args = _parser().parse_args(argv)
    debug = args.debug or os.environ.get("EDGESIM_DEBUG", "") not in ("", "0")
    if args.verbose:
        os.environ["EDGESIM_VERBOSE"] = "1"
    try:
        handler = getattr(args, "handler", None) or {
            "diff": _diff, "devices": _devices, "demo": _demo}[args.command]
        return handler(args)
    except EdgesimError as exc:
        print(f"edgesim: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:           # stdout closed early (e.g. piped into `head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:          # a bug: never exit 1, which means "does not fit"
        if debug:
            traceback.print_exc()
        print(f"edgesim: internal error: {type(exc).__name__}: {_one_line(exc)} -- this is a "
              "bug in edgesim; please report it with the command line"
              + ("" if debug else " and the traceback from --debug"), file=sys.stderr)
        return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
