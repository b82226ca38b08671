"""``agcredit models performance crop-type``: outcomes analysis of a crop-type model in use — once a season's crops
are verified (a field inspection, the harvest's sale records, an insurer's loss adjuster), how the crop types and
probabilities underwriting read from a features build compare with the crops found, beside the declared crop taken as
the answer, what the credit policy's evidence checks did with them, and whether the version still meets, on these
outcomes, the minimum metrics it was promoted on.

What it scores is what underwriting read: the features file's own ``crop_type``, ``crop_type_prob`` and
``declared_crop_prob`` (:func:`pipelines.featurize.featurize`), not a fresh prediction — the version is the one the
file's lineage names (``--version`` must resolve to it; a file built with a saved model folder is that version when the
folder's content is the version's, else refused; a file without lineage is taken on ``--version``'s word, said in a
note; a season scale pinned at the build is said too). A field verified as a crop the version cannot answer is scored
wrong: underwriting read another crop for it. The figures are the held-out evaluation's
(:mod:`pipelines.evaluation.crop_type`): accuracy, macro-F1, per-class recall and F1, the confusion counts and the
top-label expected calibration error (15 equal-width bins, :func:`features._calibration.expected_calibration_error`)
with the ECE a perfectly calibrated model would show on the same confidences and number of fields, and the mean
confidence against the accuracy (the direction); beside them the declared crop taken as the answer and the model's
lead over it on the declared fields (paired). Then the policy's own evidence checks
(:func:`underwriting.rules.evidence_codes`, the policy's profile — its thresholds and its ``disputed_crop_uncertain``
rule; pre-season fields, whose declaration the policy reads instead, apart): how often a crop type the checks let
stand was right (and how many fields were read at a wrong crop), how often a CROP_MISMATCH or a CROP_TYPE_UNCERTAIN
field's declaration was wrong, and how many of the wrong declarations either flag caught; and, the report's own reading
of ``declared_crop_prob`` (:data:`CONFIRMED`, as ``evaluate crop-type``'s), how often a declaration it put at 0.80 or
more was right.

Honest by construction: a season the version trained on, or one before it, is refused (in sample, or scored by a
model that learned from later seasons), as are a features file of several dates or seasons and fewer than
:data:`MIN_SCORED` verified fields. Each figure has a 95% percentile bootstrap interval over the scored fields (or
farmers, drawn whole: ``--interval-by farmer``) from the evaluations' fixed seed, drawn in field-id order, so the same
inputs print the same report byte for byte in any row order; a share whose resamples all agree (all or none of a few
fields) gets the exact binomial (Clopper–Pearson) interval instead, said in ``interval_methods``. The version's minimum
metrics at the scored checkpoint (``accuracy_<cp>``, ``macro_f1_<cp>``, ``ece_<cp>``) are judged on the interval —
*met*, *not met*, *interval straddles* (:func:`pipelines.outcomes.judge`) —; they were set and measured at
registration against the farmers' DECLARED crops of a held-out season (the ECE bound loose for their mistakes), these
against the verified ones, so the ECE is also judged against the validation target for true crops
(:data:`TRUE_CROP_ECE`, not a gate). One season, and often a sample of its fields: an ordinary season can miss one, so
a miss exits 1 only with ``--fail-on-miss``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from pipelines._crop_outcome_figures import (
    CONFIRMED,
    _judge_requirements,
    crop_outcome_figures,
)
from pipelines._crop_verified import (
    read_verified,
)

# isort: split
# re-exported, unused here: importable from pipelines.crop_outcomes as before its helpers moved out
from pipelines._crop_outcome_figures import (
    ECE_BINS,  # noqa: F401
    FIGURES,  # noqa: F401
    FLOOR_DRAWS,  # noqa: F401
    GATED,  # noqa: F401
    SHARES,  # noqa: F401
    _block_figures,  # noqa: F401
    _calibrated_floor,  # noqa: F401
    _frame_data,  # noqa: F401
    _masks,  # noqa: F401
    _share,  # noqa: F401
    _weighted_ece,  # noqa: F401
)
from pipelines._crop_verified import (
    _AMBIGUOUS,  # noqa: F401
    _check_crops,  # noqa: F401
    _data_rows,  # noqa: F401
)
from pipelines.evaluation._bootstrap import exact_interval  # noqa: F401

__all__ = ["CropOutcomesResult", "crop_model_performance", "crop_outcome_figures", "read_verified"]

#: the model whose outcomes this analyses
ANALYSED = "crop-type"
#: fewest scored fields: below it the intervals are wide enough to say nothing
MIN_SCORED = 30
#: the validation target of the ECE against true crops (``pipelines/data/validation_targets.yaml``, crop-type): the
#: minimum metrics' bound (0.15) was set for declared labels, which carry the farmers' mistakes
TRUE_CROP_ECE = 0.05
#: how the report names its shares (the interval-method lines)
_LABELS = {"accuracy": "accuracy", "baseline_accuracy": "the declared crop as the answer",
           "model_on_declared": "the model on the declared fields", "kept_right": "crop types let stand right",
           "mismatch_wrong": "CROP_MISMATCH declarations wrong", "uncertain_wrong": "CROP_TYPE_UNCERTAIN declarations "
           "wrong", "caught_any": "wrong declarations flagged", "caught_mismatch": "wrong declarations flagged by "
           "CROP_MISMATCH", "confirmed_right": f"declarations put at P(declared) >= {CONFIRMED:g} right"}
_VERSION_RE = re.compile(r"^crop-type version (\d+)\b")
_RUN_RE = re.compile(r"\brun ([0-9a-f]{32})\b")
_PINNED_RE = re.compile(r"season scale pinned at ([0-9.eE+-]+)")


@dataclass
class CropOutcomesResult:
    """One season's verified crops against a crop-type version (``figures``: :func:`crop_outcome_figures`;
    ``requirements``: each minimum metric at the checkpoint, judged)."""

    version: str
    features: str
    verified: str
    season: str
    as_of: str
    checkpoint: str
    training_seasons: list[str]
    scored: int
    outside: dict[str, int]
    figures: dict[str, Any]
    requirements: list[dict[str, Any]]
    interval: str
    policy: str
    thresholds: dict[str, Any]
    data: str = "real"
    registered: str = ""
    notes: list[str] = field(default_factory=list)

    def _judged(self, judgement: str) -> list[str]:
        return [r["metric"] for r in self.requirements if r["judgement"] == judgement]

    def missed(self) -> bool:
        """Whether a minimum metric of the checkpoint is missed by its whole interval (``--fail-on-miss``: exit 1)."""
        return bool(self._judged("not met"))

    def true_crop_ece(self) -> str:
        """The ECE against :data:`TRUE_CROP_ECE` (a validation target, not a gate)."""
        from pipelines.outcomes import judge

        iv = self.figures.get("ece_ci")
        return judge("<=", TRUE_CROP_ECE, *(iv if iv else (math.nan, math.nan)))

    def verdict(self) -> str:
        missed, unsure, unmeasured = (self._judged(j) for j in ("not met", "interval straddles", "not measured"))
        measured = len(self.requirements) - len(unmeasured)
        if not self.requirements:
            return f"no minimum metric of the version gates checkpoint {self.checkpoint}"
        if missed:
            head = f"MISSED on this season's verified crops: {', '.join(missed)}"
        elif unsure:
            head = f"no minimum metric missed for certain: {measured - len(unsure)} of {measured} measured met"
        else:
            head = f"meets the {measured} minimum metric(s) measured here"
        tail = [f"interval straddles: {', '.join(unsure)}"] if unsure else []
        tail += [f"not measured here: {', '.join(unmeasured)}"] if unmeasured else []
        return head + (f" ({'; '.join(tail)})" if tail else "")

    def lines(self) -> list[str]:
        from pipelines.evaluation._bootstrap import interval_text

        f = self.figures
        synth = " — SYNTHETIC data" if self.data == "synthetic" else ""

        def fig(key: str, pct: bool = True, sign: bool = False, count: bool = False) -> str:
            v, iv = f.get(key), f.get(f"{key}_ci")
            if v is None:
                return "—"
            if not pct:
                text = f"{v:.3f}" + (f" ({interval_text(*iv)})" if iv else "")
            elif sign:  # a difference of two shares, in percentage points
                text = f"{100 * v:+.1f} points" + (f" ({interval_text(100 * iv[0], 100 * iv[1], '+.1f')})"
                                                    if iv else "")
            else:
                text = f"{100 * v:.1f}%" + (f" ({interval_text(100 * iv[0], 100 * iv[1], '.1f')}%)" if iv else "")
            if count and key in f["shares"]:
                sh = f["shares"][key]
                text += f": {sh['hits']} of {sh['of']}"
            return text

        c = f["counts"]
        th = self.thresholds
        conf, acc = f["mean_confidence"], f["accuracy"]
        direction = ("over-confident" if conf > acc else "under-confident" if conf < acc else "even")
        out = [f"crop-type version {self.version}, trained on seasons {', '.join(self.training_seasons)}: verified "
               f"crops of season {self.season}{synth}",
               f"  features: {self.features}, as of {self.as_of} (checkpoint {self.checkpoint})",
               f"  verified crops: {self.verified}: {self.scored} fields scored"
               + "".join(f", {k}: {v}" for k, v in self.outside.items()),
               "",
               f"  accuracy {fig('accuracy', count=True)}, macro-F1 {fig('macro_f1', pct=False)}",
               f"  calibration error (ECE) {fig('ece', pct=False)}; a perfectly calibrated model on these "
               f"{self.scored} fields would show about {f['ece_calibrated_floor']:.3f}; mean confidence "
               f"{100 * conf:.1f}% against accuracy {100 * acc:.1f}% ({direction})",
               f"  on the {c['declared']} declared fields: the model {fig('model_on_declared')}, the declared crop as "
               f"the answer {fig('baseline_accuracy')} — the model's lead {fig('lead', sign=True)}",
               "",
               f"{'verified crop':<16} {'fields':>6} {'recall':>7} {'95% interval':>13} {'F1':>6} {'95% interval':>13}"
               "  read as"]
        for crop, n in f["support"].items():
            r, riv = f["recall"].get(crop), f["recall_ci"].get(crop)
            f1, fiv = f["f1"].get(crop), f["f1_ci"].get(crop)
            read_as = ", ".join(f"{q} {k}" for q, k in sorted(f["confusion"][crop].items(), key=lambda x: (-x[1], x[0])))
            out.append(f"{crop:<16} {n:>6} {'—' if r is None else format(r, '.3f'):>7} "
                       f"{interval_text(*riv) if riv else '—':>13} {'—' if f1 is None else format(f1, '.3f'):>6} "
                       f"{interval_text(*fiv) if fiv else '—':>13}  {read_as}")
        predicted_only = sorted(set(f["f1"]) - set(f["support"]))
        if predicted_only:
            out.append(f"  read but never verified: {', '.join(predicted_only)} (F1 0)")
        out += ["",
                f"what the credit policy's evidence checks did with them ({self.policy}: CROP_MISMATCH below "
                f"P(declared) {th['min_declared_crop_prob']:g}; CROP_TYPE_UNCERTAIN below a top probability of "
                f"{th['min_crop_type_prob']:g}" + (", or a declared field read as another crop"
                                                   if th["disputed_crop_uncertain"] else "") + "):",
                f"  crop types let stand (neither flag) right: {fig('kept_right', count=True)} — {c['kept_wrong']} "
                "field(s) read at a wrong crop",
                f"  CROP_MISMATCH declarations wrong: {fig('mismatch_wrong', count=True)}",
                f"  CROP_TYPE_UNCERTAIN declarations wrong: {fig('uncertain_wrong', count=True)}",
                f"  wrong declarations flagged: {fig('caught_any', count=True)} (by CROP_MISMATCH: "
                f"{fig('caught_mismatch')})"]
        if c["preseason"]:
            out.append(f"  {c['preseason']} field(s) pre-season for the policy (not emerged before its emergence "
                       "checkpoint): their declaration read, not their crop type")
        out += [f"  declarations put at P(declared) >= {CONFIRMED:g} right: {fig('confirmed_right', count=True)} "
                "(this report's reading of the probability; no policy rule reads it)",
                "",
                f"minimum metrics of version {self.version} at checkpoint {self.checkpoint} ({self.registered}; set "
                "and measured at registration against declared crops), on these verified crops:"]
        for r in self.requirements:
            val = "—" if r["value"] is None else f"{r['value']:.3f}"
            iv = "" if r["interval"] is None else f" [{interval_text(*r['interval'])}]"
            held = "" if r["validated"] is None else f"; held out at registration {r['validated']:.3f}"
            out.append(f"  {r['metric']} {r['op']} {r['threshold']:g}: {val}{iv}{held} — {r['judgement']}")
        if not self.requirements:
            out.append(f"  (the version records no minimum metric at checkpoint {self.checkpoint})")
        out.append(f"  (ECE against true crops' validation target <= {TRUE_CROP_ECE:g}, not a gate: "
                   f"{self.true_crop_ece()}; the gate's bound is loose for the declared labels' mistakes)")
        out.append(f"verdict: {self.verdict()}")
        out.append("  (one season: the intervals cover the sampling of its verified fields, not the season-to-season "
                   "spread — an ordinary season can miss a minimum metric the version met when validated)")
        out.append(f"intervals: {self.interval}")
        for k, how in f["interval_methods"].items():
            out.append(f"  {_LABELS.get(k, k)}: {how}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"model": ANALYSED, "version": self.version, "features": self.features, "verified": self.verified,
                "season": self.season, "as_of": self.as_of, "checkpoint": self.checkpoint, "data": self.data,
                "training_seasons": self.training_seasons, "scored": self.scored, "outside": self.outside,
                "figures": self.figures, "requirements": self.requirements, "verdict": self.verdict(),
                "missed": self.missed(), "true_crop_ece": {"target": TRUE_CROP_ECE, "judgement": self.true_crop_ece()},
                "registered": self.registered, "interval": self.interval,
                "policy": {"source": self.policy, **self.thresholds, "confirmed_reading": CONFIRMED},
                "notes": self.notes}


def _lineage(path: Path) -> str:
    from pipelines.featurize import read_lineage

    return str((read_lineage(path) or {}).get("crop_model_version") or "").strip()


def _resolve_built(path: Path, version: str | None) -> tuple[Any, list[str]]:
    """The crop-type version that built the features at ``path`` (resolved and loaded) and notes: the lineage's
    registry version (``version`` must resolve to it); a saved model folder whose content is ``version``'s (else
    refused); no lineage: ``version`` on the user's word. One line when the file was built without a crop model, or
    when a file without a registry version comes without ``version``."""
    from models import registry
    from pipelines.featurize import model_folder_digest

    flavour = registry.SaveLoadFlavour("features.crop_type:CropTypeClassifier")
    built = _lineage(path)
    if built.lower() == "none":
        raise UserInputError(f"{path}: built without a crop-type model (--crop-model none): it has no crop types "
                             "to score")
    notes: list[str] = []
    pinned = _PINNED_RE.search(built)
    if pinned:
        notes.append(f"the features were built with the crop model's season scale pinned at {pinned.group(1)} "
                     "(--crop-season-scale): their probabilities are that pin's, not the version's own season "
                     "calibration")
    m = _VERSION_RE.match(built)
    if m:
        if version is not None:
            asked = registry.resolve(ANALYSED, str(int(version)) if version.isdigit() else version, flavour=flavour)
            if asked.version != m.group(1):
                raise UserInputError(f"{path}: built with crop-type version {m.group(1)}, not {version} (version "
                                     f"{asked.version}): its crop types are that version's (leave out --version, or "
                                     "give features that version built)")
        else:
            asked = registry.resolve(ANALYSED, m.group(1), flavour=flavour)
        run = _RUN_RE.search(built)
        if run and getattr(asked, "run_id", None) and run.group(1) != str(asked.run_id):
            raise UserInputError(f"{path}: built with crop-type version {m.group(1)} of another registry (run "
                                 f"{run.group(1)[:12]}…), not this registry's version {asked.version} (run "
                                 f"{str(asked.run_id)[:12]}…): its crop types are another model's (a review scored "
                                 "one registry's version on another's readings)")
        return asked, notes
    if version is None:
        what = "a saved crop-type model folder" if built.startswith("file ") else "no record of its crop model"
        raise UserInputError(f"{path}: the file has {what}: name the registered crop-type version that built it "
                             "with --version")
    res = registry.resolve(ANALYSED, str(int(version)) if version.isdigit() else version, flavour=flavour)
    if built.startswith("file "):
        digest = built[5:].split(",")[0].strip()
        own = model_folder_digest(registry.model_folder(ANALYSED, res.version, res.run_id))
        if digest != own:
            raise UserInputError(f"{path}: built with a saved crop-type model folder ({digest}) that is not version "
                                 f"{res.version} ({own}): its crop types are another model's")
        notes.append(f"the features were built with a saved copy of version {res.version} (the same content, {own})")
    else:
        notes.append(f"the features' crop types are taken as version {res.version}'s on --version: the file records "
                     "no crop model")
    return res, notes


def _row_checkpoints(model: Any, profile: dict[str, Any] | None, gov: Any, feats: pd.DataFrame,
                     as_of: str) -> np.ndarray | None:
    """Each row's checkpoint name on ``as_of`` as the model placed it (its season window by region), "" before
    any; None when it cannot be told (a window the package does not know, or a version without the profile or the
    governance notes that map its checkpoints to their names)."""
    from features.crop_type import checkpoint_key
    from features.errors import ContractError

    names: dict[str, str] = {}
    noted = re.search(r"checkpoints ((?:[A-Za-z0-9_]+=[A-Za-z0-9_]+(?:, )?)+)", gov.notes or "")
    if profile is not None:
        names = {str(e.get("model_checkpoint")): str(n) for n, e in profile.get("checkpoints", {}).items()}
    elif noted:  # "checkpoints mid=123, end=end": what every version trained here notes
        pairs = [p.split("=", 1) for p in noted.group(1).split(", ") if "=" in p]
        names = {checkpoint_key(int(d) if d.isdigit() else d): n for n, d in pairs}
    elif len(gov.checkpoints) == 1:
        names = {checkpoint_key(c): gov.checkpoints[0] for c in model.checkpoints_}
    if not names:
        return None
    try:
        keys = model.checkpoint_for(feats[["field_id", "season", "region"]], as_of)
    except (ContractError, KeyError, ValueError):
        return None
    return np.asarray(["" if k is None else names.get(checkpoint_key(k), "") for k in keys], dtype=object)


def _training_seasons(version: str) -> list[str] | None:
    """The seasons a crop-type version trained on: its run's ``seasons`` parameter (logged since 2026-12-06, fifth),
    else its governance notes' "declared crops of seasons …" (every version trained here says so)."""
    from models import registry

    got = registry.training_seasons(ANALYSED, version)
    if got is not None:
        return got
    m = re.search(r"declared crops of seasons ([0-9][0-9, ]*)", registry.governance(ANALYSED, version).notes or "")
    return [s.strip() for s in m.group(1).split(",") if s.strip()] if m else None


