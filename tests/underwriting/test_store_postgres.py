"""PostgreSQL-only behaviour of the decision store, against a real server on loopback.

The backend-neutral tests (append, idempotency, tamper, kill, concurrency) run on
PostgreSQL too, through the parametrised store fixture of test_store.py.
"""

from __future__ import annotations

import glob
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import require
from tests.pgserver import postgres_available, postgres_server
from tests.underwriting.test_store import make_items
from underwriting._store_schema import CHAIN_LOCK_KEY
from underwriting.errors import StoreError
from underwriting.store import DecisionStore


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    ok, why = postgres_available()
    require(ok, why)
    with postgres_server() as url:
        yield url


def _port_of(root: Path) -> int | None:
    """The port in a server folder's ``data/postmaster.pid`` (its fourth line), or None."""
    try:
        lines = (root / "data" / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, IndexError, ValueError):
        return None


def test_server_starts_and_is_removed() -> None:
    ok, why = postgres_available()
    require(ok, why)
    with postgres_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert url.startswith("postgresql+psycopg2://agcredit@127.0.0.1:")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT 1")) == 1
        engine.dispose()
        # this server's folder: the one whose postmaster.pid names its port (other test workers run servers too)
        ours = [d for d in glob.glob(str(Path(tempfile.gettempdir()) / "agcredit-pg-*")) if _port_of(Path(d)) == port]
        assert len(ours) == 1
    assert not Path(ours[0]).exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_truncate_is_rejected(pg_url: str) -> None:
    with DecisionStore(pg_url) as store:
        store.append(make_items(3, start=900), operator="op")
        engine = sa.create_engine(pg_url)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE agc_decisions")
        engine.dispose()
        assert store.count() >= 3 and store.verify().ok


def test_appends_hold_the_chain_lock(pg_url: str) -> None:
    """While one writer's transaction is open, nobody else can take the chain's advisory lock."""
    other = sa.create_engine(pg_url)
    with DecisionStore(pg_url) as store:
        with store._write() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM agc_decisions")) is not None
            with other.connect() as o:
                assert o.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY}) is False
        with other.connect() as o:
            assert o.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY}) is True
    other.dispose()


def test_plain_postgresql_url_uses_psycopg2(pg_url: str) -> None:
    with DecisionStore(pg_url.replace("postgresql+psycopg2://", "postgresql://")) as store:
        assert store.dialect == "postgresql" and store.verify().ok


def test_unreachable_server_is_one_line_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://agcredit:s3cret@127.0.0.1:{port}/postgres"
    with pytest.raises(StoreError, match=r"decision store postgresql\+psycopg2://agcredit:\*\*\*@") as info:
        DecisionStore(url)
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)
