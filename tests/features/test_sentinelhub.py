"""Sentinel Hub source through the real sentinelhub client, HTTP mocked with ``responses`` (fully offline)."""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import responses
from affine import Affine
from rasterio.io import MemoryFile
from sentinelhub import SentinelHubDownloadClient
from shapely.geometry import box

from features.contracts import check_field_time_series
from features.errors import FieldsError, ImageryError, UserInputError
from features.sources import sentinelhub as sh
from features.sources._sh_plan import estimate_pu, plan_tiles, request_key, season_window
from features.sources._sh_scripts import parse_statistics

EP = sh.ENDPOINTS["cdse"]
BASE, TOKEN_URL = EP["base_url"], EP["token_url"]
CATALOG_URL = f"{BASE}/api/v1/catalog/1.0.0/search"
PROCESS_URL = f"{BASE}/api/v1/process"
STATS_URL = f"{BASE}/api/v1/statistics"
CLIENT_ID = "agc-client-7f3a"
SECRET = "s3cr3t-VALUE-never-shown-91"
FAST = sh.Retry(attempts=3, base_delay=0.0, max_delay=0.0, sleep=lambda s: None)


@pytest.fixture(autouse=True)
def _sh(monkeypatch: pytest.MonkeyPatch) -> None:
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    monkeypatch.setenv("SH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SH_CLIENT_SECRET", SECRET)
    yield
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()


def make_fields() -> gpd.GeoDataFrame:
    """Two neighbouring fields and one 6 km away, UTM 14N (Nebraska)."""
    geoms = [box(500_000, 4_500_000, 500_200, 4_500_150), box(500_300, 4_500_000, 500_450, 4_500_200),
             box(506_000, 4_506_000, 506_120, 4_506_100)]
    return gpd.GeoDataFrame({"field_id": ["f1", "f2", "f3"], "season": ["2023"] * 3}, geometry=geoms, crs=32614)


def tiff_bytes(bounds, width, height, epsg, *, bands=12) -> bytes:
    arr = np.zeros((bands, height, width), dtype="uint16")
    n = min(bands, 10)
    arr[:n] = np.arange(1, n + 1, dtype="uint16")[:, None, None] * 300
    if bands == 12:
        arr[10], arr[11] = 4, 1  # SCL vegetation, dataMask valid
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=width, height=height, count=bands, dtype="uint16", crs=f"EPSG:{epsg}",
                      transform=Affine((bounds[2] - bounds[0]) / width, 0, bounds[0], 0,
                                                -(bounds[3] - bounds[1]) / height, bounds[3])) as ds:
            ds.write(arr)
        return bytes(mem.read())


def add_token(status: int = 200) -> None:
    if status == 200:
        responses.add(responses.POST, TOKEN_URL, json={"access_token": "aaa.eyJhenAiOiJ4In0.sig", "token_type": "Bearer",
                                                       "expires_in": 3600})
    else:
        responses.add(responses.POST, TOKEN_URL, status=status, body="unauthorized")


def add_catalog(days=("2023-06-01", "2023-06-06")) -> None:
    def cb(request):
        payload = json.loads(request.body)
        assert payload["collections"] == ["sentinel-2-l2a"]
        feats = [{"id": f"S2A_{d}", "properties": {"datetime": f"{d}T17:25:31Z", "eo:cloud_cover": 12.0}}
                 for d in days]
        if "next" not in payload and len(feats) > 1:  # two pages: the client follows context.next
            return 200, {}, json.dumps({"features": feats[:1], "context": {"next": 1, "returned": 1}})
        rest = feats[1:] if "next" in payload else feats
        return 200, {}, json.dumps({"features": rest, "context": {"returned": len(rest)}})

    responses.add_callback(responses.POST, CATALOG_URL, callback=cb, content_type="application/json")


@responses.activate
def test_a_broken_or_empty_catalog_answer_is_one_line_and_never_cached(tmp_path):
    """A malformed catalog page was cached before it was read (a traceback on every later run, the service never
    asked again), and an empty answer was cached for good; now one line, exit-2 error, and neither is cached."""
    add_token()
    responses.add(responses.POST, CATALOG_URL, body='{"features": [{"id": "x", "prop', content_type="application/json")
    with pytest.raises(ImageryError, match=r"Sentinel Hub Catalog API: the answer for 2023-06-01 to 2023-06-03 is not "
                                           r"a catalog page .*nothing cached"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "o", cache_dir=tmp_path / "c",
                 retry=FAST)
    responses.replace(responses.POST, CATALOG_URL, json={"features": [{"id": "x"}]})  # no properties
    with pytest.raises(ImageryError, match="not a catalog page"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "o", cache_dir=tmp_path / "c",
                 retry=FAST)
    responses.replace(responses.POST, CATALOG_URL, json={"features": [], "context": {}})
    with pytest.raises(ImageryError):  # nothing acquired: said so, and asked again next time
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "o", cache_dir=tmp_path / "c",
                 retry=FAST)
    assert not list((tmp_path / "c").rglob("catalog/*"))
    responses.remove(responses.POST, CATALOG_URL)
    add_catalog(days=("2023-06-01",))
    add_process()
    calls = n_calls(CATALOG_URL)
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "o", cache_dir=tmp_path / "c",
                   retry=FAST)
    assert res.summary.scenes == 2 and n_calls(CATALOG_URL) > calls  # the healthy service was asked
    assert list((tmp_path / "c").rglob("catalog/*"))  # and its page cached (the window is past)


def process_callback(statuses=(), *, bands=12, pu="0.5"):
    queue = list(statuses)

    def cb(request):
        if queue:
            return queue.pop(0), {}, json.dumps({"error": {"status": 0, "message": "busy"}})
        payload = json.loads(request.body)
        bounds = payload["input"]["bounds"]["bbox"]
        epsg = int(payload["input"]["bounds"]["properties"]["crs"].rsplit("/", 1)[-1])
        w, h = payload["output"]["width"], payload["output"]["height"]
        headers = {"x-processingunits-spent": pu} if pu else {}
        return 200, headers, tiff_bytes(bounds, w, h, epsg, bands=bands)

    return cb


def add_process(statuses=(), **kw) -> None:
    responses.add_callback(responses.POST, PROCESS_URL, callback=process_callback(statuses, **kw),
                           content_type="image/tiff")


def n_calls(url: str) -> int:
    return sum(1 for c in responses.calls if c.request.url.startswith(url))


# ------------------------------------------------------------------- planning

def test_plan_tiles_clusters_close_fields_and_splits_large_boxes():
    tiles = plan_tiles(make_fields())
    assert [t.field_ids for t in tiles] == [("f1", "f2"), ("f3",)]
    assert all(t.epsg == 32614 for t in tiles)
    t0 = tiles[0]
    assert t0.bounds == (499_980.0, 4_499_980.0, 500_470.0, 4_500_220.0) and (t0.width, t0.height) == (49, 24)
    # a row of 30 fields 300 m apart with a 100 px limit: split, every field wholly inside its own box
    row = gpd.GeoDataFrame({"field_id": [f"r{i:02d}" for i in range(30)]},
                           geometry=[box(500_000 + 300 * i, 4_500_000, 500_200 + 300 * i, 4_500_200) for i in range(30)],
                           crs=32614)
    split = plan_tiles(row, max_px=100)
    assert len(split) > 1 and all(t.width <= 100 and t.height <= 100 for t in split)
    assert sorted(f for t in split for f in t.field_ids) == sorted(row["field_id"])
    for t in split:
        inside = row[row["field_id"].isin(t.field_ids)].total_bounds
        assert inside[0] >= t.bounds[0] and inside[2] <= t.bounds[2]
    # fields in degrees go to their UTM zone
    wgs = make_fields().to_crs(4326)
    assert {t.epsg for t in plan_tiles(wgs)} == {32614}
    two_zones = gpd.GeoDataFrame({"field_id": ["w", "e"]}, geometry=[box(-96.01, 41.0, -96.0, 41.01),
                                                                      box(-95.99, 41.0, -95.98, 41.01)], crs=4326)
    assert [(t.epsg, t.field_ids) for t in plan_tiles(two_zones)] == [(32614, ("w",)), (32615, ("e",))]


def test_plan_rejects_a_field_larger_than_one_request():
    huge = gpd.GeoDataFrame({"field_id": ["big"]}, geometry=[box(500_000, 4_500_000, 530_000, 4_501_000)], crs=32614)
    with pytest.raises(FieldsError, match="larger than one Sentinel Hub request.*big"):
        plan_tiles(huge)


def test_pu_formula_and_request_key():
    assert estimate_pu(512, 512, input_bands=3) == pytest.approx(1.0)
    assert estimate_pu(49, 24, input_bands=11) == pytest.approx(0.01 * 11 / 3)  # area factor floor 0.01
    assert estimate_pu(1024, 512, input_bands=3, float32=True) == pytest.approx(4.0)
    assert request_key("u", {"a": 1, "b": 2}) == request_key("u", {"b": 2, "a": 1}) != request_key("u", {"a": 2})


def test_season_window_explicit_csv_and_missing(tmp_path):
    assert season_window("2023", None, start=date(2023, 5, 1), end=date(2023, 9, 30), as_of=date(2023, 7, 1)) == (
        date(2023, 5, 1), date(2023, 7, 1))
    csv_path = tmp_path / "w.csv"
    csv_path.write_text("region,start,start_year_offset,end,end_year_offset\nus-nebraska,09-15,-1,11-30,0\n")
    assert season_window("2019", "us-nebraska", windows_csv=csv_path) == (date(2018, 9, 15), date(2019, 11, 30))
    with pytest.raises(UserInputError, match="give --start and --end"):
        season_window("2019", "mars", windows_csv=csv_path)


