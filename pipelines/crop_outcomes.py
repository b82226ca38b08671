"""``agcredit models performance crop-type``: outcomes analysis of a crop-type model in use — once a season's crops
are verified (a field inspection, the harvest's sale records, an insurer's loss adjuster), how the crop types and
probabilities underwriting read from a features build compare with the crops found, beside the declared crop taken as
the answer, and whether the version still meets, on these outcomes, the minimum metrics it was promoted on.

What it scores is what underwriting read: the features file's own ``crop_type``, ``crop_type_prob`` and
``declared_crop_prob`` (:func:`pipelines.featurize.featurize`), not a fresh prediction — the version is the one the
file's lineage names (``--version`` must agree with it; a file without one, or built with a saved folder, needs
``--version`` and is taken on that word, said in a note). The figures are the held-out evaluation's
(:mod:`pipelines.evaluation.crop_type`): accuracy, macro-F1, per-class recall and F1, and the top-label expected
calibration error (15 equal-width bins, :func:`features._calibration.expected_calibration_error`), beside the
declared-crop baseline and the model's lead over it (paired); and what the credit policy reads of the probabilities
(its evidence thresholds, ``min_crop_type_prob`` 0.80 and ``min_declared_crop_prob`` 0.20 in the default policy):
how often the crop of a field the policy trusts (top probability at or above 0.80) was right, how often a
declaration it confirms (P(declared) at or above 0.80) was right, and of the declarations it disputes
(CROP_MISMATCH, below 0.20) how many were wrong, and how many of the wrong ones it caught.

Honest by construction: a season the version trained on, or one before it, is refused (in sample, or scored by a
model that learned from later seasons), as are a features file of several dates or seasons and fewer than
:data:`MIN_SCORED` verified fields. Each figure has a 95% percentile bootstrap interval over the scored fields (or
farmers, drawn whole: ``--interval-by farmer``) from the evaluations' fixed seed, drawn in field-id order, so the same
inputs print the same report byte for byte in any row order. The version's minimum metrics at the scored checkpoint
(``accuracy_<cp>``, ``macro_f1_<cp>``, ``ece_<cp>``) are judged on the interval — *met*, *not met*, *interval
straddles* (:func:`pipelines.outcomes.judge`) —; they were measured at registration against the farmers' DECLARED
crops of a held-out season, these against the verified ones. One season, and often a sample of its fields: an
ordinary season can miss one, so a miss exits 1 only with ``--fail-on-miss``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import UserInputError, format_offenders

__all__ = ["CropOutcomesResult", "crop_model_performance", "crop_outcome_figures", "read_verified"]

#: the model whose outcomes this analyses
ANALYSED = "crop-type"
#: fewest scored fields: below it the intervals are wide enough to say nothing
MIN_SCORED = 30
#: the figures each minimum metric of a crop-type version names (``<figure>_<checkpoint>``)
GATED = ("accuracy", "macro_f1", "ece")
#: the headline figures with an interval, in print order
FIGURES = ("accuracy", "macro_f1", "ece", "baseline_accuracy", "lead", "trusted_accuracy", "confirmed_right",
           "disputed_wrong", "wrong_caught")
#: the ECE's bins (the registry's held-out ECE and the evaluation's)
ECE_BINS = 15
_VERSION_RE = re.compile(r"^crop-type version (\d+)\b")


def read_verified(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Verified crops from CSV or Parquet: ``field_id, season, verified_crop`` (``fallow``: nothing planted; an empty
    cell: not verified, left out), each checked as a crop the engine knows; a field-season verified twice with
    different crops is refused naming its data rows (1-based, header excluded), never a cell; rows repeated as they
    are are read once and counted. Returns the rows (seasons as their year's digits) and the repeats dropped."""
    from features.fields import check_known_crops, normalise_crop
    from features.identity import identifiers_hidden, looks_personal, name_words
    from models.governance import season_text
    from pipelines.errors import read_checked

    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: verified crops file not found")
    parquet = p.suffix.lower() in (".parquet", ".pq")
    df = read_checked(p, f"{p}: verified crops file", lambda: pd.read_parquet(p) if parquet else
                      pd.read_csv(p, dtype=str, keep_default_na=False), "Parquet" if parquet else "CSV")
    missing = [c for c in ("field_id", "season", "verified_crop") if c not in df.columns]
    if missing:
        raise UserInputError(f"{p}: missing column(s) {format_offenders(missing)} "
                             "(expected field_id, season, verified_crop)")
    if df.empty:
        raise UserInputError(f"{p}: verified crops file has no rows")
    where = pd.Series([f"data row {i + 1}" if looks_personal(str(f)) or looks_personal(str(s)) else f"{f}/{s}"
                       for i, (f, s) in enumerate(zip(df["field_id"], df["season"], strict=True))], index=df.index)
    with identifiers_hidden(df):  # the file's own farmers' names, IDs and phones never quoted
        check_known_crops(df["verified_crop"], source=p.name, column="verified_crop", rows=where,
                          hidden=name_words(df))
    out = pd.DataFrame({"field_id": df["field_id"].astype(str).str.strip(),
                        "season": [season_text(x).strip() for x in df["season"]],
                        "verified_crop": df["verified_crop"].map(normalise_crop)})
    out = out[out["verified_crop"].notna()]
    key = ["field_id", "season"]
    dup = out.duplicated(key, keep=False)
    if not dup.any():
        return out.reset_index(drop=True), 0
    differ = out[dup].groupby(key)["verified_crop"].nunique().gt(1)
    if differ.any():
        bad = out[dup].set_index(key).index.isin(differ[differ].index)
        rows = [int(i) + 1 for i in out[dup].index[bad]]
        raise UserInputError(f"{p}: {int(differ.sum())} field-season(s) verified twice with different crops, at "
                             f"data rows {format_offenders(rows)}: keep one row of each")
    kept = out.drop_duplicates(key, keep="last")
    return kept.reset_index(drop=True), len(out) - len(kept)


