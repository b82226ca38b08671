"""A temporary file a killed writer left beside its target is removed by the next write of that target at once."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def test_the_next_write_of_a_target_removes_what_a_killed_writer_left(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`timeout -s KILL 2 agcredit decisions export --out k2.csv` left a hidden 563 KB ``.k2.csv.<host>-<pid>.<random>.tmp``
    and the next export kept it (swept only once an hour old). The next write of the same target removes it at
    once — its writer is gone and nobody holds it locked —; a temporary file still locked (a live writer in another
    PID namespace sharing the host name: its pid looks dead here), another target's young one, another host's and a
    live process's are kept."""
    import features.atomic as A
    from features.atomic import _host, write_table_atomic

    monkeypatch.setattr(A, "_SWEPT", set())
    script = ("import os, sys, pandas as pd\nfrom features.atomic import temp_beside\n"
              "with temp_beside(sys.argv[1]) as tmp:\n"
              "    pd.DataFrame({'a': range(1000)}).to_csv(tmp, index=False)\n"
              "    os.kill(os.getpid(), 9)\n")  # killed outright mid-write: no cleanup runs
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path / "k2.csv")], check=False,
                         cwd=Path(A.__file__).parents[1])
    assert res.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".k2.csv.{_host()}-") and left[0].endswith(".tmp")
    locked = tmp_path / f".k2.csv.{_host()}-999999999.abc.tmp"  # pid looks dead, but its writer holds the lock
    other_target = tmp_path / f".u.csv.{_host()}-999999999.abc.tmp"
    other_host = tmp_path / ".k2.csv.otherhost-999999999.abc.tmp"
    live = tmp_path / f".k2.csv.{_host()}-{os.getppid()}.abc.tmp"
    for p in (locked, other_target, other_host, live):
        p.write_bytes(b"x")
    fd = os.open(locked, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        write_table_atomic(pd.DataFrame({"a": [1]}), tmp_path / "k2.csv")
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["k2.csv", locked.name, other_target.name, other_host.name, live.name])
    assert pd.read_csv(tmp_path / "k2.csv")["a"].tolist() == [1]


def test_a_writer_holds_its_temporary_file_locked_until_done(tmp_path: Path) -> None:
    from features.atomic import _unheld, temp_beside, write_all_atomic

    with temp_beside(tmp_path / "a.csv") as tmp:
        Path(tmp).write_text("a\n")
        assert not _unheld(tmp)
    assert (tmp_path / "a.csv").read_text() == "a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]
    write_all_atomic([(tmp_path / "b.bin", b"b"), (tmp_path / "c.bin", b"c")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.bin", "c.bin"]
    import features.atomic as A

    assert A._HELD == {}
