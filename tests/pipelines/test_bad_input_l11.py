"""Bad input of the L11 audit: one line naming the problem, exit code 2, no traceback, nothing left behind.

Scene index without ``cloud_mask`` / without rows, clouds-only imagery, an as-of before the season starts
(features build, value, monitor, reunderwrite), ``value`` leaving parts of a failed run, a non-numeric
``declared_area_ha``, unknown crops in the Book and in history.csv, a season the county does not have.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.errors import FieldsError, ImageryError, UserInputError
from features.sources.local import read_index
from pipelines.cli import app
from pipelines.county import County
from pipelines.featurize import NoClearObservationError, check_clear_observations

# the world (tiny county, mid-season features, a small yield model) and the registry holding it as champion
from tests.pipelines.test_underwrite import KEY, registry, world  # noqa: F401

ENV = {"AGCREDIT_TOKEN_KEY": KEY}
SEASON = "2009"
START = "2009-05-15"  # the in-smallholder season window starts on 05-15
BEFORE = "2008-01-15"
HEADER = "date,tile_id,path,bands,scale,offset,nodata,cloud_mask,processing_baseline\n"


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, env=ENV)


def _user_error(r: Any, *needles: str) -> None:
    """Exit code 2, one ``error:`` line holding every needle, no traceback."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def county(tiny_county_sh: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny county (scenes symlinked)."""
    c = tmp_path / "county"
    shutil.copytree(tiny_county_sh, c, ignore=shutil.ignore_patterns("scenes", ".cache"))
    (c / "scenes").symlink_to(tiny_county_sh / "scenes")
    return c


def _cloudy_scenes(src: Path, dst: Path, until: str) -> Path:
    """The season's scenes up to ``until`` with every pixel's SCL set to 9 (cloud, high probability)."""
    import rasterio

    idx = pd.read_csv(src / "index.csv", dtype=str, keep_default_na=False)
    idx = idx[(idx["date"] >= START) & (idx["date"] <= until)].reset_index(drop=True)
    assert len(idx) and set(idx["cloud_mask"]) == {"SCL"}
    for row in idx.to_dict("records"):
        bands = row["bands"].split(";")
        out = dst / row["path"]
        out.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(src / row["path"]) as s:
            data, profile = s.read(), s.profile
        data[bands.index("SCL")] = 9
        with rasterio.open(out, "w", **profile) as d:
            d.write(data)
    idx.to_csv(dst / "index.csv", index=False)
    return dst


# -- 1. the scene index ----------------------------------------------------------------------------------------------
def test_index_without_cloud_mask_column_but_an_scl_band_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.csv").write_text("date,tile_id,path,bands,scale,offset,nodata,processing_baseline\n"
                                        "2009-06-01,T1,a.tif,B04;B08;SCL,0.0001,0,0,\n")
    with pytest.raises(ImageryError, match=r"index\.csv: column 'cloud_mask' missing.*SCL.*would be ignored") as e:
        read_index(tmp_path)
    assert str(tmp_path / "index.csv") in str(e.value)


def test_index_without_cloud_mask_column_and_no_mask_band_reads_unmasked(tmp_path: Path) -> None:
    (tmp_path / "index.csv").write_text("date,tile_id,path,bands,scale,offset\n2009-06-01,T1,a.tif,B04;B08,0.0001,0\n")
    (scene,) = read_index(tmp_path)
    assert scene.cloud_mask == "none" and scene.mask_band is None


def test_header_only_index_is_an_error_and_writes_nothing(county: Path, tmp_path: Path) -> None:
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "index.csv").write_text(HEADER)
    with pytest.raises(ImageryError, match="index.csv lists no scenes"):
        read_index(tmp_path / "scenes")
    out = tmp_path / "feat.parquet"
    r = _invoke(["features", "build", "--fields", str(county / "records" / "fields.gpkg"), "--imagery",
                 str(tmp_path / "scenes"), "--season", SEASON, "--as-of", "2009-09-15", "--out", str(out),
                 "--crop-model", "none", "--no-progress"])
    _user_error(r, "index.csv lists no scenes", str(tmp_path / "scenes" / "index.csv"))
    assert not out.exists()


