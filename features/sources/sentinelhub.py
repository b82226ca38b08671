"""Sentinel Hub source: real Sentinel-2 L2A imagery through the ``sentinelhub`` client.

The only module of agcredit that imports ``sentinelhub`` (ruff ``banned-api``).

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
import copy
import errno
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import requests
from sentinelhub import (
    CRS,
    BBox,
    DataCollection,
    Geometry,
    MimeType,
    MosaickingOrder,
    SentinelHubRequest,
    SentinelHubStatistical,
    SHConfig,
)
from sentinelhub.api.catalog import SentinelHubCatalog
from sentinelhub.constants import RequestType
from sentinelhub.download import DownloadRequest, SentinelHubDownloadClient
from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException, SHRateLimitWarning

from features.contracts import check_season
from features.errors import FieldsError, ImageryError, UserInputError, format_offenders
from features.sources._sh_answers import (
    SETTLED_AFTER_DAYS,
    _answered_days,
    _by_day,
    _catalog_page,
    _cloud_filter,
    _cloud_words,
    _failed_in,
    _settled,
    _settled_until,
    _stats_answer,
    stats_result,
    stats_warnings,
)
from features.sources._sh_endpoints import ENDPOINTS, PROFILE_ENDPOINT, _profile_name
from features.sources._sh_failures import _detail, _host, _raise_failure, _reason
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
    check_tiff,
    default_cache,
    existing_scenes,
    file_lock,
    header_value,
    retry_after_seconds,
    utc,
    write_scenes,
)
from features.sources._sh_plan import (
    INDEX_BANDS,
    Tile,
    atomic_write_bytes,
    estimate_pu,
    plan_tiles,
    request_key,
    season_window,
    utm_epsg,
)
from features.sources._sh_scripts import (
    PROCESS_EVALSCRIPT,
    parse_statistics,
    stats_evalscript,
    stats_input_bands,
)
from features.sources._sh_tasks import _COUNTS, MapTasks, TileTask

# isort: split
# re-exported, unused here: importable from features.sources.sentinelhub as before its plain-Python parts moved out
from dataclasses import dataclass  # noqa: F401
from datetime import UTC, datetime  # noqa: F401

from features.contracts import check_field_time_series  # noqa: F401
from features.sources._sh_answers import _today  # noqa: F401
from features.sources._sh_scripts import empty_series  # noqa: F401

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
    "fetch",
    "fetch_scenes",
    "fetch_season",
    "fetch_statistics",
    "stats_result",
    "stats_warnings",
    "statistical_series",
    "tile_task",
]

LOG = logging.getLogger(__name__)

_CHATTY_LOGGERS = ("requests_oauthlib", "requests_oauthlib.oauth2_session", "oauthlib", "urllib3")


class _Client(SentinelHubDownloadClient):
    """The sentinelhub download client, remembering the headers of its last HTTP answer (a 429's ``Retry-After``
    is read from them: the client raises before handing the answer back)."""

    last_headers: dict[str, Any]

    def _do_download(self, request: DownloadRequest) -> Any:
        response = super()._do_download(request)
        self.last_headers = dict(response.headers)
        return response


# ---------------------------------------------------------------- configuration

def _load_profile(profile: str, *, no_file: str, not_found: str) -> SHConfig:
    """A sentinelhub profile of the config file (read only), or a credentials error saying ``no_file`` (there is no
    config file) or ``not_found`` (no such profile in it)."""
    source = f"sentinelhub profile {profile!r}"
    if not Path(SHConfig.get_config_location()).is_file():
        raise SentinelHubCredentialsError(source=source, problem=no_file)
    try:
        return SHConfig.load(profile=profile)  # reads only: the file exists
    except KeyError:
        raise SentinelHubCredentialsError(source=source, problem=not_found) from None


def _credentials(profile: str | None, ep: dict[str, str] | None = None) -> tuple[str, str, str]:
    """(client id, client secret, where they came from) — never saved, never shown. ``ep``: the endpoint the
    credentials are for (a profile configured for other service URLs is refused)."""
    cfg_path = Path(SHConfig.get_config_location())
    if profile is None and not (os.environ.get("SH_CLIENT_ID") or os.environ.get("SH_CLIENT_SECRET")):
        env_profile = os.environ.get("SH_PROFILE")
        if env_profile or cfg_path.is_file():
            profile = env_profile or "default-profile"
    if profile is None:
        cid, secret = os.environ.get("SH_CLIENT_ID", ""), os.environ.get("SH_CLIENT_SECRET", "")
        missing = [n for n, v in (("SH_CLIENT_ID", cid), ("SH_CLIENT_SECRET", secret)) if not v]
        if missing:
            raise SentinelHubCredentialsError(source="environment", problem=(
                f"{' and '.join(missing)} not set; set SH_CLIENT_ID and SH_CLIENT_SECRET to an OAuth client of "
                f"your Sentinel Hub / CDSE account, or pass --profile NAME of a profile in {cfg_path}"))
        return cid, secret, "SH_CLIENT_ID/SH_CLIENT_SECRET"
    source = f"sentinelhub profile {profile!r}"
    loaded = _load_profile(profile, no_file=(
        f"no sentinelhub config file at {cfg_path}; create the profile with "
        f"`sentinelhub.config --profile {profile} --sh_client_id ... --sh_client_secret ...` "
        f"or set SH_CLIENT_ID and SH_CLIENT_SECRET"),
        not_found=f"profile not found in {cfg_path}; pass --profile NAME or set SH_CLIENT_ID and SH_CLIENT_SECRET")
    missing = [n for n, v in (("sh_client_id", loaded.sh_client_id), ("sh_client_secret", loaded.sh_client_secret))
               if not v]
    if missing:
        raise SentinelHubCredentialsError(source=source, problem=f"{' and '.join(missing)} empty in {cfg_path}; "
                                                                 "or set SH_CLIENT_ID and SH_CLIENT_SECRET")
    if ep is not None:
        _check_profile_urls(loaded, ep, source)
    return loaded.sh_client_id, loaded.sh_client_secret, source


def _check_profile_urls(loaded: SHConfig, ep: dict[str, str], source: str) -> None:
    """A profile that names its own service URLs holds credentials for that deployment: refuse to send them to the
    endpoint's hosts instead (they were sent to CDSE whatever the profile said). URLs left at the sentinelhub
    defaults say nothing and are not compared."""
    defaults = SHConfig(use_defaults=True)
    for key, where in (("sh_base_url", "base_url"), ("sh_token_url", "token_url")):
        given = str(getattr(loaded, key) or "").rstrip("/")
        if given and given != str(getattr(defaults, key)).rstrip("/") and given != ep[where].rstrip("/"):
            raise SentinelHubCredentialsError(source=source, problem=(
                f"its {key} is {given}, but this endpoint uses {ep[where]}: its credentials are not sent to another "
                f"host; pass the --endpoint (cdse|sinergise) the profile is for, --endpoint profile to use the "
                f"profile's own URLs, or a profile of this endpoint"))


def _endpoint(endpoint: str, profile: str | None = None) -> dict[str, str]:
    name = str(endpoint).lower()
    if name == PROFILE_ENDPOINT:
        return _profile_endpoint(_profile_name(profile))
    ep = ENDPOINTS.get(name)
    if ep is None:
        raise UserInputError(f"endpoint: expected one of {', '.join([*ENDPOINTS, PROFILE_ENDPOINT])}, "
                             f"found {endpoint!r}")
    return ep


def _profile_endpoint(profile: str) -> dict[str, str]:
    """The service URLs of a sentinelhub profile (``--endpoint profile``): both must be https."""
    cfg_path = Path(SHConfig.get_config_location())
    source = f"sentinelhub profile {profile!r}"
    loaded = _load_profile(profile, no_file=(
        f"--endpoint profile uses the profile's service URLs, but there is no sentinelhub config file at "
        f"{cfg_path}; pass --profile NAME of a profile there"),
        not_found=f"profile not found in {cfg_path} (--endpoint profile needs one: pass --profile NAME)")
    urls = {"base_url": str(loaded.sh_base_url or "").rstrip("/"), "token_url": str(loaded.sh_token_url or "")}
    for key, url in (("sh_base_url", urls["base_url"]), ("sh_token_url", urls["token_url"])):
        if not url.lower().startswith("https://"):
            raise UserInputError(f"endpoint profile: {source} {key} is {url or 'empty'!r}; credentials are sent "
                                 f"only over https (set an https:// {key} in {cfg_path})")
    known = {e["base_url"]: e["collection"] for e in ENDPOINTS.values()}
    # Sentinel-2 L2A served by that deployment (the standard collection names Sinergise's host as its service URL)
    collection = known.get(urls["base_url"], "s2l2a-" + hashlib.sha256(urls["base_url"].encode()).hexdigest()[:12])
    return {**urls, "collection": collection, "profile": profile}


def _collection(ep: dict[str, str]) -> DataCollection:
    if ep["collection"]:
        return DataCollection.SENTINEL2_L2A.define_from(ep["collection"], service_url=ep["base_url"])
    return DataCollection.SENTINEL2_L2A


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep OAuth libraries from logging request bodies (they hold the client secret) and
    the client's rate-limit warning (429s are counted and retried here)."""
    saved = {n: logging.getLogger(n).level for n in _CHATTY_LOGGERS}
    for n in _CHATTY_LOGGERS:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SHRateLimitWarning)
            yield
    finally:
        for n, lvl in saved.items():
            logging.getLogger(n).setLevel(lvl)


