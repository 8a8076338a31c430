"""The SLURP-style corpus and the accompanying speech: grammar size, value lists, entity-span
bookkeeping, the speaker- and value-disjoint split, the cache round trip and renderings."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from speech_privacy.audio import SAMPLE_RATE, AudioError
from speech_privacy.corpus import (CORPORA, Rendering, SpeechCorpus, accompanying,
                                   accompanying_corpus, cache_path, load_corpus, slurp,
                                   synthetic_corpus)
from speech_privacy.corpus.values import MAIN_TYPES, VALUES, number_words, ordinal_words
from speech_privacy.espeak import ATTACKER_VOICES, VOICES

SLOT = re.compile(r"\{(\w+)\}")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two clips per intent (88 clips), seed 3, in a private cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESIM_CACHE", str(tmp_path_factory.mktemp("cache")))
        corpus = synthetic_corpus(2, seed=3, progress=False, corpus="slurp-style")
        yield corpus, cache_path(2, seed=3, corpus="slurp-style")


def _check_spans(intent: str, text: str, spans) -> None:
    """Each span's words are one value of its type, the spans do not overlap, and the words
    outside them, with each span put back as its slot, are one of the intent's phrasings."""
    words, rebuilt, at = text.split(), [], 0
    for start, end, kind in spans:
        assert start >= at and end > start
        assert " ".join(words[start:end]) in VALUES[kind], (text, kind)
        rebuilt += words[at:start] + [f"{{{kind}}}"]
        at = end
    assert " ".join(rebuilt + words[at:]) in slurp.PHRASINGS[intent], text


def test_grammar_has_scenarios_actions_and_slots():
    assert len(slurp.INTENTS) >= 30 and len(slurp.SCENARIOS) >= 12
    assert CORPORA == ("fsc-style", "slurp-style")
    for intent, phrasings in slurp.PHRASINGS.items():
        scenario, action = intent.split("_", 1)
        assert scenario in slurp.SCENARIOS and action
        assert len(phrasings) >= 3 and len(set(phrasings)) == len(phrasings)
        for p in phrasings:
            assert set(SLOT.findall(p)) <= VALUES.keys(), p
            assert all(SLOT.fullmatch(w) for w in p.split() if "{" in w), p   # whole words
    slotted = [i for i, ps in slurp.PHRASINGS.items() if any(SLOT.search(p) for p in ps)]
    assert len(slotted) == len(slurp.INTENTS)
    # each main type fills slots of several intents: the intent does not give it away
    for kind in ("person", "time", "date", "place_name", "number"):
        users = {i for i, ps in slurp.PHRASINGS.items() if any(f"{{{kind}}}" in p for p in ps)}
        assert len(users) >= 3, kind


def test_value_lists_are_large_distinct_and_spoken_as_words():
    for kind in MAIN_TYPES:
        assert len(VALUES[kind]) >= 200, kind
    seen = {}
    for kind, values in VALUES.items():
        assert len(set(values)) == len(values), kind
        for v in values:
            assert re.fullmatch(r"[a-z']+( [a-z']+)*", v), (kind, v)   # no digits, no marks
            assert seen.setdefault(v, kind) == kind, (v, kind, seen[v])  # one type per value
    assert number_words(0) == "zero" and number_words(100) == "one hundred"
    assert number_words(342) == "three hundred forty two" and number_words(17) == "seventeen"
    assert [ordinal_words(n) for n in (1, 2, 3, 12, 20, 21, 30)] == [
        "first", "second", "third", "twelfth", "twentieth", "twenty first", "thirtieth"]
    assert "march fourth" in VALUES["date"] and "seven thirty at night" in VALUES["time"]


def test_fill_records_the_span_of_each_inserted_value():
    chosen = {"song_name": "blue river", "artist_name": "the ravens"}
    text, spans = slurp.fill("play {song_name} by {artist_name}",
                             lambda kind, taken: chosen[kind])
    assert text == "play blue river by the ravens"
    assert spans == ((1, 3, "song_name"), (4, 6, "artist_name"))
    values = iter(["ten", "twenty"])
    taken_seen = []
    text, spans = slurp.fill("{number} and {number}",
                             lambda kind, taken: taken_seen.append(list(taken)) or next(values))
    assert text == "ten and twenty" and spans == ((0, 1, "number"), (2, 3, "number"))
    assert taken_seen == [[], ["ten"]]          # a repeated slot knows the values taken


