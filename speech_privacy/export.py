"""INT8 TFLite export of the speech encoders, with a round-trip check and a manifest.

`export_encoders(out_dir)` writes, for each encoder in ENCODERS, `<name>.tflite`: full-integer
post-training quantisation (int8 weights, activations, input and output; calibrated on
corpus clips), batch 1, a 4 s clip of 16 kHz samples in. Each file is written atomically
(temporary file in the same folder, then a rename: `firmware_sim.export.atomic_write`), then
re-loaded from disk with LiteRT and run on held-out clips against the float Keras model. The
agreement figures, each file's sha256 and size, the parameter count, whether the weights are
trained, and the conversion time go into `manifest.json` (also written atomically, and merged
with an existing manifest so `only=` can redo some encoders).

Agreement figures (float model vs dequantised int8 output, over the held-out clips):
    cosine          mean over clips of the cosine similarity of the flattened outputs
    relative_rmse   ||int8 - float|| / ||float||, over all clips
    cosine_voiced   frame outputs only: mean cosine per 20 ms frame over the frames whose
                    input is within 20 dB of the clip's loudest (speech, not the noise floor)
    mask_agreement  mask generators only: share of segments where the int8 model's binary
                    mask (log_alpha > the gate threshold) equals the float model's
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edgesim.errors import EdgesimError
from edgesim.io import atomic_write

from .features import voiced_frames

ENCODERS = ("mask_generator_s", "mask_generator_m", "ppslu_encoder", "vae_encoder")
MANIFEST = "manifest.json"
HEAVY_PARAMETERS = 10_000_000     # encoders above this are calibrated and checked on fewer
HEAVY_CALIBRATION, HEAVY_HELDOUT = 8, 4     # clips (float PPSLU: about 28 GMAC a clip)
MANIFEST_SCHEMA = 1
SAMPLES = 64000


class ExportError(EdgesimError):
    """An export that cannot run (unknown encoder, no clips, a file LiteRT cannot load)."""


@dataclass
class Encoder:
    """A float Keras encoder ready for export: `model` maps float32 [batch, samples] to one
    output; `trained` says whether its weights were trained; `note` says how."""

    name: str
    model: object
    trained: bool
    note: str
    parameters: int
    full_size: bool
    gate_threshold: float | None = None     # mask generators: log_alpha threshold
    source_sha256: str | None = None        # mask generators: the trained weights' file


def build_encoder(name: str, small: bool = False, seed: int = 0,
                  use_trained: bool = True) -> Encoder:
    """The float encoder `name`. `small=True` builds reduced architectures (tests only: a
    1-layer, narrow PPSLU and VAE); the export command always uses the real size. Mask
    generators carry the weights of `edgesim speech train` when it has run, unless
    `use_trained=False` (then: initial weights from `seed`)."""
    if name not in ENCODERS:
        raise ExportError(f"unknown encoder {name!r} (known: {', '.join(ENCODERS)})")
    if name.startswith("mask_generator"):
        return _mask_generator(name[-1].upper(), seed, use_trained)
    if name == "ppslu_encoder":
        from .baselines.ppslu import PpsluConfig, build_ppslu_encoder

        cfg = small_configs()[0] if small else PpsluConfig()
        model = build_ppslu_encoder(cfg, seed)
        return Encoder(name, model, False, _baseline_note(cfg.full_size), model.count_params(),
                       cfg.full_size)
    from .baselines.vae import VaeConfig, build_vae_encoder, device_encoder

    cfg = small_configs()[1] if small else VaeConfig()
    model = device_encoder(build_vae_encoder(cfg, seed))
    return Encoder(name, model, False, _baseline_note(cfg.full_size), model.count_params(),
                   cfg.full_size)


def _baseline_note(full_size: bool) -> str:
    size = "real-size architecture" if full_size else "REDUCED test architecture"
    return (f"{size}, untrained weights (cost figures depend on the architecture only; the "
            "briefly trained reduced-width copy used for utility/privacy is in "
            "`edgesim speech baselines` results)")


def _mask_generator(variant: str, seed: int, use_trained: bool = True) -> Encoder:
    from .mask.gate import HardConcrete
    from .mask.generator import build_mask_generator, load_generator

    generator = load_generator(variant, batch_size=1) if use_trained else None
    trained = generator is not None
    model = generator.keras if trained else build_mask_generator(variant, seed=seed)
    note = ("trained by `edgesim speech train`" if trained else
            "UNTRAINED: initial weights (`edgesim speech train` has not been run, or they were "
            "not asked for); costs are valid, the mask is not")
    return Encoder(f"mask_generator_{variant.lower()}", model, trained, note,
                   model.count_params(), True,
                   generator.threshold if trained else HardConcrete().threshold,
                   trained_source(variant) if trained else None)


def trained_source(variant: str) -> str | None:
    """sha256 of the weights `edgesim speech train` saved for generator `variant` (None:
    none saved)."""
    from .results import generator_path

    path = generator_path(variant)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def stale_exports(out_dir: str | Path) -> list[str]:
    """The mask generators exported into `out_dir` from other weights than the last
    `edgesim speech train` saved (trained again since, or exported untrained before it ran)."""
    entries = _read_manifest(Path(out_dir)).get("encoders", {})
    return [f"mask_generator_{v.lower()}" for v in ("S", "M")
            if f"mask_generator_{v.lower()}" in entries
            and entries[f"mask_generator_{v.lower()}"].get("source_sha256") != trained_source(v)]


def small_configs():
    """(PPSLU, VAE) configurations of the reduced test builds (1 layer / 1 block, narrow)."""
    from .baselines.ppslu import PpsluConfig
    from .baselines.vae import VaeConfig

    return (PpsluConfig(conv_channels=32, hidden=64, layers=1, heads=4, ffn=128, pos_kernel=16,
                        pos_groups=4, intent_dims=32),
            VaeConfig(conv_channels=32, width=64, blocks=1, latent=16))


def fixed_batch(model, samples: int = SAMPLES):
    """`model` with a batch-1 input, so the converter folds every shape computation (a
    dynamic batch leaves SHAPE/GATHER/PACK/REDUCE_PROD operators in the graph)."""
    import keras

    inp = keras.Input(batch_shape=(1, samples), name="waveform")
    return keras.Model(inp, model(inp), name=model.name)


def float_outputs(model, clips: np.ndarray, batch_size: int = 4) -> np.ndarray:
    return np.concatenate([np.asarray(model(clips[i:i + batch_size], training=False))
                           for i in range(0, len(clips), batch_size)])


def int8_outputs(path: str | Path, clips: np.ndarray, threads: int = 2) -> np.ndarray:
    """Run the int8 .tflite at `path` on float32 clips with LiteRT: quantise the input with
    the file's scale and zero point, dequantise the output."""
    from ai_edge_litert.interpreter import Interpreter

    from edgesim.logs import quiet

    try:
        with quiet():             # LiteRT's "Created ... XNNPACK delegate" line
            it = Interpreter(model_path=str(path), num_threads=threads)
            it.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ExportError(f"{path}: LiteRT cannot load it: {exc}") from None
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    if i["dtype"] != np.int8 or o["dtype"] != np.int8:
        raise ExportError(f"{path}: input/output are {i['dtype']}/{o['dtype']}, not int8")
    (si, zi), (so, zo) = i["quantization"], o["quantization"]
    out = []
    for clip in clips:
        q = np.clip(np.round(clip[None] / si + zi), -128, 127).astype(np.int8)
        it.set_tensor(i["index"], q.reshape(i["shape"]))
        it.invoke()
        out.append((it.get_tensor(o["index"]).astype(np.float32) - zo) * so)
    return np.concatenate(out)


