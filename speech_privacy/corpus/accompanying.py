"""Accompanying speech: free sentences that are not commands, spoken by the same voices as the
command corpora, for the WER of an attacker's ASR on general speech sent through the same
mask (SILENCE measures it on LibriSpeech). Sentences come from ten clause templates over a
vocabulary of several hundred common English words written in here plus the first names of
`values.py`, so that nearly every sentence is new and its words are hard to guess from the
templates. The intent is "none"; the held-out voices are the slurp-style ones."""

from __future__ import annotations

import hashlib
import json
import numpy as np

from ..espeak import VOICES
from .core import Utterance
from .slurp import TEST_SPEAKERS
from .values import PERSON

NAME = "accompanying"
CLIP_SECONDS = 5.0
DEFAULT_SENTENCES = 240
DEFAULT_UTTERANCES_PER_INTENT = DEFAULT_SENTENCES
INTENTS = ("none",)

WORDS: dict[str, tuple[str, ...]] = {k: tuple(dict.fromkeys(v.split())) for k, v in {
    "noun": """farmer teacher sailor doctor painter baker soldier student captain doctor
        neighbor stranger child mother father sister brother uncle widow merchant
        village river mountain forest valley meadow harbor island castle cottage bridge
        tower chapel market garden orchard field road path stream lake ocean shore
        window door table chair candle lamp basket bottle letter book map coat hat boot
        horse dog cat bird fox wolf rabbit sheep goat cow owl crow deer bear mouse
        apple bread cheese soup kettle plate spoon knife cup barrel wagon boat ship
        wheel rope hammer ladder fence gate wall roof chimney stair floor carpet
        morning evening winter summer autumn spring storm wind snow rain cloud moon
        star sun shadow fire smoke stone sand dust iron silver gold copper glass
        paper ink pencil picture mirror clock bell drum violin song story secret
        promise question answer reason dream journey letter lesson message signal
        train station engine factory office library museum school kitchen cellar
        attic pocket wallet ribbon button needle thread blanket pillow curtain
        flower rose tulip daisy oak pine willow maple leaf branch root seed pebble
        shell feather nest honey butter salt pepper sugar coffee tea milk juice""",
    "adjective": """old young quiet noisy bright dark warm cold gentle rough small large
        tall short narrow wide heavy light empty full clean dusty wet dry soft hard
        sweet bitter strange familiar careful lazy busy patient clever simple proud
        humble brave nervous tired hungry lucky honest golden silver wooden broken
        hidden distant ancient modern rusty shiny fresh stale pale crimson green blue
        yellow purple grey brown curious cheerful lonely sleepy restless silent
        crowded hollow steep muddy frozen sunny cloudy stormy foggy tiny enormous""",
    "verb": """found carried painted opened closed fixed washed cleaned followed watched
        noticed admired dropped lifted pulled pushed chased caught borrowed returned
        carved sold bought mended wrapped counted measured hid buried shared
        remembered forgot visited crossed climbed passed filled emptied polished
        brushed folded dragged greeted thanked warned ignored studied described
        painted packed unpacked tied untied lit burned sharpened tested collected""",
    "intransitive": """walked waited slept laughed smiled rested wandered listened
        whispered shouted sang danced trembled shivered hurried paused stumbled
        arrived vanished returned hesitated glowed drifted floated rolled""",
    "preposition": """across beside behind under over near inside outside toward past
        beyond along around below above through""",
    "adverb": """slowly quickly quietly gently suddenly carefully happily sadly softly
        proudly calmly eagerly loudly patiently nervously silently""",
    "when": """yesterday today tonight early late again twice once""",
}.items()}
WORDS["name"] = PERSON

# Clause templates: a word "{kind}" is a word drawn from WORDS[kind].
TEMPLATES = (
    "the {adjective} {noun} {verb} the {noun}",
    "the {adjective} {noun} {intransitive} {preposition} the {adjective} {noun}",
    "{name} {verb} a {adjective} {noun} {when}",
    "we {verb} the {noun} {preposition} the {noun} {when}",
    "my {noun} {intransitive} {adverb} {preposition} the {adjective} {noun}",
    "the {noun} was {adjective} and the {noun} was {adjective}",
    "{name} and {name} {verb} the {adjective} {noun}",
    "every {noun} {intransitive} {adverb} {preposition} the {noun}",
    "she {verb} his {adjective} {noun} {preposition} the {noun}",
    "they {intransitive} {preposition} the {adjective} {noun} {when}",
)


def script(per_intent: int, rng: np.random.Generator) -> list[Utterance]:
    """`per_intent` sentences; a quarter (at least one) spoken by the held-out voices. All
    drawn before any recording, so another `Rendering` speaks the same sentences."""
    train_voices = tuple(v for v in VOICES if v not in TEST_SPEAKERS)
    n_test = max(round(per_intent * len(TEST_SPEAKERS) / len(VOICES)), 1)
    out = []
    for voices, count in ((train_voices, per_intent - n_test), (TEST_SPEAKERS, n_test)):
        order = rng.permutation(len(voices))
        for i in range(count):
            template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
            words = [WORDS[w[1:-1]][int(rng.integers(len(WORDS[w[1:-1]])))]
                     if w.startswith("{") else w for w in template.split()]
            out.append(Utterance(" ".join(words), "none", voices[order[i % len(voices)]]))
    return out


def fingerprint() -> str:
    """sha256 of the templates, the vocabulary and the held-out voices."""
    blob = json.dumps([TEMPLATES, WORDS, TEST_SPEAKERS], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
