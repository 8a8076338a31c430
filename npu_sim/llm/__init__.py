"""LLMs for on-device editing: GGUF loading (with the tokenizer from the file's metadata), a
NumPy reference forward pass and a TensorFlow forward pass that is differentiable and exports
to quantized TFLite graphs."""

from .model import LlamaConfig, LlamaModel, load_model, resolve_model

__all__ = ["LlamaConfig", "LlamaModel", "load_model", "resolve_model"]