# -- 2. clouds-only imagery ------------------------------------------------------------------------------------------
def test_clouds_only_imagery_is_an_error_and_writes_nothing(county: Path, tmp_path: Path) -> None:
    scenes = _cloudy_scenes(county / "scenes", tmp_path / "cloudy", "2009-09-15")
    out = tmp_path / "feat.parquet"
    r = _invoke(["features", "build", "--fields", str(county / "records" / "fields.gpkg"), "--imagery", str(scenes),
                 "--season", SEASON, "--as-of", "2009-09-15", "--out", str(out), "--crop-model", "none",
                 "--no-progress", "--cache", str(tmp_path / "cache")])
    _user_error(r, "no clear observation of any field up to 2009-09-15", str(scenes), "clouds-only imagery?")
    assert not out.exists()


def test_some_fields_clear_is_not_the_clouds_only_error() -> None:
    s = pd.DataFrame({"field_id": ["a", "a", "b"], "date": pd.to_datetime(["2009-06-01", "2009-06-06", "2009-06-01"]),
                      "mean": [np.nan, 0.4, np.nan], "n_clear": [0, 12, 0]})
    check_clear_observations(s, pd.Timestamp("2009-07-01").date(), "scenes")  # field a has a clear date
    check_clear_observations(s.iloc[:0], pd.Timestamp("2009-07-01").date(), "scenes")  # no scene yet: not this error
    with pytest.raises(NoClearObservationError, match=r"no clear observation of any field up to 2009-07-01 in "
                                                      r"scenes: clouds-only imagery\? \(2 field"):
        check_clear_observations(s.assign(mean=np.nan, n_clear=0), pd.Timestamp("2009-07-01").date(), "scenes")


# -- 3. an as-of before the season starts ----------------------------------------------------------------------------
def test_features_build_as_of_before_the_season(county: Path, tmp_path: Path) -> None:
    _build_refused(county, tmp_path, BEFORE, f"--as-of {BEFORE} is before season {SEASON} starts ({START}")


def _build_refused(county: Path, tmp_path: Path, as_of: str, message: str) -> None:
    """`features build` as of ``as_of``: the one-line user error ``message``, no features file."""
    out = tmp_path / "feat.parquet"
    r = _invoke(["features", "build", "--fields", str(county / "records" / "fields.gpkg"), "--imagery",
                 str(county / "scenes"), "--season", SEASON, "--as-of", as_of, "--out", str(out),
                 "--crop-model", "none", "--no-progress"])
    _user_error(r, message)
    assert not out.exists()


def test_monitor_as_of_before_the_season(county: Path) -> None:
    r = _invoke(["monitor", "--county", str(county), "--season", SEASON, "--as-of", BEFORE, "--crop-model", "none"])
    _user_error(r, f"--as-of {BEFORE} is before season {SEASON} starts ({START}")
    assert "alerts" not in r.stdout
    assert not (county / ".cache").exists()  # no scene was read


def test_monitor_refuses_a_book_beside_the_county(county: Path, tmp_path: Path) -> None:
    """--county reads the county's own Book: a --book beside it was ignored without a word (even a missing file).
    The message names monitor's own options (it named --applications, which monitor does not have)."""
    r = _invoke(["monitor", "--county", str(county), "--season", SEASON, "--as-of", BEFORE, "--crop-model", "none",
                 "--book", str(tmp_path / "nope.csv")])
    assert r.exit_code == 2 and r.stderr.strip() == "error: give either --county or --fields/--imagery/--book, not both"


def test_reunderwrite_as_of_before_the_season_and_a_season_not_in_the_county(county: Path, tmp_path: Path) -> None:
    store = tmp_path / "ru.db"
    r = _invoke(["reunderwrite", "--county", str(county), "--season", SEASON, "--as-of", BEFORE,
                 "--store", f"sqlite:///{store}"])
    _user_error(r, f"--as-of {BEFORE} is before season {SEASON} starts ({START}")
    r = _invoke(["reunderwrite", "--county", str(county), "--season", "2015", "--as-of", "2015-09-15",
                 "--store", f"sqlite:///{store}"])
    _user_error(r, "--season 2015: not a season of the county", "its seasons: 2008, 2009")
    assert not store.exists()


