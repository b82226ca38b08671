"""features/atomic.py: the output-path check made before any work."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from features.atomic import check_writable, write_table_atomic
from features.errors import UserInputError


def test_check_writable_accepts_new_folders_and_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "features.parquet"
    assert check_writable(out) == out
    assert sorted(tmp_path.iterdir()) == []  # nothing created, not even the folders


def test_check_writable_refuses_folders_files_and_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "x.parquet"
    folder.mkdir()
    with pytest.raises(UserInputError, match="is a folder"):
        check_writable(folder, what="features file")
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(UserInputError, match="is a file, expected a folder"):
        check_writable(plain / "sub" / "f.csv")

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

    monkeypatch.setattr("features.atomic.tempfile.mkstemp", read_only)
    with pytest.raises(UserInputError, match="cannot write the decisions file there .Read-only file system"):
        check_writable(tmp_path / "d.csv", what="decisions file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "x.parquet"]


def test_atomic_write_then_check(tmp_path: Path) -> None:
    import pandas as pd

    out = write_table_atomic(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert check_writable(out) == out and out.read_text() == "a\n1\n"
