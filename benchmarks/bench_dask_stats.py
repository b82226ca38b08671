"""Benchmark: the Statistical API (``--imagery sentinelhub-stats``) fetched on one machine vs per spatial block on a
Dask local cluster of 1 and 2 workers (:func:`pipelines._dask_stats.fetch_statistics_on`, what ``reunderwrite
--workers``' series step runs).

Offline: a threaded HTTP server on 127.0.0.1, started here, answers the OAuth token and the Statistical API's request
shape (daily intervals, NDVI statistics every 3rd day, as the mocked tests' answers) after a fixed latency per
request; the endpoint ``cdse`` is pointed at it in this process and in every worker (``Client.run``), and OAuth is
allowed over plain http for it (``OAUTHLIB_INSECURE_TRANSPORT``, this benchmark only). Every run starts from an empty
cache, so each field is one request. The Statistical API is one request per field, sent one after another by a
fetch: one machine's wall time is about fields × latency, a cluster's that over its workers. Printed: a table of
wall seconds (the cluster started beforehand, its start-up timed apart) and requests, and that every run's series is
one machine's.

    PYTHONPATH=. nice .venv/bin/python benchmarks/bench_dask_stats.py [--fields 120] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SEASON, START, END = "2023", date(2023, 6, 1), date(2023, 7, 20)


class _Service(BaseHTTPRequestHandler):
    """The token endpoint and the Statistical API, after ``latency`` seconds each request (counted)."""

    latency = 0.1
    counts = {"token": 0, "statistics": 0}
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:  # quiet
        return None

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/token"):
            with self.lock:
                self.counts["token"] += 1
            self._answer({"access_token": "aaa.eyJhenAiOiJ4In0.sig", "token_type": "Bearer", "expires_in": 3600})
            return
        if not self.path.endswith("/api/v1/statistics"):
            self.send_error(404)
            return
        time.sleep(self.latency)
        with self.lock:
            self.counts["statistics"] += 1
        req = json.loads(body)
        rng = req["aggregation"]["timeRange"]
        x0 = float(req["input"]["bounds"]["geometry"]["coordinates"][0][0][0])
        data, d = [], date.fromisoformat(rng["from"][:10])
        while d < date.fromisoformat(rng["to"][:10]):
            if d.day % 3 == 1:
                m = round(0.2 + d.timetuple().tm_yday / 1000 + (x0 % 1000) / 1e5, 6)
                st = {"mean": m, "stDev": 0.05, "sampleCount": 40, "noDataCount": d.day % 4,
                      "percentiles": {"10.0": m - 0.1, "50.0": m, "90.0": m + 0.1}}
                data.append({"interval": {"from": f"{d}T00:00:00Z", "to": f"{d + timedelta(days=1)}T00:00:00Z"},
                             "outputs": {"NDVI": {"bands": {"B0": {"stats": st}}}}})
            d += timedelta(days=1)
        self._answer({"data": data, "status": "OK"}, {"x-processingunits-spent": "0.01"})

    def _answer(self, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)


def point_at(url: str) -> None:
    """The ``cdse`` endpoint of this process pointed at the loopback service (run on each worker too)."""
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    from features.sources import sentinelhub as sh

    sh.ENDPOINTS["cdse"] = {**sh.ENDPOINTS["cdse"], "base_url": url, "token_url": f"{url}/token"}


def make_fields(n: int) -> Any:
    """``n`` small fields (~0.25 ha) on a 100 m grid in southern India."""
    import geopandas as gpd
    from shapely.geometry import box

    side = max(1, int(n ** 0.5))
    geoms = [box(77.0 + 0.001 * (i % side), 12.0 + 0.001 * (i // side), 77.0005 + 0.001 * (i % side),
                 12.0005 + 0.001 * (i // side)) for i in range(n)]
    return gpd.GeoDataFrame({"field_id": [f"F{i:05d}" for i in range(n)], "season": [SEASON] * n},
                            geometry=geoms, crs="EPSG:4326")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=120)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--chunk-fields", type=int, default=30, help="fields per spatial block")
    args = ap.parse_args(argv)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    _Service.latency = args.latency_ms / 1000.0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ.setdefault("SH_CLIENT_ID", "bench-client")  # the loopback service takes any
    os.environ.setdefault("SH_CLIENT_SECRET", "bench-secret")
    point_at(url)

    from features.sources import sentinelhub as sh
    from pipelines._dask_stats import fetch_statistics_on
    from pipelines.distributed import dask_runner

    fields = make_fields(args.fields)
    rows: list[tuple[str, float, float, int, int, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-dask-stats-") as tmp:
        def timed(label: str, fn: Any, setup_s: float = 0.0) -> Any:
            before = _Service.counts["statistics"]
            t0 = time.perf_counter()
            res = fn(Path(tmp) / label.replace(" ", "-"))  # a fresh cache: every field asked
            wall = time.perf_counter() - t0
            n_req = _Service.counts["statistics"] - before
            rows.append((label, setup_s, wall, n_req, res.summary.requests,
                         "yes" if base is None or res.series.equals(base.series) else "NO"))
            return res

        base = None
        base = timed("one machine", lambda c: sh.fetch_statistics(fields, SEASON, START, END, cache_dir=c))
        for n in (1, 2):
            t0 = time.perf_counter()
            with dask_runner(workers=n) as runner:
                runner.client.run(point_at, url)
                started = time.perf_counter() - t0
                timed(f"dask --workers {n}", lambda c, r=runner: fetch_statistics_on(
                    r, args.chunk_fields, fields, SEASON, START, END, cache_dir=c), started)
    server.shutdown()
    n_blocks = -(-args.fields // args.chunk_fields)
    print(f"Statistical API, {args.fields} fields, {args.latency_ms:.0f} ms per request, {n_blocks} spatial blocks "
          f"of <= {args.chunk_fields} fields, window {START} to {END}, a fresh cache each run")
    print(f"{'run':<18} {'cluster start s':>15} {'wall s':>8} {'HTTP requests':>14} {'summary.requests':>17} "
          f"{'series = one machine':>21}")
    for label, setup_s, wall, n_req, counted, same in rows:
        print(f"{label:<18} {setup_s:>15.1f} {wall:>8.2f} {n_req:>14d} {counted:>17d} {same:>21}")
    return 0 if all(r[5] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