def _policy_reading(feats: pd.DataFrame, as_of: str, policy: str | Path | None, profile: str | None
                    ) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """What the policy's evidence checks made of each field's crop evidence (:func:`underwriting.rules.evidence_codes`
    as :func:`underwriting.rules.evaluate_field` calls them): ``read`` (its crop type read: the field not pre-season),
    ``mismatch`` (CROP_MISMATCH), ``uncertain`` (CROP_TYPE_UNCERTAIN) — under ``profile``, or every profile when they
    read the fields alike (else one line asking for ``--profile``); how to name it; the thresholds read."""
    from underwriting.policy import load_policy
    from underwriting.rules import evidence_codes, is_preseason

    pol = load_policy(policy)
    shown = f"policy {pol.version}" + (f" ({Path(policy).name})" if policy is not None else "")
    names = [profile] if profile is not None else sorted(pol.profiles)
    day = pd.Timestamp(as_of).date()
    recs = feats.astype(object).where(feats.notna(), None).to_dict("records")
    readings: dict[str, pd.DataFrame] = {}
    for name in names:
        prof = pol.profile(name)
        ev = prof.evidence
        read, mis, unc = [], [], []
        for r in recs:
            pre = is_preseason(r.get("growth_stage"), day, prof.emergence_checkpoint(str(r["season"]),
                                                                                   r.get("declared_crop")))
            codes = set(evidence_codes(r, ev, imagery=not pre, in_scope=True,
                                       disputed_uncertain=bool(prof.disputed_crop_uncertain)))
            read.append(not pre)
            mis.append("CROP_MISMATCH" in codes)
            unc.append("CROP_TYPE_UNCERTAIN" in codes)
        readings[name] = pd.DataFrame({"read": read, "mismatch": mis, "uncertain": unc}, index=feats.index)
    first = readings[names[0]]
    said = f"{shown} profile {profile}" if profile is not None else f"{shown}, every profile alike"
    if any(not first.equals(x) for x in readings.values()):
        # the profile of the fields' money: the one profile in the currency of their regions' prices (as underwrite
        # takes the one profile in the applications' currency)
        from models.prices import read_prices

        prices = read_prices()
        try:
            money = {prices.currency_of(str(r)) for r in feats["region"].dropna().unique()}
        except UserInputError:
            money = set()
        mine = [n for n in names if pol.profile(n).currency in money]
        if len(money) != 1 or len(mine) != 1:
            raise UserInputError(f"policy {pol.policy_id} {pol.version}: its profiles read these fields' crop "
                                 f"evidence differently: name the profile with --profile "
                                 f"({', '.join(sorted(pol.profiles))})")
        names, first = mine, readings[mine[0]]
        said = f"{shown} profile {mine[0]} (in {next(iter(money))}, the currency of the fields' regions' prices)"
    ev = pol.profile(names[0]).evidence
    thresholds = {"min_crop_type_prob": float(ev.min_crop_type_prob),
                  "min_declared_crop_prob": float(ev.min_declared_crop_prob),
                  "disputed_crop_uncertain": bool(pol.profile(names[0]).disputed_crop_uncertain)}
    return first, said, thresholds


