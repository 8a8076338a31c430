"""Word error rate and intent accuracy, checked against hand-counted edits."""

from __future__ import annotations

import numpy as np
import pytest

from edgesim.errors import InputDataError
from speech_privacy.metrics import (intent_accuracy, intent_guess_transcripts, word_error_rate,
                                    word_errors)


@pytest.mark.parametrize("ref, hyp, edits", [
    ("turn on the lights", "turn on the lights", 0),
    ("turn on the lights", "turn off the lights", 1),          # substitution
    ("turn on the lights", "turn on lights", 1),               # deletion
    ("turn on the lights", "please turn on the lights", 1),    # insertion
    ("turn on the lights", "", 4),
    ("", "lights", 1),
    ("a b c d", "d c b a", 4),           # two substitutions each side of an alignment
    ("Turn ON the Lights", "turn on the lights", 0),           # case-insensitive
    ("bring me my shoes", "bring me shoes please now", 3),
])
def test_word_errors_exact(ref, hyp, edits):
    assert word_errors(ref, hyp) == edits


def test_wer_is_corpus_level_and_can_exceed_one():
    assert word_error_rate(["a b", "c d e f"], ["a x", "c d e f"]) == pytest.approx(1 / 6)
    assert word_error_rate(["a"], ["x y z"]) == 3.0
    assert word_error_rate(["turn it on"], [""]) == 1.0


def test_wer_bad_inputs():
    with pytest.raises(InputDataError, match="2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(InputDataError, match="at least one reference word"):
        word_error_rate([""], [""])


def test_intent_accuracy():
    assert intent_accuracy(np.array([1, 2, 3, 0]), np.array([1, 2, 0, 0])) == 0.75
    with pytest.raises(InputDataError):
        intent_accuracy(np.array([]), np.array([]))
    with pytest.raises(InputDataError):
        intent_accuracy(np.array([1, 2]), np.array([1]))


def test_intent_guess_writes_the_wording_closest_to_all_of_the_intent():
    texts = ["turn on the lamp", "lamp on", "lamp on", "turn off the lamp"]
    labels = ["on", "on", "on", "off"]
    guesses = intent_guess_transcripts(texts, labels, ["on", "off", "volume"])
    assert guesses == ["lamp on", "turn off the lamp", ""]
    # against the true wordings "turn on the lamp" and "turn off the lamp": 3 + 0 edits
    assert word_error_rate(["turn on the lamp", "turn off the lamp"],
                           guesses[:2]) == pytest.approx(3 / 8)
    # minimum Bayes risk, not the most frequent wording: "a b c" is 8 edits from the five,
    # "z z z" 9; "a b d" and "a b e" tie with "a b c", which comes first
    five = ["a b d", "z z z", "a b e", "z z z", "a b c"]
    assert intent_guess_transcripts(five, ["x"] * 5, ["x"]) == ["a b c"]
    with pytest.raises(InputDataError, match="2 transcripts but 1 intents"):
        intent_guess_transcripts(texts[:2], labels[:1], ["on"])


def test_entity_error_rate_counts_missed_entity_words_once_each():
    from speech_privacy.metrics import entity_error_rate

    refs = ["wake me up at seven thirty am", "text anna that i am late"]
    spans = [[(4, 7, "time")], [(1, 2, "person")]]
    # "seven" and "am" heard, "thirty" missed; "anna" missed: 2 of 4 entity words
    assert entity_error_rate(refs, spans, ["wake me at seven am", "text hannah i am late"]) == 0.5
    assert entity_error_rate(refs, spans, refs) == 0.0
    assert entity_error_rate(refs, spans, ["", ""]) == 1.0
    # one heard "am" cannot find two entity words "am"
    assert entity_error_rate(["am am"], [[(0, 2, "x")]], ["am"]) == 0.5
    with pytest.raises(InputDataError, match="outside the 2 words"):
        entity_error_rate(["am am"], [[(1, 3, "x")]], ["am"])
    with pytest.raises(InputDataError, match="at least one entity word"):
        entity_error_rate(["hello"], [[]], ["hello"])