def test_script_spans_hold_the_values_for_every_utterance():
    script = slurp.script(24, np.random.default_rng(7))
    assert len(script) == 24 * len(slurp.INTENTS)
    for u in script:
        assert u.scenario == u.intent.split("_")[0]
        _check_spans(u.intent, u.text, u.entities)
        assert slurp.syllables(u.text) <= slurp.MAX_SYLLABLES
        values = [" ".join(u.text.split()[s:e]) for s, e, _ in u.entities]
        assert len(set(values)) == len(values)          # a repeated slot, another value
    # many distinct values per main type, spread over the intents that use them
    drawn = {}
    for u in script:
        for s, e, kind in u.entities:
            drawn.setdefault(kind, set()).add(" ".join(u.text.split()[s:e]))
    assert len(drawn["person"]) >= 100 and len(drawn["time"]) >= 100
    assert slurp.script(24, np.random.default_rng(7)) == script          # seeded
    with pytest.raises(AudioError, match=">= 2 utterances per intent"):
        slurp.script(1, np.random.default_rng(0))


def test_attacker_script_hears_every_value_but_no_held_out_voice():
    script = slurp.attacker_script(24, np.random.default_rng(5))
    assert len(script) == 24 * len(slurp.INTENTS)
    assert {u.voice for u in script} == set(slurp.train_voices()) | set(ATTACKER_VOICES)
    assert not set(ATTACKER_VOICES) & set(VOICES)
    spoken: dict[str, list[str]] = {}
    for u in script:
        _check_spans(u.intent, u.text, u.entities)
        for s, e, kind in u.entities:
            spoken.setdefault(kind, []).append(" ".join(u.text.split()[s:e]))
    for kind, values in spoken.items():
        # values are drawn in turns: none twice before every value of its type has come up
        # (a turn's value is lost when its phrasing came out too long to speak)
        if len(values) <= len(VALUES[kind]) // 2:
            assert len(set(values)) == len(values), kind
        else:
            assert len(set(values)) >= len(VALUES[kind]) // 2, kind
    assert set(spoken["color_type"]) == set(VALUES["color_type"])
    heard = {v for values in spoken.values() for v in values}
    assert len(heard & slurp.held_out_values()) >= 100        # test values too
    assert slurp.attacker_script(24, np.random.default_rng(5)) == script


def test_value_partition_keeps_test_values_out_of_training_values():
    test = slurp.held_out_values()
    for kind, values in VALUES.items():
        train_part, test_part = slurp.value_split(kind)
        assert set(train_part) | set(test_part) == set(values)
        assert not set(train_part) & set(test_part) and train_part and test_part, kind
        assert len(test_part) <= 0.35 * len(values) + 1, kind       # whole groups overshoot
    for kind in MAIN_TYPES:
        assert len(slurp.value_split(kind)[1]) >= 0.15 * len(VALUES[kind]), kind
    # no test value lies inside a training value, of any type
    train_runs = {" ".join(w[i:j]) for values in VALUES.values() for v in values
                  if v not in test for w in [v.split()]
                  for i in range(len(w)) for j in range(i + 1, len(w) + 1)}
    assert not test & train_runs
    assert ("new york" in test) == ("york" in test)


def test_script_holds_test_voices_and_values_out_of_training_clips():
    script = slurp.script(40, np.random.default_rng(1))
    train = [f" {u.text} " for u in script if u.voice not in slurp.TEST_SPEAKERS]
    test_values = {" ".join(u.text.split()[s:e]) for u in script
                   if u.voice in slurp.TEST_SPEAKERS for s, e, _ in u.entities}
    assert len(test_values) >= 200 and test_values <= slurp.held_out_values()
    # not as a value, and not as any run of words of a training transcript either
    assert not [v for v in test_values if any(f" {v} " in t for t in train)]
    assert not [v for v in slurp.held_out_values() if any(f" {v} " in t for t in train)]
    for intent in slurp.INTENTS:        # every intent is in train and in test
        voices = {u.voice for u in script if u.intent == intent}
        assert voices & set(slurp.TEST_SPEAKERS) and voices - set(slurp.TEST_SPEAKERS)


