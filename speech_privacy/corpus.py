"""The speech corpus type and the project's default corpus: spoken home-automation commands in
the style of Fluent Speech Commands, synthesised with eSpeak NG (PyPI `espeakng-loader`, no
system package), cached under `cache_dir()/speech`.

Intents are "action|object|location" triples; each has several phrasings, spoken by 12 eSpeak
voice variants (the speakers) with jittered rate, pitch and pitch range, placed after a
random lead-in, mixed with coloured background noise at a random SNR, resampled from 22050 Hz
to 16 kHz, quantised to 16-bit PCM and zero-padded to a fixed clip length.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from edgesim.paths import cache_dir
from edgesim.io import atomic_write

from .audio import SAMPLE_RATE, AudioError, fit_length, resample
from .espeak import VOICES, espeak_synthesise

LOCATIONS = ("kitchen", "bedroom", "washroom")

# (action, object) -> (locations, phrasings). In a phrasing, {in_room} becomes " in the
# kitchen", {room} "kitchen " and {place} "the kitchen"; for location "none" they become
# "", "" and "it".
GRAMMAR: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("activate", "lights"): (LOCATIONS + ("none",), (
        "turn on the lights{in_room}", "switch on the {room}lights", "switch the {room}lights on",
        "lights on{in_room}", "turn the {room}lights on")),
    ("deactivate", "lights"): (LOCATIONS + ("none",), (
        "turn off the lights{in_room}", "switch off the {room}lights",
        "switch the {room}lights off", "lights off{in_room}", "turn the {room}lights off")),
    ("activate", "lamp"): (("none",), (
        "turn on the lamp", "switch on the lamp", "switch the lamp on", "lamp on")),
    ("deactivate", "lamp"): (("none",), (
        "turn off the lamp", "switch off the lamp", "switch the lamp off", "lamp off")),
    ("activate", "music"): (("none",), (
        "turn on the music", "play the music", "put some music on", "start the music",
        "play some music")),
    ("deactivate", "music"): (("none",), (
        "turn off the music", "stop the music", "pause the music", "music off",
        "turn the music off")),
    ("activate", "heat"): (("none",), (
        "turn on the heating", "switch on the heat", "turn the heat on", "heating on")),
    ("deactivate", "heat"): (("none",), (
        "turn off the heating", "switch off the heat", "turn the heat off", "heating off")),
    ("increase", "heat"): (LOCATIONS + ("none",), (
        "turn up the heat{in_room}", "increase the temperature{in_room}", "make {place} warmer",
        "more heat{in_room}", "turn the {room}heating up")),
    ("decrease", "heat"): (LOCATIONS + ("none",), (
        "turn down the heat{in_room}", "decrease the temperature{in_room}",
        "make {place} cooler", "less heat{in_room}", "turn the {room}heating down")),
    ("increase", "volume"): (("none",), (
        "turn up the volume", "increase the volume", "louder please", "turn the volume up")),
    ("decrease", "volume"): (("none",), (
        "turn down the volume", "decrease the volume", "quieter please",
        "turn the volume down")),
    ("increase", "music"): (("none",), (
        "turn the music up", "make the music louder", "turn up the music", "music louder")),
    ("decrease", "music"): (("none",), (
        "turn the music down", "make the music quieter", "turn down the music",
        "music quieter")),
    ("bring", "shoes"): (("none",), (
        "bring me my shoes", "get my shoes", "fetch my shoes", "i'd like my shoes",
        "bring my shoes please")),
    ("bring", "juice"): (("none",), (
        "bring me some juice", "get me a juice", "fetch some juice", "i'd like some juice",
        "bring the juice please")),
}

# Jitter ranges of one utterance (uniform).
RATE_WPM = (150, 200)           # eSpeak speaking rate, words per minute (default 175)
PITCH = (42, 58)                # eSpeak pitch parameter 0..100 (50 = the voice's own)
PITCH_RANGE = (35, 65)          # eSpeak intonation range 0..100 (50 = the voice's own)
SNR_DB = (10.0, 30.0)           # speech-to-noise power ratio, dB
NOISE_SLOPE = (0.0, 2.0)        # noise power spectrum ~ 1/f**slope (0 white, 1 pink, 2 brown)
LEAD_SECONDS = (0.05, 0.5)      # noisy silence before the speech, s
TAIL_SECONDS = (0.1, 0.3)       # noisy silence after the speech, s
PEAK = (0.3, 0.9)               # peak amplitude of the mixed recording


@dataclass(frozen=True, eq=False)
class SpeechCorpus:
    """Labelled clips: audio float32 [N, samples] at `sample_rate` Hz, zero-padded to a fixed
    length; one transcript, intent and speaker name per clip."""

    audio: np.ndarray
    sample_rate: int
    transcripts: tuple[str, ...]
    intents: tuple[str, ...]
    speakers: tuple[str, ...]

    def __post_init__(self):
        a = self.audio
        if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.ndim == 2):
            raise AudioError("corpus audio must be a float32 array of clips x samples")
        n = len(a)
        if not len(self.transcripts) == len(self.intents) == len(self.speakers) == n:
            raise AudioError(f"corpus has {n} clips but {len(self.transcripts)} transcripts, "
                             f"{len(self.intents)} intents, {len(self.speakers)} speakers")

    def __len__(self) -> int:
        return len(self.audio)

    def intent_names(self) -> list[str]:
        return sorted(set(self.intents))

    def intent_ids(self) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.intent_names())}
        return np.array([lookup[x] for x in self.intents], dtype=np.int64)

    def speaker_names(self) -> list[str]:
        return sorted(set(self.speakers))

    def speaker_ids(self) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.speaker_names())}
        return np.array([lookup[x] for x in self.speakers], dtype=np.int64)

    def subset(self, index) -> "SpeechCorpus":
        """The clips at `index` (integer indices or a boolean mask), in that order."""
        idx = np.arange(len(self))[np.asarray(index)]
        return SpeechCorpus(self.audio[idx], self.sample_rate,
                            tuple(self.transcripts[i] for i in idx),
                            tuple(self.intents[i] for i in idx),
                            tuple(self.speakers[i] for i in idx))

    def split(self, test_fraction: float = 0.2, seed: int = 0
              ) -> tuple["SpeechCorpus", "SpeechCorpus"]:
        """(train, test), stratified by intent: each intent with k >= 2 clips puts
        round(k * test_fraction) of them, at least 1 and at most k - 1, into test."""
        if not 0.0 < test_fraction < 1.0:
            raise AudioError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        ids = self.intent_ids()
        test = []
        for intent in range(ids.max() + 1):
            members = rng.permutation(np.flatnonzero(ids == intent))
            if len(members) >= 2:
                k = min(max(round(len(members) * test_fraction), 1), len(members) - 1)
                test.extend(members[:k])
        is_test = np.zeros(len(self), bool)
        is_test[test] = True
        return self.subset(~is_test), self.subset(is_test)


def intents() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Every (action, object, location, phrasings) of the grammar, phrasings filled in."""
    out = []
    for (action, obj), (locations, phrasings) in GRAMMAR.items():
        for loc in locations:
            slots = ({"in_room": "", "room": "", "place": "it"} if loc == "none" else
                     {"in_room": f" in the {loc}", "room": f"{loc} ", "place": f"the {loc}"})
            out.append((action, obj, loc, tuple(p.format(**slots) for p in phrasings)))
    return out


