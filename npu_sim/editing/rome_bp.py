"""ROME's v* by backpropagation (kmeng01/rome compute_v): the baseline MobiEdit replaces.

delta (added to the edit layer's MLP output at the subject's last token of every prompt) is
trained with Adam through the float32 TensorFlow model on NLL(target | context template +
prompt) + kl_factor x KL(original || edited) of the next token after "{subject} is a"
+ weight_decay x ||delta|| / ||v_init||^2, ||delta|| clamped to clamp_norm_factor ||v_init||;
it stops when the loss falls below loss_stop (as ROME does) or after `steps` steps.

The float graph it differentiates is the editing kernel's float twin (kernel.FloatKernel:
TfLlama.kernel fed as the quantized one is): only the layers after the edit layer, from the
subject's last token on, since nothing before depends on delta. That is the same function
of delta as ROME's whole forward pass, computed once per shape bucket instead of traced per
prompt. The ledger costs what ROME computes on the phone, whole passes (costs.bp_step), on
the mobile-CPU profile.
"""

from __future__ import annotations

import numpy as np

from firmware_sim.devices.cpu import load_cpu

from . import costs
from .hparams import HParams
from .kernel import FloatKernel
from .rome import EditRequest, clamp, objective_sequences


def optimise(model, tfm, req: EditRequest, hp: HParams, v_init: np.ndarray, device: str,
             progress=None) -> tuple[np.ndarray, dict]:
    import tensorflow as tf

    bp = hp.rome_bp
    cpu = load_cpu(device)
    objective = objective_sequences(model, req, hp.context_templates, hp.kl_prompt)
    seqs, kl_seq, every = objective.edits, objective.kl, objective.sequences
    suffix = FloatKernel(model, tfm, hp.layer, every)
    # each target token's (sequence, output row, token id), weighted so that the NLL is the
    # mean over the sequences of each one's mean over its target tokens
    picks = tf.constant([(i, r, t) for i, q in enumerate(seqs)
                         for r, t in enumerate(q.target_ids)], tf.int32)
    weights = tf.constant([1.0 / (len(seqs) * len(q.target_ids)) for q in seqs
                           for _ in q.target_ids], tf.float32)
    base_kl = tf.nn.log_softmax(suffix(tf.zeros([1, model.config.dim]))[0, -1, 0]) \
        if kl_seq else None
    radius = bp.clamp_norm_factor * float(np.linalg.norm(v_init))
    v_norm2 = float(np.linalg.norm(v_init)) ** 2
    delta = tf.Variable(tf.zeros([model.config.dim]))
    opt = tf.keras.optimizers.Adam(learning_rate=bp.lr)
    history, steps = [], 0

    @tf.function
    def loss_and_grad():
        with tf.GradientTape() as tape:
            logp = tf.nn.log_softmax(suffix(delta[None])[0])    # [seqs, rows, vocab]
            nll = -tf.reduce_sum(tf.gather_nd(logp, picks) * weights)
            kl = tf.reduce_sum(tf.exp(base_kl) * (base_kl - logp[-1, 0])) if kl_seq else 0.0
            wd = bp.weight_decay * tf.sqrt(tf.reduce_sum(delta * delta) + 1e-12) / v_norm2
            loss = nll + bp.kl_factor * kl + wd
        return loss, tape.gradient(loss, delta)

    for step in range(bp.steps):
        loss, grad = loss_and_grad()
        steps = step + 1
        history.append(float(loss))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{history[-1]:.3f}")
        if float(loss) < bp.loss_stop or step == bp.steps - 1:
            break
        opt.apply_gradients([(grad, delta)])
        delta.assign(clamp(delta.numpy(), radius))
    lengths = [len(q.ids) for q in every]
    head_rows = [len(q.rows) for q in every]
    totals = costs.bp_totals(model.config, cpu, hp.layer, lengths, steps, head_rows)
    ledger = {"device": cpu.name, "steps": steps, "loss_history": [round(x, 5) for x in history],
              "final_loss": history[-1], "forward_passes": totals.forward_passes,
              "backward_passes": (steps - 1) * len(lengths), "macs": totals.macs,
              "memory_bytes": totals.memory_bytes, "latency_s": totals.latency_s,
              "energy_j": totals.energy_j, "cost": totals.parts}
    return delta.numpy(), ledger