# ------------------------------------------------------------------- Process API

@responses.activate
def test_fetch_writes_scene_index_with_georeferenced_tiffs(tmp_path):
    add_token()
    add_catalog()
    add_process()
    result = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "scenes", retry=FAST)
    out = result.path
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert len(rows) == 4  # 2 tiles × 2 dates
    assert [r["date"] for r in rows] == ["2023-06-01", "2023-06-01", "2023-06-06", "2023-06-06"]
    r = rows[0]
    assert r["bands"] == "B02;B03;B04;B05;B06;B07;B08;B8A;B11;B12;SCL;dataMask"
    assert (r["scale"], r["offset"], r["nodata"], r["cloud_mask"]) == ("0.0001", "0", "0", "SCL")
    assert r["path"] == f"2023/S2_{r['tile_id']}_20230601.tif"
    with rasterio.open(out / r["path"]) as ds:
        assert ds.count == 12 and ds.dtypes[0] == "uint16" and ds.crs.to_epsg() == 32614
        assert ds.bounds.left == 499_980.0 and ds.res == (10.0, 10.0)
        assert int(ds.read(3)[0, 0]) == 900 and int(ds.read(11)[0, 0]) == 4
    s = result.summary
    assert (s.requests, s.cache_hits, s.scenes, s.dates, s.tiles) == (4 + 4, 0, 4, 2, 2)  # 2 catalog pages/tile
    assert s.processing_units == pytest.approx(4 * 0.5) and s.pu_reported == 4
    # the request asked for harmonised DN values over the tile's box in UTM
    body = json.loads(next(c.request.body for c in responses.calls if c.request.url == PROCESS_URL))
    assert body["input"]["data"][0]["processing"] == {"harmonizeValues": True}
    assert body["input"]["data"][0]["dataFilter"]["timeRange"] == {"from": "2023-06-01T00:00:00Z",
                                                                   "to": "2023-06-02T00:00:00Z"}
    assert json.loads((out / "sentinelhub.json").read_text())["harmonizeValues"] is True


@responses.activate
def test_rerun_downloads_nothing_new(tmp_path):
    add_token()
    add_catalog()
    add_process(pu="")
    first = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "s", retry=FAST)
    calls = len(responses.calls)
    index_before = (tmp_path / "s" / "index.csv").read_bytes()
    assert first.summary.pu_estimated == 4 and first.summary.processing_units == pytest.approx(4 * 0.01 * 11 / 3)
    again = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "s", retry=FAST)
    assert len(responses.calls) == calls  # no token, no catalog, no process request
    assert again.summary.requests == 0 and again.summary.cache_hits == 8 and again.summary.scenes == 4
    assert (tmp_path / "s" / "index.csv").read_bytes() == index_before
    elsewhere = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "other", retry=FAST)
    assert len(responses.calls) == calls and elsewhere.summary.cache_hits == 8  # the cache is shared
    assert (tmp_path / "other" / "index.csv").read_bytes() == index_before


@responses.activate
def test_fetch_scenes_returns_the_folder(tmp_path):
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    out = sh.fetch_scenes(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 2), tmp_path / "one")
    assert out == tmp_path / "one" and (out / "index.csv").is_file()


@responses.activate
def test_5xx_and_429_are_retried_with_bounded_backoff(tmp_path):
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process(statuses=(503, 429))
    sleeps: list[float] = []
    retry = sh.Retry(attempts=4, base_delay=0.01, factor=2.0, max_delay=0.015, sleep=sleeps.append)
    res = sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "r", retry=retry)
    assert sleeps == [0.01, 0.015]
    assert res.summary.retries == 2 and res.summary.scenes == 1
    assert n_calls(PROCESS_URL) == 3


@responses.activate
@pytest.mark.parametrize("statuses,code", [((403,), "403"), ((429, 429, 429), "429")])
def test_quota_exhausted_names_dates_and_fields_and_writes_nothing(tmp_path, statuses, code):
    """A 403 stops the fetch (quota error); a 429 after the retries is one failed acquisition like a 500 (the
    others are still asked for: tests/features/test_sh_midway.py): the all-or-nothing front writes nothing either way."""
    add_token()
    add_catalog()
    add_process(statuses=statuses)
    out = tmp_path / "q"
    if code == "403":
        with pytest.raises(sh.SentinelHubQuotaError, match=r"HTTP 403.*2023-06-01, 2023-06-06.*f1, f2") as e:
            sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, retry=FAST)
        assert e.value.fields == ["f1", "f2", "f3"] and e.value.status == 403
    else:
        with pytest.raises(ImageryError, match=r"1 of 4 acquisitions could not be downloaded \(nothing was written; "
                                               r"3 downloaded are cached.*2023-06-01 tile 14Nc000t00 \(HTTP 429"):
            sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, retry=FAST)
    assert not (out / "index.csv").exists() and not list(out.glob("20*/*.tif"))


@responses.activate
def test_missing_acquisition_is_an_error_naming_date_and_fields(tmp_path):
    add_token()
    add_catalog(days=("2023-06-01",))
    responses.add(responses.POST, PROCESS_URL, status=400, json={"error": {"message": "no data for this day"}})
    with pytest.raises(ImageryError, match=r"could not be downloaded.*2023-06-01 tile 14Nc000t00 .*no data.*f1, f2"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "m", retry=FAST)
    assert not (tmp_path / "m" / "index.csv").exists()


@responses.activate
def test_no_acquisitions_at_all_names_fields(tmp_path):
    add_token()
    add_catalog(days=())
    with pytest.raises(ImageryError, match=r"no Sentinel-2 L2A acquisition.*2023-06-01 and 2023-06-03.*f1, f2, f3"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "n", retry=FAST)


@responses.activate
def test_malformed_tiff_is_rejected_and_not_cached(tmp_path):
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process(bands=3)
    with pytest.raises(ImageryError, match=r"unexpected GeoTIFF: expected 12 bands"):
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "b", retry=FAST)
    assert not list((tmp_path / "b").rglob("*.tif"))


# ------------------------------------------------------------------- credentials

@responses.activate
def test_missing_credentials_say_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_SECRET")
    add_catalog()
    with pytest.raises(sh.SentinelHubCredentialsError, match=r"SH_CLIENT_SECRET not set.*--profile NAME of `imagery fetch` and `features series\|build`; SH_PROFILE=NAME for the others, whose --profile is the policy.s\)$"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "c", retry=FAST)
    assert len(responses.calls) == 0


@responses.activate
def test_profile_is_read_never_written(tmp_path, monkeypatch):
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    cfg = Path(sh.SHConfig.get_config_location())
    with pytest.raises(sh.SentinelHubCredentialsError, match="no sentinelhub config file"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "p", profile="bank", retry=FAST)
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[bank]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\n')
    before = cfg.read_bytes()
    with pytest.raises(sh.SentinelHubCredentialsError, match="profile not found"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "p", profile="other", retry=FAST)
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "p", profile="bank", retry=FAST)
    assert res.summary.scenes == 2 and cfg.read_bytes() == before
    token_body = next(c.request.body for c in responses.calls if c.request.url == TOKEN_URL)
    assert CLIENT_ID in str(token_body)


@responses.activate
def test_a_profile_for_another_deployment_is_not_sent_to_this_one(tmp_path, monkeypatch):
    """A profile naming its own service URLs (a mirror, another deployment) had its credentials sent to the
    endpoint's hosts regardless; now refused before any request. URLs equal to the endpoint's are fine."""
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    cfg = Path(sh.SHConfig.get_config_location())
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[mirror]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\n'
                   f'sh_base_url = "http://127.0.0.1:9"\n'
                   f'[same]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\n'
                   f'sh_base_url = "{sh.ENDPOINTS["cdse"]["base_url"]}"\n')
    add_catalog(days=("2023-06-01",))
    with pytest.raises(sh.SentinelHubCredentialsError,
                       match=r"profile 'mirror'.*sh_base_url is http://127.0.0.1:9, but this endpoint uses "
                             r"https://sh.dataspace.copernicus.eu.*\(`underwrite`, `reunderwrite` and `monitor` reach "
                             r"cdse only: fetch with `agcredit imagery fetch --endpoint profile` and give them the "
                             r"folder\)$"):  # a review: they have no --endpoint the message told them to pass
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "m", profile="mirror", retry=FAST)
    assert not [c for c in responses.calls if c.request.url == TOKEN_URL]
    add_token()
    add_process()
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), tmp_path / "s", profile="same", retry=FAST)
    assert res.summary.scenes == 2


@responses.activate
@pytest.mark.parametrize("token_reply,why", [
    ({"status": 401, "body": "unauthorized"}, "HTTP 401"),
    ({"status": 401, "json": {"error": "invalid_client", "error_description": "Invalid client credentials"}},
     "InvalidClientError"),
])
def test_secret_appears_in_no_log_output_error_or_file(tmp_path, caplog, capsys, token_reply, why):
    caplog.set_level(logging.DEBUG)
    home = Path.home()
    responses.add(responses.POST, TOKEN_URL, **token_reply)
    add_catalog()
    with pytest.raises(sh.SentinelHubCredentialsError, match=rf"refused by .*{why}") as e:
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "x", retry=FAST)
    messages = [str(e.value), repr(e.value)]
    responses.reset()
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    add_token()
    add_catalog()
    add_process()
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "x", retry=FAST)
    captured = capsys.readouterr()
    for text in [caplog.text, captured.out, captured.err, *messages]:
        assert SECRET not in text and CLIENT_ID not in text
    for root in (tmp_path, home):
        for p in root.rglob("*"):
            if p.is_file():
                assert SECRET.encode() not in p.read_bytes(), p
    assert not Path(sh.SHConfig.get_config_location()).exists()  # never saved a config


