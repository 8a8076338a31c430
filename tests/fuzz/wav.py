"""Fuzz family "wav": WAV files through `speech_privacy.audio.read_wav`, a CSV manifest
(`load_manifest`) and `edgesim speech corpus --manifest`.

Seeds are short WAVs synthesised here (PCM16 and float32, 8, 16 and 44.1 kHz, mono and
stereo, u8 and a-law) and the smallest FSDD recording from ../shared. Mutations are byte
flips, truncations and insertions, plus edits of the RIFF layout: the fmt chunk's encoding
tag, channels, rate, byte rate, block align and bits, the data and RIFF lengths (up to
0xFFFFFFFF), NaN and infinite float samples, extra, repeated and huge chunks.
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

NAME = "wav"
SUFFIX = ".wav"
FSDD = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"

TAGS = [0, 1, 2, 3, 6, 7, 0x11, 0x31, 0x40, 0x50, 0x55, 0x161, 0xFFFE, 0x9999]
RATES = [0, 1, 2, 100, 3999, 4000, 8000, 11025, 16000, 22050, 44100, 192000, 192001,
         10**6, 2**31 - 1, 2**32 - 1]
CHANNELS = [0, 1, 2, 3, 8, 16, 17, 255, 65535]
BITS = [0, 1, 4, 8, 12, 16, 20, 24, 32, 48, 64, 65535]
LENGTHS = [0, 1, 2, 3, 7, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


def _wav(audio: np.ndarray, rate: int, subtype: str) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, audio, rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def seeds() -> list[tuple[str, bytes]]:
    t = np.arange(4000) / 16000
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone[:2000], -tone[:2000]], axis=1)
    out = [("pcm16-16k-mono", _wav(tone, 16000, "PCM_16")),
           ("float-44k-stereo", _wav(stereo, 44100, "FLOAT")),
           ("pcm16-8k-mono", _wav(tone[:2000], 8000, "PCM_16")),
           ("float-16k-mono", _wav(tone[:1000], 16000, "FLOAT")),
           ("u8-8k-stereo", _wav(stereo[:800], 8000, "PCM_U8")),
           ("alaw-8k-mono", _wav(tone[:800], 8000, "ALAW"))]
    files = sorted(FSDD.glob("*.wav"), key=lambda p: p.stat().st_size) if FSDD.is_dir() else []
    if files:
        out.append((f"fsdd-{files[0].stem}", files[0].read_bytes()))
    return out


# -- mutations ------------------------------------------------------------------------------
def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(tag, offset of the length field, offset of the body) of each chunk after WAVE."""
    found, pos = [], 12
    while pos + 8 <= len(data) and len(found) < 64:
        length = struct.unpack_from("<I", data, pos + 4)[0]
        found.append((data[pos:pos + 4], pos + 4, pos + 8))
        pos += 8 + length + (length & 1)
    return found


def _fmt(out: bytearray, rng: random.Random) -> None:
    fmt = next((c for c in chunks(out) if c[0] == b"fmt "), None)
    if fmt is None:
        return
    body = fmt[2]
    field, values = rng.choice([(0, TAGS), (2, CHANNELS), (4, RATES), (4, RATES), (8, RATES),
                                (12, CHANNELS + [4, 6]), (14, BITS)])
    size = 4 if field in (4, 8) else 2
    if body + field + size <= len(out):
        value = rng.choice(values) if rng.random() < 0.85 else rng.getrandbits(8 * size)
        out[body + field:body + field + size] = (value % (1 << (8 * size))).to_bytes(size,
                                                                                   "little")


def _lengths(out: bytearray, rng: random.Random) -> None:
    found = chunks(out)
    if rng.random() < 0.3 or not found:
        out[4:8] = struct.pack("<I", rng.choice(LENGTHS + [len(out)]))
        return
    tag, at, body = rng.choice(found)
    old = struct.unpack_from("<I", out, at)[0]
    out[at:at + 4] = struct.pack("<I", rng.choice(LENGTHS + [old + 1, old - 1 if old else 0,
                                                            old * 2 & 0xFFFFFFFF]))


