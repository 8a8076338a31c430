"""Speaking a grammar's script and caching the result: eSpeak NG (PyPI `espeakng-loader`, no
system package) speaks each utterance with its voice at a jittered rate, pitch and pitch
range; the speech is placed after a random lead-in, mixed with coloured background noise at a
random SNR, resampled from 22050 Hz to 16 kHz, quantised to 16-bit PCM and zero-padded to the
clip length. Corpora are cached under `cache_dir()/speech`, named by the corpus, the
parameters and a fingerprint of the grammar, the rendering and the eSpeak package.

A grammar is a module with NAME, CLIP_SECONDS, DEFAULT_UTTERANCES_PER_INTENT, TEST_SPEAKERS,
INTENTS, `script(per_intent, rng)` (an iterable of `Utterance`, drawing from the generator
that then draws each recording's jitter) and `fingerprint()`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import asdict, astuple, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from edgesim.io import atomic_write
from edgesim.paths import cache_dir

from ..audio import SAMPLE_RATE, AudioError, fit_length, resample
from ..espeak import VOICES, espeak_synthesise
from . import accompanying, fsc, slurp, slurp_attacker
from .core import SpeechCorpus

#: The grammars by corpus name.
GRAMMARS = {g.NAME: g for g in (fsc, slurp, accompanying, slurp_attacker)}

# Jitter ranges of one utterance (uniform) in the default rendering.
RATE_WPM = (150, 200)           # eSpeak speaking rate, words per minute (default 175)
PITCH = (42, 58)                # eSpeak pitch parameter 0..100 (50 = the voice's own)
PITCH_RANGE = (35, 65)          # eSpeak intonation range 0..100 (50 = the voice's own)
SNR_DB = (10.0, 30.0)           # speech-to-noise power ratio, dB
NOISE_SLOPE = (0.0, 2.0)        # noise power spectrum ~ 1/f**slope (0 white, 1 pink, 2 brown)
LEAD_SECONDS = (0.05, 0.5)      # noisy silence before the speech, s
TAIL_SECONDS = (0.1, 0.3)       # noisy silence after the speech, s
PEAK = (0.3, 0.9)               # peak amplitude of the mixed recording


@dataclass(frozen=True)
class Rendering:
    """How an utterance becomes a recording: every jitter range (lo, hi), drawn uniformly per
    utterance. The defaults make the corpora. Another rendering (e.g. a 0.3 s lead and tail
    at 30 dB SNR, where pocketsphinx recognises eSpeak speech far better) is another cached
    corpus; for slurp-style and the accompanying sentences, whose scripts are drawn before
    any recording, it has the same transcripts, voices and labels. The FSC-style script
    interleaves with the recordings (that order fixes its audio for a seed), so there another
    rendering also draws other phrasings and voices."""

    rate_wpm: tuple[int, int] = RATE_WPM
    pitch: tuple[int, int] = PITCH
    pitch_range: tuple[int, int] = PITCH_RANGE
    snr_db: tuple[float, float] = SNR_DB
    noise_slope: tuple[float, float] = NOISE_SLOPE
    lead_seconds: tuple[float, float] = LEAD_SECONDS
    tail_seconds: tuple[float, float] = TAIL_SECONDS
    peak: tuple[float, float] = PEAK


def grammar(name: str):
    """The grammar module of corpus `name`."""
    if name not in GRAMMARS:
        raise AudioError(f"unknown corpus {name!r} (known: {', '.join(GRAMMARS)})")
    return GRAMMARS[name]


def synthetic_corpus(utterances_per_intent: int = 12, seed: int = 0,
                     clip_seconds: float | None = None, progress: bool = True,
                     corpus: str = fsc.NAME, rendering: Rendering = Rendering()
                     ) -> SpeechCorpus:
    """Corpus `corpus` with `utterances_per_intent` clips of each intent, each `clip_seconds`
    s long (default: the corpus's own) at 16 kHz. The same arguments give identical arrays;
    the first call synthesises and caches, later calls read the cache."""
    g = grammar(corpus)
    if utterances_per_intent < 1:
        raise AudioError(f"utterances_per_intent must be >= 1, got {utterances_per_intent}")
    samples = round((clip_seconds or g.CLIP_SECONDS) * SAMPLE_RATE)
    if samples <= 0:
        raise AudioError(f"clip_seconds must be positive, got {clip_seconds}")
    params = _params(utterances_per_intent, seed, samples)
    npz_path = _cache_path(g, params, rendering)
    manifest_path = npz_path.with_suffix(".json")
    cached = _read_cache(npz_path, manifest_path, g)
    if cached is not None:
        return cached
    pcm, labels = _synthesise_fresh(g.NAME, utterances_per_intent, seed, samples, rendering,
                                    progress)
    buf = io.BytesIO()
    np.savez(buf, audio=pcm)
    atomic_write(npz_path, buf.getvalue())
    manifest = {"corpus": g.NAME, "params": params, "generator": _fingerprint(g, rendering),
                "audio_sha256": hashlib.sha256(pcm.tobytes()).hexdigest(), **labels}
    atomic_write(manifest_path, json.dumps(manifest, indent=1).encode())
    return _corpus(pcm, labels, g)


def cache_path(utterances_per_intent: int = 12, seed: int = 0,
               clip_seconds: float | None = None, corpus: str = fsc.NAME,
               rendering: Rendering = Rendering()) -> Path:
    """Where `synthetic_corpus` caches the audio (.npz; the labels beside it in .json). The
    name hashes the arguments, the grammar, the rendering and the eSpeak package version."""
    g = grammar(corpus)
    samples = round((clip_seconds or g.CLIP_SECONDS) * SAMPLE_RATE)
    return _cache_path(g, _params(utterances_per_intent, seed, samples), rendering)


def _cache_path(g, params: dict, rendering: Rendering) -> Path:
    blob = json.dumps({"params": params, "generator": _fingerprint(g, rendering)},
                      sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return cache_dir() / "speech" / f"{g.NAME}_{key}.npz"


def _params(per_intent: int, seed: int, samples: int) -> dict:
    return {"utterances_per_intent": per_intent, "seed": seed, "samples": samples,
            "sample_rate": SAMPLE_RATE}


def _fingerprint(g, rendering: Rendering) -> dict:
    """What, besides the parameters, decides the generated audio."""
    return {"grammar_sha256": g.fingerprint(), "voices": list(VOICES),
            "jitter": [list(r) for r in astuple(rendering)], "synthesis": 2,
            "espeakng_loader": metadata.version("espeakng-loader")}


def _synthesise_fresh(name: str, per_intent: int, seed: int, samples: int,
                      rendering: Rendering, progress: bool):
    """`_synthesise` in a fresh Python process (`python -m speech_privacy.corpus`), whose
    arrays come back through a temporary .npz file. eSpeak NG keeps state from one utterance
    to the next inside the library (e.g. its pitch-flutter phase), which neither
    re-initialising nor re-selecting the voice resets; only a fresh process starts from the
    same state, so only there the same seed gives the same audio."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgesim-speech-") as tmp:
        out = Path(tmp) / "corpus.npz"
        cmd = [sys.executable, "-m", "speech_privacy.corpus", name, str(per_intent), str(seed),
               str(samples), str(int(progress)), json.dumps(asdict(rendering)), str(out)]
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                              if not progress else None, text=True)
        if done.returncode != 0 or not out.is_file():
            detail = " ".join((done.stderr or "").split()[-30:])
            raise AudioError(f"speech synthesis failed (exit {done.returncode}) {detail}".strip())
        with np.load(out) as data:
            return data["pcm"], json.loads(str(data["labels"]))


