"""The Sentinel Hub API client (with :mod:`features.sources.sentinelhub` and :mod:`features.sources._sh_config`, the
only modules that import ``sentinelhub``; ruff ``banned-api``): :class:`_Api` — HTTP through the sentinelhub download
client with the on-disk cache and its locks, retries, processing-unit accounting, the Catalog API search and the
Process API download of one acquisition. Its configuration — the credentials (environment or a sentinelhub profile,
never saved, logged or shown), the endpoint's service URLs and collection — is :mod:`features.sources._sh_config`'s,
importable from here as before."""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests
from sentinelhub import (
    CRS,
    BBox,
    MimeType,
    MosaickingOrder,
    SentinelHubRequest,
    SHConfig,
)
from sentinelhub.api.catalog import SentinelHubCatalog
from sentinelhub.constants import RequestType
from sentinelhub.download import DownloadRequest, SentinelHubDownloadClient, SentinelHubSession
from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException, SHRateLimitWarning

from features.errors import ImageryError, UserInputError
from features.sources._sh_answers import _catalog_page, _cloud_filter, _settled
from features.sources._sh_config import (
    _check_profile_urls,
    _collection,
    _credentials,
    _endpoint,
    _load_profile,
    _profile_endpoint,
    endpoint_credentials,
)
from features.sources._sh_failures import _host
from features.sources._sh_io import (
    Failure,
    FetchSummary,
    Retry,
    SentinelHubCredentialsError,
    check_tiff,
    file_lock,
    header_value,
    retry_after_seconds,
    utc,
)
from features.sources._sh_plan import INDEX_BANDS, Tile, atomic_write_bytes, estimate_pu, request_key
from features.sources._sh_scripts import PROCESS_EVALSCRIPT

# isort: split
# re-exported, unused here: importable from features.sources._sh_api as before the configuration helpers moved to
# features.sources._sh_config
from sentinelhub import DataCollection  # noqa: F401

from features.sources._sh_endpoints import ENDPOINTS, PROFILE_ENDPOINT, _profile_name  # noqa: F401

__all__ = [
    "_CHATTY_LOGGERS", "_Client", "_load_profile", "_credentials", "_check_profile_urls", "_endpoint",
    "_profile_endpoint", "_collection", "_quiet", "_Api", "_POST",
]

#: the logger of :mod:`features.sources.sentinelhub`: what is logged here keeps its name
LOG = logging.getLogger("features.sources.sentinelhub")

_CHATTY_LOGGERS = ("requests_oauthlib", "requests_oauthlib.oauth2_session", "oauthlib", "urllib3")


class _Session(SentinelHubSession):
    """sentinelhub's session, but a token endpoint's 4xx other than OAuth's error answers (HTTP 400 or 401 with a
    JSON ``error``) is raised as its HTTP status whatever its body: sentinelhub's hook handed any 4xx with a JSON
    ``error`` to oauthlib, so a 429 was not retried and a 404 read "OAuth error CustomOAuth2Error — check the token
    URL" without its status. Now a 429 is retried (its ``Retry-After`` honoured) and a 404 or 403 named by its status
    (:meth:`_Api._classify`)."""

    @staticmethod
    def _compliance_hook(response: requests.Response) -> requests.Response:
        if 400 <= response.status_code < 500 and (response.status_code not in (400, 401)
                                                  or not _oauth_answer(response)):
            response.raise_for_status()
        return SentinelHubSession._compliance_hook(response)


#: the ``error`` codes of RFC 6749's token error answers (section 5.2)
_OAUTH_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                 "unsupported_grant_type", "invalid_scope", "access_denied"}


def _oauth_answer(response: requests.Response) -> bool:
    """Whether a token endpoint's 400/401 is an OAuth error answer (its ``error`` one of RFC 6749's): another body
    (a gateway's JSON ``{"error": "Unauthorized"}``) is named by its HTTP status — a 401 read "an OAuth error
    CustomOAuth2Error — not a refusal of the client id and secret" (a review)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("error", "")) in _OAUTH_ERRORS


class _Client(SentinelHubDownloadClient):
    """The sentinelhub download client, remembering the headers of its last HTTP answer (a 429's ``Retry-After``
    is read from them: the client raises before handing the answer back); its new sessions are :class:`_Session` s."""

    last_headers: dict[str, Any]

    def _do_download(self, request: DownloadRequest) -> Any:
        response = super()._do_download(request)
        self.last_headers = dict(response.headers)
        return response

    def get_session(self) -> SentinelHubSession:
        if self.session:
            return self.session
        cached = SentinelHubDownloadClient._CACHED_SESSIONS
        key = self._get_cache_key(self.config)
        session = cached.get(key) or cached.get(SentinelHubDownloadClient._UNIVERSAL_CACHE_KEY)
        if session is None:
            session = cached[key] = _Session(config=self.config)
        return session


# ---------------------------------------------------------------- sentinelhub's own log, kept quiet

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
            cid, secret, self._source = endpoint_credentials(self.ep, self.profile)
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
            token = False  # the token endpoint failed, not the service
            self.summary.requests += 1
            self.summary.catalog_requests += "/catalog/" in str(req.url)
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
                token = self._from_token(e)
            except requests.HTTPError as e:  # the client hands a 429 of the token endpoint back unwrapped
                if e.response is None or int(e.response.status_code) != 429:
                    raise
                self.client.last_headers = dict(e.response.headers)
                status, message = 429, f"HTTP 429: rate limited by the token endpoint {_host(self.ep['token_url'])}"
                token = True
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
                raise Failure(status, self.scrub(message), token)
            delay = min(r.base_delay * r.factor ** attempt, r.max_delay)
            asked = retry_after_seconds(header_value(self.client.last_headers, "Retry-After")) if status == 429 else None
            if asked is not None:
                delay = max(delay, asked)
                if waited + delay > r.max_total_wait:
                    raise Failure(status, self.scrub(f"{message}; the service asked to wait {asked:g} s more, past "
                                                     f"the {r.max_total_wait:g} s bound on waiting"), token)
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

    def _from_token(self, e: DownloadFailedException) -> bool:
        """Whether the failed request was the token endpoint's (no token yet, or a renewal)."""
        rexc = e.request_exception
        url = str(getattr(getattr(rexc, "response", None), "url", "") or
                  getattr(getattr(rexc, "request", None), "url", "") or "")
        return bool(url) and url.startswith(self.ep["token_url"])

    def _classify(self, e: DownloadFailedException, *, renewed: bool = True) -> tuple[int | None, str]:
        """(status, message) of a failed request; raises the credentials error for a refusal by the token endpoint
        and for a 401 from the service once the token was ``renewed`` (a first 401 is returned: a new token is
        fetched and the request asked again)."""
        rexc = e.request_exception
        resp = getattr(rexc, "response", None)
        if resp is None:
            req_url = str(getattr(getattr(rexc, "request", None), "url", "") or "")
            host = _host(req_url) or "Sentinel Hub"
            if self._from_token(e):  # no token yet: the token endpoint, not the service asked for
                host = f"the token endpoint {host}"
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
        said = f" from the token endpoint {_host(self.ep['token_url'])}" if url.startswith(self.ep["token_url"]) else ""
        return status, f"HTTP {status}{said}" + (f": {str(detail)[:200]}" if detail else "")

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
