"""INT8 export of the speech encoders: LiteRT round trip, agreement with the float model,
manifest checksums, atomic writes, and the `edgesim speech export` / `edgesim check` path.

Small builds keep the default run short (the mask generators at their real size, a 1-layer
narrow PPSLU and VAE); the full-size PPSLU export is the `slow` test at the end.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from speech_privacy import export as ex

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def clips():
    cal, held, note = ex.corpus_clips(8, 6, progress=False)
    return cal, held, note


#: The encoders the `exported` fixture built, by name (their float models).
_BUILT = {}


def _near_threshold_generator(name, calibration):
    """A mask generator whose gate bias is shifted so the float model keeps about half of
    the segments of real clips: then int8 rounding can flip decisions and mask agreement
    means something (the untrained bias alone keeps every segment)."""
    enc = ex.build_encoder(name, use_trained=False)      # independent of the cache's state
    logits = ex.float_outputs(enc.model, calibration)
    layer = enc.model.get_layer("gate_logit")
    w, b = layer.get_weights()
    layer.set_weights([w, b - (np.median(logits) - enc.gate_threshold)])
    return enc


@pytest.fixture(scope="module")
def exported(tmp_path_factory, clips):
    cal, held, note = clips
    out = tmp_path_factory.mktemp("export")

    def build(name):
        if name.startswith("mask_generator"):
            enc = _near_threshold_generator(name, cal)
        else:
            enc = ex.build_encoder(name, small=True)
        _BUILT[name] = enc
        return enc

    manifest = ex.export_encoders(out, ex.ENCODERS, cal, held, note, progress=False,
                                  build=build)
    return out, manifest


def test_every_file_reloads_as_int8_and_matches_the_manifest(exported):
    out, manifest = exported
    on_disk = json.loads((out / ex.MANIFEST).read_text())
    assert on_disk == manifest
    assert set(manifest["encoders"]) == set(ex.ENCODERS)
    from ai_edge_litert.interpreter import Interpreter

    for name, entry in manifest["encoders"].items():
        path = out / f"{name}.tflite"
        data = path.read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        assert list(i["shape"]) == [1, ex.SAMPLES] and i["dtype"] == np.int8
        assert o["dtype"] == np.int8 and list(o["shape"][1:]) == entry["output_shape"]
        assert entry["trained"] in (True, False) and entry["note"]
    assert all(ex.verify_manifest(out).values())
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_int8_agrees_with_the_float_model(exported, clips):
    """Every segment whose float gate logit lies more than 10 output quantisation steps from
    the threshold gets the same keep/drop decision in int8 (closer ones may flip: the gate
    bias is set so that half the segments sit near the threshold). Other thresholds sit
    below the measured figures (VAE cosine 0.99; PPSLU cosine on voiced frames 0.77, its
    per-frame layer norm amplifies int8 error on near-silent frames)."""
    from ai_edge_litert.interpreter import Interpreter

    out, manifest = exported
    held = clips[1]
    enc = manifest["encoders"]
    for name in ("mask_generator_s", "mask_generator_m"):
        a = enc[name]["agreement"]
        assert 0.2 < a["kept_float"] < 0.9, a       # the test really is near the threshold
        assert a["relative_rmse"] < 0.02, a
        built = _BUILT[name]
        it = Interpreter(model_path=str(out / f"{name}.tflite"))
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        (si, zi), (so, zo) = i["quantization"], o["quantization"]
        clear_share = []
        for clip in held:
            q = np.clip(np.round(clip / si) + zi, -128, 127).astype(np.int8)[None]
            it.set_tensor(i["index"], q)
            it.invoke()
            int8 = (it.get_tensor(o["index"]).astype(np.float32) - zo) * so
            ref = built.model(clip[None].astype(np.float32)).numpy()
            clear = np.abs(ref - built.gate_threshold) > 10 * so
            clear_share.append(clear.mean())
            np.testing.assert_array_equal((int8 > built.gate_threshold)[clear],
                                          (ref > built.gate_threshold)[clear])
        assert np.mean(clear_share) > 0.02, (name, clear_share)   # decisions were compared
    assert enc["vae_encoder"]["agreement"]["cosine"] >= 0.95
    assert enc["ppslu_encoder"]["agreement"]["cosine_voiced"] >= 0.6


def test_agreement_figures_detect_a_different_model():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 10, 4)).astype(np.float32)
    same = ex.agreement(f, f + 1e-4)
    other = ex.agreement(f, rng.normal(size=f.shape).astype(np.float32))
    assert same["cosine"] > 0.999 and same["relative_rmse"] < 1e-3
    assert other["cosine"] < 0.5 and other["relative_rmse"] > 0.5
    masks = ex.agreement(np.array([[1.0, -1.0, 2.0, -2.0]]), np.array([[1.0, 1.0, 2.0, -2.0]]),
                         gate_threshold=0.336)
    assert masks["mask_agreement"] == 0.75
    with pytest.raises(ex.ExportError):
        ex.agreement(f, f[:, :5])


def test_unknown_encoder_and_bad_clips_are_clear_errors(tmp_path, clips):
    cal, held, _ = clips
    with pytest.raises(ex.ExportError, match="unknown encoder"):
        ex.export_encoders(tmp_path, ["whisper"], cal, held, progress=False)
    bad = held.copy()
    bad[0, 5] = np.nan
    with pytest.raises(ex.ExportError, match="finite float32"):
        ex.export_encoders(tmp_path, ["mask_generator_s"], cal, bad, progress=False)
    with pytest.raises(ex.ExportError, match="finite float32"):
        ex.export_encoders(tmp_path, ["mask_generator_s"], cal[:, :16000], held,
                           progress=False)
    assert not list(tmp_path.glob("*.tflite"))


def _export_s(out, clips, seed, write=None):
    cal, held, note = clips
    kwargs = {"write": write} if write else {}
    return ex.export_encoders(out, ["mask_generator_s"], cal[:2], held[:2], note,
                              progress=False,
                              build=lambda n: ex.build_encoder(n, seed=seed, use_trained=False),
                              **kwargs)


def _patched_atomic_write(monkeypatch, name, replacement):
    """edgesim's atomic_write with os.<name> replaced only while it runs."""
    import edgesim.io as fx

    def write(path, data):
        with monkeypatch.context() as m:
            m.setattr(fx.os, name, replacement)
            return fx.atomic_write(path, data)
    return write


