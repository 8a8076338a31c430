"""Edit metrics on the float model (NumPy reference), before and after an edit: the three
families that editing papers and users compare.

CounterFact's probability comparisons (Meng et al., "Locating and Editing Factual
Associations in GPT", 2022, sec. 3.2; kmeng01/rome, experiments/py/eval_utils_counterfact.py
`test_batch_prediction` and experiments/summarize.py). P(t | p) of a multi-token target is
exp(mean log-prob of its tokens given the prompt and the target's earlier tokens), i.e. the
geometric mean of the token probabilities: ROME's code compares mean negative log-probs per
token and reports exp(-NLL) differences, and so does this module.
* efficacy_score: P(target_new) > P(target_true) on the edit prompt (0 or 1 per edit);
* paraphrase_score: share of paraphrases where P(target_new) > P(target_true);
* neighborhood_score: share of neighbourhood prompts (other subjects whose true answer is also
  target_true) where P(target_true) > P(target_new);
* their magnitudes (`*_magnitude`): the mean of P(new) - P(true) on the prompt and the
  paraphrases, of P(true) - P(new) on the neighbourhood prompts.

EasyEdit's token-level accuracies (zjunlp/EasyEdit, easyeditor/evaluate/evaluate_utils.py
`test_prediction_acc` and `compute_locality_quality`):
* rewrite_acc: share of target_new's tokens that are the argmax when the prompt and the
  target's earlier tokens are fed (teacher forcing);
* rephrase_acc: the same on each paraphrase, averaged;
* locality_acc: on each neighbourhood prompt followed by target_true (teacher forcing), the
  share of positions whose argmax token after the edit equals the one before it, averaged.

The strict greedy figures:
* efficacy: target_new is the greedy continuation of the edit prompt (all its tokens);
* generalization: share of paraphrases for which the same holds;
* locality: share of neighbourhood prompts that keep their greedy continuation of
  `LOCALITY_TOKENS` tokens.

Unlearning (requests of kind "unlearn", whose target is a refusal) is judged by the strict
figures: it succeeds when the refusal is the greedy continuation of the prompt and of every
paraphrase and every neighbourhood prompt keeps its continuation (`unlearning`).
"""

from __future__ import annotations

import numpy as np

from npu_sim.llm.model import LlamaModel
from npu_sim.llm.reference import forward, generate_fast, log_softmax

from .rome import EditRequest

LOCALITY_TOKENS = 3


# --- on logits: rows[i] are the logits that predict target token i ---------------------

def target_prob(rows: np.ndarray, target_ids) -> float:
    """exp(mean log-prob) of `target_ids` under `rows` [len(target_ids), vocab]."""
    lp = log_softmax(np.asarray(rows, np.float64))
    return float(np.exp(np.mean(lp[np.arange(len(target_ids)), list(target_ids)])))


def token_accuracy(rows: np.ndarray, target_ids) -> float:
    """Share of `target_ids` that are the argmax of their row (teacher forcing)."""
    return float(np.mean(np.asarray(rows).argmax(-1) == np.asarray(target_ids)))


def kept_share(before: np.ndarray, after: np.ndarray) -> float:
    """Share of rows whose argmax token is the same in `before` and `after`."""
    return float(np.mean(np.asarray(before).argmax(-1) == np.asarray(after).argmax(-1)))


# --- on a model -----------------------------------------------------------------------

def target_rows(model: LlamaModel, prompt: str, target: str) -> tuple[np.ndarray, list[int]]:
    """The logits that predict each token of `target` after `prompt` (teacher forcing), and
    the target's token ids."""
    tok = model.tokenizer
    ids = tok.encode(prompt)
    target_ids = tok.encode_continuation(target)
    logits = forward(model, ids + target_ids[:-1])
    return logits[len(ids) - 1:], target_ids


def target_is_greedy(model: LlamaModel, prompt: str, target: str) -> bool:
    """Teacher-forced argmax over the target tokens, which is exactly what greedy decoding
    would produce."""
    rows, target_ids = target_rows(model, prompt, target)
    return bool(np.array_equal(rows.argmax(-1), target_ids))


def continuation(model: LlamaModel, prompt: str, n: int = LOCALITY_TOKENS) -> list[int]:
    return generate_fast(model, model.tokenizer.encode(prompt), n)


def default_target_true(model: LlamaModel, prompt: str, target: str) -> str:
    """The unedited model's greedy continuation of `prompt`, as many tokens as `target`."""
    tok = model.tokenizer
    ids = tok.encode(prompt)
    return tok.decode_continuation(ids, continuation(model, prompt,
                                                     len(tok.encode_continuation(target))))