# ------------------------------------------------------------------- Statistical API

@responses.activate
def test_a_malformed_statistics_answer_is_named_and_not_cached(tmp_path):
    add_token()
    responses.add(responses.POST, STATS_URL, body='{"data": [{"interval"', content_type="application/json")
    with pytest.raises(ImageryError, match=r"statistics failed .*not a statistics answer: malformed JSON; not cached"):
        sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "c",
                            retry=FAST)
    assert not list((tmp_path / "c").rglob("stats/*"))
    responses.replace(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    res = sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "c",
                              retry=FAST)
    assert len(res.series) and list((tmp_path / "c").rglob("stats/*"))  # read, then cached


def stats_body(values: dict[str, float], *, failed: bool = False) -> dict:
    def stats(mean, nodata, samples=40):
        return {"min": 0.1, "max": 0.9, "mean": mean, "stDev": 0.05, "sampleCount": samples, "noDataCount": nodata,
                "percentiles": {} if isinstance(mean, str) else {"10.0": mean - 0.1, "50.0": mean, "90.0": mean + 0.1}}

    data = [{"interval": {"from": "2023-06-01T00:00:00Z", "to": "2023-06-02T00:00:00Z"},
             "outputs": {v: {"bands": {"B0": {"stats": stats(m, 4)}}} for v, m in values.items()}},
            {"interval": {"from": "2023-06-06T00:00:00Z", "to": "2023-06-07T00:00:00Z"},
             "outputs": {v: {"bands": {"B0": {"stats": stats("NaN", 40)}}} for v in values}}]
    if failed:  # one interval the service failed to compute
        data.append({"interval": {"from": "2023-06-09T00:00:00Z", "to": "2023-06-10T00:00:00Z"},
                     "error": {"type": "TIMEOUT"}})
    return {"data": data, "status": "OK"}


@responses.activate
def test_statistical_series_maps_to_field_time_series(tmp_path):
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6, "B04": 0.05}),
                  headers={"x-processingunits-spent": "0.02"})
    res = sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), variables=("NDVI", "B04"),
                              cache_dir=tmp_path / "c", retry=FAST)
    df = check_field_time_series(res.series)
    assert n_calls(STATS_URL) == 3 and len(df) == 3 * 2 * 2
    ndvi = df[(df["field_id"] == "f1") & (df["variable"] == "NDVI")].reset_index(drop=True)
    assert ndvi["date"].dt.strftime("%Y-%m-%d").tolist() == ["2023-06-01", "2023-06-06"]
    assert ndvi.loc[0, ["mean", "p10", "p50", "p90"]].tolist() == pytest.approx([0.6, 0.5, 0.6, 0.7])
    assert (ndvi.loc[0, "n_pixels"], ndvi.loc[0, "n_clear"]) == (40, 36)
    assert ndvi.loc[1, "n_clear"] == 0 and np.isnan(ndvi.loc[1, "mean"])
    assert res.summary.failed_intervals == 0 and res.summary.processing_units == pytest.approx(0.06)
    body = json.loads(next(c.request.body for c in responses.calls if c.request.url == STATS_URL))
    assert body["aggregation"]["aggregationInterval"] == {"of": "P1D"}
    assert body["calculations"]["default"]["statistics"]["default"]["percentiles"]["k"] == [10, 50, 90]
    assert body["input"]["bounds"]["properties"]["crs"].endswith("32614") and "geometry" in body["input"]["bounds"]
    calls = len(responses.calls)
    again = sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), variables=("NDVI", "B04"),
                                cache_dir=tmp_path / "c", retry=FAST)
    assert len(responses.calls) == calls and again.summary.cache_hits == 3
    assert again.series.equals(res.series)


@responses.activate
def test_statistical_series_public_front_and_quota(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.4}))
    df = sh.statistical_series(make_fields().iloc[:1], "2023", date(2023, 6, 1), date(2023, 6, 10))
    assert df["variable"].unique().tolist() == ["NDVI"] and df.attrs["sentinelhub"]["requests"] == 1
    responses.reset()
    add_token()
    responses.add(responses.POST, STATS_URL, status=403, json={"error": {"message": "out of processing units"}})
    with pytest.raises(sh.SentinelHubQuotaError, match=r"HTTP 403.*2023-07-01 to 2023-07-10.*f1, f2, f3"):
        sh.fetch_statistics(make_fields(), "2023", date(2023, 7, 1), date(2023, 7, 10), retry=FAST)


@responses.activate
def test_statistical_api_unreachable_fails_at_the_first_field(tmp_path):
    """A Statistical API that cannot be reached fails once, not once per field after each one's retries."""
    import requests

    add_token()
    responses.add(responses.POST, STATS_URL, body=requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(ImageryError, match=r"Statistical API: the first request failed .*nothing fetched"):
        sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "c",
                            retry=FAST)
    assert n_calls(STATS_URL) == FAST.attempts  # one field's retries, then stop (3 fields)
    # a failure after some fields succeeded still lists the failed fields (the others are cached)
    responses.reset()
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    responses.add(responses.POST, STATS_URL, body=requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(ImageryError, match=r"statistics failed for .*1 fields done and cached"):
        sh.fetch_statistics(make_fields().iloc[:2], "2023", date(2023, 6, 1), date(2023, 6, 10),
                            cache_dir=tmp_path / "d", retry=sh.Retry(attempts=1, base_delay=0.0, max_delay=0.0,
                                                                     sleep=lambda s: None))


def test_parse_statistics_handles_string_numbers_and_errors():
    body = {"data": [{"interval": {"from": "2023-05-02T00:00:00Z"}, "error": "EXECUTION_ERROR"},
                     {"interval": {"from": "2023-05-07T00:00:00Z"},
                      "outputs": {"NDVI": {"bands": {"B0": {"stats": {
                          "mean": "0.5", "stDev": "0.1", "sampleCount": 10, "noDataCount": 0,
                          "percentiles": {"10.0": "0.4", "50.0": "0.5", "90.0": "0.6"}}}}}}}]}
    df, failed = parse_statistics(body, field_id="a", season="2023", variables=("NDVI",))
    assert failed == ["2023-05-02"] and df[["mean", "p90", "n_clear"]].iloc[0].tolist() == [0.5, 0.6, 10]
    with pytest.raises(UserInputError, match="variables: expected some of"):
        sh.fetch_statistics(make_fields(), "2023", date(2023, 5, 1), date(2023, 5, 2), variables=("XYZ",))


@responses.activate
def test_fetched_scenes_feed_the_local_zonal_engine(tmp_path):
    from features.series import build_series

    add_token()
    add_catalog()
    add_process()
    out = sh.fetch_scenes(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "scenes")
    fields = make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    res = build_series(fields, out, "2023", start=date(2023, 6, 1), end=date(2023, 6, 10), variables=("NDVI", "B04"))
    df = res.series
    assert sorted(df["field_id"].unique()) == ["f1", "f2", "f3"] and df["date"].nunique() == 2
    ndvi = df[df["variable"] == "NDVI"]
    assert ndvi["mean"].to_numpy() == pytest.approx(0.4)  # B08 2100 DN, B04 900 DN, harmonised scale 1e-4
    assert df[df["variable"] == "B04"]["mean"].to_numpy() == pytest.approx(0.09)
    f1 = ndvi[ndvi["field_id"] == "f1"].iloc[0]
    assert f1["n_pixels"] == f1["n_clear"] == 300  # 200 m × 150 m at 10 m


# ------------------------------------------------------------------- audit fixes (imagery inputs)

@responses.activate
def test_failed_or_empty_intervals_are_warned_and_never_cached(tmp_path):
    """Intervals the service failed to compute (data[].error) or answered without outputs were dropped silently and
    the answer cached for good, so the dates never came back; now they are counted, named in a warning, and the
    answer is not cached, so a re-run asks again and gets them."""
    add_token()
    body = stats_body({"NDVI": 0.6}, failed=True)
    body["data"].append({"interval": {"from": "2023-06-08T00:00:00Z", "to": "2023-06-09T00:00:00Z"}, "outputs": {}})
    responses.add(responses.POST, STATS_URL, json=body)
    res = sh.fetch_statistics(make_fields().iloc[:1], "2023", date(2023, 6, 1), date(2023, 6, 10),
                              cache_dir=tmp_path / "c", retry=FAST)
    assert res.summary.failed_intervals == 2 and res.summary.failed_dates == ["f1 2023-06-09", "f1 2023-06-08"]
    assert res.summary.warnings == ["the Statistical API failed to compute 2 daily interval(s) (an error or no "
                                    "outputs): left out and not cached, a re-run asks again: f1 2023-06-09, "
                                    "f1 2023-06-08 (2 in all)"]
    assert not list((tmp_path / "c").rglob("stats/*"))
    responses.replace(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    again = sh.fetch_statistics(make_fields().iloc[:1], "2023", date(2023, 6, 1), date(2023, 6, 10),
                                cache_dir=tmp_path / "c", retry=FAST)
    assert n_calls(STATS_URL) == 2 and again.summary.failed_intervals == 0 and not again.summary.warnings
    assert list((tmp_path / "c").rglob("stats/*"))  # a complete answer of a past window is cached


@responses.activate
def test_the_failed_interval_warning_reaches_the_series_user(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}, failed=True))
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    fields.to_file(tmp_path / "f.gpkg")
    r = CliRunner().invoke(app, ["features", "series", "--fields", str(tmp_path / "f.gpkg"), "--imagery",
                                 "sentinelhub-stats", "--season", "2023", "--start", "2023-06-01", "--end",
                                 "2023-06-10", "--out", str(tmp_path / "s.parquet"), "--no-progress"])
    assert r.exit_code == 0, r.stderr
    assert "warning: the Statistical API failed to compute 1 daily interval(s)" in r.stderr
    assert "f1 2023-06-09" in r.stderr and SECRET not in r.stderr + r.stdout
    assert r.stderr.count("failed to compute") == 1  # said once, as a warning


