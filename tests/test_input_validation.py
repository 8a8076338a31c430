"""Untrusted inputs are checked before use: GGUF models, WAV files and manifests, and device
profiles. Each bad input is refused quickly with one line naming the file and the field (the
CLI exits 2); valid inputs still load. Hand-made versions of what the mutation fuzzers in
tests/fuzz/ generate."""

from __future__ import annotations

import dataclasses
import os
import struct
import time

import numpy as np
import pytest
import soundfile

from conftest import MLPERF, SHARED
from edgesim.errors import EdgesimError, InputDataError, ModelFormatError, ProfileError

STORIES = SHARED / "models" / "stories260K.gguf"
PROMPT = "Once upon a time, there was a little girl named"


def _one_line(err: pytest.ExceptionInfo, *names: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and all(n in msg for n in names), msg
    return msg


# -- GGUF -----------------------------------------------------------------------------------
def _key_at(data: bytes, key: str) -> int:
    """Offset of the value type that follows metadata key `key`."""
    raw = struct.pack("<Q", len(key)) + key.encode()
    return data.index(raw) + len(raw)


def _gguf(tmp_path, edit, name="bad.gguf"):
    data = bytearray(STORIES.read_bytes())
    edit(data)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def _set_u32(key: str, value: int):
    def edit(data):
        at = _key_at(data, key)
        assert struct.unpack_from("<I", data, at)[0] == 4          # a UINT32 value
        struct.pack_into("<I", data, at + 4, value)
    return edit


def _tensor_dims(name: str, dims: tuple[int, ...]):
    def edit(data):
        at = _key_at(data, name)                       # tensor infos start like keys
        assert struct.unpack_from("<I", data, at)[0] == len(dims)
        struct.pack_into(f"<{len(dims)}Q", data, at + 4, *dims)
    return edit


@pytest.mark.parametrize("edit, names", [
    (_set_u32("llama.attention.head_count", 0), ["llama.attention.head_count", "0"]),
    (_set_u32("llama.attention.head_count_kv", 3), ["head_count_kv", "multiple"]),
    (_set_u32("llama.embedding_length", 63), ["embedding_length 63"]),
    (_set_u32("llama.block_count", 2**32 - 1), ["llama.block_count"]),
    (_set_u32("llama.block_count", 6), ["blk.5.", "missing"]),
    (_set_u32("llama.rope.dimension_count", 4), ["llama.rope.dimension_count"]),
    (_set_u32("llama.feed_forward_length", 171), ["ffn_gate", "shape"]),
    (_set_u32("tokenizer.ggml.bos_token_id", 9999), ["tokenizer.ggml.bos_token_id", "9999"]),
    (_set_u32("tokenizer.ggml.eos_token_id", 512), ["tokenizer.ggml.eos_token_id"]),
    (_tensor_dims("output.weight", (64, 511)), ["output.weight", "[511, 64]", "[512, 64]"]),
    (_tensor_dims("token_embd.weight", (64, 2**40)), ["token_embd.weight", "past the end"]),
])
def test_gguf_bad_hyperparameters_and_shapes_are_refused(tmp_path, edit, names):
    from npu_sim.llm import load_model

    path = _gguf(tmp_path, edit)
    with pytest.raises(ModelFormatError) as err:
        load_model(path)
    _one_line(err, str(path), *names)


@pytest.mark.parametrize("key, at, what", [
    ("tokenizer.ggml.tokens", 8, "count"),         # type, item type, then the u64 count
    ("tokenizer.ggml.scores", 8, "count"),
    ("general.name", 4, "length"),                 # type, then the u64 string length
])
def test_gguf_huge_counts_are_refused_at_once(tmp_path, key, at, what):
    from npu_sim.llm import load_model

    def edit(data):
        struct.pack_into("<Q", data, _key_at(data, key) + at, 2**62)
    path = _gguf(tmp_path, edit)
    start = time.perf_counter()
    with pytest.raises(ModelFormatError) as err:
        load_model(path)
    assert time.perf_counter() - start < 2
    _one_line(err, str(path), key, what)


def test_gguf_token_arrays_of_the_wrong_length_are_refused(tmp_path):
    from npu_sim.llm import load_model

    def drop_last_score(data):
        at = _key_at(data, "tokenizer.ggml.scores")
        struct.pack_into("<Q", data, at + 8, 511)
    with pytest.raises(ModelFormatError) as err:
        load_model(_gguf(tmp_path, drop_last_score))
    _one_line(err, "bad.gguf")


def test_gguf_fifo_is_refused_without_blocking(tmp_path):
    from npu_sim.llm import load_model

    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError) as err:
        load_model(fifo)
    _one_line(err, "model.gguf", "regular file")


