"""Sentinel Hub source: real Sentinel-2 L2A imagery through the ``sentinelhub`` client.

With :mod:`features.sources._sh_api` (the API client), the only modules of agcredit that import ``sentinelhub``
(ruff ``banned-api``).

* :func:`fetch_scenes` — Process API: for the fields' boxes (close fields share a box, boxes
  under the 2500 × 2500 px limit, in the fields' UTM zone), every acquisition the Catalog
  API lists is downloaded as one multi-band GeoTIFF (B02 … B12, SCL, dataMask as UINT16
  digital numbers, georeferencing kept) and written as local scenes in the scene-index
  layout (``index.csv``: scale 0.0001, offset 0 — values are harmonised by Sentinel Hub,
  ``harmonizeValues`` is requested explicitly — nodata 0, cloud mask SCL), so that the
  local zonal engine does the rest.
* :func:`statistical_series` — Statistical API: one request per field, daily intervals,
  mean / stDev / percentiles 10, 50, 90 of clear pixels, mapped to FieldTimeSeries. A field whose earlier window
  (same first day, an earlier last day: an earlier checkpoint) is in the cache is asked only for the days after it,
  and the two answers joined (daily intervals start at the window's first day, so they are those of one request);
  a window not yet settled caches its settled days as the window ending on the last of them. A cached earlier window
  is checked against the acquisition days the Catalog API lists in it now: its answer's days and those recorded with
  it as asked and answered empty (a day the field's box sees and its polygon does not) must be the Catalog's — a day
  newly listed (a product ingested late) is asked alone and, answered empty, recorded; a day it answered that is no
  longer listed (reprocessed) makes it out of date: dropped and the whole window asked.

Endpoints: ``cdse`` (Copernicus Data Space Ecosystem) and ``sinergise``, or ``profile``: the sentinelhub profile's
own ``sh_base_url`` and ``sh_token_url`` (a self-hosted, mirror or other Sinergise deployment; https only; the
profile's credentials go there, an explicit choice). Credentials come
from ``SH_CLIENT_ID`` / ``SH_CLIENT_SECRET`` or a sentinelhub profile; agcredit never
saves a config, never logs a credential and never puts one in an error message.

Cost and faults: every response is cached on disk under the SHA-256 of its request
(URL + payload), so a re-run downloads nothing new — but only once it is final: a Catalog page or
a Statistical answer is cached only when its window ended at least :data:`SETTLED_AFTER_DAYS` days
ago (L2A products are ingested, and sometimes reprocessed, days after acquisition), a Statistical
answer only when no interval failed, and a Process API GeoTIFF only once all its pixels were read
(a cached one that no longer reads is dropped, with a warning, and fetched again). 429 and 5xx are
retried with bounded exponential backoff (:class:`Retry`); a 429's ``Retry-After`` (milliseconds,
Sentinel Hub's convention; an HTTP date is read too) is honoured up to
:data:`~features.sources._sh_io.MAX_RETRY_AFTER_TOTAL` seconds of waiting per request; a 429 after the retries fails that
request alone (an acquisition or a field, like a 5xx); a 403 (a plan that does not allow the request, processing units
used up) stops the requests (the acquisitions in the cache are still served): a :class:`SentinelHubQuotaError` naming
dates and fields, or, for a partial fetch that has scenes, those written and the rest recorded missing
(:func:`fetch`); files are written atomically and ``index.csv`` last; each run returns a :class:`FetchSummary` (requests, cache hits,
processing units from ``x-processingunits-spent`` or the documented formula). A Process API scene, a Statistical
answer or a (settled) Catalog page is looked up in the cache and, if missing, downloaded and cached under the cache's
lock for that request (:meth:`_Api.claim`), so two runs on one cache at once download it once.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from sentinelhub import CRS, Geometry, SentinelHubStatistical, SHConfig
from sentinelhub.download import DownloadRequest

from features.contracts import check_season
from features.errors import FieldsError, ImageryError, UserInputError
from features.sources._sh_answers import (
    SETTLED_AFTER_DAYS,
    _answered_days,
    _by_day,
    _failed_in,
    _settled,
    _settled_until,
    _stats_answer,
    stats_result,
    stats_warnings,
)
from features.sources._sh_api import _Api
from features.sources._sh_config import endpoint_credentials, resolve_endpoint
from features.sources._sh_endpoints import ENDPOINTS, PROFILE_ENDPOINT
from features.sources._sh_failures import _detail, _reason
from features.sources._sh_fetch import fetch, tile_task
from features.sources._sh_io import (
    MAX_RETRY_AFTER_TOTAL,
    Failure,
    FetchResult,
    FetchSummary,
    Retry,
    SentinelHubCredentialsError,
    SentinelHubQuotaError,
    StatisticsFailed,
    StatsResult,
    check_inputs,
    default_cache,
    utc,
)
from features.sources._sh_plan import Tile, estimate_pu, season_window, utm_epsg
from features.sources._sh_scripts import parse_statistics, stats_evalscript, stats_input_bands
from features.sources._sh_tasks import TileTask

# isort: split
# re-exported, unused here: importable from features.sources.sentinelhub as before its plain-Python parts moved out
from collections.abc import Callable, Iterable, Iterator  # noqa: F401
from dataclasses import dataclass  # noqa: F401
from datetime import UTC, datetime  # noqa: F401

from sentinelhub import (  # noqa: F401
    BBox,
    DataCollection,
    MimeType,
    MosaickingOrder,
    SentinelHubRequest,
)
from sentinelhub.api.catalog import SentinelHubCatalog  # noqa: F401
from sentinelhub.constants import RequestType  # noqa: F401
from sentinelhub.download import SentinelHubDownloadClient  # noqa: F401
from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException, SHRateLimitWarning  # noqa: F401

from features.contracts import check_field_time_series  # noqa: F401
from features.errors import format_offenders  # noqa: F401
from features.sources._sh_answers import (  # noqa: F401
    _catalog_page,
    _cloud_filter,
    _cloud_words,
    _today,
)
from features.sources._sh_api import (  # noqa: F401
    _CHATTY_LOGGERS,
    _POST,
    _check_profile_urls,
    _Client,
    _collection,
    _credentials,
    _endpoint,
    _load_profile,
    _profile_endpoint,
    _quiet,
)
from features.sources._sh_endpoints import _profile_name  # noqa: F401
from features.sources._sh_failures import _host, _raise_failure  # noqa: F401
from features.sources._sh_fetch import _Remote  # noqa: F401
from features.sources._sh_io import (  # noqa: F401
    check_tiff,
    existing_scenes,
    file_lock,
    header_value,
    retry_after_seconds,
    write_scenes,
)
from features.sources._sh_plan import INDEX_BANDS, atomic_write_bytes, plan_tiles, request_key  # noqa: F401
from features.sources._sh_scripts import (
    PROCESS_EVALSCRIPT,  # noqa: F401
    empty_series,  # noqa: F401
)
from features.sources._sh_tasks import _COUNTS, MapTasks  # noqa: F401

__all__ = [
    "ENDPOINTS",
    "MAX_RETRY_AFTER_TOTAL",
    "PROFILE_ENDPOINT",
    "SETTLED_AFTER_DAYS",
    "FetchResult",
    "FetchSummary",
    "Retry",
    "SentinelHubCredentialsError",
    "SentinelHubQuotaError",
    "StatisticsFailed",
    "StatsResult",
    "TileTask",
    "endpoint_credentials",
    "fetch",
    "fetch_scenes",
    "fetch_season",
    "fetch_statistics",
    "resolve_endpoint",
    "stats_result",
    "stats_warnings",
    "statistical_series",
    "tile_task",
]

LOG = logging.getLogger(__name__)


# ---------------------------------------------------------------- public front

def fetch_scenes(fields: gpd.GeoDataFrame, start: date, end: date, out_dir: Path, *, endpoint: str = "cdse",
                 profile: str | None = None, max_cloud: float = 1.0, resolution: float = 10.0,
                 merge: bool = True) -> Path:
    """Process API → local scenes in the scene-index layout; returns the folder (see :func:`fetch`)."""
    result = fetch(fields, start, end, out_dir, endpoint=endpoint, profile=profile, max_cloud=max_cloud,
                   resolution=resolution, merge=merge)
    LOG.info("Sentinel Hub summary: %s", result.summary.render().replace("\n", "; "))
    for w in result.summary.warnings:  # this front returns only the folder: its caller has no summary to show
        LOG.warning("Sentinel Hub: %s", w)
    return result.path


def fetch_season(fields: gpd.GeoDataFrame, season: str, out_dir: Path, *, start: date | None = None,
                 end: date | None = None, as_of: date | None = None, endpoint: str = "cdse",
                 profile: str | None = None, max_cloud: float = 1.0, resolution: float = 10.0,
                 cache_dir: Path | None = None, retry: Retry | None = None, partial: bool = False) -> FetchResult:
    """:func:`fetch` for a season's imagery window (explicit dates, else ``season_windows.csv`` for the
    fields' region), ending no later than ``as_of``; ``partial``: see :func:`fetch`."""
    season = check_season(season)
    regions = sorted(set(fields["region"].dropna().astype(str))) if "region" in fields.columns else []
    if len(regions) > 1 and (start is None or end is None):
        raise UserInputError(f"season {season}: fields of several regions ({', '.join(regions[:5])}); "
                             "give --start and --end or fetch one region at a time")
    s, e = season_window(season, regions[0] if regions else None, start=start, end=end, as_of=as_of)
    return fetch(fields, s, e, out_dir, endpoint=endpoint, profile=profile, max_cloud=max_cloud,
                 resolution=resolution, cache_dir=cache_dir, retry=retry, partial=partial)


