"""The checks of a FieldFeatures table given to an underwriting run, and the lineage it hands to the provenance.

A features file's lineage (:data:`LINEAGE_KEYS`, :func:`lineage_provenance`, :func:`regions_mismatch`) and the
refusals of features built from other fields, after the decision date or before held farmers were recorded.
Re-exported by :mod:`pipelines.underwrite`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from features.errors import ContractError, UserInputError, format_offenders

#: the lineage keys a features file may hand to a decision's provenance, with their types (nothing else: a file's
#: metadata must not overwrite the run's own features hash, run name or checkpoint)
LINEAGE_KEYS: dict[str, type | tuple[type, ...]] = {
    "crop_model_version": str, "imagery_source": str, "acquisition_dates": list, "families": dict,
    "smoother_hazy_dates": list, "smoother_haze_pinned": bool, "regions_sha256": str, "missing_acquisitions": list}
#: what a decision from a features file without lineage records as its crop model
NO_LINEAGE = "not recorded (features file without lineage)"


def lineage_provenance(lineage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The provenance entries a features file's lineage gives: its :data:`LINEAGE_KEYS` of the right type only;
    without lineage (or without a crop model in it), the crop model is :data:`NO_LINEAGE`."""
    got = {k: v for k, v in (lineage or {}).items() if k in LINEAGE_KEYS and isinstance(v, LINEAGE_KEYS[k])}
    built = _lineage_regions(got.pop("regions_sha256", None))
    if built is not None:  # the region files the features were built with, recorded only when not the run's own
        from features.regions import regions_digest

        if built != regions_digest():
            got["features_regions_sha256"] = built
    return {"crop_model_version": NO_LINEAGE, **got}


def _lineage_regions(value: Any) -> str | None:
    """A lineage's regions digest when it is one (64 hex characters), else None (a file's metadata is not trusted
    to put other text into a warning or a record)."""
    import re

    return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) else None


def regions_mismatch(lineage: Mapping[str, Any] | None) -> str | None:
    """A warning when a features file's lineage names other region files (``AGCREDIT_REGIONS_DIR``) than this run's:
    its season windows and calendars placed the features' phenology, this run's place the checkpoints and prices.
    None when they agree, or for a file whose lineage records no regions digest (another tool's, an earlier
    release's, or one built without the variable: it cannot tell which regions built it)."""
    from features.regions import regions_digest

    built = _lineage_regions((lineage or {}).get("regions_sha256"))
    if built is None:
        return None
    now = regions_digest()
    if built == now:
        return None

    def name(d: str | None) -> str:
        return f"region files sha256:{d[:12]}" if d else "the package's regions only"

    return (f"the features file was built with {name(built)}, this run reads {name(now)} (AGCREDIT_REGIONS_DIR): "
            "rebuild the features with this run's regions, or run with the regions they were built with")


def unfeatured_fields(features: pd.DataFrame, fields: pd.DataFrame, applications: pd.DataFrame,
                      season: str) -> list[str]:
    """The ids of the fields of ``season`` of the applications' farmers (a county's fields file may hold many more
    farmers) that have no row in ``features``, sorted."""
    run_fields = fields[fields["season"].astype(str) == season] if "season" in fields.columns else fields
    run_fields = run_fields[run_fields["farmer_token"].astype(str).isin(set(applications["farmer_token"].astype(str)))]
    return sorted(set(run_fields["field_id"].astype(str)) - set(features["field_id"].astype(str)))


