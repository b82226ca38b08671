"""The Sentinel Hub token endpoint's and the services' failures named by what failed: the HTTP status of a token
endpoint's answer whatever its body, the token endpoint rather than the Catalog API, the window of a Catalog search."""

from __future__ import annotations

from datetime import date

import pytest
import responses

from features.errors import ImageryError, UserInputError
from features.sources import sentinelhub as sh
from tests.features.test_sentinelhub import (  # noqa: F401 - _sh: the credentials and session fixture
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
