"""MobiEdit (arXiv 2506.13772): v* = v_init + delta with delta found by a zeroth-order
gradient estimate on quantized forward passes only, then ROME's rank-one update.

Per step: `directions` Gaussian directions u, central differences
(L(delta + eps u) - L(delta - eps u)) / (2 eps), g = the sum of those times u (as
REFERENCE.md gives MobiEdit's estimate), delta -= lr_t g
with lr_t cosine-decayed over `max_steps`, ||delta|| clamped to clamp_norm_factor ||v_init||.
L is ROME's objective (as rome_bp.py): the target's NLL averaged over the edit prompt behind
each context template, + kl_factor x KL(unedited || edited) of the next token after the
kl_prompt ("{subject} is a"; see rome.objective_sequences) + weight_decay x ||delta|| /
||v_init||^2, all from the editing kernel (W8A16 TFLite on the NPU emulator): every
template's rows and the KL row come out of one invocation. The KL reference is the
kernel's own output for delta 0.
Early stopping: every `check_every` steps, one more forward pass checks whether the
target is the greedy continuation of every edit prompt (and, when `stop_nll` is set, its
mean NLL is at most that: a margin against the quantized kernel and the float model parting
ways); the edit stops there.
Prefix cache: one forward pass per prompt fills the residual stream leaving the edit layer
and the later layers' K/V of the tokens before the subject; every kernel pass then computes
only the later layers for the subject's last token onwards and the head for the target rows,
for every prompt at once. The kernel graph is exported once per shape and cached
(kernel.py); only its inputs belong to this edit. The loop (`search`) takes any kernel with
EditingKernel's interface: tools/tune_mobiedit.py runs it on the float kernel to tune.
Batching (`batched`, default on): each step's 2 x directions perturbed deltas, and the
unperturbed delta (the early-stopping check of the previous step's result, and the loss
history), run as the rows of ONE invocation of a batched kernel, so the int8 weights stream
from DRAM once per step instead of once per forward pass. The batched kernel is calibrated on
the unbatched kernel's calibration deltas (as rows), so it gets the same int16 scales up to
float rounding in calibration. Where that rounding changes a scale, the rows differ from the
unbatched kernel's by a few output LSB, far less than either kernel's quantization error
against the float kernel, yet enough for the two ZO trajectories to part and take different
step counts; each is a valid run of the method. The last invocation's perturbation rows are
computed and unused (counted as forward passes).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from npu_sim.devices import load_npu
from npu_sim.llm.reference import log_softmax

from . import costs
from .hparams import HParams
from .kernel import EditingKernel, shape_for
from .rome import EditRequest, Objective, clamp, objective_sequences


def nll(logits: np.ndarray, target_ids) -> float:
    logp = log_softmax(logits)
    return float(-np.mean(logp[np.arange(len(target_ids)), list(target_ids)]))


class Search(NamedTuple):
    """What the ZO loop found: delta, the steps it took, whether it stopped early, the mean
    perturbed loss per step, the early-stopping checks run and the final loss."""
    delta: np.ndarray
    steps: int
    stopped: bool
    history: list
    checks: int
    final_loss: float


def search(kernel, objective: Objective, zo, v_init: np.ndarray, progress=None) -> Search:
    """MobiEdit's zeroth-order loop on `kernel` (an EditingKernel, or any object with its
    `batch`, `logits` and `logits_batch`, fed `objective.sequences`) with the hyperparameters
    `zo` (HParams.mobiedit); batched when `zo.batched`."""
    seqs, kl_seq = objective.edits, objective.kl
    dim = v_init.shape[-1]
    batch = kernel.batch if zo.batched else None
    radius = zo.clamp_norm_factor * float(np.linalg.norm(v_init))
    v_norm2 = float(np.linalg.norm(v_init)) ** 2

    def ok(logits, q) -> bool:
        return bool(np.array_equal(logits.argmax(-1), q.target_ids)
                    and nll(logits, q.target_ids) <= zo.stop_nll)

    def forward(rows: list[np.ndarray]) -> np.ndarray:
        """Logits [len(rows), sequences, out rows, vocab]: one invocation of the batched
        kernel (padded with delta), else one forward pass per row."""
        if batch:
            return kernel.logits_batch(np.stack(rows + [delta] * (batch - len(rows))))[:len(rows)]
        return np.stack([kernel.logits(r) for r in rows])

    def target_nll(out: np.ndarray) -> float:
        """The mean target NLL over the edit sequences, from one row's logits."""
        return float(np.mean([nll(o[:len(q.target_ids)], q.target_ids)
                              for o, q in zip(out, seqs)]))

    def loss(out: np.ndarray, d: np.ndarray) -> float:
        """ROME's objective for delta `d` from its logits [sequences, rows, V]: target NLL +
        kl_factor KL(unedited || edited) on the KL prompt + weight decay."""
        kl = float(np.sum(base_p * (base_logp - log_softmax(out[-1, 0])))) if kl_seq else 0.0
        return (target_nll(out) + zo.kl_factor * kl
                + zo.weight_decay * float(np.linalg.norm(d)) / v_norm2)

    rng = np.random.default_rng(zo.seed)
    delta = np.zeros(dim, np.float32)
    base_logp = base_p = None
    steps, stopped, history, checks = 0, False, [], 0
    for step in range(zo.max_steps + 1):
        last = step == zo.max_steps
        check = step > 0 and zo.early_stop and step % zo.check_every == 0
        us = [] if last else [rng.standard_normal(dim).astype(np.float32)
                              for _ in range(zo.directions)]
        rows = [r for u in us for r in (delta + zo.eps * u, delta - zo.eps * u)]
        # The batched kernel evaluates delta (row 0) with the perturbations; one pass at a
        # time, delta is evaluated only first (the KL reference), for a check or the final
        # loss, and before the perturbations, so that a successful check costs none.
        if batch:
            outs = forward([delta] + rows)
            center, outs = outs[0], outs[1:]
        else:
            center = forward([delta])[0] if check or last or step == 0 else None
        if step == 0 and kl_seq:    # the KL reference: the kernel's own unedited output
            base_logp = log_softmax(center[-1, 0])
            base_p = np.exp(base_logp)
        if check:                                # the previous update's result
            checks += 1
            stopped = all([ok(c[:len(q.target_ids)], q) for c, q in zip(center, seqs)])
        if stopped or last:
            final_loss = loss(center, delta)
            break
        if not batch:
            outs = forward(rows)
        losses = [loss(o, d) for o, d in zip(outs, rows)]
        lr = zo.lr * 0.5 * (1 + math.cos(math.pi * step / zo.max_steps))
        g = np.zeros(dim, np.float64)
        for i, u in enumerate(us):
            g += (losses[2 * i] - losses[2 * i + 1]) / (2 * zo.eps) * u
        delta = clamp((delta - lr * g).astype(np.float32), radius)
        steps = step + 1
        history.append(float(np.mean(losses)))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{history[-1]:.3f}")
    return Search(delta, steps, stopped, history, checks, final_loss)


