"""Early-warning replay on county folders: precision, recall and delay beside the naive baseline.

    AGCREDIT_TOKEN_KEY=agcredit-demo-token-key nice .venv/bin/python benchmarks/bench_alerts.py \\
        /work/data/sh-demo /work/data/sh-eval /work/data/ne-eval [--cache /work/data/cache] [--no-crop-model]

For each county: the alert thresholds are tuned on its last two past seasons against the farmers'
records of those seasons (each scored with expectations from the seasons before it; never truth),
then the current season is replayed acquisition by acquisition (``agcredit evaluate alerts``).
Figures are labelled synthetic or real. Prints one summary table (wall and CPU seconds: the machine
is shared, wall time is pessimistic), one row per county and event type, then each county's full
evaluation.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.evaluation.alerts import evaluate_alerts, format_alert_evaluation  # noqa: E402


def _f(v: object) -> str:
    return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("counties", nargs="+")
    ap.add_argument("--cache", default=None, help="series cache folder (default: <county>/.cache/series)")
    ap.add_argument("--no-crop-model", dest="crop_model", action="store_false",
                    help="leave CROP_MISMATCH out (no crop-type model fitted; faster)")
    ap.add_argument("--weather", nargs="*", default=None,
                    help="a daily weather table per county, in the order of the counties (default: each county's "
                         "weather/daily.csv when it has one), for --timing gdd")
    ap.add_argument("--timing", choices=("days", "gdd"), default="days",
                    help="the collapse timing in calendar days (default) or growing degree days")
    args = ap.parse_args()
    if args.weather is not None and len(args.weather) != len(args.counties):
        ap.error("--weather: give one table per county")
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")
    rows, texts = [], []
    events = []
    for i, c in enumerate(args.counties):
        t, cpu = time.time(), time.process_time()
        ev = evaluate_alerts(c, crop_model=args.crop_model, cache_dir=args.cache,
                             weather=args.weather[i] if args.weather else None, timing_unit=args.timing,
                             progress=lambda m: print(m, file=sys.stderr, flush=True))
        m, b = ev.metrics, ev.baseline
        rows.append((Path(c).name, ev.season, ev.label, m["fields"], m["events"], m["precision"], m["recall"],
                     m["median_delay_obs"], b["precision"], b["recall"], b["median_delay_obs"], time.time() - t,
                     time.process_time() - cpu))
        texts.append(format_alert_evaluation(ev))
        for r in ev.by_event.itertuples(index=False):
            events.append((Path(c).name, r.event, r.events, r.detected, r.recall, r.median_delay_obs))
        for r in ev.by_alert.itertuples(index=False):
            events.append((Path(c).name, f"alert {r.alert}", r.raised, r.right, r.precision, None))
    head = ("county", "season", "data", "fields", "events", "precision", "recall", "delay", "naive P", "naive R",
            "naive delay", "seconds", "cpu s")
    print(" ".join(f"{h:>11}" for h in head))
    for r in rows:
        print(" ".join(f"{_f(v) if not isinstance(v, float) or h not in ('seconds', 'cpu s') else f'{v:.0f}':>11}"
                       for h, v in zip(head, r, strict=True)))
    print("targets: precision >= 0.95, recall >= 0.90, median delay <= 2 clear observations after onset")
    print()
    print(f"{'county':>11} {'event / alert':>22} {'n':>6} {'hit/right':>10} {'rec/prec':>9} {'delay':>6}")
    for r in events:
        print(f"{r[0]:>11} {r[1]:>22} {r[2]:>6} {r[3]:>10} {_f(r[4]):>9} {_f(r[5]):>6}")
    for text in texts:
        print()
        print(text)


if __name__ == "__main__":
    main()
