"""edgesim.io.atomic_write: all or nothing, with ordinary file permissions."""

import os

import pytest

from edgesim.io import atomic_write


def test_new_file_gets_the_umask_default_and_existing_mode_is_kept(tmp_path):
    umask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "sub" / "model.tflite", b"abc")
        assert path.read_bytes() == b"abc"
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)
        atomic_write(path, b"defg")
        assert path.read_bytes() == b"defg" and path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = atomic_write(tmp_path / "model.tflite", b"old")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, b"new contents")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]
