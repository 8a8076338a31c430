"""Where edgesim keeps caches and finds data; nothing is ever written beside the code.

Caches go to $EDGESIM_CACHE (default ~/.cache/edgesim). Data sets are named by a flag or an
environment variable (FSDD: --fsdd or $EDGESIM_FSDD), never found relative to the installed
package. Outputs go to the current directory or the command's --out.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """$EDGESIM_CACHE/<parts> (default ~/.cache/edgesim/<parts>); not created here."""
    root = os.environ.get("EDGESIM_CACHE") or Path.home() / ".cache" / "edgesim"
    return Path(root).joinpath(*parts)


def fsdd_dir(explicit: str | Path | None = None) -> Path | None:
    """The Free Spoken Digit Dataset folder: `explicit`, else $EDGESIM_FSDD, else None."""
    chosen = explicit or os.environ.get("EDGESIM_FSDD")
    return Path(chosen) if chosen else None
