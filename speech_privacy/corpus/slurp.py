"""The SLURP-style grammar: spoken commands to a home assistant after SLURP (Bastianelli et
al., EMNLP 2020), where an intent is "scenario_action" and most commands carry entity slots
(names, times, dates, places, numbers, songs, artists, list items, ...) whose values the
intent does not fix: each slot's value is drawn uniformly from hundreds (`values.py`).

Train and test are disjoint twice over: the voices in TEST_SPEAKERS speak only test clips,
and the values are partitioned once into train and test values (`held_out_values`), the test
voices drawing only test values, so that no test value is spoken in any training clip;
`SpeechCorpus.split_by_speaker()` returns that split.

Clips are 5 s long, as commands with a time and a date do not fit the 4 s of the FSC-style
corpus; a filled phrasing of more than MAX_SYLLABLES is drawn again, so that the slowest voice
at the slowest rate still fits the clip after the longest lead-in and tail.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache

import numpy as np

from ..audio import AudioError
from ..espeak import ATTACKER_VOICES, VOICES
from .core import Utterance
from .values import VALUES

NAME = "slurp-style"
CLIP_SECONDS = 5.0
DEFAULT_UTTERANCES_PER_INTENT = 16
#: Voices heard only in test clips. Two male and one female voice among the en-us based
#: variants on which pocketsphinx, the off-the-shelf attacker, recognises eSpeak speech.
TEST_SPEAKERS = ("m3", "m7", "f2")
#: Share of each entity type's values kept for test clips (at least one value; whole groups
#: of values that contain one another, so a little more for some types).
TEST_VALUE_FRACTION = 0.2
#: Longest command in estimated syllables (`syllables`): at 150 words per minute eSpeak's
#: slowest voice speaks it within 4.2 s, the 5 s clip less the longest lead-in and tail.
MAX_SYLLABLES = 14

# intent ("scenario_action") -> phrasings; a word "{type}" is a slot of that entity type.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "alarm_set": ("wake me up at {time}", "set an alarm for {time}", "set a {time} alarm",
                  "i need an alarm at {time}"),
    "alarm_remove": ("cancel my alarm for {time}", "delete the {time} alarm",
                     "remove the alarm at {time}", "turn off my alarm for {date}"),
    "alarm_query": ("what alarms do i have for {date}", "do i have an alarm set for {date}",
                    "list my alarms for {date}", "is my alarm set for {time}"),
    "alarm_timer": ("set a timer for {duration}", "start a {duration} timer",
                    "count down {duration}", "remind me in {duration}"),
    "calendar_set": ("add a {event_name} on {date}", "schedule a {event_name} with {person}",
                     "put the {event_name} on my calendar for {date}",
                     "remind me about the {event_name} at {time}",
                     "book a meeting with {person} on {date}"),
    "calendar_query": ("what is on my calendar for {date}", "when is my {event_name}",
                       "do i have anything on {date}", "when am i meeting {person}"),
    "calendar_remove": ("cancel my {event_name} on {date}",
                        "delete the {event_name} from my calendar",
                        "remove everything on {date}", "cancel my meeting with {person}"),
    "weather_query": ("what is the weather in {place_name}",
                      "will it rain in {place_name} {date}",
                      "what is the forecast for {place_name} on {date}",
                      "how hot will it be in {place_name}", "is it snowing in {place_name}"),
    "play_music": ("play {song_name} by {artist_name}", "play some {artist_name}",
                   "i want to hear {song_name}", "put on {song_name}",
                   "play some {music_genre} music"),
    "play_radio": ("play {music_genre} radio", "tune in to a {music_genre} station",
                   "put some {music_genre} on the radio"),
    "play_podcasts": ("play the latest podcast about {news_topic}",
                      "find a podcast on {news_topic}", "play a podcast about {news_topic}"),
    "music_query": ("who sings {song_name}", "what album is {song_name} on",
                    "when did {artist_name} release {song_name}",
                    "what is the latest song by {artist_name}"),
    "music_likeness": ("i like {artist_name}", "i love the song {song_name}",
                       "remember that i like {music_genre}", "i really enjoy {artist_name}"),
    "audio_volume_up": ("turn the volume up in the {house_place}", "louder please",
                        "turn up the {device_type}", "turn it up"),
    "audio_volume_mute": ("mute the music in the {house_place}", "be quiet",
                          "mute everything in the {house_place}", "silence please"),
    "email_sendemail": ("send an email to {person}", "email {person} about the {event_name}",
                        "write an email to {person} saying i will be late",
                        "send {person} an email about {date}"),
    "email_query": ("do i have any new emails from {person}", "check my email from {person}",
                    "read my emails from {date}", "did {person} email me"),
    "email_querycontact": ("what is the phone number of {person}",
                           "where does {person} live", "when was {person} born",
                           "what is the email address of {person}"),
    "email_addcontact": ("add {person} to my contacts", "save {person} as a new contact",
                         "create a contact for {person}"),
    "messaging_send": ("text {person} that i am on my way",
                       "text {person} see you at {time}",
                       "tell {person} i will be there at {time}",
                       "message {person} that the {event_name} is cancelled"),
    "messaging_query": ("read my messages from {person}", "did {person} text me",
                        "any new messages from {person}", "what did {person} say"),
    "lists_createoradd": ("add {list_item} to my {list_name} list",
                          "put {list_item} on the {list_name} list", "i need to buy {list_item}",
                          "add {list_item} to the list"),
    "lists_remove": ("remove {list_item} from my {list_name} list",
                     "take {list_item} off the list", "delete the {list_name} list",
                     "cross {list_item} off my list"),
    "lists_query": ("what is on my {list_name} list", "read me the {list_name} list",
                    "is {list_item} on my list", "do i have {list_item} on the list"),
    "transport_ticket": ("book a train ticket to {place_name}",
                         "buy a ticket to {place_name} for {date}",
                         "get me a flight to {place_name} on {date}",
                         "i need a bus ticket to {place_name}",
                         "book a seat on flight {number}"),
    "transport_query": ("when is the next train to {place_name}",
                        "how long does it take to get to {place_name}",
                        "is the bus to {place_name} on time",
                        "when does the flight from {place_name} land",
                        "when does bus {number} arrive"),
    "transport_taxi": ("book a taxi to {place_name}", "call me a cab for {time}",
                       "i need a taxi at {time}", "get me a ride to {place_name}"),
    "transport_traffic": ("how is the traffic to {place_name}",
                          "is there traffic on the way to {place_name}",
                          "how long is my drive to {place_name}"),
    "iot_hue_lightson": ("turn on the lights in the {house_place}",
                         "switch on the {house_place} lights", "lights on in the {house_place}"),
    "iot_hue_lightoff": ("turn off the lights in the {house_place}",
                         "switch off the {house_place} lights",
                         "lights off in the {house_place}"),
    "iot_hue_lightchange": ("make the lights {color_type}",
                            "change the {house_place} lights to {color_type}",
                            "set the lights to {color_type}"),
    "iot_wemo_on": ("turn on the {device_type}", "switch the {device_type} on",
                    "start the {device_type} in the {house_place}"),
    "iot_wemo_off": ("turn off the {device_type}", "switch the {device_type} off",
                     "stop the {device_type} in the {house_place}"),
    "iot_cleaning": ("start the robot vacuum in the {house_place}", "clean the {house_place}",
                     "vacuum the {house_place} at {time}"),
    "cooking_recipe": ("how do i make {food_type}", "find me a recipe for {food_type}",
                       "what do i need for {food_type}", "how long do i cook {food_type}"),
    "takeaway_order": ("order {food_type} for {time}", "i want to order {food_type}",
                       "get me {food_type} delivered", "order {food_type} for {person}",
                       "send {food_type} to room {number}"),
    "takeaway_query": ("is my {food_type} on the way", "when will my {food_type} arrive",
                       "where is my order of {food_type}"),
    "datetime_query": ("what time is it in {place_name}", "what day of the week is {date}",
                       "what is the date {date}", "is it morning in {place_name}"),
    "datetime_convert": ("what is {time} in {place_name} time",
                         "convert {time} to {place_name} time",
                         "what time is {time} in {place_name}"),
    "news_query": ("what is the latest news about {news_topic}",
                   "tell me the {news_topic} headlines", "any news from {place_name}",
                   "what happened in {place_name} {date}"),
    "qa_currency": ("how much is {number} {currency_name} worth",
                    "convert {number} {currency_name} to {currency_name}",
                    "what is the exchange rate for {currency_name}"),
    "qa_maths": ("what is {number} squared", "what is the square root of {number}",
                 "what is half of {number}", "what is {number} divided by seven"),
    "recommendation_events": ("what is happening in {place_name} {date}",
                              "any concerts in {place_name} on {date}",
                              "what can i do in {place_name}"),
    "recommendation_locations": ("find a good restaurant in {place_name}",
                                 "where can i get {food_type} near me",
                                 "recommend a hotel in {place_name}"),
}

#: The intent labels, in script order.
INTENTS = tuple(PHRASINGS)
SCENARIOS = tuple(sorted({intent.split("_")[0] for intent in INTENTS}))


@lru_cache(maxsize=None)
def held_out_values() -> frozenset[str]:
    """The entity values kept for test clips. A value that lies inside another as a run of
    whole words ("york" in "new york", "six forty" in "six forty five at night", "barbara" in
    "santa barbara") goes to the same side as that value, so no test value is ever spoken in a
    training clip: the values form groups (linked through containment, across types), the
    groups are ranked by the sha256 of their members, and each type takes whole groups from the
    top of that ranking until TEST_VALUE_FRACTION of its values (at least one) are test
    values. The partition depends on nothing but the value lists."""
    parent = {v: v for values in VALUES.values() for v in values}

    def root(v):
        while parent[v] != v:
            v = parent[v]
        return v

    for value in parent:
        words = value.split()
        for i in range(len(words)):
            for j in range(i + 1, len(words) + 1 - (i == 0)):    # proper runs only
                inner = " ".join(words[i:j])
                if inner in parent:
                    parent[root(inner)] = root(value)
    groups: dict[str, set[str]] = {}
    for v in parent:
        groups.setdefault(root(v), set()).add(v)
    ranked = sorted(groups.values(),
                    key=lambda g: hashlib.sha256("|".join(sorted(g)).encode()).digest())
    test: set[str] = set()
    for values in VALUES.values():
        want = max(1, round(len(values) * TEST_VALUE_FRACTION))
        members = set(values)
        for group in ranked:
            if len(test & members) >= want:
                break
            if group & members:
                test |= group
    return frozenset(test)


@lru_cache(maxsize=None)
def value_split(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train values, test values) of entity type `kind` (see `held_out_values`)."""
    test = held_out_values()
    return (tuple(v for v in VALUES[kind] if v not in test),
            tuple(v for v in VALUES[kind] if v in test))


