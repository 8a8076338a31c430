"""The SLURP-style commands an attacker's recogniser trains on (`slurp.attacker_script`):
the training voices only, every entity value. Test clips of the slurp-style corpus are never
among them: their voices are held out."""

from __future__ import annotations

import hashlib

from . import slurp

NAME = "slurp-style-attacker"
CLIP_SECONDS = slurp.CLIP_SECONDS
DEFAULT_UTTERANCES_PER_INTENT = 48
TEST_SPEAKERS: tuple[str, ...] = ()
INTENTS = slurp.INTENTS
script = slurp.attacker_script


def fingerprint() -> str:
    """The slurp-style grammar's fingerprint, marked as the attacker's script."""
    return hashlib.sha256(f"attacker:{slurp.fingerprint()}".encode()).hexdigest()