def _true_metres(crs: Any) -> bool:
    """True for a projected CRS in metres whose units are metres on the ground near the fields: not a geographic
    CRS, and not (Web / Pseudo) Mercator, whose "metres" are 1/cos(latitude) ground metres (~1.3 at 40°), so a
    10-unit pixel there would be ~7.6 m. Transverse Mercator (UTM) is true metres."""
    if crs is None or not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        return False
    op = getattr(crs, "coordinate_operation", None)
    method = str(getattr(op, "method_name", "") or "").lower()
    return not ("mercator" in method and "transverse" not in method)


def _stats_base(api: _Api, req: DownloadRequest, start: date, end: date, make: Any,
                listed: Any) -> tuple[dict[str, Any] | None, date | None, list[date], set[str]]:
    """The cached answer of the latest earlier window of ``req`` (same first day ``start``, last day before ``end``),
    that last day, the days to ask alone and the days recorded as asked and empty; or (None, None, [], set()).
    ``make(last)``: the request for ``start`` to ``last``. An answer no longer readable is passed over. Daily
    intervals start at the window's first day, so the earlier window's intervals are those of the whole window up to
    its last day, and the days after it are asked alone.

    The window is checked against ``listed(last)`` (the Catalog API's days over the field from ``start`` to ``last``
    now, None when it could not be searched: then the whole window is asked): its answer's days and the days recorded
    with it as asked and answered empty for the field's polygon (:meth:`_Api.stats_empty`: a day the Catalog lists
    for the field's box that its polygon does not see) are the Catalog's — reused as it is; a day the Catalog lists
    now that is neither (a product ingested late) is returned to be asked alone (``summary.new_days``); a day the
    answer has that the Catalog no longer lists (a product reprocessed or withdrawn) makes the window out of date:
    dropped from the cache, the whole window asked (``summary.stale_windows``). Reading it is not a cache hit: a
    reuse is counted in ``reused_windows``."""
    for last in api.stats_ends(req):
        if not start <= last < end:
            continue
        base_req = make(last)
        _, body = api.cached("stats", base_req, "json", count=False)
        answer = _stats_answer(body) if body is not None else None
        if answer is None:
            continue
        had = _answered_days(answer)
        now = listed(last)
        if now is None:
            return None, None, [], set()
        days = {d.isoformat() for d in now}
        if had - days:
            api.drop_stats(base_req, last)
            api.summary.stale_windows += 1
            return None, None, [], set()
        empty = api.stats_empty(base_req, last) & days  # a day no longer listed needs no record
        new = sorted(date.fromisoformat(d) for d in days - had - empty)
        api.summary.new_days += len(new)
        return answer, last, new, empty
    return None, None, [], set()


