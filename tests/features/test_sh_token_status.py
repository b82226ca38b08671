"""The Sentinel Hub token endpoint's and the services' failures named by what failed: the HTTP status of a token
endpoint's answer whatever its body, the token endpoint rather than the Catalog API, the window of a Catalog search."""

from __future__ import annotations

import json
from datetime import date

import pytest
import responses
from sentinelhub import SentinelHubDownloadClient

from features.errors import ImageryError, UserInputError
from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import (  # noqa: F401 - _sh: the credentials and session fixture
    CATALOG_URL,
    SECRET,
    TOKEN_URL,
    _sh,
    add_catalog,
    add_process,
    add_token,
    make_fields,
    n_calls,
)

#: a token endpoint's error answer with a JSON ``error`` (sentinelhub's hook handed such 4xx answers to oauthlib)
JSON_ERROR = {"error": {"status": 0, "reason": "Error", "message": "no", "code": "COMMON_EXCEPTION"}}


def _fetch_one(tmp_path, sleeps=None):
    retry = sh.Retry(attempts=3, base_delay=0.0, max_delay=0.0, sleep=(sleeps.append if sleeps is not None
                                                                        else lambda s: None))
    return sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 1), tmp_path / "o",
                    cache_dir=tmp_path / "c", retry=retry)


@responses.activate
def test_a_token_endpoint_429_with_a_json_error_is_retried_honouring_retry_after(tmp_path):
    """A 429 of the token endpoint with a JSON ``error`` body went to oauthlib: not retried, and blamed on the token
    URL ("OAuth error CustomOAuth2Error — check the token URL"). It is retried now, its Retry-After honoured."""
    responses.add(responses.POST, TOKEN_URL, status=429, json=JSON_ERROR, headers={"Retry-After": "2500"})
    add_token()
    add_catalog(days=("2023-06-01",))
    add_process()
    sleeps: list[float] = []
    res = _fetch_one(tmp_path, sleeps)
    assert res.summary.scenes == 1 and res.summary.retries == 1 and sleeps == [2.5]
    assert n_calls(TOKEN_URL) == 2


@responses.activate
@pytest.mark.parametrize("status,error,says", [
    (404, UserInputError, r"token URL https://\S+ answered HTTP 404 \(not found\): the token URL is wrong"),
    (403, ImageryError, r"answered HTTP 403 \(forbidden\): access to it is blocked"),
    # a gateway's 401/400 whose JSON error is none of OAuth's (a review: "an OAuth error CustomOAuth2Error — not a
    # refusal of the client id and secret; check the token URL")
    (401, UserInputError, r"\(HTTP 401\); check the client id and secret"),
    (400, UserInputError, r"HTTP 400"),
])
def test_a_token_endpoint_4xx_with_a_json_error_is_named_by_its_status(tmp_path, status, error, says):
    """A 404 (or 403) of the token endpoint with a JSON ``error`` body read "OAuth error CustomOAuth2Error — check
    the token URL", never saying HTTP 404: named by its status now, as without such a body."""
    responses.add(responses.POST, TOKEN_URL, status=status, json=JSON_ERROR)
    add_catalog(days=("2023-06-01",))
    with pytest.raises(error, match=says) as e:
        _fetch_one(tmp_path)
    assert "OAuth" not in str(e.value) and SECRET not in str(e.value) and "\n" not in str(e.value)
    assert n_calls(TOKEN_URL) == 1


@responses.activate
def test_a_token_endpoint_failure_is_named_as_the_token_endpoint_not_the_catalog(tmp_path):
    """A token endpoint answering 500 after the retries read "Catalog API search: HTTP 500 …", an unreachable token
    host "Catalog API search: could not reach …": the token endpoint is named now, and the search it kept from
    being made, by its window."""
    import requests

    for _ in range(3):
        responses.add(responses.POST, TOKEN_URL, status=500, json=JSON_ERROR)
    add_catalog(days=("2023-06-01",))
    with pytest.raises(ImageryError, match=r"^Sentinel Hub: HTTP 500 from the token endpoint "
                                           r"identity.dataspace.copernicus.eu: no: no token, so no Catalog API search "
                                           r"for the window 2023-06-01 to 2023-06-10 \(nothing fetched") as e:
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o",
                 cache_dir=tmp_path / "c", retry=sh.Retry(attempts=3, base_delay=0.0, sleep=lambda s: None))
    assert "Catalog API search:" not in str(e.value) and n_calls(TOKEN_URL) == 3 and n_calls(CATALOG_URL) == 0
    responses.reset()
    SentinelHubDownloadClient._CACHED_SESSIONS.clear()
    responses.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectionError("connection refused"))
    add_catalog(days=("2023-06-01",))
    with pytest.raises(ImageryError, match=r"^Sentinel Hub: could not reach the token endpoint "
                                           r"identity.dataspace.copernicus.eu \(ConnectionError: .*\): no token, so no "
                                           r"Catalog API search for the day 2023-06-01 \(nothing fetched") as e:
        _fetch_one(tmp_path)
    assert "Catalog API search:" not in str(e.value)


@responses.activate
def test_a_refused_catalog_search_names_its_window_not_two_dates(tmp_path):
    """A Catalog 403 said "not fetched: dates 2009-05-15, 2010-02-28 (2 in all)" — the window's ends, which are no
    acquisitions: it names the window now."""
    add_token()
    responses.add(responses.POST, CATALOG_URL, status=403, json={"error": {"message": "out of processing units"}})
    with pytest.raises(sh.SentinelHubQuotaError, match=r"forbidden \(HTTP 403: out of processing units\).*; not "
                                                       r"fetched: the window 2023-06-01 to 2023-06-10; fields f1, f2 "
                                                       r"\(2 in all\); 0 scenes") as e:
        sh.fetch(make_fields(), date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o", cache_dir=tmp_path / "c",
                 retry=sh.Retry(attempts=3, base_delay=0.0, sleep=lambda s: None))
    assert "dates" not in str(e.value)


@responses.activate
def test_a_persistent_401_midway_says_the_scenes_downloaded_are_cached(tmp_path):
    """A 401 again after a new token, once some scenes were downloaded, said only "HTTP 401 (token not accepted, also
    a newly fetched one)": it says now, as the 403 message does, that the scenes downloaded are kept in the cache."""
    from tests.features.test_sentinelhub import PROCESS_URL, process_callback

    add_token()
    add_catalog(days=("2023-06-01", "2023-06-06"))
    ok = process_callback()
    seen = {"n": 0}

    def cb(request):  # the first scene, then the token is no longer accepted
        seen["n"] += 1
        return ok(request) if seen["n"] == 1 else (401, {}, json.dumps({"error": {"message": "expired"}}))

    responses.add_callback(responses.POST, PROCESS_URL, callback=cb, content_type="image/tiff")
    with pytest.raises(sh.SentinelHubCredentialsError, match=r"HTTP 401 \(token not accepted, also a newly fetched "
                                                             r"one\); 1 scene already downloaded is cached and a "
                                                             r"re-run resumes from them$") as e:
        sh.fetch(make_fields().iloc[:1], date(2023, 6, 1), date(2023, 6, 10), tmp_path / "o",
                 cache_dir=tmp_path / "c", retry=sh.Retry(attempts=3, base_delay=0.0, sleep=lambda s: None))
    assert SECRET not in str(e.value) and len(list((tmp_path / "c").rglob("process/*/*.tif"))) == 1
