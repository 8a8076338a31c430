"""The probe catalogue: which tiny models isolate which operator.

A probe is a family of models that differ only in how many instances of one operator they hold
(chains of 1, 2, 3, or a model with and without one instance), built for a few parameter
variants, so that differencing their reports gives the per-instance numbers and how they scale
with the channel count, the spatial size or the input count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .build import ModelSpec, tf, weights

#: Probe parameters: c = channels (last dimension), s = spatial size, n = inputs of CONCATENATION.
BASE = {"c": 4, "s": 6, "n": 2}
VARIANTS = {"base": {}, "channels": {"c": 8}, "spatial": {"s": 9}, "inputs": {"n": 3}}
#: Parameters of the one-instance model whose minimum arena is bisected: activations so small
#: that a kernel's Prepare(), not the head, binds (Probe.small overrides them where needed).
SMALL = {"s": 1}


@dataclass
class Probe:
    """Models with k = ks[0], ks[1], ... instances of operator `op` and nothing else changing.

    `unit(x, extra_inputs, p)` applies one instance to x; chains apply it k times. Probes whose
    operator the converter merges when repeated use ks=(0, 1) and a `helper` applied once
    (k=0 is the helper alone). `shapes(p)` gives the model input shapes."""

    key: str                                   # unique probe name
    op: str                                    # builtin operator name under test
    unit: Callable
    shapes: Callable[[dict], list[tuple[int, ...]]]
    ks: tuple[int, ...] = (1, 2, 3)
    helper: Callable | None = None             # applied once, before the chain
    helper_op: str = ""                        # the operator `helper` converts to
    flags: tuple[str, ...] = ()
    float_input: bool = False
    float_output: bool = False
    weights: str = ""                          # "per_channel" / "per_tensor" for weighted ops
    variants: tuple[str, ...] = ("base", "channels", "spatial")
    small: dict = field(default_factory=dict)  # overrides SMALL for the minimum-arena model
    note: str = ""                             # caveat copied into the TOML

    def spec(self, k: int, p: dict) -> ModelSpec:
        def body(x, *extra):
            if self.helper is not None:
                x = self.helper(x)
            for _ in range(k):
                x = self.unit(x, extra, p)
            return x
        return ModelSpec(body, tuple(self.shapes(p)), self.flags,
                         self.float_input and k > 0, self.float_output and k > 0)


def probes() -> list[Probe]:
    """Every operator probe. Channel counts stay equal along a chain unless noted."""
    t = tf()
    img = lambda p: [(1, p["s"], p["s"], p["c"])]           # noqa: E731
    vec = lambda p: [(1, p["s"], p["c"])]                   # noqa: E731
    two_img = lambda p: img(p) * 2                          # noqa: E731
    per_tensor_all = ("_experimental_disable_per_channel",)
    per_tensor_dense = ("_experimental_disable_per_channel_quantization_for_dense_layers",)

    def conv(x, _, p):
        return t.nn.conv2d(x, weights(3, 3, p["c"], p["c"]), 1, "SAME") + weights(p["c"])

    def dwconv(x, _, p):
        return t.nn.depthwise_conv2d(x, weights(3, 3, p["c"], 1), [1, 1, 1, 1], "SAME") \
            + weights(p["c"])

    def dense(x, _, p):
        return t.matmul(x, weights(p["c"], p["c"])) + weights(p["c"])

    dense_shape = lambda p: [(p["s"] - 5, p["c"])]          # noqa: E731  batch 1, then 4
    dense_small = {"s": BASE["s"]}                          # batch 1 is as small as it gets
    after_tanh = {"ks": (0, 1), "helper": t.tanh, "helper_op": "TANH"}
    return [
        Probe("conv", "CONV_2D", conv, img, weights="per_channel"),
        Probe("conv/per_tensor", "CONV_2D", conv, img, flags=per_tensor_all,
              weights="per_tensor"),
        Probe("dwconv", "DEPTHWISE_CONV_2D", dwconv, img, weights="per_channel"),
        Probe("dwconv/per_tensor", "DEPTHWISE_CONV_2D", dwconv, img, flags=per_tensor_all,
              weights="per_tensor"),
        Probe("fc", "FULLY_CONNECTED", dense, dense_shape, weights="per_channel",
              small=dense_small),
        Probe("fc/per_tensor", "FULLY_CONNECTED", dense, dense_shape, flags=per_tensor_dense,
              weights="per_tensor", small=dense_small),
        Probe("avgpool", "AVERAGE_POOL_2D", lambda x, _, p: t.nn.avg_pool2d(x, 2, 1, "SAME"),
              img),
        Probe("maxpool", "MAX_POOL_2D", lambda x, _, p: t.nn.max_pool2d(x, 2, 1, "SAME"), img),
        Probe("add", "ADD", lambda x, e, p: x + e[0], two_img),
        Probe("mul", "MUL", lambda x, e, p: x * e[0], two_img),
        Probe("sub", "SUB", lambda x, e, p: x - e[0], two_img),
        Probe("squared_difference", "SQUARED_DIFFERENCE",
              lambda x, e, p: t.math.squared_difference(x, e[0]), two_img),
        Probe("softmax", "SOFTMAX", lambda x, _, p: t.nn.softmax(x), vec,
              note="int8 only; int16 SOFTMAX allocates lookup tables in Prepare() (not probed)"),
        Probe("logistic", "LOGISTIC", lambda x, _, p: t.sigmoid(x), vec),
        Probe("tanh", "TANH", lambda x, _, p: t.tanh(x), vec),
        Probe("leaky_relu", "LEAKY_RELU", lambda x, _, p: t.nn.leaky_relu(x, 0.1), vec),
        Probe("hard_swish", "HARD_SWISH", lambda x, _, p: x * t.nn.relu6(x + 3) / 6, vec),
        Probe("concatenation", "CONCATENATION", lambda x, _, p: t.concat([x] * p["n"], -1),
              vec, variants=("base", "channels", "spatial", "inputs")),
        # MEAN over axis 1 of a rank-5 input: each instance removes one dimension.
        Probe("mean", "MEAN", lambda x, _, p: t.reduce_mean(x, axis=1),
              lambda p: [(1, p["s"], p["s"], p["s"], p["c"])], small={"s": 2}),
        Probe("pad", "PAD", lambda x, _, p: t.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), img),
        Probe("strided_slice", "STRIDED_SLICE", lambda x, _, p: x[:, 1:, :, :], img,
              small={"s": 2}),
        Probe("batch_matmul", "BATCH_MATMUL",
              lambda x, _, p: t.matmul(x, x, transpose_b=True),
              lambda p: [(1, p["c"], p["c"])], variants=("base", "channels"),
              note="probed as x @ x^T (adj_y) on rank-3 int8 inputs only; whether the "
                   "Prepare() allocations depend on the rank or the adjoint flags is untested"),
        # The converter merges or moves repeated instances of these: one instance after a TANH.
        Probe("reshape", "RESHAPE", lambda x, _, p: t.reshape(x, (1, p["c"], p["s"])), vec,
              **after_tanh),
        Probe("transpose", "TRANSPOSE", lambda x, _, p: t.transpose(x, [0, 2, 1]), vec,
              **after_tanh, small={"s": 2}),     # s=1 would be a RESHAPE
        Probe("relu", "RELU", lambda x, _, p: t.nn.relu(x), vec, **after_tanh),
        Probe("relu6", "RELU6", lambda x, _, p: t.nn.relu6(x), vec, **after_tanh),
        # QUANTIZE / DEQUANTIZE: float input / output instead of int8 (k=0: int8 model).
        Probe("quantize", "QUANTIZE", lambda x, _, p: x, vec, **after_tanh,
              float_input=True),
        Probe("dequantize", "DEQUANTIZE", lambda x, _, p: x, vec, **after_tanh,
              float_output=True),
    ]
