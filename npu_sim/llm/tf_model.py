"""The forward pass in TensorFlow: differentiable (the backpropagation baseline) and exportable
to quantized TFLite "editing kernel" graphs (MobiEdit's forward passes on the NPU).

Same maths as reference.py, written with TFLite-friendly ops: grouped-query attention as one
BATCH_MATMUL per KV head group (no repeat), interleaved-pair rope with strided slices and
PACK, and causal masking that puts ``row minimum - 20`` instead of -inf (with a 0/1 mask
multiplied in, as int16 TFLite has no select), so that a
statically quantized graph keeps the scores' range (e^-20 of weight is what masked keys keep).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .model import LlamaModel
from .reference import rope_tables

MASK_MARGIN = 20.0


class TfLlama:
    """A LlamaModel's weights as TensorFlow constants, with the blocks as functions."""

    def __init__(self, model: LlamaModel):
        self.model, self.cfg = model, model.config
        c = self.cfg
        self.layers = []
        for i in range(c.n_layers):
            w = lambda n: model.w(n, i)                                     # noqa: E731
            self.layers.append({
                "attn_norm": tf.constant(w("attn_norm")), "ffn_norm": tf.constant(w("ffn_norm")),
                "q": tf.constant(np.ascontiguousarray(w("attn_q").T)),
                "k": tf.constant(np.ascontiguousarray(w("attn_k").T)),
                "v": tf.constant(np.ascontiguousarray(w("attn_v").T)),
                "o": tf.constant(np.ascontiguousarray(w("attn_output").T)),
                "gate": tf.constant(np.ascontiguousarray(w("ffn_gate").T)),
                "up": tf.constant(np.ascontiguousarray(w("ffn_up").T)),
                "down": tf.constant(np.ascontiguousarray(w("ffn_down").T))})
        self.norm = tf.constant(model.w("output_norm.weight"))
        self.head = tf.constant(np.ascontiguousarray(model.head.T))
        self.embed = model.w("token_embd.weight")

    # -- pieces ------------------------------------------------------------------------------
    def rms(self, x, w):
        return x * tf.math.rsqrt(tf.reduce_mean(x * x, axis=-1, keepdims=True)
                                 + self.cfg.eps) * w

    @staticmethod
    def rope(x, cos, sin):
        """x [T, heads, hd]; cos, sin [T, 1, hd/2] (constants)."""
        T, heads, hd = x.shape
        pairs = tf.reshape(x, [T, heads, hd // 2, 2])
        x0, x1 = pairs[..., 0], pairs[..., 1]
        rot = tf.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1)
        return tf.reshape(rot, [T, heads, hd])

    def attention(self, q, k, v, queries: int, prefix: int):
        """q [T, H, hd] (T = queries), k and v [P + T, KVH, hd]: causal over the last T keys,
        full over the P prefix keys. Returns [T, H * hd]."""
        c = self.cfg
        group, kvh, hd = c.n_heads // c.n_kv_heads, c.n_kv_heads, c.head_dim
        T, keys = queries, prefix + queries
        qg = tf.reshape(tf.transpose(tf.reshape(q, [T, kvh, group, hd]), [1, 2, 0, 3]),
                        [kvh, group * T, hd])
        kg = tf.transpose(k, [1, 0, 2])                                   # [KVH, keys, hd]
        vg = tf.transpose(v, [1, 0, 2])
        scores = tf.matmul(qg * (1.0 / float(np.sqrt(hd))), kg, transpose_b=True)
        allowed = np.tril(np.ones((T, keys), bool), prefix)               # query i sees key <= P+i
        mask = tf.constant(np.tile(allowed, (group, 1))[None].astype(np.float32))
        floor = tf.reduce_min(scores, axis=-1, keepdims=True) - MASK_MARGIN
        p = tf.nn.softmax(floor + (scores - floor) * mask, axis=-1)       # masked: floor
        out = tf.matmul(p, vg)                                            # [KVH, group*T, hd]
        out = tf.transpose(tf.reshape(out, [kvh, group, T, hd]), [2, 0, 1, 3])
        return tf.reshape(out, [T, c.q_dim])

    def block(self, i: int, x, cos, sin, k_prefix=None, v_prefix=None, delta=None,
              delta_row=None):
        """One decoder block on x [T, D]; k/v_prefix [P, KVH, hd] (rope applied) are cached
        keys and values of earlier positions. `delta` [D] is added to the MLP output at row
        `delta_row`. Returns x."""
        c, L = self.cfg, self.layers[i]
        T = x.shape[0]
        h = self.rms(x, L["attn_norm"])
        q = self.rope(tf.reshape(tf.matmul(h, L["q"]), [T, c.n_heads, c.head_dim]), cos, sin)
        k = self.rope(tf.reshape(tf.matmul(h, L["k"]), [T, c.n_kv_heads, c.head_dim]), cos, sin)
        v = tf.reshape(tf.matmul(h, L["v"]), [T, c.n_kv_heads, c.head_dim])
        P = 0 if k_prefix is None else k_prefix.shape[0]
        kk = k if not P else tf.concat([k_prefix, k], axis=0)
        vv = v if not P else tf.concat([v_prefix, v], axis=0)
        x = x + tf.matmul(self.attention(q, kk, vv, T, P), L["o"])
        h = self.rms(x, L["ffn_norm"])
        key = tf.nn.silu(tf.matmul(h, L["gate"])) * tf.matmul(h, L["up"])
        out = tf.matmul(key, L["down"])
        if delta is not None:
            onehot = np.zeros((T, 1), np.float32)
            onehot[delta_row] = 1.0
            out = out + tf.constant(onehot) * tf.reshape(delta, [1, c.dim])
        return x + out

    def logits(self, x):
        return tf.matmul(self.rms(x, self.norm), self.head)

    @staticmethod
    def _tables(cfg, positions):
        cos, sin = rope_tables(cfg, np.asarray(positions))
        return tf.constant(cos[:, None, :]), tf.constant(sin[:, None, :])

    # -- whole passes ------------------------------------------------------------------------
    def forward(self, ids, edit_layer: int | None = None, edit_pos: int | None = None,
                delta=None, rows: list[int] | None = None):
        """Logits [T, vocab] of token ids (of `rows` only, when given); `delta` (a tensor or
        variable, [D]) is added to the MLP output of `edit_layer` at position `edit_pos`."""
        ids = np.asarray(ids)
        T = len(ids)
        cos, sin = self._tables(self.cfg, np.arange(T))
        x = tf.constant(self.embed[ids])
        for i in range(self.cfg.n_layers):
            use = delta is not None and i == edit_layer
            x = self.block(i, x, cos, sin, delta=delta if use else None, delta_row=edit_pos)
        return self.logits(x if rows is None else tf.gather(x, list(rows)))

    def kernel(self, layer: int, prefix: int, suffix: int, out_rows: tuple[int, ...]):
        """The editing kernel: `delta` added to the residual stream leaving `layer` (its MLP
        output) at suffix row 0, then the later layers and the head, for `suffix` new
        positions after `prefix` cached ones. Inputs: h [suffix, D] (the residual stream
        leaving `layer`, unedited), k_cache and v_cache [later layers, prefix, KVH, hd]
        (omitted when prefix is 0 or no layer follows), delta [D]. Output: the logits of
        `out_rows` (consecutive suffix rows) [len(out_rows), vocab]. A tf.function with a
        fixed signature (static shapes, as an NPU graph needs)."""
        c = self.cfg
        n = c.n_layers - layer - 1
        cos, sin = self._tables(c, np.arange(prefix, prefix + suffix))
        rows = list(out_rows)
        lo, hi = rows[0], rows[-1] + 1
        assert rows == list(range(lo, hi)), "out_rows must be consecutive"
        onehot = np.zeros((suffix, 1), np.float32)
        onehot[0] = 1.0

        def body(h, kc, vc, delta):
            x = h + tf.constant(onehot) * tf.reshape(delta, [1, c.dim])
            for j in range(n):
                kp = None if kc is None else kc[j]
                vp = None if vc is None else vc[j]
                x = self.block(layer + 1 + j, x, cos, sin, kp, vp)
            return self.logits(x[lo:hi])

        spec_h = tf.TensorSpec([suffix, c.dim], tf.float32, name="h")
        spec_d = tf.TensorSpec([c.dim], tf.float32, name="delta")
        spec_c = (tf.TensorSpec([n, prefix, c.n_kv_heads, c.head_dim], tf.float32)
                   if prefix and n else None)
        return _traced(body, spec_h, spec_d, spec_c)

    # -- batched editing kernel: several deltas in one invocation --------------------------
    def _attention_batched(self, q, k, v, kp, vp, batch: int, queries: int, prefix: int):
        """q [B*T, H, hd], k and v [B*T, KVH, hd] (per delta), kp and vp [P, KVH, hd] (the
        shared prefix cache, or None): `attention` for each of the B deltas, as one
        BATCH_MATMUL over B x KVH groups. Returns [B*T, H * hd]."""
        c = self.cfg
        group, kvh, hd = c.n_heads // c.n_kv_heads, c.n_kv_heads, c.head_dim
        B, T, H = batch, queries, c.n_heads
        keys = prefix + queries
        # heads are kv-major (head = kv * group + g), so [B, H, T, hd] -> [B*KVH, group*T, hd]
        qg = tf.reshape(tf.transpose(tf.reshape(q, [B, T, H, hd]), [0, 2, 1, 3]),
                        [B * kvh, group * T, hd])
        k4, v4 = tf.reshape(k, [B, T, kvh, hd]), tf.reshape(v, [B, T, kvh, hd])
        if prefix:      # the prefix cache, shared by every delta (one copy per delta)
            k4 = tf.concat([tf.concat([kp[None]] * B, axis=0), k4], axis=1)
            v4 = tf.concat([tf.concat([vp[None]] * B, axis=0), v4], axis=1)
        kg = tf.reshape(tf.transpose(k4, [0, 2, 1, 3]), [B * kvh, keys, hd])
        vg = tf.reshape(tf.transpose(v4, [0, 2, 1, 3]), [B * kvh, keys, hd])
        scores = tf.matmul(qg * (1.0 / float(np.sqrt(hd))), kg, transpose_b=True)
        allowed = np.tril(np.ones((T, keys), bool), prefix)
        mask = tf.constant(np.tile(allowed, (group, 1))[None].astype(np.float32))
        floor = tf.reduce_min(scores, axis=-1, keepdims=True) - MASK_MARGIN
        p = tf.nn.softmax(floor + (scores - floor) * mask, axis=-1)
        out = tf.matmul(p, vg)                                      # [B*KVH, group*T, hd]
        out = tf.transpose(tf.reshape(out, [B, H, T, hd]), [0, 2, 1, 3])
        return tf.reshape(out, [B * T, c.q_dim])

    def _block_batched(self, i: int, x, cos, sin, kp, vp, batch: int, queries: int):
        """`block` on x [B*T, D] (B deltas' suffix rows), against a shared prefix cache."""
        c, L = self.cfg, self.layers[i]
        BT = x.shape[0]
        h = self.rms(x, L["attn_norm"])
        q = self.rope(tf.reshape(tf.matmul(h, L["q"]), [BT, c.n_heads, c.head_dim]), cos, sin)
        k = self.rope(tf.reshape(tf.matmul(h, L["k"]), [BT, c.n_kv_heads, c.head_dim]),
                      cos, sin)
        v = tf.reshape(tf.matmul(h, L["v"]), [BT, c.n_kv_heads, c.head_dim])
        P = 0 if kp is None else kp.shape[0]
        x = x + tf.matmul(self._attention_batched(q, k, v, kp, vp, batch, queries, P), L["o"])
        h = self.rms(x, L["ffn_norm"])
        key = tf.nn.silu(tf.matmul(h, L["gate"])) * tf.matmul(h, L["up"])
        return x + tf.matmul(key, L["down"])

    def kernel_batched(self, layer: int, prefix: int, suffix: int, out_rows: tuple[int, ...],
                       batch: int):
        """`kernel` for `batch` deltas in one graph (e.g. the 2 x directions perturbations of
        one ZO step): inputs h [suffix, D] and the prefix cache as in `kernel` (shared by
        every delta), delta [batch, D]; output [batch, len(out_rows), vocab], row b being
        what `kernel` gives for delta[b]. The weights are read once per invocation; MACs and
        activations scale with `batch`."""
        c = self.cfg
        n = c.n_layers - layer - 1
        B = int(batch)
        cos, sin = rope_tables(c, np.arange(prefix, prefix + suffix))
        cos = tf.constant(np.tile(cos, (B, 1))[:, None, :])
        sin = tf.constant(np.tile(sin, (B, 1))[:, None, :])
        rows = list(out_rows)
        lo, hi = rows[0], rows[-1] + 1
        assert rows == list(range(lo, hi)), "out_rows must be consecutive"
        onehot = np.zeros((1, suffix, 1), np.float32)
        onehot[0, 0] = 1.0

        def body(h, kc, vc, delta):
            x = h[None] + tf.constant(onehot) * tf.reshape(delta, [B, 1, c.dim])
            x = tf.reshape(x, [B * suffix, c.dim])
            for j in range(n):
                kp = None if kc is None else kc[j]
                vp = None if vc is None else vc[j]
                x = self._block_batched(layer + 1 + j, x, cos, sin, kp, vp, B, suffix)
            x = tf.reshape(tf.reshape(x, [B, suffix, c.dim])[:, lo:hi], [B * (hi - lo), c.dim])
            return tf.reshape(self.logits(x), [B, hi - lo, c.vocab])

        spec_h = tf.TensorSpec([suffix, c.dim], tf.float32, name="h")
        spec_d = tf.TensorSpec([B, c.dim], tf.float32, name="delta")
        spec_c = (tf.TensorSpec([n, prefix, c.n_kv_heads, c.head_dim], tf.float32)
                   if prefix and n else None)
        return _traced(body, spec_h, spec_d, spec_c)


def _traced(body, spec_h, spec_d, spec_c):
    """`body(h, k_cache, v_cache, delta)` as a tf.function with a fixed signature (the
    editing kernel's inputs, by name); without a prefix cache (`spec_c` None) it takes only
    h and delta."""
    if spec_c is None:
        @tf.function(input_signature=[spec_h, spec_d])
        def kernel(h, delta):
            return body(h, None, None, delta)
    else:
        @tf.function(input_signature=[spec_h, spec_c, spec_c, spec_d])
        def kernel(h, k_cache, v_cache, delta):
            return body(h, k_cache, v_cache, delta)
    return kernel