class _Api:
    """HTTP through the sentinelhub client, with an on-disk cache, retries and accounting."""

    def __init__(self, endpoint: str, profile: str | None, retry: Retry | None, cache_dir: Path,
                 summary: FetchSummary, timeout: float = 120.0) -> None:
        self.ep = _endpoint(endpoint, profile)
        self.profile, self.retry, self.summary = profile, retry or Retry(), summary
        self.cache_dir, self.timeout = Path(cache_dir), timeout
        self.collection = _collection(self.ep)
        self._config: SHConfig | None = None
        self._client: _Client | None = None
        self._secrets: tuple[str, ...] = ()
        self._unlocked_said = False  # a read-only cache said once (see claim)
        self._source = ""

    @property
    def config(self) -> SHConfig:
        if self._config is None:  # credentials are needed only when something must be downloaded
            if "profile" in self.ep:  # --endpoint profile: the profile's credentials, sent to its own URLs
                cid, secret, self._source = _credentials(self.ep["profile"], None)
            else:
                cid, secret, self._source = _credentials(self.profile, self.ep)
            self._secrets = tuple(s for s in (secret, cid) if s)
            self._config = SHConfig(use_defaults=True, sh_client_id=cid, sh_client_secret=secret,
                                    sh_base_url=self.ep["base_url"], sh_token_url=self.ep["token_url"],
                                    max_download_attempts=1, download_sleep_time=0.0, max_retries=1,
                                    download_timeout_seconds=self.timeout)
        return self._config

    @property
    def client(self) -> _Client:
        if self._client is None:
            self._client = _Client(config=self.config)
        return self._client

    def scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    # -- cache
    def _cache_path(self, kind: str, key: str, suffix: str) -> Path:
        return self.cache_dir / kind / key[:2] / f"{key}.{suffix}"

    @contextlib.contextmanager
    def claim(self, kind: str, req: DownloadRequest) -> Iterator[None]:
        """Hold the cache's lock for ``req`` (``.locks/<kind>-<key[:2]>.lock``: 256 lock files per kind, so runs
        asking for other requests rarely wait) while its cached copy is looked up again and, if missing, downloaded
        and written: a second run on the same cache waits and then reads what the first wrote instead of downloading
        it again. Taken only for a request not in the cache (a hit needs no lock). A cache where the lock file cannot
        be created (read-only: a shared cache mounted for reading) is used without it, said once in the warnings; a
        lock another run holds longer than :data:`LOCK_WAIT_SECONDS` is a one-line error naming the cache."""
        key = request_key(str(req.url), req.post_values)
        with file_lock(self.cache_dir / ".locks" / f"{kind}-{key[:2]}.lock",
                       what=f"Sentinel Hub cache {self.cache_dir}") as locked:
            if not locked and not self._unlocked_said:
                self._unlocked_said = True
                note = (f"the Sentinel Hub cache {self.cache_dir} is read-only (no lock file can be created): "
                        "used without its lock; what is not in it is downloaded and not cached")
                LOG.info("Sentinel Hub: %s", note)
                self.summary.warnings.append(note)
            yield

    def keep(self, path: Path, body: bytes) -> None:
        """Write an answer into the cache; a read-only cache (EROFS, EACCES) keeps nothing, said once."""
        try:
            atomic_write_bytes(path, body)
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            if not self._unlocked_said:
                self._unlocked_said = True
                note = f"the Sentinel Hub cache {self.cache_dir} is read-only: what was downloaded is not cached"
                LOG.info("Sentinel Hub: %s", note)
                self.summary.warnings.append(note)

    # -- Statistical answers by window: what an earlier window of the same request left in the cache
    def _stats_windows(self, req: DownloadRequest) -> Path:
        """The folder noting the windows cached for ``req`` whatever its last day: one empty file per cached window,
        named by its last day (``stats-windows/<key[:2]>/<key>/YYYY-MM-DD``), ``key`` the request's key without
        the end of its time range (same field, variables, resolution and first day)."""
        payload = copy.deepcopy(req.post_values or {})
        (payload.get("aggregation") or {}).get("timeRange", {}).pop("to", None)
        key = request_key(str(req.url), payload)
        return self.cache_dir / "stats-windows" / key[:2] / key

    def stats_ends(self, req: DownloadRequest) -> list[date]:
        """The last days of the windows cached for ``req`` (same first day), latest first."""
        try:
            names = os.listdir(self._stats_windows(req))
        except OSError:
            return []
        ends = []
        for name in names:
            with contextlib.suppress(ValueError):
                ends.append(date.fromisoformat(name))
        return sorted(ends, reverse=True)

    def keep_stats(self, req: DownloadRequest, end: date, body: bytes, empty: Iterable[str] = ()) -> None:
        """Cache a Statistical answer for the window of ``req`` ending ``end`` and note that window (after the answer:
        a noted window has its answer, unless removed since — then it is not used). ``empty``: the days the Catalog
        API listed in the window that were asked and answered empty for the field's polygon (a box acquisition the
        polygon does not see), written in the note (:meth:`stats_empty`) so that the window still matches the
        Catalog's days next time."""
        from features.atomic import write_bytes_atomic

        self.keep(self._cache_path("stats", request_key(str(req.url), req.post_values), "json"), body)
        mark = self._stats_windows(req) / end.isoformat()
        days = sorted(set(empty))
        try:
            mark.parent.mkdir(parents=True, exist_ok=True)
            if days:
                write_bytes_atomic(json.dumps({"empty_days": days}).encode(), mark)
            else:
                mark.write_bytes(b"")
        except OSError as e:  # a read-only cache: said once by keep
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise

    def stats_empty(self, req: DownloadRequest, end: date) -> set[str]:
        """The days recorded for the cached window of ``req`` ending ``end`` as listed by the Catalog API and answered
        empty (:meth:`keep_stats`); none for a note without them (an empty note: a window cached before they were
        recorded, or none was empty)."""
        try:
            text = (self._stats_windows(req) / end.isoformat()).read_bytes()
            days = json.loads(text).get("empty_days") if text.strip() else []
        except (OSError, ValueError, AttributeError):
            return set()
        return {str(d) for d in days} if isinstance(days, list) else set()

    def cached(self, kind: str, req: DownloadRequest, suffix: str, *,
               count: bool = True) -> tuple[Path, bytes | None]:
        """The cache path of ``req`` and its cached body (None when missing), counted a cache hit when found and
        ``count`` (a caller that finds it unreadable takes the hit back: it is asked again)."""
        path = self._cache_path(kind, request_key(str(req.url), req.post_values), suffix)
        if path.is_file():
            if count:
                self.summary.cache_hits += 1
            return path, path.read_bytes()
        return path, None

    def drop_stats(self, req: DownloadRequest, end: date) -> None:
        """Forget the cached Statistical answer of the window of ``req`` ending ``end`` (out of date): its answer and its
        note (see :meth:`keep_stats`); a read-only cache keeps them (the window is then checked again next time)."""
        with contextlib.suppress(OSError):
            (self._stats_windows(req) / end.isoformat()).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._cache_path("stats", request_key(str(req.url), req.post_values), "json").unlink(missing_ok=True)

    # -- one request with retries
    def post(self, req: DownloadRequest) -> tuple[bytes, dict[str, Any]]:
        """One request, retried on 429 and 5xx (see :class:`Retry`). A 401 from the service after a token was obtained
        (revoked early, clock skew) gets a new token, once, and the same request again, not counted as an attempt;
        only a second 401, or the token endpoint refusing the client, is a credentials error."""
        r = self.retry
        waited = 0.0
        attempt = 0
        renewed = renew = False
        while attempt < max(r.attempts, 1):
            status: int | None = None
            message = ""
            self.summary.requests += 1
            self.client.last_headers = {}
            try:
                with _quiet():
                    if renew:  # pending until the token endpoint answers (a 5xx there is retried as usual)
                        self._renew_token()
                        renew = False
                    resp = self.client.download([req], max_threads=1, decode_data=False)[0]
                self.summary.downloaded += 1
                return bytes(resp.content), dict(resp.headers)
            except OutOfRequestsException:
                status, message = 429, "too many requests"
            except DownloadFailedException as e:
                status, message = self._classify(e, renewed=renewed)
            except requests.HTTPError as e:  # the client hands a 429 of the token endpoint back unwrapped
                if e.response is None or int(e.response.status_code) != 429:
                    raise
                self.client.last_headers = dict(e.response.headers)
                status, message = 429, f"HTTP 429: rate limited by the token endpoint {_host(self.ep['token_url'])}"
            except Exception as e:  # oauthlib's OAuth2Error: the token endpoint's answer was not a token
                if type(e).__module__.startswith("oauthlib"):
                    raise self._oauth_error(e) from None
                raise
            if status == 401:  # the service no longer takes this token: a new one, once
                LOG.info("Sentinel Hub: HTTP 401 from %s; fetching a new token and asking again", req.url)
                renewed = renew = True
                continue
            retriable = status is None or status == 429 or status >= 500
            if not retriable or attempt + 1 >= r.attempts:
                raise Failure(status, self.scrub(message))
            delay = min(r.base_delay * r.factor ** attempt, r.max_delay)
            asked = retry_after_seconds(header_value(self.client.last_headers, "Retry-After")) if status == 429 else None
            if asked is not None:
                delay = max(delay, asked)
                if waited + delay > r.max_total_wait:
                    raise Failure(status, self.scrub(f"{message}; the service asked to wait {asked:g} s more, past "
                                                     f"the {r.max_total_wait:g} s bound on waiting"))
            self.summary.retries += 1
            waited += delay
            r.sleep(delay)
            attempt += 1
        raise Failure(None, "no attempts configured")

    def _oauth_error(self, e: Exception) -> UserInputError:
        """The error naming why no token came from the token endpoint (an oauthlib exception): only a refusal of the
        client (invalid client, grant or authorisation) is a credentials error."""
        url, name = self.ep["token_url"], type(e).__name__
        if name == "InsecureTransportError":  # oauthlib sends client secrets only over https
            return UserInputError(f"Sentinel Hub token URL {url} is not https: OAuth client credentials are sent only "
                                  "over https (nothing was sent); use the https:// token URL of the deployment")
        if name == "MissingTokenError":  # a 2xx answer that is not a token: empty, not JSON, no access_token
            return ImageryError(source="Sentinel Hub token endpoint", problem=(
                f"{url} answered without an access token (an empty or non-JSON body, or JSON without access_token): "
                "not an OAuth token endpoint (a proxy's or portal's page?); check the token URL — the client id and "
                "secret were not refused"))
        if name in ("InvalidClientError", "UnauthorizedClientError", "InvalidGrantError", "AccessDeniedError"):
            return SentinelHubCredentialsError(source=self._source, problem=(
                f"refused by {url} ({name}); check the client id and secret and that they belong to this endpoint "
                "(--endpoint cdse|sinergise)"))
        detail = self.scrub(str(getattr(e, "description", "") or ""))[:200]
        return ImageryError(source="Sentinel Hub token endpoint", problem=(
            f"{url} answered an OAuth error {name}" + (f" ({detail})" if detail else "") + " — not a refusal of the "
            "client id and secret; check the token URL"))

    def _renew_token(self) -> None:
        """Replace the session's token by a new one from the token endpoint (its refusal: a credentials error)."""
        session = self.client.get_session()
        session._token = session._collect_new_token()

    def _classify(self, e: DownloadFailedException, *, renewed: bool = True) -> tuple[int | None, str]:
        """(status, message) of a failed request; raises the credentials error for a refusal by the token endpoint
        and for a 401 from the service once the token was ``renewed`` (a first 401 is returned: a new token is
        fetched and the request asked again)."""
        rexc = e.request_exception
        resp = getattr(rexc, "response", None)
        if resp is None:
            req_url = str(getattr(getattr(rexc, "request", None), "url", "") or "")
            host = _host(req_url) or "Sentinel Hub"
            if isinstance(rexc, requests.exceptions.SSLError):
                return None, f"TLS with {host} failed (SSLError: certificate or handshake refused)"
            if isinstance(rexc, requests.exceptions.Timeout):
                return None, f"no answer from {host} within {self.timeout:g} s ({type(rexc).__name__})"
            return None, (f"could not reach {host} ({type(rexc).__name__ if rexc else 'download failed'}: host "
                          "down or unreachable, name not resolved, or a proxy/firewall in the way)")
        status = int(resp.status_code)
        url = str(getattr(resp, "url", "") or "")
        if url.startswith(self.ep["token_url"]) and status < 500:
            token = self.ep["token_url"]
            if status == 429:  # rate limited, not refused: retried like any 429
                return 429, f"HTTP 429: rate limited by the token endpoint {_host(token)}"
            if status in (404, 405):
                raise UserInputError(f"Sentinel Hub token URL {token} answered HTTP {status} (not found): the token "
                                     "URL is wrong — check --endpoint or the profile's sh_token_url; the client id "
                                     "and secret were not checked") from None
            if status == 403:
                raise ImageryError(source="Sentinel Hub token endpoint", problem=(
                    f"{token} answered HTTP 403 (forbidden): access to it is blocked (a proxy or firewall, or an "
                    "account without API access) — not a refusal of the client id and secret (HTTP 400/401)")) from None
            raise SentinelHubCredentialsError(source=self._source, problem=(
                f"refused by {token} (HTTP {status}); check the client id and secret and that they "
                "belong to this endpoint (--endpoint cdse|sinergise)")) from None
        if status == 401:
            if not renewed:
                return 401, "HTTP 401"
            raise SentinelHubCredentialsError(source=self._source, problem=(
                "the service answered HTTP 401 (token not accepted, also a newly fetched one)")) from None
        try:
            detail = resp.json().get("error", {}).get("message", "")
        except Exception:
            detail = ""
        return status, f"HTTP {status}" + (f": {str(detail)[:200]}" if detail else "")

    def account_pu(self, headers: dict[str, Any], estimate: float) -> None:
        spent = header_value(headers, "x-processingunits-spent")
        try:
            self.summary.processing_units += float(spent) if spent is not None else estimate
            if spent is not None:
                self.summary.pu_reported += 1
            else:
                self.summary.pu_estimated += 1
        except ValueError:
            self.summary.processing_units += estimate
            self.summary.pu_estimated += 1

    # -- Catalog API
    def acquisitions(self, tile: Tile, start: date, end: date, max_cloud: float) -> list[date]:
        """Acquisition days over ``tile``; ``max_cloud`` < 1 filters on the catalogue's tile-level cloud cover, 1
        sends no filter at all (the payload, hence the cache key, differs: a page searched under a filter is never
        reused as the unfiltered one)."""
        catalog = SentinelHubCatalog(config=self._config or SHConfig(use_defaults=True, sh_base_url=self.ep["base_url"]))
        search = catalog.search(self.collection, bbox=BBox(tile.bounds, CRS(tile.epsg)),
                                time=(utc(start), utc(end + timedelta(days=1))),
                                filter=_cloud_filter(max_cloud),
                                fields={"include": ["id", "properties.datetime", "properties.eo:cloud_cover"],
                                        "exclude": []})
        days: set[date] = set()
        payload: dict[str, Any] = dict(search.params)
        settled = _settled(end)
        while True:
            req = DownloadRequest(url=search.url, post_values=payload, request_type=_POST, data_type=MimeType.JSON,
                                  headers={"Content-Type": "application/json"}, use_session=True)
            path, body = self.cached("catalog", req, "json")  # a hit needs no lock (a read-only shared cache is read)
            got = _catalog_page(body) if body is not None else None  # an unreadable cached page is asked again
            if got is None:
                # two runs on one cache ask for a page once: looked up again under the page's lock, and asked for only
                # if still missing; a page of an unsettled window is never cached, so no run waits for it
                if body is not None:
                    self.summary.cache_hits -= 1  # counted again below if another run has written it meanwhile
                with self.claim("catalog", req) if settled else contextlib.nullcontext():
                    if settled:
                        path, body = self.cached("catalog", req, "json")
                        got = _catalog_page(body) if body is not None else None
                        if got is None and body is not None:  # still unreadable: asked again, not a hit
                            self.summary.cache_hits -= 1
                    if got is None:
                        got = self._catalog_fetch(req, path, settled, start, end)
            page, found = got
            days.update(found)
            nxt = (page.get("context") or {}).get("next")
            if nxt is None or not page.get("features"):
                return sorted(x for x in days if start <= x <= end)
            payload = {**dict(search.params), "next": nxt}

    def _catalog_fetch(self, req: DownloadRequest, path: Path, settled: bool, start: date,
                       end: date) -> tuple[dict[str, Any], list[date]]:
        """One Catalog page from the service, cached when its window is settled and it lists acquisitions."""
        body, _ = self.post(req)
        got = _catalog_page(body)
        if got is None:
            raise ImageryError(source="Sentinel Hub Catalog API", problem=(
                f"the answer for {start} to {end} is not a catalog page (malformed JSON, or features "
                "without a datetime); nothing cached — try again later"))
        if settled and got[1]:  # a past window's page with acquisitions; an empty answer is asked again
            self.keep(path, body)
        return got

    # -- Process API
    def scene(self, tile: Tile, day: date, max_cloud: float, *, cached_only: bool = False) -> Path | None:
        """The cached GeoTIFF of ``tile`` on ``day``, downloaded when missing. ``cached_only`` (after a 403: every
        request would be refused): a readable cached copy or None, never a request."""
        request = SentinelHubRequest(
            evalscript=PROCESS_EVALSCRIPT,
            input_data=[SentinelHubRequest.input_data(
                self.collection, time_interval=(utc(day), utc(day + timedelta(days=1))),
                maxcc=max_cloud if max_cloud < 1.0 else None,  # no filter: a tile mosaicked under one is not reused
                mosaicking_order=MosaickingOrder.MOST_RECENT, other_args={"processing": {"harmonizeValues": True}})],
            responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
            bbox=BBox(tile.bounds, CRS(tile.epsg)), size=(tile.width, tile.height),
            config=self._config or SHConfig(use_defaults=True, sh_base_url=self.ep["base_url"]))
        req = request.download_list[0]
        path = self._cache_path("process", request_key(str(req.url), req.post_values), "tif")
        if path.is_file():  # a hit needs no lock (a shared cache mounted read-only is read)
            try:
                check_tiff(path.read_bytes(), tile)
                self.summary.cache_hits += 1
                return path
            except (Failure, OSError):
                pass  # cut short or unreadable: looked at again under the lock (dropped and fetched again)
        if cached_only:
            return None
        with self.claim("process", req):  # two runs on one cache download an acquisition once
            return self._scene(req, tile, day)

    def _scene(self, req: DownloadRequest, tile: Tile, day: date) -> Path:
        path, body = self.cached("process", req, "tif")
        if body is not None:
            try:
                check_tiff(body, tile)
                return path
            except Failure as f:  # cut short on disk, or cached by a version that read headers only
                self.summary.cache_hits -= 1
                note = f"cached scene {day} tile {tile.tile_id} unreadable ({f.message}); dropped and fetched again"
                LOG.info("Sentinel Hub: %s", note)  # reaches the user through the summary's warnings
                self.summary.warnings.append(note)
                path.unlink(missing_ok=True)
        body, headers = self.post(req)
        check_tiff(body, tile)
        self.account_pu(headers, estimate_pu(tile.width, tile.height, input_bands=len(INDEX_BANDS) - 1))
        self.keep(path, body)
        return path


