"""Atomic writes: a reader, a crash or a concurrent process never sees half a file or folder.

Files are written to a temporary name in the target's folder and renamed over it. Cache
folders are filled in a private temporary folder and renamed into place; a process that loses
that race to another one keeps the winner's folder, which holds the same content.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write `data` (str as UTF-8) to `path` via a temporary file in the same folder and a
    rename (see `atomic_file`)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_file(path) as tmp:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """A temporary path beside `path` for a writer that wants a file name (e.g. GGUFWriter);
    renamed over `path` when the block ends, removed if it raises. The file gets the mode
    of the file it replaces, else the umask's default (mkstemp alone would leave it 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def private_dir(final: Path) -> Path:
    """A new empty folder beside `final` (same file system, so it can be renamed into place)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))


def publish_dir(tmp: Path, final: Path) -> Path:
    """Rename the filled folder `tmp` to `final`. If another process published `final` first,
    theirs is kept and `tmp` removed: both hold the same build, so losing the race is success."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def open_regular(path: Path, what: str, error: type[Exception]):
    """`path` opened for binary reading, refused with `error` unless it is a regular file (a
    FIFO or a device would block or never end). FileNotFoundError passes through, so each
    caller words a missing file its own way."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot open the {what}: "
                    f"{getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: the {what} is not a regular file")
    return os.fdopen(fd, "rb")
