"""`python -m speech_privacy.corpus ...`: the fresh process that synthesises one corpus (see
`synth._synthesise_fresh`)."""

import sys

from .synth import main

main(sys.argv[1:])
