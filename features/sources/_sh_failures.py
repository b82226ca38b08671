"""Failed Sentinel Hub requests as told to the user (no ``sentinelhub`` import here; from
:mod:`features.sources.sentinelhub`): the reason recorded for a failed acquisition or field, the service's own words,
the error of a failed Catalog search, and a URL's host for messages."""

from __future__ import annotations

from features.errors import ImageryError
from features.sources._sh_io import Failure, SentinelHubQuotaError, window_text

__all__ = [
    "_reason", "_detail", "_host", "_raise_failure",
]


def _reason(f: Failure) -> str:
    """Why an acquisition or a field failed, as recorded: a 429 says so (the client's own word is "too many
    requests") and that it outlasted the retries."""
    if f.status != 429:
        return f.message
    said = f.message if f.message.startswith("HTTP 429") else f"HTTP 429: {f.message}"
    return f"{said} (still rate limited after the retries)"


def _detail(f: Failure) -> str:
    """The service's own words in a failure message ("HTTP 403: out of processing units" → "out of …")."""
    return f.message.split(": ", 1)[1] if f.message.startswith("HTTP ") and ": " in f.message else ""


def _host(url: str) -> str:
    """The host of ``url`` (for messages: never its path or query)."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _raise_failure(f: Failure, dates: list[str], field_ids: list[str], what: str) -> None:
    """The error of a failed search (``what``, e.g. "Catalog API search") for the window ``dates`` (its first and last
    day): a 403 or 429 is the quota error naming the window; a failure of the token endpoint (``f.token``: no token to
    search with) is named as the token endpoint's, not the search's."""
    window = (dates[0], dates[-1])
    if f.status in (403, 429):  # the catalog is searched before any scene is fetched
        raise SentinelHubQuotaError(status=f.status, dates=dates, fields=field_ids, done=0,
                                    detail=_detail(f), window=window) from None
    if f.token:
        raise ImageryError(source="Sentinel Hub", problem=(
            f"{f.message}: no token, so no {what} for {window_text(*window)} (nothing fetched; try again later, or "
            "check the token URL); fields"), offenders=field_ids) from None
    raise ImageryError(source=f"Sentinel Hub {what}", problem=f"{f.message} for {window_text(*window)}; fields",
                       offenders=field_ids) from None
