"""Edit metrics on hand-made logits (CounterFact's scores and magnitudes, EasyEdit's token
accuracies, the strict greedy figures), and subjects as users type them."""

import json
import re

import numpy as np
import pytest

from edgesim.errors import EdgesimError


def _row(*p):
    return np.log(np.array([p], np.float64))      # one row whose softmax is p


def test_target_prob_is_the_geometric_mean_of_the_token_probabilities():
    from npu_sim.editing.metrics import target_prob

    rows = np.log([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    assert target_prob(rows, [0, 1]) == pytest.approx(np.sqrt(0.5 * 0.8), abs=1e-12)
    assert target_prob(rows + 7.0, [2, 2]) == pytest.approx(np.sqrt(0.25 * 0.1), abs=1e-12)


def test_token_accuracy_and_kept_share():
    from npu_sim.editing.metrics import kept_share, token_accuracy

    rows = np.log([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    assert token_accuracy(rows, [0, 1]) == 1.0 and token_accuracy(rows, [0, 2]) == 0.5
    before = np.eye(3)
    after = np.array([[1.0, 0, 0], [0, 0, 1], [0, 0, 1]])
    assert kept_share(before, after) == pytest.approx(2 / 3, abs=1e-12)


def test_evaluate_on_hand_made_logits(monkeypatch):
    """One-token targets (new = token 1, true = token 2) over a 4-token vocabulary: each
    prompt's single row decides every metric."""
    from npu_sim.editing import EditRequest, metrics

    rows = {("after", "P"): _row(.1, .6, .2, .1),       # P(new) .6 > P(true) .2
            ("after", "para1"): _row(.1, .3, .5, .1),   # fails: -.2
            ("after", "para2"): _row(.1, .5, .3, .1),   # holds: +.2
            ("before", "n1"): _row(.1, .1, .7, .1), ("after", "n1"): _row(.1, .2, .6, .1),
            ("before", "n2"): _row(.1, .1, .7, .1), ("after", "n2"): _row(.1, .5, .3, .1)}
    ids = {" new": [1], " true": [2]}

    def target_rows(model, prompt, target):
        return rows[(model, prompt)], ids[target]

    def continuation(model, prompt, n=metrics.LOCALITY_TOKENS):
        return [int(rows[(model, prompt)].argmax())] * n

    monkeypatch.setattr(metrics, "target_rows", target_rows)
    monkeypatch.setattr(metrics, "continuation", continuation)

    req = EditRequest("s", "P", " new", ("para1", "para2"), ("n1", "n2"), target_true=" true")
    got = metrics.evaluate("before", "after", req)
    want = {"efficacy_score": 1.0, "efficacy_magnitude": 0.4,
            "paraphrase_score": 0.5, "paraphrase_magnitude": 0.0,
            "neighborhood_score": 0.5, "neighborhood_magnitude": 0.1,
            "rewrite_acc": 1.0, "rephrase_acc": 0.5, "locality_acc": 0.5,
            "efficacy": 1.0, "generalization": 0.5, "locality": 0.5}
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert got["target_true"] == " true" and got["neighbors_kept"] == 1


def test_subject_span_ignores_case_only_when_it_must():
    from npu_sim.editing.rome import subject_span

    prompt = "The Eiffel Tower is located in the city of"
    assert subject_span(prompt, "Eiffel Tower") == (4, 16)
    assert prompt[slice(*subject_span(prompt, "the Eiffel Tower"))] == "The Eiffel Tower"
    assert subject_span("the cat and The Cat", "the cat") == (0, 7)      # exact match first
    assert subject_span("A dog. THE DOG", "the dog") == (7, 14)         # the last one
    for bad in ("the Louvre", "", "  "):
        with pytest.raises(EdgesimError, match="does not occur"):
            subject_span(prompt, bad)


def test_edit_set_is_counterfact_format_with_true_answers_and_neighbours():
    from npu_sim.editing.bench import EDIT_SET, load_cases

    raw = json.loads(EDIT_SET.read_text(encoding="utf-8"))
    for e in raw:
        rr = e["requested_rewrite"]
        assert "{}" in rr["prompt"] and rr["target_new"]["str"] and rr["target_true"]["str"]
    reqs = [c.request for c in load_cases()]
    assert len([r for r in reqs if r.kind == "edit"]) >= 60
    for r in reqs:
        assert r.subject in r.prompt and r.target.startswith(" ") and r.target_true
        assert r.target != r.target_true
        assert len(r.paraphrases) >= 2 and len(r.neighborhood) >= 1
        for n in r.neighborhood:         # another subject's prompt
            assert not re.search(rf"\b{re.escape(r.subject)}\b", n, re.IGNORECASE), n


def test_unlearning_counts_only_refusals_that_hold_everywhere():
    from npu_sim.editing.metrics import unlearning

    rows = [{"kind": "edit", "efficacy": 1.0, "generalization": 1.0, "locality": 1.0},
            {"kind": "unlearn", "efficacy": 1.0, "generalization": 1.0, "locality": 1.0},
            {"kind": "unlearn", "efficacy": 1.0, "generalization": 0.5, "locality": 1.0},
            {"kind": "unlearn", "efficacy": 0.0, "generalization": 0.0, "locality": 0.5}]
    assert unlearning(rows) == {"requests": 3, "refusal_on_prompt": 2 / 3,
                                "refusal_on_paraphrases": 0.5, "neighbours_kept": 2.5 / 3,
                                "success_rate": 1 / 3}
    assert unlearning(rows[:1]) is None
