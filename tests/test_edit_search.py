"""MobiEdit's zeroth-order loop (mobiedit.search) on an exact toy kernel: logits linear in
delta, computed row by row, so that batching cannot change a single value."""

from dataclasses import replace

import numpy as np

from npu_sim.editing.hparams import ZoParams
from npu_sim.editing.mobiedit import nll, search
from npu_sim.editing.rome import Objective, Sequence

DIM, VOCAB, TARGET = 16, 6, 4


class LinearKernel:
    """logits[seq, row] = W[seq, row] @ delta + b[seq, row]: two sequences (the edit and the
    KL prompt), one output row each."""

    def __init__(self, batch: int):
        rng = np.random.default_rng(1)
        self.w = rng.normal(size=(2, 1, VOCAB, DIM))
        self.b = rng.normal(size=(2, 1, VOCAB))
        self.b[0, 0, TARGET] -= 3.0               # the target starts far from greedy
        self.batch = batch
        self.rows = 0

    def logits(self, delta):
        self.rows += 1
        return self.w @ np.asarray(delta, np.float64) + self.b

    def logits_batch(self, deltas):
        assert len(deltas) == self.batch
        return np.stack([self.logits(d) for d in deltas])


OBJECTIVE = Objective([Sequence((1, 2, 3), 1, (TARGET,), 2)], Sequence((1, 5), 1, (0,), 1))
ZO = ZoParams(directions=3, eps=0.1, lr=0.005, max_steps=200, stop_nll=0.5)
V_INIT = np.full(DIM, 0.5, np.float32)


def test_batched_and_unbatched_search_take_the_same_steps():
    batched = search(LinearKernel(2 * ZO.directions + 1), OBJECTIVE, ZO, V_INIT)
    one_by_one = LinearKernel(1)
    unbatched = search(one_by_one, OBJECTIVE, replace(ZO, batched=False), V_INIT)
    assert batched.stopped and unbatched.stopped
    assert batched.steps == unbatched.steps == batched.checks < ZO.max_steps
    assert np.array_equal(batched.delta, unbatched.delta)
    assert batched.history == unbatched.history
    # one at a time: the KL reference, then per step the perturbations and one check each
    assert one_by_one.rows == 1 + batched.steps * (2 * ZO.directions + 1)


def test_search_stops_once_the_target_is_greedy_within_stop_nll():
    kernel = LinearKernel(2 * ZO.directions + 1)
    found = search(kernel, OBJECTIVE, ZO, V_INIT)
    before = kernel.logits(np.zeros(DIM))[0]
    after = kernel.logits(found.delta)[0]
    assert before.argmax() != TARGET and after.argmax() == TARGET
    assert nll(after, (TARGET,)) <= ZO.stop_nll < nll(before, (TARGET,))
    assert found.steps > 1


def test_search_runs_to_max_steps_on_an_unreachable_target_inside_the_clamp():
    zo = replace(ZO, lr=0.2, max_steps=30, stop_nll=0.0,    # NLL 0 is never reached
                 kl_factor=0.0, weight_decay=0.0)       # nothing but the clamp holds delta
    v_init = V_INIT / 8                                 # a clamp radius of 1
    found = search(LinearKernel(2 * zo.directions + 1), OBJECTIVE, zo, v_init)
    assert not found.stopped and found.steps == 30 and len(found.history) == 30
    radius = zo.clamp_norm_factor * np.linalg.norm(v_init)
    assert abs(np.linalg.norm(found.delta) - radius) < 1e-5     # pressed against it