def syllables(text: str) -> int:
    """Estimated syllables of `text`: vowel groups per word, at least one per word."""
    return sum(max(1, len(re.findall(r"[aeiouy]+", w))) for w in text.split())


def fill(phrasing: str, pick) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """(text, entity spans) of `phrasing` with each "{type}" word replaced by `pick(type,
    taken)`, `taken` being the values already used for that type in this phrasing."""
    words, spans, taken = [], [], {}
    for word in phrasing.split():
        if word.startswith("{") and word.endswith("}"):
            kind = word[1:-1]
            value = pick(kind, taken.setdefault(kind, []))
            taken[kind].append(value)
            spans.append((len(words), len(words) + len(value.split()), kind))
            words.extend(value.split())
        else:
            words.append(word)
    return " ".join(words), tuple(spans)


def script(per_intent: int, rng: np.random.Generator) -> list[Utterance]:
    """`per_intent` utterances of each intent; round(per_intent * 3 / 12) of them (at least
    one) are spoken by the test voices with test values, the rest by the other voices with
    train values. Voices and phrasings cycle through a random order per intent. All of it is
    drawn before any recording, so another `Rendering` speaks the same script."""
    if per_intent < 2:
        raise AudioError(f"the slurp-style corpus needs >= 2 utterances per intent (a train "
                         f"and a test clip), got {per_intent}")
    n_test = min(max(round(per_intent * len(TEST_SPEAKERS) / len(VOICES)), 1), per_intent - 1)
    sides = ((train_voices(), per_intent - n_test, _uniform(0, rng)),
             (TEST_SPEAKERS, n_test, _uniform(1, rng)))
    return [u for intent in PHRASINGS for voices, count, pick in sides
            for u in _utterances(intent, voices, count, pick, rng)]


