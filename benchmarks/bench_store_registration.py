"""Decision store: what a writer's policy-registration check costs (``_check_registration_witnessed``, run once per
policy version by every writer — underwrite, override, reunderwrite — under the write lock), on stores of N records.

Each store is filled with N synthetic decisions naming one policy version (``bench_store.make_items`` bodies of about
``--body-bytes`` with a policy block; rows inserted directly, the check reads no link), on a SQLite file and on a
PostgreSQL server started on loopback (``tests/pgserver.py``; fsync off: the check only reads). A fresh store
object checks the registration three times: "first" is a run's first check on a store that has no witness row yet
(a store of an earlier release: the latest record holding the hash is looked for from the chain's end, then noted),
"then" the check of every later run (the witnessed record read back).

Run: ``nice .venv/bin/python benchmarks/bench_store_registration.py [--n 200,50000,500000] [--body-bytes 9000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import sqlalchemy as sa  # noqa: E402
from bench_store import make_items  # noqa: E402

from underwriting._store_schema import decisions, meta  # noqa: E402
from underwriting.store import DecisionStore, policy_meta_key  # noqa: E402

PID, VERSION, DIGEST = "agcredit-default", "2026.12.10", "3a0c243161d6eb37b1ae4b7ff392e6a7968557397b24213709266bb5f5eebe48"


def fill(url: str, n: int, body_bytes: int) -> None:
    with DecisionStore(url):  # the schema and its guards
        pass
    engine = sa.create_engine(url)
    policy = {"content_hash": DIGEST, "id": PID, "version": VERSION}
    with engine.begin() as conn:
        conn.execute(sa.insert(meta), [{"key": policy_meta_key(PID, VERSION), "value": DIGEST}])
        template = make_items(200, 0, body_bytes)
        for start in range(0, n, 2000):
            rows = []
            for i in range(start, min(n, start + 2000)):
                item = template[i % len(template)]
                body = json.dumps({**item.body, "policy": policy}, sort_keys=True, separators=(",", ":"))
                rows.append({"seq": i + 1, "record_id": f"r{i:012d}", "prev_hash": None, "record_hash": "0" * 64,
                             "written_at": "2025-08-01T00:00:00Z", "operator": "bench", "kind": "underwrite",
                             "supersedes": None, "application_id": f"A{i:09d}", "farmer_token": item.farmer_token,
                             "season": item.season, "as_of": item.as_of, "outcome": item.outcome,
                             "limit": item.limit, "currency": item.currency, "reason_codes": "", "body_hash": "0" * 64,
                             "body": body})
            conn.execute(sa.insert(decisions), rows)
    engine.dispose()


def checked(url: str) -> str:
    took = []
    for _ in range(3):
        st = DecisionStore(url, create=False)
        try:
            with st._write() as conn:
                t = time.perf_counter()
                st._check_registration_witnessed(conn, PID, VERSION, DIGEST)
                took.append(time.perf_counter() - t)
        finally:
            st.close()
    return f"first {took[0] * 1000:.1f} ms, then {min(took[1:]) * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="200,50000,500000", help="store sizes, comma-separated")
    ap.add_argument("--body-bytes", type=int, default=9000)
    args = ap.parse_args()
    from tests.pgserver import postgres_server

    with postgres_server() as pg, tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.n.split(",")):
            admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f"CREATE DATABASE reg{n}")
            admin.dispose()
            url, sq = pg.rsplit("/", 1)[0] + f"/reg{n}", f"sqlite:///{Path(tmp) / f'reg{n}.db'}"
            fill(url, n, args.body_bytes)
            fill(sq, n, args.body_bytes)
            print(f"{n:>9,} records: PostgreSQL {checked(url)}; SQLite {checked(sq)}", flush=True)
            (Path(tmp) / f"reg{n}.db").unlink()


if __name__ == "__main__":
    main()