def main(argv: list[str]) -> None:
    """Child process of `_synthesise_fresh`: name per_intent seed samples progress
    rendering-json out.npz."""
    name, (per_intent, seed, samples, progress) = argv[0], (int(x) for x in argv[1:5])
    rendering = Rendering(**{k: tuple(v) for k, v in json.loads(argv[5]).items()})
    pcm, labels = _synthesise(grammar(name), per_intent, seed, samples, rendering,
                              bool(progress))
    buf = io.BytesIO()
    np.savez(buf, pcm=pcm, labels=np.array(json.dumps(labels)))
    atomic_write(argv[6], buf.getvalue())


def _synthesise(g, per_intent: int, seed: int, samples: int, rendering: Rendering,
                progress: bool):
    """(int16 PCM [N, samples], labels) of `g`'s script; one generator draws both the
    script and every recording's jitter."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    clips, said = [], []
    with tqdm(total=len(g.INTENTS) * per_intent, desc=f"synthesising {g.NAME}", unit="clip",
              disable=not progress) as bar:
        for u in g.script(per_intent, rng):
            clips.append(np.round(record(u.text, u.voice, rng, samples, rendering) * 32767)
                         .astype(np.int16))
            said.append(u)
            bar.update()
    labels = {"transcripts": [u.text for u in said], "intents": [u.intent for u in said],
              "speakers": [u.voice for u in said],
              "entities": [[list(span) for span in u.entities] for u in said],
              "scenarios": [u.scenario for u in said] if any(u.scenario for u in said) else []}
    return np.stack(clips), labels


def record(text: str, voice: str, rng: np.random.Generator, samples: int,
           rendering: Rendering = Rendering()) -> np.ndarray:
    """One noisy recording of `text`, float32 at 16 kHz, zero-padded to `samples`."""
    r = rendering
    rate, pitch, spread = (int(rng.integers(lo, hi + 1)) for lo, hi in (r.rate_wpm, r.pitch,
                                                                         r.pitch_range))
    snr_db, slope = rng.uniform(*r.snr_db), rng.uniform(*r.noise_slope)
    lead, tail = rng.uniform(*r.lead_seconds), rng.uniform(*r.tail_seconds)
    peak = rng.uniform(*r.peak)
    speech22k, rate22k = espeak_synthesise(text, voice, rate, pitch, spread,
                                           int(rng.integers(2**31)))
    speech = resample(speech22k, rate22k, SAMPLE_RATE)
    begin = round(lead * SAMPLE_RATE)
    recording = np.zeros(begin + len(speech) + round(tail * SAMPLE_RATE), np.float32)
    if len(recording) > samples:
        raise AudioError(f"clip length of {samples} samples too short for {text!r} "
                         f"({len(recording)} samples at {rate} wpm)")
    recording[begin:begin + len(speech)] = speech
    speech_power = float(np.mean(speech.astype(np.float64) ** 2))
    noise = _coloured_noise(len(recording), slope, rng)
    recording += noise * np.sqrt(speech_power / 10 ** (snr_db / 10))
    recording *= peak / max(float(np.abs(recording).max()), 1e-9)
    return fit_length(recording, samples)


def _coloured_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-power Gaussian noise whose power spectrum falls as 1/f**slope."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum * freqs ** (-slope / 2), n)
    return (noise / np.sqrt(np.mean(noise ** 2))).astype(np.float32)


def _corpus(pcm: np.ndarray, labels: dict, g) -> SpeechCorpus:
    audio = pcm.astype(np.float32)
    audio /= 32768                      # in place: one float copy of a large corpus, not two
    return SpeechCorpus(audio, SAMPLE_RATE,
                        tuple(labels["transcripts"]), tuple(labels["intents"]),
                        tuple(labels["speakers"]),
                        tuple(tuple(tuple(span) for span in spans)
                              for spans in labels["entities"]),
                        tuple(labels["scenarios"]), tuple(g.TEST_SPEAKERS))


def _read_cache(npz_path: Path, manifest_path: Path, g) -> SpeechCorpus | None:
    """The cached corpus, or None when absent or unreadable (it is then regenerated)."""
    try:
        manifest = json.loads(manifest_path.read_text())
        with np.load(npz_path) as data:
            pcm = data["audio"]
        if (pcm.dtype != np.int16 or pcm.ndim != 2
                or hashlib.sha256(pcm.tobytes()).hexdigest() != manifest.get("audio_sha256")):
            return None
        return _corpus(pcm, manifest, g)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            AudioError):
        return None
