"""The model-validation report: the JSON outputs of ``agcredit evaluate …`` rendered into one self-contained HTML page.

A model-risk team signs a model off from a validation pack. :func:`write_validation_report` reads one to five
evaluation JSONs (``agcredit evaluate alerts|growth-stage|area|crop-type|yield --json``, any counties), tells each
one's kind from its keys (:func:`evaluation_kind`), and writes one page: per evaluation a header (county, region,
seasons, what was trained or tuned on what, the interval method, a SYNTHETIC banner where the JSON says its county is
simulated), the gated figures against their targets (the data file ``pipelines/data/validation_targets.yaml``:
met, not met, or the interval straddling the target), each beside its naive baseline where the JSON holds one
(none for the calibration error: the declared crop gives no probabilities), the evaluation's own tables
and inline SVG charts (:mod:`pipelines._validation_sections`), and a provenance footer (each input's file name and
sha256, the agcredit version, the targets file's sha256, the generation time — fixed by ``generated_at`` so two runs
on the same inputs give the same bytes).

Nothing personal is printed: the evaluations' JSONs hold aggregates only (counts, shares, errors by group, class
and season), and the page names the county folder by its last component, not its path — by as many last components
as tell it apart where two counties of the inputs share a folder name (``runA/county``, ``runB/county``): counties
are told apart by their whole path as the JSON records it (:func:`_county_keys`).

The file is written atomically (:func:`features.atomic.write_bytes_atomic`): on any error no file is left.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from pipelines.errors import RunInputError

__all__ = ["KINDS", "POINT_MET", "Evaluation", "Gate", "TARGETS_FILE", "evaluation_kind", "gates", "load_evaluation",
           "load_targets", "lookup", "render_validation_report", "write_validation_report"]

#: the shipped targets of the gated figures, per evaluation kind and region
TARGETS_FILE = Path(__file__).parent / "data" / "validation_targets.yaml"

#: the evaluation kinds, in report order, each with the keys that tell its JSON apart
KINDS: dict[str, frozenset[str]] = {
    "crop-type": frozenset({"loso", "current", "baseline_declared", "current_season"}),
    "growth-stage": frozenset({"groups", "calibration", "calibration_seasons", "targets"}),
    "area": frozenset({"county_total", "groups", "never_planted"}),
    "yield": frozenset({"per_season", "summary", "targets"}),
    "alerts": frozenset({"metrics", "baseline", "by_event", "by_alert"}),
}
_COMMANDS = "alerts|growth-stage|area|crop-type|yield"


@dataclass(frozen=True)
class Evaluation:
    """One evaluation's JSON: its file name (no folder), sha256 of its bytes, kind and content."""

    name: str
    sha256: str
    kind: str
    data: dict[str, Any]
    #: the county as the page names it and tells it apart (set by :func:`render_validation_report`); blank: below
    county_name: str = ""
    county_key: str = ""

    @property
    def county_path(self) -> str:
        """The county folder as the JSON records it (``/`` separators, no trailing one)."""
        return str(self.data.get("county") or "").replace("\\", "/").rstrip("/")

    @property
    def county(self) -> str:
        """The county as the page names it: :attr:`county_name`, else the folder's last component (its path is not
        printed)."""
        return self.county_name or self.county_path.rsplit("/", 1)[-1] or "unnamed county"

    @property
    def region(self) -> str | None:
        r = self.data.get("region")
        return str(r) if isinstance(r, str) and r else None

    @property
    def synthetic(self) -> bool | None:
        """True where the JSON labels its data synthetic (``label``: alerts, area, growth stage; ``data``: crop
        type, yield); False where it labels them otherwise; None where it says nothing."""
        said = [v for v in (self.data.get("label"), self.data.get("data")) if isinstance(v, str)]
        if not said:
            return None
        return any(s.strip().lower() == "synthetic" for s in said)


def evaluation_kind(data: object) -> str | None:
    """The kind of an evaluation's JSON (a key of :data:`KINDS`), from its keys; None when it is none of them."""
    if not isinstance(data, dict):
        return None
    found = [k for k, keys in KINDS.items() if keys <= data.keys()]
    return found[0] if len(found) == 1 else None