@responses.activate
def test_a_window_that_ended_days_ago_is_not_yet_settled(tmp_path):
    """A window that ended yesterday was cached as final: acquisitions ingested later were never fetched. Catalog
    pages and statistics are cached only once the window ended SETTLED_AFTER_DAYS days ago."""
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    assert sh._settled(today - timedelta(days=sh.SETTLED_AFTER_DAYS))
    assert not sh._settled(today - timedelta(days=sh.SETTLED_AFTER_DAYS - 1))
    add_token()
    recent = today - timedelta(days=1)
    add_catalog(days=(str(recent),))
    add_process()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    sh.fetch(make_fields().iloc[:1], recent, recent, tmp_path / "o", cache_dir=tmp_path / "c", retry=FAST)
    sh.fetch_statistics(make_fields().iloc[:1], "2023", recent, recent, cache_dir=tmp_path / "c", retry=FAST)
    assert not list((tmp_path / "c").rglob("catalog/*")) and not list((tmp_path / "c").rglob("stats/*"))
    assert list((tmp_path / "c").rglob("process/*"))  # a downloaded scene is final whatever the window
    old = today - timedelta(days=sh.SETTLED_AFTER_DAYS + 1)
    responses.replace(responses.POST, CATALOG_URL, json={"features": [
        {"id": "x", "properties": {"datetime": f"{old}T10:00:00Z"}}], "context": {}})
    sh.fetch(make_fields().iloc[:1], old, old, tmp_path / "p", cache_dir=tmp_path / "c", retry=FAST)
    sh.fetch_statistics(make_fields().iloc[:1], "2023", old, old, cache_dir=tmp_path / "c", retry=FAST)
    assert list((tmp_path / "c").rglob("catalog/*")) and list((tmp_path / "c").rglob("stats/*"))


@responses.activate
def test_a_truncated_tiff_is_refused_and_a_cached_one_fetched_again(tmp_path):
    """A GeoTIFF cut short (headers intact) passed check_tiff, was cached and failed every later run. The pixels
    are read before caching now; a cached file that no longer reads is dropped, warned about and fetched again."""
    add_token()
    add_catalog(days=("2023-06-01",))
    cut = {"on": True}
    good = process_callback()

    def cb(request):
        status, headers, body = good(request)
        return status, headers, body[: int(len(body) * 0.6)] if cut["on"] else body

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")
    big = gpd.GeoDataFrame({"field_id": ["f1"], "season": ["2023"]}, geometry=[box(500_000, 4_500_000, 503_000,
                                                                                   4_503_000)], crs=32614)
    with pytest.raises(ImageryError, match=r"could not be downloaded.*not a readable GeoTIFF .*truncated"):
        sh.fetch(big, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o", cache_dir=tmp_path / "c", retry=FAST)
    assert not list((tmp_path / "c").rglob("process/*/*.tif"))
    cut["on"] = False
    sh.fetch(big, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o", cache_dir=tmp_path / "c", retry=FAST)
    (cached,) = list((tmp_path / "c").rglob("process/*/*.tif"))
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])  # as an older version cached it
    calls = n_calls(PROCESS_URL)
    res = sh.fetch(big, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o2", cache_dir=tmp_path / "c", retry=FAST)
    assert n_calls(PROCESS_URL) == calls + 1 and res.summary.scenes == 1
    assert any("cached scene 2023-06-01 tile 14Nc000t00 unreadable" in w and "fetched again" in w
               for w in res.summary.warnings)
    with rasterio.open(tmp_path / "o2" / "2023" / "S2_14Nc000t00_20230601.tif") as ds:
        assert ds.read().shape[0] == 12


@responses.activate
def test_429_honours_retry_after_within_a_bound(tmp_path):
    """A 429's Retry-After (Sentinel Hub: milliseconds) was ignored for a fixed 2/4/8 s backoff and the run failed
    although waiting as told would have worked. It is honoured now, up to Retry.max_total_wait seconds."""
    assert sh.MAX_RETRY_AFTER_TOTAL == 120.0
    from features.sources._sh_io import retry_after_seconds

    assert retry_after_seconds("60000") == 60.0 and retry_after_seconds("250") == 0.25
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=datetime(2015, 10, 21, 7, 28, tzinfo=UTC)) == 30
    add_token()
    add_catalog(days=("2023-06-01",))
    state = {"waited": 0.0}
    good = process_callback()

    def cb(request):
        if state["waited"] < 60:
            return 429, {"Retry-After": "60000"}, json.dumps({"error": {"status": 429, "message": "rate limit"}})
        return good(request)

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        state["waited"] += s

    res = sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "r",
                   retry=sh.Retry(sleep=sleep), cache_dir=tmp_path / "c")
    assert sleeps == [60.0] and res.summary.scenes == 1
    responses.replace(responses.POST, PROCESS_URL, status=429, headers={"Retry-After": "100000"},
                      json={"error": {"message": "rate limit"}})
    sleeps.clear()
    with pytest.raises(ImageryError, match=r"2023-06-01 tile 14Nc000t00 \(HTTP 429: too many requests; the service "
                                           r"asked to wait 100 s more, past the 120 s bound on waiting"):
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "s",
                 retry=sh.Retry(sleep=sleep), cache_dir=tmp_path / "d")
    assert sleeps == [100.0]  # the next 100 s would pass the 120 s bound: it fails instead of waiting


@responses.activate
def test_quota_message_counts_scenes_not_catalog_pages(tmp_path):
    add_token()
    add_catalog()  # two catalog pages, two acquisitions: the first scene is fetched, the second refused
    state = {"n": 0}
    good = process_callback()

    def cb(request):
        state["n"] += 1
        return good(request) if state["n"] == 1 else (403, {}, json.dumps({"error": {"message": "quota"}}))

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")
    with pytest.raises(sh.SentinelHubQuotaError, match=r"HTTP 403.*not fetched: dates 2023-06-06 .*; 1 scenes already "
                                                       r"downloaded are cached"):
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 10), tmp_path / "q", retry=FAST,
                 cache_dir=tmp_path / "c")


@responses.activate
def test_statistics_give_every_variable_the_series_asks_for(tmp_path):
    """sentinelhub-stats gave NDVI only (1 of 15 FieldTimeSeries variables): build_series now asks the Statistical
    API for every variable it is asked for, with one output per variable in the evalscript."""
    from features.contracts import VARIABLES
    from features.series import build_series

    add_token()
    values = {v: (0.05 if v.startswith("B") else 0.4) for v in VARIABLES}
    responses.add(responses.POST, STATS_URL, json=stats_body(values))
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    res = build_series(fields, "sentinelhub-stats", "2023", start=date(2023, 6, 1), end=date(2023, 6, 10))
    assert sorted(res.series["variable"].unique()) == sorted(VARIABLES)
    script = json.loads(responses.calls[-1].request.body)["aggregation"]["evalscript"]
    for v in VARIABLES:
        assert f'{{id: "{v}", bands: 1, sampleType: "FLOAT32"}}' in script


@responses.activate
def test_web_mercator_fields_are_requested_in_their_utm_zone(tmp_path):
    """EPSG:3857 fields were sent in 3857 with resolution 10: ~7.6 m pixels at 40° N. Such fields (and geographic
    ones) go to their UTM zone, where 10 is 10 m on the ground."""
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    utm = make_fields().iloc[:1]
    for crs in (3857, 3395, 4326):
        sh.fetch_statistics(utm.to_crs(crs), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "c",
                            retry=FAST)
        body = json.loads(responses.calls[-1].request.body)
        assert body["input"]["bounds"]["properties"]["crs"].endswith("/32614"), crs
        xs = [x for ring in body["input"]["bounds"]["geometry"]["coordinates"] for x, _ in ring]
        assert max(xs) - min(xs) == pytest.approx(200, abs=0.5)
    assert sh._true_metres(utm.crs) and not sh._true_metres(gpd.GeoSeries(crs=3857).crs)


@responses.activate
def test_no_acquisition_is_said_so_not_outside_the_imagery(tmp_path):
    """"No acquisition in the window" was reported as "every field is outside the imagery" / "outside every
    scene"; the accurate message (built, then only logged at INFO) reaches the user now."""
    from features.series import build_series

    add_token()
    responses.add(responses.POST, STATS_URL, json={"data": [], "status": "OK"})
    fields = make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    with pytest.raises(ImageryError, match=r"sentinelhub-stats: no Sentinel-2 L2A acquisition between 2023-06-01 and "
                                           r"2023-06-10 for fields.*f1, f2, f3"):
        build_series(fields, "sentinelhub-stats", "2023", start=date(2023, 6, 1), end=date(2023, 6, 10))

    def cb(request):  # the far tile (f3) has no acquisition
        payload = json.loads(request.body)
        far = payload["bbox"][0] > -98.98
        feats = [] if far else [{"id": "a", "properties": {"datetime": "2023-06-01T17:25:31Z"}}]
        return 200, {}, json.dumps({"features": feats, "context": {}})

    responses.add_callback(responses.POST, CATALOG_URL, callback=cb, content_type="application/json")
    add_process()
    res = build_series(fields, "sentinelhub", "2023", start=date(2023, 6, 1), end=date(2023, 6, 10),
                       cache_dir=tmp_path / "c", variables=("NDVI",))
    assert res.outside_fields == []
    assert res.warnings == ["no Sentinel-2 L2A acquisition between 2023-06-01 and 2023-06-10 "
                            "for 1 field(s): f3 (1 in all)"]


