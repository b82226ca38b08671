"""The portfolio page (:func:`render_portfolio`) and its ``--csv`` tables.

Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from features.errors import UserInputError
from models.money import MINOR_DIGITS
from pipelines._report_alerts import _alert_table, _applications_of, _held, _high_alerts_by_farmer, alert_states
from pipelines._report_data import ON_BOOK, ReportData, _bodies, latest_decisions, page_day, standing_on_page
from pipelines._report_figures import (
    GRANTING,
    _figures_html,
    _sums,
    book_without_decision,
    changed_at_latest_checkpoint,
    exposure_by_crop,
    main_crops,
    manager_figures,
    matured_lines,
    matured_out_text,
    not_reestimated_lines,
    proposed_actions_rows,
    proposed_actions_table,
)
from pipelines._report_html import _as_of_text, _money, _page, _refer_note, _set_aside_note, _table
from pipelines._report_map import _map
from pipelines._report_outputs import _write_all, csv_table_path, portfolio_outputs
from pipelines._svg import OUTCOME_COLOURS, bar_svg
from underwriting.book import balance_date_text
from underwriting.standing import line_block


def render_portfolio(data: ReportData, out_dir: str | Path, csv_dir: str | Path | None = None) -> Path:
    """Write ``portfolio-<season>.html``: map, exposure tables, changes, alerts and charts; with ``csv_dir`` the
    exposure, proposed actions and alerts tables as ``exposure-<season>.csv``, ``actions-<season>.csv`` and
    ``alerts-<season>.csv`` there too (money in minor units of the ``currency`` column; pseudonymous ids only)."""
    dec = latest_decisions(data.decisions)
    if dec.empty:
        raise UserInputError(f"report: no decisions stored for season {data.season}")
    currencies = sorted(set(dec["currency"].astype(str)))
    if len(currencies) > 1:  # a sum over them means nothing; each currency's portfolio is reported apart
        raise UserInputError(f"report: the decisions of season {data.season} hold more than one currency "
                             f"({', '.join(currencies)}); totals cannot add them: report each currency's farmers "
                             "apart (--fields with their fields only)")
    cur = currencies[0]

    bodies = _bodies(dec)
    crops = main_crops(data.fields)
    dec = dec.assign(crop=dec["farmer_token"].map(crops).fillna(""))
    # what stands: a line kept at a re-underwriting that re-estimated nothing counts on the decision it stands on
    # (its REFER's indicative 0 is no estimate), a line never decided in the store on its Book limit, a Book line
    # matured before the page's date on none (:func:`standing_on_page`, as the map and the farmer page read it)
    std = standing_on_page(data)
    std_bodies = _bodies(std)
    # the crop shown: a Book line's own (the contract's, in the Book of the page's date), else the farmer's of the
    # largest declared area — a maize line showed as winter_wheat, its farmer's largest declared field
    book_crops = (dict(zip(data.book["line_id"].astype(str), data.book["crop"].astype(str), strict=True))
                  if len(data.book) and {"line_id", "crop"} <= set(data.book.columns) else {})
    line_crops = [book_crops.get(str(line_block(b).get("line_id") or "")) for b in std_bodies]
    std = std.assign(crop=[c if c is not None else crops.get(t, "") for c, t
                           in zip(line_crops, std["farmer_token"], strict=True)])
    day = page_day(data)
    on_book = std["book_standing"].notna()
    # the chart: each application's latest outcome; under it, how many of them stand on their Book line
    latest = dec["outcome"].astype(str)
    bar_labels: list[str] = []
    bar_values: list[float] = []
    bar_colours: list[str] = []
    for o in ("APPROVE", "REDUCE", "DECLINE", "REFER"):
        bar_labels.append(o)
        bar_values.append(float((latest == o).sum()))
        bar_colours.append(OUTCOME_COLOURS[o])
        n_book = int(((latest == o) & on_book.to_numpy()).sum())
        if n_book:
            bar_labels.append("  of which Book line stands")
            bar_values.append(float(n_book))
            bar_colours.append(OUTCOME_COLOURS[ON_BOOK])
    granted = int(std.loc[std["outcome"].isin(GRANTING), "limit"].sum())
    # a REFER's indicative limit: the row's own, or the one of the REFER a line stands past on its Book limit (or
    # matured past: skipped_limit) — the headline summed the REFER rows only and said 0 beside REFERs of 13,500 whose
    # Book lines stand (an audit)
    own = [int(sl) if sl is not None and not pd.isna(sl) else int(lim) for lim, sl
           in zip(std["limit"], std["skipped_limit"], strict=True)]
    refer = (std["outcome"] == "REFER") | (std["skipped_outcome"] == "REFER")
    on_book_refer = refer & std["book_standing"].notna()
    indicative = sum(v for v, r in zip(own, refer, strict=True) if r)
    indicative_on_book = sum(v for v, r in zip(own, on_book_refer, strict=True) if r)
    requested = sum(int((b.get("application") or {}).get("requested_amount") or 0) for b in bodies)
    # each line's outstanding balance: its latest record's Book line block (std and dec share their rows' order)
    owed = [int(line_block(b).get("outstanding") or 0) for b in bodies]
    expo = exposure_by_crop(std, std_bodies, outstanding=owed)
    granted_col = "granted or Book limit" if on_book.any() else "granted limit"
    counted = std["outcome"].isin((*GRANTING, ON_BOOK)) & (std["limit"].astype("int64") > 0)
    expo_tbl = pd.DataFrame({"crop": expo["crop"], "region": expo["region"], "applications": expo["applications"],
                             granted_col: [_money(v, cur) for v in expo["limit"]],
                             "outstanding": [_money(v, cur) for v in expo["outstanding"]],
                             "share": [f"{v / max(expo['limit'].sum(), 1):.1%}" for v in expo["limit"]]})
    if len(expo):  # the total: each application once (a line split over crops counts in each of their rows)
        expo_tbl = pd.concat([expo_tbl, pd.DataFrame({
            "crop": ["total"], "region": [""], "applications": [int(counted.sum())],
            granted_col: [_money(int(expo["limit"].sum()), cur)],
            "outstanding": [_money(int(expo["outstanding"].sum()), cur)], "share": ["100.0%"]})], ignore_index=True)
    chg, last = changed_at_latest_checkpoint(dec, bodies)
    at = {idx: k for k, idx in enumerate(dec.index)}  # bodies are in dec's row order
    # the line's Book limit: an override's body copies the re-underwriting's block, and an override changes the
    # limit, not the line's commitment in the Book (it showed empty)
    book = [line_block(bodies[at[i]]).get("book_limit") for i in chg.index]
    chg_tbl = pd.DataFrame({"application": chg["application_id"], "farmer": chg["farmer_token"],
                            "Book limit": [_money(v, cur) for v in book],
                            "previous limit": [_money(v, cur) for v in chg["previous_limit"]],
                            "limit": [_money(v, cur) for v in chg["limit"]], "outcome": chg["outcome"].astype(str),
                            "reasons": chg["reason_codes"].fillna("")})
    dec_tbl = pd.DataFrame({"application": std["application_id"], "farmer": std["farmer_token"],
                            ("crop (the Book line's; without one in the Book, the largest declared area)"
                             if any(c is not None for c in line_crops) else "crop (largest declared area)"):
                                std["crop"],
                            "outcome": std["outcome"].astype(str),
                            "limit": [_money(v, cur) for v in std["limit"]], "reasons": std["reason_codes"].fillna("")})
    if std["kept_as_of"].notna().any():  # which rows stand on an earlier decision, or on the Book line
        dec_tbl["kept (not re-estimated)"] = [
            "" if k is None else (f"since {k}: on its Book limit, its {sk} of {a} granted nothing" if sk is not None
                                  else f"since {k}: on its Book limit, never decided in the store"
                                  if not pd.isna(bk) else f"since {k}: on this decision of {a}")
            for k, bk, a, sk in zip(std["kept_as_of"], std["book_standing"], std["as_of"].astype(str),
                                    std["skipped_outcome"], strict=True)]
    if std["line_matured"].notna().any():  # no limit stands: its Book line matured, its renewal not granted
        dec_tbl["Book line matured"] = [
            "" if m is None else f"on {m}: its Book limit no longer stands" for m in std["line_matured"]]
    moved = std["record_id"].ne(dec["record_id"]) if "record_id" in std else pd.Series(False, index=std.index)
    new_refer = std["kept_as_of"].isna() & (std["skipped_outcome"].notna() | moved) & std["line_matured"].isna()
    if new_refer.any():  # a latest REFER or DECLINE re-underwriting that granted nothing (policy 2026.12.8 on)
        dec_tbl["stands on (its latest record granted nothing)"] = [
            "" if not n else f"its Book limit: its {sk} of {a} granted nothing" if sk is not None
            else f"the analyst's override of {a}, behind its latest REFER or DECLINE"
            for n, a, sk in zip(new_refer, std["as_of"].astype(str), std["skipped_outcome"], strict=True)]
    # a line matured before the page's date: nothing stands on it to act on — out of the actions and the at-risk figures
    gone = matured_lines(std, bodies, data)
    live_dec, live_bodies = dec[~gone], [b for b, g in zip(bodies, gone, strict=True) if not g]
    act_tbl = proposed_actions_table(live_dec, live_bodies, cur)
    figures = manager_figures(std, dec, bodies, owed, data, gone)
    n_kept, kept_codes = not_reestimated_lines(dec, bodies)
    kept_counts = ", ".join(f"{c} {n}" for c, n in sorted(kept_codes.items(), key=lambda kv: (-kv[1], kv[0])))
    kept_note = (f"<p class='sub'>{n_kept} line(s) not re-estimated at their latest re-underwriting: the models "
                 f"could not value their fields then ({escape(kept_counts)}"
                 "); each is kept as it stands — counted here on the decision it stands on, or its Book limit — and "
                 "nothing is proposed but a review where a high-severity alert is open</p>" if n_kept else "")
    # BOOK lines: never decided in the store, or (refer_keeps_book_limit) standing on a REFER or DECLINE that granted
    # nothing
    after_refer = on_book & std["skipped_outcome"].notna() & std["kept_as_of"].notna()
    first = std["kind"].astype(str).eq("decision") if "kind" in std.columns else pd.Series(False, index=std.index)
    latest_refer = on_book & std["skipped_outcome"].notna() & std["kept_as_of"].isna() & ~first
    renewal_refer = on_book & std["skipped_outcome"].notna() & std["kept_as_of"].isna() & first
    never = on_book & std["skipped_outcome"].isna()
    on_book_text = (f"; {int(never.sum())} line(s) never decided in the store and kept at a re-underwriting "
                    f"that could not re-estimate them stand on their Book limits ({ON_BOOK}), "
                    f"{_money(int(std.loc[never, 'book_standing'].sum()), cur)}, in the exposure by their declared "
                    "crops" if never.any() else "")
    on_book_text += (f"; {int(after_refer.sum())} line(s) kept at a re-underwriting that could not re-estimate them "
                     "whose decision was a REFER or DECLINE, which granted nothing, stand on their Book limits "
                     f"({ON_BOOK}, policy 2026.12.8 on), {_money(int(std.loc[after_refer, 'book_standing'].sum()), cur)}"
                     ", in the exposure by their declared crops" if after_refer.any() else "")
    on_book_text += (f"; {int(latest_refer.sum())} line(s) whose latest re-underwriting decided a REFER or DECLINE, "
                     f"which granted nothing, stand on their Book limits until an analyst acts ({ON_BOOK}, policy "
                     f"2026.12.8 on), {_money(int(std.loc[latest_refer, 'book_standing'].sum()), cur)}, in the "
                     "exposure by their declared crops" if latest_refer.any() else "")
    on_book_text += (f"; {int(renewal_refer.sum())} Book line(s) whose renewal application was decided REFER or "
                     f"DECLINE, which granted nothing, stand on their Book limits until an analyst acts ({ON_BOOK}, "
                     f"policy 2026.12.8 on), {_money(int(std.loc[renewal_refer, 'book_standing'].sum()), cur)}, in the "
                     "exposure by their declared crops" if renewal_refer.any() else "")
    # the Book as it stands: its lines no record of the season decides are in none of the figures but their own table
    book, no_dec = data.book, book_without_decision(data.book, data.decisions)
    dated = "balance_as_of" in book.columns  # a dated Book: each line's balance of the page's date, and its date
    no_dec_sums = f"{_sums(no_dec, 'limit')} of limits, {_sums(no_dec, 'outstanding')} outstanding" if len(no_dec) \
        else ""
    book_note = "" if book.empty else (
        f"<p class='sub'>Book: {len(book)} line(s) active on {escape(day)}, {escape(_sums(book, 'limit'))} of limits, "
        f"{escape(_sums(book, 'outstanding'))} outstanding — "
        + (f"{len(book) - len(no_dec)} followed here through their applications' records, {len(no_dec)} without a "
           f"decision of season {escape(data.season)} ({escape(no_dec_sums)}): in no other figure, table or map "
           "outcome of this page, listed under Book lines without a decision" if len(no_dec) else
           "each followed here through its application's records") + "</p>"
        + ("<p class='sub'>Book balances (drawn, outstanding): each line's latest in the Book file dated on or "
           f"before {escape(day)} (its balance_as_of, in the table of lines without a decision)</p>" if dated else
           "<p class='sub'>Book balances (drawn, outstanding) as in the Book file, undated: the same at every as-of "
           "date of this page</p>"))
    no_dec_tbl = pd.DataFrame({
        "line": no_dec["line_id"].astype(str), "Book application": no_dec["application_id"].astype(str),
        "farmer": no_dec["farmer_token"].astype(str), "crop": no_dec["crop"].astype(str),
        "limit": [_money(v, str(c)) for v, c in zip(no_dec["limit"], no_dec["currency"], strict=True)],
        "drawn": [_money(v, str(c)) for v, c in zip(no_dec["drawn"], no_dec["currency"], strict=True)],
        "outstanding": [_money(v, str(c)) for v, c in zip(no_dec["outstanding"], no_dec["currency"], strict=True)],
        **({"balance as of": [balance_date_text(v) or "undated" for v in no_dec["balance_as_of"]]} if dated else {}),
        "start": pd.to_datetime(no_dec["start_date"]).dt.date.astype(str),
        "maturity": pd.to_datetime(no_dec["maturity_date"]).dt.date.astype(str)}) if len(no_dec) else pd.DataFrame()
    # re-underwriting skips these lines, so nothing proposes an action for them: a high-severity alert on their
    # farmer's fields is named here for an analyst (a failed crop under a live line was in monitor's list only)
    high = _high_alerts_by_farmer(data)
    no_dec_high = [high.get(str(t), "") for t in no_dec["farmer_token"]] if len(no_dec) else []
    if any(no_dec_high):
        no_dec_tbl["open high-severity alerts"] = no_dec_high
    no_dec_section = "" if no_dec.empty else (
        f"<h2>Book lines without a decision of season {escape(data.season)}</h2><p class='sub'>{len(no_dec)} active "
        f"Book line(s) with no record of the season in the store, by application or farmer ({escape(no_dec_sums)}; "
        "re-underwriting skips a line without an application of the season): nothing is decided for them here"
        + (f" — {sum(bool(h) for h in no_dec_high)} with an open high-severity alert on their farmer's fields, for an "
           "analyst to review (no action is proposed for a line without a decision)" if any(no_dec_high) else "")
        + "; "
        + ("limits and balances of each line's latest Book row dated on or before the page's date</p>" if dated else
           "limits and balances as in the Book file, undated</p>") + _table(no_dec_tbl, num=("limit", "drawn", "outstanding")))
    al_state, al_closed, al_ref = alert_states(data)
    al_tbl = _alert_table(_held(al_state, data), _applications_of(data))
    if len(al_tbl):
        al_tbl.insert(0, "state", [f"new since {al_ref}" if s == "new" and al_ref else s for s in al_state["state"]])
    if len(al_closed):
        from pipelines.monitor import ALERT_TYPES

        closed_tbl = pd.DataFrame({
            "state": f"closed since {al_ref}", "field": al_closed["field_id"].astype(str),
            "line": al_closed["line_id"].astype(str),
            "application": al_closed["application_id"].astype(str), "alert": al_closed["alert"].astype(str),
            "severity": [ALERT_TYPES.get(a, "medium") for a in al_closed["alert"]],
            "raised": "", "evidence": f"open at {al_ref} ({'on the page as of then or ' if data.previous_alerts is not None else ''}"
                                      f"the store's record), not raised on {day}"})
        if len(al_tbl) and "line" not in al_tbl.columns:  # the closed alerts name their lines
            al_tbl.insert(2, "line", "")
        al_tbl = pd.concat([al_tbl, closed_tbl[[c for c in closed_tbl.columns
                                                if al_tbl.empty or c in al_tbl.columns]]], ignore_index=True)
    al_note = (f"<p class='sub'>{escape(data.models_note)}</p>" if data.models_note else "") + (
        "<p class='sub'>state: against " + escape(
        f"--since {al_ref}" if data.since is not None else f"the previous checkpoint, {al_ref}" if al_ref else
        "no earlier checkpoint (every alert new)") + " — new: raised after it; open: raised on or before it; closed: "
        + ("on the page as of --since (its alerts computed as of that date) or open then in the store's records, not "
           "raised now" if data.previous_alerts is not None else
           "open then in the store's records (the lines it follows), not raised now")
        + escape(f" — {int((al_state['state'] == 'new').sum()) if len(al_state) else 0} new, "
                 f"{int((al_state['state'] == 'open').sum()) if len(al_state) else 0} open, {len(al_closed)} closed")
        + escape(f"; {data.unassessed} held open then not evaluated now (no imagery for their fields, set aside, or "
                 "no crop-type model for CROP_MISMATCH): neither open nor closed" if data.unassessed else "")
        + escape("; alerts not computed (no imagery given): none is called closed" if data.evaluated is None else "")
        + "</p>")
    fig_html = _figures_html(figures, cur)
    body = [f"<h1>{escape(data.title)} — season {escape(data.season)}</h1>", _as_of_text(data, dec), _set_aside_note(data),
            f"<p class='sub'>{len(dec)} applications, {len(data.fields)} fields; granted "
            f"{_money(granted, cur)} (APPROVE and REDUCE) of {_money(requested, cur)} requested; indicative limits "
            f"of REFER applications {_money(indicative, cur)}"
            + (f" ({_money(indicative_on_book, cur)} of them on lines standing on their Book limits meanwhile)"
               if indicative_on_book else "") + ", not granted until an analyst decides"
            f"{escape(on_book_text)}</p>", book_note,
            "<h2>Map of fields by latest outcome (hatched: the Book line stands; wide outline: alert)</h2>",
            f"<div class='card'>{_map(data)}</div>",
            "<h2>Outcomes</h2><div class='grid'>",
            f"<div class='card'><h3>applications by latest outcome</h3>{bar_svg(bar_labels, bar_values, colours=bar_colours)}</div>",
            f"<div class='card'><h3>{escape(granted_col)} by crop ({escape(cur)})</h3>{bar_svg(list(expo['crop'].astype(str)), [v / 10 ** MINOR_DIGITS.get(cur, 2) for v in expo['limit']])}</div>",
            "</div>", "<h2>Exposure by crop and region (granted limits, each split over its fields by their stressed "
            "value" + ("; lines kept on their Book limits (BOOK) by declared crop and area" if on_book.any() else "")
            + ")</h2>", _table(expo_tbl, num=("applications", granted_col, "outstanding", "share")),
            # the crop rows counted a line split over crops in each (22) beside a total of distinct lines (11), unsaid
            f"<p class='sub'>applications: a line split over several crops or regions counts in each of their rows "
            f"({int(expo['applications'].sum())} in the rows), once in the total ({int(counted.sum())})</p>"
            if len(expo) and int(expo["applications"].sum()) != int(counted.sum()) else "", fig_html,
            f"<p class='sub'>not in it: the {len(no_dec)} Book line(s) without a decision of the season "
            f"({escape(no_dec_sums)})</p>" if len(no_dec) else "",
            f"<h2>Limits changed at the latest checkpoint ({escape(last)})</h2><p class='sub'>records dated "
            f"{escape(last)} and analysts' overrides since; Book limit: the line's commitment in the Book (as its "
            "re-underwriting recorded it, an override after one included); previous limit: the "
            "one the re-underwriting replaced (the Book line's when the line had no earlier record, or one that granted "
            "nothing: a REFER or DECLINE, policy 2026.12.8 on), else the application's previous record's</p>",
            _table(chg_tbl, num=("Book limit", "previous limit", "limit"), tags=("outcome",)), _refer_note(chg_tbl),
            "<h2>Proposed actions (each line's latest re-underwriting, or the first decision on its renewal; an "
            "analyst acts on them)</h2>",
            _table(act_tbl, num=("limit", "Book limit", "outstanding", "drawn",
                                 "undrawn frozen (Book limit − outstanding)"), tags=("outcome",)), _refer_note(act_tbl),
            ("<p class='sub'>outstanding and drawn: the balances of the Book file the record's run read, as of the "
             "date beside them (undated: the file's)</p>" if "balance as of" in act_tbl.columns else
             "<p class='sub'>outstanding and drawn: the balances as in the Book file the record's run read, undated"
             "</p>") if len(act_tbl) else "",
            f"<p class='sub'>{escape(matured_out_text(figures['matured_out']))}</p>" if figures["matured_out"] else "",
            kept_note, no_dec_section,
            "<h2>Alerts</h2>", al_note, _table(al_tbl), "<h2>Decisions</h2>", _table(dec_tbl, num=("limit",), tags=("outcome",))]
    # every output built in memory, every target checked writable, then all written (each atomically); a failure
    # part way leaves no partial output: what this run wrote is taken back (a file it replaced is put back)
    page = portfolio_outputs(out_dir, data.season)[0][0]
    outputs: list[tuple[Path, str, str]] = []
    if csv_dir is not None:
        ex = expo.assign(share=(expo["limit"] / max(int(expo["limit"].sum()), 1)).round(4))
        if len(ex):
            ex = pd.concat([ex, pd.DataFrame({"crop": ["total"], "region": [""], "applications": [int(counted.sum())],
                                              "limit": [int(expo["limit"].sum())],
                                              "outstanding": [int(expo["outstanding"].sum())], "share": [1.0]})],
                           ignore_index=True)
        acts = proposed_actions_rows(live_dec, live_bodies)
        for df, name in ((ex.assign(currency=cur), "exposure"),
                         (acts.assign(currency=cur) if len(acts) else pd.DataFrame(columns=[
                             "line", "application", "farmer", "outcome", "limit", "book_limit", "outstanding",
                             "drawn", "freeze", "actions", "from", "currency"]), "actions"),
                         (al_tbl if len(al_tbl) else pd.DataFrame(columns=["field", "application", "alert",
                                                                           "severity", "raised", "evidence"]),
                          "alerts")):
            outputs.append((csv_table_path(csv_dir, name, data.season), df.to_csv(index=False, lineterminator="\n"),
                            "report --csv"))
    outputs.append((page, _page(f"{data.title} {data.season}", "".join(body), data.synthetic, data.unlabelled),
                    "report"))
    _write_all(outputs)
    return page
