"""The plain NumPy forward pass of a Llama-family model, in float32: the reference the
TensorFlow graph is checked against, and the evaluator of edit metrics.

Blocks: x += Wo . attn(rope(Wq . rms(x)), rope(Wk . rms(x)), Wv . rms(x)) with grouped-query
attention; x += Wdown . (silu(Wgate . rms(x)) * Wup . rms(x)); logits = head . rms(x).
Rotary embeddings rotate interleaved pairs (2i, 2i+1), as llama.cpp's GGUF weights need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import LlamaConfig, LlamaModel


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    var = np.mean(x * x, axis=-1, keepdims=True)
    return (x / np.sqrt(var + np.float32(eps))).astype(np.float32) * w


def rope_tables(cfg: LlamaConfig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, [len(positions), head_dim / 2], for pairs (2i, 2i+1)."""
    half = cfg.head_dim // 2
    inv = cfg.rope_theta ** (-np.arange(half, dtype=np.float64) * 2 / cfg.head_dim)
    angles = np.asarray(positions, dtype=np.float64)[:, None] * inv[None, :]
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x: [T, heads, head_dim]; rotate pairs (2i, 2i+1) by position."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


@dataclass
class Trace:
    """What a forward pass exposes for editing, at one layer: the down-projection input
    (ROME's key) and the MLP output (its value) at every position."""

    keys: np.ndarray | None = None      # [T, ffn]
    values: np.ndarray | None = None    # [T, dim]
    resid: np.ndarray | None = None     # residual stream leaving the layer [T, dim]
    rotated_kv: list = field(default_factory=list)   # (k, v) [T, KVH, hd] of every layer


