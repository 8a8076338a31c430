"""Real speech corpora from disk: a folder of WAV files with a CSV manifest, and the Free
Spoken Digit Dataset layout. Clips are resampled to 16 kHz and zero-padded or cropped (at the
end) to a fixed length in seconds.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .audio import SAMPLE_RATE, AudioError, fit_length, read_wav, resample
from .corpus import SpeechCorpus

MANIFEST_COLUMNS = ("path", "transcript", "intent", "speaker")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def load_manifest(folder: str | Path, csv_path: str | Path | None = None,
                  clip_seconds: float = 4.0, progress: bool = True) -> SpeechCorpus:
    """A corpus from `folder` and a CSV manifest (default `folder/manifest.csv`) with the
    columns path, transcript, intent, speaker; paths are relative to `folder`."""
    folder = Path(folder)
    csv_path = Path(csv_path) if csv_path is not None else folder / "manifest.csv"
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise AudioError(f"{csv_path}: manifest lacks the column(s) {', '.join(missing)} "
                                 f"(needs {', '.join(MANIFEST_COLUMNS)})")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AudioError(f"{csv_path}: cannot read the manifest: {exc}") from None
    if not rows:
        raise AudioError(f"{csv_path}: manifest has no rows")
    for line, row in enumerate(rows, 2):
        empty = [c for c in MANIFEST_COLUMNS if not (row.get(c) or "").strip()]
        if empty:
            raise AudioError(f"{csv_path}:{line}: empty {', '.join(empty)}")
    return _load([folder / row["path"].strip() for row in rows],
                 [" ".join(row["transcript"].split()) for row in rows],
                 [row["intent"].strip() for row in rows],
                 [row["speaker"].strip() for row in rows], clip_seconds, progress)


def load_fsdd(folder: str | Path, clip_seconds: float = 1.0, takes: Iterable[int] | None = None,
              progress: bool = True) -> SpeechCorpus:
    """The Free Spoken Digit Dataset (`folder/recordings/{digit}_{speaker}_{take}.wav` or the
    files directly in `folder`), 8 kHz resampled to 16 kHz. Transcript: the digit's English
    word; intent: the digit ("0".."9"); speaker: from the file name. `takes` keeps only those
    take numbers (the dataset's test split is takes 0-4). Clips longer than `clip_seconds`
    are cropped (20 of the 3,000 exceed 1 s)."""
    folder = Path(folder)
    recordings = folder / "recordings" if (folder / "recordings").is_dir() else folder
    if not recordings.is_dir():
        raise AudioError(f"{folder}: no such folder")
    keep = None if takes is None else set(takes)
    files = []
    for path in sorted(recordings.glob("*.wav")):
        match = _FSDD_NAME.match(path.name)
        if match is None:
            raise AudioError(f"{path}: not an FSDD file name ({{digit}}_{{speaker}}_{{take}}.wav)")
        if keep is None or int(match[3]) in keep:
            files.append((path, match))
    if not files:
        raise AudioError(f"{recordings}: no FSDD recordings"
                         + ("" if keep is None else f" with takes {sorted(keep)}"))
    return _load([p for p, _ in files], [DIGIT_WORDS[int(m[1])] for _, m in files],
                 [m[1] for _, m in files], [m[2] for _, m in files], clip_seconds, progress)


def _load(paths: list[Path], transcripts: list[str], intents: list[str], speakers: list[str],
          clip_seconds: float, progress: bool) -> SpeechCorpus:
    from tqdm import tqdm

    samples = round(clip_seconds * SAMPLE_RATE)
    if samples <= 0:
        raise AudioError(f"clip_seconds must be positive, got {clip_seconds}")
    audio = np.zeros((len(paths), samples), np.float32)
    for i, path in enumerate(tqdm(paths, desc="loading audio", unit="file",
                                  disable=not progress)):
        clip, rate = read_wav(path)
        audio[i] = fit_length(resample(clip, rate, SAMPLE_RATE), samples)
    return SpeechCorpus(audio, SAMPLE_RATE, tuple(transcripts), tuple(intents), tuple(speakers))
