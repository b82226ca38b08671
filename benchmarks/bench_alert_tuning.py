"""Alert-threshold tuning (what `agcredit train crop-type --county` and `evaluate alerts` run): seconds and the
thresholds chosen, on every field of a season against deterministic samples of it (``tune_params(max_fields=)``).

    nice .venv/bin/python benchmarks/bench_alert_tuning.py [COUNTY ...] [--cache DIR] [--caps 500,1000,2000]
    .venv/bin/python benchmarks/bench_alert_tuning.py COUNTY... --beside [--cache DIR]

Default counties: /work/data/{sh-demo,ne-demo,sh-eval,ne-eval} (those that exist). The series are read first
(cached, not timed); each row times the tuning alone, one process (wall and CPU seconds). A row's thresholds equal
to the "all" row's mean the sample pins them as well. Needs AGCREDIT_TOKEN_KEY (the demo's key by default).

``--beside`` times the whole crop-type training of each county (``train_crop_type_county``, nothing registered)
twice, the tuning run in this process after the phenology fit (as before this release) and beside the fit in a
process of its own (``pipelines._alert_fit.county_alert_params_beside``, the default), and says whether the
thresholds are equal; its figures are this process's wall time and the CPU seconds of this process and its finished
children (run it on an otherwise idle machine: the point is the wall time two cores give).
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
    ap.add_argument("--beside", action="store_true", help="time the crop-type training, tuning in process / beside")
    a = ap.parse_args()
    os.environ.setdefault("AGCREDIT_TOKEN_KEY", "agcredit-demo-token-key")
    if a.beside:
        _beside(a.counties, a.cache)
        return
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


def _beside(counties: list[Path], cache: Path) -> None:
    """The crop-type training with the tuning in this process, then beside the fit (the default)."""
    from unittest import mock

    from pipelines import _alert_fit
    from pipelines.county import County
    from pipelines.demo import _cpu  # this process's and its finished children's CPU seconds, as the demo counts
    from pipelines.train_crop import train_crop_type_county

    print(f"{'county':<16}{'tuning':>11}{'wall s':>8}{'CPU s':>8}  thresholds")
    for path in counties:
        c = County(path, cache_dir=cache)
        for season in c.past_seasons:
            c.series(season)  # cached first, so both runs read the same series from the cache
        got: dict[str, dict[str, dict[str, object]]] = {}
        for how in ("in process", "beside"):
            floor = 10**9 if how == "in process" else _alert_fit.BESIDE_MIN_FIELDS
            with mock.patch.object(_alert_fit, "BESIDE_MIN_FIELDS", floor):
                w, t = time.perf_counter(), _cpu()
                res = train_crop_type_county(County(path, cache_dir=cache), register=False, promote=False)
                w, t = time.perf_counter() - w, _cpu() - t
            got[how] = res.classifier.alert_params_ or {}
            shown = ", ".join(f"{k} {v}" for r in got[how].values() for k, v in r.items()) or "defaults"
            print(f"{path.name:<16}{how:>11}{w:>8.1f}{t:>8.1f}  {shown}")
        print(f"{'':<16}thresholds {'equal' if got['in process'] == got['beside'] else 'DIFFER'}")


if __name__ == "__main__":
    main()