def refuse_unrecorded_held(features: pd.DataFrame, fields: pd.DataFrame, applications: pd.DataFrame, season: str,
                           lineage: Mapping[str, Any] | None, *, source: str) -> None:
    """Refuse (one-line :class:`UserInputError`) a features file written by ``features build`` before it recorded
    its held farmers (a lineage without :data:`pipelines.featurize.HELD_KEY`) when it has no row for a field of the
    season's applicants: such a file built with ``--rejects`` left the field out and kept its farmer's other
    fields, so the farmer would be decided on part of their land. Such a file with every applicant's field, or a
    file without lineage (another tool's), is read as holding no farmer (the missing fields warned of, not valued)."""
    from pipelines.featurize import HELD_KEY

    if lineage is None or HELD_KEY in lineage:
        return
    gone = unfeatured_fields(features, fields, applications[applications["season"].astype(str) == season], season)
    if gone:
        raise UserInputError(f"{source} was built before `features build` recorded held farmers (its lineage has no "
                             f"{HELD_KEY}) and has no row for {len(gone)} field(s) of this run's applicants: "
                             f"{format_offenders(gone)} — an earlier `features build --rejects` left such fields out "
                             "and kept their farmers' other fields, deciding them on part of their land; rebuild it "
                             "with `agcredit features build` from this fields file")


def refuse_other_fields(features: pd.DataFrame, fields: pd.DataFrame, applications: pd.DataFrame, season: str, *,
                        source: str = "the features given", rejected: Mapping[str, str] | None = None) -> None:
    """Refuse features built from other fields than this run's (one-line :class:`UserInputError`).

    The decisions match a field to an application by the features' ``farmer_token``: a field the fields file gives
    to another farmer, a polygon changed since (its ``geometry_hash``), or a field the fields reader rejected (or
    that the file no longer has) would still be lent against as the features say. Only the fields of the season's
    applications' farmers (by either table) are compared: the features of a whole county used for five applications
    are fine. A field of the fields file without a features row is not valued (said in a warning elsewhere).
    """
    from features.fields import geometry_hashes

    tokens = set(applications.loc[applications["season"].astype(str) == season, "farmer_token"].astype(str))
    ft = features[features["season"].astype(str) == season]
    fl = fields[fields["season"].astype(str) == season] if "season" in fields.columns else fields
    f_tok = dict(zip(ft["field_id"].astype(str), ft["farmer_token"].astype(str), strict=True))
    l_tok = dict(zip(fl["field_id"].astype(str), fl["farmer_token"].astype(str), strict=True))
    ids = sorted({i for i, t in f_tok.items() if t in tokens} | {i for i, t in l_tok.items() if t in tokens and i in f_tok})
    if not ids:
        return
    f_hash = dict(zip(ft["field_id"].astype(str), ft["geometry_hash"], strict=True)) \
        if "geometry_hash" in ft.columns else {}
    mine = fl[fl["field_id"].astype(str).isin(ids)]
    l_hash = dict(zip(mine["field_id"].astype(str), geometry_hashes(mine), strict=True)) if len(mine) else {}
    problems = []
    for i in ids:
        if i not in l_tok:
            why = (rejected or {}).get(i)
            problems.append(f"{i} rejected when reading the fields ({why})" if why is not None
                            else f"{i} not in the fields file")
            continue
        what = []
        if f_tok[i] != l_tok[i]:
            what.append("farmer")
        h = f_hash.get(i)
        if h is not None and not pd.isna(h) and str(h) != l_hash[i]:
            what.append("geometry")
        if what:
            problems.append(f"{i} {' and '.join(what)} differ{'s' if len(what) == 1 else ''}")
    if problems:
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UserInputError(f"{source} {'was' if source.startswith('features file') else 'were'} built from other "
                             f"fields: {', '.join(problems[:5])}{more}; rebuild it with `agcredit features build` "
                             "from this fields file")


def refuse_later_features(features: pd.DataFrame, day: dt.date) -> None:
    """A one-line :class:`ContractError` naming every field whose features were built after the decision date
    ``day`` (evidence from the future), before any model is resolved or anything written."""
    if "as_of" not in features.columns:
        return  # check_field_features names the missing column
    dates = pd.to_datetime(features["as_of"]).dt.normalize()
    late = (dates > pd.Timestamp(day)).to_numpy()
    if late.any():
        raise ContractError(table="features", column="as_of", expected=f"on or before the decision date {day}",
                            found=f"later dates ({dates.max().date()})",
                            offenders=features.loc[late, "field_id"].astype(str).tolist())