def agreement(float_out: np.ndarray, int8_out: np.ndarray,
              gate_threshold: float | None = None, clips: np.ndarray | None = None) -> dict:
    """Agreement figures of int8 against float outputs [clips, ...] (see module docstring).
    With `clips` and frame outputs [clips, frames, d], also `cosine_voiced`: the mean cosine
    per frame over voiced frames (`voiced_frames`)."""
    f = float_out.reshape(len(float_out), -1).astype(np.float64)
    q = int8_out.reshape(len(int8_out), -1).astype(np.float64)
    if f.shape != q.shape:
        raise ExportError(f"int8 output shape {list(int8_out.shape)} differs from the float "
                          f"model's {list(float_out.shape)}")
    norms = np.linalg.norm(f, axis=1) * np.linalg.norm(q, axis=1)
    cos = np.where(norms > 0, (f * q).sum(1) / np.where(norms > 0, norms, 1), 0.0)
    result = {"clips": len(f), "cosine": round(float(cos.mean()), 6),
              "cosine_min": round(float(cos.min()), 6),
              "relative_rmse": round(float(np.linalg.norm(q - f) / max(np.linalg.norm(f),
                                                                       1e-30)), 6)}
    if clips is not None and float_out.ndim == 3:
        voiced = voiced_frames(clips, float_out.shape[1])
        a, b = float_out[voiced].astype(np.float64), int8_out[voiced].astype(np.float64)
        n = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        per_frame = np.where(n > 0, (a * b).sum(1) / np.where(n > 0, n, 1), 0.0)
        result["cosine_voiced"] = round(float(per_frame.mean()), 6)
        result["voiced_frame_share"] = round(float(voiced.mean()), 4)
    if gate_threshold is not None:
        result["mask_agreement"] = round(float(((f > gate_threshold) ==
                                                (q > gate_threshold)).mean()), 6)
        result["kept_float"] = round(float((f > gate_threshold).mean()), 6)
        result["kept_int8"] = round(float((q > gate_threshold).mean()), 6)
    return result


