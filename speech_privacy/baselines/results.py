"""Where the baselines' brief training (`edgesim speech baselines`) writes its figures, and how
to read them; imports neither TensorFlow nor Keras."""

from __future__ import annotations

import json
from pathlib import Path

BASELINES_SCHEMA = 2
#: The figures reported per baseline as a mean over seeds with their spread (run.spread).
SPREAD_KEYS = ("intent_accuracy", "wer_asr_probe", "speaker_accuracy_probe")


def baselines_path() -> Path:
    from ..results import trained_dir

    return trained_dir() / "baselines.json"


def load_baseline_results(path: str | Path | None = None) -> dict | None:
    """The results JSON of the baselines' training, or None when it never ran (or the file
    is unreadable or of another schema)."""
    path = Path(path) if path is not None else baselines_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == BASELINES_SCHEMA else None
