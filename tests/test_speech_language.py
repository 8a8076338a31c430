"""The attacker's language model (speech_privacy.attacks.language): a class bigram with a
noisy channel of character edits, searched by Viterbi."""

from __future__ import annotations

import math

import pytest

from speech_privacy.attacks.language import Lexicon
from speech_privacy.audio import AudioError

PEOPLE = ["call anna now", "call bob now", "meet hanna", "meet carl"]
PERSON = [((1, 2, "person"),)] * 4


def test_the_word_pair_decides_between_words_that_sound_alike():
    lex = Lexicon(["set an alarm at quarter to four", "look for me", "wait for me",
                   "call for help"])
    assert lex.words[:3] == ["for", "me", "alarm"]     # most frequent first, then alphabetical
    assert lex.spell("set an alarm at quarter to for") == "set an alarm at quarter to four"
    assert lex.spell("wait four me") == "wait for me"
    assert lex.spell("sett an alarn") == "set an alarm"


def test_unknown_words_stay_and_empty_text_stays_empty():
    lex = Lexicon(["set an alarm"])
    assert lex.spell("set xq") == "set xq"             # nothing nearer than its length
    assert lex.spell("") == "" and lex.spell("   ") == ""
    with pytest.raises(AudioError, match="at least one word"):
        Lexicon(["", "  "])


def test_candidates_are_the_words_within_reach():
    lex = Lexicon(PEOPLE, PERSON)
    assert lex.candidates("hana") == [("anna", 2), ("hanna", 1)]
    assert lex.candidates("call") == [("call", 0), ("carl", 1)]
    assert lex.candidates("zzzz") == [("zzzz", 0)]


def test_entity_classes_let_a_value_follow_any_context_of_its_type():
    # a word bigram prefers the name heard after "call"; the class bigram lets "hanna",
    # heard only after "meet", follow "call" as a person, and the spelling decides
    words = Lexicon(PEOPLE)
    classes = Lexicon(PEOPLE, PERSON)
    assert words.spell("call hana now") == "call anna now"
    assert classes.spell("call hana now") == "call hanna now"
    assert classes.spell("meet ana") == "meet anna"


def test_log_p_interpolates_the_pair_with_the_unigram():
    lex = Lexicon(["a b", "a c"])
    # tokens a, a, b, c: add-one unigram over 4 tokens + 3 types + 1 unseen = 8
    assert lex.log_p("a", "b") == pytest.approx(math.log((1 + 2 * 2 / 8) / (2 + 2)))
    assert lex.log_p("b", "zz") == pytest.approx(math.log((2 * 1 / 8) / (1 + 2)))
