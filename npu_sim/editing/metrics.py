"""Edit metrics on the float model (NumPy reference), before and after an edit.

* efficacy: the target is the greedy continuation of the edit prompt (teacher-forced argmax
  over the target tokens, which is exactly what greedy decoding would produce);
* generalisation: the same for each paraphrase (share that succeed);
* locality: each unrelated prompt keeps its greedy continuation of `LOCALITY_TOKENS` tokens
  (share unchanged).
"""

from __future__ import annotations

import numpy as np

from npu_sim.llm.model import LlamaModel
from npu_sim.llm.reference import forward, generate_fast

from .rome import EditRequest

LOCALITY_TOKENS = 3


def target_is_greedy(model: LlamaModel, prompt: str, target: str) -> bool:
    tok = model.tokenizer
    ids = tok.encode(prompt)
    target_ids = tok.encode_continuation(target)
    logits = forward(model, ids + target_ids[:-1])
    rows = logits[len(ids) - 1:]
    return bool(np.array_equal(rows.argmax(-1), target_ids))


def continuation(model: LlamaModel, prompt: str, n: int = LOCALITY_TOKENS) -> list[int]:
    return generate_fast(model, model.tokenizer.encode(prompt), n)


def evaluate(before: LlamaModel, after: LlamaModel, req: EditRequest,
             baseline: dict | None = None) -> dict:
    """Efficacy, generalisation and locality of `after` (the edited `before`). `baseline`
    caches the unedited continuations of the neighbourhood prompts between methods."""
    eff = float(target_is_greedy(after, req.prompt, req.target))
    gen = [target_is_greedy(after, p, req.target) for p in req.paraphrases]
    if baseline is None:
        baseline = {}
    kept = []
    for p in req.neighborhood:
        if p not in baseline:
            baseline[p] = continuation(before, p)
        kept.append(continuation(after, p) == baseline[p])
    return {"efficacy": eff,
            "generalization": float(np.mean(gen)) if gen else None,
            "locality": float(np.mean(kept)) if kept else None,
            "paraphrases_ok": int(sum(gen)), "paraphrases": len(gen),
            "neighbors_kept": int(sum(kept)), "neighbors": len(kept)}
