"""The project's own default model for `edgesim demo`: the MLPerf Tiny keyword-spotting
DS-CNN architecture (49x10 MFCC input, 64-channel conv + 4 depthwise-separable blocks,
average pool, 12 classes), built and quantised to INT8 here, so the demo needs no download.

The weights are seeded random, calibrated on seeded random MFCC-range inputs: it is a
memory and latency workload, not a trained classifier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesim.io import atomic_write
from edgesim.logs import quiet
from edgesim.paths import cache_dir

from .export import convert_int8

INPUT_SHAPE = (49, 10, 1)


def build_dscnn(seed: int = 0):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    L = tf.keras.layers
    x = inputs = L.Input(INPUT_SHAPE, batch_size=1)
    x = L.Conv2D(64, (10, 4), strides=2, padding="same", activation="relu")(x)
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.Conv2D(64, 1, activation="relu")(x)
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    x = L.Flatten()(x)
    outputs = L.Dense(12, activation="softmax")(x)
    return tf.keras.Model(inputs, outputs, name="dscnn_kws")


def demo_model_path(seed: int = 0) -> Path:
    """The INT8 demo model, built on first use and cached (EDGESIM_CACHE or ~/.cache)."""
    path = cache_dir() / f"dscnn_kws_int8_seed{seed}.tflite"
    if not path.exists():
        rng = np.random.default_rng(seed)

        def representative():
            for _ in range(32):
                yield [rng.normal(0, 10, size=(1, *INPUT_SHAPE)).astype(np.float32)]

        with quiet():
            data = convert_int8(build_dscnn(seed), representative)
        atomic_write(path, data)
    return path