def crop_model_performance(features: str | Path, verified: str | Path, *, version: str | None = None,
                           checkpoint: str | None = None, interval_by: str = "field",
                           policy: str | Path | None = None, profile: str | None = None) -> CropOutcomesResult:
    """Outcomes analysis of the crop-type version that built ``features`` (one date's FieldFeatures Parquet of a
    season, as underwriting read it) against the season's ``verified`` crops (:func:`read_verified`); every user
    error a one-line :class:`UserInputError`."""
    from models import registry
    from pipelines.evaluation._bootstrap import check_bank_interval_by, describe, farmer_groups
    from pipelines.outcomes import _one_date, refuse_in_sample
    from pipelines.stability import read_features
    from underwriting.policy import load_policy

    check_bank_interval_by(interval_by)
    fpath, vpath = Path(features), Path(verified)
    feats = read_features(fpath)
    as_of, season = _one_date(feats, str(fpath))
    feats = feats.assign(season=season, field_id=feats["field_id"].astype(str).str.strip())
    if profile is not None:
        load_policy(policy).profile(profile)  # an unknown profile said before any model is loaded
    found, repeated = read_verified(vpath)
    resolved, notes = _resolve_built(fpath, version)
    v, model = str(resolved.version), resolved.model
    trained = refuse_in_sample(ANALYSED, v, _training_seasons(v), season, str(fpath), "features and verified crops")
    gov = registry.governance(ANALYSED, v)
    if checkpoint is not None and checkpoint not in gov.checkpoints:
        raise UserInputError(f"models performance --checkpoint {checkpoint!r}: {ANALYSED} version {v} was validated "
                             f"at {', '.join(gov.checkpoints)}")
    this = found[found["season"] == season]
    if this.empty:
        seen = sorted(set(found["season"]), key=int)
        raise UserInputError(f"{vpath}: no verified crop of season {season} (the file's seasons: "
                             f"{', '.join(seen[-6:])})")
    unmatched = int((~this["field_id"].isin(set(feats["field_id"]))).sum())
    if unmatched == len(this):
        raise UserInputError(f"{vpath}: none of its {len(this)} verified field(s) of season {season} is in "
                             f"{fpath.name} (field ids compared as written, spaces trimmed)")
    truth = feats["field_id"].map(this.set_index("field_id")["verified_crop"])
    crop = feats["crop_type"].astype(object)
    has_pred = (crop.notna() & (crop.astype(str).str.strip() != "")).to_numpy() \
        & np.isfinite(pd.to_numeric(feats["crop_type_prob"], errors="coerce").to_numpy(dtype="float64"))
    if not has_pred.any():
        raise UserInputError(f"{fpath}: no field has a crop type (built before the model's first checkpoint, or "
                             "without a crop-type model): nothing to score")
    have_truth = truth.notna().to_numpy()
    if "region" in feats.columns:  # another region's fields: said first, as yield-value says it (a review)
        from pipelines.stability import region_mismatch

        mismatch = region_mismatch(str(fpath), ANALYSED, str(v), feats["region"], gov.regions, have_truth)
        if mismatch is not None:
            raise mismatch
    cps = _row_checkpoints(model, registry.input_profile(ANALYSED, v), gov, feats, as_of)
    if cps is None:
        if checkpoint is None:
            raise UserInputError(f"{fpath}: which checkpoint of {ANALYSED} version {v} scored these fields cannot be "
                                 f"told here: name it with --checkpoint ({', '.join(gov.checkpoints)})")
        cps = np.full(len(feats), checkpoint, dtype=object)
        notes.append(f"every field taken as scored at checkpoint {checkpoint} on --checkpoint (the version's "
                     "checkpoint of each field cannot be told here)")
    reached = pd.Series(cps[has_pred & have_truth & (cps != "")]).value_counts()
    if checkpoint is None:
        if reached.empty:
            raise UserInputError(f"{fpath}: as of {as_of} no verified field has reached a checkpoint {ANALYSED} "
                                 f"version {v} was validated at ({', '.join(gov.checkpoints)})")
        order = {c: i for i, c in enumerate(gov.checkpoints)}
        checkpoint = str(max(reached.index, key=lambda c: (reached[c], -order.get(c, 0))))
    elif checkpoint not in reached.index:
        got = ", ".join(f"{c} ({n})" for c, n in reached.items()) or "none"
        raise UserInputError(f"{fpath}: as of {as_of} no verified field is at checkpoint {checkpoint} of {ANALYSED} "
                             f"version {v} (they are at: {got}); give that checkpoint's features")
    at_cp = cps == checkpoint
    outside: dict[str, int] = {}
    if int((~have_truth).sum()):
        outside["without a verified crop"] = int((~have_truth).sum())
    if int((have_truth & ~has_pred).sum()):
        outside["without a crop type"] = int((have_truth & ~has_pred).sum())
    elsewhere = pd.Series(cps[have_truth & has_pred & ~at_cp]).value_counts()
    for c in sorted(elsewhere.index, key=lambda c: (c == "", c)):
        outside["before any checkpoint" if c == "" else f"at checkpoint {c}"] = int(elsewhere[c])
    use = have_truth & has_pred & at_cp
    n = int(use.sum())
    if n < MIN_SCORED:
        raise UserInputError(f"{vpath}: {n} fields of season {season} scored by {ANALYSED} version {v} at "
                             f"checkpoint {checkpoint} have a verified crop; an outcomes analysis needs at least "
                             f"{MIN_SCORED} (its intervals say nothing below that)")
    sub = feats[use].assign(_true=truth[use].to_numpy()).sort_values("field_id", kind="stable")
    reading, pol_text, thresholds = _policy_reading(sub, as_of, policy, profile)
    declared = (sub["declared_crop"].astype(object).where(sub["declared_crop"].notna(), "").astype(str)
                .str.strip().str.lower().str.replace(" ", "_") if "declared_crop" in sub.columns
                else pd.Series("", index=sub.index))
    rows = pd.DataFrame({"true": sub["_true"].astype(str).to_numpy(dtype=object),
                         "pred": sub["crop_type"].astype(str).str.strip().to_numpy(dtype=object),
                         "conf": pd.to_numeric(sub["crop_type_prob"], errors="coerce").to_numpy(dtype="float64"),
                         "declared": declared.to_numpy(dtype=object),
                         "dprob": pd.to_numeric(sub["declared_crop_prob"], errors="coerce").to_numpy(
                             dtype="float64") if "declared_crop_prob" in sub.columns else np.nan,
                         "read": reading["read"].to_numpy(), "mismatch": reading["mismatch"].to_numpy(),
                         "uncertain": reading["uncertain"].to_numpy()})
    groups, n_groups = farmer_groups(sub, interval_by, fpath)
    figs = crop_outcome_figures(rows, groups=groups)
    reqs = _judge_requirements(gov, checkpoint, figs)
    unknown = rows.loc[~rows["true"].isin(list(model.classes_)), "true"].value_counts()
    if len(unknown):
        notes.append(f"{int(unknown.sum())} field(s) verified as crops version {v} cannot answer "
                     f"({', '.join(f'{c} {k}' for c, k in sorted(unknown.items()))}): scored wrong — underwriting "
                     "read another crop for them")
    if unmatched:
        notes.append(f"{unmatched} verified field(s) of season {season} are not in {fpath.name}: left out")
    if repeated:
        notes.append(f"{repeated} repeated row(s) of the verified crops file (same field, season and crop) read once")
    if outside.get("without a verified crop"):
        notes.append("a sample of the fields verified: the figures are the sample's — a sample drawn at random "
                     "before the visits stands for the season; one aimed at the fields the model doubted "
                     "(CROP_TYPE_UNCERTAIN, CROP_MISMATCH) over-states its errors")
    small = [f"{c} ({k})" for c, k in figs["support"].items() if k < MIN_SCORED]
    if small:
        notes.append(f"under {MIN_SCORED} fields verified: {', '.join(small)} — their intervals are wide")
    failures = gov.failures()
    registered = ("met its minimum metrics at registration" if not failures
                  else f"at registration it missed: {'; '.join(failures)}")
    return CropOutcomesResult(version=v, features=fpath.name, verified=vpath.name, season=season, as_of=as_of,
                              checkpoint=checkpoint, training_seasons=list(trained), scored=n, outside=outside,
                              figures=figs, requirements=reqs,
                              interval=describe("scored fields", interval_by, n_groups), policy=pol_text,
                              thresholds=thresholds, data=gov.data, registered=registered, notes=notes)
