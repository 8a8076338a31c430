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
