"""Build tiny INT8 models with TensorFlow for the probes.

TensorFlow is imported inside functions only: it is slow to import and the rest of edgesim
never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgesim.logs import import_tensorflow, quiet

from ..export import convert_int8


def tf():
    """Import TensorFlow quietly (it is slow to import, so only when models are built)."""
    return import_tensorflow()


@dataclass(frozen=True)
class ModelSpec:
    """A model to convert: body(*inputs) -> output, float input shapes, converter options."""

    body: Callable
    shapes: tuple[tuple[int, ...], ...]
    flags: tuple[str, ...] = ()          # private converter attributes set to True
    float_input: bool = False            # keep a float32 input (adds QUANTIZE)
    float_output: bool = False           # keep a float32 output (adds DEQUANTIZE)


def _keras_model(spec: ModelSpec):
    """`spec` as a Keras model (one layer running the body), for export.convert_int8."""
    keras = tf().keras

    class Body(keras.layers.Layer):
        def call(self, xs):
            return spec.body(*xs)

    inputs = [keras.Input(s[1:], batch_size=s[0]) for s in spec.shapes]
    return keras.Model(inputs, Body()(inputs))


def convert(spec: ModelSpec, seed: int = 0) -> bytes:
    """Full-integer quantisation of `spec` with a representative data set: the project's
    converter (export.convert_int8: int8 input and output), or, for the probes that need other
    settings (private converter flags, float input or output), the same settings plus those."""
    t = tf()
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(16):
            yield [rng.uniform(-1, 1, s).astype(np.float32) for s in spec.shapes]

    with quiet():
        if not (spec.flags or spec.float_input or spec.float_output):
            return convert_int8(_keras_model(spec), representative)
        fn = t.function(spec.body)
        concrete = fn.get_concrete_function(*[t.TensorSpec(s, t.float32) for s in spec.shapes])
        conv = t.lite.TFLiteConverter.from_concrete_functions([concrete])
        conv.optimizations = [t.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = t.float32 if spec.float_input else t.int8
        conv.inference_output_type = t.float32 if spec.float_output else t.int8
        for flag in spec.flags:
            setattr(conv, flag, True)
        return conv.convert()


#: One generator for every weight tensor, so a calibration run builds the same models each time.
_WEIGHT_RNG = np.random.default_rng(1)


def weights(*shape):
    """A constant float weight tensor (quantised by the converter)."""
    return tf().constant(_WEIGHT_RNG.normal(size=shape).astype(np.float32))
