"""Masking of registry URIs for messages (models._registry_uri.safe_uri)."""

from __future__ import annotations

import pytest

from models._registry_uri import safe_uri


@pytest.mark.parametrize(("uri", "shown"), [
    ("http://user:s3cret@127.0.0.1:5000", "http://user:***@127.0.0.1:5000"),
    # an '@' inside the password (not percent-encoded): the authority ends at the last '@' before the path
    ("http://user:p@ssw0rd@127.0.0.1:5000", "http://user:***@127.0.0.1:5000"),
    ("postgresql://u:a@b@c@h:5432/db?password=x", "postgresql://u:***@h:5432/db?password=***"),
    ("http://user:pw@host/path@x?q=a@b", "http://user:***@host/path@x?q=a@b"),
    ("sqlite:////tmp/a@b/mlflow.db", "sqlite:////tmp/a@b/mlflow.db"),
    # a '/' in the password (a review, session 77: shown whole, for the registry and a Dask scheduler's address)
    ("postgresql://bank:pa/ss@127.0.0.1:5999/mlf", "postgresql://bank:***@127.0.0.1:5999/mlf"),
    ("tcp://bank:pa/ss@127.0.0.1:8786", "tcp://bank:***@127.0.0.1:8786"),
    ("http://user:a/b/c@host:5000/x@y", "http://user:***@host:5000/x@y"),
    # a '#' or '?' in the password (masked before the '@' fix, shown whole after it)
    ("http://user:p#ss@127.0.0.1:5000", "http://user:***@127.0.0.1:5000"),
    ("http://user:p?ss@host/x", "http://user:***@host/x"),
    ("http://user:p#s@s@host:5000/x", "http://user:***@host:5000/x"),
    # a user name holding '@' (Azure's user@server): the password was shown
    ("postgresql://admin@srv:pw1@srv.example/db", "postgresql://admin@srv:***@srv.example/db"),
    ("http://user@host:5000/x", "http://user@host:5000/x"),
    # typed without its scheme:// (the password was shown whole in "a folder ... is not supported")
    ("bank:s3cret@127.0.0.1:1/mlf", "bank:***@127.0.0.1:1/mlf"),
    ("bank:s3c@ret@127.0.0.1:1/mlf", "bank:***@127.0.0.1:1/mlf"),
    ("postgresql:/u:s3cret@h/db", "postgresql:***@h/db"),
    ("postgresql//u:s3cret@h/db", "postgresql//u:***@h/db"),
    ("/tmp/a@b/mlflow.db", "/tmp/a@b/mlflow.db"),
    # an API key or access token in the query (a tracking server behind a gateway): masked like a password
    ("https://h/mlflow?access_token=t0k&api_key=k3y", "https://h/mlflow?access_token=***&api_key=***"),
    ("https://h/mlflow?KEY=k3y&region=eu", "https://h/mlflow?KEY=***&region=eu"),
])
def test_safe_uri_masks_the_whole_password(uri: str, shown: str) -> None:
    assert safe_uri(uri) == shown