_POST = RequestType.POST


def tile_task(task: TileTask) -> dict[str, Any]:
    """On a worker: one :class:`TileTask` with one call's code (:class:`_Api`: its requests, cache, locks, retries
    and processing-unit accounting). A Catalog search gives ``days`` or the ``failure`` (status, message); the
    downloads give, per acquisition in ``days``' order, the cached GeoTIFF's ``path`` or its ``failure``, and its
    summary's counts (each acquisition's own: summed in one call's order by the client). After a 403 the task's
    other acquisitions are served from the cache only, as in one call. Other errors (no credentials, a page that is
    no catalog page) are raised: the task's one-line error."""
    summary = FetchSummary()
    cache = Path(task.cache_dir) if task.cache_dir is not None else default_cache()
    api = _Api(task.endpoint, task.profile, task.retry, cache, summary)
    if task.kind == "catalog":
        try:
            return {"days": api.acquisitions(task.tile, task.start, task.end, task.max_cloud),
                    "summary": asdict(summary)}
        except Failure as f:
            return {"failure": (f.status, f.message), "summary": asdict(summary)}
    jobs: list[dict[str, Any]] = []
    refused = False
    for day in task.days:
        api.summary = FetchSummary()
        answer: dict[str, Any] = {}
        try:
            got = api.scene(task.tile, day, task.max_cloud, cached_only=refused)
            answer["path"] = str(got) if got is not None else None
        except Failure as f:
            refused = refused or f.status == 403
            answer["failure"] = (f.status, f.message)
        answer["summary"] = asdict(api.summary)
        jobs.append(answer)
    return {"jobs": jobs}


