"""ROME's key covariance C = E[k k^T] of an edit layer's down-projection inputs, estimated
over a text sample and cached per model and layer.

ROME estimates C over about 100,000 Wikipedia samples; any large sample of ordinary text
serves the same purpose (REFERENCE.md, "Evaluation conventions"). Here the sample is the
English prose of Python's own documentation topics (the standard library's
`pydoc_data.topics`, about 65k words), so it needs no download. It runs through the model in
prefill chunks of CHUNK tokens, each a fresh sequence, up to the edit layer only. C is
cached under edgesim.paths.cache_dir("edit-mom2"), keyed by the model's weights, the layer
and SAMPLE; a cache file that does not load is estimated again.
"""

from __future__ import annotations

import io

import numpy as np

from edgesim.errors import EdgesimError
from edgesim.io import atomic_write
from edgesim.paths import cache_dir
from npu_sim.llm.reference import Trace, forward

CHUNK = 512              # tokens per prefill chunk
MIN_TOKENS = 100_000     # the sample's least size in tokens (ROME: ~100k samples)
SAMPLE = "pydoc-topics-1"     # names the text sample and chunking (part of the cache key)
RIDGE = 1e-2             # C + RIDGE x mean eigenvalue x I before inverting


def sample_text() -> str:
    """The documentation topics of this Python, in a fixed order."""
    from pydoc_data.topics import topics
    return "\n\n".join(topics[k] for k in sorted(topics))


def estimate(model, layer: int, ids: list[int]) -> np.ndarray:
    """C [ffn, ffn] (float64): the mean of k k^T over every token of `ids`, run in prefill
    chunks of CHUNK tokens up to `layer`."""
    c = np.zeros((model.config.ffn, model.config.ffn))
    for start in range(0, len(ids), CHUNK):
        trace = Trace()
        forward(model, ids[start:start + CHUNK], edit_layer=layer, trace=trace, stop=True)
        k = trace.keys.astype(np.float64)
        c += k.T @ k
    return c / len(ids)


def invert(c: np.ndarray) -> np.ndarray:
    """(C + RIDGE x mean eigenvalue x I)^-1 as float32."""
    return np.linalg.inv(c + RIDGE * np.trace(c) / len(c) * np.eye(len(c))).astype(np.float32)


def c_inv(model, layer: int) -> np.ndarray:
    """C^-1 for `layer` over the sample (`invert`), C from the cache or estimated and cached."""
    from .kernel import model_digest

    path = cache_dir("edit-mom2", f"{model_digest(model)[:16]}-L{layer}-{SAMPLE}.npy")
    c = None
    try:
        c = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        pass
    if c is None or c.shape != (model.config.ffn, model.config.ffn) or \
            not np.isfinite(c).all():
        ids = model.tokenizer.encode(sample_text())
        if len(ids) < MIN_TOKENS:
            raise EdgesimError(f"the covariance sample has {len(ids)} tokens with this "
                               f"tokenizer, fewer than {MIN_TOKENS}")
        c = estimate(model, layer, ids)
        buf = io.BytesIO()
        np.save(buf, c)
        atomic_write(path, buf.getvalue())
    return invert(c)
