"""INT8 TFLite export: full-integer post-training quantisation and atomic file writes.

TensorFlow is imported inside the functions that need it, so that importing this module
(and everything on the `edgesim check` path) stays free of it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and a rename, so an
    interrupted write never leaves a truncated file behind. The file gets the mode of the
    file it replaces, else the umask's default (mkstemp alone would leave it 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def convert_int8(model, representative: Callable[[], Iterable[list[np.ndarray]]]) -> bytes:
    """Full-integer quantisation of a Keras model: int8 weights, activations, input, output.

    `representative` yields lists of float32 input arrays (batch 1) for calibration.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TF's start-up chatter quiet
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()