class _Remote:
    """:func:`fetch`'s requests sent as :class:`TileTask` s through ``map_tasks``, their answers read in one call's
    order (each one's counts added to ``summary`` when read, as one call counts them)."""

    def __init__(self, map_tasks: MapTasks, base: TileTask, summary: FetchSummary) -> None:
        self.map_tasks, self.base, self.summary = map_tasks, base, summary

    def _count(self, got: dict[str, Any]) -> None:
        for name in _COUNTS:
            setattr(self.summary, name, getattr(self.summary, name) + got[name])
        self.summary.warnings.extend(w for w in got["warnings"] if w not in self.summary.warnings)

    def catalog(self, tiles: list[Tile]) -> list[Callable[[], list[date]]]:
        from dataclasses import replace

        answers = self.map_tasks(tile_task, [replace(self.base, tile=t) for t in tiles], "catalog")

        def read(a: dict[str, Any]) -> list[date]:
            self._count(a["summary"])
            if "failure" in a:
                raise Failure(*a["failure"])
            return list(a["days"])

        from functools import partial

        return [partial(read, a) for a in answers]

    def scenes(self, tiles: list[Tile], by_tile: dict[str, list[date]]) -> Callable[[Tile, date, bool], Path | None]:
        from dataclasses import replace

        tasks = [replace(self.base, kind="scenes", tile=t, days=tuple(by_tile[t.tile_id]))
                 for t in tiles if by_tile[t.tile_id]]
        answers = self.map_tasks(tile_task, tasks, "scenes")
        got = {(t.tile.tile_id, d): j for t, a in zip(tasks, answers, strict=True)
               for d, j in zip(t.days, a["jobs"], strict=True)}

        def scene(tile: Tile, day: date, cached_only: bool) -> Path | None:
            j = got[(tile.tile_id, day)]
            self._count(j["summary"])
            if j.get("path") is not None:
                return Path(j["path"])
            if cached_only:  # after the first 403 in one call's order: not asked (as one call would not)
                return None
            raise Failure(*j.get("failure") or (403, "HTTP 403"))

        return scene


