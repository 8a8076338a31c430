"""Knowledge editing on stories260K: ROME pieces, MobiEdit through the W8A16 TFLite kernel on
the NPU emulator, the backpropagation baseline, metrics, costs and `edgesim edit`.
SmolLM2 runs are marked slow."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED
from edgesim.errors import EdgesimError

STORIES = SHARED / "models" / "stories260K.gguf"
PROMPT = "Once upon a time, there was a little girl named"


@pytest.fixture(scope="module")
def stories():
    from npu_sim.llm import load_model
    return load_model(STORIES)


@pytest.fixture(scope="module")
def request_sue():
    from npu_sim.editing import EditRequest
    return EditRequest("girl", PROMPT, " Sue", paraphrases=("There was a girl named",),
                       neighborhood=("One day, a boy named", "Once upon a time, there was a "
                                     "big dog named"))


@pytest.fixture(scope="module")
def mobiedit_result(stories, request_sue):
    from npu_sim.editing import edit
    return edit(stories, request_sue, "mobiedit")


def test_subject_last_token(stories):
    from npu_sim.editing.rome import make_sequence, subject_last_index

    ids, pos = subject_last_index(stories, PROMPT, "girl")
    assert stories.tokenizer.token(ids[pos]) == "l" and pos == 12   # "▁g ir l", after BOS
    seq = make_sequence(stories, PROMPT, "girl", " Sue")
    assert len(seq.target_ids) == 3 and seq.ids[-2:] == tuple(seq.target_ids[:2])
    assert seq.rows == (13, 14, 15)
    with pytest.raises(EdgesimError, match="does not occur"):
        subject_last_index(stories, PROMPT, "boy")


def test_no_kl_sequence_where_the_subject_is_the_first_token(stories, monkeypatch):
    """Without BOS a one-token subject starts "{subject} is a": delta there sits on the
    attention sink, so the KL term is left out, and ROME-BP edits without it."""
    from npu_sim.editing import EditRequest, edit
    from npu_sim.editing.rome import objective_sequences

    req = EditRequest("Tim", "One day, Tim went to the", " park", target_true=" store")
    seqs, kl = objective_sequences(stories, req, ("{}",), "{} is a")
    assert kl.subject_pos == 1 and kl.ids[0] == stories.tokenizer.bos_id
    monkeypatch.setattr(stories.tokenizer, "add_bos", False)
    seqs, kl = objective_sequences(stories, req, ("{}",), "{} is a")
    assert kl is None and len(seqs) == 1 and seqs[0].subject_pos == 3
    r = edit(stories, req, "rome-bp", evaluate_metrics=False)
    assert r.ledger["steps"] >= 1 and np.isfinite(r.ledger["final_loss"])


def test_rank_one_update_writes_exactly_one_direction():
    from npu_sim.editing.rome import rank_one_update

    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 20)).astype(np.float32)
    k_star, k_p, v = (rng.normal(size=n).astype(np.float32) for n in (20, 20, 8))
    new = rank_one_update(w, k_star, k_p, v)
    assert np.allclose(new @ k_p, v, atol=1e-4)                   # the prompt's key -> v*
    other = rng.normal(size=20)
    other -= other @ k_star / (k_star @ k_star) * k_star          # orthogonal to k*
    assert np.allclose(new @ other, w @ other, atol=1e-4)
    assert np.linalg.matrix_rank((new - w).astype(np.float64), tol=1e-4) == 1
    c_inv = np.diag(rng.uniform(0.5, 2, 20)).astype(np.float32)
    assert np.allclose(rank_one_update(w, k_star, k_p, v, c_inv) @ k_p, v, atol=1e-4)


def test_mobiedit_makes_the_girl_sue(stories, request_sue, mobiedit_result):
    from npu_sim.llm.reference import generate_fast

    r = mobiedit_result
    assert r.success and r.metrics["efficacy"] == 1.0
    tok = stories.tokenizer
    assert r.before.startswith(" Lily")
    ids = tok.encode(PROMPT)
    assert tok.decode_continuation(ids, generate_fast(r.model, ids, 3)).startswith(" Sue")
    assert r.metrics["generalization"] == 1.0 and r.metrics["locality"] == 1.0
    # only the edited down-projection changed
    changed = [k for k in stories.weights if not np.array_equal(stories.weights[k],
                                                                 r.model.weights[k])]
    assert changed == ["blk.2.ffn_down.weight"]
    assert r.delta_norm <= 4 * r.v_init_norm + 1e-3                # the clamp


def test_mobiedit_ledger_counts_what_ran(mobiedit_result):
    L = mobiedit_result.ledger
    steps = L["steps"]
    assert L["early_stopped"] and 5 <= steps < 600
    # batched (the default): one invocation per step of 11 rows (the unperturbed delta, whose
    # row 0 is the previous step's early-stopping check, and 5 directions x 2 sides), and the
    # last one, whose row 0 is the successful check; one prefix pass per sequence (the prompt
    # behind each of the 3 context templates, and the KL prompt), all in one kernel
    assert L["batched"] and L["batch"] == 11
    assert L["kernel_invocations"] == steps + 1
    assert L["kernel_forward_passes"] == 11 * (steps + 1)
    assert L["forward_passes"] == L["kernel_forward_passes"] + 4
    assert L["invocations"] == L["kernel_invocations"] + 4
    k = L["kernels"][0]
    assert k["fits"] and k["passes"] == L["kernel_forward_passes"]
    assert k["invocations"] == L["kernel_invocations"]
    assert k["macs_per_invocation"] == 11 * k["macs_per_pass"]
    assert L["macs"] == k["invocations"] * k["macs_per_invocation"] + L["prefix_pass"]["macs"]
    assert L["latency_s"] > k["invocations"] * k["latency_ms_per_invocation"] * 1e-3
    s = L["savings"]
    assert s["early_stopping"]["invocations_saved"] == 600 - steps
    assert s["early_stopping"]["forward_passes_saved"] == (600 - steps) * 11
    assert s["early_stopping"]["macs_saved"] > 0 and s["prefix_cache"]["macs_saved"] > 0
    assert s["prefix_cache"]["macs_without"] > 3 * s["prefix_cache"]["macs_with"]
    assert 0 < k["delta_step"] < 1e-3                                 # eps 1e-3 is resolvable


def test_batched_and_unbatched_mobiedit_both_edit(stories, request_sue, mobiedit_result):
    """The unbatched path (one invocation per forward pass) edits too; its graph's int16
    scales differ from the batched graph's by calibration rounding, so the trajectories may
    part (mobiedit's docstring). Batching cuts the invocations per step ~10x, and with them
    the latency and energy."""
    import dataclasses

    from npu_sim.editing import edit, load_hparams

    hp = load_hparams("stories260K")
    hp = dataclasses.replace(hp, mobiedit=dataclasses.replace(hp.mobiedit, batched=False))
    r = edit(stories, request_sue, "mobiedit", hparams=hp, evaluate_metrics=False)
    b, u = mobiedit_result.ledger, r.ledger
    assert not u["batched"] and u["batch"] == 1
    assert r.success and u["early_stopped"] and abs(u["steps"] - b["steps"]) < b["steps"] / 2
    steps = u["steps"]
    # 5 directions x 2 sides per step, one early-stopping check per step (the last check's
    # logits give the final loss), and the unedited pass that the KL term compares against
    assert u["kernel_forward_passes"] == u["kernel_invocations"] == 10 * steps + steps + 1
    assert u["savings"]["early_stopping"]["forward_passes_saved"] == (600 - steps) * 10 - steps
    keys = ("kernel_invocations", "latency_s", "energy_j")
    per_step = {k: {x: L[x] / (L["steps"] + 1) for x in keys} for k, L in (("b", b), ("u", u))}
    assert per_step["b"]["kernel_invocations"] * 10 < per_step["u"]["kernel_invocations"]
    for x in ("latency_s", "energy_j"):
        assert per_step["b"][x] * 5 < per_step["u"][x]


def _sue_kernel(stories, batch=1):
    from npu_sim.editing.kernel import EditingKernel, shape_for
    from npu_sim.editing.rome import make_sequence

    seq = make_sequence(stories, PROMPT, "girl", " Sue")
    return seq, EditingKernel(stories, shape_for(2, [seq], batch), [seq])


def test_batched_kernel_rows_equal_the_unbatched_kernel(stories):
    """Each row of the batched kernel gives exactly the unbatched kernel's int16 logits for
    its delta (the same calibration data, hence the same static scales); its checked MACs
    scale with the batch, its weight bytes do not."""
    _, one = _sue_kernel(stories)
    _, many = _sue_kernel(stories, 11)
    deltas = np.random.default_rng(3).normal(size=(11, 64)).astype(np.float32)
    deltas[0] = 0
    batched = many.logits_batch(deltas)
    assert batched.shape == (11, 1, 4, 512) and many.invocations == 1
    assert many.forward_passes == 11
    for d, row in zip(deltas, batched):
        assert np.array_equal(one.logits(d), row)                     # exact, not approximate
    assert np.array_equal(many.logits(deltas[1]), one.logits(deltas[1]))
    assert many.ledger.macs == 11 * one.ledger.macs
    # the same weight matrices, read once per invocation
    weights = one.ledger.details["weight_bytes"]
    assert weights <= many.ledger.details["weight_bytes"] < 1.01 * weights
    assert many.ledger.latency_ms < 2 * one.ledger.latency_ms


def test_kernel_graph_is_w8a16_and_costed_like_the_config_model(stories):
    """The exported kernel: int8 weights, int16 activations, no float op; its MACs equal the
    count from the config (its padded shape); the config-only NPU cost lands near check()'s;
    it tracks the float model's logits."""
    from firmware_sim.pipeline import check
    from npu_sim.devices import load_npu
    from npu_sim.editing import costs
    from npu_sim.llm.reference import forward
    from firmware_sim.graph import load_graph

    seq, kern = _sue_kernel(stories)
    shape = kern.shape
    assert (shape.prefix, shape.suffix, shape.rows, shape.seqs) == (16, 4, 4, 1)
    graph = load_graph(kern.tflite)
    sg = graph.main
    dtypes = {sg.tensors[i].dtype for op in sg.operators for i in op.inputs + op.outputs
              if i >= 0}
    assert "float32" not in dtypes and "int16" in dtypes
    fc_weights = {sg.tensors[op.inputs[1]].dtype for op in sg.operators
                  if op.opcode == "FULLY_CONNECTED"}
    assert fc_weights == {"int8"}
    report = check(graph, "sd8gen3_htp")
    assert report.fits
    cfg = stories.config
    assert report.macs == costs.kernel_macs(cfg, 2, 16, 4, 4)
    est = costs.kernel_cost_from_config(cfg, load_npu("sd8gen3_htp"), 2, 16, 4, 4,
                                        ops_per_layer=(len(report.layers) - 6) / 2)
    assert 0.5 < est.latency_s / (report.latency_ms * 1e-3) < 2
    # sequences in one graph: each its own rows and prefix cache, the weights read once
    one = costs.kernel_cost_from_config(cfg, load_npu("sd8gen3_htp"), 2, 16, 4, 4, seqs=1)
    three = costs.kernel_cost_from_config(cfg, load_npu("sd8gen3_htp"), 2, 16, 4, 4, seqs=3)
    assert three.macs == 3 * one.macs == 3 * costs.kernel_macs(cfg, 2, 16, 4, 4)
    prefix_cache = (cfg.n_layers - 3) * 2 * 16 * cfg.kv_dim * 2          # int16 K and V
    assert three.session_bytes - one.session_bytes > 2 * prefix_cache
    # the quantized kernel agrees with the float model (edited by delta) within its int16
    # steps: same predictions, logits within a fraction of their range
    delta = 2 * np.random.default_rng(0).normal(size=64).astype(np.float32)
    for d in (np.zeros(64, np.float32), delta):
        ref = forward(stories, list(seq.ids), edit_layer=2, edit_pos=seq.subject_pos,
                      delta=d)[list(seq.rows)]
        got = kern.logits(d)[0, :3]
        assert (got.argmax(-1) == ref.argmax(-1)).all()
        assert np.abs(got - ref).mean() < 0.03 * np.abs(ref).max()


@pytest.fixture(scope="module")
def bp_result(stories, request_sue):
    from npu_sim.editing import edit
    return edit(stories, request_sue, "rome-bp")


def test_rome_bp_edits_and_costs_more_memory(stories, bp_result, mobiedit_result):
    r = bp_result
    assert r.success and r.ledger["device"] == "sd8gen3_cpu"
    assert 1 <= r.ledger["steps"] <= 25
    c = r.ledger["cost"]
    assert c["weight_bytes"] == stories.config.n_params * 4
    assert c["step_backward_macs"] > 0 and c["activation_bytes"] > 0
    assert r.ledger["memory_bytes"] > mobiedit_result.ledger["memory_bytes"]
    assert r.ledger["forward_passes"] == r.ledger["steps"] * 4     # 3 templates + KL prompt


def test_scaling_to_3b_configs_from_measured_runs(stories, mobiedit_result, bp_result):
    """The 3B estimates reuse the measured steps and prompt shapes; a 3B model's int8
    weights stream from DRAM, so both methods cost far more than on stories260K."""
    from npu_sim.editing.bench import scale

    from npu_sim.editing import load_hparams

    runs = {"mobiedit": [mobiedit_result.to_dict()], "rome-bp": [bp_result.to_dict()]}
    out = scale("qwen2.5-3b-instruct", runs, load_hparams("stories260K"))
    assert out["edit_layer"] == 5 and out["params"] > 3e9
    zo, bp = out["mobiedit"], out["rome-bp"]
    assert bp["memory_bytes"] > 4 * 3.0e9                     # float32 weights alone
    assert 3.0e9 < zo["memory_bytes"] < bp["memory_bytes"]    # int8 weights + cache + state
    assert zo["mean_latency_s"] > 10 * mobiedit_result.ledger["latency_s"]
    for key in ("memory_ratio", "energy_ratio", "latency_ratio"):
        assert out[key] > 0
    # the run was batched; both modes are costed on the same trajectory: one invocation per
    # step streams the 3B model's weights once instead of ~11 times
    assert out["mobiedit_mode"] == "batched"
    assert out["mobiedit"] == out["modes"]["batched"]["mobiedit"]
    m = out["modes"]
    assert m["batched"]["energy_ratio"] > 3 * m["unbatched"]["energy_ratio"]
    assert m["batched"]["latency_ratio"] > 3 * m["unbatched"]["latency_ratio"]


def test_bp_costs_scale_with_the_model():
    from firmware_sim.devices.cpu import load_cpu
    from npu_sim.editing import costs
    from npu_sim.llm.model import load_config

    qwen = load_config("qwen2.5-3b-instruct")
    t = costs.bp_totals(qwen, load_cpu("sd8gen3_cpu"), 5, [12, 15, 18, 6], 25, [1, 1, 1, 1])
    assert t.parts["weight_bytes"] == qwen.n_params * 4 > 12e9
    assert t.memory_bytes > t.parts["weight_bytes"]
    one = costs.bp_totals(qwen, load_cpu("sd8gen3_cpu"), 5, [12, 15, 18, 6], 1, [1, 1, 1, 1])
    assert t.latency_s == pytest.approx(25 * one.latency_s)
    # backward (activation gradients of the 30 layers after layer 5) costs less than forward
    s = costs.bp_step(qwen, 5, [12], [1])
    assert 0 < s.backward_macs < s.forward_macs


def test_batched_kernel_cost_is_each_deltas_work_plus_the_shared_weights():
    """A batch of B deltas: the matrices and the head over B x the rows, the weights and the
    prefix cache read once, and B independent attentions (each delta's suffix against the
    shared prefix and its own suffix, never the other deltas' suffixes)."""
    from npu_sim.devices import load_npu
    from npu_sim.editing import costs
    from npu_sim.llm.model import LlamaConfig, load_config

    npu = load_npu("sd8gen3_htp")
    tiny = LlamaConfig("stories260K", 5, 64, 8, 4, 172, 512)      # weights stay in VTCM
    for cfg, layer in ((tiny, 2), (load_config("qwen2.5-3b-instruct"), 5)):
        def cost(batch, prefix=12):
            return costs.kernel_cost_from_config(cfg, npu, layer, prefix, 8, 3, batch=batch)

        for b in (2, 3, 11):
            assert cost(b).macs == b * cost(1).macs
            # only the attention products depend on the prefix length: a longer prefix
            # costs each of the b deltas what it costs one
            for key in ("latency_s", "energy_j"):
                one = getattr(cost(1, 40), key) - getattr(cost(1), key)
                assert getattr(cost(b, 40), key) - getattr(cost(b), key) == \
                    pytest.approx(b * one, rel=1e-9)
            # each added delta adds its own int16 activations to the session (8 rows through
            # a block, its scores against 12 + 8 keys, its 3 rows of logits), not the
            # weights or the prefix cache
            assert cost(b).session_bytes - cost(1).session_bytes == (b - 1) * 2 * (
                8 * (3 * cfg.ffn + 4 * cfg.dim + cfg.n_heads * 20) + 3 * cfg.vocab)


def test_hparams_files(tmp_path):
    from npu_sim.editing import load_hparams

    hp = load_hparams("stories260K")
    assert hp.layer == 2 and hp.mobiedit.directions == 5 and hp.mobiedit.eps == 1e-3
    assert hp.mobiedit.batched
    assert hp.rome_bp.lr == 0.5 and hp.rome_bp.kl_factor == 0.0625
    smol = load_hparams("smollm2-135m")
    assert smol.model == "smollm2-135m" and smol.mobiedit.eps == 0.1
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "x"\nlayer = 1\n[mobiedit]\nlearning_rate = 3\n')
    with pytest.raises(EdgesimError, match="unknown hyperparameter"):
        load_hparams(str(bad))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgesim.cli", "edit", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_edit_mobiedit_json():
    r = _cli("--model", str(STORIES), "--subject", "girl", "--prompt", PROMPT, "--target",
             " Sue", "--method", "mobiedit", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    for key in ("success", "steps", "forward_passes", "memory_bytes", "latency_s", "energy_j",
                "efficacy", "generalization", "locality"):
        assert key in d
    for key in ("efficacy_score", "paraphrase_score", "neighborhood_score", "rewrite_acc",
                "rephrase_acc", "locality_acc"):
        assert key in d
    assert d["efficacy_score"] in (0.0, 1.0) and 0 <= d["rewrite_acc"] <= 1
    assert d["target_true"] == " Lily. She" and d["paraphrase_score"] is None
    assert d["success"] is True and d["continuation"].startswith(" Sue")
    assert d["device"] == "sd8gen3_htp" and d["ledger"]["savings"]["prefix_cache"]["macs_saved"] > 0


def test_cli_edit_errors_are_one_line():
    r = _cli("--model", str(STORIES), "--subject", "boy", "--prompt", PROMPT, "--target", " Sue")
    assert r.returncode == 2 and "does not occur" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _cli("--model", str(STORIES), "--prompt", PROMPT)
    assert r.returncode == 2 and "--subject" in r.stderr


@pytest.mark.slow
def test_edit_bench_on_smollm2(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "edgesim.cli", "edit", "bench", "--json",
                        "--edits", "1", "--out", str(out)], capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    for key in ("memory_ratio", "energy_ratio", "latency_ratio"):
        assert d[key] > 0
        for s in d["scaled"].values():
            assert s[key] > 0
    assert set(d["scaled"]) == {"qwen2.5-3b-instruct", "llama-3.2-3b"}
    from npu_sim.editing.bench import METRICS
    for method in ("mobiedit", "rome-bp"):
        assert all(d["real"][method][k] is not None for k in METRICS)
    assert json.loads(out.read_text())["runs"]["mobiedit"][0]["ledger"]["kernels"]


def test_estimated_covariance_reweights_the_update(stories, tmp_path, monkeypatch):
    from npu_sim.editing import mom2
    from npu_sim.editing.rome import key_and_value, rank_one_update

    story = ("Once upon a time, there was a little dog. He liked to run and play in the sun "
             "with his friends. One day, a girl named Amy found a red ball in the park. ")
    monkeypatch.setattr(mom2, "sample_text", lambda: story * 40)
    monkeypatch.setattr(mom2, "MIN_TOKENS", 1000)
    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))
    c_inv = mom2.c_inv(stories, 2)
    assert c_inv.shape == (172, 172) and np.allclose(c_inv, c_inv.T, rtol=1e-3, atol=1e-3)
    assert np.linalg.eigvalsh(c_inv.astype(np.float64)).min() > 0
    ids = stories.tokenizer.encode(PROMPT)
    k, v = key_and_value(stories, 2, ids, 12)
    w = stories.weights["blk.2.ffn_down.weight"]
    target = v + 1.0
    a, b = rank_one_update(w, k, k, target), rank_one_update(w, k, k, target, c_inv)
    assert np.allclose(a @ k, target, atol=1e-3) and np.allclose(b @ k, target, atol=1e-3)
    assert not np.allclose(a, b, atol=1e-4)          # another direction: C^-1 k* vs k*
    # cached per model and layer: read back without estimating; a broken file is re-estimated
    [path] = (tmp_path / "edit-mom2").iterdir()
    estimate = mom2.estimate
    monkeypatch.setattr(mom2, "estimate", None)
    assert np.array_equal(mom2.c_inv(stories, 2), c_inv)
    path.write_bytes(b"broken")
    monkeypatch.setattr(mom2, "estimate", estimate)
    assert np.array_equal(mom2.c_inv(stories, 2), c_inv)
    monkeypatch.setattr(mom2, "MIN_TOKENS", 10**6)
    path.unlink()
    with pytest.raises(EdgesimError, match="fewer than"):
        mom2.c_inv(stories, 2)


