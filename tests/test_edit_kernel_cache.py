"""The editing kernel is exported once per shape and reused: across edits in a process, from
the disk cache in a later one, and exported again when its cache file is corrupt."""

import numpy as np
import pytest

from conftest import SHARED

STORIES = SHARED / "models" / "stories260K.gguf"
GIRL = ("girl", "Once upon a time, there was a little girl named", " Sue")
BOY = ("boy", "Once upon a time, there was a little boy named", " Max")


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    """An empty disk cache and an empty in-process cache."""
    from npu_sim.editing import kernel

    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))
    monkeypatch.setattr(kernel, "_loaded", {})
    return tmp_path / "edit-kernels"


@pytest.fixture(scope="module")
def stories():
    from npu_sim.llm import load_model
    return load_model(STORIES)


def _edit(model, subject, prompt, target):
    from npu_sim.editing import EditRequest, edit
    return edit(model, EditRequest(subject, prompt, target), "mobiedit", evaluate_metrics=False)


def test_two_edits_share_one_export(stories, fresh_cache):
    from npu_sim.editing import kernel

    before = kernel.conversions
    girl = _edit(stories, *GIRL)
    assert kernel.conversions == before + 1
    # the prompt behind the 3 context templates and the KL prompt: 4 sequences in one graph
    assert [p.name for p in fresh_cache.iterdir()] == \
        [f"{kernel.model_digest(stories)[:16]}-L2-P32-S4-R4-T4-B11-r{kernel.RECIPE}.tflite"]
    boy = _edit(stories, *BOY)
    assert kernel.conversions == before + 1          # the second edit converted nothing
    assert girl.ledger["kernels"][0] == {**boy.ledger["kernels"][0],
                                         "passes": girl.ledger["kernels"][0]["passes"],
                                         "invocations": girl.ledger["kernels"][0]["invocations"]}
    for r, (_, _, target) in ((girl, GIRL), (boy, BOY)):
        assert r.success and r.continuation.startswith(target)
    # a later process (empty memory cache) loads the file instead of converting
    kernel._loaded.clear()
    again = _edit(stories, *BOY)
    assert kernel.conversions == before + 1
    assert again.ledger["loss_history"] == boy.ledger["loss_history"]


def test_corrupt_cache_file_is_exported_again(stories, fresh_cache):
    from npu_sim.editing import kernel
    from npu_sim.editing.rome import make_sequence

    seq = make_sequence(stories, GIRL[1], GIRL[0], GIRL[2])
    shape = kernel.shape_for(2, [seq])
    good = kernel.EditingKernel(stories, shape, [seq])
    path = next(fresh_cache.iterdir())
    blob = path.read_bytes()
    before = kernel.conversions
    for broken in (blob[:len(blob) // 2], blob[:-100] + bytes(100), b"", b"not a kernel"):
        path.write_bytes(broken)
        kernel._loaded.clear()
        rebuilt = kernel.EditingKernel(stories, shape, [seq])
        assert np.array_equal(rebuilt.logits(np.zeros(64, np.float32)),
                              good.logits(np.zeros(64, np.float32)))
    assert kernel.conversions == before + 4
    assert path.read_bytes() == blob                   # the rebuilt file replaced the bad one


def test_the_model_digest_follows_the_weights(stories):
    """An edited model in memory keeps its file's path: its kernels must not be the
    original's."""
    from npu_sim.editing.kernel import model_digest

    name = "blk.3.ffn_down.weight"
    edited = stories.with_weights({name: stories.weights[name] + 1.0})
    assert model_digest(edited) != model_digest(stories) == model_digest(stories)


def test_one_graph_holds_every_template_and_the_kl_prompt(stories):
    """Sequences of different prefix lengths (padded and masked) and several deltas in one
    float kernel give each sequence's rows of the full forward pass with that delta."""
    from npu_sim.editing import kernel, load_hparams
    from npu_sim.editing.rome import (EditRequest, Sequence, edit_sequences,
                                      subject_last_index)
    from npu_sim.llm.reference import forward
    from npu_sim.llm.tf_model import TfLlama

    seqs = edit_sequences(stories, EditRequest(*GIRL), load_hparams("stories260K")
                          .context_templates)
    ids, pos = subject_last_index(stories, "girl is a", "girl")
    seqs.append(Sequence(tuple(ids), pos, (0,), len(ids) - 1))
    shape = kernel.shape_for(2, seqs, 3)
    assert shape.seqs == 4 and len({q.subject_pos for q in seqs}) == 4
    fn = TfLlama(stories).kernel(2, shape.prefix, shape.suffix, shape.rows, 3, 4)
    inputs = kernel.feed(stories, shape, seqs)
    deltas = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    out = fn(*[inputs[n] for n in kernel.INPUTS[:-1]], deltas).numpy()
    for b, d in enumerate(deltas):
        for t, q in enumerate(seqs):
            ref = forward(stories, list(q.ids), edit_layer=2, edit_pos=q.subject_pos,
                          delta=d)[list(q.rows)]
            assert np.abs(out[b, t, :len(q.rows)] - ref).max() < 1e-4 * np.abs(ref).max()