def compare(model: LlamaModel, prompt: str, target_new: str, target_true: str) \
        -> tuple[float, float]:
    """P(target_new | prompt) and P(target_true | prompt) as ROME's code defines them."""
    new_rows, new_ids = target_rows(model, prompt, target_new)
    true_rows, true_ids = target_rows(model, prompt, target_true)
    return target_prob(new_rows, new_ids), target_prob(true_rows, true_ids)


def _mean(xs) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def evaluate(before: LlamaModel, after: LlamaModel, req: EditRequest,
             baseline: dict | None = None, show_tokens: int = 0) -> dict:
    """Every metric of `after` (the edited `before`) for `req`, whose `target_true` must be
    set. `baseline` caches the unedited model's figures for the neighbourhood prompts
    between methods. With `show_tokens`, `continuations` lists each prompt's greedy
    continuation of that many tokens before and after the edit."""
    baseline = {} if baseline is None else baseline
    new, true = req.target, req.target_true
    p_new, p_true = compare(after, req.prompt, new, true)
    para = [compare(after, p, new, true) for p in req.paraphrases]
    rewrite_rows, new_ids = target_rows(after, req.prompt, new)
    rephrase = [token_accuracy(*target_rows(after, p, new)) for p in req.paraphrases]
    gen = [target_is_greedy(after, p, new) for p in req.paraphrases]
    neigh, loc_acc, kept = [], [], []
    n_cont = max(LOCALITY_TOKENS, show_tokens)
    for p in req.neighborhood:
        if (p, true) not in baseline:
            rows, _ = target_rows(before, p, true)
            baseline[(p, true)] = rows
        if (p, n_cont) not in baseline:
            baseline[(p, n_cont)] = continuation(before, p, n_cont)
        q_new, q_true = compare(after, p, new, true)
        neigh.append((q_new, q_true))
        loc_acc.append(kept_share(baseline[(p, true)], target_rows(after, p, true)[0]))
        kept.append(continuation(after, p, n_cont)[:LOCALITY_TOKENS]
                    == baseline[(p, n_cont)][:LOCALITY_TOKENS])
    scores = {
        "target_true": true,
        "efficacy_score": float(p_new > p_true), "efficacy_magnitude": p_new - p_true,
        "paraphrase_score": _mean([float(a > b) for a, b in para]),
        "paraphrase_magnitude": _mean([a - b for a, b in para]),
        "neighborhood_score": _mean([float(b > a) for a, b in neigh]),
        "neighborhood_magnitude": _mean([b - a for a, b in neigh]),
        "rewrite_acc": token_accuracy(rewrite_rows, new_ids),
        "rephrase_acc": _mean(rephrase), "locality_acc": _mean(loc_acc),
        "efficacy": float(np.array_equal(rewrite_rows.argmax(-1), new_ids)),
        "generalization": _mean([float(g) for g in gen]),
        "locality": _mean([float(k) for k in kept]),
        "paraphrases_ok": int(sum(gen)), "paraphrases": len(gen),
        "neighbors_kept": int(sum(kept)), "neighbors": len(kept)}
    if show_tokens:
        tok, shown = before.tokenizer, []
        for kind, prompts in (("prompt", (req.prompt,)), ("paraphrase", req.paraphrases),
                              ("neighbor", req.neighborhood)):
            for p in prompts:
                ids = tok.encode(p)
                old = baseline.get((p, n_cont)) or continuation(before, p, show_tokens)
                shown.append({"kind": kind, "prompt": p,
                              "before": tok.decode_continuation(ids, old[:show_tokens]),
                              "after": tok.decode_continuation(
                                  ids, continuation(after, p, show_tokens))})
        scores["continuations"] = shown
    return scores


def unlearning(rows: list[dict]) -> dict | None:
    """The unlearning requests among `rows` (EditResult.to_dict()), summarised: the mean
    strict figures and the share that fully succeeded (module docstring); None when there
    are none."""
    rows = [r for r in rows if r.get("kind") == "unlearn"]
    if not rows:
        return None
    full = [r["efficacy"] == 1 and r["generalization"] == 1 and r["locality"] == 1
            for r in rows]
    return {"requests": len(rows),
            "refusal_on_prompt": float(np.mean([r["efficacy"] for r in rows])),
            "refusal_on_paraphrases": float(np.mean([r["generalization"] for r in rows])),
            "neighbours_kept": float(np.mean([r["locality"] for r in rows])),
            "success_rate": float(np.mean(full))}
