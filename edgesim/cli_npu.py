"""`edgesim npu check`: an alias of `edgesim check` (one command for every target; the
device profile chooses the NPU target). Wired into edgesim/cli.py with `add_parser`."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    """Add the `npu` command (with its `check` subcommand) to edgesim's subparsers."""
    from edgesim.cli import add_check_parser

    npu = subparsers.add_parser("npu", help="mobile-NPU targets (Hexagon-class HTP)")
    sub = npu.add_subparsers(dest="npu_command", required=True)
    add_check_parser(sub, "check")
