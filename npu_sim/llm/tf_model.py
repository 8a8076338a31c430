"""The editing kernel in TensorFlow: the layers after the edit layer, from a prefix cache,
for many deltas and sequences at once. Differentiable in delta (the backpropagation
baseline, rome_bp.py) and exportable to quantized TFLite graphs (MobiEdit's forward passes
on the NPU, editing/kernel.py).

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

MASK_MARGIN = 20.0


class TfLlama:
    """A LlamaModel's weights as TensorFlow constants, and its editing kernels."""

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
        self._kernels: dict[tuple, object] = {}

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

    def logits(self, x):
        return tf.matmul(self.rms(x, self.norm), self.head)

    # -- the editing kernel: many deltas and sequences in one invocation ---------------------
    def _attention_kernel(self, q, k, v, kp, vp, mask, n: int, queries: int, prefix: int):
        """q [N*T, H, hd], k and v [N*T, KVH, hd] for N = deltas x sequences of T rows each;
        kp, vp [N, P, KVH, hd] (each one's prefix cache); mask [N*KVH, group*T, P + T] (1 where
        a query may see a key). Returns [N*T, H * hd]."""
        c = self.cfg
        group, kvh, hd, H = c.n_heads // c.n_kv_heads, c.n_kv_heads, c.head_dim, c.n_heads
        T, keys = queries, prefix + queries
        # heads are kv-major (head = kv * group + g), so [N, H, T, hd] -> [N*KVH, group*T, hd]
        qg = tf.reshape(tf.transpose(tf.reshape(q, [n, T, H, hd]), [0, 2, 1, 3]),
                        [n * kvh, group * T, hd])
        k4 = tf.concat([kp, tf.reshape(k, [n, T, kvh, hd])], axis=1)
        v4 = tf.concat([vp, tf.reshape(v, [n, T, kvh, hd])], axis=1)
        kg = tf.reshape(tf.transpose(k4, [0, 2, 1, 3]), [n * kvh, keys, hd])
        vg = tf.reshape(tf.transpose(v4, [0, 2, 1, 3]), [n * kvh, keys, hd])
        scores = tf.matmul(qg * (1.0 / float(np.sqrt(hd))), kg, transpose_b=True)
        floor = tf.reduce_min(scores, axis=-1, keepdims=True) - MASK_MARGIN
        p = tf.nn.softmax(floor + (scores - floor) * mask, axis=-1)         # masked: floor
        out = tf.matmul(p, vg)                                              # [N*KVH, group*T, hd]
        out = tf.transpose(tf.reshape(out, [n, H, T, hd]), [0, 2, 1, 3])
        return tf.reshape(out, [n * T, c.q_dim])

    def _block_kernel(self, i: int, x, cos, sin, kp, vp, mask, n: int, queries: int):
        """`block` on x [N*T, D] (N = deltas x sequences), each against its prefix cache."""
        c, L = self.cfg, self.layers[i]
        NT = x.shape[0]
        h = self.rms(x, L["attn_norm"])
        q = self.rope(tf.reshape(tf.matmul(h, L["q"]), [NT, c.n_heads, c.head_dim]), cos, sin)
        k = self.rope(tf.reshape(tf.matmul(h, L["k"]), [NT, c.n_kv_heads, c.head_dim]),
                      cos, sin)
        v = tf.reshape(tf.matmul(h, L["v"]), [NT, c.n_kv_heads, c.head_dim])
        P = kp.shape[1]
        x = x + tf.matmul(self._attention_kernel(q, k, v, kp, vp, mask, n, queries, P), L["o"])
        h = self.rms(x, L["ffn_norm"])
        key = tf.nn.silu(tf.matmul(h, L["gate"])) * tf.matmul(h, L["up"])
        return x + tf.matmul(key, L["down"])

    def kernel(self, layer: int, prefix: int, suffix: int, rows: int, batch: int = 1,
               seqs: int = 1):
        """The editing kernel: for each of `batch` deltas and each of `seqs` sequences, the
        delta added to the residual stream leaving `layer` (its MLP output) at suffix row 0,
        then the later layers over `suffix` positions after `prefix` cached ones, and the head
        for `rows` chosen rows. Everything that depends on the edit is an input, so one graph
        serves every edit of this shape (npu_sim.editing.kernel feeds it):

        - h [seqs, suffix, D]: the residual stream leaving `layer`, unedited;
        - k_cache, v_cache [later layers, seqs, prefix, KVH, hd]: their rope-rotated keys and
          values of the tokens before row 0 (a shorter prefix is padded and masked);
        - mask [seqs, suffix, prefix + suffix]: 1 where a query may see a key;
        - cos, sin [seqs, suffix, hd/2]: the rope tables of the suffix's positions;
        - rows [batch * seqs * rows] int32: the output rows, as flat indices into
          [batch, seqs, suffix];
        - delta [batch, D].

        Output: logits [batch, seqs, rows, vocab]. A tf.function with a fixed signature
        (static shapes, as an NPU graph needs; one per shape, kept by this object, so that it
        is traced once); the weights are read once per invocation."""
        key = (layer, prefix, suffix, rows, batch, seqs)
        if key not in self._kernels:
            self._kernels[key] = self._kernel(*key)
        return self._kernels[key]

    def _kernel(self, layer: int, prefix: int, suffix: int, rows: int, batch: int, seqs: int):
        c = self.cfg
        n_later = c.n_layers - layer - 1
        B, S, T, P, R = int(batch), int(seqs), int(suffix), int(prefix), int(rows)
        N = B * S
        group, kvh, hd = c.n_heads // c.n_kv_heads, c.n_kv_heads, c.head_dim
        onehot = np.zeros((1, S * T, 1), np.float32)
        onehot[0, ::T] = 1.0                                        # row 0 of each sequence

        def per_delta(a):
            """[S, ...] -> [B*S, ...]: one copy per delta."""
            return tf.concat([a] * B, axis=0) if B > 1 else a

        def body(h, kc, vc, mask, cos, sin, rows_idx, delta):
            x = tf.reshape(h, [1, S * T, c.dim]) + tf.constant(onehot) * tf.reshape(
                delta, [B, 1, c.dim])
            x = tf.reshape(x, [N * T, c.dim])
            m = tf.concat([mask] * group, axis=1)                    # [S, group*T, keys]
            m = tf.reshape(tf.concat([m[:, None]] * kvh, axis=1), [S * kvh, group * T, P + T])
            m = per_delta(m)
            cs = tf.reshape(per_delta(cos), [N * T, 1, hd // 2])
            sn = tf.reshape(per_delta(sin), [N * T, 1, hd // 2])
            for j in range(n_later):
                x = self._block_kernel(layer + 1 + j, x, cs, sn, per_delta(kc[j]),
                                       per_delta(vc[j]), m, N, T)
            return tf.reshape(self.logits(tf.gather(x, rows_idx)), [B, S, R, c.vocab])

        cache = tf.TensorSpec([n_later, S, P, kvh, hd], tf.float32)
        signature = [tf.TensorSpec([S, T, c.dim], tf.float32, name="h"),
                     tf.TensorSpec.from_spec(cache, name="k_cache"),
                     tf.TensorSpec.from_spec(cache, name="v_cache"),
                     tf.TensorSpec([S, T, P + T], tf.float32, name="mask"),
                     tf.TensorSpec([S, T, hd // 2], tf.float32, name="cos"),
                     tf.TensorSpec([S, T, hd // 2], tf.float32, name="sin"),
                     tf.TensorSpec([B * S * R], tf.int32, name="rows"),
                     tf.TensorSpec([B, c.dim], tf.float32, name="delta")]
        return tf.function(body, input_signature=signature)
