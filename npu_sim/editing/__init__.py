"""Knowledge editing of Llama-family models, ROME-style (one rank-one update of one MLP
down-projection), with two ways of finding v*: ``rome-bp`` (backpropagation on the float
model, costed on a mobile CPU) and ``mobiedit`` (zeroth-order, forward-only passes through a
W8A16 TFLite editing kernel on the NPU emulator).

    from npu_sim.editing import EditRequest, edit
    result = edit("stories260K.gguf", EditRequest("girl", "...a little girl named", " Sue"),
                  method="mobiedit")
    result.success, result.ledger["latency_s"], result.model   # the edited model
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgesim.errors import EdgesimError

from .hparams import HParams, load_hparams
from .rome import EditRequest

METHODS = {"mobiedit": "sd8gen3_htp", "rome-bp": "sd8gen3_cpu"}   # method -> default device

__all__ = ["METHODS", "EditRequest", "EditResult", "HParams", "edit", "load_hparams"]


@dataclass
class EditResult:
    method: str
    request: EditRequest
    success: bool                 # the target is the greedy continuation (edited float model)
    metrics: dict                 # npu_sim.editing.metrics: scores, accuracies, strict figures
    ledger: dict                  # steps, forward passes, MACs, memory, latency, energy, ...
    continuation: str             # greedy continuation of the prompt after the edit
    before: str                   # ... and before it
    delta_norm: float
    v_init_norm: float
    layer: int = 0                # the edited down-projection's block
    subject_given: str = ""       # the subject as typed, when it matched another span
    model: object = field(repr=False, default=None)   # the edited LlamaModel

    @property
    def tensor(self) -> str:
        return f"blk.{self.layer}.ffn_down.weight"

    def to_dict(self) -> dict:
        L = self.ledger
        return {"method": self.method, "subject": self.request.subject,
                **({"subject_given": self.subject_given} if self.subject_given else {}),
                "prompt": self.request.prompt, "target": self.request.target,
                "layer": self.layer, "kind": self.request.kind, "success": self.success,
                "steps": L["steps"], "forward_passes": L["forward_passes"],
                "macs": int(L["macs"]), "memory_bytes": int(L["memory_bytes"]),
                "latency_s": L["latency_s"], "energy_j": L["energy_j"],
                "device": L["device"], **self.metrics,
                "continuation": self.continuation, "continuation_before": self.before,
                "delta_norm": self.delta_norm, "v_init_norm": self.v_init_norm,
                "ledger": L}


class Editor:
    """One method's way of finding delta; `edit()` wraps it with ROME's shared pieces."""

    name = ""

    def optimise(self, model, tfm, req, hp, v_init, device, progress=None):
        raise NotImplementedError


class MobiEditEditor(Editor):
    name = "mobiedit"

    def optimise(self, *args, **kwargs):
        from . import mobiedit
        return mobiedit.optimise(*args, **kwargs)


class RomeBpEditor(Editor):
    name = "rome-bp"

    def optimise(self, *args, **kwargs):
        from . import rome_bp
        return rome_bp.optimise(*args, **kwargs)


EDITORS = {"mobiedit": MobiEditEditor(), "rome-bp": RomeBpEditor()}


def edit(model, req: EditRequest, method: str = "mobiedit", hparams: HParams | str | None = None,
         device: str | None = None, progress: bool = False, tfm=None,
         baseline: dict | None = None, evaluate_metrics: bool = True,
         batched: bool | None = None, show_tokens: int = 0) -> EditResult:
    """Edit `model` (a LlamaModel, a GGUF path or a known name) so that `req.prompt`
    continues with `req.target`; returns the result with its cost ledger and the edited
    model. `hparams` defaults to the model file's (matched by its stem); `batched`, when
    given, overrides its `mobiedit.batched`. `tfm` reuses a TfLlama of the unedited model.
    A subject that occurs in the prompt only with other capitalisation is replaced by the
    span it matched; an unset `req.target_true` by the unedited greedy continuation.
    `show_tokens`: see metrics.evaluate."""
    from npu_sim.llm import LlamaModel, load_model
    from npu_sim.llm.reference import generate_fast

    from . import metrics, mom2, rome

    if method not in EDITORS:
        raise EdgesimError(f"unknown edit method {method!r}; methods: {', '.join(EDITORS)}")
    if not isinstance(model, LlamaModel):
        model = load_model(model)
    hp = hparams if isinstance(hparams, HParams) else load_hparams(
        hparams or Path(model.path).stem)
    if batched is not None:
        hp = replace(hp, mobiedit=replace(hp.mobiedit, batched=batched))
    if not 0 <= hp.layer < model.config.n_layers - 1:
        raise EdgesimError(f"edit layer {hp.layer} out of range for {model.config.n_layers} "
                           "layers (the last layer has no later layer to carry the edit)")
    start, end = rome.subject_span(req.prompt, req.subject)
    given = ""
    if req.prompt[start:end] != req.subject:
        given, req = req.subject, replace(req, subject=req.prompt[start:end])
    if req.target_true is None and evaluate_metrics:
        true = metrics.default_target_true(model, req.prompt, req.target)
        if not true.strip():
            raise EdgesimError(f"the model ends {req.prompt!r} at once, so the true answer "
                               "cannot be its continuation: give it (--target-true)")
        req = replace(req, target_true=true)
    ids_p, pos_p = rome.subject_last_index(model, req.prompt, req.subject)
    k_prompt, v_init = rome.key_and_value(model, hp.layer, ids_p, pos_p)
    k_star = rome.compute_k_star(model, hp.layer, req, hp.context_templates, k_prompt)
    if tfm is None and method == "rome-bp":     # mobiedit builds one only to export a kernel
        from npu_sim.llm.tf_model import TfLlama
        tfm = TfLlama(model)
    bar = None
    if progress:
        from tqdm import tqdm
        total = hp.mobiedit.max_steps if method == "mobiedit" else hp.rome_bp.steps
        bar = tqdm(total=total, desc=f"{method} {req.subject!r}", unit="step", leave=False)
    try:
        delta, ledger = EDITORS[method].optimise(model, tfm, req, hp, v_init,
                                                 device or METHODS[method], progress=bar)
    finally:
        if bar is not None:
            bar.close()
    c_inv = mom2.c_inv(model, hp.layer) if hp.mom2 == "estimate" else None
    name = f"blk.{hp.layer}.ffn_down.weight"
    w_new = rome.rank_one_update(model.weights[name], k_star, k_prompt, v_init + delta, c_inv)
    edited = model.with_weights({name: w_new})
    if evaluate_metrics:
        scores = metrics.evaluate(model, edited, req, baseline, show_tokens)
    else:
        scores = {"efficacy": float(metrics.target_is_greedy(edited, req.prompt, req.target))}
    n = max(4, len(model.tokenizer.encode_continuation(req.target)) + 2)
    tok = model.tokenizer
    p_ids = tok.encode(req.prompt)
    return EditResult(
        method=method, request=req, success=bool(scores["efficacy"] == 1.0), metrics=scores,
        ledger=ledger, continuation=tok.decode_continuation(p_ids, generate_fast(edited, p_ids, n)),
        before=tok.decode_continuation(p_ids, generate_fast(model, p_ids, n)),
        delta_norm=float(np.linalg.norm(delta)), v_init_norm=float(np.linalg.norm(v_init)),
        layer=hp.layer, subject_given=given, model=edited)