def corpus_clips(calibration: int, heldout: int, seed: int = 0,
                 progress: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """(calibration clips from the training split, held-out clips from the test split,
    a description) of the default synthetic corpus, 4 s at 16 kHz."""
    from .corpus import load_default_corpus

    corpus = load_default_corpus(seed=seed, progress=progress)
    train, test = corpus.split(0.2, seed=seed)
    if corpus.audio.shape[1] != SAMPLES:
        raise ExportError(f"corpus clips have {corpus.audio.shape[1]} samples, need {SAMPLES}")
    rng = np.random.default_rng(seed)
    cal = train.audio[rng.permutation(len(train))[:calibration]]
    held = test.audio[rng.permutation(len(test))[:heldout]]
    return cal, held, (f"synthetic eSpeak corpus (seed {seed}): {len(cal)} calibration clips "
                       f"from the {len(train)}-clip training split, {len(held)} held-out clips "
                       f"from the {len(test)}-clip test split")


def export_encoders(out_dir: str | Path, names: Sequence[str] = ENCODERS,
                    calibration: np.ndarray | None = None, heldout: np.ndarray | None = None,
                    data_note: str = "", small: bool = False, progress: bool = True,
                    build: Callable[[str], Encoder] | None = None,
                    write: Callable[[Path, bytes], Path] = atomic_write) -> dict:
    """Export `names` into `out_dir` and return the manifest (also written there).

    `calibration` / `heldout`: float32 clips [N, 64000]; None takes them from the default
    corpus. Encoders of over HEAVY_PARAMETERS (the full-size PPSLU and VAE) are calibrated and
    checked on at most HEAVY_CALIBRATION / HEAVY_HELDOUT clips (every float forward pass of
    PPSLU is about 28 GMAC). `build` replaces `build_encoder` (tests); `write` replaces the
    atomic writer (tests)."""
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in ENCODERS]
    if unknown or not names:
        raise ExportError(f"unknown encoder(s) {', '.join(unknown) or '(none)'} "
                          f"(known: {', '.join(ENCODERS)})")
    if calibration is None or heldout is None:
        calibration, heldout, data_note = corpus_clips(32, 16, progress=progress)
    for what, clips in (("calibration", calibration), ("held-out", heldout)):
        if not (isinstance(clips, np.ndarray) and clips.ndim == 2 and len(clips)
                and clips.shape[1] == SAMPLES and clips.dtype == np.float32
                and np.isfinite(clips).all()):
            raise ExportError(f"{what} clips must be finite float32 [N >= 1, {SAMPLES}]")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(out)
    manifest.update({"schema": MANIFEST_SCHEMA, "samples": SAMPLES, "sample_rate": 16000,
                     "data": data_note or manifest.get("data", "caller-supplied clips")})
    entries = manifest.setdefault("encoders", {})
    from tqdm import tqdm

    for name in tqdm(names, desc="export", unit="encoder", disable=not progress):
        enc = (build or (lambda n: build_encoder(n, small)))(name)
        heavy = enc.parameters > HEAVY_PARAMETERS
        cal = calibration[:HEAVY_CALIBRATION] if heavy else calibration
        held = heldout[:HEAVY_HELDOUT] if heavy else heldout
        entries[name] = export_one(enc, out, cal, held, write)
        manifest["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def export_one(enc: Encoder, out: Path, calibration: np.ndarray, heldout: np.ndarray,
               write: Callable[[Path, bytes], Path] = atomic_write) -> dict:
    """Convert, write atomically, re-load and compare one encoder; its manifest entry."""
    from firmware_sim.export import convert_int8

    def representative() -> Iterable[list[np.ndarray]]:
        for clip in calibration:
            yield [clip[None].astype(np.float32)]

    t0 = time.perf_counter()
    # Keras prints "Saved artifact at ..." on stdout while converting: keep stdout for
    # the command's own output (one JSON object with --json).
    with contextlib.redirect_stdout(sys.stderr):
        data = convert_int8(fixed_batch(enc.model), representative)
    convert_s = time.perf_counter() - t0
    path = out / f"{enc.name}.tflite"
    write(path, data)
    t1 = time.perf_counter()
    quantised = int8_outputs(path, heldout)
    int8_s = (time.perf_counter() - t1) / len(heldout)
    reference = float_outputs(enc.model, heldout)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != hashlib.sha256(data).hexdigest():
        raise ExportError(f"{path}: the file on disk differs from the converted model")
    return {"file": path.name, "sha256": digest, "bytes": len(data),
            "parameters": enc.parameters, "full_size": enc.full_size, "trained": enc.trained,
            "source_sha256": enc.source_sha256,
            "note": enc.note, "calibration_clips": len(calibration),
            "conversion_s": round(convert_s, 2), "litert_invoke_s": round(int8_s, 4),
            "output_shape": list(quantised.shape[1:]),
            "agreement": agreement(reference, quantised, enc.gate_threshold, heldout)}


def _read_manifest(out: Path) -> dict:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}                       # an unreadable old manifest is replaced
    return data if isinstance(data, dict) and data.get("schema") == MANIFEST_SCHEMA else {}


def verify_manifest(out_dir: str | Path) -> dict[str, bool]:
    """{file name: sha256 on disk matches the manifest} for every encoder in the manifest."""
    out = Path(out_dir)
    manifest = _read_manifest(out)
    return {e["file"]: (out / e["file"]).is_file() and
            hashlib.sha256((out / e["file"]).read_bytes()).hexdigest() == e["sha256"]
            for e in manifest.get("encoders", {}).values()}
