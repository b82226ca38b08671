"""Registry URIs without MLflow (:mod:`models.registry` and its private
``models._registry_mlflow_*`` stay the only modules importing it): masking passwords
for messages, and probing a database or HTTP tracking server once — in seconds — before MLflow, which would retry
for minutes, so an unreachable registry is a one-line :class:`~models.errors.RegistryUnavailableError`."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from models.errors import RegistryUnavailableError

__all__ = ["safe_uri", "probe_database", "probe_http", "missing_driver", "DB_SCHEMES", "reason"]

#: user:PASSWORD@ up to the authority's last '@' (a password may hold an unencoded '@', '?' or '#', a user name an
#: '@' — Azure's user@server; the host never does): a query holding '@' without a path is masked too — more masked rather than a password's end shown
_SECRET = re.compile(r"(://[^:/?#]*:)[^/]*@")
#: a password holding a '/' (no '@' before it: :data:`_SECRET` found none): up to the first '@' after it (the
#: password had been shown whole, its '/' read as the path's start)
_SLASHED_SECRET = re.compile(r"(://[^:/?#]*:)[^@]*/[^@]*@")
#: a URI typed without its ``scheme://`` (``user:PASSWORD@host/db``): everything from the first ``:`` to the last ``@``
_NO_SCHEME_SECRET = re.compile(r"^([^:@]*:).*@")
_SECRET_QUERY = re.compile(r"((?:password|passwd|pwd|token|secret|key)=)[^&]*", re.IGNORECASE)
#: pip package of each database driver module SQLAlchemy may ask for
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pymysql": "PyMySQL",
                    "MySQLdb": "mysqlclient", "mysql": "mysql-connector-python", "pyodbc": "pyodbc",
                    "pymssql": "pymssql", "asyncpg": "asyncpg", "pg8000": "pg8000"}
DB_SCHEMES = ("postgresql", "mysql", "mssql")
_CONNECT_TIMEOUT_S = 5
#: MLflow's HTTP retry settings used when the user has not set them: fail in seconds, not minutes
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
                  "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def safe_uri(uri: str) -> str:
    """The URI with any password (user:PASSWORD@, password= / token= / secret= / key= query values, ``api_key=`` and
    ``access_token=`` among them) masked, for messages."""
    if "://" not in uri:
        masked = _NO_SCHEME_SECRET.sub(r"\1***@", uri)
    else:
        masked = _SECRET.sub(r"\1***@", uri) if _SECRET.search(uri) else _SLASHED_SECRET.sub(r"\1***@", uri)
    return _SECRET_QUERY.sub(r"\1***", masked)


def reason(e: BaseException, uri: str) -> str:
    """A short reason for a failed connection, without the password."""
    text = str(getattr(e, "orig", None) or e).strip()
    low = text.lower()
    # a timeout here is a request's (MLflow's HTTP timeout, retried), not the connect probe's: no figure given
    for key, why in (("refused", "connection refused"), ("timeout", "no answer (the request timed out)"),
                     ("timed out", "no answer (the request timed out)"),
                     ("could not translate host", "unknown host"), ("name or service not known", "unknown host"),
                     ("authentication failed", "authentication failed"), ("access denied", "access denied"),
                     ("does not exist", (text.splitlines() or [""])[0][:160]),
                     ("wrong version number", "no TLS answer (the server speaks plain http? then write http://)"),
                     ("certificate verify failed", "its TLS certificate is not trusted (certificate verify failed: "
                                                   "REQUESTS_CA_BUNDLE names the bank's CA file)"),
                     ("remote end closed connection", "the server closed the connection without an answer (is it an "
                                                      "MLflow tracking server?)"),
                     ("connection reset", "the server reset the connection (is it an MLflow tracking server?)")):
        if key in low:
            return why
    status = re.search(r"too many (\d{3}) error responses", text)
    if status:  # a 5xx MLflow's retries gave up on (a gateway or proxy before the server)
        return f"the server answered HTTP {status.group(1)} (after the retries)"
    # an HTTP client's message names the URL first and its cause last ("… Max retries exceeded with url: /api/… (Caused
    # by SSLError(…))"): cut at 200 characters, the cause was never shown (a walkthrough)
    cause = text.rsplit("Caused by ", 1)[1].rstrip(")") if "Caused by " in text else ""
    line = (cause or (text.splitlines() or [type(e).__name__])[0])[:200]
    pw = urlsplit(uri).password if "://" in uri else None
    return line.replace(pw, "***") if pw else line


def missing_driver(e: ImportError, uri: str, shown: str) -> RegistryUnavailableError:
    module = (e.name or str(e)).split(".")[0]
    fix = f"pip install '{_DRIVER_PACKAGES.get(module, module)}'"
    if urlsplit(uri).scheme == "postgresql" and importlib.util.find_spec("psycopg2") is not None:
        fix += ", or write postgresql+psycopg2://, whose driver is installed"
    return RegistryUnavailableError(uri=shown, problem=f"database driver '{module}' is not installed", fix=fix)


def probe_database(uri: str, shown: str) -> None:
    """Connect once (a few seconds at most) before MLflow does, which would retry for minutes."""
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        url = sa.make_url(uri)
        args = {"connect_timeout": _CONNECT_TIMEOUT_S} if url.get_backend_name() in ("postgresql", "mysql") else {}
        engine = sa.create_engine(url, connect_args=args, poolclass=NullPool)
    except ImportError as e:
        raise missing_driver(e, uri, shown) from None
    except (ArgumentError, NoSuchModuleError) as e:
        raise RegistryUnavailableError(uri=shown, problem=f"not a usable database URL ({reason(e, uri)})") from None
    except ValueError:  # SQLAlchemy's URL parser: a port that is not a number, an unclosed [IPv6 host
        raise RegistryUnavailableError(uri=shown, problem="not a valid database URL (its host or port cannot be "
                                                          "read)") from None
    try:
        with engine.connect():
            pass
    except (SQLAlchemyError, OSError) as e:
        raise RegistryUnavailableError(uri=shown, problem=reason(e, uri), connect=True) from None
    finally:
        engine.dispose()


def probe_http(uri: str, shown: str) -> None:
    """Cap MLflow's HTTP retries (unless set) and check once that the server's port answers."""
    for name, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    parts = urlsplit(uri)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RegistryUnavailableError(uri=shown, problem="the port is not a number") from None
    if not host or (getproxies().get(parts.scheme) and not proxy_bypass(host)):
        return  # through a proxy: only MLflow's own (capped) requests can tell
    try:
        socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        why = {"ConnectionRefusedError": "connection refused", "TimeoutError": "no answer within "
               f"{_CONNECT_TIMEOUT_S} s", "gaierror": "unknown host"}.get(type(e).__name__, reason(e, uri))
        raise RegistryUnavailableError(uri=shown, problem=why, connect=True) from None
