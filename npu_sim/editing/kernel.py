"""The editing kernel as an NPU graph: tf_model.TfLlama.kernel exported to a W8A16 TFLite
model (int8 weights, static per-tensor int16 activations: TFLite's 16x8 quantization), run
by LiteRT through firmware_sim's Emulator and costed by check() on the NPU profile.

Calibration feeds the real prefix-cache inputs with deltas of norm 0 up to 1.5x the clamp
radius, so the delta input's int16 step stays far below a ZO perturbation of eps 1e-3 (its
scale is reported as `delta_step`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware_sim.emulator import Emulator
from firmware_sim.records import Report


@dataclass
class KernelShape:
    layer: int
    prefix: int
    suffix: int
    out_rows: tuple[int, ...]


class EditingKernel:
    """One static-shape editing kernel for one prompt, loaded on the NPU emulator."""

    def __init__(self, tfm, shape: KernelShape, h: np.ndarray, k_cache: np.ndarray,
                 v_cache: np.ndarray, delta_norm: float, device="sd8gen3_htp",
                 calibration: int = 5, seed: int = 0, batch: int | None = None):
        import tensorflow as tf

        self.shape = shape
        self.batch = batch
        if batch:
            fn = tfm.kernel_batched(shape.layer, shape.prefix, shape.suffix, shape.out_rows,
                                    batch)
        else:
            fn = tfm.kernel(shape.layer, shape.prefix, shape.suffix, shape.out_rows)
        self.cached = len(fn.input_signature) == 4
        rng = np.random.default_rng(seed)
        dim = h.shape[1]
        cal = []
        for i in range(calibration):
            d = rng.normal(size=dim).astype(np.float32)
            d *= 1.5 * delta_norm * (i / max(1, calibration - 1)) / np.linalg.norm(d)
            cal.append(d)

        def samples():
            if batch:
                # the same deltas as the unbatched kernel's calibration, as rows (repeated to
                # fill a batch): every tensor sees the same value range, so the static int16
                # scales match the unbatched kernel's up to float rounding in calibration
                # (mobiedit's module docstring says what that rounding does to the rows)
                for j in range(0, calibration, batch):
                    rows = [cal[(j + r) % calibration] for r in range(batch)]
                    d = np.stack(rows)
                    yield [h, k_cache, v_cache, d] if self.cached else [h, d]
                return
            for d in cal:
                yield [h, k_cache, v_cache, d] if self.cached else [h, d]

        conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = samples
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
        from edgesim.logs import quiet

        with quiet():             # the converter's C++ and Keras' export lines
            self.tflite = conv.convert()
        self.loaded = Emulator(device).load(self.tflite)
        names = ["h", "k_cache", "v_cache", "delta"] if self.cached else ["h", "delta"]
        self._order = [next(i for i, t in enumerate(self.loaded.inputs)
                            if t.name == n or t.name.endswith(f"_{n}:0") or
                            t.name.endswith(f"_{n}")) for n in names]
        self._fixed = {"h": h, "k_cache": k_cache, "v_cache": v_cache}
        delta_t = self.loaded.inputs[self._order[-1]]
        self.delta_step = float(delta_t.quant.scale[0])
        out = self.loaded.outputs[0]
        self._out_scale, self._out_zero = float(out.quant.scale[0]), int(out.quant.zero_point[0])
        self.forward_passes = 0       # deltas evaluated (one forward pass each)
        self.invocations = 0          # graph invocations (a batched one runs `batch` deltas)

    @property
    def ledger(self) -> Report:
        return self.loaded.ledger

    def logits(self, delta: np.ndarray) -> np.ndarray:
        """Dequantized logits [len(out_rows), vocab] for `delta` (one NPU forward pass; a
        batched kernel runs it as a whole invocation with `delta` in every row)."""
        if self.batch:
            return self.logits_batch(np.repeat(np.asarray(delta, np.float32)[None],
                                               self.batch, 0), count=1)[0]
        return self._run(delta, 1)

    def logits_batch(self, deltas: np.ndarray, count: int | None = None) -> np.ndarray:
        """Dequantized logits [batch, len(out_rows), vocab] for deltas [batch, D] in one
        invocation of the batched kernel (`count` forward passes recorded, default batch)."""
        assert self.batch and deltas.shape[0] == self.batch, "not a batch of this kernel's size"
        return self._run(deltas, self.batch if count is None else count)

    def _run(self, delta: np.ndarray, passes: int) -> np.ndarray:
        names = ["h", "k_cache", "v_cache", "delta"] if self.cached else ["h", "delta"]
        arrays: list = [None] * len(names)
        for n, i in zip(names, self._order):
            arrays[i] = delta.astype(np.float32) if n == "delta" else self._fixed[n]
        result = self.loaded.run(arrays)
        self.forward_passes += passes
        self.invocations += 1
        return (result.outputs[0].astype(np.float64) - self._out_zero) * self._out_scale