# ---------------------------------------------------------------- public front

def fetch(fields: gpd.GeoDataFrame, start: date, end: date, out_dir: Path, *, endpoint: str = "cdse",
          profile: str | None = None, max_cloud: float = 1.0, resolution: float = 10.0,
          cache_dir: Path | None = None, retry: Retry | None = None, merge_distance: float = 1000.0,
          merge: bool = True, partial: bool = False, map_tasks: MapTasks | None = None) -> FetchResult:
    """Download the fields' Sentinel-2 L2A acquisitions in [start, end] as local scenes; see the module docstring.

    ``max_cloud`` (default 1.0: no scene filter) drops acquisitions whose catalogue *tile* cloud cover (a ~100 km
    Sentinel-2 tile) is above it. Tile cloud is not field cloud, so the feature path never sets it: every
    acquisition is read and the SCL mask decides the clear pixels, as for local scenes and the Statistical API.

    The scenes go to ``out_dir/YYYY/S2_<tile>_<YYYYMMDD>.tif`` and ``out_dir/index.csv`` (written
    last). Responses are cached under ``cache_dir`` (default ``$XDG_CACHE_HOME/agcredit/sentinelhub``,
    else ``~/.cache/agcredit/sentinelhub``), shared by every output folder, so a re-run downloads nothing new.

    ``merge`` (default): a folder already fetched for another window keeps its scenes, this fetch's are added to its
    ``index.csv`` (``sentinelhub.json`` lists every window); a folder whose scenes cannot be merged (another
    endpoint or max_cloud, a box name standing for other ground, an index not written by a fetch) is refused before
    any request. A re-run for the same window rewrites the index. ``merge=False``: the index holds this fetch's
    scenes only (a working folder read at once, as the feature path does).

    An acquisition the service keeps failing (a 5xx after the retries, an unreadable GeoTIFF, a 4xx other than
    401/403/429): by default the fetch is an error and nothing is written (the downloaded ones stay cached).
    ``partial=True`` (``agcredit imagery fetch``) skips it: the others are written, the failed ones are listed in
    ``summary.missing`` and in ``sentinelhub.json`` (``missing``: date, tile, reason), and a re-run fetches only
    them (the others come from the cache). A run where every acquisition fails is an error either way. A 429 still
    refused after the retries is one such failed acquisition (recorded with its cause, ``HTTP 429 …``).

    A 403 (Sentinel Hub's answer to a valid token whose processing units are used up, or whose plan does not allow
    the request) stops the requests: every later one would be refused too; the acquisitions after it that are in the
    cache are still served (no request), so a re-run meeting a 403 keeps the scenes its folder had. Without
    ``partial``, or with no scene at all, it is a :class:`SentinelHubQuotaError` (nothing written; what was downloaded
    stays cached); a partial fetch with scenes writes them, records in ``missing`` only the acquisitions that needed a
    request (the refused one with the service's words, the others "not requested after …"), sets ``summary.stopped``
    to the cause, and a re-run fetches only them.

    ``map_tasks`` (``reunderwrite --scheduler/--workers``: :func:`pipelines._dask_process.fetch_on`): sends the
    requests to other processes — ``map_tasks(tile_task, tasks, label)`` runs :func:`tile_task` on each
    :class:`TileTask` (one per request box: its Catalog search, then its acquisitions' downloads) and returns their
    answers in order. The boxes are planned here, over all the fields (one call's footprints), the scene folder is
    written here from the cached GeoTIFFs the tasks name (their cache must be readable here at the same path), and
    the answers are taken in one call's order, so the folder, the summary and the errors are one call's: a Catalog
    failure is the first box's in order; a 403 stops the requests of its task (its other acquisitions are served from
    the cache only) and is one call's quota error, naming the acquisitions from the first refused one in order.
    """
    fields = check_inputs(fields, start, end)
    if not 0.0 <= float(max_cloud) <= 1.0:
        raise UserInputError(f"max_cloud: expected a fraction in [0, 1], found {max_cloud!r}")
    out_dir = Path(out_dir)
    tiles = plan_tiles(fields, resolution=resolution, merge_distance=merge_distance)
    summary = FetchSummary(tiles=len(tiles))
    api = _Api(endpoint, profile, retry, Path(cache_dir) if cache_dir else default_cache(), summary)
    ep_name = str(endpoint).lower()
    if "profile" in api.ep:  # the deployment the scenes come from, not the word "profile"
        ep_name = f"{PROFILE_ENDPOINT} {api.ep['base_url']}"
    if merge:  # refused before any request when the folder holds scenes that cannot be merged (read again when
        existing_scenes(out_dir, tiles, endpoint=ep_name, start=start, end=end, max_cloud=max_cloud)  # writing)
    by_tile: dict[str, list[date]] = {}
    remote = None if map_tasks is None or not tiles else _Remote(map_tasks, TileTask(
        kind="catalog", tile=tiles[0], start=start, end=end, days=(), endpoint=str(endpoint), profile=profile,
        max_cloud=float(max_cloud), cache_dir=str(Path(cache_dir).absolute()) if cache_dir else None, retry=retry),
        summary)
    searched = remote.catalog(tiles) if remote is not None else None
    for k, tile in enumerate(tiles):
        try:
            by_tile[tile.tile_id] = searched[k]() if searched is not None else \
                api.acquisitions(tile, start, end, max_cloud)
        except Failure as f:
            _raise_failure(f, [str(start), str(end)], list(tile.field_ids), "Catalog API search")
    empty = [t for t in tiles if not by_tile[t.tile_id]]
    no_data_fields = sorted({f for t in empty for f in t.field_ids})
    if len(empty) == len(tiles):
        raise ImageryError(source="Sentinel Hub", problem=(
            f"no Sentinel-2 L2A acquisition{_cloud_words(max_cloud)} between {start} and {end} "
            f"for fields"), offenders=no_data_fields)
    if empty:
        summary.no_acquisition_fields = no_data_fields
        summary.warnings.append(f"no Sentinel-2 L2A acquisition{_cloud_words(max_cloud)} between {start} "
                                f"and {end} for {len(no_data_fields)} field(s): {format_offenders(no_data_fields)}")
    jobs = [(t, d) for t in tiles for d in by_tile[t.tile_id]]
    files: dict[tuple[str, date], Path] = {}
    failed: list[str] = []
    missing: list[dict[str, str]] = []
    summary.acquisitions = len(jobs)
    def skip(tile: Tile, day: date, reason: str) -> None:
        failed.append(f"{day} tile {tile.tile_id} ({reason}; fields {', '.join(tile.field_ids[:5])}"
                      f"{' …' if len(tile.field_ids) > 5 else ''})")
        missing.append({"date": day.isoformat(), "tile_id": tile.tile_id, "reason": reason})

    refused: Failure | None = None  # a 403: every later request would be refused too — none is sent
    unasked: list[tuple[Tile, date]] = []  # the acquisitions refused or not requested after the 403
    def here(tile: Tile, day: date, cached_only: bool) -> Path | None:
        return api.scene(tile, day, max_cloud, cached_only=cached_only)

    scene = remote.scenes(tiles, by_tile) if remote is not None else here
    for tile, day in jobs:
        try:
            got = scene(tile, day, refused is not None)
        except Failure as f:
            if f.status == 403:  # refused, not failed: only the cache is read from here on (a cached acquisition is
                refused = f      # still served, so a re-run meeting a 403 keeps the scenes its folder had)
                unasked.append((tile, day))
                if not partial:  # all or nothing: the one-line quota error, nothing written
                    break
                summary.stopped = f.message  # a partial fetch keeps what it has: written below, the rest missing
                skip(tile, day, f.message)
                continue
            skip(tile, day, _reason(f))  # a 429 after the retries too: the others may still be answered
            continue
        if got is None:  # after the 403, not in the cache: it would need a request
            unasked.append((tile, day))
            skip(tile, day, f"not requested after {refused.message if refused else 'HTTP 403'}")
        else:
            files[(tile.tile_id, day)] = got
    if refused is not None and (not partial or not files):  # all or nothing, or nothing to keep: the quota error
        rest = jobs[jobs.index(unasked[0]):] if not partial else unasked
        raise SentinelHubQuotaError(status=403, dates=sorted({str(d) for _, d in rest}),
                                    fields=sorted({x for t, _ in rest for x in t.field_ids}),
                                    done=len(files), detail=_detail(refused)) from None
    if failed and (not partial or not files):
        raise ImageryError(source="Sentinel Hub Process API",
                           problem=f"{len(failed)} of {len(jobs)} acquisitions could not be downloaded (nothing was "
                                   f"written; {len(files)} downloaded are cached"
                                   + ("; `agcredit imagery fetch` writes the others and records these)"
                                      if files else ")"), offenders=failed)
    summary.missing = failed
    summary.dates = len({d for _, d in files})
    summary.scenes = len(files)
    write_scenes(out_dir, files, endpoint=ep_name, start=start, end=end, max_cloud=max_cloud, tiles=tiles,
                 merge=merge, missing=missing)
    LOG.info("Sentinel Hub: %d scenes on %d tiles written to %s", summary.scenes, summary.tiles, out_dir)
    return FetchResult(path=out_dir, summary=summary)


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
