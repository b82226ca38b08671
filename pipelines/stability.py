"""``agcredit models stability``: whether the fields a yield model scores now look like the rows it was trained on —
the population stability index of each of its inputs (:mod:`models.stability`) against the training profile the
version was registered with, at the checkpoint nearest the scored rows' date.

A model-risk team's ongoing monitoring of a model in use: an input whose distribution moved (a season unlike every
training season, a crop mix or a region the model rarely saw, an imagery feature whose scale changed) is where the
model's held-out figures no longer vouch for its output. Only the rows of crops the model learned are compared; a
features file holds one date's rows of a season's fields (``agcredit features build --out``) — at least half as many
as the smallest training season had (:func:`models.stability.min_rows`: a few fields' features read as a shift by
chance). The season as a whole is judged against the training seasons, each held out against the others
(:meth:`StabilityResult.season_verdict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["StabilityResult", "input_stability", "frame_stability"]

#: the model whose versions carry an input profile (pipelines.train_yield.training_input_profile)
PROFILED = "yield-value"


@dataclass
class StabilityResult:
    """One features table's inputs against a version's training profile (``table``: models.stability's — the
    season-level inputs outside the training seasons' values first, then the unusual ones and the rest, each by PSI,
    largest first, then the season-level inputs in range)."""

    name: str
    version: str
    alias: str | None
    source: str
    as_of: str
    checkpoint: str
    checkpoint_day: float
    chosen: bool  # the checkpoint named by the user (else the nearest the rows' day)
    rows_day: float
    training_rows: int
    scored_rows: int
    rows_without_crop: int
    other_crops: dict[str, int]  # rows of a crop the version never learned (fallow, a crop outside its scope)
    table: pd.DataFrame
    not_compared: list[str] = field(default_factory=list)
    held_out: dict[str, int] = field(default_factory=dict)  # each training season's unusual inputs, held out
    #: the crop-type model's comparison (:func:`crop_input_stability`): fields of a season, not valued rows
    crop_type: bool = False
    #: a crop-type checkpoint at the end of the season window (its day: the model's periods × their days)
    window_end: bool = False
    #: what the series build warned of (a scene folder fetched to an earlier date, acquisitions recorded missing:
    #: the inputs would read the missing days as a shift — a review), printed on standard error
    warnings: list[str] = field(default_factory=list)

    def season_verdict(self) -> str | None:
        """``unlike`` (more unusual inputs than any training season had, held out against the others), ``like``,
        or None (fewer than two training seasons: nothing to judge a season against)."""
        if len(self.held_out) < 2:
            return None
        return "unlike" if self.counts()["unusual"] > max(self.held_out.values()) else "like"

    def season_line(self) -> str:
        """How the season's count of unusual inputs compares with each training season's, held out."""
        n = self.counts()["unusual"]
        if self.season_verdict() is None:
            return ("season: no comparison — the version was trained on fewer than two seasons, so no season's own "
                    "spread is known; the verdicts are the conventional thresholds only")
        held = ", ".join(f"{k} {v}" for k, v in self.held_out.items())
        most = max(self.held_out.values())
        if self.season_verdict() == "unlike":
            return (f"season: {n} unusual inputs, more than any training season had when held out against the others "
                    f"({held}; the most {most}) — unlike every season the model learned from (exit 1; an ordinary "
                    f"season does this by chance about one time in {len(self.held_out) + 1})")
        return (f"season: {n} unusual inputs, no more than a training season had when held out against the others "
                f"({held}; the most {most}) — within the seasons' own spread")

    def counts(self) -> dict[str, int]:
        v = self.table["verdict"].value_counts()
        return {k: int(v.get(k, 0)) for k in ("unusual", "shifted", "watch", "stable", "outside", "in range")}

    def failed(self) -> bool:
        """The season is unlike every training season (:meth:`season_verdict`): exit 1."""
        return self.season_verdict() == "unlike"

    def lines(self, *, every: bool = False) -> list[str]:
        """The text report: the inputs not stable (``every``: all of them), then the summary."""
        named = f" ({self.alias})" if self.alias else ""
        if self.crop_type:  # other_crops: the fields left out, by the checkpoint they reached instead
            why = ("named by --checkpoint" if self.chosen else
                   "the one the model reads most of the fields at on that date")
            left = sum(self.other_crops.values())
            out = [f"{self.name} version {self.version}{named}: the inputs of {self.source} ({self.scored_rows} fields "
                   f"as of {self.as_of} at checkpoint {self.checkpoint} or later"
                   + (f"; {left} at an earlier checkpoint or none yet, their inputs cut short of it, left out: "
                      + ", ".join(f"{k} {n}" for k, n in self.other_crops.items()) if left else "")
                   + f") against its declared training rows of checkpoint {self.checkpoint} ({self.training_rows} "
                   f"rows, {self._day_text()}; {why})"]
            return out + self._body(every)
        why = "named by --checkpoint" if self.chosen else f"the one nearest the rows' day {self.rows_day:.0f}"
        out = [f"{self.name} version {self.version}{named}: the inputs of {self.source} ({self.scored_rows} rows as "
               f"of {self.as_of} of the crops it learned"
               + (f"; {self.rows_without_crop} without a crop, not valued, left out" if self.rows_without_crop else "")
               + (f"; {sum(self.other_crops.values())} of crops it never learned or outside its scope, left out: "
                  + ", ".join(f"{k} {n}" for k, n in self.other_crops.items()) if self.other_crops else "")
               + f") against its training rows of checkpoint {self.checkpoint} ({self.training_rows} rows, median "
               f"day {self.checkpoint_day:.0f} of the season year; {why})"]
        return out + self._body(every)

    def _day_text(self) -> str:
        """Where a crop-type checkpoint falls: a day of the season window, or the window's end."""
        return "the end of the season window" if self.window_end else f"day {self.checkpoint_day:.0f} of the season window"

    def _body(self, every: bool) -> list[str]:
        """The table of inputs (``every``: the stable ones too), the summary and the season's line."""
        from models.stability import PSI_SHIFT, PSI_WATCH

        out: list[str] = []
        w = max([len("input"), *(len(str(x)) for x in self.table["input"])])
        out.append(f"{'input':<{w}}  {'PSI':>7}  {'floor':>6}  {'seasons':>7}  {'verdict':<8} largest move (training → "
                   "scored share)")
        shown = self.table if every else self.table[~self.table["verdict"].isin(["stable", "in range"])]
        for r in shown.itertuples(index=False):
            if r.verdict in ("outside", "in range"):  # a season-level input: its one value, no PSI
                out.append(f"{r.input:<{w}}  {'-':>7}  {'-':>6}  {'-':>7}  {r.verdict:<8} {r.largest_move}")
                continue
            seasons = "-" if pd.isna(r.seasons_max) else f"{r.seasons_max:.3f}"
            out.append(f"{r.input:<{w}}  {r.psi:7.3f}  {r.floor:6.3f}  {seasons:>7}  {r.verdict:<8} {r.largest_move}: "
                       f"{100 * r.training_share:.1f}% → {100 * r.scored_share:.1f}%")
        c = self.counts()
        near = int(((self.table["verdict"] != "stable") & (self.table["psi"] < 2 * self.table["floor"])).sum())
        season = (f"; season-level (one value a season): {c['outside']} outside the training seasons' values, "
                  f"{c['in range']} in range" if c["outside"] or c["in range"] else "")
        out.append(f"summary: {c['unusual']} unusual (PSI ≥ {PSI_SHIFT:g} and above every training season's own "
                   f"PSI against the others, the 'seasons' column), {c['shifted']} shifted as much as a training "
                   f"season was (PSI ≥ {PSI_SHIFT:g}), {c['watch']} to watch ({PSI_WATCH:g}–{PSI_SHIFT:g}), "
                   f"{c['stable']} stable, of {len(self.table)} inputs" + season
                   + (f"; {near} of those not stable are within twice their sampling floor (as likely chance as a "
                      "shift at this many rows)" if near else "")
                   + (f"; not compared: {', '.join(self.not_compared)} (the season and the date, not the population)"
                      if self.not_compared else "")
                   + (f"; {len(self.table) - len(shown)} stable or in range not listed (--all lists them)"
                      if len(shown) < len(self.table) else ""))
        out.append(self.season_line())
        return out

    def headline(self, top: int = 3) -> str:
        """One line: the counts and the inputs furthest off (the demo's)."""
        c = self.counts()
        worst = self.table[self.table["verdict"] == "unusual"].head(top)
        led = "; ".join(f"{r.input} PSI {r.psi:.2f} ({r.largest_move}: {100 * r.training_share:.1f}% → "
                        f"{100 * r.scored_share:.1f}%)" for r in worst.itertuples(index=False))
        return (f"input stability of {self.name} v{self.version} at {self.as_of} (its {self.checkpoint} training rows, "
                f"{self.training_rows}; {self.scored_rows} rows scored): {c['unusual']} of {len(self.table)} inputs "
                f"unusual — further from the training rows than any training season was —, {c['shifted']} shifted "
                f"as much as a training season was, {c['outside']} season-level outside the training seasons' values"
                + (f"; furthest: {led}" if led else "") + f"; {self.season_line()} (`agcredit models stability"
                + (" crop-type" if self.crop_type else "") + "` lists them)")

    def to_json(self) -> dict[str, Any]:
        from models.stability import PSI_SHIFT, PSI_WATCH, SHARE_FLOOR

        return {"model": self.name, "version": self.version, "alias": self.alias, "features": self.source,
                "as_of": self.as_of, "checkpoint": self.checkpoint, "checkpoint_day": self.checkpoint_day,
                "checkpoint_chosen": self.chosen, "rows_day": self.rows_day, "training_rows": self.training_rows,
                "scored_rows": self.scored_rows, "rows_without_crop": self.rows_without_crop,
                "other_crops": {} if self.crop_type else self.other_crops, "held_out_unusual": self.held_out,
                **({"fields_left_out": self.other_crops} if self.crop_type else {}),
                "season_verdict": self.season_verdict(),
                "thresholds": {"watch": PSI_WATCH, "shifted": PSI_SHIFT, "share_floor": SHARE_FLOOR},
                "counts": self.counts(), "not_compared": self.not_compared,
                "inputs": [{k: _plain(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")]}


def _plain(v: Any) -> Any:
    """A table cell for JSON: a float as a float, NaN (no PSI: a season-level input) as null."""
    if isinstance(v, float):
        return None if math.isnan(v) else float(v)
    return v


def one_date(feats: pd.DataFrame, where: str) -> str:
    """The one as-of date (``YYYY-MM-DD``) of a features table, else a one-line error naming ``where``."""
    dates = sorted(pd.to_datetime(feats["as_of"]).dt.strftime("%Y-%m-%d").unique())
    if len(dates) != 1:
        raise UserInputError(f"{where}: features file holds rows as of {len(dates)} dates ({', '.join(dates[:4])}"
                             f"{', …' if len(dates) > 4 else ''}); give one date's rows (one features build)")
    return str(dates[0])


def read_features(path: Path) -> pd.DataFrame:
    """A FieldFeatures Parquet file, checked against its contract; every user error one line."""
    from features.contracts import check_field_features
    from pipelines.errors import read_checked

    if not path.is_file():
        raise UserInputError(f"{path}: features file not found")
    feats = read_checked(path, f"{path}: features file", lambda: pd.read_parquet(path), "Parquet")
    if feats.empty:
        raise UserInputError(f"{path}: features file has no rows")
    if "as_of" in feats.columns and pd.to_datetime(feats["as_of"], errors="coerce").nunique() > 1:
        one_date(feats, str(path))  # several dates' builds joined: said so (the contract named duplicate field keys)
    return check_field_features(feats, where=path.name)


def region_mismatch(where: str, name: str, version: str, regions: Any, scope: Any, valued: Any = None
                    ) -> UserInputError | None:
    """The one-line error when none of the rows (``valued``: those of crops the version learned, default all) is of a
    region in ``name``'s ``version``'s region ``scope`` — the rows' regions and the scope named, so a region mismatch
    is not told as missing checkpoints or columns (a us-nebraska review); None when some are, or the version records
    no region scope."""
    scope = [str(r) for r in scope or ()]
    rows = pd.Series(np.asarray(regions, dtype=object)).astype("str")
    if valued is not None:
        rows = rows[np.asarray(valued, dtype=bool)]
    if not scope or rows.empty or rows.isin(scope).any():
        return None
    seen = sorted(set(rows))
    shown = ", ".join(seen[:5]) + (f" and {len(seen) - 5} more" if len(seen) > 5 else "")
    return UserInputError(f"{where}: the fields are of region{'s' * (len(seen) != 1)} {shown}, outside {name} version "
                          f"{version}'s region scope ({', '.join(scope)}): it values none of them — give features of "
                          "a region it learned, or a version trained on theirs")


def _profile_of(name: str, version: str, *, since: str, train: str) -> dict[str, Any]:
    """The input profile ``name``'s ``version`` was registered with, checked for this release's layout; a version
    registered before profiles (the release of 2026-12-06 ``since``) or with another layout: one line naming the
    command (``train``) that trains one that has it."""
    from models import registry
    from models.stability import PROFILE_FORMAT

    profile = registry.input_profile(name, version)
    if profile is None:
        raise UserInputError(f"{name} version {version} was registered without an input profile (before 2026-12-06, "
                             f"{since}): train a new version to monitor its inputs ({train})")
    if profile.get("format") != PROFILE_FORMAT or profile.get("model") != name or "checkpoints" not in profile:
        raise UserInputError(f"{name} version {version}: its input profile is of another layout (format "
                             f"{profile.get('format')!r}, model {profile.get('model')!r}; this release reads format "
                             f"{PROFILE_FORMAT} of {name}): train a new version to monitor its inputs")
    return profile


def input_stability(features: str | Path, *, name: str = PROFILED, version: str = "champion",
                    checkpoint: str | None = None) -> StabilityResult:
    """The PSI of each input of ``name``'s ``version`` (a number or an alias) on ``features`` (a FieldFeatures
    Parquet of one date) against the version's training profile; every user error a one-line
    :class:`UserInputError`."""
    if name != PROFILED:
        raise UserInputError(f"models stability: input profiles are kept for {PROFILED} and {CROP_PROFILED} only, "
                             f"not {name!r}")
    path = Path(features)
    return frame_stability(read_features(path), source=path.name, where=str(path), name=name, version=version,
                           checkpoint=checkpoint)


#: how far (days) a features file's date may lie from the profiled checkpoint it is compared with when none is named:
#: further, a month's composite or a fortnight's clear observations more would read as a shift of the inputs
CHECKPOINT_GAP_DAYS = 14


def frame_stability(feats: pd.DataFrame, *, source: str, where: str | None = None, name: str = PROFILED,
                    version: str = "champion", checkpoint: str | None = None) -> StabilityResult:
    """:func:`input_stability` of a FieldFeatures frame already read (``source``: how the report names it;
    ``where``: how errors name it)."""
    from models import registry
    from models.stability import MIN_ROWS, NOT_COMPARED, min_rows, nearest_checkpoint, stability_table
    from models.yield_value import crop_of, known_crop

    path = where or source
    as_of = one_date(feats, path)
    alias = None if version.isdigit() else version
    resolved = registry.resolve(name, version)  # a number or an alias, each refused in the registry's own words
    v, model = resolved.version, resolved.model
    profile = _profile_of(name, v, since="second", train="agcredit train yield ...")
    if checkpoint is not None and checkpoint not in profile["checkpoints"]:
        raise UserInputError(f"models stability --checkpoint {checkpoint!r}: {name} version {v} profiled "
                             f"{', '.join(sorted(profile['checkpoints']))}")
    # the rows the model values: a crop it learned (a field taken for fallow, or a crop outside its scope, has no
    # yield of its own here — its imagery would read as a shift of every input)
    crop = crop_of(feats)
    has_crop = known_crop(feats)
    learned = has_crop & crop.isin(model.categories_["crop"]).to_numpy()
    gov = registry.governance(name, v)
    mismatch = region_mismatch(path, name, str(v), feats["region"], gov.regions, learned)
    if mismatch is not None:  # another region's calendar: its inputs are other columns (a review: "missing columns")
        raise mismatch
    # the rows of the version's scope, as underwriting values them (a review: 21 rows of another region and the
    # crops it learned but was not validated on, drift-tested, read "unlike every season", exit 1)
    region = feats["region"].astype(str)
    in_crops = crop.isin([str(c) for c in gov.crops]).to_numpy() if gov.crops else np.ones(len(feats), dtype=bool)
    in_regions = region.isin([str(r) for r in gov.regions]).to_numpy() if gov.regions else np.ones(len(feats), bool)
    outside = {f"{c} (outside its scope)": int(n) for c, n in crop[learned & ~in_crops].value_counts().items()}
    outside |= {f"region {r}": int(n) for r, n in region[learned & in_crops & ~in_regions].value_counts().items()}
    never = crop[has_crop & ~learned].value_counts()  # crops it never learned
    learned = learned & in_crops & in_regions
    scored = feats[learned]
    if scored.empty:
        raise UserInputError(f"{path}: no row has a crop {name} version {v} learned ({', '.join(model.categories_['crop'])}"
                             "), nothing to compare")
    others = {str(k): int(n) for k, n in never.items()} | outside
    from models.errors import MissingWeatherError

    try:
        table = model.input_table(scored)
    except MissingWeatherError as e:  # the error names --weather, which this command has none of (a walkthrough)
        shown = ", ".join(e.missing[:3]) + (f", … ({len(e.missing)} in all)" if len(e.missing) > 3 else "")
        raise UserInputError(f"{path}: {name} version {v} reads weather features ({shown}) and these features were "
                             "built without them: build them again with the weather (agcredit features build … "
                             "--weather F)") from None
    day = float(table["as_of_day"].median()) if "as_of_day" in table.columns else 0.0
    if not math.isfinite(day):
        raise UserInputError(f"{path}: the rows' date cannot be placed in their season (season "
                             f"{scored['season'].astype(str).iloc[0]!r}, as of {as_of}): a season is a year, e.g. 2009")
    cp = checkpoint or nearest_checkpoint(profile, day)
    prof = profile["checkpoints"][cp]
    gap = abs(day - float(prof["as_of_day"]))
    if checkpoint is None and gap > CHECKPOINT_GAP_DAYS:  # compared, every date-grown input would be "unusual"
        cps = profile["checkpoints"]
        said = ", ".join(f"{c} day {float(cps[c]['as_of_day']):.0f}" for c in sorted(cps, key=lambda c: cps[c]["as_of_day"]))
        raise UserInputError(
            f"{path}: its rows are of day {day:.0f} of the season year, {gap:.0f} days from the nearest checkpoint "
            f"{name} version {v} was profiled at ({said}): the inputs that grow with the season (monthly composites, "
            "clear-observation counts, the last observation's day) would differ by the date alone — build the features "
            "as of a profiled checkpoint's date, or name one with --checkpoint to compare anyway")
    need = min_rows(profile, cp)
    if len(scored) < need:
        raise UserInputError(f"{path}: {len(scored)} rows of the crops {name} version {v} learned; a comparison with "
                             f"its training seasons needs at least {need} (half its smallest training season's rows at "
                             f"{cp}, and never fewer than {MIN_ROWS}): give the season's whole features build, not a few "
                             "fields'")
    res = stability_table(profile, cp, table, scored["season"].astype(str).to_numpy(dtype=object),
                          scored["region"].astype(str).to_numpy(dtype=object))
    res = res.assign(_o=res["verdict"].map({"outside": 0, "unusual": 1, "in range": 3}).fillna(2)).sort_values(
        ["_o", "psi", "input"], ascending=[True, False, True], kind="stable").drop(columns="_o")
    return StabilityResult(name=name, version=str(v), alias=alias, source=source, as_of=as_of, checkpoint=cp,
                           checkpoint_day=float(prof["as_of_day"]), chosen=checkpoint is not None, rows_day=day,
                           training_rows=int(prof["rows"]), scored_rows=len(scored),
                           rows_without_crop=int((~has_crop).sum()),
                           other_crops=dict(sorted(others.items(), key=lambda x: (-x[1], x[0]))),
                           table=res.reset_index(drop=True),
                           not_compared=[c for c in NOT_COMPARED if c in prof["features"]],
                           held_out={str(k): int(x) for k, x in (prof.get("held_out_unusual") or {}).items()})


#: the crop-type model: its versions carry an input profile since 2026-12-06, fourth
CROP_PROFILED = "crop-type"


def crop_input_stability(fields: str | Path, imagery: str, season: str, as_of: Any, *, version: str = "champion",
                         checkpoint: str | None = None, cache_dir: Path | None = None) -> StabilityResult:
    """The PSI of each input of the crop-type model's ``version`` on the season's fields as of ``as_of`` (their series
    from ``imagery``, as a feature build reads them) against the version's training profile, at the checkpoint the
    model reads most of the fields at on that date (``checkpoint``: a profiled one by name); every user error one
    line, said before any series is built (:func:`crop_plan`); only the fields compared have their series built."""
    from features.fields import read_fields
    from features.series import build_series, check_season

    season = check_season(season)
    read = read_fields(fields, season=season, need=("region",))
    fs = read.fields
    fs = fs[fs["season"].astype(str) == season].reset_index(drop=True) if "season" in fs.columns else fs
    if fs.empty:
        raise UserInputError(f"{Path(fields).name}: no field of season {season}")
    day = pd.Timestamp(as_of).date()
    from pipelines._featurize_checks import check_as_of_in_season, check_as_of_in_window

    # a date outside the season (a mistyped year) refused as `features build` refuses it (it compared the season's
    # end under that date, exit 1; a review, 2026-12-07)
    check_as_of_in_season(fs, season, day)
    check_as_of_in_window(fs, season, day)
    source = f"{Path(fields).name} (season {season})"
    plan = crop_plan(fs, day, source=source, version=version, checkpoint=checkpoint)
    built = build_series(plan.fields, imagery, season, as_of=day, cache_dir=cache_dir)
    return replace(crop_compare(plan, built.series, day, source=source), warnings=list(built.warnings))


def crop_frame_stability(series: pd.DataFrame, fields: pd.DataFrame, as_of: Any, *, source: str,
                         version: str = "champion", checkpoint: str | None = None) -> StabilityResult:
    """:func:`crop_input_stability` of a season's series and fields already read (``source``: how the report names
    them)."""
    plan = crop_plan(fields, as_of, source=source, version=version, checkpoint=checkpoint)
    return crop_compare(plan, series, as_of, source=source)


@dataclass(frozen=True)
class CropPlan:
    """What a crop-type comparison compares (:func:`crop_plan`): the version, its profile, the checkpoint, the fields
    that reached it (the others counted by what they reached instead)."""

    version: str
    alias: str | None
    model: Any
    profile: dict[str, Any]
    checkpoint: str
    chosen: bool
    fields: pd.DataFrame
    elsewhere: dict[str, int]


def crop_plan(fields: pd.DataFrame, as_of: Any, *, source: str, version: str = "champion",
              checkpoint: str | None = None) -> CropPlan:
    """The crop-type ``version`` (a number or an alias) and its training profile, the checkpoint to compare at — the
    one the model reads most of the fields at on ``as_of`` (a tie: the earlier, complete for more fields), or
    ``checkpoint`` by name — and the fields compared: those whose own checkpoint on the date is that one or a later
    one (their inputs at its day are complete, as the training rows' are); a field the model reads at an earlier
    checkpoint, or at none yet, has inputs cut short of it and is left out, counted. Every refusal one line, before
    any series is read."""
    from collections import Counter

    from features.crop_type import checkpoint_key
    from models import registry
    from models.stability import MIN_ROWS, min_rows

    name = CROP_PROFILED
    resolved = registry.resolve(name, version, flavour=registry.SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
    v, model = resolved.version, resolved.model
    profile = _profile_of(name, v, since="fourth", train="agcredit train crop-type ...")
    cps = profile["checkpoints"]
    if checkpoint is not None and checkpoint not in cps:
        raise UserInputError(f"models stability --checkpoint {checkpoint!r}: {name} version {v} profiled "
                             f"{', '.join(sorted(cps))}")
    by_model = {str(e.get("model_checkpoint")): n for n, e in cps.items()}
    reached = [None if c is None else by_model.get(checkpoint_key(c)) for c in model.checkpoint_for(fields, as_of)]
    day_of = {n: float(e["as_of_day"]) for n, e in cps.items()}
    counts = Counter(r for r in reached if r is not None)
    if not counts:
        raise UserInputError(f"{source}: as of {pd.Timestamp(as_of).date()} no field has reached a checkpoint of "
                             f"{name} version {v} ({', '.join(sorted(cps))}): too early in the season")
    cp = checkpoint or max(counts, key=lambda n: (counts[n], -day_of[n]))
    keep = [r is not None and day_of[r] >= day_of[cp] for r in reached]
    kept = fields[keep].reset_index(drop=True)
    elsewhere = Counter("none yet" if r is None else r for r, k in zip(reached, keep, strict=True) if not k)
    need = min_rows(profile, cp)
    if len(kept) < need:
        whom = (f"{len(kept)} of the {len(fields)} fields have reached checkpoint {cp} on that date"
                if len(kept) < len(fields) else f"{len(fields)} fields")
        raise UserInputError(f"{source}: {whom}; a comparison with {name} version {v}'s training seasons needs at "
                             f"least {need} (half its smallest training season's rows at {cp}, and never fewer than "
                             f"{MIN_ROWS})" + ("" if len(kept) < len(fields) else
                                               ": give the season's fields, not a few"))
    return CropPlan(version=str(v), alias=None if version.isdigit() else version, model=model, profile=profile,
                    checkpoint=cp, chosen=checkpoint is not None, fields=kept,
                    elsewhere={str(k): int(n) for k, n in sorted(elsewhere.items())})


def crop_compare(plan: CropPlan, series: pd.DataFrame, as_of: Any, *, source: str) -> StabilityResult:
    """The comparison of :func:`crop_plan`'s fields' inputs (from ``series``) with the profile at its checkpoint."""
    from models.stability import stability_table

    entry = plan.profile["checkpoints"][plan.checkpoint]
    key = str(entry.get("model_checkpoint", plan.checkpoint))
    fields = plan.fields
    table = plan.model.input_frame(series, fields, "end" if key == "end" else int(key.lstrip("d")), as_of=as_of)
    res = stability_table(plan.profile, plan.checkpoint, table, fields["season"].astype(str).to_numpy(dtype=object),
                          fields["region"].astype(str).to_numpy(dtype=object) if "region" in fields.columns else None)
    res = res.assign(_o=res["verdict"].map({"outside": 0, "unusual": 1, "in range": 3}).fillna(2)).sort_values(
        ["_o", "psi", "input"], ascending=[True, False, True], kind="stable").drop(columns="_o")
    return StabilityResult(name=CROP_PROFILED, version=plan.version, alias=plan.alias, source=source,
                           as_of=str(pd.Timestamp(as_of).date()), checkpoint=plan.checkpoint,
                           checkpoint_day=float(entry["as_of_day"]), chosen=plan.chosen,
                           rows_day=float(entry["as_of_day"]), training_rows=int(entry["rows"]),
                           scored_rows=len(fields), rows_without_crop=0, other_crops=dict(plan.elsewhere),
                           table=res.reset_index(drop=True), not_compared=[],
                           held_out={str(k): int(x) for k, x in (entry.get("held_out_unusual") or {}).items()},
                           crop_type=True, window_end=key == "end")