@responses.activate
def test_a_download_without_cache_dir_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """Each `--imagery sentinelhub` run without --cache-dir left a /tmp/sh-* folder (an empty one on failure)."""
    import tempfile

    from features.area_scenes import planted_area
    from features.series import build_series

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    res = build_series(fields, "sentinelhub", "2023", start=date(2023, 6, 1), end=date(2023, 6, 1),
                       variables=("NDVI",))
    assert len(res.series) == 1 and not list(tmp.iterdir())
    fields = fields.assign(region="us-nebraska")
    area = planted_area(fields, "sentinelhub", "2023", date(2023, 6, 1))
    assert len(area) == 1 and not list(tmp.iterdir())
    responses.replace(responses.POST, CATALOG_URL, status=400, json={"error": {"message": "bad request"}})
    with pytest.raises(ImageryError, match="Catalog API search: HTTP 400"):
        build_series(fields, "sentinelhub", "2023", start=date(2023, 7, 1), end=date(2023, 7, 1), variables=("NDVI",))
    assert not list(tmp.iterdir())


@responses.activate
def test_a_killed_downloads_temporary_folder_is_swept_by_the_next_one(tmp_path, monkeypatch):
    """A `--imagery sentinelhub` run without a cache killed outright (SIGKILL, the OOM killer: no cleanup runs) left
    its /tmp/sh-* download folder for good. The folder is now named with the host and process
    (features.atomic.private_tempdir, as the Dask path's): the next download on this host — a series or a planted
    area — removes one whose process is gone and that is an hour old; a live run's folder stays."""
    import os
    import subprocess
    import sys
    import tempfile
    import time

    import features.atomic as A
    from features.area_scenes import planted_area
    from features.series import build_series

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = str(Path(__file__).resolve().parents[2])
    killed = ("import os, sys, tempfile\nfrom features.atomic import private_tempdir_prefix\n"
              "d = tempfile.mkdtemp(prefix=private_tempdir_prefix('sh-scenes'), dir=sys.argv[1])\n"
              "open(os.path.join(d, 'S2A.tif'), 'wb').write(b'half')\nos._exit(0)\n")  # dies without cleaning up
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0,
                                           region="us-nebraska")
    runs = {"series": lambda: len(build_series(fields, "sentinelhub", "2023", start=date(2023, 6, 1),
                                               end=date(2023, 6, 1), variables=("NDVI",)).series),
            "planted area": lambda: len(planted_area(fields, "sentinelhub", "2023", date(2023, 6, 1)))}
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    running = tmp / f"{A.private_tempdir_prefix('sh-scenes').rsplit('-', 2)[0]}-{live.pid}-abc"
    try:
        for what, run in runs.items():
            subprocess.run([sys.executable, "-c", killed, str(tmp)], check=True, cwd=root,
                           env={**os.environ, "PYTHONPATH": root})
            running.mkdir(exist_ok=True)
            old = time.time() - 2 * A.STALE_AFTER_S
            for d in tmp.iterdir():
                os.utime(d, (old, old))
            assert len(list(tmp.iterdir())) == 2
            assert run() == 1, what
            assert [p.name for p in tmp.iterdir()] == [running.name], what  # the dead run's swept, the live one's kept
    finally:
        live.kill()
        live.wait()


@responses.activate
def test_features_series_takes_endpoint_and_profile(tmp_path, monkeypatch):
    """`features series --imagery sentinelhub*` had no --endpoint although its refusal message advised it: the
    credentials always went to CDSE."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sin = sh.ENDPOINTS["sinergise"]
    responses.add(responses.POST, sin["token_url"], json={"access_token": "aaa.eyJhenAiOiJ4In0.sig",
                                                          "token_type": "Bearer", "expires_in": 3600})
    responses.add(responses.POST, f"{sin['base_url']}/api/v1/statistics", json=stats_body({"NDVI": 0.6}))
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    fields.to_file(tmp_path / "f.gpkg")
    args = ["features", "series", "--fields", str(tmp_path / "f.gpkg"), "--imagery", "sentinelhub-stats", "--season",
            "2023", "--start", "2023-06-01", "--end", "2023-06-10", "--out", str(tmp_path / "s.parquet"),
            "--no-progress", "--endpoint", "sinergise"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.stderr
    assert not any(c.request.url.startswith(TOKEN_URL) for c in responses.calls)  # nothing sent to CDSE
    r = CliRunner().invoke(app, [*args[:-1], "nowhere"])
    assert r.exit_code == 2 and "endpoint: expected one of cdse, sinergise, profile, found 'nowhere'" in r.stderr
    r = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert r.exit_code == 2 and "--endpoint sinergise: not with --scheduler or --workers (a Dask run reads Sentinel " \
        "Hub at the default --endpoint cdse" in r.stderr, r.stderr
    # a profile alone is named alone (the message named --endpoint too, which cdse is allowed with)
    r = CliRunner().invoke(app, [*args[:-2], "--profile", "mirror", "--workers", "2"])
    assert r.exit_code == 2 and r.stderr.startswith("error: --profile: not with --scheduler or --workers"), r.stderr
    # --chunk-fields without Dask was ignored without a word: refused as reunderwrite refuses it
    r = CliRunner().invoke(app, [*args[:-2], "--chunk-fields", "100"])
    assert r.exit_code == 2 and "--chunk-fields goes with --scheduler/--workers" in r.stderr, r.stderr


@responses.activate
def test_planted_area_passes_the_endpoint_to_the_client(tmp_path, monkeypatch):
    """features build (planted area from a Sentinel Hub download) had no way to name the endpoint either."""
    from features.area_scenes import planted_area

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sin = sh.ENDPOINTS["sinergise"]
    responses.add(responses.POST, sin["token_url"], json={"access_token": "aaa.eyJhenAiOiJ4In0.sig",
                                                          "token_type": "Bearer", "expires_in": 3600})
    responses.add(responses.POST, f"{sin['base_url']}/api/v1/catalog/1.0.0/search", json={"features": [
        {"id": "a", "properties": {"datetime": "2023-06-01T17:25:31Z"}}], "context": {}})
    responses.add_callback(responses.POST, f"{sin['base_url']}/api/v1/process", callback=process_callback(),
                           content_type="image/tiff")
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0,
                                           region="us-nebraska")
    area = planted_area(fields, "sentinelhub", "2023", date(2023, 6, 1), endpoint="sinergise")
    assert len(area) == 1 and not any(c.request.url.startswith(BASE) for c in responses.calls)


def add_cloudy_catalog(covers=(("2023-06-01", 12.0), ("2023-06-06", 92.0))) -> None:
    """A catalogue that applies an ``eo:cloud_cover <= X`` filter like the service does."""
    def cb(request):
        payload = json.loads(request.body)
        limit = 100.0
        flt = str(payload.get("filter") or "")
        if "eo:cloud_cover <=" in flt:
            limit = float(flt.split("eo:cloud_cover <=")[1].split(maxsplit=1)[0])
        feats = [{"id": f"S2A_{d}", "properties": {"datetime": f"{d}T17:25:31Z", "eo:cloud_cover": c}}
                 for d, c in covers if c <= limit]
        return 200, {}, json.dumps({"features": feats, "context": {"returned": len(feats)}})

    responses.add_callback(responses.POST, CATALOG_URL, callback=cb, content_type="application/json")


@responses.activate
def test_the_feature_path_reads_every_acquisition_whatever_the_tile_cloud_cover(tmp_path, monkeypatch):
    """build_series / features build dropped acquisitions whose catalogue tile cloud cover was > 80% (fetch's
    default max_cloud=0.8), though the field itself may be clear: the same scenes read from a folder or through
    the Statistical API gave other evidence. Now no scene filter on that path; pixel-level SCL decides."""
    from features.area_scenes import planted_area
    from features.series import build_series

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    add_token()
    add_cloudy_catalog()
    add_process()
    fields = make_fields().iloc[:1].assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    res = build_series(fields, "sentinelhub", "2023", start=date(2023, 6, 1), end=date(2023, 6, 10),
                       cache_dir=tmp_path / "c", variables=("NDVI",))
    assert sorted(res.series["date"].astype(str).unique()) == ["2023-06-01", "2023-06-06"]
    searches = [json.loads(c.request.body) for c in responses.calls if c.request.url.startswith(CATALOG_URL)]
    assert searches and not any("cloud_cover" in str(p.get("filter") or "") for p in searches)
    procs = [json.loads(c.request.body) for c in responses.calls if c.request.url.startswith(PROCESS_URL)]
    assert procs and not any("maxCloudCoverage" in p["input"]["data"][0].get("dataFilter", {}) for p in procs)
    before = n_calls(PROCESS_URL)
    area = planted_area(fields.assign(region="us-nebraska"), "sentinelhub", "2023", date(2023, 6, 10),
                        cache_dir=tmp_path / "c2")
    assert len(area) == 1 and n_calls(PROCESS_URL) == before  # the same unfiltered requests, from the cache
    assert sh.fetch.__kwdefaults__["max_cloud"] == 1.0 and sh.fetch_season.__kwdefaults__["max_cloud"] == 1.0


@responses.activate
def test_a_search_cached_under_a_cloud_filter_is_not_reused_unfiltered(tmp_path):
    """An explicit max_cloud is still honoured, and its cached catalogue pages and scenes (other payloads, other
    cache keys) never stand in for the unfiltered search."""
    add_token()
    add_cloudy_catalog()
    add_process()
    one = make_fields().iloc[:1]
    res = sh.fetch(one, date(2023, 6, 1), date(2023, 6, 10), tmp_path / "a", cache_dir=tmp_path / "c",
                   retry=FAST, max_cloud=0.8)
    assert res.summary.scenes == 1
    assert json.loads((tmp_path / "a" / "sentinelhub.json").read_text())["max_cloud"] == 0.8
    catalog_calls = n_calls(CATALOG_URL)
    res = sh.fetch(one, date(2023, 6, 1), date(2023, 6, 10), tmp_path / "b", cache_dir=tmp_path / "c", retry=FAST)
    assert res.summary.scenes == 2 and n_calls(CATALOG_URL) > catalog_calls
    rows = list(csv.DictReader((tmp_path / "b" / "index.csv").read_text().splitlines()))
    assert [r["date"] for r in rows] == ["2023-06-01", "2023-06-06"]


@responses.activate
def test_output_scenes_are_copies_not_links_and_no_tmp_is_left(tmp_path):
    """`imagery fetch --out` files were hard links to the cache: a scene edited in place in one folder changed the
    cache and every other folder; a re-run into a folder left `.S2_*.tif.tmp` (a rename onto the same inode)."""
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    one = make_fields().iloc[:1]
    for name in ("a", "b", "a"):  # "a" twice: a re-run into an existing folder
        sh.fetch(one, date(2023, 6, 1), date(2023, 6, 1), tmp_path / name, cache_dir=tmp_path / "c", retry=FAST)
    rel = next(csv.DictReader((tmp_path / "a" / "index.csv").read_text().splitlines()))["path"]
    cached = next((tmp_path / "c").rglob("process/*/*.tif"))
    assert (tmp_path / "a" / rel).stat().st_nlink == 1 and cached.stat().st_nlink == 1
    with rasterio.open(tmp_path / "a" / rel, "r+") as ds:  # edit one folder's scene in place
        ds.write(np.full((ds.height, ds.width), 7, dtype="uint16"), 1)
    for other in (tmp_path / "b" / rel, cached):
        with rasterio.open(other) as ds:
            assert int(ds.read(1)[0, 0]) == 300, other
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    stale = tmp_path / "b" / "2023" / ".S2_x_20230601.tif.tmp"  # left by a version that linked
    stale.write_bytes(b"x")
    sh.fetch(one, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "b", cache_dir=tmp_path / "c", retry=FAST)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


@responses.activate
def test_a_second_fetch_into_a_folder_adds_its_scenes_to_the_index(tmp_path):
    """A second fetch into the same folder replaced index.csv: the first window's scenes stayed on disk but left
    the index, and `features series` silently read only the second's. Now the index is the union."""
    add_token()
    add_catalog()
    out = tmp_path / "s"
    add_process()
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), out, cache_dir=tmp_path / "c", retry=FAST)
    sh.fetch(make_fields(), date(2023, 6, 5), date(2023, 6, 10), out, cache_dir=tmp_path / "c", retry=FAST)
    rows = list(csv.DictReader((out / "index.csv").read_text().splitlines()))
    assert [r["date"] for r in rows] == ["2023-06-01", "2023-06-01", "2023-06-06", "2023-06-06"]
    assert sorted(r["path"] for r in rows) == sorted(str(p.relative_to(out)) for p in out.rglob("*.tif"))
    note = json.loads((out / "sentinelhub.json").read_text())
    assert note["windows"] == [["2023-06-01", "2023-06-03"], ["2023-06-05", "2023-06-10"]]
    assert (note["start"], note["end"]) == ("2023-06-01", "2023-06-10") and len(note["tiles"]) == 2
    again = sh.fetch(make_fields(), date(2023, 6, 5), date(2023, 6, 10), out, cache_dir=tmp_path / "c", retry=FAST)
    assert again.summary.requests == 0  # a re-run of a window: nothing new, the union kept
    assert len(list(csv.DictReader((out / "index.csv").read_text().splitlines()))) == 4


