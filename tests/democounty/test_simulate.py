"""simulate(): layout, determinism, atomic writes, CLI, and the import boundary around democounty."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from democounty import REGIONS, SimulateError, simulate
from features.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
KEYS = {"synthetic", "region", "seed", "size", "crs", "bounds", "pixel_size", "seasons", "current_season",
        "currency", "policy_profile", "crops", "generator_version"}


@pytest.fixture(scope="module")
def tiny_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sim")
    a = root / "a"
    b = root / "b"
    simulate("us-nebraska", 11, "tiny", a, render=False, workers=1)
    simulate("us-nebraska", 11, "tiny", b, render=False, workers=1)
    return a, b


def test_layout_and_metadata(tiny_twice: tuple[Path, Path]) -> None:
    a, _ = tiny_twice
    meta = json.loads((a / "county.json").read_text())
    assert set(meta) == KEYS
    assert meta["synthetic"] is True and meta["region"] == "us-nebraska" and meta["size"] == "tiny"
    assert meta["seasons"] == ["2017", "2018"] and meta["current_season"] == "2018"
    assert all(v % 10 == 0 for v in meta["bounds"]) and meta["bounds"][0] < meta["bounds"][2]
    for rel in ("records/fields.gpkg", "records/history.csv", "records/applications.csv", "records/book.csv",
                "truth/fields.parquet", "truth/canopy.parquet", "truth/planted.gpkg", "truth/landcover.gpkg"):
        assert (a / rel).is_file(), rel
    assert (a / "scenes").is_dir()
    assert not a.with_name("a.partial").exists()


def test_same_seed_identical_bytes(tiny_twice: tuple[Path, Path]) -> None:
    a, b = tiny_twice
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) >= 9
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), f"{rel} differs between identical runs"


def test_truth_tables(tiny_twice: tuple[Path, Path]) -> None:
    a, _ = tiny_twice
    t = pd.read_parquet(a / "truth/fields.parquet")
    assert len(t) == 24 and not t.duplicated(["field_id", "season"]).any()
    planted = t[t["planted"]]
    assert (planted["true_crop"] != "fallow").all()
    assert (t.loc[~t["planted"], "true_crop"] == "fallow").all()
    assert (planted["sowing_date"] <= planted["emergence_date"]).all()
    ok = planted["maturity_date"].notna()
    assert (planted.loc[ok, "maturity_date"] <= planted.loc[ok, "harvest_date"]).all()
    assert t["condition_id"].str.len().gt(0).all()
    c = pd.read_parquet(a / "truth/canopy.parquet")
    assert c["green_cover"].between(0, 1).all() and c["senescent_cover"].between(0, 1).all()
    assert (c["green_cover"] + c["senescent_cover"] <= 1.0001).all()
    per = c.groupby(["field_id", "season"])["green_cover"].max()
    grown = t[t["planted"] & t["failure_date"].isna()]
    assert all(per[(r.field_id, r.season)] > 0.2 for r in grown.itertuples())
    assert all(per[(r.field_id, r.season)] == 0.0 for r in t[t["true_crop"] == "fallow"].itertuples())
    window = c.groupby(["field_id", "season"])["date"].agg(["min", "max"])
    assert (window["min"].dt.strftime("%m-%d") == "09-15").all() and (window["max"].dt.strftime("%m-%d") == "11-30").all()


def test_refuses_non_empty_out_then_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "county"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(SimulateError, match="new or empty folder"):
        simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
    assert (out / "keep.txt").exists()
    # --overwrite replaced ANY folder (a project, a home folder) and, given a file, wrote the county then failed
    # on "<file>.old": it replaces a county folder only, and a file is refused before any work
    with pytest.raises(SimulateError, match=r"a county folder to overwrite .* \(not a county folder: nothing "
                                            r"replaced\)"):
        simulate("in-smallholder", 1, "tiny", out, render=False, workers=1, overwrite=True)
    assert (out / "keep.txt").exists() and not out.with_name("county.partial").exists()
    afile = tmp_path / "afile"
    afile.write_text("hello")
    with pytest.raises(SimulateError, match=r"a folder .* \(a file\)"):
        simulate("in-smallholder", 1, "tiny", afile, render=False, workers=1, overwrite=True)
    assert afile.read_text() == "hello" and not afile.with_name("afile.partial").exists()
    (out / "keep.txt").unlink()
    simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
    (out / "extra.txt").write_text("x")  # a county folder with a stray file: replaced whole
    meta = simulate("in-smallholder", 1, "tiny", out, render=False, workers=1, overwrite=True)
    assert meta["currency"] == "INR" and not (out / "extra.txt").exists()
    assert not out.with_name("county.partial").exists() and not out.with_name("county.old").exists()


def test_an_unwritable_out_is_refused_before_simulating(tmp_path: Path) -> None:
    """An unwritable --out was reported only after the whole simulation, naming the internal .partial folder as
    "file not found"."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode: a file where a folder is needed instead
            (tmp_path / "afile").write_text("x")
            target = tmp_path / "afile" / "county"
        else:
            target = ro / "county"
        with pytest.raises(UserInputError, match="cannot write the county folder there") as e:
            simulate("in-smallholder", 1, "tiny", target, render=False, workers=1)
        # the folder the user gave, not the internal build folder beside it
        assert str(e.value).startswith(f"{target}: ") and ".partial" not in str(e.value), str(e.value)
    finally:
        ro.chmod(0o755)