def synthetic_corpus(utterances_per_intent: int = 12, seed: int = 0, clip_seconds: float = 4.0,
                     progress: bool = True) -> SpeechCorpus:
    """The default corpus: `utterances_per_intent` clips of each of the 28 intents, each
    `clip_seconds` s long at 16 kHz. The same arguments give identical arrays; the first call
    synthesises and caches, later calls read the cache."""
    if utterances_per_intent < 1:
        raise AudioError(f"utterances_per_intent must be >= 1, got {utterances_per_intent}")
    samples = round(clip_seconds * SAMPLE_RATE)
    if samples <= 0:
        raise AudioError(f"clip_seconds must be positive, got {clip_seconds}")
    params = _params(utterances_per_intent, seed, samples)
    npz_path = cache_path(utterances_per_intent, seed, clip_seconds)
    manifest_path = npz_path.with_suffix(".json")
    cached = _read_cache(npz_path, manifest_path)
    if cached is not None:
        return cached
    pcm, transcripts, labels, speakers = _synthesise_fresh(utterances_per_intent, seed, samples,
                                                           progress)
    buf = io.BytesIO()
    np.savez(buf, audio=pcm)
    atomic_write(npz_path, buf.getvalue())
    manifest = {"params": params, "generator": _generator_fingerprint(),
                "audio_sha256": hashlib.sha256(pcm.tobytes()).hexdigest(),
                "transcripts": transcripts, "intents": labels, "speakers": speakers}
    atomic_write(manifest_path, json.dumps(manifest, indent=1).encode())
    return _corpus(pcm, transcripts, labels, speakers)


def cache_path(utterances_per_intent: int = 12, seed: int = 0,
               clip_seconds: float = 4.0) -> Path:
    """Where `synthetic_corpus` caches the audio (.npz; the labels beside it in .json). The
    name hashes the arguments, the grammar, the jitter ranges and the eSpeak package version."""
    key = _cache_key(_params(utterances_per_intent, seed, round(clip_seconds * SAMPLE_RATE)))
    return cache_dir() / "speech" / f"synthetic_{key}.npz"


def _params(per_intent: int, seed: int, samples: int) -> dict:
    return {"utterances_per_intent": per_intent, "seed": seed, "samples": samples,
            "sample_rate": SAMPLE_RATE}