def _request_geometry(geom: Any, crs: Any) -> Geometry:
    """The field in a CRS of true metres: its own if projected in ground metres with an EPSG code, else (geographic,
    Web Mercator and other Mercator CRSs) its UTM zone, so that ``resolution`` is metres on the ground."""
    gs = gpd.GeoSeries([geom], crs=crs)
    metric = _true_metres(gs.crs)
    epsg = gs.crs.to_epsg() if metric else None
    if epsg is None:
        p = gs.to_crs(4326).representative_point().iloc[0]
        epsg = utm_epsg(p.x, p.y)
        gs = gs.to_crs(epsg)
    return Geometry(gs.iloc[0], CRS(int(epsg)))


def fetch_statistics(fields: gpd.GeoDataFrame, season: str, start: date, end: date, *, endpoint: str = "cdse",
                     profile: str | None = None, variables: tuple[str, ...] = ("NDVI",), resolution: float = 10.0,
                     cache_dir: Path | None = None, retry: Retry | None = None) -> StatsResult:
    """Statistical API, one request per field, daily intervals (P1D): FieldTimeSeries and the summary.

    A field missing from the cache whose earlier window (same ``start``, a last day before ``end``) is cached is asked
    only for the days after that window (``summary.reused_windows``); the joined answer is that of one request for
    the whole window. What is cached: a settled window's answer without failed intervals; for a window not yet
    settled, its settled days (up to :data:`SETTLED_AFTER_DAYS` days ago) when none of them failed, as the window
    ending on the last of them — so re-underwriting at a later checkpoint asks only for the new days. An earlier
    window is checked against the acquisition days the Catalog API lists over the field's box for it now (one search,
    cached once settled; :func:`_stats_base`): a day listed that it neither answered nor recorded as empty for the
    polygon is asked alone (``summary.new_days``) and, answered empty, recorded with the window (so the next run with
    the same Catalog days asks none of it); a day it answered that is no longer listed drops the window from the
    cache and the whole window is asked (``summary.stale_windows``)."""
    season = check_season(season)
    fields = check_inputs(fields, start, end)
    if "season" in fields.columns:
        fields = fields[fields["season"].astype(str) == season]
        if len(fields) == 0:
            raise FieldsError(source="fields", problem=f"no fields for season {season}")
    summary = FetchSummary()
    api = _Api(endpoint, profile, retry, Path(cache_dir) if cache_dir else default_cache(), summary)
    script = stats_evalscript(variables)
    n_bands = len(stats_input_bands(variables)) - 1
    calc = {"default": {"statistics": {"default": {"percentiles": {"k": [10, 50, 90]}}}}}
    settled = _settled(end)
    parts: list[pd.DataFrame] = []
    failed: list[str] = []
    ids = fields["field_id"].astype(str).tolist()
    until = _settled_until()

    def stats_request(g: Geometry, first: date, last: date) -> DownloadRequest:
        request = SentinelHubStatistical(
            aggregation=SentinelHubStatistical.aggregation(
                evalscript=script, time_interval=(utc(first), utc(last + timedelta(days=1))),
                aggregation_interval="P1D", resolution=(resolution, resolution)),
            input_data=[SentinelHubStatistical.input_data(
                api.collection, other_args={"processing": {"harmonizeValues": True}})],
            geometry=g, calculations=calc,
            config=api._config or SHConfig(use_defaults=True, sh_base_url=api.ep["base_url"]))
        return request.download_list[0]

    def listed(fid: str, g: Geometry, last: date) -> list[date] | None:
        """The acquisition days the Catalog API lists now over the field's box from ``start`` to ``last`` (cached once
        settled, as for a fetch), or None when the search failed."""
        b = g.geometry.bounds
        box = Tile(tile_id=fid, epsg=int(g.crs.epsg), bounds=(b[0], b[1], b[2], b[3]), width=0, height=0,
                   field_ids=(fid,))
        try:
            return api.acquisitions(box, start, last, 1.0)
        except (Failure, ImageryError) as e:
            LOG.info("Sentinel Hub: catalogue search to check a cached window failed (%s): the whole window is asked",
                     e.message if isinstance(e, Failure) else type(e).__name__)
            return None

    with contextlib.ExitStack() as held:  # the lock of the field being asked (see _Api.claim)
        for k, (fid, geom) in enumerate(zip(ids, fields.geometry)):
            g = _request_geometry(geom, fields.crs)
            req = stats_request(g, start, end)
            held.close()  # the previous field's claim
            path, body = api.cached("stats", req, "json")  # a hit needs no lock (a read-only shared cache is read)
            answer = _stats_answer(body) if body is not None else None  # an unreadable cached answer is asked again
            if answer is None:
                if body is not None:
                    api.summary.cache_hits -= 1  # counted again below if another run has written it meanwhile
                held.enter_context(api.claim("stats", req))  # two runs on one cache ask for a field's statistics once
                path, body = api.cached("stats", req, "json")
                answer = _stats_answer(body) if body is not None else None
                if answer is None and body is not None:  # still unreadable: asked again, not a hit
                    api.summary.cache_hits -= 1
            if answer is None:
                # an earlier window of this request in the cache (an earlier checkpoint): only the days after it asked
                base, base_end, alone, empty = _stats_base(api, req, start, end,
                                                           lambda last, g=g: stats_request(g, start, last),
                                                           lambda last, g=g, fid=fid: listed(fid, g, last))
                minx, miny, maxx, maxy = g.bbox
                w, h = max(round((maxx - minx) / resolution), 1), max(round((maxy - miny) / resolution), 1)

                def charged(got: tuple[bytes, dict[str, Any]], w: int = w, h: int = h
                            ) -> tuple[dict[str, Any] | None, bytes, dict[str, Any]]:
                    """An answer's processing units counted as it arrives (a single-day request's too when a
                    later request of the field fails: they were spent), and the answer read."""
                    read = _stats_answer(got[0])
                    n_int = len((read or {}).get("data", []) or [])
                    api.account_pu(got[1], estimate_pu(w, h, input_bands=n_bands, float32=True, samples=max(n_int, 1)))
                    return read, got[0], got[1]

                more: list[tuple[dict[str, Any] | None, bytes, dict[str, Any]]] = []
                try:  # the days newly listed in the earlier window, each alone; then the days after it
                    for d in alone:
                        more.append(charged(api.post(stats_request(g, d, d))))
                    answer, body, _ = charged(api.post(req if base_end is None else stats_request(
                        g, base_end + timedelta(days=1), end)))
                except Failure as f:
                    if f.status == 403:  # refused: every other field would be too (a 429 is one failed field)
                        raise SentinelHubQuotaError(status=f.status, dates=[f"{start} to {end}"], fields=ids[k:],
                                                    done=len(parts), what="fields' statistics",
                                                    detail=_detail(f)) from None
                    if not parts and f.status is None:  # unreachable: every field would fail the same way, after
                        raise ImageryError(source="Sentinel Hub Statistical API",  # its retries
                                           problem=f"the first request failed ({f.message}); nothing fetched: check "
                                                   "the network") from None
                    failed.append(f"{fid} ({_reason(f)})")
                    continue
                extra = [x for x, _, _ in more]
                if answer is None or any(x is None for x in extra):
                    failed.append(f"{fid} (not a statistics answer: malformed JSON; not cached)")
                    continue
                if base is not None and base_end is not None:
                    # the earlier window's days and those asked alone, then the new ones: one answer for the whole
                    # window; the days asked alone and answered empty are recorded with the earlier window (re-kept,
                    # unless one of them failed), so that the next run with the same Catalog days asks none of them
                    found = [x for e in extra if e is not None for x in e.get("data") or []]
                    empty |= {d.isoformat() for d in alone} - _answered_days({"data": found})
                    joined = {**base, "data": _by_day([*(base.get("data") or []), *found])}
                    if alone and not any(e is not None and _failed_in(e) for e in extra):
                        api.keep_stats(stats_request(g, start, base_end), base_end,
                                       json.dumps(joined, sort_keys=True).encode(), empty)
                    answer = {**answer, "data": [*joined["data"], *(answer.get("data") or [])]}
                    body = json.dumps(answer, sort_keys=True).encode()
                    summary.reused_windows += 1
                fresh = True
            else:
                fresh = False
            try:
                df, bad = parse_statistics(answer, field_id=fid, season=season, variables=variables)
            except UserInputError:
                raise
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                failed.append(f"{fid} (unreadable statistics: {type(e).__name__}; not cached)")
                continue
            if fresh and settled and body is not None and not bad:  # cached once read (an empty one too: asking again is
                api.keep_stats(req, end, body, empty)               # charged), never with failed intervals in it
            elif fresh and not settled and start <= until < end and not any(d == "?" or d <= str(until) for d in bad):
                # a window not settled yet: its settled days are final, cached as the window ending on the last of
                # them, so that the next checkpoint asks only for the days after it
                head = [x for x in answer.get("data") or [] if str((x.get("interval") or {}).get("from", ""))[:10]
                        <= str(until)]
                # with the days of the head the Catalog listed and the polygon did not see (recorded with the earlier
                # window: asked alone, answered empty). Not searched now: a settled Catalog page is cached, and one
                # cached with the answer would hide a product ingested late from the next checkpoint's check
                head_empty = {d for d in empty if d <= str(until)}
                api.keep_stats(stats_request(g, start, until), until,
                               json.dumps({**answer, "data": head}, sort_keys=True).encode(), head_empty)
            if bad:
                summary.failed_intervals += len(bad)
                summary.failed_dates.extend(f"{fid} {d}" for d in bad)
            elif df.empty:  # no interval at all: nothing was acquired over the field in the window
                summary.no_acquisition_fields.append(fid)
            parts.append(df)
    if failed:
        raise StatisticsFailed(start=start, end=end, failed=failed, n_fields=len(ids))
    return stats_result(parts, summary, start, end)


def statistical_series(fields: gpd.GeoDataFrame, season: str, start: date, end: date, *, endpoint: str = "cdse",
                       profile: str | None = None, variables: tuple[str, ...] = ("NDVI",),
                       cache_dir: Path | None = None) -> pd.DataFrame:
    """Statistical API → FieldTimeSeries (the run's summary is in ``df.attrs['sentinelhub']``)."""
    result = fetch_statistics(fields, season, start, end, endpoint=endpoint, profile=profile, variables=variables,
                              cache_dir=cache_dir)
    series = result.series
    series.attrs["sentinelhub"] = asdict(result.summary)
    return series
