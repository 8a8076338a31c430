"""The speech corpus type: labelled clips with transcripts, intents, speakers and, where the
corpus has them, entity spans, scenarios and held-out speakers; and `Utterance`, one line of a
grammar's script before it is spoken."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..audio import AudioError

#: One entity span over a transcript's whitespace-split words: (first word, end word
#: exclusive, entity type), e.g. (3, 5, "time") for "wake me up at seven thirty".
Span = tuple[int, int, str]


class Utterance(NamedTuple):
    """What a grammar asks to be spoken: the text, its labels and the voice that speaks it."""

    text: str
    intent: str
    voice: str
    entities: tuple[Span, ...] = ()
    scenario: str = ""


@dataclass(frozen=True, eq=False)
class SpeechCorpus:
    """Labelled clips: audio float32 [N, samples] at `sample_rate` Hz, zero-padded to a fixed
    length; one transcript, intent and speaker name per clip. `entities` holds each clip's
    entity spans (empty tuples where the corpus has none), `scenarios` one scenario label per
    clip or nothing, `test_speakers` the speakers that `split_by_speaker` holds out."""

    audio: np.ndarray
    sample_rate: int
    transcripts: tuple[str, ...]
    intents: tuple[str, ...]
    speakers: tuple[str, ...]
    entities: tuple[tuple[Span, ...], ...] = ()
    scenarios: tuple[str, ...] = ()
    test_speakers: tuple[str, ...] = ()

    def __post_init__(self):
        a = self.audio
        if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.ndim == 2):
            raise AudioError("corpus audio must be a float32 array of clips x samples")
        n = len(a)
        if not len(self.transcripts) == len(self.intents) == len(self.speakers) == n:
            raise AudioError(f"corpus has {n} clips but {len(self.transcripts)} transcripts, "
                             f"{len(self.intents)} intents, {len(self.speakers)} speakers")
        if not self.entities:
            object.__setattr__(self, "entities", ((),) * n)
        object.__setattr__(self, "entities", tuple(tuple((int(s), int(e), str(t))
                                                         for s, e, t in spans)
                                                   for spans in self.entities))
        if len(self.entities) != n or len(self.scenarios) not in (0, n):
            raise AudioError(f"corpus has {n} clips but {len(self.entities)} entity lists and "
                             f"{len(self.scenarios)} scenarios")
        for text, spans in zip(self.transcripts, self.entities):
            words = len(text.split())
            if any(not 0 <= s < e <= words for s, e, _ in spans):
                raise AudioError(f"entity span {spans} lies outside the {words} words of "
                                 f"{text!r}")

    def __len__(self) -> int:
        return len(self.audio)

    def intent_names(self) -> list[str]:
        return sorted(set(self.intents))

    def intent_ids(self) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.intent_names())}
        return np.array([lookup[x] for x in self.intents], dtype=np.int64)

    def scenario_names(self) -> list[str]:
        return sorted(set(self.scenarios))

    def scenario_ids(self) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.scenario_names())}
        return np.array([lookup[x] for x in self.scenarios], dtype=np.int64)

    def speaker_names(self) -> list[str]:
        return sorted(set(self.speakers))

    def speaker_ids(self) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.speaker_names())}
        return np.array([lookup[x] for x in self.speakers], dtype=np.int64)

    def entity_values(self) -> list[tuple[str, str]]:
        """Every clip's entities as (entity type, the words of the span), in clip order."""
        return [(kind, " ".join(text.split()[s:e]))
                for text, spans in zip(self.transcripts, self.entities) for s, e, kind in spans]

    def subset(self, index) -> "SpeechCorpus":
        """The clips at `index` (integer indices or a boolean mask), in that order."""
        idx = np.arange(len(self))[np.asarray(index)]

        def pick(labels):
            return tuple(labels[i] for i in idx) if labels else ()

        return SpeechCorpus(self.audio[idx], self.sample_rate, pick(self.transcripts),
                            pick(self.intents), pick(self.speakers), pick(self.entities),
                            pick(self.scenarios), self.test_speakers)

    def concatenate(self, other: "SpeechCorpus") -> "SpeechCorpus":
        """These clips followed by `other`'s (same clip length and rate); scenarios are ""
        for the clips of a corpus that has none. The held-out speakers are this corpus's."""
        if other.audio.shape[1] != self.audio.shape[1] or other.sample_rate != self.sample_rate:
            raise AudioError(f"cannot join {self.audio.shape[1]}-sample clips at "
                             f"{self.sample_rate} Hz with {other.audio.shape[1]}-sample clips "
                             f"at {other.sample_rate} Hz")
        scenarios = ((self.scenarios or ("",) * len(self)) + (other.scenarios or ("",) * len(other))
                     if self.scenarios or other.scenarios else ())
        return SpeechCorpus(np.concatenate([self.audio, other.audio]), self.sample_rate,
                            self.transcripts + other.transcripts, self.intents + other.intents,
                            self.speakers + other.speakers, self.entities + other.entities,
                            scenarios, self.test_speakers)

    def split(self, test_fraction: float = 0.2, seed: int = 0
              ) -> tuple["SpeechCorpus", "SpeechCorpus"]:
        """(train, test), stratified by intent: each intent with k >= 2 clips puts
        round(k * test_fraction) of them, at least 1 and at most k - 1, into test."""
        if not 0.0 < test_fraction < 1.0:
            raise AudioError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        ids = self.intent_ids()
        test = []
        for intent in range(ids.max() + 1):
            members = rng.permutation(np.flatnonzero(ids == intent))
            if len(members) >= 2:
                k = min(max(round(len(members) * test_fraction), 1), len(members) - 1)
                test.extend(members[:k])
        is_test = np.zeros(len(self), bool)
        is_test[test] = True
        return self.subset(~is_test), self.subset(is_test)

    def split_by_speaker(self) -> tuple["SpeechCorpus", "SpeechCorpus"]:
        """(train, test) with the clips of `test_speakers` in test and all others in train.
        A corpus synthesised with held-out speakers also draws their clips' entity values
        from values that no training clip uses, so this split keeps those apart too."""
        if not self.test_speakers:
            raise AudioError("this corpus has no held-out speakers; use split()")
        is_test = np.isin(np.array(self.speakers), np.array(self.test_speakers))
        return self.subset(~is_test), self.subset(is_test)
