"""Real speech corpora from disk: a folder of WAV files with a CSV manifest, and the Free
Spoken Digit Dataset layout. Clips are resampled to 16 kHz and zero-padded or cropped (at the
end) to a fixed length in seconds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edgesim.io import open_regular

from .audio import (MAX_SECONDS, SAMPLE_RATE, AudioError, _one_line, fit_length,
                    read_wav, resample)
from .corpus import SpeechCorpus

MANIFEST_COLUMNS = ("path", "transcript", "intent", "speaker")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
MAX_MANIFEST_BYTES = 8 << 20
MAX_ROWS = 20_000         # a corpus is held in memory, every clip at once


def load_manifest(folder: str | Path, csv_path: str | Path | None = None,
                  clip_seconds: float = 4.0, progress: bool = True) -> SpeechCorpus:
    """A corpus from `folder` and a CSV manifest (default `folder/manifest.csv`) with the
    columns path, transcript, intent, speaker. Relative paths are relative to `folder` and
    must stay inside it once symlinks and ".." are resolved; absolute paths are taken as
    written. The manifest must be a regular file of at most `MAX_MANIFEST_BYTES` and
    `MAX_ROWS` rows."""
    folder = Path(folder)
    csv_path = Path(csv_path) if csv_path is not None else folder / "manifest.csv"
    try:
        with open_regular(csv_path, "manifest", AudioError) as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise AudioError(f"{csv_path}: cannot read the manifest: no such file") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise AudioError(f"{csv_path}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise AudioError(f"{csv_path}: manifest lacks the column(s) {', '.join(missing)} "
                             f"(needs {', '.join(MANIFEST_COLUMNS)})")
        rows = []
        for row in reader:
            rows.append(row)
            if len(rows) > MAX_ROWS:
                raise AudioError(f"{csv_path}: manifest has more than {MAX_ROWS} rows")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise AudioError(f"{csv_path}: cannot read the manifest: {_one_line(exc)}") from None
    if not rows:
        raise AudioError(f"{csv_path}: manifest has no rows")
    paths = []
    for line, row in enumerate(rows, 2):
        empty = [c for c in MANIFEST_COLUMNS if not (row.get(c) or "").strip()]
        if empty:
            raise AudioError(f"{csv_path}:{line}: empty {', '.join(empty)}")
        paths.append(_inside(folder, row["path"].strip(), f"{csv_path}:{line}"))
    return _load(paths, [" ".join(row["transcript"].split()) for row in rows],
                 [row["intent"].strip() for row in rows],
                 [row["speaker"].strip() for row in rows], clip_seconds, progress)


def _inside(folder: Path, text: str, where: str) -> Path:
    """Manifest path `text`: absolute as written, or relative and resolved inside `folder`."""
    path = Path(text)
    if path.is_absolute():
        return path
    try:
        root, full = folder.resolve(), (folder / path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:     # a symlink loop, a NUL byte
        raise AudioError(f"{where}: path {text!r} cannot be resolved: {_one_line(exc)}") \
            from None
    if not full.is_relative_to(root):
        raise AudioError(f"{where}: path {text!r} leads outside the manifest's folder {folder}")
    return full


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

    if not 0 < clip_seconds <= MAX_SECONDS:
        raise AudioError(f"clip_seconds must lie in (0, {MAX_SECONDS}], got {clip_seconds}")
    samples = round(clip_seconds * SAMPLE_RATE)
    if samples <= 0:
        raise AudioError(f"clip_seconds must be positive, got {clip_seconds}")
    audio = np.zeros((len(paths), samples), np.float32)
    for i, path in enumerate(tqdm(paths, desc="loading audio", unit="file",
                                  disable=not progress)):
        clip, rate = read_wav(path)
        audio[i] = fit_length(resample(clip, rate, SAMPLE_RATE), samples)
    return SpeechCorpus(audio, SAMPLE_RATE, tuple(transcripts), tuple(intents), tuple(speakers))