def test_interrupted_rename_keeps_the_old_file(tmp_path, clips, monkeypatch):
    """A crash between writing the temporary file and the rename leaves the previous export
    byte for byte, its manifest, and no temporary file."""
    _export_s(tmp_path, clips, seed=0)
    path = tmp_path / "mask_generator_s.tflite"
    before, manifest_before = path.read_bytes(), (tmp_path / ex.MANIFEST).read_bytes()
    other = tmp_path.parent / (tmp_path.name + "_other")
    _export_s(other, clips, seed=1)
    assert (other / path.name).read_bytes() != before    # the new export would change it

    def crash(src, dst):
        raise OSError("power cut before rename")

    with pytest.raises(OSError, match="power cut"):     # a different model: other bytes
        _export_s(tmp_path, clips, seed=1,
                  write=_patched_atomic_write(monkeypatch, "replace", crash))
    assert path.read_bytes() == before
    assert (tmp_path / ex.MANIFEST).read_bytes() == manifest_before
    assert sorted(p.name for p in tmp_path.iterdir()) == [ex.MANIFEST, path.name]
    assert all(ex.verify_manifest(tmp_path).values())


def test_write_interrupted_half_way_leaves_no_truncated_file(tmp_path, clips, monkeypatch):
    """The data stream breaks after half the bytes (e.g. Ctrl-C or a full disk): the target
    keeps its old content and the half-written temporary file is removed."""
    _export_s(tmp_path, clips, seed=0)
    path = tmp_path / "mask_generator_s.tflite"
    before = path.read_bytes()
    real_fdopen = os.fdopen
    written = {}

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            written["bytes"] = os.path.getsize(self.f.name)
            raise KeyboardInterrupt

    half = _patched_atomic_write(monkeypatch, "fdopen",
                                 lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        _export_s(tmp_path, clips, seed=1, write=half)
    assert written["bytes"] > 0                     # a partial file really existed
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_failing_conversion_keeps_the_old_file(tmp_path, clips, monkeypatch):
    _export_s(tmp_path, clips, seed=0)
    path = tmp_path / "mask_generator_s.tflite"
    before = path.read_bytes()
    import firmware_sim.export as fx

    def broken(model, representative):
        next(iter(representative()))                 # calibration had started
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(fx, "convert_int8", broken)
    with pytest.raises(RuntimeError, match="converter crashed"):
        _export_s(tmp_path, clips, seed=1)
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_cli_export_then_check_fits_on_stm32h743(tmp_path, capsys):
    from edgesim.cli import main

    out = tmp_path / "out"
    assert main(["speech", "export", "--out", str(out), "--only", "s",
                 "--calibration", "4", "--heldout", "2", "--json", "--no-progress"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert list(manifest["encoders"]) == ["mask_generator_s"]
    assert main(["check", str(out / "mask_generator_s.tflite"), "--device", "stm32h743",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fits"] and report["ram_bytes"] < 400 * 1024


def test_cli_export_rejects_unknown_encoder(tmp_path, capsys):
    from edgesim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["speech", "export", "--out", str(tmp_path), "--only", "wav2vec9"])
    assert exc.value.code == 2
    assert "encoders are a comma-separated subset" in capsys.readouterr().err


@pytest.mark.slow
def test_full_size_ppslu_export_is_refused_by_stm32h743_and_fits_rpi4b(tmp_path, clips):
    """The real-size PPSLU encoder (94.4 M parameters, about 95 MB INT8; about a minute and
    5.5 GB of RAM to convert): `edgesim check` exits 1 on stm32h743 with flash and RAM
    violations; on rpi4b it fits."""
    from edgesim.cli import main

    cal, held, note = clips
    manifest = ex.export_encoders(tmp_path, ["ppslu_encoder"], cal[:4], held[:2], note,
                                  progress=False)
    entry = manifest["encoders"]["ppslu_encoder"]
    assert entry["parameters"] == 94_370_816 and entry["full_size"]
    assert 90e6 < entry["bytes"] < 100e6
    assert entry["output_shape"] == [199, 256]
    path = str(tmp_path / "ppslu_encoder.tflite")
    assert main(["check", path, "--device", "stm32h743"]) == 1
    from firmware_sim.pipeline import check

    kinds = {v.kind for v in check(path, "stm32h743").violations}
    assert {"flash", "ram"} <= kinds
    assert check(path, "rpi4b").fits


def test_only_some_encoders_keeps_the_other_manifest_entries(tmp_path, clips):
    cal, held, note = clips
    first = _export_s(tmp_path, clips, seed=0)["encoders"]["mask_generator_s"]
    manifest = ex.export_encoders(tmp_path, ["mask_generator_m"], cal[:2], held[:2], note,
                                  progress=False,
                                  build=lambda n: ex.build_encoder(n, use_trained=False))
    assert set(manifest["encoders"]) == {"mask_generator_s", "mask_generator_m"}
    assert manifest["encoders"]["mask_generator_s"] == first
    assert all(ex.verify_manifest(tmp_path).values())
    (tmp_path / "mask_generator_s.tflite").write_bytes(b"tampered")
    assert ex.verify_manifest(tmp_path) == {"mask_generator_s.tflite": False,
                                            "mask_generator_m.tflite": True}


def test_an_export_from_other_weights_than_the_last_training_is_stale(tmp_path, clips,
                                                                       monkeypatch):
    """Exported untrained, then trained: stale; exported from the trained weights: fresh;
    trained again (new weights on disk): stale again."""
    from speech_privacy.mask.generator import GeneratorConfig, build_generator, save_generator
    from speech_privacy.results import generator_path

    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path / "cache"))
    cal, held, note = clips
    models = tmp_path / "models"
    _export_s(models, clips, seed=0)                       # untrained, nothing trained yet
    assert ex.stale_exports(models) == []
    gen = build_generator("S", GeneratorConfig(), seed=3)
    save_generator(gen, generator_path("S"))               # `speech train` ran
    assert ex.stale_exports(models) == ["mask_generator_s"]
    manifest = ex.export_encoders(models, ["mask_generator_s"], cal[:2], held[:2], note,
                                  progress=False)
    entry = manifest["encoders"]["mask_generator_s"]
    assert entry["trained"] and entry["source_sha256"] == ex.trained_source("S")
    assert ex.stale_exports(models) == []
    gen.threshold += 0.5
    save_generator(gen, generator_path("S"))               # trained again
    assert ex.stale_exports(models) == ["mask_generator_s"]


def test_bench_refuses_a_models_folder_that_does_not_exist(tmp_path, capsys):
    from edgesim.cli import main

    assert main(["speech", "bench", "--models", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no such folder" in err and "\n" not in err and not (tmp_path / "nope").exists()