@responses.activate
def test_a_folder_whose_scenes_cannot_be_merged_is_refused_before_any_request(tmp_path):
    add_token()
    add_catalog()
    add_process()
    out = tmp_path / "s"
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 3), out, cache_dir=tmp_path / "c", retry=FAST)
    before = (out / "index.csv").read_bytes()
    calls = len(responses.calls)
    far = make_fields().iloc[2:]  # its box is named 14Nc000t00 too, over other ground
    with pytest.raises(UserInputError, match=rf"out {out}: already holds scenes for 2023-06-01 to 2023-06-03 and "
                                             r"its box 14Nc000t00 covers other ground.*into another folder"):
        sh.fetch(far, date(2023, 6, 5), date(2023, 6, 10), out, cache_dir=tmp_path / "c", retry=FAST)
    with pytest.raises(UserInputError, match=r"fetched with max_cloud 1.0, not 0.5"):
        sh.fetch(make_fields(), date(2023, 6, 5), date(2023, 6, 10), out, max_cloud=0.5, retry=FAST)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "index.csv").write_text("date,tile_id,path\n")
    with pytest.raises(UserInputError, match=r"not written by a Sentinel Hub fetch"):
        sh.fetch(make_fields(), date(2023, 6, 5), date(2023, 6, 10), other, retry=FAST)
    assert len(responses.calls) == calls and (out / "index.csv").read_bytes() == before
    # the same window again with other ground under a box's name is refused too (it overwrote the folder)
    with pytest.raises(UserInputError, match=r"its box 14Nc000t00 covers other ground"):
        sh.fetch(far, date(2023, 6, 1), date(2023, 6, 3), out, cache_dir=tmp_path / "c", retry=FAST)
    assert (out / "index.csv").read_bytes() == before


@responses.activate
def test_the_feature_path_working_folder_is_rewritten_not_merged(tmp_path):
    """build_series' download folder (cache_dir/sentinelhub) is read at once: another field set or window in the
    same cache_dir is not refused as an unmergeable folder, and reads only its own scenes."""
    from features.series import build_series

    add_token()
    add_catalog()
    add_process()
    fields = make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    build_series(fields.iloc[:2], "sentinelhub", "2023", start=date(2023, 6, 1), end=date(2023, 6, 3),
                 cache_dir=tmp_path / "c", variables=("NDVI",))
    res = build_series(fields.iloc[2:], "sentinelhub", "2023", start=date(2023, 6, 5), end=date(2023, 6, 10),
                       cache_dir=tmp_path / "c", variables=("NDVI",))
    assert sorted(res.series["field_id"].unique()) == ["f3"] and not res.outside_fields


@responses.activate
def test_a_401_mid_run_gets_a_new_token_once(tmp_path, caplog):
    """A 401 from a data endpoint ended the run as a credentials error, though the service may invalidate a token
    early (revocation, clock skew): now a new token is fetched once and the request asked again; a second 401 is
    the credentials error, naming no secret."""
    caplog.set_level(logging.DEBUG)
    for tok in ("aaa.eyJhenAiOiJ4In0.first", "aaa.eyJhenAiOiJ4In0.second"):
        responses.add(responses.POST, TOKEN_URL, json={"access_token": tok, "token_type": "Bearer",
                                                       "expires_in": 3600})
    add_catalog(days=("2023-06-01",))
    add_process(statuses=(401,))
    res = sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "a",
                   cache_dir=tmp_path / "c", retry=FAST)
    assert res.summary.scenes == 1 and res.summary.retries == 0 and n_calls(TOKEN_URL) == 2
    auth = [c.request.headers["Authorization"] for c in responses.calls if c.request.url == PROCESS_URL]
    assert auth == ["Bearer aaa.eyJhenAiOiJ4In0.first", "Bearer aaa.eyJhenAiOiJ4In0.second"]

    responses.reset()
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    add_token()
    add_catalog(days=("2023-06-02",))
    add_process(statuses=(401, 401))
    with pytest.raises(sh.SentinelHubCredentialsError, match=r"HTTP 401 \(token not accepted, also a newly fetched"):
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 2), date(2023, 6, 2), tmp_path / "b",
                 cache_dir=tmp_path / "c", retry=FAST)
    assert n_calls(TOKEN_URL) == 2 and n_calls(PROCESS_URL) == 2

    responses.reset()  # the token endpoint refusing the renewal is the credentials error at once
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    add_token()
    add_token(401)
    add_catalog(days=("2023-06-03",))
    add_process(statuses=(401,))
    with pytest.raises(sh.SentinelHubCredentialsError, match=r"refused by .*HTTP 401") as e:
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 3), date(2023, 6, 3), tmp_path / "d",
                 cache_dir=tmp_path / "c", retry=FAST)
    assert n_calls(PROCESS_URL) == 1
    assert SECRET not in str(e.value) + caplog.text and CLIENT_ID not in str(e.value) + caplog.text


