"""ROME's pieces (kmeng01/rome), shared by both ways of finding v*.

* the edit request and where the subject's last token sits in a prompt (the subject as typed,
  else its only case-insensitive match);
* k*: the down-projection input at the subject's last token, averaged over context templates;
* v_init: the MLP output there for the edit prompt itself;
* the rank-one update W += (v* - W k) (C^-1 k*)^T / ((C^-1 k*)^T k), k the edit prompt's key
  (ROME's compute_rome_update), with C = identity (MobiEdit) or estimated from a text sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from edgesim.errors import EdgesimError
from npu_sim.llm.model import LlamaModel
from npu_sim.llm.reference import Trace, forward


@dataclass(frozen=True)
class EditRequest:
    """One fact to write: "`prompt`" (which contains `subject`) continues with `target`
    instead of `target_true` (None: the unedited model's greedy continuation)."""

    subject: str
    prompt: str
    target: str
    paraphrases: tuple[str, ...] = ()
    neighborhood: tuple[str, ...] = ()     # other subjects' prompts whose answer is target_true
    kind: str = "edit"                      # "edit" or "unlearn" (a refusal target)
    target_true: str | None = None


@dataclass(frozen=True)
class Sequence:
    """A prompt followed by the target, as the editing loss sees it."""

    ids: tuple[int, ...]       # prompt + target[:-1]
    subject_pos: int           # index of the subject's last token
    target_ids: tuple[int, ...]
    first_target_row: int      # row whose logits predict target_ids[0]

    @property
    def rows(self) -> tuple[int, ...]:
        return tuple(range(self.first_target_row, self.first_target_row + len(self.target_ids)))


def subject_span(prompt: str, subject: str) -> tuple[int, int]:
    """Where the last occurrence of `subject` sits in `prompt` (start, end); a subject that
    occurs only with other capitalisation ("the Eiffel Tower" in "The Eiffel Tower is")
    matches its last case-insensitive occurrence, as users type subjects."""
    at = prompt.rfind(subject) if subject.strip() else -1
    if at >= 0:
        return at, at + len(subject)
    found = list(re.finditer(re.escape(subject), prompt, re.IGNORECASE)) if subject.strip() \
        else []
    if not found:
        raise EdgesimError(f"subject {subject!r} does not occur in the prompt {prompt!r}")
    return found[-1].span()


def subject_last_index(model: LlamaModel, prompt: str, subject: str) -> tuple[list[int], int]:
    """Token ids of `prompt` (with BOS when the model adds one) and the index of the token
    that ends the last occurrence of `subject` in it (see `subject_span`)."""
    at, end = subject_span(prompt, subject)
    tok = model.tokenizer
    enc = tok.backend.encode(prompt, add_special_tokens=False)
    index = None
    for i, (start, stop) in enumerate(enc.offsets):
        if start < end and stop > at:
            index = i
    if index is None:
        raise EdgesimError(f"cannot find the tokens of subject {subject!r} in {prompt!r}")
    ids = list(enc.ids)
    if tok.add_bos and tok.bos_id is not None:
        ids, index = [tok.bos_id] + ids, index + 1
    return ids, index


def make_sequence(model: LlamaModel, text: str, subject: str, target: str) -> Sequence:
    ids, pos = subject_last_index(model, text, subject)
    target_ids = model.tokenizer.encode_continuation(target)
    if not target_ids:
        raise EdgesimError(f"target {target!r} has no tokens")
    return Sequence(tuple(ids + target_ids[:-1]), pos, tuple(target_ids), len(ids) - 1)


def edit_sequences(model: LlamaModel, req: EditRequest, templates: tuple[str, ...]) \
        -> list[Sequence]:
    """The edit prompt inside each context template ("{}" is the prompt itself)."""
    return [make_sequence(model, t.format(req.prompt), req.subject, req.target)
            for t in templates]


class Objective(NamedTuple):
    """What v*'s objective reads (`objective_sequences`)."""

    edits: list[Sequence]           # the edit prompt behind each context template
    kl: Sequence | None             # the KL prompt, whose next-token row is read

    @property
    def sequences(self) -> list[Sequence]:
        """Every sequence a pass computes: the edit sequences, then the KL one (last)."""
        return self.edits + ([self.kl] if self.kl else [])


def objective_sequences(model: LlamaModel, req: EditRequest, templates: tuple[str, ...],
                        kl_prompt: str) -> Objective:
    """The edit sequences (`edit_sequences`) and the KL prompt ("{subject} is a") as one more
    sequence whose next-token row is read (its target unused). The KL sequence is None where
    the subject's last token is the KL prompt's first token (a one-token subject, a model
    without BOS): delta added at that attention-sink position leaves the float model's
    next-token distribution unchanged, so the term carries nothing, while the sink's massive
    activations saturate an int16 kernel's logits there."""
    ids, pos = subject_last_index(model, kl_prompt.format(req.subject), req.subject)
    kl = Sequence(tuple(ids), pos, (0,), len(ids) - 1) if pos > 0 else None
    return Objective(edit_sequences(model, req, templates), kl)


def key_and_value(model: LlamaModel, layer: int, ids, pos: int) -> tuple[np.ndarray, np.ndarray]:
    """The down-projection input (key) and MLP output (value) of `layer` at position `pos`."""
    trace = Trace()
    forward(model, list(ids), edit_layer=layer, trace=trace)
    return trace.keys[pos], trace.values[pos]


def compute_k_star(model: LlamaModel, layer: int, req: EditRequest,
                   templates: tuple[str, ...], prompt_key: np.ndarray | None = None) \
        -> np.ndarray:
    """k*: the key at the subject's last token, averaged over the context templates;
    `prompt_key`, the prompt's own key when the caller has it, stands for template "{}"."""
    keys = []
    for t in templates:
        if t == "{}" and prompt_key is not None:
            keys.append(prompt_key)
            continue
        ids, pos = subject_last_index(model, t.format(req.prompt), req.subject)
        keys.append(key_and_value(model, layer, ids, pos)[0])
    return np.mean(keys, axis=0).astype(np.float32)


def rank_one_update(w_down: np.ndarray, k_star: np.ndarray, k_prompt: np.ndarray,
                    v_star: np.ndarray, c_inv: np.ndarray | None = None) -> np.ndarray:
    """The new down-projection (out, in): maps `k_prompt` to `v_star` exactly, along the
    direction C^-1 k* (k* when C is the identity)."""
    left = k_star if c_inv is None else c_inv @ k_star
    residual = v_star - w_down @ k_prompt
    return (w_down + np.outer(residual, left) / float(left @ k_prompt)).astype(np.float32)


def clamp(delta: np.ndarray, limit: float) -> np.ndarray:
    """Scale `delta` down to norm `limit` if it is longer."""
    n = float(np.linalg.norm(delta))
    return delta * (limit / n) if n > limit else delta