def test_gguf_cli_edit_refuses_with_one_line(tmp_path, capsys):
    from edgesim.cli import main

    path = _gguf(tmp_path, _set_u32("llama.attention.head_count", 0))
    assert main(["edit", "--model", str(path), "--subject", "girl", "--prompt", PROMPT,
                 "--target", " Sue", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.gguf" in err and "head_count" in err


def test_valid_gguf_still_loads_and_generates():
    from npu_sim.llm import load_model
    from npu_sim.llm.reference import generate_fast

    model = load_model(STORIES)
    assert model.config.vocab == 512 and model.config.tied
    text = model.tokenizer.decode(generate_fast(model, [model.tokenizer.bos_id], 10))
    assert text.startswith("Once upon a time")


# -- WAV and manifests ----------------------------------------------------------------------
TONE = (0.3 * np.sin(np.arange(4000) / 5)).astype(np.float32)


def _wav(path, audio=TONE, rate=16000, subtype="PCM_16"):
    soundfile.write(path, audio, rate, subtype=subtype, format="WAV")
    return path


def _patch(path, offset: int, fmt: str, value):
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("subtype, rate, channels", [
    ("PCM_16", 8000, 1), ("FLOAT", 44100, 2), ("PCM_U8", 16000, 2), ("PCM_24", 48000, 1),
    ("IMA_ADPCM", 8000, 1), ("ALAW", 8000, 1)])
def test_supported_wavs_read(tmp_path, subtype, rate, channels):
    from speech_privacy.audio import read_wav

    audio = np.stack([TONE] * channels, axis=1) if channels > 1 else TONE
    got, got_rate = read_wav(_wav(tmp_path / "ok.wav", audio, rate, subtype))
    assert got_rate == rate and got.dtype == np.float32 and len(got) >= len(TONE)


def test_wav_claiming_1_hz_is_refused_before_resampling(tmp_path):
    from speech_privacy.audio import AudioError, read_wav

    path = _patch(_wav(tmp_path / "slow.wav", np.tile(TONE, 4)), 24, "<I", 1)  # fmt rate
    with pytest.raises(AudioError) as err:
        read_wav(path)
    _one_line(err, "slow.wav", "sample rate 1 Hz")


@pytest.mark.parametrize("subtype, name", [("GSM610", "GSM 6.10"), ("G721_32", "G.721")])
def test_unsupported_encodings_are_named(tmp_path, subtype, name):
    from speech_privacy.audio import AudioError, read_wav

    with pytest.raises(AudioError) as err:
        read_wav(_wav(tmp_path / "codec.wav", TONE, 8000, subtype))
    _one_line(err, "codec.wav", name, "not supported")


def test_wav_nan_empty_and_too_many_channels_are_refused(tmp_path, monkeypatch):
    from speech_privacy import audio as A

    nan = TONE.copy()
    nan[7] = np.nan
    with pytest.raises(A.AudioError) as err:
        A.read_wav(_wav(tmp_path / "nan.wav", nan, subtype="FLOAT"))
    _one_line(err, "nan.wav", "NaN")
    with pytest.raises(A.AudioError) as err:
        A.read_wav(_wav(tmp_path / "empty.wav", np.zeros(0, np.float32)))
    _one_line(err, "empty.wav", "empty audio")
    with pytest.raises(A.AudioError) as err:
        A.read_wav(_wav(tmp_path / "wide.wav", np.zeros((10, 17), np.float32)))
    _one_line(err, "wide.wav", "17 channels")
    monkeypatch.setattr(A, "MAX_SECONDS", 0.1)             # 4000 samples at 16 kHz: 0.25 s
    with pytest.raises(A.AudioError) as err:
        A.read_wav(_wav(tmp_path / "long.wav"))
    _one_line(err, "long.wav", "0.1 s")


def test_wav_fifo_is_refused_without_blocking(tmp_path):
    from speech_privacy.audio import AudioError, read_wav

    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(AudioError) as err:
        read_wav(tmp_path / "pipe.wav")
    _one_line(err, "pipe.wav", "regular file")


def _manifest(folder, *paths):
    folder.mkdir(exist_ok=True)
    rows = "".join(f"{p},turn on the light,lights_on,alice\n" for p in paths)
    (folder / "manifest.csv").write_text("path,transcript,intent,speaker\n" + rows)
    return folder


def test_manifest_paths_stay_inside_its_folder(tmp_path):
    from speech_privacy.datasets import AudioError, load_manifest

    outside = _wav(tmp_path / "outside.wav")
    corpus = tmp_path / "corpus"
    _manifest(corpus, "../outside.wav")
    with pytest.raises(AudioError) as err:
        load_manifest(corpus, progress=False)
    _one_line(err, "manifest.csv:2", "outside")
    (corpus / "link.wav").symlink_to(outside)
    _manifest(corpus, "link.wav")
    with pytest.raises(AudioError) as err:
        load_manifest(corpus, progress=False)
    _one_line(err, "link.wav", "outside")
    _wav(corpus / "in.wav")
    _manifest(corpus, "in.wav", "./sub/../in.wav", str(outside))      # absolute: as written
    assert len(load_manifest(corpus, progress=False)) == 3


def test_manifest_fifo_and_size_caps(tmp_path, monkeypatch):
    from speech_privacy import datasets as D

    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "manifest.csv")
    with pytest.raises(D.AudioError) as err:
        D.load_manifest(fifo_dir, progress=False)
    _one_line(err, "manifest.csv", "regular file")
    listed = _manifest(tmp_path / "listed", "pipe.wav")
    os.mkfifo(listed / "pipe.wav")
    with pytest.raises(D.AudioError) as err:
        D.load_manifest(listed, progress=False)
    _one_line(err, "pipe.wav", "regular file")
    many = _manifest(tmp_path / "many", *["a.wav"] * 5)
    monkeypatch.setattr(D, "MAX_ROWS", 4)
    with pytest.raises(D.AudioError) as err:
        D.load_manifest(many, progress=False)
    _one_line(err, "manifest.csv", "more than 4 rows")


def test_speech_corpus_cli_refuses_with_one_line(tmp_path, capsys):
    from edgesim.cli import main

    folder = _manifest(tmp_path / "c", "clip.wav")
    _patch(_wav(folder / "clip.wav"), 24, "<I", 1)
    assert main(["speech", "corpus", "--manifest", str(folder), "--json",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "clip.wav" in err and "sample rate" in err
    assert issubclass(type(InputDataError("x")), EdgesimError)


# -- device profiles ------------------------------------------------------------------------
def _profile(tmp_path, shipped: str, old: str, new: str, name="board.toml"):
    from firmware_sim.devices import PROFILES_DIR
    from npu_sim.devices import PROFILES_DIR as NPU_DIR

    src = next(p for d in (PROFILES_DIR, NPU_DIR) for p in d.glob(f"{shipped}.toml"))
    text = src.read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def _regions(n: int) -> str:
    return "".join(f'\n[[memory]]\nname = "R{i}"\nbase = {0x20000000 + i * 1024}\n'
                   'size = 1024\nkind = "axi"\nbus_clock_hz = 1000000\nwait_states = 0\n'
                   'cached = true\n' for i in range(n))


@pytest.mark.parametrize("shipped, old, new, names", [
    ("rpi4b", "bytes_per_s = 4.0e9", "bytes_per_s = 0", ["'dram.bytes_per_s' must be > 0"]),
    ("rpi4b", "dispatch_s = 2e-6", "dispatch_s = -1", ["'runtime.dispatch_s' must be >= 0"]),
    ("stm32h743", "clock_hz = 480000000", "clock_hzz = 480000000",
     ["unknown key 'clock_hzz'", "did you mean 'clock_hz'"]),
    ("stm32h743", "active_power_mw = 400.0", "active_power_mw = nan",
     ["'active_power_mw' must be a finite number"]),
    ("stm32h743", "clock_hz = 480000000", "clock_hz = 0", ["'clock_hz' must be >= 1"]),
    ("stm32h743", "bus_clock_hz = 480000000", "bus_clock_hz = 0",
     ["'memory[0].bus_clock_hz' must be >= 1"]),
    ("stm32h743", 'kind = "axi"', 'kind = "dram"', ["'memory[2].kind'", "tcm, axi, ahb"]),
    ("stm32h743", "line_bytes = 32", "line_bytes = 24", ["'cache.line_bytes'", "power of two"]),
    ("stm32h743", "[runtime]", _regions(60) + "\n[runtime]", ["'memory' has 67 entries"]),
    ("stm32h743", "[runtime]", "[a.b.c.d.e.f.g.h.i.j]\nx = 1\n[runtime]", ["nested deeper"]),
    ("stm32h743", "[runtime]", "x = " + "[" * 3000 + "]" * 3000 + "\n[runtime]",
     ["nested deeper"]),
    ("stm32h743", "[runtime]", _regions(20000) + "\n[runtime]", ["larger than"]),
    ("sd8gen3_htp", "utilization = 0.25", "utilization = 0", ["'mac.utilization' must be > 0"]),
    ("sd8gen3_htp", "bytes_per_s = 2.56e11", "bytes_per_s = 0",
     ["'vtcm.bytes_per_s' must be > 0"]),
    ("sd8gen3_htp", "a8w8 = { rate = 1.0, pj = 0.23 }", "a8w8 = { rate = 1.0, pj = -0.23 }",
     ["'mac.precision.a8w8.pj' must be >= 0"]),
    ("sd8gen3_htp", "dispatch_s = 5e-6", "dispatch_s = inf", ["'dispatch_s'"]),
    ("sd8gen3_cpu", "count = 1 ", "count = 0 ", ["'cluster[0].count' must be >= 1"]),
    ("sd8gen3_cpu", "idle_power_mw = 500.0", "idle_power_mw = 9000.0", ["exceeds"]),
])
def test_bad_profiles_are_refused_naming_the_field(tmp_path, shipped, old, new, names):
    from firmware_sim.target import load_profile as loader

    path = _profile(tmp_path, shipped, old, new)
    start = time.perf_counter()
    with pytest.raises(ProfileError) as err:
        loader(path)
    assert time.perf_counter() - start < 2
    _one_line(err, str(path), *names)


def test_profile_fifo_is_refused_without_blocking(tmp_path):
    from firmware_sim.devices import load_device

    os.mkfifo(tmp_path / "pipe.toml")
    with pytest.raises(ProfileError) as err:
        load_device(tmp_path / "pipe.toml")
    _one_line(err, "pipe.toml", "regular file")


def test_shipped_profiles_load_unchanged_and_as_user_files(tmp_path):
    from firmware_sim.target import load_profile, shipped_profiles

    for _, p in shipped_profiles():
        copy = tmp_path / p.name
        copy.write_bytes(p.read_bytes())
        user, shipped = load_profile(copy), load_profile(p.stem)
        assert user == dataclasses.replace(shipped, source=copy)


@pytest.mark.parametrize("command", [["check"], ["npu", "check"]])
def test_device_cli_refuses_with_one_line(tmp_path, capsys, command):
    from edgesim.cli import main

    shipped = "stm32h743" if command == ["check"] else "sd8gen3_htp"
    path = _profile(tmp_path, shipped, "[dram]" if shipped != "stm32h743" else "[runtime]",
                    "[nope]\nx = 1\n[dram]" if shipped != "stm32h743" else
                    "[nope]\nx = 1\n[runtime]")
    assert main([*command, str(MLPERF / "ad01_int8.tflite"), "--device", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "board.toml" in err and "'nope'" in err


def test_schema_documents_every_field():
    from firmware_sim.devices import SCHEMA
    from firmware_sim.devices.cpu import CPU_SCHEMA
    from firmware_sim.devices.schema import markdown
    from npu_sim.devices import NPU_SCHEMA

    for schema in (SCHEMA, NPU_SCHEMA, CPU_SCHEMA):
        table = markdown(schema)
        assert all(f"`{f.key}`" in table for f in schema)
    assert "| `memory[].size` | integer | bytes | >= 1" in markdown(SCHEMA)