@responses.activate
def test_endpoint_profile_uses_the_profiles_own_https_deployment(tmp_path, monkeypatch):
    """A self-hosted / mirror / other Sinergise deployment could not be used: --endpoint took only cdse|sinergise
    and a profile naming its own URLs was refused. --endpoint profile opts in to the profile's URLs (https only);
    the refusal for a cdse/sinergise mismatch stays."""
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    mirror, mirror_token = "https://sh.mirror.example.org", "https://auth.mirror.example.org/token"
    cfg = Path(sh.SHConfig.get_config_location())
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[mirror]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\n'
                   f'sh_base_url = "{mirror}"\nsh_token_url = "{mirror_token}"\n'
                   f'[plain]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\n'
                   f'sh_base_url = "http://sh.mirror.example.org"\nsh_token_url = "{mirror_token}"\n'
                   f'[bare]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\n'
                   f'[half]\nsh_client_id = "{CLIENT_ID}"\nsh_client_secret = "{SECRET}"\nsh_base_url = "{mirror}"\n')
    responses.add(responses.POST, mirror_token, json={"access_token": "aaa.eyJhenAiOiJ4In0.sig",
                                                      "token_type": "Bearer", "expires_in": 3600})
    responses.add(responses.POST, f"{mirror}/api/v1/catalog/1.0.0/search", json={"features": [
        {"id": "a", "properties": {"datetime": "2023-06-01T17:25:31Z"}}], "context": {}})
    responses.add_callback(responses.POST, f"{mirror}/api/v1/process", callback=process_callback(),
                           content_type="image/tiff")
    one = make_fields().iloc[:1]
    res = sh.fetch(one, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "m", endpoint="profile", profile="mirror",
                   cache_dir=tmp_path / "c", retry=FAST)
    assert res.summary.scenes == 1
    assert {c.request.url.split("/")[2] for c in responses.calls} == {"sh.mirror.example.org",
                                                                      "auth.mirror.example.org"}
    assert CLIENT_ID in str(next(c.request.body for c in responses.calls if c.request.url == mirror_token))
    assert json.loads((tmp_path / "m" / "sentinelhub.json").read_text())["endpoint"] == f"profile {mirror}"
    n = len(responses.calls)
    with pytest.raises(UserInputError, match=r"endpoint profile: sentinelhub profile 'plain' sh_base_url is "
                                             r"'http://sh.mirror.example.org'; credentials are sent only over https"):
        sh.fetch(one, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "p", endpoint="profile", profile="plain",
                 retry=FAST)
    with pytest.raises(sh.SentinelHubCredentialsError, match=r"profile 'mirror'.*sh_base_url is "
                                                             r"https://sh.mirror.example.org, but this endpoint"):
        sh.fetch(one, date(2023, 6, 1), date(2023, 6, 1), tmp_path / "q", profile="mirror", retry=FAST)
    # a profile naming no URLs of its own: sentinelhub's defaults (Sinergise's hosts) are not the profile's choice, so
    # its credentials are not sent there (a walkthrough: they went to services.sentinel-hub.com)
    for name, said in (("bare", "names no sh_base_url and no sh_token_url"), ("half", "names no sh_token_url in")):
        with pytest.raises(UserInputError, match=rf"endpoint profile: sentinelhub profile '{name}' {said}"):
            sh.fetch(one, date(2023, 6, 1), date(2023, 6, 1), tmp_path / name, endpoint="profile", profile=name,
                     retry=FAST)
    assert len(responses.calls) == n


@responses.activate
def test_a_token_renewal_that_meets_a_5xx_is_retried_not_a_credentials_error(tmp_path):
    add_token()
    responses.add(responses.POST, TOKEN_URL, status=503, body="busy")
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process(statuses=(401,))
    res = sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "a",
                   cache_dir=tmp_path / "c", retry=FAST)
    assert res.summary.scenes == 1 and res.summary.retries == 1 and n_calls(TOKEN_URL) == 3


def test_two_fetches_into_one_folder_at_once_keep_each_others_scenes(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two fetches of other windows into one folder at the same time (slow copies): each merges under the folder's
    lock what the other wrote, so the index and the note hold every window's scenes; the index is written before the
    note (a run killed between them leaves a note claiming less, never a window the index lacks)."""
    import shutil
    import threading
    import time

    import features.sources._sh_io as shio
    from features.sources._sh_plan import Tile

    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    tile = Tile("32Nc000t00", 32632, (0.0, 0.0, 100.0, 100.0), 10, 10, ("f1",))

    def src(day: date) -> Path:
        p = cache / f"{day:%Y%m%d}.tif"
        p.write_bytes(b"II*\0" + day.isoformat().encode())
        return p

    kw: dict = {"endpoint": "cdse", "max_cloud": 1.0, "tiles": [tile], "merge": True}
    shio.write_scenes(out, {(tile.tile_id, date(2024, 5, 1)): src(date(2024, 5, 1))}, start=date(2024, 5, 1),
                      end=date(2024, 5, 31), **kw)
    real = shutil.copyfile

    def slow(a: object, b: object, **k: object) -> object:  # a large GeoTIFF takes a moment to copy
        time.sleep(0.3)
        return real(a, b, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(shio.shutil, "copyfile", slow)

    def run(month: int) -> None:
        s, e = date(2024, month, 1), date(2024, month, 28)
        shio.existing_scenes(out, [tile], endpoint="cdse", start=s, end=e, max_cloud=1.0)  # the check before requests
        shio.write_scenes(out, {(tile.tile_id, s): src(s)}, start=s, end=e, **kw)

    threads = [threading.Thread(target=run, args=(m,)) for m in (6, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out / "index.csv", newline="") as fh:
        paths = [r["path"] for r in csv.DictReader(fh)]
    assert paths == [f"2024/S2_32Nc000t00_2024{m:02d}01.tif" for m in (5, 6, 7)]
    windows = json.loads((out / "sentinelhub.json").read_text())["windows"]
    assert windows == [["2024-05-01", "2024-05-31"], ["2024-06-01", "2024-06-28"], ["2024-07-01", "2024-07-28"]]


def add_process_failing_on(bad_days: set[str]) -> None:
    """The Process API answering 500 every time for the acquisitions of ``bad_days``, a GeoTIFF for the others."""
    ok = process_callback()

    def cb(request):
        day = json.loads(request.body)["input"]["data"][0]["dataFilter"]["timeRange"]["from"][:10]
        if day in bad_days:
            return 500, {}, json.dumps({"error": {"status": 500, "message": "internal error"}})
        return ok(request)

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")


@responses.activate
def test_an_acquisition_that_always_fails_is_skipped_recorded_and_fetched_alone_on_a_re_run(tmp_path):
    """One acquisition answering 500 after every retry stopped the whole fetch (nothing written). With
    partial=True the others are written, the failed one is in summary.missing and sentinelhub.json, nothing of it
    is on disk, and a re-run asks the Process API for it alone; once it succeeds the note no longer lists it."""
    add_token()
    add_catalog(days=("2023-06-01", "2023-06-06"))
    add_process_failing_on({"2023-06-06"})
    out, cache = tmp_path / "o", tmp_path / "c"
    kw = {"cache_dir": cache, "retry": FAST}
    with pytest.raises(ImageryError, match=r"2 of 4 acquisitions could not be downloaded \(nothing was written"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, **kw)  # the default: all or nothing
    assert not (out / "index.csv").exists()
    res = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, partial=True, **kw)
    assert res.summary.scenes == 2 and res.summary.acquisitions == 4 and len(res.summary.missing) == 2
    assert all(m.startswith("2023-06-06 tile ") and "HTTP 500" in m for m in res.summary.missing)
    assert "acquisitions not fetched (recorded in sentinelhub.json; a re-run fetches them): 2 of 4" in \
        res.summary.render()
    with open(out / "index.csv", newline="") as fh:
        assert {r["date"] for r in csv.DictReader(fh)} == {"2023-06-01"}
    note = json.loads((out / "sentinelhub.json").read_text())
    assert [(m["date"], m["tile_id"]) for m in note["missing"]] == [("2023-06-06", "14Nc000t00"),
                                                                    ("2023-06-06", "14Nc001t00")]
    assert all(m["reason"].startswith("HTTP 500") and SECRET not in m["reason"] for m in note["missing"])
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and ("20230606" in p.name or ".tmp" in p.name
                                                                    or p.name.startswith(".S2_"))]
    assert leftovers == []
    assert len(list(cache.rglob("process/*/*.tif"))) == 2  # the two good scenes only
    # a re-run: the good scenes come from the cache, only the failed ones are asked again (each FAST.attempts times)
    before = n_calls(PROCESS_URL)
    again = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, partial=True, **kw)
    assert n_calls(PROCESS_URL) - before == 2 * FAST.attempts and len(again.summary.missing) == 2
    responses.replace(responses.POST, PROCESS_URL, body=b"")  # the service is healthy again
    responses.remove(responses.POST, PROCESS_URL)
    add_process()
    before = n_calls(PROCESS_URL)
    healed = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, partial=True, **kw)
    assert n_calls(PROCESS_URL) - before == 2 and healed.summary.scenes == 4 and not healed.summary.missing
    assert "missing" not in json.loads((out / "sentinelhub.json").read_text())
    with open(out / "index.csv", newline="") as fh:
        assert sorted({r["date"] for r in csv.DictReader(fh)}) == ["2023-06-01", "2023-06-06"]


@responses.activate
def test_a_partial_fetch_where_every_acquisition_fails_is_an_error(tmp_path):
    add_token()
    add_catalog(days=("2023-06-01", "2023-06-06"))
    add_process_failing_on({"2023-06-01", "2023-06-06"})
    with pytest.raises(ImageryError, match=r"4 of 4 acquisitions could not be downloaded \(nothing was written"):
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o", cache_dir=tmp_path / "c",
                 retry=FAST, partial=True)
    assert not list((tmp_path / "o").rglob("*.tif")) and not (tmp_path / "o" / "index.csv").exists()


@responses.activate
def test_features_series_stats_prints_its_request_count_and_cache_hits(tmp_path, monkeypatch):
    """`features series --imagery sentinelhub-stats` printed no request count: the summary line now says how many
    Statistical API requests were made and how many answers came from the cache."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    add_token()
    responses.add(responses.POST, STATS_URL, json=stats_body({"NDVI": 0.6}))
    fields = make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    fields.to_file(tmp_path / "f.gpkg")
    args = ["features", "series", "--fields", str(tmp_path / "f.gpkg"), "--imagery", "sentinelhub-stats", "--season",
            "2023", "--start", "2023-06-01", "--end", "2023-06-10", "--out", str(tmp_path / "s.parquet"),
            "--no-progress"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.stderr
    assert "from sentinelhub-stats; Statistical API: 3 requests (retries 0), 0 from cache" in r.stdout
    assert n_calls(STATS_URL) == 3
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.stderr
    assert "Statistical API: 0 requests (retries 0), 3 from cache" in again.stdout and n_calls(STATS_URL) == 3


def _fetch_one(tmp_path, retry=FAST):
    return sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o",
                    cache_dir=tmp_path / "c", retry=retry)


@responses.activate
@pytest.mark.parametrize("reply,error,says,not_says", [
    # a 2xx answer that is no token: the token URL is wrong (a proxy's page), not the credentials
    ({"body": ""}, ImageryError, r"token endpoint: https://\S+ answered without an access token .*client id and "
                                 r"secret were not refused", "check the client id"),
    ({"body": "{not json"}, ImageryError, r"answered without an access token", "check the client id"),
    ({"body": "<html>proxy</html>", "content_type": "text/html"}, ImageryError, r"without an access token",
     "check the client id"),
    ({"status": 404, "body": "not found"}, UserInputError, r"token URL https://\S+ answered HTTP 404 \(not found\): "
                                                            r"the token URL is wrong", "check the client id"),
    ({"status": 403, "body": "forbidden"}, ImageryError, r"HTTP 403 \(forbidden\): access to it is blocked",
     "check the client id"),
    # a refusal of the client is still the credentials error
    ({"status": 401, "json": {"error": "invalid_client"}}, sh.SentinelHubCredentialsError,
     r"credentials .*refused by .*InvalidClientError", "not a refusal"),
])
def test_each_token_endpoint_answer_names_its_own_cause(tmp_path, caplog, reply, error, says, not_says):
    """Every answer of the token endpoint that was not a token read as "credentials refused: check the client id
    and secret" (an empty or HTML body, a 404 of a wrong token URL, a 403 of a proxy): each names its cause now."""
    caplog.set_level(logging.DEBUG)
    responses.add(responses.POST, TOKEN_URL, **{"status": 200, "content_type": "application/json", **reply})
    add_catalog(days=("2023-06-01",))
    with pytest.raises(error, match=says) as e:
        _fetch_one(tmp_path)
    assert not_says not in str(e.value) and "\n" not in str(e.value)
    assert SECRET not in str(e.value) + caplog.text and CLIENT_ID not in str(e.value)


@responses.activate
def test_an_http_token_url_is_named_not_read_as_bad_credentials(tmp_path, monkeypatch):
    """The EO engineer's emulator: an http:// token URL was reported as "credentials ... refused
    (InsecureTransportError); check the client id and secret" — oauthlib refuses to send a secret over http."""
    http_token = TOKEN_URL.replace("https://", "http://")
    monkeypatch.setitem(sh.ENDPOINTS, "cdse", {**EP, "token_url": http_token})
    responses.add(responses.POST, http_token, json={"access_token": "a.b.c", "token_type": "Bearer",
                                                    "expires_in": 3600})
    add_catalog(days=("2023-06-01",))
    with pytest.raises(UserInputError, match=r"token URL http://\S+ is not https: OAuth client credentials are sent "
                                             r"only over https \(nothing was sent\)") as e:
        _fetch_one(tmp_path)
    assert not isinstance(e.value, sh.SentinelHubCredentialsError) and "client id" not in str(e.value)
    assert n_calls(http_token) == 0


@responses.activate
def test_a_token_endpoint_429_is_a_rate_limit_retried_not_a_traceback(tmp_path):
    """A 429 of the token endpoint came back as a bare requests.HTTPError (a traceback); it is a rate limit: retried,
    then the quota/rate-limit error naming the token endpoint."""
    for _ in range(3):
        responses.add(responses.POST, TOKEN_URL, status=429, body="slow down")
    add_catalog(days=("2023-06-01",))
    with pytest.raises(sh.SentinelHubQuotaError, match=r"rate limit or quota still exceeded after the retries "
                                                       r"\(HTTP 429: rate limited by the token endpoint "
                                                       r"identity.dataspace.copernicus.eu\)"):
        _fetch_one(tmp_path)
    assert n_calls(TOKEN_URL) == FAST.attempts
    responses.reset()
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    responses.add(responses.POST, TOKEN_URL, status=429, body="slow down")
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    assert _fetch_one(tmp_path).summary.scenes == 1  # one 429, then a token: retried


@responses.activate
def test_an_unreachable_host_is_named_and_403_is_not_credentials(tmp_path):
    """A connection error said "could not reach Sentinel Hub" whichever host it was (here the token endpoint);
    the host is named now. A 403 of the service is forbidden (plan or processing units), with the service's own
    words, not the credentials (a 401 twice is); a one-day window is not named twice."""
    import requests

    responses.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectionError("connection refused"))
    add_catalog(days=("2023-06-01",))
    with pytest.raises(ImageryError, match=r"could not reach the token endpoint identity.dataspace.copernicus.eu "
                                           r"\(ConnectionError: host down or unreachable"):
        _fetch_one(tmp_path)
    responses.reset()
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    add_token()
    add_catalog(days=("2023-06-01",))
    responses.add(responses.POST, PROCESS_URL, status=403, json={"error": {"message": "Your plan does not allow it"}})
    with pytest.raises(sh.SentinelHubQuotaError, match=r"forbidden \(HTTP 403: Your plan does not allow it\): the "
                                                       r"account's plan .* the credentials were accepted; not "
                                                       r"fetched: dates 2023-06-01 \(1 in all\)") as e:
        _fetch_one(tmp_path)
    assert "credentials (" not in str(e.value)