def forward(model: LlamaModel, ids: list[int] | np.ndarray, *, edit_layer: int | None = None,
            edit_pos: int | None = None, delta: np.ndarray | None = None,
            trace: Trace | None = None, stop: bool = False) -> np.ndarray | None:
    """Logits [T, vocab] (float32) of token ids `ids`. With `edit_layer`: add `delta` to that
    layer's MLP output at position `edit_pos`, and/or fill `trace` there (and with it the
    rope-rotated keys and values of every layer); `stop` ends the pass there (no logits:
    for a caller that wants only the trace)."""
    cfg = model.config
    ids = np.asarray(ids, dtype=np.int64)
    T = len(ids)
    x = model.w("token_embd.weight")[ids].astype(np.float32)
    cos, sin = rope_tables(cfg, np.arange(T))
    group = cfg.n_heads // cfg.n_kv_heads
    scale = np.float32(1.0 / np.sqrt(cfg.head_dim))
    causal = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    for i in range(cfg.n_layers):
        h = rms_norm(x, model.w("attn_norm", i), cfg.eps)
        q = (h @ model.w("attn_q", i).T).reshape(T, cfg.n_heads, cfg.head_dim)
        k = (h @ model.w("attn_k", i).T).reshape(T, cfg.n_kv_heads, cfg.head_dim)
        v = (h @ model.w("attn_v", i).T).reshape(T, cfg.n_kv_heads, cfg.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if trace is not None:
            trace.rotated_kv.append((k, v))
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) * scale + causal
        scores -= scores.max(-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(-1, keepdims=True)
        att = np.einsum("hqk,khd->qhd", p, v).reshape(T, cfg.q_dim)
        x = x + att @ model.w("attn_output", i).T
        h = rms_norm(x, model.w("ffn_norm", i), cfg.eps)
        key = silu(h @ model.w("ffn_gate", i).T) * (h @ model.w("ffn_up", i).T)
        out = key @ model.w("ffn_down", i).T
        if i == edit_layer:
            if trace is not None:
                trace.keys, trace.values = key.copy(), out.copy()
            if delta is not None:
                out[edit_pos] += delta
        x = x + out
        if i == edit_layer and trace is not None:
            trace.resid = x.copy()
        if i == edit_layer and stop:
            return None
    x = rms_norm(x, model.w("output_norm.weight"), cfg.eps)
    return (x @ model.head.T).astype(np.float32)


def states(model: LlamaModel, ids: list[int], layer: int) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """What a prefix cache holds for an edit of `layer`'s MLP output: the residual stream
    leaving `layer` [T, D], and the rope-rotated keys and values of the later layers
    [layers after `layer`, T, KVH, hd], all without the edit (an edit at position s leaves
    everything before s, and `layer` itself, unchanged)."""
    trace = Trace()
    forward(model, ids, edit_layer=layer, trace=trace)
    later = trace.rotated_kv[layer + 1:]
    if not later:
        empty = np.zeros((0, len(ids), model.config.n_kv_heads, model.config.head_dim),
                         np.float32)
        return trace.resid, empty, empty
    return trace.resid, np.stack([k for k, _ in later]), np.stack([v for _, v in later])


def log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


def generate(model: LlamaModel, ids: list[int], n: int, stop_eos: bool = True,
             **edit) -> list[int]:
    """Greedy continuation: `n` new token ids after `ids` (no KV cache: short outputs)."""
    ids = list(ids)
    new = []
    for _ in range(n):
        nxt = int(np.argmax(forward(model, ids, **edit)[-1]))
        if stop_eos and nxt == model.tokenizer.eos_id:
            break
        ids.append(nxt)
        new.append(nxt)
    return new


def generate_fast(model: LlamaModel, ids: list[int], n: int) -> list[int]:
    """Greedy continuation with a KV cache (for long generations)."""
    cfg = model.config
    group = cfg.n_heads // cfg.n_kv_heads
    scale = np.float32(1.0 / np.sqrt(cfg.head_dim))
    ks = [np.zeros((0, cfg.n_kv_heads, cfg.head_dim), np.float32) for _ in range(cfg.n_layers)]
    vs = [a.copy() for a in ks]
    out, feed, pos = [], list(ids), 0
    for _ in range(n + 1):
        T = len(feed)
        cos, sin = rope_tables(cfg, np.arange(pos, pos + T))
        x = model.w("token_embd.weight")[np.asarray(feed)].astype(np.float32)
        for i in range(cfg.n_layers):
            h = rms_norm(x, model.w("attn_norm", i), cfg.eps)
            q = apply_rope((h @ model.w("attn_q", i).T).reshape(T, cfg.n_heads, cfg.head_dim),
                           cos, sin)
            k = apply_rope((h @ model.w("attn_k", i).T).reshape(T, cfg.n_kv_heads,
                                                                 cfg.head_dim), cos, sin)
            v = (h @ model.w("attn_v", i).T).reshape(T, cfg.n_kv_heads, cfg.head_dim)
            ks[i], vs[i] = np.concatenate([ks[i], k]), np.concatenate([vs[i], v])
            K, V = np.repeat(ks[i], group, axis=1), np.repeat(vs[i], group, axis=1)
            S = len(K)
            mask = np.triu(np.full((T, S), -np.inf, np.float32), S - T + 1)
            scores = np.einsum("qhd,khd->hqk", q, K) * scale + mask
            p = np.exp(scores - scores.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            x = x + np.einsum("hqk,khd->qhd", p, V).reshape(T, cfg.q_dim) @ \
                model.w("attn_output", i).T
            h = rms_norm(x, model.w("ffn_norm", i), cfg.eps)
            x = x + (silu(h @ model.w("ffn_gate", i).T) * (h @ model.w("ffn_up", i).T)) @ \
                model.w("ffn_down", i).T
        logits = rms_norm(x[-1:], model.w("output_norm.weight"), cfg.eps) @ model.head.T
        pos += T
        if len(out) == n:
            break
        nxt = int(np.argmax(logits[-1]))
        if nxt == model.tokenizer.eos_id:
            break
        out.append(nxt)
        feed = [nxt]
    return out
