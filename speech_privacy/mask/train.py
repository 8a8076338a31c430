"""Training a mask generator with the DiffMask objective (De Cao et al. 2020), as SILENCE does.

With p = softmax(local SLU(x)) on the clean clip and q = softmax(local SLU(x * z)) on the clip
masked with relaxed hard-concrete gates z ~ HC(log_alpha = generator(x)):

    minimise over the generator   L0(log_alpha) / k  +  lambda * (KL(p || q) - gamma)
    maximise over lambda >= 0     the same, by gradient ascent: lambda += lr * (KL - gamma),
                                  then clamp lambda to [0, lambda_max]

so the generator keeps as few segments as it can (expected L0 as a fraction of the k
segments) while the intent distribution stays within gamma nats of the clean one: lambda
grows while the constraint is violated (KL > gamma) and decays back towards 0, where it is
clamped, while it holds. The local SLU is frozen. KL is averaged over the batch.

Noise annealing (`anneal`): the hard-concrete gates are stochastic while training but the
device applies the deterministic mask (HardConcrete.binary_mask). Against a local SLU that
tolerates random segment drops (slu.train_slu with `drop`), the generator can meet the KL
bound with the gates' own noise: it parks every logit just above the threshold, so that
training drops a random share of the segments while the deterministic mask keeps them all
(a mask ratio of 0 at inference). Scaling the logistic noise down to 0 over the first
`anneal` fraction of the steps ends training on the noise-free gate, whose rounding is the
inference mask, so the KL constraint is met by the mask the device sends. The objective
(L0 s.t. KL <= gamma) is unchanged; the expected L0 keeps the full noise so that it stays a
smooth count of kept segments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from .gate import HardConcrete, MaskError, apply_mask
from .generator import MaskGenerator

DEFAULT_GAMMA = 0.15          # KL bound, nats (SILENCE)
LAMBDA_MAX = 200.0            # the multiplier's clamp (SILENCE)


class Lagrangian:
    """The multiplier of the constraint KL <= gamma, updated by projected gradient ascent."""

    def __init__(self, gamma: float = DEFAULT_GAMMA, learning_rate: float = 1.0,
                 maximum: float = LAMBDA_MAX, initial: float = 0.0):
        if gamma < 0 or learning_rate <= 0 or maximum <= 0 or not 0 <= initial <= maximum:
            raise MaskError(f"Lagrangian needs gamma >= 0, learning rate > 0, maximum > 0 and "
                            f"0 <= initial <= maximum, got {gamma}, {learning_rate}, {maximum}, "
                            f"{initial}")
        self.gamma, self.learning_rate, self.maximum = gamma, learning_rate, maximum
        self.value = float(initial)

    def violation(self, kl: float) -> float:
        """KL - gamma: positive while the constraint is violated."""
        return float(kl) - self.gamma

    def update(self, kl: float) -> float:
        """One ascent step on lambda * (KL - gamma), projected onto [0, maximum]; returns the
        new multiplier."""
        step = self.value + self.learning_rate * self.violation(kl)
        self.value = float(min(max(step, 0.0), self.maximum))
        return self.value


def kl_divergence(p_logits, q_logits) -> tf.Tensor:
    """KL(p || q) per row, nats, from logits [batch, classes]."""
    log_p = tf.nn.log_softmax(p_logits, axis=-1)
    log_q = tf.nn.log_softmax(q_logits, axis=-1)
    return tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)


@dataclass
class MaskTrainingLog:
    """Per-step history of the mask objective and the final state."""

    l0: list[float] = field(default_factory=list)        # expected kept fraction
    kl: list[float] = field(default_factory=list)        # batch mean KL, nats
    multiplier: list[float] = field(default_factory=list)
    seconds: float = 0.0
    restored_step: int | None = None       # set when the collapse guard restored weights
    validation: dict | None = None         # the operating point set on held-out clips

    def to_dict(self) -> dict:
        tail = slice(-20, None)
        return {"steps": len(self.l0), "seconds": round(self.seconds, 1),
                "final_expected_keep": float(np.mean(self.l0[tail])) if self.l0 else None,
                "final_kl": float(np.mean(self.kl[tail])) if self.kl else None,
                "final_multiplier": self.multiplier[-1] if self.multiplier else None,
                "restored_step": self.restored_step, "validation": self.validation}


def train_mask_generator(generator: MaskGenerator, slu_model, audio: np.ndarray,
                         steps: int = 600, batch_size: int = 16, learning_rate: float = 3e-3,
                         gamma: float = DEFAULT_GAMMA, lagrange_lr: float = 1.0,
                         seed: int = 0, progress: bool = True,
                         anneal: float = 0.0) -> MaskTrainingLog:
    """Train `generator` (in place) against the frozen Keras `slu_model` (waveform -> intent
    logits) on float32 clips `audio` [N, samples]; returns the training log. `anneal` > 0
    scales the gates' logistic noise down linearly from 1 to 0 over the first `anneal`
    fraction of the steps (module docstring)."""
    from tqdm import tqdm

    if steps < 1 or batch_size < 1:
        raise MaskError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    if not 0.0 <= anneal <= 1.0:
        raise MaskError(f"anneal must lie in [0, 1], got {anneal}")
    audio = generator._check(audio)
    gate: HardConcrete = generator.gate
    k = generator.config.segments
    model = generator.keras
    tf.keras.utils.set_random_seed(seed)
    noise = tf.random.Generator.from_seed(seed)
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    lagrangian = Lagrangian(gamma, lagrange_lr)
    clean_logits = np.concatenate([slu_model(audio[i:i + 64], training=False).numpy()
                                   for i in range(0, len(audio), 64)])
    multiplier = tf.Variable(0.0, trainable=False)
    noise_scale = tf.Variable(1.0, trainable=False)
    anneal_steps = anneal * steps

    @tf.function(reduce_retracing=True)
    def step(x, p_logits):
        with tf.GradientTape() as tape:
            log_alpha = model(x, training=True)
            z = gate.sample(log_alpha, noise, noise_scale)
            q_logits = slu_model(apply_mask(x, z), training=False)
            kl = tf.reduce_mean(kl_divergence(p_logits, q_logits))
            l0 = tf.reduce_mean(gate.expected_l0(log_alpha)) / k
            loss = l0 + multiplier * (kl - gamma)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return l0, kl

    @tf.function(reduce_retracing=True)
    def deterministic_kl(x, p_logits):
        """Batch KL with the binary mask the device would apply (HardConcrete.binary_mask)."""
        z = tf.cast(model(x, training=False) > gate.threshold, tf.float32)
        return tf.reduce_mean(kl_divergence(p_logits, slu_model(apply_mask(x, z),
                                                                training=False)))

    log = MaskTrainingLog()
    feasible = None                  # (step, weights) of the last iterate meeting the bound
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    order = rng.permutation(len(audio))
    cursor = 0
    with tqdm(range(steps), desc=f"training mask generator {generator.variant}", unit="step",
              disable=not progress) as bar:
        for _ in bar:
            if cursor + batch_size > len(order):
                order, cursor = rng.permutation(len(audio)), 0
            b = order[cursor:cursor + batch_size]
            if anneal_steps > 0:
                noise_scale.assign(max(0.0, 1.0 - len(log.l0) / anneal_steps))
            cursor += batch_size
            xb, pb = tf.constant(audio[b]), tf.constant(clean_logits[b])
            l0, kl = step(xb, pb)
            multiplier.assign(lagrangian.update(float(kl)))
            log.l0.append(float(l0))
            log.kl.append(float(kl))
            log.multiplier.append(lagrangian.value)
            if (len(log.kl) % 10 == 0 and np.mean(log.kl[-10:]) <= gamma
                    and float(deterministic_kl(xb, pb)) <= gamma):
                feasible = (len(log.kl), model.get_weights())
            bar.set_postfix(keep=f"{log.l0[-1]:.2f}", kl=f"{log.kl[-1]:.3f}",
                            lam=f"{lagrangian.value:.2f}")
    if lagrangian.value >= lagrangian.maximum and feasible is not None:
        # Collapse guard: with every segment zeroed the SLU's log-mel input has zero
        # gradient (power is quadratic in the samples), so once a generator drops everything
        # no gradient can reopen a gate; the multiplier then saturates at its clamp with the
        # constraint still violated. The final iterate is infeasible; return the last one
        # (checked every 10 steps) whose last 10 batch KLs met the bound on average and
        # whose deterministic mask met it on its batch (log.restored_step says which).
        model.set_weights(feasible[1])
        log.restored_step = feasible[0]
    log.seconds = time.perf_counter() - start
    return log


def clip_kl(p_logits: np.ndarray, q_logits: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """KL(p || q) in nats of each row of two logit arrays [N, classes], e.g. the local SLU's
    logits on clean clips and on the same clips masked."""
    return np.concatenate([kl_divergence(p_logits[i:i + batch_size],
                                         q_logits[i:i + batch_size]).numpy()
                           for i in range(0, len(p_logits), batch_size)])


def mean_kl(p_logits: np.ndarray, q_logits: np.ndarray) -> float:
    """The mean of clip_kl, nats."""
    return float(np.mean(clip_kl(p_logits, q_logits)))
