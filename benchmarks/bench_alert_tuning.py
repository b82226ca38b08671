"""Alert-threshold tuning (what `agcredit train crop-type --county` and `evaluate alerts` run): seconds and the
thresholds chosen, on every field of a season against deterministic samples of it (``tune_params(max_fields=)``).

    nice .venv/bin/python benchmarks/bench_alert_tuning.py [COUNTY ...] [--cache DIR] [--caps 500,1000,2000]

Default counties: /work/data/{sh-demo,ne-demo,sh-eval,ne-eval} (those that exist). The series are read first
(cached, not timed); each row times the tuning alone, one process (wall and CPU seconds). A row's thresholds equal
to the "all" row's mean the sample pins them as well. Needs AGCREDIT_TOKEN_KEY (the demo's key by default).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DEFAULT = [Path("/work/data") / n for n in ("sh-demo", "ne-demo", "sh-eval", "ne-eval")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("counties", nargs="*", type=Path)
    ap.add_argument("--cache", type=Path, default=Path("/work/data/cache"))
    ap.add_argument("--caps", default="500,1000,2000", help="sample sizes to compare with every field")
    a = ap.parse_args()
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")
    import pandas as pd

    from features.threads import thread_map
    from pipelines._alert_fit import county_alert_params
    from pipelines.county import County

    caps = [int(c) for c in a.caps.split(",") if c.strip()]
    print(f"{'county':<10}{'fields/season':>14}{'sample':>8}{'wall s':>8}{'CPU s':>8}  thresholds")
    for path in a.counties or [p for p in DEFAULT if p.is_dir()]:
        c = County(path, cache_dir=a.cache)
        seasons = c.past_seasons
        series = pd.concat(thread_map(c.series, seasons), ignore_index=True)
        n = len(c.fields(seasons[-1]))
        for cap in [0, *[x for x in caps if x < n]]:
            w, t = time.perf_counter(), time.process_time()
            got = county_alert_params(c, seasons, series, max_fields=cap)
            w, t = time.perf_counter() - w, time.process_time() - t
            shown = ", ".join(f"{k} {v}" for k, v in (got or {}).items()) or "defaults (too few seasons/diaries)"
            print(f"{path.name:<10}{n:>14,}{'all' if cap == 0 else f'{cap:,}':>8}{w:>8.1f}{t:>8.1f}  {shown}")


if __name__ == "__main__":
    main()