def optimise(model, tfm, req: EditRequest, hp: HParams, v_init: np.ndarray, device: str,
             progress=None) -> tuple[np.ndarray, dict]:
    """delta for `req`, and the run's ledger (steps, forward passes, costs, savings)."""
    zo = hp.mobiedit
    cfg = model.config
    npu = load_npu(device)
    layer = hp.layer
    objective = objective_sequences(model, req, hp.context_templates, hp.kl_prompt)
    every = objective.sequences
    batch = 2 * zo.directions + 1 if zo.batched else None
    kernel = EditingKernel(model, shape_for(layer, every, batch or 1), every, device, tfm)
    found = search(kernel, objective, zo, v_init, progress)
    steps, stopped, checks = found.steps, found.stopped, found.checks

    # -- the ledger: what ran, what it cost on the NPU, what the optimisations saved ----------
    # (per invocation: check() of the graph that ran; a batched one runs `batch` deltas, each
    # through every sequence)
    rows = batch or 1
    k, r = kernel, kernel.ledger
    prefix_passes = len(every)
    kernel_macs = k.invocations * r.macs
    prefix = [costs.prefix_pass_cost(cfg, npu, len(q.ids)) for q in every]
    prefix_macs = sum(costs.layers_macs(cfg, cfg.n_layers, len(q.ids), len(q.ids))
                      for q in every)
    prefix_s, prefix_j = sum(c.time_s for c in prefix), sum(c.energy_j for c in prefix)
    latency = k.invocations * r.latency_ms * 1e-3 + prefix_s
    energy = k.invocations * r.energy_mj * 1e-3 + prefix_j
    uncached = k.forward_passes * sum(costs.forward_macs(cfg, len(q.ids), len(q.target_ids))
                                      for q in every)
    skipped_steps = zo.max_steps - steps if stopped else 0
    if batch:       # an invocation per skipped step; the checks ride along in row 0
        early = {"invocations_saved": skipped_steps, "forward_passes_saved": skipped_steps * batch,
                 "macs_saved": skipped_steps * r.macs}
    else:
        saved = skipped_steps * 2 * zo.directions - checks
        early = {"invocations_saved": saved, "forward_passes_saved": saved,
                 "macs_saved": saved * r.macs}
    # every sequence's prefix cache and suffix states (the cache is linear in both lengths)
    memory = costs.mobiedit_memory(cfg, layer, r.ram_bytes, k.shape.seqs * k.shape.prefix,
                                   k.shape.seqs * k.shape.suffix)
    ledger = {
        "device": npu.name, "steps": steps, "early_stopped": stopped,
        "loss_history": [round(x, 5) for x in found.history], "final_loss": found.final_loss,
        "forward_passes": k.forward_passes + prefix_passes,
        "kernel_forward_passes": k.forward_passes, "prefix_forward_passes": prefix_passes,
        "batched": bool(batch), "batch": rows, "kernel_invocations": k.invocations,
        "invocations": k.invocations + prefix_passes,
        "check_forward_passes": checks,
        "macs": kernel_macs + prefix_macs,
        "memory_bytes": memory["total"], "memory": memory,
        "latency_s": latency, "energy_j": energy,
        "kernels": [{"prefix": k.shape.prefix, "suffix": k.shape.suffix,
                     "out_rows": k.shape.rows, "seqs": k.shape.seqs, "batch": rows,
                     "macs_per_pass": r.macs // rows,
                     "latency_ms_per_pass": r.latency_ms / rows,
                     "energy_mj_per_pass": r.energy_mj / rows,
                     "macs_per_invocation": r.macs, "latency_ms_per_invocation": r.latency_ms,
                     "energy_mj_per_invocation": r.energy_mj,
                     "weight_bytes": r.details["weight_bytes"],
                     "dram_bytes_per_invocation": r.details["dram_bytes"],
                     "graph_bytes": r.used("graph"), "arena_bytes": r.used("arena"),
                     "session_bytes": r.ram_bytes, "fits": r.fits, "ops": len(r.layers),
                     "weights_in": r.details["weights_in"],
                     "delta_step": k.delta_step, "passes": k.forward_passes,
                     "invocations": k.invocations}],
        "prefix_pass": {"macs": prefix_macs, "latency_s": prefix_s, "energy_j": prefix_j},
        "savings": {
            "prefix_cache": {
                "macs_without": uncached, "macs_with": kernel_macs + prefix_macs,
                "macs_saved": uncached - kernel_macs - prefix_macs},
            "early_stopping": {
                "steps_run": steps, "steps_budget": zo.max_steps, **early},
        },
    }
    return found.delta, ledger
