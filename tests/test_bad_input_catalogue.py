"""The bad-input catalogue: malformed inputs through the REAL command line (issue 12).

Each case runs one ``agcredit`` command (typer ``CliRunner`` on ``pipelines.cli.app``) on one
malformed input and must give: exit code 2, exactly one line on stderr naming what is wrong
and where (the case's pattern), no traceback, nothing written to the decision store (records
counted before and after) and no output file, partial or not, in the case's output folder.

Inputs are made in code (tiny, seeded); the store is seeded with a few real decisions.
Cases whose command does not exist yet are skipped by ``require`` (they fail under
AGCREDIT_NO_SKIP=1).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon, box
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.underwrite import artifacts_dir
from tests.conftest import require
from underwriting.policy import DEFAULT_POLICY_PATH
from underwriting.store import DecisionStore

SEASON = "2025"
X0, Y0 = 268_000.0, 4_480_000.0  # UTM 14N, metres
CRS = "EPSG:32614"


# --- inputs made in code -------------------------------------------------------------------------

def fields_frame(n: int = 4) -> gpd.GeoDataFrame:
    geoms = [box(X0 + i * 300, Y0, X0 + i * 300 + 200, Y0 + 200) for i in range(n)]
    return gpd.GeoDataFrame({
        "field_id": [f"P{i:03d}" for i in range(n)], "season": SEASON,
        "national_id": [f"ID-{i // 2:04d}" for i in range(n)], "farmer_name": [f"Farmer {i // 2}" for i in range(n)],
        "phone": [f"+1-555-01{i // 2:02d}" for i in range(n)], "declared_crop": ["maize", "soybean"] * (n // 2),
        "declared_area_ha": [4.0] * n, "region": "us-nebraska",
    }, geometry=geoms, crs=CRS)


def applications_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "application_id": ["A1", "A2"], "national_id": ["ID-0000", "ID-0001"], "farmer_name": ["Farmer 0", "Farmer 1"],
        "phone": ["+1-555-0100", "+1-555-0101"], "season": SEASON, "currency": "USD",
        "requested_amount": ["12500.00", "8000.00"], "requested_term_days": ["180", "150"],
        "existing_debt": ["0.00", "1000.00"], "debt_due_this_cycle": ["0.00", "500.00"],
        "other_income": ["2000.00", "0.00"], "living_costs": ["3000.00", "2500.00"],
        "unfinanced_costs": ["0.00", "0.00"], "prior_liens_on_crop": ["0.00", "0.00"],
    })


def book_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "line_id": ["L1"], "application_id": ["A0"], "national_id": ["ID-0009"], "currency": ["USD"],
        "limit": ["10000.00"], "drawn": ["5000.00"], "outstanding": ["5100.00"], "start_date": ["2025-04-01"],
        "maturity_date": ["2025-12-01"], "crop": ["maize"], "region": ["us-nebraska"], "season": [SEASON],
    })


def write_scene(folder: Path, *, scl: int, bands: str = "B02;B03;B04;B05;B06;B07;B08;B8A;B11;B12;SCL",
                index_rows: list[dict[str, Any]] | None = None, crs: str = CRS) -> Path:
    """A scene folder (index.csv + one 10 m GeoTIFF over the fields); every SCL pixel = ``scl``."""
    import rasterio
    from affine import Affine

    folder.mkdir(parents=True, exist_ok=True)
    names = bands.split(";")
    h, w = 40, 140
    data = np.full((len(names), h, w), 2000, dtype="uint16")
    data[names.index("B08")] = 4000
    data[names.index("SCL")] = scl
    (folder / "2025").mkdir(exist_ok=True)
    path = folder / "2025" / "S2_14TPL_20250715.tif"
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=len(names), dtype="uint16", crs=crs,
                       transform=Affine(10.0, 0.0, X0 - 100, 0.0, -10.0, Y0 + 300), nodata=0) as dst:
        dst.write(data)
    rows = index_rows or [{"date": "2025-07-15", "tile_id": "14TPL", "path": "2025/S2_14TPL_20250715.tif",
                           "bands": bands, "scale": 0.0001, "offset": 0, "nodata": 0, "cloud_mask": "SCL",
                           "processing_baseline": ""}]
    pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("catalogue")
    good = root / "good"
    good.mkdir()
    fields_frame().to_file(good / "fields.gpkg", driver="GPKG")
    applications_frame().to_csv(good / "applications.csv", index=False)
    book_frame().to_csv(good / "book.csv", index=False)
    shutil.copy(DEFAULT_POLICY_PATH, good / "policy.yaml")
    write_scene(good / "scenes", scl=4)
    write_scene(good / "cloudy", scl=9)
    # a store with real decisions in it
    from tests.pipelines.test_explain import AS_OF, applications, synthetic_features, train_model, underwrite_synthetic

    url = f"sqlite:///{root / 'decisions.db'}"
    feats, _ = synthetic_features(np.random.default_rng(1), 4, SEASON, AS_OF, n_farmers=2)
    items = underwrite_synthetic(url, train_model(n_per_season=40), feats, applications(feats))
    feats.to_parquet(good / "features.parquet", index=False)
    return {"root": root, "good": good, "store": url, "items": items}


def count(url: str) -> int:
    with DecisionStore(url) as st:
        return st.count()


def has_command(*path: str) -> bool:
    import typer.main

    cmd: Any = typer.main.get_command(app)
    for p in path:
        sub = getattr(cmd, "commands", {}).get(p)
        if sub is None:
            return False
        cmd = sub
    return True


# --- the catalogue --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[dict[str, Any], Path], list[str]]  # (env, case folder) -> argv; --out goes in the case folder
    pattern: str  # regex the one stderr line must match
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str | None], ...] = ()
    bug: str | None = None  # a known defect in a module this file's owner does not own (strict xfail)


def _gpkg(d: Path, gdf: gpd.GeoDataFrame, name: str = "fields.gpkg") -> str:
    p = d / name
    gdf.to_file(p, driver="GPKG")
    return str(p)


def _csv(d: Path, df: pd.DataFrame, name: str) -> str:
    p = d / name
    df.to_csv(p, index=False)
    return str(p)


def _text(d: Path, name: str, text: str | bytes) -> str:
    p = d / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return str(p)


def _policy(env: dict[str, Any], d: Path, old: str, new: str) -> str:
    text = (env["good"] / "policy.yaml").read_text()
    assert old in text, old
    return _text(d, "policy.yaml", text.replace(old, new, 1))


def _fields_with(**change: Any) -> Callable[[dict[str, Any], Path], list[str]]:
    def make(env: dict[str, Any], d: Path) -> list[str]:
        g = fields_frame()
        for k, v in change.items():
            if v is _DROP:
                g = g.drop(columns=k)
            else:
                g[k] = v
        return ["fields", "validate", _gpkg(d, g), "--season", SEASON]
    return make


_DROP = object()


def _fields_validate(path_fn: Callable[[dict[str, Any], Path], str], *extra: str) -> Callable[..., list[str]]:
    return lambda env, d: ["fields", "validate", path_fn(env, d), *extra]


def _series(env: dict[str, Any], d: Path, *, fields: str | None = None, imagery: str | None = None,
            season: str = SEASON, extra: tuple[str, ...] = ()) -> list[str]:
    return ["features", "series", "--fields", fields or str(env["good"] / "fields.gpkg"), "--imagery",
            imagery or str(env["good"] / "scenes"), "--season", season, "--out", str(d / "out" / "series.parquet"),
            "--no-progress", *extra]


def _uw(env: dict[str, Any], d: Path, **over: str) -> list[str]:
    """``agcredit underwrite`` (engineer S's signature) with one input replaced."""
    g = env["good"]
    args = {"--applications": str(g / "applications.csv"), "--fields": str(g / "fields.gpkg"), "--season": SEASON,
            "--as-of": "2025-08-01", "--features": str(g / "features.parquet"), "--book": str(g / "book.csv"),
            "--policy": str(g / "policy.yaml"), "--profile": "us-operating",
            "--out": str(d / "out" / "decisions.csv"), "--store": env["store"]}
    args.update(over)
    return ["underwrite", *[x for kv in args.items() for x in kv]]


def _uw_from_imagery(env: dict[str, Any], d: Path, **over: str) -> list[str]:
    """:func:`_uw` building the features from the scenes (no --features, no crop-type model)."""
    argv = _uw(env, d, **over)
    i = argv.index("--features")
    return [*argv[:i], *argv[i + 2:], "--imagery", str(env["good"] / "scenes"), "--crop-model", "none"]


def _apps(d: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    return _csv(d, change(applications_frame()), "applications.csv")


def _book(d: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    return _csv(d, change(book_frame()), "book.csv")


def _set(col: str, value: Any, row: int = 0) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def f(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df.loc[row, col] = value
        return df
    return f


def _apps_case(case_id: str, col: str, value: str, pattern: str, row: int = 0) -> Case:
    """``underwrite`` with one cell of the applications set to ``value``."""
    return Case(case_id, lambda e, d: _uw(e, d, **{"--applications": _apps(d, _set(col, value, row))}), pattern,
                ("underwrite",))


def _override(env: dict[str, Any], *args: str) -> list[str]:
    return ["override", *args, "--store", env["store"]]


def _first(env: dict[str, Any]) -> str:
    return str(env["items"][0].application_id)


_FLAT = Polygon([(X0, Y0), (X0 + 100, Y0), (X0 + 200, Y0)])  # zero area: make_valid cannot make a polygon

CASES = [
    # --- fields ----------------------------------------------------------------------------------
    Case("fields-empty-file", _fields_validate(lambda e, d: _text(d, "fields.geojson", "")), r"fields\.geojson.*empty"),
    Case("fields-not-found", _fields_validate(lambda e, d: str(d / "nope.gpkg")), r"nope\.gpkg.*(not found|no such)"),
    Case("fields-unsupported-format", _fields_validate(lambda e, d: _text(d, "fields.txt", "a,b\n1,2\n")),
         r"fields\.txt.*unsupported format '\.txt'"),
    Case("fields-corrupt-file", _fields_validate(lambda e, d: _text(d, "fields.gpkg", b"\x00garbage" * 50)),
         r"fields\.gpkg.*cannot be read"),
    Case("fields-missing-field-id", _fields_with(field_id=_DROP), r"fields\.gpkg.*field_id.*missing"),
    Case("fields-empty-field-id", _fields_with(field_id=["P000", None, "P002", "P003"]),
         r"fields\.gpkg: column 'field_id': expected a value on every row, found empty cells at row 2 \(1 in all\)$"),
    Case("fields-missing-crs", _fields_validate(lambda e, d: _parquet_no_crs(d)), r"fields\.parquet.*no CRS"),
    Case("fields-wrong-crs", _fields_validate(lambda e, d: _gpkg(d, fields_frame().set_crs(4326, allow_override=True))),
         r"fields\.gpkg.*(CRS|coordinates|degrees|latitude|longitude)"),
    Case("fields-degrees-as-metres", _fields_validate(lambda e, d: _gpkg(
        d, fields_frame().to_crs(4326).set_crs(CRS, allow_override=True))),
         r"fields\.gpkg: coordinates within ±180/±90 under the projected CRS EPSG:32614 \(bounds .*\) and fields of "
         r"under 1 m² in median: degrees labelled as metres\? declare the geographic CRS \(e\.g\. EPSG:4326\)$"),
    Case("fields-duplicate-ids", _fields_with(field_id=["P000", "P000", "P002", "P003"]),
         r"fields\.gpkg.*duplicate field_id.*P000"),
    Case("fields-invalid-geometry-strict",
         _fields_validate(lambda e, d: _gpkg(d, fields_frame().set_geometry(
             [_FLAT, *fields_frame().geometry[1:]], crs=CRS)), "--strict"),
         r"fields\.gpkg.*invalid geometr.*P000"),
    Case("fields-only-lines", _fields_validate(lambda e, d: _gpkg(d, fields_frame().set_geometry(
        [LineString([(X0, Y0), (X0 + 50, Y0 + 50)])] * 4, crs=CRS))), r"fields\.gpkg.*(no usable|polygon)"),
    Case("fields-points", _fields_validate(lambda e, d: _gpkg(d, fields_frame().set_geometry(
        [Point(X0, Y0)] * 4, crs=CRS))), r"fields\.gpkg.*(no usable|polygon)"),
    Case("fields-several-seasons-without-season-column", _fields_with(field_id=["P000", "P001", "P000", "P001"],
                                                                      season=_DROP),
         r"fields\.gpkg: no season column, so every row was taken as season 2025; yet field_ids repeat \(several "
         r"seasons in one file\? add the season column\): P000, P001 \(2 in all\)$"),
    Case("fields-season-absent", _fields_with(), r"fields\.gpkg.*no fields for season 2031",
         ),
    Case("fields-bad-season-string", lambda e, d: ["fields", "validate", str(e["good"] / "fields.gpkg"), "--season",
                                                   "twenty"], r"season.*(twenty|YYYY|year)"),
    Case("fields-identifiers-without-key", _fields_with(), r"fields\.gpkg.*identifiers.*AGCREDIT_TOKEN_KEY",
         env=(("AGCREDIT_TOKEN_KEY", None),)),
    Case("fields-id-with-a-line-break", _fields_with(field_id=["P000", "P0\nerror: forged", "P002", "P003"]),
         r"fields\.gpkg: column 'field_id': expected printable text .* at row 2 \(1 in all\)$"),
    Case("fields-ids-full-width-twins", _fields_with(field_id=["P000", "\uff30000", "P002", "P003"]),
         r"fields\.gpkg: field_ids differing only in case .*: P000, \uff30000"),
    Case("fields-negative-area", _fields_with(declared_area_ha=[-4.0, 4.0, 4.0, 4.0]),
         r"fields\.gpkg.*declared_area_ha"),
    Case("fields-unknown-crop", _fields_with(declared_crop=["banana", "maize", "maize", "maize"]),
         r"fields\.gpkg.*declared_crop: 1 value\(s\) not a known crop nor spelled like one"),
    # --- imagery and the time series ------------------------------------------------------------
    Case("series-clouds-only", lambda e, d: _series(e, d, imagery=str(e["good"] / "cloudy")),
         r"(cloud|clear).*(no|none|every)|(no|none).*(clear|cloud)"),
    Case("series-no-index", lambda e, d: _series(e, d, imagery=str(_mkdir(d / "empty"))), r"no index\.csv"),
    Case("series-imagery-missing", lambda e, d: _series(e, d, imagery=str(d / "nowhere")),
         r"nowhere.*(not found|no index|does not exist|no such)"),
    Case("series-index-missing-scale", lambda e, d: _series(e, d, imagery=str(_index_without(e, d, "scale"))),
         r"index\.csv: index columns missing: scale", ("features", "series")),
    Case("series-scene-metres-labelled-degrees", lambda e, d: _series(e, d, imagery=str(write_scene(
        d / "wrongcrs", scl=4, crs="EPSG:4326"))), r"S2_14TPL_20250715\.tif: bounds .* are not degrees though the CRS "
                                                   r"\(EPSG:4326\) is geographic", ("features", "series")),
    Case("series-index-missing-column", lambda e, d: _series(e, d, imagery=str(_index_without(e, d, "bands"))),
         r"index\.csv.*columns missing.*bands"),
    Case("series-index-bad-cloud-mask", lambda e, d: _series(e, d, imagery=str(_index_with(e, d, cloud_mask="maybe"))),
         r"index\.csv.*bad index rows.*line 2.*maybe"),
    Case("series-index-bad-date", lambda e, d: _series(e, d, imagery=str(_index_with(e, d, date="2025-07-32"))),
         r"index\.csv.*bad index rows.*line 2"),
    Case("series-scene-file-missing", lambda e, d: _series(e, d, imagery=str(_index_missing_file(e, d))),
         r"scene files missing.*S2_14TPL_20250716"),
    Case("series-bad-season", lambda e, d: _series(e, d, season="20x5"), r"season.*20x5"),
    Case("series-bad-as-of", lambda e, d: _series(e, d, extra=("--as-of", "2025-13-01")), r"as-of.*2025-13-01"),
    Case("series-end-before-start", lambda e, d: _series(e, d, extra=("--start", "2025-10-01", "--end", "2025-06-01")),
         r"end 2025-06-01 is before start 2025-10-01"),
    Case("series-bad-fields", lambda e, d: _series(e, d, fields=_text(d, "f.geojson", "{not json")),
         r"f\.geojson.*cannot be read"),
    # --- the decision store: override, export, audit, explain -----------------------------------
    Case("override-unknown-application", lambda e, d: _override(e, "A9999", "--limit", "100", "--reason", "r",
                                                               "--operator", "ana"),
         r"override of the application given: no stored decision in .* \(give an application id as in the "
         r"decision records \(shaped like A9999\), not a name, phone or ID number: the one given matches none of the "
         r"\d+ application ids of the data and is not repeated here; list them with `agcredit decisions export"),
    Case("override-unknown-word", lambda e, d: _override(e, "NOPE", "--limit", "100", "--reason", "r",
                                                        "--operator", "ana"),
         r"override of the application given: no stored decision in .* \(give an application id as in the decision "
         r"records \(shaped like A9999\), not a name, phone or ID number: the one given matches none"),
    Case("override-limit-not-a-number", lambda e, d: _override(e, _first(e), "--limit", "lots", "--reason", "r",
                                                              "--operator", "ana"), r"override limit.*lots"),
    Case("override-limit-too-many-decimals", lambda e, d: _override(e, _first(e), "--limit", "100.001", "--reason",
                                                                   "r", "--operator", "ana"),
         r"override limit.*2 decimals.*100\.001"),
    Case("override-negative-limit", lambda e, d: _override(e, _first(e), "--limit", "-5", "--reason", "r",
                                                          "--operator", "ana"), r"must not be negative"),
    Case("override-over-20pct-no-approver", lambda e, d: _override(e, _first(e), "--limit", "0", "--reason", "r",
                                                                  "--operator", "ana"),
         r"more than 20% \(the record's policy\) and needs --approver"),
    Case("override-approver-is-operator", lambda e, d: _override(e, _first(e), "--limit", "1", "--reason", "r",
                                                                "--operator", "ana", "--approver", "ana"),
         r"approver must be a second person"),
    Case("override-empty-reason", lambda e, d: _override(e, _first(e), "--limit", "1", "--reason", " ",
                                                        "--operator", "ana"), r"reason must not be empty"),
    Case("override-bad-as-of", lambda e, d: _override(e, _first(e), "--limit", "1", "--reason", "r", "--operator",
                                                     "ana", "--as-of", "1/8/2025"), r"as-of.*1/8/2025.*expected an ISO date"),
    Case("export-bad-format", lambda e, d: ["decisions", "export", "--out", str(d / "out" / "d.xlsx"), "--store",
                                            e["store"]], r"d\.xlsx.*format 'xlsx' is not supported"),
    # a missing folder is created (as features build --out creates its own); a file where the folder should be is not
    Case("export-under-a-file", lambda e, d: ["decisions", "export", "--out", str(Path(_text(d, "notafolder", "x"))
                                                                                  / "d.csv"), "--store", e["store"]],
         r"d\.csv: cannot write the decisions export there \(.*notafolder is a file, expected a folder\)"),
    Case("audit-store-unknown-scheme", lambda e, d: ["audit", "verify", "--store", "nosuchdb://host/x"],
         r"decision store nosuchdb://"),
    Case("audit-store-not-a-database", lambda e, d: ["audit", "verify", "--store",
                                                     f"sqlite:///{_text(d, 'junk.db', b'not sqlite' * 100)}"],
         r"decision store .*junk\.db"),
    Case("audit-store-port-not-a-number", lambda e, d: ["audit", "verify", "--store",
                                                        "postgresql://u:secretpw@127.0.0.1:notaport/db"],
         r"decision store postgresql://u:\*\*\*@127\.0\.0\.1:notaport/db: .*host or port cannot be read"),
    Case("audit-store-unclosed-ipv6", lambda e, d: ["audit", "verify", "--store", "postgresql://u:secretpw@[::1/db"],
         r"decision store postgresql://u:\*\*\*@\[::1/db: .*host or port cannot be read"),
    Case("audit-store-password-in-query", lambda e, d: ["audit", "verify", "--store",
                                                        "postgresql://u@127.0.0.1:1/db?password=secretpw"],
         r"decision store postgresql://u@127\.0\.0\.1:1/db\?password=\*\*\*: "),
    Case("registry-port-not-a-number", lambda e, d: ["models", "list"],
         r"model registry postgresql://u:\*\*\*@127\.0\.0\.1:notaport/mlf: .*host or port cannot be read",
         env=(("MLFLOW_TRACKING_URI", "postgresql://u:secretpw@127.0.0.1:notaport/mlf"),)),
    Case("registry-unclosed-ipv6", lambda e, d: ["models", "list"],
         r"model registry http://u:\*\*\*@\[::1/mlf: .*host cannot be read",
         env=(("MLFLOW_TRACKING_URI", "http://u:secretpw@[::1/mlf"),)),
    Case("registry-a-folder", lambda e, d: ["models", "list"],
         r"model registry /no/such/folder: a folder \(MLflow's file store\) is not supported",
         env=(("MLFLOW_TRACKING_URI", "/no/such/folder"),)),
    Case("monitor-after-the-season-window", lambda e, d: ["monitor", "--fields", str(e["good"] / "fields.gpkg"),
                                                          "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                          "--as-of", "2026-06-01", "--crop-model", "none"],
         r"--as-of 2026-06-01 is after season 2025's imagery window ends \(2025-11-30, region us-nebraska\)",
         ("monitor",)),
    # a fields file without the declared crops the alerts' bands come from: "alerts: none", exit 0, before
    Case("monitor-fields-without-declared-crop", lambda e, d: [
        "monitor", "--fields", _gpkg(d, fields_frame().drop(columns="declared_crop")), "--imagery",
        str(e["good"] / "scenes"), "--season", SEASON, "--as-of", "2025-08-01", "--crop-model", "none"],
         r"fields\.gpkg: column 'declared_crop': expected column present \(the past seasons' declared crops give the "
         r"alerts' expected NDVI: without them no alert is raised\), found missing$", ("monitor",)),
    Case("reunderwrite-fields-without-declared-crop", lambda e, d: [
        "reunderwrite", "--fields", _gpkg(d, fields_frame().drop(columns="declared_crop")), "--imagery",
        str(e["good"] / "scenes"), "--book", str(e["good"] / "book.csv"), "--applications",
        str(e["good"] / "applications.csv"), "--profile", "us-operating", "--season", SEASON, "--as-of", "2025-08-01",
        "--store", e["store"]], r"fields\.gpkg: column 'declared_crop': expected column present", ("reunderwrite",)),
    Case("report-fields-without-declared-crop", lambda e, d: [
        "report", "portfolio", "--fields", _gpkg(d, fields_frame().drop(columns="declared_crop")), "--imagery",
        str(e["good"] / "scenes"), "--season", SEASON, "--store", e["store"], "--out", str(d / "out")],
         r"fields\.gpkg: column 'declared_crop': expected column present", ("report", "portfolio")),
    # ... or without its region: "season window: no window for region None (...); give start and end" before, the
    # column not named (and `fields validate` called the file valid)
    Case("monitor-fields-without-region", lambda e, d: [
        "monitor", "--fields", _gpkg(d, fields_frame().drop(columns="region")), "--imagery",
        str(e["good"] / "scenes"), "--season", SEASON, "--as-of", "2025-08-01", "--crop-model", "none"],
         r"fields\.gpkg: column 'region': expected column present \(a field's region gives its season window: the "
         r"imagery dates read\), found missing$", ("monitor",)),
    Case("report-fields-without-region", lambda e, d: [
        "report", "portfolio", "--fields", _gpkg(d, fields_frame().drop(columns="region")), "--imagery",
        str(e["good"] / "scenes"), "--season", SEASON, "--store", e["store"], "--out", str(d / "out")],
         r"fields\.gpkg: column 'region': expected column present", ("report", "portfolio")),
    Case("underwrite-fields-without-region", lambda e, d: _uw_from_imagery(e, d, **{"--fields": _gpkg(
        d, fields_frame().drop(columns="region"))}), r"fields\.gpkg: column 'region': expected column present",
         ("underwrite",)),
    Case("build-fields-without-region", lambda e, d: ["features", "build", "--fields", _gpkg(
        d, fields_frame().drop(columns="region")), "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                      "--as-of", "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                      "--crop-model", "none"],
         r"fields\.gpkg: column 'region': expected column present", ("features", "build")),
    Case("value-fields-without-region", lambda e, d: ["value", "--fields", _gpkg(
        d, fields_frame().drop(columns="region")), "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                      "--as-of", "2025-08-01", "--out", str(d / "out" / "v"),
                                                      "--crop-model", "none"],
         r"fields\.gpkg: column 'region': expected column present", ("value",)),
    Case("build-fields-with-an-empty-region", lambda e, d: ["features", "build", "--fields", _gpkg(
        d, fields_frame().assign(region=["us-nebraska", None, "us-nebraska", "us-nebraska"])), "--imagery",
                                                            str(e["good"] / "scenes"), "--season", SEASON, "--as-of",
                                                            "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                            "--crop-model", "none"],
         r"fields\.gpkg: column 'region': expected a value on every row, found empty cells at row 2 \(1 in all\)$",
         ("features", "build")),
    Case("schedule-today-far-future", lambda e, d: ["schedule", "show", "--today", "9999-12-31"],
         r"--today 9999-12-31: year 9999 is not a season year", ("schedule", "show")),
    Case("fields-season-malformed-other-rows", _fields_with(season=[SEASON, "2O25", SEASON, SEASON]),
         r"fields\.gpkg: column 'season': expected a year like 2024, found other values at P001 \('2O25'\)"),
    Case("explain-unknown-application", lambda e, d: ["explain", "A9999", "--store", e["store"]],
         r"explain the application given: no stored decision in .* \(give an application id as in the decision "
         r"records \(shaped like A9999\), not a name, phone or ID number: the one given matches none of the \d+ "
         r"application ids of the data and is not repeated here; list them with `agcredit decisions export"),
    Case("explain-unknown-word", lambda e, d: ["explain", "NOPE", "--store", e["store"]],
         r"explain the application given: no stored decision in .* \(give an application id as in the decision "
         r"records \(shaped like A9999\), not a name, phone or ID number: the one given matches none"),
    Case("explain-bad-as-of", lambda e, d: ["explain", _first(e), "--as-of", "01/08/2025", "--store", e["store"]],
         r"as-of date.*01/08/2025"),
    # --- underwrite (engineer S): applications, book, policy, dates, features ------------------
    Case("apps-missing-column", lambda e, d: _uw(e, d, **{"--applications": _apps(d, lambda a: a.drop(
        columns="requested_amount"))}), r"applications\.csv.*requested_amount.*missing", ("underwrite",)),
    Case("apps-empty-file", lambda e, d: _uw(e, d, **{"--applications": _text(d, "applications.csv", "")}),
         r"applications\.csv.*empty", ("underwrite",)),
    Case("apps-too-many-decimals", lambda e, d: _uw(e, d, **{"--applications": _apps(
        d, _set("requested_amount", "12500.005"))}), r"applications\.csv.*requested_amount.*12500\.005",
         ("underwrite",)),
    Case("apps-amount-not-a-number", lambda e, d: _uw(e, d, **{"--applications": _apps(
        d, _set("other_income", "a lot"))}),  # two words: the shape of a name, not quoted (2026-12-05, fourth)
         r"applications\.csv: other_income of A1: expected a number, found <personal data> \(not shown", ("underwrite",)),
    Case("apps-negative-amount", lambda e, d: _uw(e, d, **{"--applications": _apps(
        d, _set("requested_amount", "-100.00"))}), r"applications\.csv.*requested_amount", ("underwrite",)),
    Case("apps-duplicate-id", lambda e, d: _uw(e, d, **{"--applications": _apps(d, _set("application_id", "A2"))}),
         r"applications\.csv.*(duplicate|unique).*A2", ("underwrite",)),
    Case("apps-unknown-currency", lambda e, d: _uw(e, d, **{"--applications": _apps(d, _set("currency", "XYZ"))}),
         r"applications\.csv.*XYZ", ("underwrite",)),
    Case("apps-bad-season", lambda e, d: _uw(e, d, **{"--applications": _apps(d, _set("season", "25"))}),
         r"applications\.csv.*season.*'25'", ("underwrite",)),
    Case("apps-term-not-whole", lambda e, d: _uw(e, d, **{"--applications": _apps(d, _set("requested_term_days",
                                                                                     "90.5"))}),
         r"applications\.csv.*requested_term_days", ("underwrite",)),
    Case("apps-currency-not-profile", lambda e, d: _uw(e, d, **{"--applications": _apps(
        d, lambda a: a.assign(currency="INR"))}), r"(INR.*USD|USD.*INR)", ("underwrite",)),
    # personal data typed into the wrong column: the message names the column and the row, never the value
    _apps_case("apps-name-in-amount", "requested_amount", "Farmer 0",
               r"requested_amount of A1: expected a number, found <personal data> \(not shown"),
    _apps_case("apps-phone-in-currency", "currency", "+1-555-0101",
               r"currency of A2: expected an ISO 4217 code .*found <personal data> \(not shown", row=1),
    _apps_case("apps-name-as-application-id", "application_id", "Farmer 1",
               r"column 'application_id': expected a reference \(not a farmer's name.*found personal data at line 3",
               row=1),
    _apps_case("apps-phone-as-application-id", "application_id", "555 0199 777",
               r"column 'application_id'.*found personal data at line 2"),
    _apps_case("apps-empty-application-id", "application_id", "",
               r"column 'application_id': expected a value on every row, found empty cells at line 3", row=1),
    _apps_case("apps-zero-amount", "requested_amount", "0",
               r"column 'requested_amount': expected >= 1, found smaller values at A1"),
    _apps_case("apps-enormous-amount", "requested_amount", "1" + "0" * 30,
               r"requested_amount of A1: expected an amount below 10,000,000,000,000 USD"),
    _apps_case("apps-exponent-amount", "requested_amount", "1e4",
               r"requested_amount of A1: expected a number written out in digits"),
    # how a spreadsheet saves a "CSV" otherwise: each named with how to save it (the reader's byte offsets before)
    Case("apps-tab-separated", lambda e, d: _uw(e, d, **{"--applications": _text(
        d, "applications.csv", applications_frame().to_csv(index=False, sep="\t"))}),
         r"applications\.csv: the columns are separated by tabs \(expected a comma-separated CSV", ("underwrite",)),
    Case("apps-utf16-text", lambda e, d: _uw(e, d, **{"--applications": _text(
        d, "applications.csv", applications_frame().to_csv(index=False).encode("utf-16"))}),
         r"applications\.csv: is UTF-16 text \(expected a UTF-8 CSV", ("underwrite",)),
    Case("apps-workbook-named-csv", lambda e, d: _uw(e, d, **{"--applications": _text(
        d, "applications.csv", b"PK\x03\x04" + bytes(60))}),
         r"applications\.csv: is a zip file, not a CSV \(an Excel workbook\?", ("underwrite",)),
    Case("apps-symlink-loop", lambda e, d: _uw(e, d, **{"--applications": _loop(d, "applications.csv")}),
         r"applications\.csv: a link to nothing", ("underwrite",)),
    Case("apps-semicolon-separated", lambda e, d: _uw(e, d, **{"--applications": _text(
        d, "applications.csv", applications_frame().to_csv(sep=";", index=False))}),
         r"applications\.csv: the columns are separated by ';'", ("underwrite",)),
    Case("book-enormous-outstanding", lambda e, d: _uw(e, d, **{"--book": _book(d, _set("outstanding", "1" + "0" * 30))}),
         r"outstanding of .*expected an amount below", ("underwrite",)),
    Case("policy-impossible-day", lambda e, d: _uw(e, d, **{"--policy": _policy(e, d, 'month_day: "06-30"',
                                                                                 'month_day: "06-31"')}),
         r"emergence_checkpoint\.month_day': expected 'MM-DD' \(a day of every year\), found '06-31'",
         ("underwrite",)),
    Case("calendar-impossible-day", lambda e, d: ["schedule", "show", "--calendar", _text(
        d, "calendar.csv", "region,crop,checkpoint,month_day,year_offset\nus-nebraska,maize,emergence,02-30,0\n")],
         r"calendar\.csv row 2 \(region us-nebraska, crop maize, checkpoint emergence\): column month_day holds "
         r"'02-30', expected a month-day MM-DD that every year has", ("schedule", "show")),
    Case("simulate-negative-seed", lambda e, d: ["simulate", "--region", "in-smallholder", "--seed", "-5", "--size",
                                                 "tiny", "--out", str(d / "out" / "county")],
         r"seed: expected a whole number from 0", ("simulate",)),
    Case("train-crop-series-is-features", lambda e, d: ["train", "crop-type", "--series",
                                                        str(e["good"] / "features.parquet"), "--labels",
                                                        _csv(d, pd.DataFrame({"field_id": ["P000"], "season": [SEASON],
                                                                              "declared_crop": ["maize"],
                                                                              "region": ["us-nebraska"]}),
                                                             "labels.csv")],
         r"features\.parquet: not a FieldTimeSeries table \(columns missing: variable, date", ("train", "crop-type")),
    _apps_case("apps-id-with-a-line-break", "application_id", "A\nerror: forged",
               r"applications\.csv: column 'application_id': expected printable text .* at line 2 \(1 in all\)$"),
    _apps_case("apps-id-zero-width-twin", "application_id", "A2\u200b",
               r"applications\.csv: column 'application_id': expected printable text .* at line 2 \(1 in all\)$"),
    Case("book-line-id-with-an-escape", lambda e, d: _uw(e, d, **{"--book": _book(d, _set("line_id", "L\x1b[2J1"))}),
         r"book\.csv: column 'line_id': expected printable text .* at line 2 \(1 in all\)$", ("underwrite",)),
    # a person's name that is not one of the file's farmers (a shifted column), where a one-word code belongs: its
    # shape hides it (the file's own farmers' names are hidden by name); a code is still quoted
    _apps_case("apps-currency-a-name-not-quoted", "currency", "Ramesh Kumar",
               r"applications\.csv: currency of A1: expected an ISO 4217 code .*, found <personal data> \(not shown: "
               r"shaped like a name, phone or ID number\)$"),
    _apps_case("apps-amount-a-name-not-quoted", "requested_amount", "Mr Ramesh Kumar",
               r"requested_amount of A1: expected .*, found <personal data> \(not shown"),
    _apps_case("apps-currency-a-code-quoted", "currency", "XYZ", r"currency of A1: expected an ISO 4217 code .*'XYZ'$"),
    Case("fields-region-a-name-not-quoted", _fields_with(region=["Mr Ramesh Kumar"] + ["us-nebraska"] * 3),
         r"fields\.gpkg: region <personal data> \(not shown: shaped like a name, phone or ID number\) of fields P000 "
         r"has no season window"),
    Case("book-missing-column", lambda e, d: _uw(e, d, **{"--book": _book(d, lambda b: b.drop(columns="limit"))}),
         r"book\.csv.*limit.*missing", ("underwrite",)),
    Case("book-bad-date", lambda e, d: _uw(e, d, **{"--book": _book(d, _set("start_date", "2025-02-30"))}),
         r"book\.csv.*start_date.*L1", ("underwrite",)),
    Case("book-maturity-before-start", lambda e, d: _uw(e, d, **{"--book": _book(
        d, _set("maturity_date", "2025-01-01"))}), r"book\.csv.*maturity_date.*L1", ("underwrite",)),
    Case("policy-unknown-key", lambda e, d: _uw(e, d, **{"--policy": _policy(e, d, "advance_rate:",
                                                                            "advance_rte:")}),
         r"policy\.yaml.*advance_rte", ("underwrite",)),
    Case("policy-bad-value", lambda e, d: _uw(e, d, **{"--policy": _policy(e, d, "advance_rate: 0.8",
                                                                          "advance_rate: 1.8")}),
         r"policy\.yaml.*advance_rate.*1\.8", ("underwrite",)),
    Case("policy-wrong-type", lambda e, d: _uw(e, d, **{"--policy": _policy(e, d, "advance_rate: 0.8",
                                                                           "advance_rate: high")}),
         r"policy\.yaml.*advance_rate.*high", ("underwrite",)),
    Case("policy-not-yaml", lambda e, d: _uw(e, d, **{"--policy": _text(d, "policy.yaml", "profiles: [\n  : :")}),
         r"policy\.yaml", ("underwrite",)),
    Case("policy-unknown-profile", lambda e, d: _uw(e, d, **{"--profile": "no-such-profile"}),
         r"no-such-profile.*(known|profile)", ("underwrite",)),
    Case("underwrite-bad-as-of", lambda e, d: _uw(e, d, **{"--as-of": "yesterday"}), r"as-of.*yesterday",
         ("underwrite",)),
    Case("underwrite-as-of-after-today", lambda e, d: _uw(e, d, **{"--as-of": "2999-08-01"}),
         r"--as-of 2999-08-01 is after today", ("underwrite",)),
    # after the season's imagery window (us-nebraska: 30 November): accepted before, the record carrying the date given
    # over the window's evidence; now refused as monitor, reunderwrite, report and value refuse it
    Case("underwrite-after-the-season-window", lambda e, d: _uw(e, d, **{"--as-of": "2026-06-01"}),
         r"--as-of 2026-06-01 is after season 2025's imagery window ends \(2025-11-30, region us-nebraska\)",
         ("underwrite",)),
    Case("build-after-the-season-window", lambda e, d: ["features", "build", "--fields", str(e["good"] / "fields.gpkg"),
                                                        "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                        "--as-of", "2026-06-01", "--out", str(d / "out" / "f.parquet"),
                                                        "--crop-model", "none"],
         r"--as-of 2026-06-01 is after season 2025's imagery window ends \(2025-11-30, region us-nebraska\)",
         ("features", "build")),
    Case("underwrite-bad-season", lambda e, d: _uw(e, d, **{"--season": "2025/26"}), r"season.*2025/26",
         ("underwrite",)),
    Case("underwrite-features-missing-column", lambda e, d: _uw(e, d, **{"--features": _features_without(
        e, d, "n_clear_obs")}), r"features\.parquet.*n_clear_obs.*missing", ("underwrite",)),
    Case("underwrite-fields-of-other-farmers", lambda e, d: _uw(e, d, **{"--fields": _gpkg(d, fields_frame().assign(
        national_id=lambda g: "ID-9" + g["national_id"].str[-3:]))}),
         r"none of the 2 application\(s\) of season 2025 has a field in the fields \(4 field row.*both pseudonymised "
         r"from 'national_id'.*same AGCREDIT_TOKEN_KEY", ("underwrite",)),
    Case("underwrite-fields-tokenised-from-names", lambda e, d: _uw(e, d, **{"--fields": _gpkg(
        d, fields_frame().drop(columns="national_id"))}),
         r"has a field in the fields .*the applications' tokens come from their 'national_id' column, the fields' from "
         r"'farmer_name' — give both files the same identifier column", ("underwrite",)),
    # the run fails before deciding (no model registry here): a new SQLite store is not created (no empty store left)
    Case("underwrite-new-store-not-created", lambda e, d: _uw(e, d, **{"--store": f"sqlite:///{d / 'out' / 'new.db'}",
                                                                     "--features": _features_of_applicants(e, d)}),
         r"no model registry at", ("underwrite",)),
    Case("underwrite-features-after-as-of", lambda e, d: _uw(e, d, **{"--features": _features_as_of(
        e, d, "2030-01-01")}), r"features: column 'as_of'.*on or before the decision date 2025-08-01.*later dates "
                               r"\(2030-01-01\) at F2025-00000.*\(4 in all\)", ("underwrite",)),
    # --- features build (engineer S) and backtest ------------------------------------------------
    Case("build-out-not-parquet", lambda e, d: ["features", "build", "--fields", str(e["good"] / "fields.gpkg"),
                                                "--imagery", str(e["good"] / "scenes"), "--season", SEASON, "--as-of",
                                                "2025-08-01", "--out", str(d / "out" / "f.csv"), "--crop-model",
                                                "none"], r"f\.csv: unsupported output format '\.csv' "
                                                         r"\(expected \.parquet\)", ("features", "build")),
    Case("build-bad-as-of", lambda e, d: ["features", "build", "--fields", str(e["good"] / "fields.gpkg"),
                                          "--imagery", str(e["good"] / "scenes"), "--season", SEASON, "--as-of",
                                          "2025-02-30", "--out", str(d / "out" / "f.parquet"), "--crop-model",
                                          "none"], r"as-of.*2025-02-30", ("features", "build")),
    Case("build-crop-model-missing", lambda e, d: ["features", "build", "--fields", str(e["good"] / "fields.gpkg"),
                                                   "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                   "--as-of", "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                   "--crop-model", str(d / "no-model")], r"no-model",
         ("features", "build")),
    Case("build-season-scale-without-crop-model", lambda e, d: ["features", "build", "--fields",
                                                           str(e["good"] / "fields.gpkg"), "--imagery",
                                                           str(e["good"] / "scenes"), "--season", SEASON, "--as-of",
                                                           "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                           "--crop-model", "none", "--crop-season-scale", "1.5"],
         r"--crop-season-scale needs a crop-type model", ("features", "build")),
    Case("underwrite-season-scale-with-features", lambda e, d: _uw(e, d, **{
        "--features": _features_without(e, d, "n_clear_obs"), "--crop-season-scale": "1.2"}),
         r"with --features, pin it in `agcredit features build", ("underwrite",)),
    Case("build-hazy-dates-off-grid", lambda e, d: ["features", "build", "--fields", str(e["good"] / "fields.gpkg"),
                                                    "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                    "--as-of", "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                    "--crop-model", "none", "--hazy-dates", "2025-07-03"],
         r"--hazy-dates: 2025-07-03 is not a date of the smoother's grid", ("features", "build")),
    Case("build-hazy-dates-malformed", lambda e, d: ["features", "build", "--fields", str(e["good"] / "fields.gpkg"),
                                                     "--imagery", str(e["good"] / "scenes"), "--season", SEASON,
                                                     "--as-of", "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                     "--crop-model", "none", "--hazy-dates", "2025-07-01,,"],
         r"--hazy-dates: expected comma-separated dates", ("features", "build")),
    Case("build-scene-reference-misspelt", lambda e, d: ["features", "build", "--fields",
                                                        str(e["good"] / "fields.gpkg"), "--imagery",
                                                        str(e["good"] / "scenes"), "--season", SEASON, "--as-of",
                                                        "2025-08-01", "--out", str(d / "out" / "f.parquet"),
                                                        "--crop-model", "none"],
         r"AGCREDIT_SCENE_REFERENCE='enabled': expected 1 \(on\) or 0", ("features", "build"),
         env=(("AGCREDIT_SCENE_REFERENCE", "enabled"),)),
    Case("underwrite-hazy-dates-with-features", lambda e, d: _uw(e, d, **{"--hazy-dates": "2025-07-01"}),
         r"with --features, pin it in `agcredit features build --hazy-dates`", ("underwrite",)),
    Case("backtest-county-missing", lambda e, d: ["backtest", "--county", str(d / "no-county"), "--policy",
                                                  str(e["good"] / "policy.yaml")], r"no-county.*(county folder not found|county\.json)",
         ("backtest",)),
    Case("backtest-negative-naive", lambda e, d: ["backtest", "--county", str(_county_stub(d)), "--naive-per-ha",
                                                  "-5"], r"--naive-per-ha: expected a positive amount", ("backtest",)),
    Case("export-name-and-format-disagree", lambda e, d: ["decisions", "export", "--out", str(d / "out" / "x.csv"),
                                                          "--format", "parquet", "--store", e["store"]],
         r"x\.csv: the name says csv but the format asked is parquet", ("decisions", "export")),
    Case("backtest-policy-bad-value", lambda e, d: ["backtest", "--county", str(_county_stub(d)), "--policy",
                                                    _policy(e, d, "min_dscr: 1.25", "min_dscr: -1")],
         r"policy\.yaml.*min_dscr.*-1", ("backtest",)),
    # the change-impact commands: the inputs as underwrite reads them, the policies and versions compared
    Case("policy-impact-candidate-bad-value", lambda e, d: _impact(e, d, "policy", **{"--candidate": _policy(
        e, d, "advance_rate: 0.8", "advance_rate: 1.8")}), r"policy\.yaml.*advance_rate.*1\.8", ("policy", "impact")),
    Case("policy-impact-candidate-not-yaml", lambda e, d: _impact(e, d, "policy", **{"--candidate": _text(
        d, "policy.yaml", "profiles: [\n  : :")}), r"policy\.yaml.*not valid YAML", ("policy", "impact")),
    Case("policy-impact-unknown-version", lambda e, d: _impact(e, d, "policy", **{"--candidate": "2099.1.1"}),
         r"policy '2099\.1\.1': no such file, and not a released version .*released: 2026\.11\.1, ",
         ("policy", "impact")),
    Case("policy-impact-same-policy", lambda e, d: _impact(e, d, "policy", **{"--candidate": "default"}),
         r"policy impact: 'default' and .*policy\.yaml' are the same policy", ("policy", "impact")),
    Case("policy-impact-candidate-without-profile", lambda e, d: _impact(e, d, "policy", **{"--candidate": _policy(
        e, d, "us-operating:", "us-other:")}), r"the candidate .*'profiles\.us-operating': no such profile",
         ("policy", "impact")),
    Case("policy-impact-apps-name-in-amount", lambda e, d: _impact(e, d, "policy", **{
        "--applications": _apps(d, _set("requested_amount", "Farmer 0"))}),
         r"requested_amount of A1: expected a number, found <personal data> \(not shown", ("policy", "impact")),
    Case("policy-impact-out-over-the-store", lambda e, d: _impact(e, d, "policy", **{
        "--out": e["store"].removeprefix("sqlite:///")}), r"is the --store file", ("policy", "impact")),
    Case("models-impact-unknown-model", lambda e, d: _impact(e, d, "models", name="area"),
         r"models impact: unknown model 'area' \(expected yield-value or crop-type\)", ("models", "impact")),
    Case("models-impact-features-and-imagery", lambda e, d: _impact(e, d, "models", **{
        "--imagery": str(e["good"] / "scenes")}), r"give --imagery or --features, not both", ("models", "impact")),
    Case("models-impact-crop-type-from-features", lambda e, d: _impact(e, d, "models", name="crop-type"),
         r"a features file carries the crop model it was built with", ("models", "impact")),
    Case("models-impact-out-not-a-table", lambda e, d: _impact(e, d, "models", **{"--out": str(d / "out" / "x.txt")}),
         r"x\.txt: unsupported output format '\.txt'", ("models", "impact")),
    # on the Book's re-underwriting: a features file has no use there, the store is required (never created)
    Case("policy-impact-reunderwriting-features", lambda e, d: [*_impact(e, d, "policy"), "--reunderwriting"],
         r"policy impact --reunderwriting: --features not with --reunderwriting", ("policy", "impact")),
    Case("models-impact-reunderwriting-no-store", lambda e, d: _reunderwriting_impact(
        e, d, "--store", f"sqlite:///{d / 'missing.db'}"), r"missing\.db: no database file there", ("models", "impact")),
    Case("models-impact-reunderwriting-out-over-store", lambda e, d: _reunderwriting_impact(
        e, d, "--store", e["store"], "--out", e["store"].removeprefix("sqlite:///")), r"is the --store file",
         ("models", "impact")),
]


def _reunderwriting_impact(env: dict[str, Any], d: Path, *extra: str) -> list[str]:
    """``agcredit models impact yield-value --reunderwriting`` on the catalogue's good files (the files form)."""
    g = env["good"]
    return ["models", "impact", "yield-value", "--candidate", "2", "--reunderwriting", "--fields",
            str(g / "fields.gpkg"), "--imagery", str(g / "scenes"), "--book", str(g / "book.csv"), "--applications",
            str(g / "applications.csv"), "--as-of", "2025-08-01", *extra]


def _impact(env: dict[str, Any], d: Path, group: str, name: str = "yield-value", **over: str) -> list[str]:
    """``agcredit models impact`` (``group`` models; its ``name``) or ``agcredit policy impact`` on the catalogue's
    good inputs (the policy in force: the good policy file, the candidate: the released 2026.12.9; the models
    compared: champion and version 2), with some replaced."""
    g = env["good"]
    args = {"--applications": str(g / "applications.csv"), "--fields": str(g / "fields.gpkg"), "--season": SEASON,
            "--as-of": "2025-08-01", "--features": str(g / "features.parquet"), "--book": str(g / "book.csv"),
            "--profile": "us-operating", "--store": env["store"], "--out": str(d / "out" / "impact.csv"),
            "--candidate": "2026.12.9" if group == "policy" else "2",
            "--against": str(g / "policy.yaml") if group == "policy" else "champion"}
    args.update(over)
    if "--imagery" in over:
        args.pop("--against")
    return [group, "impact", *([name] if group == "models" else []), *[x for kv in args.items() for x in kv]]


def _loop(d: Path, name: str) -> str:
    """A symbolic link that links to itself."""
    p = d / name
    p.symlink_to(p)
    return str(p)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _parquet_no_crs(d: Path) -> str:
    p = d / "fields.parquet"
    fields_frame().set_crs(None, allow_override=True).to_parquet(p)
    return str(p)


def _index_without(env: dict[str, Any], d: Path, column: str) -> Path:
    dst = d / "scenes"
    shutil.copytree(env["good"] / "scenes", dst)
    pd.read_csv(dst / "index.csv").drop(columns=column).to_csv(dst / "index.csv", index=False)
    return dst


def _index_with(env: dict[str, Any], d: Path, **change: str) -> Path:
    dst = d / "scenes"
    shutil.copytree(env["good"] / "scenes", dst)
    pd.read_csv(dst / "index.csv").assign(**change).to_csv(dst / "index.csv", index=False)
    return dst


def _index_missing_file(env: dict[str, Any], d: Path) -> Path:
    dst = d / "scenes"
    shutil.copytree(env["good"] / "scenes", dst)
    idx = pd.read_csv(dst / "index.csv")
    extra = idx.iloc[[0]].assign(date="2025-07-16", path="2025/S2_14TPL_20250716.tif")
    pd.concat([idx, extra]).to_csv(dst / "index.csv", index=False)
    return dst


def _features_without(env: dict[str, Any], d: Path, column: str) -> str:
    p = d / "features.parquet"
    pd.read_parquet(env["good"] / "features.parquet").drop(columns=column).to_parquet(p, index=False)
    return str(p)


def _features_of_applicants(env: dict[str, Any], d: Path) -> str:
    """The good features made those of the good fields — their ids, farmers (the applicants) and polygons: a run
    that gets as far as the models (underwrite refuses features of other fields)."""
    from features.fields import geometry_hashes, read_fields

    fields = read_fields(env["good"] / "fields.gpkg", season=SEASON).fields.reset_index(drop=True)
    f = pd.read_parquet(env["good"] / "features.parquet")
    assert len(f) == len(fields)
    p = d / "features.parquet"
    f.assign(field_id=fields["field_id"].astype(str).to_numpy(), farmer_token=fields["farmer_token"].astype(str).to_numpy(),
             geometry_hash=geometry_hashes(fields).to_numpy()).to_parquet(p, index=False)
    return str(p)


def _features_as_of(env: dict[str, Any], d: Path, day: str) -> str:
    p = d / "features.parquet"
    pd.read_parquet(env["good"] / "features.parquet").assign(as_of=pd.Timestamp(day)).to_parquet(p, index=False)
    return str(p)


def _county_stub(d: Path) -> Path:
    c = d / "county"
    c.mkdir()
    (c / "county.json").write_text('{"region": "us-nebraska", "seasons": ["2024", "2025"], "current_season": "2025",'
                                   ' "currency": "USD", "policy_profile": "us-operating", "synthetic": true}')
    return c


# a valid season that is not in the file (the good file has 2025 only)
CASES = [c if c.id != "fields-season-absent" else Case(
    c.id, lambda e, d: ["fields", "validate", str(e["good"] / "fields.gpkg"), "--season", "2031"], c.pattern)
    for c in CASES]


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


def _param(c: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else []
    return pytest.param(c, id=c.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.command:
        require(has_command(*case.command), f"`agcredit {' '.join(case.command)}` does not exist yet")
    for k, v in case.env:
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # a command that writes a default store or file writes it here: caught below
    case_dir = _mkdir(tmp_path / "case")
    argv = case.make(env, case_dir)
    (case_dir / "out").mkdir(exist_ok=True)
    inputs = _files(case_dir)
    before = count(env["store"])
    artifacts = _files(artifacts_dir(env["store"]))
    res = CliRunner().invoke(app, argv)
    err = res.stderr
    assert "Traceback" not in err + res.stdout, err
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, f"exit {res.exit_code}; stdout={res.stdout!r} stderr={err!r}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    import re

    assert re.search(case.pattern, lines[0], flags=re.IGNORECASE), f"{lines[0]!r} !~ {case.pattern!r}"
    assert count(env["store"]) == before, "records were written to the store"
    assert _files(artifacts_dir(env["store"])) == artifacts, "an artifact was left beside the store"
    assert "secretpw" not in err + res.stdout, "a password was shown"
    for who in ("Farmer 0", "Farmer 1", "ID-0000", "ID-0001", "555-0100", "555-0101"):  # the inputs' identifiers
        assert who not in err + res.stdout, f"personal data shown: {who}"
    assert _files(case_dir) == inputs, "output (or partial output) was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"], "something was written to the working directory"