def test_an_as_of_after_today_is_refused_before_anything_is_read(county: Path, tmp_path: Path) -> None:
    """A mistyped year (2031 for 2021) must not store decisions or list alerts dated in the future."""
    future = "2999-09-15"
    store = tmp_path / "ru.db"
    r = _invoke(["reunderwrite", "--county", str(county), "--season", SEASON, "--as-of", future,
                 "--store", f"sqlite:///{store}"])
    _user_error(r, f"--as-of {future} is after today")
    assert not store.exists()
    r = _invoke(["monitor", "--county", str(county), "--season", SEASON, "--as-of", future, "--crop-model", "none"])
    _user_error(r, f"--as-of {future} is after today")
    assert not (county / ".cache").exists()  # no scene was read
    _build_refused(county, tmp_path, future, f"--as-of {future} is after today")


def test_value_as_of_before_the_season_and_a_bad_currency_write_nothing(county: Path, tmp_path: Path) -> None:
    out = tmp_path / "vout"
    base = ["value", "--fields", str(county / "records" / "fields.gpkg"), "--imagery", str(county / "scenes"),
            "--season", SEASON, "--out", str(out), "--crop-model", "none"]
    _user_error(_invoke([*base, "--as-of", BEFORE]), f"--as-of {BEFORE} is before season {SEASON} starts")
    _user_error(_invoke([*base, "--as-of", "2009-09-15", "--currency", "XYZ"]), "--currency", "'XYZ'")
    _user_error(_invoke([*base, "--as-of", "2009-09-15", "--currency", "USD"]),
                "--currency USD", "in-smallholder in INR")
    # after the season's imagery window (a mistyped year): refused as reunderwrite and monitor refuse it, not
    # valued and labelled "end"
    _user_error(_invoke([*base, "--as-of", "2010-06-01"]), "--as-of 2010-06-01")
    assert not out.exists()


# -- 4. value removes the parts of a failed run, not those of earlier runs ------------------------------------------
def test_value_failed_run_removes_only_its_own_parts(world: dict[str, Any], registry: str,  # noqa: F811
                                                     tmp_path: Path) -> None:
    c: County = world["county"]
    scenes = _cloudy_scenes(c.imagery, tmp_path / "cloudy", str(world["as_of"]))
    out = tmp_path / "vout"
    (out / "series").mkdir(parents=True)
    pd.DataFrame({"x": [1]}).to_parquet(out / "series" / "part-earlier.parquet")  # an earlier run's part
    before = _files(out)
    r = _invoke(["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(scenes),
                 "--season", world["season"], "--as-of", str(world["as_of"]), "--out", str(out),
                 "--crop-model", "none", "--chunk-fields", "5"])
    _user_error(r, f"no clear observation of any field up to {world['as_of']} in {scenes}", "clouds-only")
    assert _files(out) == before


