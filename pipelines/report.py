"""Self-contained HTML reports: the portfolio page and a page per farmer.

Everything is inlined — CSS, SVG maps drawn from the real field geometries, SVG
curves and charts — with no script, font or tile fetched from anywhere, so the pages
work in a bank's offline network. Pages are written atomically.

The parts live in private modules, all re-exported here: the data and what stands (:mod:`pipelines._report_data`),
the markup (:mod:`pipelines._report_html`), the map and curves (:mod:`pipelines._report_map`), the alerts
(:mod:`pipelines._report_alerts`), the portfolio's figures (:mod:`pipelines._report_figures`), the output files
(:mod:`pipelines._report_outputs`), the portfolio page (:mod:`pipelines._report_portfolio`) and a farmer's page
(:mod:`pipelines._report_farmer`); building the data from the store, the fields and the series is here.
"""

from __future__ import annotations

from collections import Counter  # noqa: F401  (kept importable from here)
from dataclasses import dataclass, field  # noqa: F401  (kept importable from here)
from datetime import date
from html import escape  # noqa: F401  (kept importable from here)
from pathlib import Path  # noqa: F401  (kept importable from here)
from typing import Any

import geopandas as gpd
import pandas as pd

from features.errors import UserInputError
from models.money import MINOR_DIGITS, format_minor  # noqa: F401  (kept importable from here)
from pipelines._monitor_format import format_evidence  # noqa: F401  (kept importable from here)
from pipelines._report_alerts import (
    _alert_table,
    _applications_of,
    _held,
    _high_alert_tokens,
    _high_alerts_by_farmer,
    _stored_alerts_at,
    alert_states,
    evidence_text,
)
from pipelines._report_data import (
    MATURED,
    ON_BOOK,
    ReportData,
    _bodies,
    latest_decisions,
    matured_off_book,
    page_day,
    page_maturities,
    standing_decisions,
    standing_on_page,
)
from pipelines._report_farmer import _flatten, _no_farmer_message, render_farmer
from pipelines._report_figures import (
    GRANTING,
    _actions_block,
    _figures_html,
    _reunderwriting,
    _split,
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
from pipelines._report_html import _CSS, _as_of_text, _Html, _money, _page, _refer_note, _set_aside_note, _table, _tag
from pipelines._report_map import BOOK_STANDS, _curve_for, _field_status, _map, record_marks
from pipelines._report_outputs import (
    CSV_TABLES,
    _write_all,
    check_outputs,
    csv_table_path,
    farmer_page_path,
    portfolio_outputs,
)
from pipelines._report_portfolio import render_portfolio
from pipelines._svg import (  # noqa: F401  (kept importable from here)
    ALERT_STROKE_WIDTH,
    ALERT_STROKES,
    OUTCOME_COLOURS,
    bar_svg,
    curve_svg,
    map_svg,
)
from pipelines.monitor import mark_held  # noqa: F401  (kept importable from here)
from underwriting.book import balance_date_text  # noqa: F401  (kept importable from here)
from underwriting.standing import (  # noqa: F401  (kept importable from here)
    book_maturities,
    line_block,
    line_matured,
    line_standing,
)

__all__ = ["ReportData", "render_portfolio", "render_farmer", "latest_decisions", "standing_decisions",
           "build_report_data", "build_report_data_county"]
# moved to the private modules (pure move) and importable from here as before: other modules and tests import them
# from pipelines.report
__all__ += ["_CSS", "ON_BOOK", "_Html", "_tag", "_table", "_money", "_field_status", "BOOK_STANDS", "_map", "_curve_for",
            "evidence_text", "_applications_of", "_alert_table", "_held", "_set_aside_note", "_stored_alerts_at",
            "alert_states", "_as_of_text", "_page", "GRANTING", "_split", "exposure_by_crop", "_reunderwriting",
            "_actions_block", "proposed_actions_rows", "proposed_actions_table", "not_reestimated_lines",
            "changed_at_latest_checkpoint", "main_crops", "book_without_decision", "_sums", "_high_alert_tokens",
            "_high_alerts_by_farmer", "manager_figures", "MATURED", "matured_off_book", "_refer_note", "page_day",
            "standing_on_page", "_bodies", "matured_lines", "matured_out_text", "page_maturities", "_figures_html", "CSV_TABLES", "csv_table_path", "portfolio_outputs",
            "farmer_page_path", "check_outputs", "_write_all", "_flatten", "_no_farmer_message"]


# --- building the data from the store, the fields and the series ----------------------------------------

def build_report_data(*, store: Any, fields: gpd.GeoDataFrame, season: str | None = None,
                      series: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                      alerts: pd.DataFrame | None = None, as_of: date | None = None, synthetic: bool = False,
                      title: str = "agcredit portfolio", params: Any = None, unlabelled: bool = False,
                      weather: pd.DataFrame | None = None, crop_model: Any = None,
                      book: pd.DataFrame | None = None) -> ReportData:
    """ReportData from the decision store (its latest records), the fields (every season: past ones give the
    expected bands), the season's series (NDVI curves) and past seasons' series (``history``).

    ``season``: default the latest season in the store; ``as_of``: default the latest as-of date of its records
    (nothing observed later is drawn). ``alerts``: computed with :func:`pipelines.monitor.season_alerts` when
    None and ``series`` and ``history`` are given (``params``: :class:`pipelines.monitor.AlertParams` of both
    the bands and the alerts; ``crop_model``: the crop-type model whose declared-crop probability raises
    CROP_MISMATCH, as ``monitor`` uses the champion). ``book``: the Book, whose lines alerts name; the page totals
    its lines of the season active on the report's date and lists those no record of the season decides
    (:attr:`ReportData.book`). Checkpoints marked on the curves are the as-of dates of the stored records (first
    decisions and re-underwriting runs).
    """
    from features.series import season_window
    from pipelines.featurize import check_as_of_in_season, check_as_of_in_window
    from pipelines.monitor import AlertParams, clear_ndvi, expected_bands, fields_region, season_alerts
    from underwriting.store import DecisionStore

    # the fields in one order whatever the file's (the map's and the curves' drawing order: shuffled rows gave other
    # page bytes; a walkthrough)
    fields = fields.sort_values([c for c in ("season", "field_id") if c in fields.columns], kind="stable"
                                ).reset_index(drop=True)
    st = store if isinstance(store, DecisionStore) else DecisionStore(store, create=False, read_only=True)
    try:
        records = st.records(season)
        other_key = st.other_token_key()
    finally:
        if not isinstance(store, DecisionStore):
            st.close()
    if records.empty:
        raise UserInputError(f"report: no decisions stored in {st.shown_url}" + (f" for season {season}" if season
                                                                                 else ""))
    tokens = set(fields["farmer_token"].astype(str))
    mine = records[records["farmer_token"].astype(str).isin(tokens)]
    if mine.empty:
        raise UserInputError(f"report: none of the {len(records)} record(s) in {st.shown_url}"
                             + (f" for season {season}" if season else "") + " is of a farmer of the fields given"
                             + (f" — {other_key}" if other_key else ""))
    records = mine
    season = str(season or max(records["season"].astype(str)))
    records = records[records["season"].astype(str) == season]
    if records.empty:
        raise UserInputError(f"report: no decision of season {season} in {st.shown_url} is of a farmer of the fields "
                             "given")
    if as_of is not None:  # a future date is refused as monitor refuses it (alerts 'raised' on a future day)
        check_as_of_in_season(fields, season, as_of)
        # after the season window nothing is observed: refused as reunderwrite and monitor refuse it (a report dated
        # after every maturity still counted the season's lines)
        check_as_of_in_window(fields, season, as_of)
    day = as_of or date.fromisoformat(str(max(records["as_of"])))
    if as_of is not None and not (records["as_of"] <= day.isoformat()).any():
        raise UserInputError(f"report: none of the {len(records)} record(s) of season {season} is dated on or "
                             f"before {day} (the first is as of {min(records['as_of'])})")
    records = records[records["as_of"] <= day.isoformat()]
    from pipelines.reunderwrite import active_lines
    from underwriting.book import book_as_of

    book = book_as_of(book, day)  # a dated Book: each line's latest balance on or before the page's date
    lines = active_lines(book, day, season) if book is not None and len(book) else pd.DataFrame()
    # every line's maturity then, active or not (a line the Book says matured is no active line: its record's later
    # maturity was read, and it stood where `decisions export --book` had it matured)
    dues = book_maturities(book) if book is not None else None
    f = fields[fields["season"].astype(str) == season]
    if f.empty:
        raise UserInputError(f"report: no field of season {season} in the fields given")
    f = f.assign(crop=f["declared_crop"]) if "crop" not in f.columns else f
    region = fields_region(f)
    start = season_window(season, region)[0] if region else None
    obs = clear_ndvi(series, as_of=day) if series is not None and len(series) else pd.DataFrame()
    bands = pd.DataFrame()
    p = params or AlertParams()
    alerts_given, computed = alerts is not None, False
    if history is not None and len(history) and start is not None:
        past = sorted(str(s) for s in history["season"].astype(str).unique() if str(s) < season)
        starts = {s: season_window(s, region)[0] for s in past}
        meta = fields[fields["season"].astype(str).isin(past)]
        crops = pd.DataFrame({"field_id": meta["field_id"].astype(str), "season": meta["season"].astype(str),
                              "crop": meta["declared_crop"], "region": meta["region"].astype(str)})
        bands = expected_bands(clear_ndvi(history[history["season"].astype(str).isin(past)]), crops, starts, p)
        if alerts is None and series is not None:
            from pipelines.reunderwrite import book_with_decided

            # the store's decided lines beside the Book's, as `monitor --store` names them (alerts on granted lines
            # without a Book entry showed no line)
            book = book_with_decided(book, records, day, season)
            feats = None
            if crop_model is not None and len(series):
                feats = crop_model.predict(series, f.drop(columns="geometry", errors="ignore"), day)
            alerts = season_alerts(fields, series, history, season, day, features=feats, book=book, params=p,
                                   weather=weather, crop_model=crop_model)
            computed = True
    checkpoints = record_marks(records)
    if alerts_given:  # the caller computed them on the season's fields
        evaluated: frozenset[str] | None = frozenset(f["field_id"].astype(str))
    elif computed:  # the fields with a series read as of the date
        evaluated = frozenset(series["field_id"].astype(str)) if series is not None and len(series) else frozenset()
    else:
        evaluated = None
    return ReportData(season=season, decisions=records.reset_index(drop=True), fields=f.reset_index(drop=True),
                      alerts=alerts if alerts is not None else pd.DataFrame(), obs=obs, bands=bands,
                      season_start=start, checkpoints=checkpoints, synthetic=synthetic, unlabelled=unlabelled,
                      title=title, as_of=as_of,
                      book=lines, evaluated=evaluated, mismatch_evaluated=alerts_given or crop_model is not None,
                      maturities=dues)


def build_report_data_county(county: Any, *, store: Any, season: str | None = None, as_of: date | None = None,
                             history: pd.DataFrame | None = None, params: Any = None,
                             crop_model: Any = None) -> ReportData:
    """:func:`build_report_data` on a county folder (its fields, cached series, synthetic flag); ``history``: the
    past seasons' series when already read (:meth:`pipelines.county.County.past_series`); ``params``: the alert
    thresholds (the crop-type champion's, :func:`pipelines.monitor.alert_params_of`, as monitor uses them)."""
    from pipelines.county import County

    c = county if isinstance(county, County) else County(county)
    season = str(season or c.current_season)
    if as_of is not None:  # before any scene is read
        from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

        check_as_of_in_season(c.fields(), season, as_of)
        check_as_of_in_window(c.fields(), season, as_of)
    from pipelines._id_spelling import refuse_ids_written_otherwise

    # a Book line whose farmer the fields write otherwise: its alerts would name no line (a review), before any scene
    refuse_ids_written_otherwise(season=season, fields=c.fields(), book=c.book(), fields_source="fields.gpkg",
                                 book_source="book.csv")
    if history is None:
        history = c.past_series(season)
    return build_report_data(store=store, fields=c.fields(), season=season, series=c.series(season, as_of),
                             history=history, as_of=as_of, params=params, crop_model=crop_model, book=c.book(),
                             synthetic=c.synthetic, unlabelled=c.data_kind == "unlabelled", title=f"agcredit portfolio — {c.path.name}", weather=c.weather())