def attacker_script(per_intent: int, rng: np.random.Generator) -> list[Utterance]:
    """`per_intent` utterances of each intent for an attacker's recogniser: the training
    voices and ATTACKER_VOICES, and every entity value, train and test values alike (a real
    attacker's ASR has heard many voices and the whole vocabulary; it never hears the
    held-out voices). Each type's values are drawn in turns through a shuffled order, so
    that they are all spoken once before any is spoken twice."""
    if per_intent < 1:
        raise AudioError(f"per_intent must be >= 1, got {per_intent}")
    turns: dict[str, list[str]] = {}

    def pick(kind, taken):
        for _ in range(2):
            queue = turns.setdefault(kind, [])
            for i, value in enumerate(queue):
                if value not in taken:
                    return queue.pop(i)
            queue.extend(VALUES[kind][j] for j in rng.permutation(len(VALUES[kind])))
        raise AudioError(f"entity type {kind!r} has too few values")

    voices = train_voices() + ATTACKER_VOICES
    return [u for intent in PHRASINGS
            for u in _utterances(intent, voices, per_intent, pick, rng)]


def train_voices() -> tuple[str, ...]:
    """The voices that speak training clips: all but TEST_SPEAKERS."""
    return tuple(v for v in VOICES if v not in TEST_SPEAKERS)


