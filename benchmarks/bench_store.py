"""Decision store: appending and verifying the audit chain on SQLite and on PostgreSQL, in the same run.

Rows, per backend (``underwriting.store.DecisionStore``):

- append N records in one call (one transaction: how ``underwrite`` writes a batch);
- append K records one call each (how a service deciding one application at a time writes);
- verify the whole chain (N + K records: every link, body hash and record hash, then the guard triggers);
- read the latest record of one application (median of 50 look-ups);
- export the season's records to a DataFrame (``records``).

Backends: a SQLite file (the default store) and a PostgreSQL server started here on loopback with its default
durability (``fsync`` on; the server binaries from ``/usr/lib/postgresql/*/bin``, as the tests use; without them the
row says why and the SQLite figures still print). Records are synthetic decisions (seeded) whose bodies are about
``--body-bytes`` of canonical JSON (the demo's 275 decision bodies average 8.9 kB).

Run: ``nice .venv/bin/python benchmarks/bench_store.py [--n 10000] [--k 500] [--body-bytes 9000]
[--backends sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from underwriting.records import DecisionItem  # noqa: E402
from underwriting.store import DecisionStore  # noqa: E402

SEASON = "2025"


def make_items(n: int, start: int, body_bytes: int) -> list[DecisionItem]:
    """``n`` synthetic decisions (applications ``start`` … ``start + n - 1``), bodies of about ``body_bytes``."""
    import numpy as np

    rng = np.random.default_rng(20261201 + start)
    out = []
    per_field = 490  # bytes of canonical JSON per field entry below (measured)
    n_fields = max(1, body_bytes // per_field)
    for i in range(start, start + n):
        fields = [{"field_id": f"F{i:06d}-{k}", "crop": "maize", "area_ha": round(float(rng.uniform(1, 5)), 3),
                   "yield_p10_t_ha": round(float(rng.uniform(2, 4)), 3),
                   "yield_p50_t_ha": round(float(rng.uniform(4, 6)), 3),
                   "yield_p90_t_ha": round(float(rng.uniform(6, 8)), 3),
                   "evidence": {"n_clear_obs": int(rng.integers(5, 30)), "crop_type_prob": round(float(rng.random()), 4),
                                "growth_stage": "vegetative", "emergence_date": "2025-06-01",
                                "expected_harvest_date": "2025-10-10", "planted_fraction": round(float(rng.random()), 4),
                                "notes": "x" * 180}}
                  for k in range(n_fields)]
        limit = int(rng.integers(10, 400)) * 100_000
        body = {"application": {"application_id": f"A{i:07d}", "requested_amount": limit + 100_000},
                "limit": limit, "outcome": "REDUCE", "fields": fields,
                "computation": {"collateral_value": limit * 2, "advance_rate": 0.5, "binding": "collateral"}}
        out.append(DecisionItem(idempotency_key=f"bench-{i}", application_id=f"A{i:07d}", farmer_token=f"tok{i:07d}",
                                season=SEASON, as_of="2025-08-01", outcome="REDUCE", limit=limit, currency="USD",
                                reason_codes=("LOW_STRESSED_YIELD",), body=body))
    return out


@contextmanager
def sqlite_store(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'decisions.db'}"


def postgres_store() -> AbstractContextManager[str] | str:
    """A durable PostgreSQL server on loopback (context manager yielding its URL), or why there is none."""
    try:
        from tests.pgserver import postgres_available, postgres_server
    except ImportError as e:  # the tests folder is not importable (an installed package without it)
        return f"tests/pgserver.py not importable ({e})"
    ok, why = postgres_available()
    if not ok:
        return why
    return postgres_server(durable=True)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_backend(url: str, n: int, k: int, body_bytes: int) -> list[tuple[str, str]]:
    batch, singles = make_items(n, 0, body_bytes), make_items(k, n, body_bytes)
    mean_body = statistics.fmean(len(i.body_json.encode()) for i in batch[:200])
    rows: list[tuple[str, str]] = [("mean body size", f"{mean_body:,.0f} B")]
    with DecisionStore(url) as st:
        s, res = timed(lambda: st.append(batch, operator="bench"))
        assert res.written == n, res  # type: ignore[attr-defined]
        rows.append((f"append {n:,} records, one call", f"{s:.2f} s ({n / s:,.0f} records/s)"))
        t = time.perf_counter()
        for item in singles:
            assert st.append([item], operator="bench").written == 1
        s = time.perf_counter() - t
        rows.append((f"append {k:,} records, one call each", f"{s:.2f} s ({1000 * s / k:.1f} ms per record)"))
        s, again = timed(lambda: st.append(batch[:1000], operator="bench"))
        assert again.written == 0, again  # type: ignore[attr-defined]
        rows.append(("re-append 1,000 stored records (nothing written)", f"{s:.2f} s"))
        s, ver = timed(st.verify)
        assert ver.ok and ver.count == n + k, ver  # type: ignore[attr-defined]
        rows.append((f"verify the whole chain ({n + k:,} records)", f"{s:.2f} s"))
        looks = []
        for i in range(0, n, max(1, n // 50)):
            t = time.perf_counter()
            assert st.latest(f"A{i:07d}") is not None
            looks.append(time.perf_counter() - t)
        rows.append(("latest record of one application (median of 50)", f"{1000 * statistics.median(looks):.1f} ms"))
        s, frame = timed(lambda: st.records(SEASON))
        rows.append((f"records of the season as a table ({len(frame):,} rows)", f"{s:.2f} s"))  # type: ignore[arg-type]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="records appended in one call")
    ap.add_argument("--k", type=int, default=500, help="records appended one call each")
    ap.add_argument("--body-bytes", type=int, default=9000)
    ap.add_argument("--backends", default="sqlite,postgres")
    a = ap.parse_args()
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "bench-token-key-0123456789")
    results: dict[str, list[tuple[str, str]] | str] = {}
    for backend in [b.strip() for b in a.backends.split(",") if b.strip()]:
        with tempfile.TemporaryDirectory(prefix=f"agcredit-bench-store-{backend}-") as d:
            if backend == "sqlite":
                ctx: AbstractContextManager[str] | str = sqlite_store(Path(d))
            elif backend == "postgres":
                ctx = postgres_store()
            else:
                raise SystemExit(f"unknown backend {backend!r}: sqlite or postgres")
            if isinstance(ctx, str):
                results[backend] = f"not available: {ctx}"
                continue
            with ctx as url:
                results[backend] = bench_backend(url, a.n, a.k, a.body_bytes)
    names = ("SQLite file", "PostgreSQL (loopback, fsync on)")
    labels = dict(zip(("sqlite", "postgres"), names, strict=True))
    print(f"decision store benchmark (synthetic records; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f})")
    rows = next((r for r in results.values() if isinstance(r, list)), [])
    w = max([len(m) for m, _ in rows] + [10])
    cols = list(results)
    print(f"{'measure':<{w}}  " + "  ".join(f"{labels.get(c, c):<34}" for c in cols))
    for j, (m, _) in enumerate(rows):
        cells = []
        for c in cols:
            r = results[c]
            cells.append(r[j][1] if isinstance(r, list) else (r if j == 0 else ""))
        print(f"{m:<{w}}  " + "  ".join(f"{x:<34}" for x in cells))


if __name__ == "__main__":
    main()