def test_a_read_only_filesystem_names_the_out_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a read-only mount the refusal named ``<out>.partial/county.json``, a name the user never gave."""
    import errno
    import tempfile

    def erofs(*_a: object, **_kw: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", erofs)
    target = tmp_path / "county"
    with pytest.raises(UserInputError) as e:
        simulate("in-smallholder", 1, "tiny", target, render=False, workers=1)
    assert str(e.value) == f"{target}: cannot write the county folder there (Read-only file system)", str(e.value)
    assert not target.exists() and not target.with_name("county.partial").exists()


@pytest.mark.parametrize(("kw", "msg"), [({"region": "mars"}, "region"), ({"size": "huge"}, "size"),
                                         ({"seasons": 0}, "seasons")])
def test_bad_arguments_are_user_errors(tmp_path: Path, kw: dict, msg: str) -> None:
    args = {"region": "us-nebraska", "seed": 1, "size": "tiny", "out": tmp_path / "x", "render": False}
    args.update(kw)
    with pytest.raises(UserInputError, match=msg):
        simulate(**args)
    assert set(REGIONS) == {"us-nebraska", "in-smallholder"}


def test_cli_simulate(tmp_path: Path) -> None:
    from pipelines.cli import app

    out = tmp_path / "cty"
    r = CliRunner().invoke(app, ["simulate", "--region", "in-smallholder", "--seed", "3", "--size", "tiny",
                                 "--out", str(out), "--no-render", "--workers", "1"])
    assert r.exit_code == 0, r.stderr
    assert "fields: 12" in r.stdout and "synthetic" in r.stdout and str(out / "truth") in r.stdout
    assert "warning" not in r.stderr
    # --size tiny simulates one past season: a --seasons above it was dropped without a word
    r4 = CliRunner().invoke(app, ["simulate", "--region", "in-smallholder", "--seed", "3", "--size", "tiny",
                                  "--out", str(tmp_path / "t4"), "--no-render", "--workers", "1", "--seasons", "4"])
    assert r4.exit_code == 0 and "warning: --size tiny simulates one past season; --seasons 4 is not used" in r4.stderr
    r2 = CliRunner().invoke(app, ["simulate", "--region", "in-smallholder", "--seed", "3", "--size", "tiny",
                                  "--out", str(out), "--no-render"])
    assert r2.exit_code == 2 and "error:" in r2.stderr and "Traceback" not in r2.stderr
    r3 = CliRunner().invoke(app, ["simulate", "--region", "atlantis", "--seed", "3", "--out", str(tmp_path / "z")])
    assert r3.exit_code == 2 and "region" in r3.stderr


_IMPORT = re.compile(r"^\s*(from|import)\s+democounty\b", re.M)
_TRUTH = re.compile(r"""["'/]truth["'/]""")


def test_production_never_imports_democounty_or_reads_truth() -> None:
    offenders = []
    n = 0
    for pkg in ("features", "models", "underwriting"):
        for p in (REPO / pkg).rglob("*.py"):
            n += 1
            text = p.read_text(encoding="utf-8")
            if _IMPORT.search(text) or "importlib" in text and "democounty" in text:
                offenders.append(f"{p.relative_to(REPO)} imports democounty")
            if _TRUTH.search(text):
                offenders.append(f"{p.relative_to(REPO)} mentions the truth/ folder")
    assert n > 5
    assert offenders == []


def test_boundary_check_detects_an_import() -> None:
    assert _IMPORT.search("import os\nfrom democounty import simulate\n")
    assert _TRUTH.search("p = county / 'truth' / 'fields.parquet'")
    assert not _IMPORT.search("# democounty is never imported here")


def test_a_county_without_book_lines_has_a_readable_book(tmp_path: Path) -> None:
    """us-nebraska seed 3 (tiny) draws no Book line: book.csv was a bare newline (no header), `simulate` ended in a
    traceback and every county command refused the county ("No columns to parse from file")."""
    from pipelines.county import County

    out = tmp_path / "ne3"
    simulate("us-nebraska", 3, "tiny", out, render=False, workers=1)
    assert (out / "records" / "book.csv").read_text().startswith("line_id,application_id,")
    book = County(out).book()
    assert book.empty and "limit" in book.columns


class _Killed(BaseException):
    """A SIGKILL's stand-in: nothing after it runs (no except clause of the code catches a BaseException of this)."""


def test_a_swap_killed_midway_is_finished_or_undone_by_the_next_run(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`simulate --overwrite` killed between its renames left `<out>.old` for good (and, killed between the two, no
    `out` at all: the next run simulated a new county beside the leftover). Now any next simulate on that --out
    finishes or undoes the swap first, in one line: killed between the renames, the previous county is renamed back;
    killed after them (removing `<out>.old`), the new county stands and the leftover is removed."""
    import shutil

    from pipelines.cli import app

    out = tmp_path / "cty"
    old = tmp_path / "cty.old"
    simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
    rename, rmtree = Path.rename, shutil.rmtree

    def killed_rename(self: Path, target: Any) -> Any:
        if self.name == "cty.partial":  # the second rename: out is already cty.old
            raise _Killed
        return rename(self, target)

    with monkeypatch.context() as m, pytest.raises(_Killed):
        m.setattr(Path, "rename", killed_rename)
        simulate("in-smallholder", 2, "tiny", out, render=False, workers=1, overwrite=True)
    assert old.is_dir() and not out.exists()
    args = ["simulate", "--region", "in-smallholder", "--seed", "2", "--size", "tiny", "--out", str(out),
            "--no-render", "--workers", "1"]
    r = CliRunner().invoke(app, args)  # no --overwrite: the restored county is refused after the recovery
    said = [ln for ln in r.stderr.splitlines() if "cty.old" in ln]
    assert said == [f"warning: {old} left by a simulate run killed while replacing {out}: renamed back to {out} (the "
                    "previous county; the interrupted run's is not kept)"], r.stderr
    assert r.exit_code == 2 and "new or empty folder" in r.stderr and "Traceback" not in r.output
    assert not old.exists() and json.loads((out / "county.json").read_text())["seed"] == 1
    assert not (tmp_path / "cty.partial").exists()

    def killed_rmtree(path: Any, *a: Any, **k: Any) -> None:
        if Path(path).name == "cty.old":  # half-way through removing the previous county
            (Path(path) / "county.json").unlink()
            raise _Killed
        rmtree(path, *a, **k)

    with monkeypatch.context() as m, pytest.raises(_Killed):
        m.setattr(shutil, "rmtree", killed_rmtree)
        simulate("in-smallholder", 2, "tiny", out, render=False, workers=1, overwrite=True)
    assert old.is_dir() and json.loads((out / "county.json").read_text())["seed"] == 2
    said2: list[str] = []
    with pytest.raises(SimulateError, match="new or empty folder"):  # any simulate on that --out recovers first
        simulate("in-smallholder", 2, "tiny", out, render=False, workers=1, say=said2.append)
    assert said2 == [f"{old} left by a simulate run killed after replacing {out} (the new county is complete): "
                     f"{old} removed"]
    assert not old.exists() and json.loads((out / "county.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cty"]


def test_recover_swap_leaves_what_it_cannot_tell(tmp_path: Path) -> None:
    """recover_swap: nothing without a `<out>.old` folder; with the swap's marker, an empty `out` beside a simulated
    `<out>.old` is replaced by it; beside a folder that is not a county folder both stay (said); a `<out>.old` file is
    not touched; a marker without `<out>.old` is removed."""
    from democounty import recover_swap

    out, old, marker = tmp_path / "c", tmp_path / "c.old", tmp_path / "c.swap"
    assert recover_swap(out) is None
    old.mkdir()
    (old / "county.json").write_text('{"synthetic": true}')
    out.mkdir()
    marker.write_text('{"pid": 1, "seed": 1, "region": "in-smallholder"}')
    said: list[str] = []
    assert recover_swap(out, said.append) == said[0] and "renamed back" in said[0]
    assert (out / "county.json").is_file() and not old.exists() and not marker.exists()
    old.mkdir()
    marker.write_text("{}")
    (out / "county.json").unlink()
    (out / "mine.txt").write_text("x")
    assert "not a county folder: both left as they are" in str(recover_swap(out))
    assert old.is_dir() and (out / "mine.txt").is_file() and marker.is_file()
    old.rmdir()
    old.write_text("a file")
    assert recover_swap(out) is None and old.read_text() == "a file" and not marker.exists()


def test_a_users_old_folder_is_never_touched(tmp_path: Path) -> None:
    """Review H1: recover_swap looked at the folder name only — a `<out>.old` the user made (an analyst's copy) was
    removed beside a county folder `out` (a refused simulate, every `agcredit demo`) or renamed into a missing `out`.
    Now only a `<out>.old` beside the swap's marker `<out>.swap` (whose `county.json` says synthetic) is recovered;
    any other is left, in one line, and an --overwrite that would need its name is refused before any work."""
    from democounty import recover_swap
    from pipelines.demo import Stage, _simulate

    out, old = tmp_path / "cty", tmp_path / "cty.old"
    simulate("in-smallholder", 1, "tiny", out, render=False, workers=1)
    old.mkdir()
    (old / "county.json").write_text(json.dumps({"synthetic": True, "seed": 7}))
    (old / "notes.txt").write_text("mine")
    with pytest.raises(SimulateError, match="new or empty folder"):  # refused: no --overwrite
        simulate("in-smallholder", 2, "tiny", out, render=False, workers=1)
    assert (old / "notes.txt").read_text() == "mine"
    st = Stage("simulate")
    _simulate(out, "in-smallholder", 1, "tiny", st)  # the demo's stage: county present, skipped
    assert (old / "notes.txt").read_text() == "mine" and st.status == "skipped"
    assert st.lines[0] == f"{old} is not left by a simulate run (no cty.swap marker): {old} and {out} left as they are"
    with pytest.raises(SimulateError, match=r"no cty\.old beside it"):
        simulate("in-smallholder", 2, "tiny", out, render=False, workers=1, overwrite=True)
    assert (old / "notes.txt").read_text() == "mine" and json.loads((out / "county.json").read_text())["seed"] == 1
    assert not (tmp_path / "cty.partial").exists() and not (tmp_path / "cty.swap").exists()
    import shutil

    shutil.rmtree(out)  # no out: the user's copy is not renamed into it
    assert "left as they are" in str(recover_swap(out))
    assert not out.exists() and (old / "notes.txt").read_text() == "mine"