def _uniform(side: int, rng: np.random.Generator):
    """A value picker: uniform over the `side` (0 train, 1 test) values of a type not yet
    taken in this phrasing."""
    def pick(kind, taken):
        values = [v for v in value_split(kind)[side] if v not in taken]
        return values[int(rng.integers(len(values)))]
    return pick


def _utterances(intent: str, voices, count: int, pick, rng) -> list[Utterance]:
    """`count` utterances of `intent` by `voices`, voices and phrasings cycling through a
    random order, slots filled by `pick` (a phrasing too long to speak is filled again)."""
    phrasings = PHRASINGS[intent]
    order = rng.permutation(len(voices))
    wordings = rng.permutation(len(phrasings))
    out = []
    for i in range(count):
        phrasing = phrasings[wordings[i % len(phrasings)]]
        text, spans = fill(phrasing, pick)
        while syllables(text) > MAX_SYLLABLES:
            text, spans = fill(phrasing, pick)
        out.append(Utterance(text, intent, voices[order[i % len(voices)]], spans,
                             intent.split("_")[0]))
    return out


def fingerprint() -> str:
    """sha256 of the phrasings, the value lists, the held-out voices and share and the length
    cap: a change gives the cached corpus a new name."""
    blob = json.dumps([PHRASINGS, VALUES, TEST_SPEAKERS, TEST_VALUE_FRACTION, MAX_SYLLABLES],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