@responses.activate
def test_statistical_unreachable_says_network_not_credentials(tmp_path):
    import requests

    add_token()
    responses.add(responses.POST, STATS_URL, body=requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(ImageryError, match=r"could not reach sh.dataspace.copernicus.eu .*nothing fetched: check the "
                                           r"network$") as e:
        sh.fetch_statistics(make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "c",
                            retry=FAST)
    assert "credentials" not in str(e.value)


@responses.activate
def test_two_runs_on_one_cache_at_once_download_each_acquisition_once(tmp_path):
    """Two fetches of the same scenes at the same time on one cache each downloaded every acquisition (8 Process
    requests for 4 scenes, twice the processing units); now an acquisition's cache lookup and download are one step
    under the cache's lock, so the second run waits and reads what the first wrote. Same for the Statistical API."""
    import threading
    import time

    add_token()
    add_catalog()
    slow_ok = process_callback()

    def slow(request):  # a scene takes a moment to render: both runs are in flight at once
        time.sleep(0.2)
        return slow_ok(request)

    responses.add_callback(responses.POST, PROCESS_URL, callback=slow, content_type="image/tiff")
    results: dict[str, sh.FetchResult] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            results[name] = sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / name,
                                     cache_dir=tmp_path / "cache", retry=FAST)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert n_calls(PROCESS_URL) == 4  # 4 scenes (2 boxes × 2 days), each downloaded once
    assert results["a"].summary.scenes == results["b"].summary.scenes == 4
    assert (tmp_path / "a" / "index.csv").read_bytes() == (tmp_path / "b" / "index.csv").read_bytes()

    def stats_slow(request):
        time.sleep(0.2)
        return 200, {}, json.dumps(stats_body({"NDVI": 0.6}))

    responses.add_callback(responses.POST, STATS_URL, callback=stats_slow, content_type="application/json")
    out: list[sh.StatsResult] = []
    threads = [threading.Thread(target=lambda: out.append(sh.fetch_statistics(
        make_fields(), "2023", date(2023, 6, 1), date(2023, 6, 10), cache_dir=tmp_path / "cache", retry=FAST)))
        for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 2 and n_calls(STATS_URL) == 3 and out[0].series.equals(out[1].series)
    assert sum(r.summary.requests for r in out) == 3 and sum(r.summary.cache_hits for r in out) == 3


@responses.activate
def test_a_series_read_from_a_partial_folder_warns_of_its_missing_dates(tmp_path):
    """A folder a partial fetch wrote lacks the failed dates: reading it into a series says so (the note's
    ``missing``), so the gap does not pass unseen into features; a window without them says nothing."""
    from features.series import build_series

    add_token()
    add_catalog(days=("2023-06-01", "2023-06-06"))
    add_process_failing_on({"2023-06-06"})
    out = tmp_path / "o"
    sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), out, cache_dir=tmp_path / "c", retry=FAST,
             partial=True)
    fields = make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0)
    res = build_series(fields, out, "2023", start=date(2023, 6, 1), end=date(2023, 6, 10), variables=("NDVI",))
    gap = [w for w in res.warnings if "not fetched from Sentinel Hub" in w]
    assert gap and gap[0].startswith("1 acquisition date(s) in the window were not fetched from Sentinel Hub")
    assert "2023-06-06; the series lacks them" in gap[0] and res.dates_used == [date(2023, 6, 1)]
    early = build_series(fields, out, "2023", start=date(2023, 6, 1), end=date(2023, 6, 3), variables=("NDVI",))
    assert not [w for w in early.warnings if "not fetched" in w]
