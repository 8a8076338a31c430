"""Benchmark the speech encoders: what `edgesim speech bench` does, with its files in out/.

    python tools/bench_speech.py [--models DIR] [--out DIR] [--devices A,B] [--json]

Exports the four encoders into --models first when they are missing (default
$EDGESIM_CACHE/speech/export; the real-size PPSLU encoder is the slowest and largest to
convert), costs each on stm32h743 and rpi4b with firmware_sim (a 4 s clip), and writes
speech_bench.json and speech_bench.png into --out (default out/). Prints the table, or with
--json the object.
"""

from __future__ import annotations

import argparse
import sys

from edgesim import cli_speech


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/bench_speech.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--models", metavar="DIR")
    p.add_argument("--out", metavar="DIR", default="out")
    p.add_argument("--devices", default="stm32h743,rpi4b")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(speech_command="bench")
    args = p.parse_args(argv)
    from edgesim.errors import EdgesimError

    try:
        return cli_speech.run(args)
    except EdgesimError as exc:
        print(f"bench_speech: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
