"""INT8 TFLite export: full-integer post-training quantisation.

TensorFlow is imported inside the functions that need it, so that importing this module
(and everything on the `edgesim check` path) stays free of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np


def convert_int8(model, representative: Callable[[], Iterable[list[np.ndarray]]]) -> bytes:
    """Full-integer quantisation of a Keras model: int8 weights, activations, input, output.

    `representative` yields lists of float32 input arrays (batch 1) for calibration.
    """
    from edgesim.logs import import_tensorflow, quiet

    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with quiet():                 # the converter's C++ and Keras' export lines
        return converter.convert()