def test_small_corpus_labels_and_spans(small):
    corpus, _ = small
    n = 2 * len(slurp.INTENTS)
    assert corpus.audio.shape == (n, round(slurp.CLIP_SECONDS * SAMPLE_RATE))
    assert len(corpus.intent_names()) == len(slurp.INTENTS)
    assert corpus.scenario_names() == sorted(slurp.SCENARIOS)
    assert corpus.scenario_ids().max() == len(slurp.SCENARIOS) - 1
    assert corpus.test_speakers == slurp.TEST_SPEAKERS
    for intent, text, spans in zip(corpus.intents, corpus.transcripts, corpus.entities):
        _check_spans(intent, text, spans)
    assert sum(map(len, corpus.entities)) >= len(corpus)
    assert (np.abs(corpus.audio).max(axis=1) > 0.25).all()


def test_split_by_speaker_is_speaker_and_value_disjoint(small):
    corpus, _ = small
    train, test = corpus.split_by_speaker()
    assert len(train) + len(test) == len(corpus) and len(test) == len(slurp.INTENTS)
    assert set(test.speakers) <= set(slurp.TEST_SPEAKERS)
    assert not set(train.speakers) & set(slurp.TEST_SPEAKERS)
    assert set(train.intents) == set(test.intents) == set(corpus.intents)
    test_values = {v for _, v in test.entity_values()}
    assert test_values and test_values.isdisjoint({v for _, v in train.entity_values()})
    for part in (train, test):              # labels travel with the clips
        for intent, text, spans in zip(part.intents, part.transcripts, part.entities):
            _check_spans(intent, text, spans)
        assert part.scenarios == tuple(i.split("_")[0] for i in part.intents)
    tr, te = corpus.split(0.5, seed=0)
    assert set(tr.entity_values()) | set(te.entity_values()) == set(corpus.entity_values())
    with pytest.raises(AudioError, match="no held-out speakers"):
        SpeechCorpus(corpus.audio[:1], SAMPLE_RATE, corpus.transcripts[:1],
                     corpus.intents[:1], corpus.speakers[:1]).split_by_speaker()


def test_cache_round_trip_keeps_entities(small, monkeypatch):
    corpus, path = small
    monkeypatch.setenv("EDGESIM_CACHE", str(path.parents[1]))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["corpus"] == "slurp-style" and len(manifest["entities"]) == len(corpus)
    stamp = path.stat().st_mtime_ns
    again = synthetic_corpus(2, seed=3, progress=False, corpus="slurp-style")
    assert path.stat().st_mtime_ns == stamp                    # read, not rewritten
    assert np.array_equal(again.audio, corpus.audio)
    for field in ("transcripts", "intents", "speakers", "entities", "scenarios",
                  "test_speakers"):
        assert getattr(again, field) == getattr(corpus, field), field


def test_another_rendering_speaks_the_same_script(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))
    quiet = Rendering(snr_db=(30.0, 30.0), lead_seconds=(0.3, 0.3), tail_seconds=(0.3, 0.3))
    plain = synthetic_corpus(4, seed=2, progress=False, corpus="accompanying")
    clean = synthetic_corpus(4, seed=2, progress=False, corpus="accompanying",
                             rendering=quiet)
    assert cache_path(4, 2, corpus="accompanying") != cache_path(4, 2, corpus="accompanying",
                                                                rendering=quiet)
    assert clean.transcripts == plain.transcripts and clean.speakers == plain.speakers
    assert not np.array_equal(clean.audio, plain.audio)
    # the 0.3 s lead-in is background noise 30 dB below the speech
    lead = clean.audio[:, :round(0.28 * SAMPLE_RATE)]
    speech = clean.audio[:, round(0.3 * SAMPLE_RATE):round(1.3 * SAMPLE_RATE)]
    assert (np.sqrt((lead ** 2).mean(axis=1)) < 0.2 * np.sqrt((speech ** 2).mean(axis=1))).all()


