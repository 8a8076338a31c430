"""ROME's v* by backpropagation (kmeng01/rome compute_v): the baseline MobiEdit replaces.

delta (added to the edit layer's MLP output at the subject's last token of every prompt) is
trained with Adam through the float32 TensorFlow model on NLL(target | context template +
prompt) + kl_factor x KL(original || edited) of the next token after "{subject} is a"
+ weight_decay x ||delta|| / ||v_init||^2, ||delta|| clamped to clamp_norm_factor ||v_init||;
it stops when the loss falls below loss_stop (as ROME does) or after `steps` steps.
Costed on the mobile-CPU profile from what a step computes (costs.bp_step).
"""

from __future__ import annotations

import numpy as np

from firmware_sim.devices.cpu import load_cpu

from . import costs
from .hparams import HParams
from .rome import EditRequest, clamp, edit_sequences, subject_last_index


def optimise(model, tfm, req: EditRequest, hp: HParams, v_init: np.ndarray, device: str,
             progress=None) -> tuple[np.ndarray, dict]:
    import tensorflow as tf

    bp = hp.rome_bp
    cpu = load_cpu(device)
    layer = hp.layer
    seqs = edit_sequences(model, req, hp.context_templates)
    kl_ids, kl_pos = subject_last_index(model, hp.kl_prompt.format(req.subject), req.subject)
    base_kl = tf.nn.log_softmax(tfm.forward(kl_ids, rows=[len(kl_ids) - 1])[0])
    radius = bp.clamp_norm_factor * float(np.linalg.norm(v_init))
    v_norm2 = float(np.linalg.norm(v_init)) ** 2
    delta = tf.Variable(tf.zeros([model.config.dim]))
    opt = tf.keras.optimizers.Adam(learning_rate=bp.lr)
    history, steps = [], 0

    @tf.function
    def loss_and_grad():
        with tf.GradientTape() as tape:
            nlls = []
            for q in seqs:
                logits = tfm.forward(list(q.ids), layer, q.subject_pos, delta, rows=q.rows)
                logp = tf.nn.log_softmax(logits)
                picked = tf.gather(logp, list(q.target_ids), axis=1, batch_dims=1)
                nlls.append(-tf.reduce_mean(picked))
            nll = tf.add_n(nlls) / len(nlls)
            new_kl = tf.nn.log_softmax(
                tfm.forward(kl_ids, layer, kl_pos, delta, rows=[len(kl_ids) - 1])[0])
            kl = tf.reduce_sum(tf.exp(base_kl) * (base_kl - new_kl))
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
    lengths = [len(q.ids) for q in seqs] + [len(kl_ids)]
    head_rows = [len(q.rows) for q in seqs] + [1]
    totals = costs.bp_totals(model.config, cpu, layer, lengths, steps, head_rows)
    ledger = {"device": cpu.name, "steps": steps, "loss_history": [round(x, 5) for x in history],
              "final_loss": history[-1], "forward_passes": totals.forward_passes,
              "backward_passes": (steps - 1) * len(lengths), "macs": totals.macs,
              "memory_bytes": totals.memory_bytes, "latency_s": totals.latency_s,
              "energy_j": totals.energy_j, "cost": totals.parts}
    return delta.numpy(), ledger
