"""simulate --out: one run at a time per folder (an OS lock), the swap re-checked under it, a linked --out, a missing
parent folder, and the command line's wording of its refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from democounty import SimulateError, simulate

REPO = Path(__file__).resolve().parents[2]


def _left_beside(out: Path) -> list[str]:
    """What a run left beside ``out`` (its build folder, swap marker, previous county, lock)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name + "."))


def test_a_second_run_into_the_same_out_is_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs into one --out both built ``<out>.partial`` (each removing it at start) and the later swapped its
    county over the earlier's without --overwrite, or failed on the other's half-removed files leaving a broken
    folder. A run started while another runs into the same --out is now refused at once; the first completes."""
    import democounty._growth as growth

    out = tmp_path / "r"
    real = growth.run_pool
    seen: list[str] = []

    def second_run_meanwhile(*a: Any, **k: Any) -> Any:
        t0 = time.monotonic()
        with pytest.raises(SimulateError, match=r"another simulate is writing it now") as e:
            simulate("in-smallholder", 9, "tiny", out, render=False, workers=1)
        seen.append(str(e.value))
        assert time.monotonic() - t0 < 5  # at once, not after simulating
        return real(*a, **k)

    monkeypatch.setattr(growth, "run_pool", second_run_meanwhile)
    meta = simulate("in-smallholder", 7, "tiny", out, render=False, workers=1)
    assert seen and str(out) in seen[0] and "\n" not in seen[0]
    assert meta["seed"] == 7 and json.loads((out / "county.json").read_text())["seed"] == 7
    assert _left_beside(out) == []  # no r.partial, r.old, r.swap; the lock file removed


def test_a_killed_run_never_blocks_the_next(tmp_path: Path) -> None:
    """The lock is the kernel's: a run killed outright (SIGKILL) — even while its forked workers live on — frees it;
    the next run goes ahead (and reuses the lock file left behind)."""
    out = tmp_path / "r"
    code = (
        "import os, signal, sys, time\n"
        "from pathlib import Path\n"
        "from democounty._outlock import held_out_lock\n"
        "with held_out_lock(Path(sys.argv[1]), lambda o: RuntimeError(o)):\n"
        "    child = os.fork()\n"
        "    if child == 0:\n"  # a crop-model or renderer worker outliving its run
        "        os.closerange(0, 3); time.sleep(60); os._exit(0)\n"
        "    print(child, flush=True)\n"
        "    sys.stdin.readline()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, cwd=REPO)
    child = 0
    try:
        assert p.stdout is not None and p.stdin is not None
        child = int(p.stdout.readline())
        with pytest.raises(SimulateError, match="another simulate is writing it"):
            simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
        assert not out.exists()
        p.stdin.write("go\n")
        p.stdin.close()
        assert p.wait(timeout=30) == -9  # killed: its forked child still sleeps
        os.kill(child, 0)
        assert out.with_name("r.lock").exists()  # left by the killed run
        simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        if child:
            os.kill(child, 9)
    assert (out / "county.json").is_file() and _left_beside(out) == []


@pytest.mark.parametrize("filled", ["file", "county"])
def test_a_folder_filled_while_simulating_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           filled: str) -> None:
    """The new-or-empty check ran only at the start; the swap replaced whatever ``out`` held by then (a county
    another run or a copy put there, the user's files) without --overwrite. It is checked again before the swap."""
    import democounty._growth as growth

    out = tmp_path / "r"
    out.mkdir()
    real = growth.run_pool

    def fill_meanwhile(*a: Any, **k: Any) -> Any:
        name = "county.json" if filled == "county" else "keep.txt"
        (out / name).write_text('{"synthetic": true, "seed": 8}\n')
        return real(*a, **k)

    monkeypatch.setattr(growth, "run_pool", fill_meanwhile)
    with pytest.raises(SimulateError, match=r"filled while simulating: nothing replaced"):
        simulate("in-smallholder", 7, "tiny", out, render=False, workers=1)
    assert [p.name for p in out.iterdir()] == ["county.json" if filled == "county" else "keep.txt"]
    assert _left_beside(out) == []


def test_a_linked_out_is_written_into_its_target(tmp_path: Path) -> None:
    """--out a symbolic link to an empty folder: the swap's removal failed ("Cannot call rmtree on a symbolic
    link", exit 1) with the link replaced by a real folder, the target empty, ``lnk.old -> tgt`` and ``lnk.swap``
    left, and every re-run refused. The county is written into the link's target, the link kept, nothing left."""
    tgt = tmp_path / "tgt"
    tgt.mkdir()
    lnk = tmp_path / "lnk"
    lnk.symlink_to(tgt)
    simulate("in-smallholder", 1, "tiny", lnk, render=False, workers=1)
    assert lnk.is_symlink() and os.readlink(lnk) == str(tgt)
    assert json.loads((tgt / "county.json").read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lnk", "tgt"]
    meta = simulate("in-smallholder", 2, "tiny", lnk, render=False, workers=1, overwrite=True)  # through the link
    assert meta["seed"] == 2 and json.loads((tgt / "county.json").read_text())["seed"] == 2
    assert lnk.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["lnk", "tgt"]


def test_a_missing_parent_folder_is_refused(tmp_path: Path) -> None:
    """--out a/b/c with no a/b made the whole tree; simulate creates --out, not the folders above it."""
    from pipelines.cli import app

    with pytest.raises(SimulateError, match=r"parent folder exists .* create them first"):
        simulate("in-smallholder", 1, "tiny", tmp_path / "a" / "b" / "c", render=False, workers=1)
    r = CliRunner().invoke(app, ["simulate", "--region", "in-smallholder", "--seed", "1", "--size", "tiny", "--out",
                                 str(tmp_path / "a" / "b" / "c"), "--no-render", "--workers", "1"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: simulate: --out: expected a folder whose parent folder exists (simulate "
                               "creates the --out folder"), r.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_names_its_options_only(tmp_path: Path) -> None:
    """The command line's refusal said "(or --overwrite; overwrite=True from Python)": each words it its own way."""
    from pipelines.cli import app

    out = tmp_path / "full"
    out.mkdir()
    (out / "x.txt").write_text("x")
    with pytest.raises(SimulateError) as e:
        simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
    assert "(or overwrite=True)" in str(e.value) and "--" not in str(e.value)
    r = CliRunner().invoke(app, ["simulate", "--region", "in-smallholder", "--seed", "1", "--size", "tiny", "--out",
                                 str(out), "--no-render", "--workers", "1"])
    assert r.exit_code == 2, r.stderr
    assert r.stderr == f"error: simulate: --out: expected a new or empty folder (or --overwrite), found '{out}'\n"
    f = tmp_path / "afile"
    f.write_text("x")
    r = CliRunner().invoke(app, ["simulate", "--region", "in-smallholder", "--seed", "1", "--size", "tiny", "--out",
                                 str(f), "--overwrite", "--no-render"])
    assert r.exit_code == 2 and "with --overwrite" in r.stderr and "Python" not in r.stderr, r.stderr