def load_evaluation(path: str | Path) -> Evaluation:
    """Read one evaluation's JSON; a one-line :class:`~pipelines.errors.RunInputError` naming the file when it is
    missing, a folder, unreadable, empty, not JSON, not one of the five evaluations' JSON, or one with a part of
    another shape than the report reads (naming its key path: :mod:`pipelines._validation_shapes`)."""
    p = Path(path)
    if not p.exists():
        raise RunInputError(what=str(p), problem="no such file")
    if p.is_dir():
        raise RunInputError(what=str(p), problem="is a folder (expected an evaluation's JSON file)")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise RunInputError(what=str(p), problem=f"cannot be read ({e.strerror or type(e).__name__})") from None
    if not raw.strip():
        raise RunInputError(what=str(p), problem="is empty (expected an evaluation's JSON)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunInputError(what=str(p), problem="is not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise RunInputError(what=str(p), problem=f"is not JSON ({e.msg} at line {e.lineno} column {e.colno})") \
            from None
    kind = evaluation_kind(data)
    if kind is None:
        shape = f"an object with {len(data)} keys" if isinstance(data, dict) else f"a JSON {type(data).__name__}"
        raise RunInputError(what=str(p), problem=f"is not an evaluation's JSON (expected the output of `agcredit "
                                                 f"evaluate {_COMMANDS} --json`; found {shape}, not of any of them)")
    from pipelines._validation_shapes import misshapen

    bad = misshapen(kind, data, load_targets())
    if bad is not None:
        raise RunInputError(what=str(p), problem=f"is an evaluate {kind} JSON of an unexpected shape: {bad} (was it "
                                                 "edited or written by another release?)")
    return Evaluation(name=p.name, sha256=hashlib.sha256(raw).hexdigest(), kind=kind, data=data)


def load_targets(path: str | Path | None = None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The targets file (default :data:`TARGETS_FILE`): kind -> region (or ``all``) -> rows."""
    import yaml

    with open(TARGETS_FILE if path is None else path, encoding="utf-8") as f:
        return dict(yaml.safe_load(f))


# -- reading figures out of a JSON ------------------------------------------------------------------------------------

def lookup(data: object, path: str) -> Any:
    """The value at ``path`` in ``data`` (keys joined by ``/``; ``[k=v,…]`` picks the list item whose keys hold those
    values, compared as text); None where any step is missing or of another shape."""
    cur = data
    for step in path.split("/"):
        if step.startswith("[") and step.endswith("]"):
            want = dict(part.split("=", 1) for part in step[1:-1].split(","))
            if not isinstance(cur, list):
                return None
            cur = next((item for item in cur if isinstance(item, dict)
                        and all(str(item.get(k)) == v for k, v in want.items())), None)
        elif isinstance(cur, dict):
            cur = cur.get(step)
        else:
            return None
        if cur is None:
            return None
    return cur


def number(v: object) -> float | None:
    """``v`` as a finite float; None for anything else (None, NaN, text, bool)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def interval(v: object) -> tuple[float, float] | None:
    """A ``[low, high]`` pair of finite numbers as a tuple; None for anything else."""
    if isinstance(v, list | tuple) and len(v) == 2:
        lo, hi = number(v[0]), number(v[1])
        if lo is not None and hi is not None:
            return (lo, hi)
    return None


def fmt_value(v: float | None, kind: str, extra: int = 0) -> str:
    """A figure as the report prints it (``kind``: the targets file's ``format``), with ``extra`` more decimals."""
    if v is None:
        return "—"
    if kind == "percent":
        p = v * 100
        return f"{p:.{2 + extra}f}%" if abs(p) < 1 else f"{p:.{1 + extra}f}%"
    if kind == "pct":
        return f"{v:.{1 + extra}f}%"
    if kind == "days":
        return f"{v:.{1 + extra}f} d"
    if kind == "obs":
        return f"{v:.{6 + extra}g}"
    return f"{v:.{3 + extra}f}"


def _as_printed(v: float, kind: str, extra: int) -> float:
    """The number :func:`fmt_value` prints for ``v`` (in ``v``'s unit)."""
    text = fmt_value(v, kind, extra).removesuffix("%").removesuffix(" d")
    return float(text) / (100 if kind == "percent" else 1)


def digits_apart(figures: Sequence[float | None], target: float | tuple[float, float], kind: str) -> int:
    """How many more decimals than :func:`fmt_value`'s the ``figures`` and the target need so that each figure reads
    on the side of each target end it is on — a value printed onto its target, or across it ("0.050 … ≤ 0.050 not
    met" for 0.05036: a review), is printed until the two differ (0.0504); at most 6 more."""
    ends = target if isinstance(target, tuple) else (target,)
    for extra in range(7):
        if all((_as_printed(v, kind, extra) > _as_printed(t, kind, extra)) == (v > t)
               and (_as_printed(v, kind, extra) < _as_printed(t, kind, extra)) == (v < t)
               for v in figures if v is not None and math.isfinite(v) for t in ends):
            return extra
    return 6


# -- gates ------------------------------------------------------------------------------------------------------------

MET, NOT_MET, STRADDLES, UNGATED, NOT_REPORTED = "met", "not met", "interval straddles the target", "not gated", \
    "not reported"
#: a figure the evaluation gives no interval (none in its JSON, null or NaN bounds) that meets its target: not
#: "met", which the page defines as the whole interval meeting it (a review: 3 of 7 crop-type gates "met" so)
POINT_MET = "met on the point; no interval"


@dataclass(frozen=True)
class Gate:
    """One gated figure of an evaluation and its verdict against its target."""

    label: str
    issue: int | None
    value: float | None
    ci: tuple[float, float] | None
    op: str
    target: float | tuple[float, float]
    verdict: str
    fmt: str
    baselines: dict[str, float | None] = field(default_factory=dict)
    note: str = ""

    @property
    def extra_digits(self) -> int:
        """The decimals the value, its interval and the target take beyond :func:`fmt_value`'s so that none reads
        on the wrong side of the target, or on it (:func:`digits_apart`)."""
        return digits_apart([self.value, *(self.ci or ())], self.target, self.fmt)

    @property
    def target_text(self) -> str:
        x = self.extra_digits
        if isinstance(self.target, tuple):
            return f"in {fmt_value(self.target[0], self.fmt, x)}–{fmt_value(self.target[1], self.fmt, x)}"
        return f"{'≥' if self.op == '>=' else '≤'} {fmt_value(self.target, self.fmt, x)}"


def _holds(v: float, op: str, target: float | tuple[float, float]) -> bool:
    if isinstance(target, tuple):
        return target[0] <= v <= target[1]
    return v >= target if op == ">=" else v <= target


def verdict(value: float, ci: tuple[float, float] | None, op: str, target: float | tuple[float, float]) -> str:
    """``met`` when the whole 95% interval meets the target, ``not met`` when none of it does (for a range target:
    wholly below or wholly above it), else ``interval straddles the target``; without an interval, the point:
    :data:`POINT_MET` or ``not met``."""
    if ci is None:
        return POINT_MET if _holds(value, op, target) else NOT_MET
    lo_ok, hi_ok = _holds(ci[0], op, target), _holds(ci[1], op, target)
    if lo_ok and hi_ok:
        return MET
    if isinstance(target, tuple):
        below, above = ci[1] < target[0], ci[0] > target[1]
        return NOT_MET if below or above else STRADDLES
    return NOT_MET if not lo_ok and not hi_ok else STRADDLES


def _all_or_none(ev: Evaluation, row: Mapping[str, Any], value: float, ci: tuple[float, float]
                 ) -> tuple[tuple[float, float], str]:
    """A share all or none of whose cases are right with a bootstrap interval of no width (an evaluation's JSON of
    an earlier release: 50 of 50 never-planted fields at 1.000–1.000, judged met on any number of cases — a review):
    the exact binomial interval of the row's count (``of``: where the JSON holds it); without a count, the interval
    from the point to the far end, so the verdict is never met on it."""
    from pipelines.evaluation._bootstrap import exact_interval

    of = number(lookup(ev.data, row["of"])) if row.get("of") else None
    if of is not None and of >= 1:
        lo, hi = exact_interval(round(value * of), int(of)) or [value, value]
        return (lo, hi), f"exact binomial interval of {int(of)} (the bootstrap's had no width)"
    return (0.0, 1.0), "the bootstrap's interval had no width and the count is not given"


def _row_target(row: Mapping[str, Any]) -> float | tuple[float, float]:
    t = row["target"]
    if row["op"] == "in":
        return (float(t[0]), float(t[1]))
    return float(t)


def gates(ev: Evaluation, targets: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
          region: str | None) -> tuple[list[Gate], list[str]]:
    """The gated figures of ``ev`` (the targets' ``all`` rows and its region's) and notes on what was not applied."""
    by_region = targets.get(ev.kind) or {}
    rows = list(by_region.get("all") or [])
    notes = []
    if region is not None:
        rows += list(by_region.get(region) or [])
    elif any(k != "all" for k in by_region):
        notes.append(f"the region is not stated: the targets of {', '.join(sorted(k for k in by_region if k != 'all'))} "
                     "not applied")
    out = []
    for row in rows:
        fmt = str(row.get("format", "share"))
        value = number(lookup(ev.data, row["figure"]))
        base = row.get("baseline") or {}
        if isinstance(base, str):
            base = {"baseline": base}
        baselines = {str(k): number(lookup(ev.data, p)) for k, p in base.items()}
        target = _row_target(row)
        op, issue = str(row["op"]), row.get("issue")
        if row.get("min_n") is not None:
            n = number(lookup(ev.data, row["n"])) if row.get("n") else None
            if n is None or n < float(row["min_n"]):
                out.append(Gate(row["label"], issue, value, interval(lookup(ev.data, row.get("ci") or
                                                                            row["figure"] + "_ci")),
                                op, target, UNGATED, fmt, baselines,
                                f"{0 if n is None else int(n)} fields, fewer than {row['min_n']}: shown as reported"))
                continue
        if value is None:
            if not row.get("optional"):
                out.append(Gate(row["label"], issue, None, None, op, target, NOT_REPORTED, fmt, baselines))
            continue
        ci_path = row.get("ci") or row["figure"] + "_ci"
        ci = interval(lookup(ev.data, ci_path))
        note = ""
        if fmt in ("share", "percent") and ci is not None and ci[0] == ci[1] and value in (0.0, 1.0):
            ci, note = _all_or_none(ev, row, value, ci)
        oracle = number(lookup(ev.data, row["oracle"])) if row.get("oracle") else None
        if oracle is not None and isinstance(target, float) and 0 < oracle < target:
            share = float(row.get("oracle_share", 0.8))
            note = f"relaxed to {share:.0%} of the oracle's {fmt_value(oracle, fmt)} (absolute {fmt_value(target, fmt)})"
            target = round(share * oracle, 6)
        if oracle is not None:
            baselines["oracle"] = oracle
        out.append(Gate(row["label"], issue, value, ci, op, target, verdict(value, ci, op, target), fmt, baselines,
                        note))
    return out, notes


# -- the page ---------------------------------------------------------------------------------------------------------

def _county_keys(evals: Sequence[Evaluation]) -> list[str]:
    """Each evaluation's county by its whole path as its JSON records it (a review: ``/data/runA/county`` and
    ``/data/runB/county`` had been one county, the one's region lent to the other); a bare folder name (a yield
    JSON records no more) is the one county of the inputs with a path ending in it, when there is exactly one."""
    paths = [ev.county_path for ev in evals]
    full = {p for p in paths if "/" in p}
    out = []
    for p in paths:
        same = [f for f in full if f.rsplit("/", 1)[-1] == p] if "/" not in p else []
        out.append(same[0] if len(same) == 1 else p)
    return out


def _county_names(keys: Sequence[str]) -> dict[str, str]:
    """Each county key → its shortest name of last path components that no other key's ends the same way
    (``county`` alone; ``runA/county`` beside ``runB/county``)."""
    uniq = list(dict.fromkeys(keys))
    split = {k: [x for x in k.split("/") if x] or ["unnamed county"] for k in uniq}
    out = {}
    for k, parts in split.items():
        n = next((n for n in range(1, len(parts) + 1)
                  if all(o[-n:] != parts[-n:] for j, o in split.items() if j != k)), len(parts))
        out[k] = "/".join(parts[-n:])
    return out


def _regions(evals: Sequence[Evaluation]) -> dict[str, str]:
    """County key -> region, from the inputs that name it (a yield or alerts JSON does not: another input of the same
    county may)."""
    out: dict[str, str] = {}
    for ev in evals:
        if ev.region is not None:
            out.setdefault(ev.county_key, ev.region)
    return out


@contextmanager
def _shape_checked(ev: Evaluation) -> Iterator[None]:
    """A JSON with its kind's keys but a part of another shape (a list where a table of figures belongs, text where
    a number does) is a one-line error naming the file, not a traceback."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as e:
        raise RunInputError(what=ev.name, problem=f"is an evaluate {ev.kind} JSON of an unexpected shape "
                                                  f"({type(e).__name__}); was it edited or written by another "
                                                  "release?") from None


def render_validation_report(evals: Sequence[Evaluation], *, generated_at: datetime, version: str,
                             targets: Mapping[str, Any] | None = None, targets_sha256: str = "") -> str:
    """The report's HTML text for ``evals`` (in the order given, grouped by county)."""
    from pipelines._validation_sections import CSS, evaluation_html, summary_html

    tg = load_targets() if targets is None else targets
    keys = _county_keys(evals)
    names = _county_names(keys)
    evals = [replace(ev, county_key=k, county_name=names[k]) for ev, k in zip(evals, keys, strict=True)]
    regions = _regions(evals)
    counties = list(dict.fromkeys(ev.county for ev in evals))
    order = sorted(evals, key=lambda e: (counties.index(e.county), list(KINDS).index(e.kind)))
    judged = []
    for ev in order:
        with _shape_checked(ev):
            judged.append((ev, *gates(ev, tg, regions.get(ev.county_key))))
    any_synthetic = any(ev.synthetic for ev in evals)
    stamp = generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = [f"<h1>Model validation report{' — SYNTHETIC data' if any_synthetic else ''}</h1>",
            f'<p class="sub">{len(evals)} evaluation{"s" * (len(evals) != 1)} of {len(counties)} '
            f'count{"ies" if len(counties) != 1 else "y"} ({escape(", ".join(counties))}); generated {stamp} by '
            f'agcredit {escape(version)}. Each figure is printed with its 95% interval and beside its naive baseline '
            'where the evaluation holds one (<i>no baseline</i> where it holds none, e.g. the calibration error: the '
            'declared crop gives no probabilities); a gated figure is <b>met</b> when its whole interval meets the target, <b>not met</b> when none of it '
            'does, and otherwise its <b>interval straddles the target</b>; a figure the evaluation gives no interval is '
            '<b>met on the point; no interval</b> when the figure meets the target (counted apart, never as met).</p>',
            summary_html(judged)]
    for i, (ev, gs, notes) in enumerate(judged):
        with _shape_checked(ev):
            body.append(evaluation_html(ev, gs, notes, regions.get(ev.county_key), anchor=f"e{i + 1}"))
    rows = "".join(f"<tr><td>{escape(ev.name)}</td><td>{escape(ev.kind)}</td><td><code>{ev.sha256}</code></td></tr>"
                   for ev in evals)
    body.append('<footer><h2>Provenance</h2><table class="prov"><tr><th>input file</th><th>kind</th><th>sha256</th>'
                f'</tr>{rows}</table><p>agcredit {escape(version)}; targets: validation_targets.yaml, sha256 '
                f'<code>{escape(targets_sha256)}</code>; generated {stamp}.</p></footer>')
    title = "Model validation report" + (" (SYNTHETIC)" if any_synthetic else "")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("agcredit")
    except metadata.PackageNotFoundError:
        return "not installed"


def write_validation_report(paths: Sequence[str | Path], out: str | Path, *,
                            generated_at: datetime | None = None) -> Path:
    """Render the evaluations' JSONs at ``paths`` into one HTML page at ``out``, atomically; ``generated_at``: the
    time the page states (default now; fix it for byte-identical output). Every input and ``out`` are checked
    before anything is written (one-line errors naming the file)."""
    from features.atomic import check_writable, write_bytes_atomic

    if not paths:
        raise RunInputError(what="evaluate report", problem="no evaluation JSON given")
    o = Path(out)
    if not o.parent.is_dir():
        said = "is a file, not a folder" if o.parent.exists() else "does not exist"
        raise RunInputError(what=str(o), problem=f"the output's folder {o.parent} {said}")
    check_writable(o, what="report")
    seen: dict[Path, str] = {}
    for p in paths:
        key = Path(p).resolve()
        if key == o.resolve():
            raise RunInputError(what=str(o), problem="is one of the input files (the report would overwrite it)")
        if key in seen:
            raise RunInputError(what=str(p), problem="given twice")
        seen[key] = str(p)
    evals = [load_evaluation(p) for p in paths]
    first: dict[str, str] = {}
    for p, ev in zip(paths, evals, strict=True):
        if ev.sha256 in first:
            raise RunInputError(what=str(p), problem=f"given twice (the same content as {first[ev.sha256]})")
        first[ev.sha256] = str(p)
    targets_raw = TARGETS_FILE.read_bytes()
    html = render_validation_report(evals, generated_at=generated_at or datetime.now(UTC), version=_version(),
                                    targets=load_targets(), targets_sha256=hashlib.sha256(targets_raw).hexdigest())
    return write_bytes_atomic(html.encode("utf-8"), o)