def test_accompanying_speech_is_free_sentences(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))
    corpus = accompanying_corpus(8, seed=1, progress=False)
    assert len(corpus) == 8 and set(corpus.intents) == {"none"}
    assert corpus.entities == ((),) * 8 and corpus.scenarios == ()
    assert all(len(t.split()) >= 5 for t in corpus.transcripts)
    commands = {p for ps in slurp.PHRASINGS.values() for p in ps}
    assert not set(corpus.transcripts) & commands
    assert set(corpus.speakers) <= set(VOICES)
    train, test = corpus.split_by_speaker()
    assert len(test) == 2 and set(test.speakers) <= set(slurp.TEST_SPEAKERS)
    vocabulary = {w for words in accompanying.WORDS.values() for w in words}
    assert len(vocabulary) >= 600
    script = accompanying.script(300, np.random.default_rng(0))
    assert len({u.text for u in script}) == 300                 # nearly every sentence new


def test_corpus_names_and_spans_are_checked():
    with pytest.raises(AudioError, match="unknown corpus"):
        load_corpus("librispeech")
    with pytest.raises(AudioError, match="unknown corpus"):
        synthetic_corpus(1, corpus="nope")
    with pytest.raises(AudioError, match="outside the 2 words"):
        SpeechCorpus(np.zeros((1, 10), np.float32), SAMPLE_RATE, ("call mum",), ("x",),
                     ("m1",), (((1, 3, "person"),),))
    with pytest.raises(AudioError, match="2 clips but 1 entity lists"):
        SpeechCorpus(np.zeros((2, 10), np.float32), SAMPLE_RATE, ("a", "b"), ("x", "y"),
                     ("m1", "m2"), (((0, 1, "person"),),))


def test_cli_corpus_summary_names_scenarios_entities_and_splits(small, monkeypatch, capsys):
    from edgesim.cli import main
    from edgesim.cli_speech import CORPUS_NAMES

    corpus, path = small
    assert CORPUS_NAMES == CORPORA
    monkeypatch.setenv("EDGESIM_CACHE", str(path.parents[1]))
    assert main(["speech", "corpus", "--corpus", "slurp-style", "--utterances-per-intent", "2",
                 "--seed", "3", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["corpus"] == "slurp-style" and summary["cache"] == str(path)
    assert summary["clips"] == len(corpus) and summary["seconds_per_clip"] == 5.0
    assert list(summary["scenarios"]) == sorted(slurp.SCENARIOS)
    assert sum(summary["scenarios"].values()) == len(corpus)
    kinds = summary["entity_types"]
    assert {"person", "time", "date", "place_name"} <= kinds.keys()
    assert sum(k["spans"] for k in kinds.values()) == summary["entity_spans"] == sum(
        map(len, corpus.entities))
    assert summary["distinct_entity_values"] == len(set(corpus.entity_values()))
    assert summary["test_speakers"] == list(slurp.TEST_SPEAKERS)
    assert summary["split"] == {"by": "speaker", "train": len(corpus) - len(slurp.INTENTS),
                                "test": len(slurp.INTENTS)}
    extra = summary["accompanying"]
    assert extra["clips"] == accompanying.DEFAULT_SENTENCES and extra["distinct_words"] > 200
    # the default corpus stays fsc-style, without scenarios or entities
    assert main(["speech", "corpus", "--utterances-per-intent", "1", "--seed", "5", "--json",
                 "--no-progress"]) == 0
    fsc = json.loads(capsys.readouterr().out)
    assert fsc["corpus"] == "fsc-style" and fsc["intents"] == 28 and fsc["samples"] == 64000
    assert fsc["scenarios"] == {} and fsc["entity_types"] == {} and "accompanying" not in fsc