def _samples(out: bytearray, rng: random.Random) -> None:
    """NaN, infinite or huge 32-bit float samples written into the data chunk."""
    data = next((c for c in chunks(out) if c[0] == b"data"), None)
    if data is None:
        return
    start = data[2]
    end = min(len(out), start + struct.unpack_from("<I", out, data[1])[0])
    for _ in range(rng.choice([1, 5, 1000])):
        if end - start < 4:
            return
        i = start + 4 * rng.randrange((end - start) // 4)
        out[i:i + 4] = struct.pack("<f", rng.choice([float("nan"), float("inf"),
                                                     -float("inf"), 1e30, 2.0]))


def _structure(out: bytearray, rng: random.Random) -> bytearray:
    found = chunks(out)
    choice = rng.randrange(5)
    if choice == 0 and found:                       # a chunk repeated
        tag, at, body = rng.choice(found)
        end = body + struct.unpack_from("<I", out, at)[0]
        return out[:body - 8] + out[body - 8:end] + out[body - 8:]
    if choice == 1 and found:                       # a chunk removed
        tag, at, body = rng.choice(found)
        end = body + struct.unpack_from("<I", out, at)[0]
        return out[:body - 8] + out[end:]
    if choice == 2:                                 # a chunk inserted before the others
        length = rng.choice([0, 4, 0xFFFFFFF0, 1 << 30])
        body = bytes(min(length, 16))
        return out[:12] + rng.choice([b"LIST", b"JUNK", b"fact", b"data", b"fmt "]) + \
            struct.pack("<I", length) + body + out[12:]
    if choice == 3:
        out[:4] = rng.choice([b"RF64", b"RIFX", b"RIFF"])
        return out
    return out + rng.randbytes(rng.choice([1, 3, 100]))


def _bytes(out: bytearray, rng: random.Random) -> bytearray:
    choice = rng.randrange(3)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(min(len(out), 80) if rng.random() < 0.7 else len(out))
            out[i] ^= 1 << rng.randrange(8)
        return out
    if choice == 1:
        return out[:rng.randrange(len(out))]
    i = rng.randrange(len(out))
    return out[:i] + rng.randbytes(rng.choice([1, 2, 4, 16])) + out[i:]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three edits of `data`: of the RIFF layout mostly, else of its bytes."""
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        if not out:
            return rng.randbytes(44)
        edit = rng.choice([_fmt, _fmt, _fmt, _lengths, _samples, _structure, _bytes])
        result = edit(out, rng)
        out = result if result is not None else out
    return bytes(out)


# -- entry points ---------------------------------------------------------------------------
def load(path: Path) -> None:
    """Read the file, resample it to 16 kHz and cut it to one second."""
    from speech_privacy.audio import fit_length, read_wav, resample

    audio, rate = read_wav(path)
    fit_length(resample(audio, rate), 16000)


def _folder(path: Path, tmp: str) -> Path:
    folder = Path(tmp) / "corpus"
    folder.mkdir()
    shutil.copyfile(path, folder / "clip.wav")
    (folder / "manifest.csv").write_text("path,transcript,intent,speaker\n"
                                         "clip.wav,turn on the light,lights_on,alice\n")
    return folder


def manifest(path: Path) -> None:
    """A one-row manifest naming the file, through `load_manifest`."""
    from speech_privacy.datasets import load_manifest

    with tempfile.TemporaryDirectory() as tmp:
        load_manifest(_folder(path, tmp), progress=False)


def cli_corpus(path: Path) -> int:
    """`edgesim speech corpus --manifest DIR --json` on a one-row manifest naming the file."""
    from edgesim.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        return main(["speech", "corpus", "--manifest", str(_folder(path, tmp)), "--json",
                     "--no-progress"])


ENTRY_POINTS = {"load": load, "manifest": manifest, "cli_corpus": cli_corpus}
