"""The FSC-style grammar: spoken home-automation commands in the style of Fluent Speech
Commands (Lugosch et al., Interspeech 2019). Intents are "action|object|location" triples;
each has four or five phrasings and no entity slots, so the intent fixes nearly every word."""

from __future__ import annotations

import hashlib
import json
from typing import Iterator

import numpy as np

from ..espeak import VOICES
from .core import Utterance

NAME = "fsc-style"
CLIP_SECONDS = 4.0
DEFAULT_UTTERANCES_PER_INTENT = 12
#: Every voice speaks in train and test: `SpeechCorpus.split()` stratifies by intent.
TEST_SPEAKERS: tuple[str, ...] = ()

LOCATIONS = ("kitchen", "bedroom", "washroom")

# (action, object) -> (locations, phrasings). In a phrasing, {in_room} becomes " in the
# kitchen", {room} "kitchen " and {place} "the kitchen"; for location "none" they become
# "", "" and "it".
GRAMMAR: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("activate", "lights"): (LOCATIONS + ("none",), (
        "turn on the lights{in_room}", "switch on the {room}lights", "switch the {room}lights on",
        "lights on{in_room}", "turn the {room}lights on")),
    ("deactivate", "lights"): (LOCATIONS + ("none",), (
        "turn off the lights{in_room}", "switch off the {room}lights",
        "switch the {room}lights off", "lights off{in_room}", "turn the {room}lights off")),
    ("activate", "lamp"): (("none",), (
        "turn on the lamp", "switch on the lamp", "switch the lamp on", "lamp on")),
    ("deactivate", "lamp"): (("none",), (
        "turn off the lamp", "switch off the lamp", "switch the lamp off", "lamp off")),
    ("activate", "music"): (("none",), (
        "turn on the music", "play the music", "put some music on", "start the music",
        "play some music")),
    ("deactivate", "music"): (("none",), (
        "turn off the music", "stop the music", "pause the music", "music off",
        "turn the music off")),
    ("activate", "heat"): (("none",), (
        "turn on the heating", "switch on the heat", "turn the heat on", "heating on")),
    ("deactivate", "heat"): (("none",), (
        "turn off the heating", "switch off the heat", "turn the heat off", "heating off")),
    ("increase", "heat"): (LOCATIONS + ("none",), (
        "turn up the heat{in_room}", "increase the temperature{in_room}", "make {place} warmer",
        "more heat{in_room}", "turn the {room}heating up")),
    ("decrease", "heat"): (LOCATIONS + ("none",), (
        "turn down the heat{in_room}", "decrease the temperature{in_room}",
        "make {place} cooler", "less heat{in_room}", "turn the {room}heating down")),
    ("increase", "volume"): (("none",), (
        "turn up the volume", "increase the volume", "louder please", "turn the volume up")),
    ("decrease", "volume"): (("none",), (
        "turn down the volume", "decrease the volume", "quieter please",
        "turn the volume down")),
    ("increase", "music"): (("none",), (
        "turn the music up", "make the music louder", "turn up the music", "music louder")),
    ("decrease", "music"): (("none",), (
        "turn the music down", "make the music quieter", "turn down the music",
        "music quieter")),
    ("bring", "shoes"): (("none",), (
        "bring me my shoes", "get my shoes", "fetch my shoes", "i'd like my shoes",
        "bring my shoes please")),
    ("bring", "juice"): (("none",), (
        "bring me some juice", "get me a juice", "fetch some juice", "i'd like some juice",
        "bring the juice please")),
}


def intents() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Every (action, object, location, phrasings) of the grammar, phrasings filled in."""
    out = []
    for (action, obj), (locations, phrasings) in GRAMMAR.items():
        for loc in locations:
            slots = ({"in_room": "", "room": "", "place": "it"} if loc == "none" else
                     {"in_room": f" in the {loc}", "room": f"{loc} ", "place": f"the {loc}"})
            out.append((action, obj, loc, tuple(p.format(**slots) for p in phrasings)))
    return out


#: The intent labels, in script order.
INTENTS = tuple(f"{action}|{obj}|{loc}" for action, obj, loc, _ in intents())


def script(per_intent: int, rng: np.random.Generator) -> Iterator[Utterance]:
    """`per_intent` utterances of each intent: voices and phrasings cycle through a random
    order per intent. A generator: the synthesiser records each utterance, drawing from the
    same `rng`, before the next is drawn (the order that fixes the audio of a seed)."""
    for action, obj, loc, phrasings in intents():
        voices = rng.permutation(len(VOICES))
        wordings = rng.permutation(len(phrasings))
        for i in range(per_intent):
            yield Utterance(phrasings[wordings[i % len(phrasings)]], f"{action}|{obj}|{loc}",
                            VOICES[voices[i % len(VOICES)]])


def fingerprint() -> str:
    """sha256 of the grammar: a change gives the cached corpus a new name."""
    grammar = json.dumps([[list(k), list(v[0]), list(v[1])] for k, v in GRAMMAR.items()])
    return hashlib.sha256(grammar.encode()).hexdigest()
