"""The portfolio page's figures: exposure by crop and region, proposed actions, changed limits and a manager's
figures (minor units; the page formats them).

Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from pipelines._report_alerts import _high_alert_tokens
from pipelines._report_data import ON_BOOK, ReportData, page_day, page_maturities
from pipelines._report_html import _money
from underwriting.standing import line_block, line_matured

#: outcomes that grant their limit (a REFER's limit is indicative: nothing is granted until an analyst decides)
GRANTING = ("APPROVE", "REDUCE")


def _split(amount: int, parts: dict[tuple[str, str], float]) -> dict[tuple[str, str], int]:
    """``amount`` split over ``parts`` in proportion, rounded down, the remainder to the largest part."""
    total = sum(parts.values())
    top = max(parts, key=lambda k: (parts[k], k))
    alloc = {k: int(amount * v // total) for k, v in parts.items()}
    alloc[top] += amount - sum(alloc.values())
    return alloc


def exposure_by_crop(dec: pd.DataFrame, bodies: list[dict[str, Any]],
                     outstanding: list[int] | None = None) -> pd.DataFrame:
    """Granted limits by crop and region: each APPROVE / REDUCE limit split over the record's valued fields in
    proportion to their stressed value (the collateral each carries), by the crop it was valued as and its region
    (a line kept on its Book limit, :data:`ON_BOOK`: over its fields by declared area and declared crop);
    a limit with no valued field goes to ``(unvalued)``. Columns: crop, region, applications, limit (minor units;
    shares rounded down, the remainder to the largest); with ``outstanding`` (each line's outstanding balance, in
    ``dec``'s order) an ``outstanding`` column too, each balance split as its line's limit."""
    rows: list[tuple[str, str, str, int, int]] = []
    outs = outstanding if outstanding is not None else [0] * len(dec)
    for app, outcome, limit, body, owed in zip(dec["application_id"], dec["outcome"], dec["limit"], bodies, outs,
                                               strict=True):
        if outcome not in (*GRANTING, ON_BOOK) or int(limit) <= 0:
            continue
        parts: dict[tuple[str, str], float] = {}
        for fld in body.get("fields") or []:
            v = fld.get("stressed_value") or 0
            if outcome == ON_BOOK:  # kept on its Book limit, nothing valued: by declared crop and declared area
                a = fld.get("declared_area_ha") or 0
                if fld.get("declared_crop") and a and a > 0:
                    k = (str(fld["declared_crop"]), str(fld.get("region") or ""))
                    parts[k] = parts.get(k, 0.0) + float(a)
            elif fld.get("included") and v and v > 0:
                k = (str(fld.get("crop_valued") or ""), str(fld.get("region") or ""))
                parts[k] = parts.get(k, 0.0) + float(v)
        if not parts:
            rows.append(("(unvalued)", "", str(app), int(limit), int(owed)))
            continue
        lim, out = _split(int(limit), parts), _split(int(owed), parts)
        rows.extend((k[0], k[1], str(app), a, out[k]) for k, a in lim.items())
    cols = ["crop", "region", "applications", "limit", *(["outstanding"] if outstanding is not None else [])]
    if not rows:
        return pd.DataFrame({c: [] for c in cols})
    df = pd.DataFrame(rows, columns=["crop", "region", "application_id", "limit", "outstanding"])
    g = df.groupby(["crop", "region"]).agg(applications=("application_id", "nunique"), limit=("limit", "sum"),
                                           outstanding=("outstanding", "sum"))
    return g.reset_index().astype({"applications": int, "limit": "int64", "outstanding": "int64"})[cols]


def _reunderwriting(rec: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The ``reunderwrite`` block of a re-underwriting record's body; {} for any other record (an override copies
    the body it supersedes, that block included: its proposed actions and replaced limit are not the override's)."""
    kind = rec.get("kind") if hasattr(rec, "get") else None
    if kind is not None and not (isinstance(kind, float) and np.isnan(kind)) and str(kind) != "reunderwrite":
        return {}
    return body.get("reunderwrite") or {}


def _actions_block(rec: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The block holding a latest record's proposed actions: a re-underwriting's ``reunderwrite`` block, or a first
    decision's ``renewal`` block (the Book line its application renews); {} for an override (the analyst has acted)."""
    ru = _reunderwriting(rec, body)
    if ru:
        return ru
    kind = rec.get("kind") if hasattr(rec, "get") else None
    if kind is None or (isinstance(kind, float) and np.isnan(kind)) or str(kind) == "decision":
        return body.get("renewal") or {}
    return {}


def proposed_actions_rows(dec: pd.DataFrame, bodies: list[dict[str, Any]]) -> pd.DataFrame:
    """The proposed actions of the latest records (``dec``, their parsed ``bodies``) proposing any — a
    re-underwriting's, or a first decision's on the renewal of a Book line — in minor units: line, application,
    farmer token, outcome, new limit, Book limit, outstanding and drawn balances, the undrawn amount a FREEZE_UNDRAWN
    freezes (Book limit − outstanding, at least 0; 0 without that action), actions, and where they come from."""
    rows = []
    for (_, d), b in zip(dec.iterrows(), bodies, strict=True):
        ru = _actions_block(d, b)  # an override after it carries a copy of its block: the analyst has acted
        acts = [str(a) for a in ru.get("proposed_actions") or []]
        if acts:
            book, out = int(ru.get("book_limit") or 0), int(ru.get("outstanding") or 0)
            rows.append({"line": str(ru.get("line_id", "")), "application": str(d["application_id"]),
                         "farmer": str(d["farmer_token"]), "outcome": str(d["outcome"]), "limit": int(d["limit"]),
                         "book_limit": book, "outstanding": out, "drawn": int(ru.get("drawn") or 0),
                         "freeze": max(0, book - out) if "FREEZE_UNDRAWN" in acts else 0,
                         "actions": ", ".join(acts),
                         "from": "renewal decision" if "reunderwrite" not in b or not _reunderwriting(d, b)
                         else "re-underwriting", "balance_as_of": str(ru.get("balance_as_of") or "")})
    out = pd.DataFrame(rows)
    if len(out) and not (out["balance_as_of"] != "").any():  # undated balances: the table as before
        out = out.drop(columns="balance_as_of")
    return out


def proposed_actions_table(dec: pd.DataFrame, bodies: list[dict[str, Any]], cur: str) -> pd.DataFrame:
    """:func:`proposed_actions_rows` as the page shows them (money formatted)."""
    r = proposed_actions_rows(dec, bodies)
    if r.empty:
        return r
    return pd.DataFrame({"line": r["line"], "application": r["application"], "farmer": r["farmer"],
                         "outcome": r["outcome"], "limit": [_money(v, cur) for v in r["limit"]],
                         "Book limit": [_money(v, cur) for v in r["book_limit"]],
                         "outstanding": [_money(v, cur) for v in r["outstanding"]],
                         "drawn": [_money(v, cur) for v in r["drawn"]],
                         **({"balance as of": r["balance_as_of"].replace("", "undated")}
                            if "balance_as_of" in r.columns else {}),
                         "undrawn frozen (Book limit − outstanding)": [_money(v, cur) if v else "" for v in r["freeze"]],
                         "actions": r["actions"], "proposed at": r["from"]})


def not_reestimated_lines(dec: pd.DataFrame, bodies: list[dict[str, Any]]) -> tuple[int, Counter[str]]:
    """How many of the latest records (``dec``, their parsed ``bodies``) are re-underwritings that re-estimated
    nothing (the models could not value the fields: ``reunderwrite.not_reestimated``; the line is kept, nothing is
    proposed but a review with an open high-severity alert), and their codes counted (a line once per code)."""
    blocks = [_reunderwriting(d, b).get("not_reestimated") or [] for (_, d), b in zip(dec.iterrows(), bodies,
                                                                                     strict=True)]
    return sum(bool(x) for x in blocks), Counter(str(c) for x in blocks for c in x)


def changed_at_latest_checkpoint(dec: pd.DataFrame, bodies: list[dict[str, Any]]) -> tuple[pd.DataFrame, str]:
    """The latest records (``dec``, from :func:`latest_decisions`; ``bodies`` parsed) dated at the latest checkpoint
    (the latest as-of among them) whose limit differs from the one before: a re-underwriting's
    ``reunderwrite.previous_limit`` (the limit it replaced: the Book line's when there was no earlier record or,
    under ``refer_keeps_book_limit``, the earlier one was a REFER or DECLINE), else
    the previous record's. Returns those rows (``previous_limit`` set so) and the checkpoint's date."""
    kinds = dec["kind"].astype(str) if "kind" in dec.columns else pd.Series("", index=dec.index)
    # the latest checkpoint: the latest date of a decision or re-underwriting (an analyst's override after it
    # stays listed, against the record it replaced, without hiding the checkpoint's changes)
    dated = dec.loc[kinds != "override", "as_of"].astype(str)
    last = str(max(dated)) if len(dated) else str(max(dec["as_of"].astype(str)))
    # a re-underwriting's replaced limit; an override of a kept line: the limit the line stood on (its body's
    # override.standing_limit), not the kept record's indicative 0
    prev = [_reunderwriting(r, b).get("previous_limit") if str(r.get("kind")) != "override"
            else (b.get("override") or {}).get("standing_limit") for (_, r), b in zip(dec.iterrows(), bodies, strict=True)]
    prev_limit = pd.Series([float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else q
                            for p, q in zip(prev, dec["previous_limit"], strict=True)], index=dec.index, dtype="float64")
    d = dec.assign(previous_limit=prev_limit)
    when = d["as_of"].astype(str)
    # a line not re-estimated was kept as it stood: its REFER's indicative limit is no change of its limit
    kept = pd.Series([bool(_reunderwriting(r, b).get("not_reestimated")) for (_, r), b in
                      zip(dec.iterrows(), bodies, strict=True)], index=dec.index, dtype=bool)
    keep = ((when == last) | ((kinds == "override") & (when >= last))) & d["previous_limit"].notna() \
        & (d["previous_limit"] != d["limit"]) & ~kept
    return d[keep], last


def main_crops(fields: pd.DataFrame) -> pd.Series:
    """Each farmer's crop (by farmer token): the declared crop of the largest declared area over their fields — the
    area a line kept on its Book limit is split by in the exposure (the most frequent crop by field count showed a
    6.5 ha maize plot for 26.5 ha of soybean); ties, and fields without a declared area, by field count, then name."""
    area = (pd.to_numeric(fields["declared_area_ha"], errors="coerce").fillna(0.0)
            if "declared_area_ha" in fields.columns else pd.Series(0.0, index=fields.index))
    f = pd.DataFrame({"farmer_token": fields["farmer_token"], "crop": fields["crop"], "area": area}).dropna()
    g = f.assign(crop=f["crop"].astype(str)).groupby(["farmer_token", "crop"])["area"].agg(["sum", "size"])
    g = g.reset_index().sort_values(["sum", "size", "crop"], ascending=[False, False, True], kind="stable")
    return g.groupby("farmer_token")["crop"].first()


def book_without_decision(book: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The Book lines (``book``: its active lines of the season) with no record in ``records`` (the season's), by
    application or by farmer, as re-underwriting follows a line (its application, else the farmer's of the season):
    the lines it skips, which nothing decides."""
    if book.empty:
        return book
    seen = (book["application_id"].astype(str).isin(set(records["application_id"].astype(str)))
            | book["farmer_token"].astype(str).isin(set(records["farmer_token"].astype(str))))
    return book[~seen].reset_index(drop=True)


def _sums(lines: pd.DataFrame, col: str) -> str:
    """A money column of Book lines summed, by currency."""
    return " + ".join(_money(v, str(c)) for c, v in lines.groupby("currency")[col].sum().items())


def matured_lines(std: pd.DataFrame, bodies: list[dict[str, Any]], data: ReportData) -> np.ndarray:
    """Whether each latest record's Book line (``bodies``, in ``std``'s row order) matured before the page's date:
    :func:`underwriting.standing.line_matured` — the Book's latest maturity of the line (:func:`page_maturities`), else its
    record's line block —, the rule :func:`pipelines.report.matured_off_book` takes the line's limit off by (its
    ``line_matured``). Nothing stands on such a line to act on: :func:`manager_figures` and the proposed actions
    (the page's table, ``actions-<season>.csv``) leave it out."""
    dues, day = page_maturities(data), page_day(data)
    mine = np.array([line_matured(b, day, dues) is not None for b in bodies], dtype=bool)
    return mine | (std["line_matured"].notna().to_numpy() if "line_matured" in std.columns else False)


def manager_figures(std: pd.DataFrame, dec: pd.DataFrame, bodies: list[dict[str, Any]], owed: list[int],
                    data: ReportData, gone: np.ndarray | None = None) -> dict[str, Any]:
    """A portfolio manager's figures (minor units): the exposure at risk — limits and outstanding of the lines counted
    in the exposure with an open high-severity alert, and of those with proposed actions, neither counting a line
    matured before the page's date (``gone``: :func:`matured_lines`; ``matured_out``, how many it left out of them);
    the Book lines outside the exposure table (a standing REFER or DECLINE of a decided line or of an earlier policy:
    granted nothing, its balance still owed); whether the policy's concentration caps applied
    (``computation.concentration.applies`` of the latest records)."""
    counted = (std["outcome"].isin((*GRANTING, ON_BOOK)) & (std["limit"].astype("int64") > 0)).to_numpy()
    lim = std["limit"].astype("int64").to_numpy()
    out = np.asarray(owed, dtype="int64")
    live = ~gone if gone is not None else np.ones(len(std), dtype=bool)
    high = std["farmer_token"].astype(str).isin(_high_alert_tokens(data)).to_numpy() & counted
    acts = np.array([bool(line_block(b).get("proposed_actions")) and bool(_actions_block(r, b))
                     for (_, r), b in zip(dec.iterrows(), bodies, strict=True)], dtype=bool)
    matured_out = int(((high | acts) & ~live).sum())  # a matured line's actions and alert: moot
    high, acts = high & live, acts & live
    lined = np.array([bool(line_block(b).get("line_id")) for b in bodies], dtype=bool)
    matured = (std["line_matured"].notna().to_numpy() if "line_matured" in std.columns
               else np.zeros(len(std), dtype=bool))
    outside = lined & ~counted & ~matured

    def book_lines(mask: np.ndarray) -> tuple[int, int, int]:  # how many, their Book limits, their outstanding
        return (int(mask.sum()), sum(int(line_block(b).get("book_limit") or 0)
                                     for b, m in zip(bodies, mask, strict=True) if m), int(out[mask].sum()))

    conc: list[dict[str, Any]] = [c for b in bodies
                                  if isinstance(c := (b.get("computation") or {}).get("concentration"), dict)]
    params = next(((b.get("policy") or {}).get("parameters") or {} for b in bodies if b.get("policy")), {})
    return {"high_alert": (int(high.sum()), int(lim[high].sum()), int(out[high].sum())),
            "actions": (int(acts.sum()), int(lim[acts].sum()), int(out[acts].sum())),
            "outside": book_lines(outside), "matured": book_lines(matured), "matured_out": matured_out,
            "concentration": (sum(bool(c.get("applies")) for c in conc), len(conc),
                              next((c.get("book_total") for c in conc if c.get("book_total") is not None), None),
                              params.get("min_book_for_concentration"))}


def matured_out_text(n: int) -> str:
    """What the page says of the ``n`` lines :func:`matured_lines` left out of the proposed actions and the exposure
    at risk."""
    return (f"{n} line(s) matured before the page's date left out of the proposed actions and the exposure at risk "
            "(nothing stands on a matured line to act on)")


def _figures_html(fig: dict[str, Any], cur: str) -> str:
    n, lim, out = fig["high_alert"]
    na, la, oa = fig["actions"]
    no, lo, oo = fig["outside"]
    nm, lm, om = fig.get("matured", (0, 0, 0))
    ca, cn, total, floor = fig["concentration"]
    items = [f"exposure at risk — {n} counted line(s) with an open high-severity alert: {_money(lim, cur)} of limits, "
             f"{_money(out, cur)} outstanding; {na} line(s) with proposed actions: {_money(la, cur)} of limits, "
             f"{_money(oa, cur)} outstanding",
             f"{no} Book line(s) outside the exposure table (standing on a REFER or DECLINE: no limit counted): "
             f"{_money(lo, cur)} of limits in the Book, {_money(oo, cur)} outstanding" if no else
             "every Book line with a record of the season is in the exposure table"]
    if nm:
        items.append(f"{nm} Book line(s) matured before the page's date, their renewal not granted: their limits "
                     f"({_money(lm, cur)} in the Book) no longer stand and are not in the exposure; "
                     f"{_money(om, cur)} outstanding on them in the Book")
    if fig.get("matured_out"):
        items.append(matured_out_text(fig["matured_out"]))
    if cn:
        why = (f" (the Book, {_money(total, cur)}, is below the policy's floor for them, {_money(floor, cur)})"
               if ca == 0 and total is not None and floor is not None and int(total) < int(floor) else "")
        items.append(f"the policy's concentration caps applied to {ca} of {cn} latest record(s){why}" if ca else
                     f"the policy's concentration caps were not applied to any of the {cn} latest record(s){why}")
    else:
        items.append("concentration caps: the records do not say whether they applied")
    return "".join(f"<p class='sub'>{escape(t)}</p>" for t in items)