@pytest.mark.slow
def test_batched_kernel_rows_on_smollm2_agree_within_the_quantisation():
    """On SmolLM2 (massive residual activations) the batched graph's calibration lands on
    int16 scales that differ from the unbatched graph's in the last digits, so the rows are
    not bit-equal: they differ by far less than either kernel differs from the float one."""
    from npu_sim.editing import load_hparams, rome
    from npu_sim.editing.kernel import INPUTS, EditingKernel, feed, shape_for
    from npu_sim.editing.rome import edit_sequences
    from npu_sim.llm import load_model
    from npu_sim.llm.tf_model import TfLlama
    from npu_sim.editing.bench import load_cases

    m, hp = load_model("smollm2"), load_hparams("smollm2-135m")
    tfm, req = TfLlama(m), load_cases()[0].request
    seqs = edit_sequences(m, req, hp.context_templates[:1])
    _, v_init = rome.key_and_value(m, hp.layer, *rome.subject_last_index(m, req.prompt,
                                                                         req.subject))
    one = EditingKernel(m, shape_for(hp.layer, seqs), seqs, tfm=tfm)
    many = EditingKernel(m, shape_for(hp.layer, seqs, 11), seqs, tfm=tfm)
    radius = 4 * float(np.linalg.norm(v_init))
    rng = np.random.default_rng(0)
    deltas = 0.2 * radius / np.sqrt(576) * rng.standard_normal((11, 576)).astype(np.float32)
    s = many.shape
    fn = tfm.kernel(s.layer, s.prefix, s.suffix, s.rows, s.batch, s.seqs)
    inputs = feed(m, s, seqs)
    ref = fn(*[inputs[n] for n in INPUTS[:-1]], deltas).numpy()
    single = np.stack([one.logits(d) for d in deltas])
    batched = many.logits_batch(deltas)
    between = np.abs(batched - single).max()
    assert between < 0.1 * np.abs(single - ref).max()
    assert np.abs(batched - ref).mean() < 1.05 * np.abs(single - ref).mean()
