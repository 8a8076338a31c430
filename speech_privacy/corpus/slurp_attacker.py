"""The SLURP-style commands an attacker's recogniser trains on (`slurp.attacker_script`):
the training voices and further eSpeak voices, every entity value. No clip of the
slurp-style corpus's test split is among them: its voices are never heard."""

from __future__ import annotations

import hashlib

from ..espeak import ATTACKER_VOICES
from . import slurp

NAME = "slurp-style-attacker"
CLIP_SECONDS = slurp.CLIP_SECONDS
DEFAULT_UTTERANCES_PER_INTENT = 48
TEST_SPEAKERS: tuple[str, ...] = ()
INTENTS = slurp.INTENTS
script = slurp.attacker_script


def fingerprint() -> str:
    """The slurp-style grammar's fingerprint, marked as the attacker's script, and its
    further voices."""
    blob = f"attacker:{slurp.fingerprint()}:{','.join(ATTACKER_VOICES)}"
    return hashlib.sha256(blob.encode()).hexdigest()