def _weighted_ece(conf: np.ndarray, correct: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The top-label ECE (:data:`ECE_BINS` equal-width bins, as
    :func:`features._calibration.expected_calibration_error` bins them) of each row of counts ``w``: Σ over bins of
    |Σ w·right − Σ w·confidence| / Σ w — the bin share times the gap of its means."""
    from pipelines.evaluation._bootstrap import resample_sums

    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, ECE_BINS - 1)
    total = np.zeros(len(w))
    for b in np.unique(idx):
        m = idx == b
        total += np.abs(resample_sums(w[:, m], correct[m]) - resample_sums(w[:, m], conf[m]))
    n = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, total / n, np.nan)


def _share(w: np.ndarray, hit: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Each resample's share of ``hit`` among the rows ``among`` (NaN where it draws none of them)."""
    num = w @ (hit & among).astype(np.int64)
    den = w @ among.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _block_figures(rows: dict[str, np.ndarray], low: float, high: float, w: np.ndarray) -> dict[str, Any]:
    """Every figure once per row of counts ``w`` (a row of ones: the figures themselves)."""
    from features._crop_eval import weighted_classification_metrics

    w = np.atleast_2d(w)
    cls = weighted_classification_metrics(rows["true"], rows["pred"], w)
    correct = rows["true"] == rows["pred"]
    declared = rows["declared"] != ""
    dright = declared & (rows["declared"] == rows["true"])
    post = rows["dprob"]
    has_post = declared & np.isfinite(post)
    base = _share(w, dright, declared)
    out: dict[str, Any] = {
        "accuracy": cls["accuracy"], "macro_f1": cls["macro_f1"], "recall": cls["recall"], "f1": cls["f1"],
        "ece": _weighted_ece(rows["conf"], correct.astype(np.float64), w),
        "baseline_accuracy": base,
        # paired: the model's and the baseline's accuracy on the same resample's declared fields
        "lead": _share(w, correct, declared) - base,
        "trusted_accuracy": _share(w, correct, rows["conf"] >= high),
        "confirmed_right": _share(w, dright, has_post & (post >= high)),
        "disputed_wrong": _share(w, ~dright, has_post & (post < low)),
        "wrong_caught": _share(w, post < low, has_post & ~dright)}
    return out


def crop_outcome_figures(rows: pd.DataFrame, *, low: float, high: float, groups: np.ndarray | None = None
                         ) -> dict[str, Any]:
    """The figures of the scored fields (``rows``: ``true`` the verified crop, ``pred`` the model's, ``conf`` its
    probability, ``declared`` the declared crop or "", ``dprob`` P(declared) or NaN) and each one's 95% interval
    (``<figure>_ci``; per class: ``recall_ci`` and ``f1_ci`` dicts); ``low`` / ``high``: the policy's dispute and
    confidence thresholds; ``groups``: cluster codes or None (every field drawn on its own)."""
    from pipelines.evaluation._bootstrap import blockwise, count_blocks, percentile_interval

    data = {"true": rows["true"].astype(str).to_numpy(dtype=object),
            "pred": rows["pred"].astype(str).to_numpy(dtype=object),
            "conf": rows["conf"].to_numpy(dtype="float64"),
            "declared": rows["declared"].astype(str).to_numpy(dtype=object),
            "dprob": rows["dprob"].to_numpy(dtype="float64")}
    n = len(rows)
    point = _block_figures(data, low, high, np.ones((1, n), dtype=np.int64))
    drawn = blockwise(lambda b: _block_figures(data, low, high, b), count_blocks(n, np.arange(n), groups=groups))
    out: dict[str, Any] = {"n": n}
    for f in FIGURES:
        v = float(point[f][0])
        out[f] = v if math.isfinite(v) else None
        out[f"{f}_ci"] = percentile_interval(drawn[f]) if math.isfinite(v) else None
    for k in ("recall", "f1"):
        out[k] = {c: float(a[0]) for c, a in point[k].items() if math.isfinite(float(a[0]))}
        out[f"{k}_ci"] = {c: percentile_interval(drawn[k][c]) for c in out[k]}
    truth = data["true"]
    out["support"] = {c: int((truth == c).sum()) for c in sorted(set(truth.tolist()))}
    declared = data["declared"] != ""
    post = data["dprob"]
    has_post = declared & np.isfinite(post)
    wrong = has_post & (data["declared"] != truth)
    out["counts"] = {"declared": int(declared.sum()), "with_posterior": int(has_post.sum()),
                     "declared_wrong": int(wrong.sum()), "trusted": int((data["conf"] >= high).sum()),
                     "confirmed": int((has_post & (post >= high)).sum()),
                     "disputed": int((has_post & (post < low)).sum())}
    return out


def _judge_requirements(gov: Any, checkpoint: str, figs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each minimum metric of ``gov`` at ``checkpoint`` (``accuracy_<cp>``, ``macro_f1_<cp>``, ``ece_<cp>``) with
    the season's figure, its interval, the held-out value at registration and the judgement."""
    from pipelines.outcomes import judge

    out: list[dict[str, Any]] = []
    for r in gov.minimum_metrics:
        fig = next((g for g in GATED if r.metric == f"{g}_{checkpoint}"), None)
        if fig is None:
            continue
        value, iv = figs.get(fig), figs.get(f"{fig}_ci")
        held = gov.metrics.get(r.metric)
        out.append({"metric": r.metric, "op": r.op, "threshold": float(r.threshold), "value": value,
                    "interval": iv,
                    "validated": float(held) if held is not None and math.isfinite(float(held)) else None,
                    "judgement": judge(r.op, float(r.threshold), *(iv if iv else (math.nan, math.nan)))})
    return out


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
    low: float
    high: float
    policy: str
    data: str = "real"
    registered: str = ""
    notes: list[str] = field(default_factory=list)

    def _judged(self, judgement: str) -> list[str]:
        return [r["metric"] for r in self.requirements if r["judgement"] == judgement]

    def missed(self) -> bool:
        """Whether a minimum metric of the checkpoint is missed by its whole interval (``--fail-on-miss``: exit 1)."""
        return bool(self._judged("not met"))

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

        def fig(key: str, pct: bool = True, sign: bool = False) -> str:
            v, iv = f.get(key), f.get(f"{key}_ci")
            if v is None:
                return "—"
            if not pct:
                return f"{v:.3f}" + (f" ({interval_text(*iv)})" if iv else "")
            if sign:  # a difference of two shares, in percentage points
                return f"{100 * v:+.1f} points" + (f" ({interval_text(100 * iv[0], 100 * iv[1], '+.1f')})"
                                                    if iv else "")
            return f"{100 * v:.1f}%" + (f" ({interval_text(100 * iv[0], 100 * iv[1], '.1f')}%)" if iv else "")

        c = f["counts"]
        out = [f"crop-type version {self.version}, trained on seasons {', '.join(self.training_seasons)}: verified "
               f"crops of season {self.season}{synth}",
               f"  features: {self.features}, as of {self.as_of} (checkpoint {self.checkpoint})",
               f"  verified crops: {self.verified}: {self.scored} fields scored"
               + "".join(f", {k}: {v}" for k, v in self.outside.items()),
               "",
               f"  accuracy {fig('accuracy')}, macro-F1 {fig('macro_f1', pct=False)}, calibration error (ECE) "
               f"{fig('ece', pct=False)}",
               f"  the declared crop as the answer: accuracy {fig('baseline_accuracy')} on {c['declared']} declared "
               f"fields; the model's lead {fig('lead', sign=True)}",
               "",
               f"{'crop':<16} {'fields':>6} {'recall':>7} {'95% interval':>13} {'F1':>6} {'95% interval':>13}"]
        for crop, n in f["support"].items():
            r, riv = f["recall"].get(crop), f["recall_ci"].get(crop)
            f1, fiv = f["f1"].get(crop), f["f1_ci"].get(crop)
            out.append(f"{crop:<16} {n:>6} {'—' if r is None else format(r, '.3f'):>7} "
                       f"{interval_text(*riv) if riv else '—':>13} {'—' if f1 is None else format(f1, '.3f'):>6} "
                       f"{interval_text(*fiv) if fiv else '—':>13}")
        predicted_only = sorted(set(f["f1"]) - set(f["support"]))
        if predicted_only:
            out.append(f"  predicted but never verified: {', '.join(predicted_only)} (F1 0)")
        out += ["",
                f"what the credit policy read ({self.policy}: a crop trusted at top probability >= {self.high:g}; "
                f"a declaration confirmed at P(declared) >= {self.high:g}, disputed below {self.low:g}):",
                f"  trusted crops right: {fig('trusted_accuracy')} of {c['trusted']} fields",
                f"  confirmed declarations right: {fig('confirmed_right')} of {c['confirmed']}",
                f"  disputed declarations (CROP_MISMATCH) wrong: {fig('disputed_wrong')} of {c['disputed']}; wrong "
                f"declarations caught: {fig('wrong_caught')} of {c['declared_wrong']}",
                "",
                f"minimum metrics of version {self.version} at checkpoint {self.checkpoint} ({self.registered}; "
                "measured at registration against declared crops), on these verified crops:"]
        for r in self.requirements:
            val = "—" if r["value"] is None else f"{r['value']:.3f}"
            iv = "" if r["interval"] is None else f" [{interval_text(*r['interval'])}]"
            held = "" if r["validated"] is None else f"; held out at registration {r['validated']:.3f}"
            out.append(f"  {r['metric']} {r['op']} {r['threshold']:g}: {val}{iv}{held} — {r['judgement']}")
        if not self.requirements:
            out.append(f"  (the version records no minimum metric at checkpoint {self.checkpoint})")
        out.append(f"verdict: {self.verdict()}")
        out.append("  (one season: the intervals cover the sampling of its verified fields, not the season-to-season "
                   "spread — an ordinary season can miss a minimum metric the version met when validated)")
        out.append(f"intervals: {self.interval}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"model": ANALYSED, "version": self.version, "features": self.features, "verified": self.verified,
                "season": self.season, "as_of": self.as_of, "checkpoint": self.checkpoint, "data": self.data,
                "training_seasons": self.training_seasons, "scored": self.scored, "outside": self.outside,
                "figures": self.figures, "requirements": self.requirements, "verdict": self.verdict(),
                "missed": self.missed(), "registered": self.registered, "interval": self.interval,
                "policy": {"source": self.policy, "min_crop_type_prob": self.high,
                           "min_declared_crop_prob": self.low},
                "notes": self.notes}


def _built_with(path: Path, version: str | None) -> tuple[str, str | None]:
    """The crop-type version a features file was built with, from its lineage, and a note when it is taken on the
    user's word (``version``); one line when the lineage names none, another version, or no crop model at all."""
    from pipelines.featurize import read_lineage

    lin = read_lineage(path) or {}
    built = str(lin.get("crop_model_version") or "").strip()
    if built.lower() == "none":
        raise UserInputError(f"{path}: built without a crop-type model (--crop-model none): it has no crop types "
                             "to score")
    m = _VERSION_RE.match(built)
    if m:
        if version is not None and version.isdigit() and version != m.group(1):
            raise UserInputError(f"{path}: built with crop-type version {m.group(1)}, not {version}: its crop types "
                                 "are that version's (leave out --version, or give features that version built)")
        return m.group(1), None
    if version is None:
        what = "a saved crop-type model folder" if built.startswith("file ") else "no record of its crop model"
        raise UserInputError(f"{path}: the file has {what}: name the registered crop-type version that built it "
                             "with --version")
    why = ("built with a saved model folder (" + built[5:] + ")" if built.startswith("file ")
           else "its file records no crop model")
    return version, f"the features' crop types are taken as version {version}'s on --version: {why}"


def _row_checkpoints(model: Any, profile: dict[str, Any] | None, gov: Any, feats: pd.DataFrame,
                     as_of: str) -> np.ndarray | None:
    """Each row's checkpoint name on ``as_of`` as the model placed it (its season window by region), "" before
    any; None when it cannot be told (a window the package does not know, or a version without the profile that
    maps its checkpoints to their names)."""
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


def _policy_thresholds(policy: str | Path | None, profile: str | None) -> tuple[float, float, str]:
    """The policy's dispute and confidence thresholds (``min_declared_crop_prob``, ``min_crop_type_prob``) of
    ``profile``, or of every profile when they agree (else one line asking for ``--profile``), and how to name them."""
    from underwriting.policy import load_policy

    pol = load_policy(policy)
    shown = f"policy {pol.version}" + (f" ({Path(policy).name})" if policy is not None else "")
    if profile is not None:
        ev = pol.profile(profile).evidence
        return float(ev.min_declared_crop_prob), float(ev.min_crop_type_prob), f"{shown} profile {profile}"
    pairs = {(float(p.evidence.min_declared_crop_prob), float(p.evidence.min_crop_type_prob))
             for p in pol.profiles.values()}
    if len(pairs) != 1:
        raise UserInputError(f"policy {pol.policy_id} {pol.version}: its profiles read crop-type probabilities by "
                             f"different thresholds: name the profile with --profile "
                             f"({', '.join(sorted(pol.profiles))})")
    low, high = pairs.pop()
    return low, high, f"{shown}, every profile"


def crop_model_performance(features: str | Path, verified: str | Path, *, version: str | None = None,
                           checkpoint: str | None = None, interval_by: str = "field",
                           policy: str | Path | None = None, profile: str | None = None) -> CropOutcomesResult:
    """Outcomes analysis of the crop-type version that built ``features`` (one date's FieldFeatures Parquet of a
    season, as underwriting read it) against the season's ``verified`` crops (:func:`read_verified`); every user
    error a one-line :class:`UserInputError`."""
    from models import registry
    from models.governance import season_text
    from pipelines.evaluation._bootstrap import INTERVAL_BY, check_interval_by, describe, group_codes
    from pipelines.outcomes import _one_date
    from pipelines.stability import read_features
    check_interval_by(interval_by)
    if interval_by not in ("field", "farmer"):
        raise UserInputError(f"--interval-by: expected field or farmer here (not {INTERVAL_BY[interval_by]}: "
                             "a bank's fields carry no simulated condition)")
    fpath, vpath = Path(features), Path(verified)
    feats = read_features(fpath)
    as_of, season = _one_date(feats, str(fpath))
    feats = feats.assign(season=season, field_id=feats["field_id"].astype(str).str.strip())
    ver, taken_note = _built_with(fpath, version)
    low, high, pol_text = _policy_thresholds(policy, profile)
    found, repeated = read_verified(vpath)
    resolved = registry.resolve(ANALYSED, ver,
                                flavour=registry.SaveLoadFlavour("features.crop_type:CropTypeClassifier"))
    v, model = str(resolved.version), resolved.model
    trained = _training_seasons(v)
    if trained is None:
        raise UserInputError(f"{ANALYSED} version {v} records no training seasons (registered by another trainer): "
                             "its outcomes cannot be told from its training data")
    years = [int(t) for t in (season_text(x) for x in trained) if t.isdigit()]
    if season in trained or (years and int(season) <= max(years)):
        raise UserInputError(f"{fpath}: season {season} is not after the seasons {ANALYSED} version {v} trained on "
                             f"({', '.join(trained)}): its outcomes there are in sample, or scored by a model that "
                             "learned from later seasons; give a later season's features and verified crops")
    gov = registry.governance(ANALYSED, v)
    if checkpoint is not None and checkpoint not in gov.checkpoints:
        raise UserInputError(f"models performance --checkpoint {checkpoint!r}: {ANALYSED} version {v} was validated "
                             f"at {', '.join(gov.checkpoints)}")
    this = found[found["season"] == season]
    if this.empty:
        seen = sorted({x for x in found["season"] if x.isdigit()}, key=int)
        raise UserInputError(f"{vpath}: no verified crop of season {season} (the file's seasons: "
                             f"{', '.join(seen[-6:]) or 'none a year'})")
    truth = feats["field_id"].map(this.set_index("field_id")["verified_crop"])
    crop = feats["crop_type"].astype(object)
    has_pred = (crop.notna() & (crop.astype(str).str.strip() != "")).to_numpy() \
        & np.isfinite(pd.to_numeric(feats["crop_type_prob"], errors="coerce").to_numpy(dtype="float64"))
    if not has_pred.any():
        raise UserInputError(f"{fpath}: no field has a crop type (built before the model's first checkpoint, or "
                             "without a crop-type model): nothing to score")
    have_truth = truth.notna().to_numpy()
    learned = truth.isin(list(model.classes_)).to_numpy()
    cps = _row_checkpoints(model, registry.input_profile(ANALYSED, v), gov, feats, as_of)
    notes: list[str] = []
    if cps is None:
        if checkpoint is None:
            raise UserInputError(f"{fpath}: which checkpoint of {ANALYSED} version {v} scored these fields cannot be "
                                 f"told here: name it with --checkpoint ({', '.join(gov.checkpoints)})")
        cps = np.full(len(feats), checkpoint, dtype=object)
        notes.append(f"every field taken as scored at checkpoint {checkpoint} on --checkpoint (the version's "
                     "checkpoint of each field cannot be told here)")
    reached = pd.Series(cps[has_pred & have_truth & learned & (cps != "")]).value_counts()
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
    for what, mask in (("without a verified crop", ~have_truth),
                       ("verified as a crop it never learned", have_truth & ~learned),
                       ("without a crop type", have_truth & learned & ~has_pred),
                       (f"not at checkpoint {checkpoint}", have_truth & learned & has_pred & ~at_cp)):
        if int(mask.sum()):
            outside[what] = int(mask.sum())
    use = have_truth & learned & has_pred & at_cp
    n = int(use.sum())
    if n < MIN_SCORED:
        raise UserInputError(f"{vpath}: {n} fields of season {season} scored by {ANALYSED} version {v} at "
                             f"checkpoint {checkpoint} have a verified crop; an outcomes analysis needs at least "
                             f"{MIN_SCORED} (its intervals say nothing below that)")
    sub = feats[use].assign(_true=truth[use].to_numpy()).sort_values("field_id", kind="stable")
    declared = (sub["declared_crop"].astype(object).where(sub["declared_crop"].notna(), "").astype(str)
                .str.strip().str.lower().str.replace(" ", "_") if "declared_crop" in sub.columns
                else pd.Series("", index=sub.index))
    rows = pd.DataFrame({"true": sub["_true"].astype(str).to_numpy(dtype=object),
                         "pred": sub["crop_type"].astype(str).str.strip().to_numpy(dtype=object),
                         "conf": pd.to_numeric(sub["crop_type_prob"], errors="coerce").to_numpy(dtype="float64"),
                         "declared": declared.to_numpy(dtype=object),
                         "dprob": pd.to_numeric(sub["declared_crop_prob"], errors="coerce").to_numpy(
                             dtype="float64") if "declared_crop_prob" in sub.columns else np.nan})
    groups, n_groups = None, None
    if interval_by == "farmer":
        if "farmer_token" not in sub.columns or sub["farmer_token"].isna().all():
            raise UserInputError(f"{fpath}: --interval-by farmer needs the features' farmer_token column")
        groups = group_codes(sub["farmer_token"])
        n_groups = int(groups.max()) + 1
    figs = crop_outcome_figures(rows, low=low, high=high, groups=groups)
    reqs = _judge_requirements(gov, checkpoint, figs)
    if taken_note:
        notes.append(taken_note)
    if repeated:
        notes.append(f"{repeated} repeated row(s) of the verified crops file (same field, season and crop) read once")
    if outside.get("without a verified crop"):
        notes.append("a sample of the fields verified: the figures are the sample's — an inspection drawn by the "
                     "model's own doubts (CROP_TYPE_UNCERTAIN, CROP_MISMATCH) over-states its errors")
    small = [f"{c} ({k})" for c, k in figs["support"].items() if k < MIN_SCORED]
    if small:
        notes.append(f"under {MIN_SCORED} fields verified: {', '.join(small)} — their intervals are wide")
    failures = gov.failures()
    registered = ("met its minimum metrics at registration" if not failures
                  else f"at registration it missed: {'; '.join(failures)}")
    return CropOutcomesResult(version=v, features=fpath.name, verified=vpath.name, season=season, as_of=as_of,
                              checkpoint=checkpoint, training_seasons=list(trained), scored=n, outside=outside,
                              figures=figs, requirements=reqs,
                              interval=describe("scored fields", interval_by, n_groups), low=low, high=high,
                              policy=pol_text, data=gov.data, registered=registered, notes=notes)