def _synthesise_fresh(per_intent: int, seed: int, samples: int, progress: bool):
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
        cmd = [sys.executable, "-m", "speech_privacy.corpus", str(per_intent), str(seed),
               str(samples), str(int(progress)), str(out)]
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                              if not progress else None, text=True)
        if done.returncode != 0 or not out.is_file():
            detail = " ".join((done.stderr or "").split()[-30:])
            raise AudioError(f"speech synthesis failed (exit {done.returncode}) {detail}".strip())
        with np.load(out) as data:
            labels = json.loads(str(data["labels"]))
            return data["pcm"], labels["transcripts"], labels["intents"], labels["speakers"]


def _main(argv: list[str]) -> None:
    """Child process of `_synthesise_fresh`: per_intent seed samples progress out.npz."""
    per_intent, seed, samples, progress = (int(x) for x in argv[:4])
    pcm, transcripts, labels, speakers = _synthesise(per_intent, seed, samples, bool(progress))
    blob = json.dumps({"transcripts": transcripts, "intents": labels, "speakers": speakers})
    buf = io.BytesIO()
    np.savez(buf, pcm=pcm, labels=np.array(blob))
    atomic_write(argv[4], buf.getvalue())


def _synthesise(per_intent: int, seed: int, samples: int, progress: bool):
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    table = intents()
    pcm = np.zeros((len(table) * per_intent, samples), np.int16)
    transcripts, labels, speakers = [], [], []
    with tqdm(total=len(pcm), desc="synthesising speech", unit="clip", disable=not progress) as bar:
        for action, obj, loc, phrasings in table:
            voices = rng.permutation(len(VOICES))
            wordings = rng.permutation(len(phrasings))
            for i in range(per_intent):
                voice = VOICES[voices[i % len(VOICES)]]
                text = phrasings[wordings[i % len(phrasings)]]
                clip = _record(text, voice, rng, samples)
                pcm[len(transcripts)] = np.round(clip * 32767).astype(np.int16)
                transcripts.append(text)
                labels.append(f"{action}|{obj}|{loc}")
                speakers.append(voice)
                bar.update()
    return pcm, transcripts, labels, speakers


def _record(text: str, voice: str, rng: np.random.Generator, samples: int) -> np.ndarray:
    """One noisy recording of `text`, float32 at 16 kHz, zero-padded to `samples`."""
    rate, pitch, spread = (int(rng.integers(lo, hi + 1)) for lo, hi in (RATE_WPM, PITCH,
                                                                         PITCH_RANGE))
    snr_db, slope = rng.uniform(*SNR_DB), rng.uniform(*NOISE_SLOPE)
    lead, tail = rng.uniform(*LEAD_SECONDS), rng.uniform(*TAIL_SECONDS)
    peak = rng.uniform(*PEAK)
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


def _corpus(pcm: np.ndarray, transcripts, labels, speakers) -> SpeechCorpus:
    return SpeechCorpus(pcm.astype(np.float32) / 32768, SAMPLE_RATE, tuple(transcripts),
                        tuple(labels), tuple(speakers))


def _generator_fingerprint() -> dict:
    """What, besides the parameters, decides the generated audio."""
    grammar = json.dumps([[list(k), list(v[0]), list(v[1])] for k, v in GRAMMAR.items()])
    jitter = [RATE_WPM, PITCH, PITCH_RANGE, SNR_DB, NOISE_SLOPE, LEAD_SECONDS, TAIL_SECONDS,
              PEAK]
    return {"grammar_sha256": hashlib.sha256(grammar.encode()).hexdigest(),
            "voices": list(VOICES), "jitter": [list(r) for r in jitter], "synthesis": 2,
            "espeakng_loader": metadata.version("espeakng-loader")}


def _cache_key(params: dict) -> str:
    blob = json.dumps({"params": params, "generator": _generator_fingerprint()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_cache(npz_path: Path, manifest_path: Path) -> SpeechCorpus | None:
    """The cached corpus, or None when absent or unreadable (it is then regenerated)."""
    try:
        manifest = json.loads(manifest_path.read_text())
        with np.load(npz_path) as data:
            pcm = data["audio"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (pcm.dtype != np.int16 or pcm.ndim != 2
            or hashlib.sha256(pcm.tobytes()).hexdigest() != manifest.get("audio_sha256")):
        return None
    return _corpus(pcm, manifest["transcripts"], manifest["intents"], manifest["speakers"])


DEFAULT_UTTERANCES_PER_INTENT = 12
DEFAULT_SEED = 0


def load_default_corpus(utterances_per_intent: int = DEFAULT_UTTERANCES_PER_INTENT,
                        seed: int = DEFAULT_SEED, progress: bool = True) -> SpeechCorpus:
    """The project's default corpus (what `edgesim speech corpus` and `train` use): 28
    intents x `utterances_per_intent` synthetic clips of 4 s at 16 kHz (64000 samples),
    12 eSpeak voices as speakers; synthesised on first use (a few seconds) and cached.
    `corpus.split()` gives the (train, test) split that `edgesim speech train` uses."""
    return synthetic_corpus(utterances_per_intent, seed, 4.0, progress)


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
