"""Privacy and utility metrics: word error rate (content leak) and intent accuracy (utility)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgesim.errors import InputDataError


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions that turn the
    hypothesis into the reference (case-insensitive, split on whitespace)."""
    ref, hyp = reference.lower().split(), hypothesis.lower().split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Total word edits over total reference words, across the corpus (can exceed 1 when
    the hypotheses insert words)."""
    if len(references) != len(hypotheses):
        raise InputDataError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    words = sum(len(r.split()) for r in references)
    if words == 0:
        raise InputDataError("word error rate needs at least one reference word")
    return sum(map(word_errors, references, hypotheses)) / words


def intent_accuracy(pred_ids: np.ndarray, true_ids: np.ndarray) -> float:
    """Fraction of clips whose predicted intent index equals the true one."""
    pred, true = np.asarray(pred_ids), np.asarray(true_ids)
    if pred.shape != true.shape or pred.ndim != 1 or len(pred) == 0:
        raise InputDataError(f"intent ids must be two equal non-empty 1-D arrays, got shapes "
                             f"{list(pred.shape)} and {list(true.shape)}")
    return float(np.mean(pred == true))


def intent_guess_transcripts(train_transcripts: Sequence[str], train_intents: Sequence[str],
                             intents: Sequence[str]) -> list[str]:
    """The transcripts an attacker who learns only the intent would write: for each of
    `intents`, the training transcript of that intent with the fewest word edits to all of
    that intent's training transcripts (minimum Bayes risk under WER; ties: alphabetical);
    "" for an intent absent from training. On a corpus whose transcripts are a few wordings
    per intent, these guesses' WER bounds the privacy any masker can give while the intent
    stays recognisable: an adaptive attacker can read the intent and guess the wording."""
    if len(train_transcripts) != len(train_intents):
        raise InputDataError(f"{len(train_transcripts)} transcripts but {len(train_intents)} "
                             "intents")
    by_intent: dict[str, list[str]] = {}
    for text, intent in zip(train_transcripts, train_intents):
        by_intent.setdefault(intent, []).append(text)
    best = {i: min(sorted(set(texts)), key=lambda g: sum(word_errors(t, g) for t in texts))
            for i, texts in by_intent.items()}
    return [best.get(i, "") for i in intents]


def entity_error_rate(references: Sequence[str],
                      spans: Sequence[Sequence[tuple[int, int, str]]],
                      hypotheses: Sequence[str]) -> float:
    """The share of entity words the hypotheses miss: each clip's entity words are the words
    `reference.split()[start:end]` of its (start, end, type) spans; a word counts as found
    when the clip's hypothesis holds it, each hypothesis word finding at most one entity word
    (case-insensitive). 0: every entity word heard; 1: none."""
    if not len(references) == len(spans) == len(hypotheses):
        raise InputDataError(f"{len(references)} references, {len(spans)} span lists and "
                             f"{len(hypotheses)} hypotheses")
    total = missed = 0
    for ref, clip_spans, hyp in zip(references, spans, hypotheses):
        words = ref.lower().split()
        heard: dict[str, int] = {}
        for w in hyp.lower().split():
            heard[w] = heard.get(w, 0) + 1
        for start, end, _ in clip_spans:
            if not 0 <= start < end <= len(words):
                raise InputDataError(f"entity span ({start}, {end}) outside the {len(words)} "
                                     f"words of {ref[:60]!r}")
            for w in words[start:end]:
                total += 1
                if heard.get(w, 0):
                    heard[w] -= 1
                else:
                    missed += 1
    if total == 0:
        raise InputDataError("entity error rate needs at least one entity word")
    return missed / total
