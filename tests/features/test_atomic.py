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


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_outputs_get_the_umask_mode(tmp_path: Path, mask: int) -> None:
    """A file written atomically gets the mode any new file gets under the umask (mkstemp's private 0600 made
    reports, decisions and Dask parts unreadable to a web server or workers running as another user); a write
    that fails leaves neither the target nor a temporary file."""
    import pandas as pd

    from features.atomic import temp_beside, write_bytes_atomic

    old = os.umask(mask)
    try:
        a = write_table_atomic(pd.DataFrame({"x": [1]}), tmp_path / "t.csv")
        b = write_bytes_atomic(b"<html></html>", tmp_path / "sub" / "page.html")
        with pytest.raises(RuntimeError), temp_beside(tmp_path / "never.parquet"):
            raise RuntimeError("killed")
    finally:
        os.umask(old)
    for p in (a, b):
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(q.name for q in tmp_path.rglob("*")) == ["page.html", "sub", "t.csv"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 runs no cleanup: the temporary file of a process killed while writing a cache or output file stayed
    beside it for good. The next write into the folder removes those an hour-old dead process of this host left; a
    live process's (a concurrent writer), a young one's (a writer in another PID namespace looks dead from here),
    another host's (a shared folder) and other names stay."""
    import subprocess
    import sys
    import time

    import pandas as pd

    import features.atomic as A
    from features.atomic import _host, write_table_atomic

    monkeypatch.setattr(A, "_SWEPT", set())

    script = ("import os, sys, tempfile\n"
              "fd, p = tempfile.mkstemp(dir=sys.argv[1], prefix=f'.t.parquet.{sys.argv[2]}-{os.getpid()}.', "
              "suffix='.tmp')\nos.write(fd, b'half')\nos._exit(0)\n")  # a writer that dies without cleaning up
    subprocess.run([sys.executable, "-c", script, str(tmp_path), _host()], check=True)
    dead = [p.name for p in tmp_path.iterdir()]
    assert len(dead) == 1
    live = tmp_path / f".t.parquet.{_host()}-{os.getpid()}.abc.tmp"
    other_host = tmp_path / ".t.parquet.otherhost-1.abc.tmp"
    young = tmp_path / f".u.parquet.{_host()}-999999999.abc.tmp"  # a dead pid here, but written a minute ago
    other_name = tmp_path / f"notes.{_host()}-999999999.txt"
    for p in (live, other_host, young, other_name):
        p.write_bytes(b"x")
    old = time.time() - 2 * A.STALE_AFTER_S
    for p in (tmp_path / dead[0], live, other_host, other_name):
        os.utime(p, (old, old))
    os.utime(young, (time.time() - 60, time.time() - 60))
    write_table_atomic(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["t.parquet", live.name, other_host.name, young.name, other_name.name])


def test_private_tempdirs_in_a_shared_root_are_swept_as_in_tmpdir(tmp_path: Path) -> None:
    """A Dask run's scene folder inside the Sentinel Hub cache shared with the workers (``private_tempdir(kind,
    root)``): one a killed run of this host left (process gone, an hour old) is removed by the next run; a live
    process's, another host's (the cache is shared) and a young one are kept; nothing in TMPDIR is looked at."""
    import time

    import features.atomic as A
    from features.atomic import _host, private_tempdir

    dead_pid = 999_999_999
    names = {"dead": f"agcredit-sh-scenes-{_host()}-{dead_pid}-abc", "live": f"agcredit-sh-scenes-{_host()}-"
             f"{os.getpid()}-abc", "other_host": f"agcredit-sh-scenes-otherhost-{dead_pid}-abc",
             "young": f"agcredit-sh-scenes-{_host()}-{dead_pid}-young"}
    for n in names.values():
        (tmp_path / n).mkdir()
        (tmp_path / n / "S2.tif").write_bytes(b"x")
    old = time.time() - 2 * A.STALE_AFTER_S
    for k in ("dead", "live", "other_host"):
        os.utime(tmp_path / names[k], (old, old))
    with private_tempdir("sh-scenes", tmp_path) as d:
        assert Path(d).parent == tmp_path and Path(d).name.startswith(f"agcredit-sh-scenes-{_host()}-{os.getpid()}-")
        kept = sorted(p.name for p in tmp_path.iterdir() if p.name != Path(d).name)
    assert kept == sorted(names[k] for k in ("live", "other_host", "young"))
    assert sorted(p.name for p in tmp_path.iterdir()) == kept  # its own folder removed at the end


@pytest.mark.parametrize("interrupted", [False, True])
def test_undone_on_user_error_puts_a_file_back_and_on_an_interrupt_when_asked(tmp_path: Path,
                                                                             interrupted: bool) -> None:
    """A run that stores nothing (`monitor`, `report`) puts its rejects file back on SIGTERM or Ctrl-C too; a run
    that may have stored its records (`underwrite`) keeps it then."""
    from features.atomic import undone_on_user_error

    p = tmp_path / "rejects.csv"
    for before in (None, b"earlier\n"):
        if before is not None:
            p.write_bytes(before)
        with pytest.raises(UserInputError), undone_on_user_error(p, interrupted=interrupted):
            p.write_bytes(b"new\n")
            raise UserInputError("refused")
        assert (p.read_bytes() if p.exists() else None) == before
        with pytest.raises(KeyboardInterrupt), undone_on_user_error(p, interrupted=interrupted):
            p.write_bytes(b"new\n")
            raise KeyboardInterrupt
        assert (p.read_bytes() if p.exists() else None) == (before if interrupted else b"new\n")
        p.unlink(missing_ok=True)

    # a link: its target put back (absent, or its earlier bytes), the link kept (the link was unlinked, the target
    # left holding the refused run's rows)
    link, target = tmp_path / "rejlink", tmp_path / "rej_target.csv"
    link.symlink_to(target.name)
    for before in (None, b"earlier\n"):
        if before is not None:
            target.write_bytes(before)
        with pytest.raises(UserInputError), undone_on_user_error(link, interrupted=interrupted):
            link.write_bytes(b"new\n")
            raise UserInputError("refused")
        assert link.is_symlink() and (target.read_bytes() if target.exists() else None) == before


def test_an_output_that_is_a_link_is_written_through_and_a_device_is_refused(tmp_path: Path) -> None:
    """An `--out` that is a symbolic link (a bank's `latest.csv` pointing into a dated archive) had the link itself
    replaced by a file, the target left stale; /dev/stdout or a pipe was "replaced" by a rename that cannot work there
    (close of 2026-12-07). The link's target gets the bytes, the link stays; a device or pipe is refused, naming it."""
    from features.atomic import write_all_atomic, write_bytes_atomic

    (tmp_path / "archive").mkdir()
    target, link = tmp_path / "archive" / "2026-12.csv", tmp_path / "latest.csv"
    target.write_bytes(b"old")
    link.symlink_to(target)
    assert check_writable(link) == link
    write_bytes_atomic(b"new", link)
    assert link.is_symlink() and target.read_bytes() == b"new"
    write_all_atomic([(link, b"newer"), (tmp_path / "other.csv", b"x")])
    assert link.is_symlink() and target.read_bytes() == b"newer"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for out in (fifo, Path("/dev/null")):
        with pytest.raises(UserInputError, match=r"the output is not a regular file \(a device, pipe or socket\)"):
            check_writable(out)
        with pytest.raises(UserInputError, match=r"is not a regular file"):
            write_bytes_atomic(b"x", out)
    assert Path("/dev/null").exists() and fifo.exists()