class _LostAfterOneBlock:
    """A runner whose cluster is lost once the first block is done (``error``: what its ``map`` then raises)."""

    name = "dask"
    n_workers = 1

    def __init__(self, error: Exception) -> None:
        self.error = error

    def map(self, fn: Any, items: Any, *, shared: Any = None, label: str = "task", resumable: bool = False) -> Any:
        from pipelines.distributed import LocalRunner

        assert len(items) > 1
        LocalRunner().map(fn, items[:1], shared=shared, label=label, resumable=resumable)
        raise self.error

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_value_keeps_the_blocks_finished_before_the_cluster_was_lost(world: dict[str, Any], registry: str,  # noqa: F811
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A review killed the scheduler of `value --scheduler` once 3 parts were written: the message said "the parts
    already written are kept: it resumes from them", and the parts were removed (the whole --out folder when every
    worker was killed) — a lost cluster was cleaned up as a user error. The parts finished now stay and a re-run
    reuses them; a user error raised by a block still removes what its run wrote."""
    import pipelines.distributed as dist
    from pipelines.errors import ClusterLostError, RunInputError

    c: County = world["county"]
    out = tmp_path / "vout"
    args = ["value", "--fields", str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery),
            "--season", world["season"], "--as-of", str(world["as_of"]), "--out", str(out),
            "--crop-model", "none", "--chunk-fields", "5"]
    lost = ClusterLostError(what="dask runner", problem="lost the connection to the scheduler at tcp://x:1 mid-run")
    monkeypatch.setattr(dist, "runner_from_options", lambda *a, **k: _LostAfterOneBlock(lost))
    _user_error(_invoke(args), "lost the connection to the scheduler")
    kept = [f for f in _files(out) if f.startswith("valuations/") and f.endswith(".parquet")]
    assert len(kept) == 1, _files(out)
    monkeypatch.setattr(dist, "runner_from_options", lambda *a, **k: _LostAfterOneBlock(
        RunInputError(what="block", problem="a user's error")))
    shutil.rmtree(out)
    _user_error(_invoke(args), "block: a user's error")
    assert not out.exists()  # a user error: the run's parts removed, as before


def test_remove_new_keeps_what_existed(tmp_path: Path) -> None:
    from pipelines.portfolio import _remove_new, _snapshot

    out = tmp_path / "o"
    (out / "series").mkdir(parents=True)
    (out / "series" / "part-old.parquet").write_text("old")
    snap = _snapshot(out)
    for stage in ("series", "features", "valuations"):
        (out / stage).mkdir(exist_ok=True)
        (out / stage / "part-new.parquet").write_text("new")
    _remove_new(out, snap)
    assert _files(out) == ["series", "series/part-old.parquet"]
    fresh = tmp_path / "fresh"
    snap = _snapshot(fresh)
    (fresh / "features").mkdir(parents=True)
    (fresh / "features" / "part-new.parquet").write_text("new")
    _remove_new(fresh, snap)
    assert not fresh.exists()


# -- 5. a non-numeric declared area ----------------------------------------------------------------------------------
def test_fields_validate_non_numeric_declared_area(county: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    g = gpd.read_file(county / "records" / "fields.gpkg")
    g["declared_area_ha"] = g["declared_area_ha"].astype(object)
    first = str(g.loc[0, "field_id"])
    g.loc[0, "declared_area_ha"] = "lots"
    path = tmp_path / "f_area_text.gpkg"
    g.to_file(path, driver="GPKG")
    r = _invoke(["fields", "validate", str(path)])
    _user_error(r, "f_area_text.gpkg", "declared_area_ha", f"{first}/{g.loc[0, 'season']} ('lots')")


# -- 6. unknown crops outside the fields file ------------------------------------------------------------------------
def test_book_with_an_unknown_crop_is_rejected_before_any_work(county: Path, tmp_path: Path) -> None:
    from underwriting.applications import read_book

    book = pd.read_csv(county / "records" / "book.csv", dtype=str, keep_default_na=False)
    line = str(book.loc[0, "line_id"])
    book.loc[0, "crop"] = "cottn"
    path = tmp_path / "book_unknowncrop.csv"
    book.to_csv(path, index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        with pytest.raises(FieldsError, match=f"book_unknowncrop.csv: crop 'cottn' not a known crop.*{line}"):
            read_book(path)
    store = tmp_path / "s.db"
    out = tmp_path / "dec.csv"
    r = _invoke(["underwrite", "--season", SEASON, "--as-of", "2009-09-15", "--applications",
                 str(county / "records" / "applications.csv"), "--fields", str(county / "records" / "fields.gpkg"),
                 "--imagery", str(county / "scenes"), "--book", str(path), "--store", f"sqlite:///{store}",
                 "--out", str(out), "--crop-model", "none", "--no-progress"])
    _user_error(r, "book_unknowncrop.csv", "'cottn'", line)
    assert not out.exists() and not store.exists()


def test_history_with_an_unknown_crop_is_rejected(county: Path, tmp_path: Path) -> None:
    hist = pd.read_csv(county / "records" / "history.csv", dtype=str, keep_default_na=False)
    where = f"{hist.loc[0, 'field_id']}/{hist.loc[0, 'season']}"
    hist.loc[0, "declared_crop"] = "maiz"
    hist.to_csv(county / "records" / "history.csv", index=False)
    with pytest.raises(UserInputError, match=f"history.csv: declared_crop 'maiz' not a known crop.*{where}"):
        County(county).history()
    r = _invoke(["backtest", "--county", str(county), "--yield-model", "champion"])
    _user_error(r, "history.csv", "'maiz'", where)
    assert not (county / ".cache").exists()  # no feature was built


# -- 7. an applicant's name as an id of a file without names ---------------------------------------------------------
@pytest.mark.parametrize("as_id", ["surname", "full name", "id number"])
def test_a_book_line_id_naming_an_applicant_is_refused_before_any_record(county: Path, tmp_path: Path,
                                                                          as_id: str) -> None:
    """A Book has no names, so a borrower's name typed as a line id passed its own check and went into every record
    of the line, for good (a walkthrough, 2026-12-07, third: `Wenzu Wenteda`, `L-Wenzu-Wenteda`, `Wenteda`)."""
    apps = pd.read_csv(county / "records" / "applications.csv", dtype=str, keep_default_na=False)
    book = pd.read_csv(county / "records" / "book.csv", dtype=str, keep_default_na=False)
    row = apps.index[apps["national_id"] == book.loc[0, "national_id"]]
    name = str(apps.loc[row[0] if len(row) else 0, "farmer_name"])
    nid = str(apps.loc[row[0] if len(row) else 0, "national_id"])
    book.loc[0, "line_id"] = {"surname": name.rsplit(maxsplit=1)[-1], "full name": "L-" + name.replace(" ", "-"),
                              "id number": "L-" + nid.replace(" ", "")}[as_id]
    path = tmp_path / "book_named.csv"
    book.to_csv(path, index=False)
    store, out = tmp_path / "s.db", tmp_path / "dec.csv"
    r = _invoke(["underwrite", "--season", SEASON, "--as-of", "2009-09-15", "--applications",
                 str(county / "records" / "applications.csv"), "--fields", str(county / "records" / "fields.gpkg"),
                 "--imagery", str(county / "scenes"), "--book", str(path), "--store", f"sqlite:///{store}",
                 "--out", str(out), "--crop-model", "none", "--no-progress"])
    _user_error(r, "book_named.csv", "column 'line_id'", "personal data")
    for part in [*name.split(), nid.replace(" ", ""), nid]:
        assert part.casefold() not in (r.stdout + r.stderr).casefold(), part
    assert not out.exists() and not store.exists()


def test_the_county_form_of_reunderwrite_checks_the_books_ids_too(county: Path, tmp_path: Path) -> None:
    """A review: the files form refused a Book line id holding its borrower's surname, the county form wrote it to
    every record of the line (`L-Pineka-138`)."""
    from pipelines._reunderwrite_inputs import reunderwrite_county

    apps = pd.read_csv(county / "records" / "applications.csv", dtype=str, keep_default_na=False)
    book = pd.read_csv(county / "records" / "book.csv", dtype=str, keep_default_na=False)
    row = apps.index[apps["national_id"] == book.loc[0, "national_id"]]
    surname = str(apps.loc[row[0] if len(row) else 0, "farmer_name"]).split()[-1]
    book.loc[0, "line_id"] = f"L-{surname}-138"
    book.to_csv(county / "records" / "book.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGCREDIT_TOKEN_KEY", KEY)
        with pytest.raises(UserInputError, match=r"^book.csv: column 'line_id': .*personal data") as e:
            reunderwrite_county(county, SEASON, date(2009, 10, 25), store=f"sqlite:///{tmp_path / 'none.db'}")
    assert surname.casefold() not in str(e.value).casefold()


@pytest.mark.parametrize("column", ["currency", "region"])
def test_a_surname_typed_in_the_books_currency_or_region_is_not_quoted(county: Path, tmp_path: Path, column: str,
                                                                        registry: str) -> None:  # noqa: F811
    """A Book has no names to tell a surname by: `currency of L…: … found 'Wenteda'` and `region 'Wenteda' of active
    Book lines …` quoted it (a review); the applicants' names hide it now."""
    apps = pd.read_csv(county / "records" / "applications.csv", dtype=str, keep_default_na=False)
    book = pd.read_csv(county / "records" / "book.csv", dtype=str, keep_default_na=False)
    surname = str(apps.loc[0, "farmer_name"]).split()[-1]
    book.loc[0, column] = surname
    path = tmp_path / "book.csv"
    book.to_csv(path, index=False)
    r = _invoke(["underwrite", "--season", SEASON, "--as-of", "2009-09-15", "--applications",
                 str(county / "records" / "applications.csv"), "--fields", str(county / "records" / "fields.gpkg"),
                 "--imagery", str(county / "scenes"), "--book", str(path), "--store", f"sqlite:///{tmp_path / 's.db'}",
                 "--crop-model", "none", "--no-progress"])
    _user_error(r, "<personal data>")
    assert surname.casefold() not in (r.stdout + r.stderr).casefold()
