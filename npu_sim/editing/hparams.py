"""Editing hyperparameters per model, from ``hparams/<model>.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from edgesim.errors import EdgesimError

HPARAMS_DIR = Path(__file__).parent / "hparams"


@dataclass(frozen=True)
class BpParams:
    steps: int = 25
    lr: float = 0.5
    kl_factor: float = 0.0625
    weight_decay: float = 0.5
    clamp_norm_factor: float = 4.0
    loss_stop: float = 0.05


@dataclass(frozen=True)
class ZoParams:
    directions: int = 5
    eps: float = 1e-3
    lr: float = 5e-2
    max_steps: int = 600
    clamp_norm_factor: float = 4.0
    kl_factor: float = 0.0625           # ROME's KL term on the kl_prompt
    weight_decay: float = 0.5           # ROME's weight decay on ||delta|| / ||v_init||^2
    check_every: int = 1
    early_stop: bool = True
    stop_nll: float = float("inf")     # early stop also needs the target's NLL at most this
    # each step's perturbations (and the previous step's check) in one batched invocation
    batched: bool = True
    seed: int = 0


@dataclass(frozen=True)
class HParams:
    model: str
    layer: int
    context_templates: tuple[str, ...] = ("{}",)
    kl_prompt: str = "{} is a"
    mom2: str = "identity"
    rome_bp: BpParams = field(default_factory=BpParams)
    mobiedit: ZoParams = field(default_factory=ZoParams)
    source: str = ""


def _sub(cls, data: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise EdgesimError(f"{where}: unknown hyperparameter(s) {sorted(unknown)}")
    return cls(**data)


def load_hparams(name_or_path: str) -> HParams:
    """`name_or_path`: a file, or a model name matched against ``hparams/*.toml`` (the model's
    GGUF file stem or name, e.g. "stories260K", "smollm2")."""
    path = Path(name_or_path)
    if not path.is_file():
        stem = Path(str(name_or_path)).stem.lower()
        candidates = sorted(HPARAMS_DIR.glob("*.toml"))
        match = [p for p in candidates if p.stem.lower() == stem
                 or stem.startswith(p.stem.lower().split("-")[0])]
        if not match:
            raise EdgesimError(f"no editing hyperparameters for {name_or_path!r} (have: "
                               f"{', '.join(p.stem for p in candidates)}); pass --hparams FILE")
        path = match[0]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EdgesimError(f"cannot read hyperparameters {path}: {exc}") from None
    bp = _sub(BpParams, data.pop("rome_bp", {}), f"{path} [rome_bp]")
    zo = _sub(ZoParams, data.pop("mobiedit", {}), f"{path} [mobiedit]")
    data["context_templates"] = tuple(data.get("context_templates", ("{}",)))
    hp = _sub(HParams, {**data, "rome_bp": bp, "mobiedit": zo, "source": str(path)}, str(path))
    if hp.mom2 not in ("identity", "estimate"):
        raise EdgesimError(f"{path}: mom2 must be 'identity' or 'estimate'")
    return hp
