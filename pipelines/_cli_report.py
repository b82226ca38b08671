"""``agcredit report portfolio`` and ``agcredit report farmer``: self-contained HTML pages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from features.atomic import undone_on_user_error
from features.errors import UserInputError
from pipelines._cli_app import (
    REJECTS_HELP,
    STORE_HELP,
    echo,
    err,
    parse_date,
    refuse_out_over_inputs,
    rejected_text,
    report_app,
    user_errors,
)

if TYPE_CHECKING:
    import geopandas as gpd

#: help of the report commands' ``--rejects``
_REJECTS = "With --fields: " + REJECTS_HELP + "; the pages name the rows set aside"
#: help of the report commands' ``--book``
_BOOK = ("With --fields: the Book of active lines (CSV or Parquet, as given to underwrite; a dated Book as of the "
         "page's date): the Book summary, the lines without a decision and the lines' maturities, as --county reads "
         "its records/book.csv")


#: the files a report command writes, given the season and the fields (every season's): ``(path, what)`` each
Outputs = Callable[[str, "gpd.GeoDataFrame"], list[tuple[Path, str]]]


def _data(county: Path | None, fields: Path | None, imagery: str | None, store: str | None, season: str | None,
          as_of: str | None, cache: Path | None, rejects: Path | None = None, *, outputs: Outputs | None = None,
          book: Path | None = None, said: set[str] | None = None) -> Any:
    """ReportData from a county folder, or from a fields file and an imagery source (``rejects``: its bad rows set
    aside there, named on the pages: :attr:`pipelines.report.ReportData.set_aside`; ``book``: the Book, read as
    ``underwrite`` reads it, :func:`underwriting.applications.read_book` — the county form reads its own). ``outputs``:
    the files the command writes, checked writable (:func:`pipelines.report.check_outputs`) as soon as the season is
    known — before the registry, the store or a scene is read, and before the Book and the rejects file. ``said``: the
    warnings printed already (``report portfolio --since`` builds the earlier page's data too: each is said once)."""
    from pipelines.report import build_report_data, build_report_data_county, check_outputs

    said = set() if said is None else said

    def warn(w: str) -> None:
        if w not in said:
            said.add(w)
            err(f"warning: {w}")

    day = parse_date(as_of, "--as-of")
    if county is not None:
        if fields is not None or imagery is not None or book is not None:
            raise UserInputError("give either --county or --fields/--imagery/--book, not both (a county folder's Book "
                                 "is its records/book.csv)")
        if rejects is not None:
            raise UserInputError("--rejects is for --fields runs; a county folder's fields file is its "
                                 "records/fields.gpkg (check it with `agcredit fields validate`)")
        from pipelines.county import County

        c = County(county, cache_dir=cache)
        season = str(season or c.current_season)
        if outputs is not None:
            check_outputs(outputs(season, c.fields()))
        model, used = _champion_crop_model(day)
        params = _champion_alert_params(c.region, model)
        if day is not None:  # a county's scenes fetched to an earlier date: said, as the fields form says it
            from pipelines._dask_featurize import _fetch_gap_warnings

            for w in _fetch_gap_warnings(c.fields(season), c.imagery, season, day):
                warn(w)
        unseen = _said_unseen_region(model, c.fields(season), warn)
        data = build_report_data_county(c, store=store, season=season, as_of=day, crop_model=model, params=params)
        return dataclasses.replace(data, models_note=_models_note(used, params, c.region, unseen))
    if fields is None:
        raise UserInputError("give --county DIR, or --fields F (with --imagery I for the NDVI curves)")

    from features.fields import read_fields_rejecting, write_rejects
    from features.series import build_series
    from pipelines.featurize import past_series
    from pipelines.monitor import ALERT_FIELDS_NEED, fields_region

    refuse_out_over_inputs(rejects, as_option="--rejects", fields=fields, imagery=imagery, book=book)
    read = read_fields_rejecting(fields, rejects, need=ALERT_FIELDS_NEED if imagery is not None else (),  # with imagery: alerts
                                 write=False)
    f = read.fields
    s = season or max(f["season"].astype(str))
    if outputs is not None:
        check_outputs(outputs(s, f))
    bk = _read_book(book, day)  # a bad Book: one line, before the rejects file, the registry or the store
    if bk is not None and book is not None:  # a line whose farmer the fields write otherwise: alerts naming no line
        from pipelines._id_spelling import refuse_ids_written_otherwise

        refuse_ids_written_otherwise(season=s, fields=f, book=bk, fields_source=Path(fields).name,
                                     book_source=Path(book).name)
    if rejects is not None:  # the rows set aside, written once the outputs are known writable
        write_rejects(read.set_aside, rejects)
    for w in read.notes():  # fields rejected when reading were left off the page unsaid
        warn(w)
    series = history = None
    if day is not None:  # a future date refused as monitor refuses it, before any scene is read
        from pipelines.featurize import check_as_of_in_season, check_as_of_in_window

        check_as_of_in_season(f, s, day)
        check_as_of_in_window(f, s, day)  # nothing observed after the season window, as reunderwrite refuses it
    if imagery is not None:
        sc = cache / "series" if cache is not None else None
        built = build_series(f[f["season"].astype(str) == s], imagery, s, as_of=day, cache_dir=sc)
        for w in built.warnings:  # a folder fetched to an earlier date: the page's curves and alerts lack its days
            warn(w)
        series = built.series
        history = past_series(f, imagery, s, cache_dir=sc)
    region = fields_region(f)
    model, used = _champion_crop_model(day)
    kind = _county_data_kind(fields)
    params = _champion_alert_params(region, model) if region is not None else None
    unseen = _said_unseen_region(model, f[f["season"].astype(str) == s], warn) if series is not None else []
    # (the model reads the season's fields only for the alerts)
    data = build_report_data(store=store, fields=f, season=s, series=series, history=history, as_of=day,
                             crop_model=model, synthetic=kind == "synthetic", unlabelled=kind == "unlabelled",
                             params=params, book=bk)
    data.set_aside = list(read.set_aside)
    return dataclasses.replace(data, models_note=_models_note(used, params, region, unseen) if series is not None
                               else "")


def _said_unseen_region(model: Any, fields: Any, warn: Callable[[str], None]) -> list[str]:
    """A crop-type champion reading fields of a region it never learned: said, as ``features build`` and ``monitor``
    say it (its CROP_MISMATCH alerts there are unvalidated); returned, for the page's alerts note to say too (the page
    had drawn them without a word, and the stderr warning never reached its readers: a review)."""
    if model is None:
        return []
    from pipelines._featurize_models import unseen_region_warnings

    said = unseen_region_warnings(model, fields)
    for w in said:
        warn(w)
    return list(said)


def _read_book(book: Path | None, day: date | None) -> Any:
    """The ``--book`` file read as ``underwrite`` reads a Book (:func:`underwriting.applications.read_book`; None
    without one); with ``--as-of``, a dated Book taken as of that day at once (:func:`underwriting.book.book_as_of`,
    as the report takes it: a line open then without a balance dated by then is refused here, not after the store is
    read)."""
    if book is None:
        return None
    from underwriting.applications import read_book
    from underwriting.book import book_as_of

    bk = read_book(book)
    if day is not None:
        book_as_of(bk, day)
    return bk


def _models_note(used: str, params: Any, region: str | None, unseen: list[str] | None = None) -> str:
    """What the page says of the model and thresholds its alerts were computed with (``unseen``: the regions of its
    fields the crop-type model never learned, :func:`_said_unseen_region`)."""
    return (f"alerts computed with {used}; thresholds: "
            + (f"that version's, tuned for {region}" if params is not None else "the rules' defaults")
            + "".join(f". Warning: {w}" for w in unseen or []))


def _said_no_crop_model(data: Any) -> None:
    """A page whose alerts were computed without a crop-type champion says so on stderr too, as ``monitor`` does
    (after the page is written: a run refused later prints its one-line error alone)."""
    if data.models_note.startswith("alerts computed with no crop-type champion"):
        err(f"warning: {data.models_note.removeprefix('alerts computed with ')}")


def _said_rejects(data: Any, rejects: Path | None) -> None:
    """A ``--rejects`` report: the line naming the rows set aside; exit 1 when one is of the page's season (or of
    none readable), as the other runs."""
    if rejects is None:
        return
    from features.fields import partial_rows

    echo(rejected_text(data.set_aside, rejects, data.season, left="fields set aside, named on the page"))
    if partial_rows(data.set_aside, data.season):
        raise typer.Exit(code=1)


def _county_data_kind(fields: Path) -> str | None:
    """The data kind (:func:`pipelines.evaluation.data_kind`: synthetic, real or unlabelled) of the county folder a
    fields file sits in (``<county>/records/fields.gpkg``, or beside its ``county.json``), as ``--county`` reads it:
    the pages then carry the synthetic-data banner, or the unlabelled-data one when county.json has no
    ``synthetic`` flag (or cannot be read: it fails closed, never as real). None outside a county folder (a bank's
    own fields file: no county.json to say anything)."""
    from pipelines.evaluation import data_kind

    here = fields.resolve().parent
    for folder in (here, here.parent):
        if (folder / "county.json").is_file():
            try:
                return data_kind(folder)
            except (OSError, ValueError):
                return "unlabelled"
    return None


def champion_version_on(history: list[dict[str, Any]], day: date) -> str | None:
    """The crop-type champion's version on ``day`` by the alias history (its moves, oldest first): the version of
    the promotion in force on ``day`` — by its effective date, or its wall-clock date when it records none
    (:func:`models.registry.champion_move_on`; None: no champion then — or the alias was removed)."""
    from models.registry import champion_move_on

    move = champion_move_on(history, day)
    version = move.get("version") if move is not None else None
    return str(version) if version is not None else None


def _champion_crop_model(day: date | None = None) -> tuple[Any, str]:
    """The crop-type champion (its declared-crop probability raises CROP_MISMATCH, as in ``monitor``) and what the
    page says of it: on a past-dated report (``day``), the version the alias history names champion on that day —
    by the effective date its promotion records (``models promote --effective``, the county trainers on a simulated
    season), else by its wall-clock date — else — no champion in force by then — today's, said so (a report dated
    2009-09-15 loaded today's champion and its thresholds unsaid). (None, why) without a registry or a champion."""
    from models.errors import RegistryError
    from pipelines.featurize import CROP_MODEL_NAME

    try:
        from models.registry import SaveLoadFlavour, resolve

        flavour = SaveLoadFlavour("features.crop_type:CropTypeClassifier")
        today = resolve(CROP_MODEL_NAME, "champion", flavour=flavour)
    except RegistryError as e:  # why, on the page and on stderr (_said_no_crop_model): a copied registry not
        # relocated changed the page's alerts unsaid (the rules' default thresholds, no CROP_MISMATCH)
        return None, f"no crop-type champion in the registry ({e}; no CROP_MISMATCH alerts)"
    if day is None:
        return today.model, f"crop-type version {today.version}, today's champion"
    return crop_champion_on(today, day, flavour)


def crop_champion_on(today: Any, day: date, flavour: Any) -> tuple[Any, str]:
    """The crop-type model in force on ``day`` given today's champion ``today`` (a ``models.registry.Resolved``) and
    what to say of it (:func:`_champion_crop_model`; ``monitor --as-of`` takes the same one): the promotion in force
    on ``day`` by its effective date, or its wall-clock date when it records none — today's when none is (said so)."""
    from models.errors import RegistryError
    from models.registry import resolve
    from pipelines._champions import champion_then
    from pipelines.featurize import CROP_MODEL_NAME

    then, effective = champion_then(CROP_MODEL_NAME, day)
    if then is None:
        return today.model, (f"crop-type version {today.version}, today's champion (the alias history records no "
                             f"champion on or before {day})")
    # a promotion recording its effective date (a simulated or back-filled season's) is said so; an older one by its
    # wall-clock date, as before effective dates
    basis = f"the champion of {day} by effective date" if effective else \
        f"the champion on {day} by the alias history"
    if then == today.version:
        return today.model, f"crop-type version {then}, {basis} (today's too)"
    try:
        return resolve(CROP_MODEL_NAME, then, flavour=flavour).model, \
            f"crop-type version {then}, {basis} (today's: {today.version})"
    except RegistryError:
        return today.model, (f"crop-type version {today.version}, today's champion (version {then}, the champion on "
                             f"{day}, cannot be loaded)")


def _champion_alert_params(region: str, model: Any) -> Any:
    """The crop-type champion's alert thresholds for ``region`` (as ``monitor`` uses them); without a champion,
    the rules' defaults (None)."""
    from pipelines.monitor import alert_params_of

    return alert_params_of(model, region) if model is not None else None


def _farmer_token_of(data: Any, ref: str) -> str:
    """``ref`` when it is a farmer token of the records (or names no application), else the farmer token of the
    application ``ref``."""
    d = data.decisions
    if d.empty or (d["farmer_token"].astype(str) == ref).any():
        return ref
    hit = d.loc[d["application_id"].astype(str) == ref, "farmer_token"]
    return str(hit.iloc[0]) if len(hit) else ref


@report_app.command("portfolio")
@user_errors
def portfolio_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to write portfolio-<season>.html into."),
    season: str = typer.Option(None, "--season", help="Season YYYY (default: the county's current season; with --fields, the latest season of the fields file)."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    county: Path = typer.Option(None, "--county", help="A county folder (fields, scenes)."),
    fields: Path = typer.Option(None, "--fields", help="Fields file (every season: past ones give the bands)."),
    imagery: str = typer.Option(None, "--imagery", help="Scene folder, index.csv or series table (NDVI curves)."),
    as_of: str = typer.Option(None, "--as-of", help="Show the records and imagery up to this date."),
    cache: Path = typer.Option(None, "--cache", "--cache-dir", help="Series cache folder."),
    rejects: Path | None = typer.Option(None, "--rejects", help=_REJECTS),
    book: Path | None = typer.Option(None, "--book", help=_BOOK),
    since: str = typer.Option(None, "--since", help="Mark each alert new / open / closed against this date (the "
                                                     "previous report's; default: the previous checkpoint)."),
    csv: Path = typer.Option(None, "--csv", help="Also write the exposure, proposed actions and alerts tables as CSV "
                                                 "into this folder (money in minor units; pseudonymous ids only)."),
) -> None:
    """The portfolio page: map by outcome and alert, exposure, changes since the last checkpoint, alerts."""
    from pipelines._report_outputs import check_folders
    from pipelines.report import check_outputs, portfolio_outputs, render_portfolio

    check_folders(out=out, csv=csv)  # before anything is read
    if season:  # before anything is read; else as soon as the county or the fields say the season (in _data), before
        # the registry, the store or a scene is read (the page's own name: a folder there was found only at the end)
        check_outputs(portfolio_outputs(out, season.strip(), csv))
    since_day = parse_date(since, "--since")
    as_of_day = parse_date(as_of, "--as-of")
    if since_day is not None and as_of_day is not None and since_day >= as_of_day:
        raise UserInputError(f"--since {since_day} is not before --as-of {as_of_day}: give the date of an earlier "
                             "report")
    with undone_on_user_error(rejects, interrupted=True):  # the rejects file goes with the page it names rows of
        said: set[str] = set()  # the earlier page's warnings said by the page's own only once
        data = _data(county, fields, imagery, store, season, as_of, cache, rejects,
                     outputs=lambda s, _fields: portfolio_outputs(out, s, csv), book=book, said=said)
        if since_day is not None:
            import dataclasses

            last = max(data.decisions["as_of"].astype(str))
            if data.as_of is None and since_day.isoformat() >= last:
                raise UserInputError(f"--since {since_day} is not before the report's date ({last}, its latest "
                                     "record): give the date of an earlier report")
            # the alerts the page as of --since showed ("the previous report's"): one of them no longer raised now is
            # closed (only the store's re-underwriting records were compared: three high alerts of a 09-15 page gone
            # by 10-25 were counted nowhere)
            first = min(data.decisions["as_of"].astype(str))
            if since_day.isoformat() < first:  # no page could be drawn then (no record; before the season, perhaps)
                err(f"warning: --since {since_day} is before the season's first record ({first}): no report could "
                    "be drawn then, so every alert is marked against that date by when it was raised (the earlier "
                    "page's own alerts are compared from a date on or after the first record)")
                data = dataclasses.replace(data, since=since_day)
            else:
                before = _data(county, fields, imagery, store, season or data.season, since_day.isoformat(), cache,
                               rejects, book=book, said=said)
                data = dataclasses.replace(data, since=since_day, previous_alerts=before.alerts)
        path = render_portfolio(data, out, csv_dir=csv)
    echo(f"wrote {path} ({len(data.decisions)} records, {len(data.fields)} fields, {len(data.alerts)} alerts)"
         + (f"; tables as CSV in {csv}" if csv is not None else ""))
    _said_no_crop_model(data)
    _said_rejects(data, rejects)


@report_app.command("farmer")
@user_errors
def farmer_cmd(
    token: str = typer.Argument(..., help="The farmer's pseudonymous token (as in the decision records), or the id "
                                          "of one of their applications; never a name, phone or ID number."),
    out: Path = typer.Option(..., "--out", help="Folder to write farmer-<token>.html into."),
    season: str = typer.Option(None, "--season", help="Season YYYY (default: the county's current season; with --fields, the latest season of the fields file)."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    county: Path = typer.Option(None, "--county", help="A county folder (fields, scenes)."),
    fields: Path = typer.Option(None, "--fields", help="Fields file (every season: past ones give the bands)."),
    imagery: str = typer.Option(None, "--imagery", help="Scene folder, index.csv or series table (NDVI curves)."),
    as_of: str = typer.Option(None, "--as-of", help="Show the records and imagery up to this date."),
    cache: Path = typer.Option(None, "--cache", "--cache-dir", help="Series cache folder."),
    rejects: Path | None = typer.Option(None, "--rejects", help=_REJECTS),
    book: Path | None = typer.Option(None, "--book", help=_BOOK),
) -> None:
    """A farmer's page: fields on a map, NDVI against the expected band, the decision and its computation."""
    from pipelines.report import check_outputs, farmer_page_path, render_farmer
    from underwriting._pii_text import looks_like_reference

    if not looks_like_reference(token):  # checked first, and never echoed: it may be a name, phone or ID number
        raise UserInputError("report farmer: the farmer given is neither a farmer token nor an application id; give "
                             "the farmer's pseudonymous token (as in the decision records) or the id of one of their "
                             "applications, not a name, phone or ID number")
    # before anything is read: the page's folder (the TOKEN may be no farmer's, or a name typed there: never named
    # before it is known to be a farmer token of the data)
    check_outputs([(farmer_page_path(out, "<token>"), "report")])  # its folder's parent too (check_folders)

    def page(s: str, f: Any) -> list[tuple[Path, str]]:
        """The page's own name when TOKEN is a farmer token of the season's fields, or the id of an application the
        store holds of one of them (its records read for the token alone, before the report's work)."""
        mine = f.loc[f["season"].astype(str) == s, "farmer_token"].astype(str)
        if (mine == token).any():
            return [(farmer_page_path(out, token), "report")]
        from underwriting.store import DecisionStore

        with DecisionStore(store, create=False, read_only=True) as st:
            recs = st.records(s)
        hit = recs.loc[recs["application_id"].astype(str) == token, "farmer_token"].astype(str)
        return [(farmer_page_path(out, hit.iloc[0]), "report")] if len(hit) and (mine == hit.iloc[0]).any() else []

    with undone_on_user_error(rejects, interrupted=True):  # the rejects file goes with the page it names rows of
        data = _data(county, fields, imagery, store, season, as_of, cache, rejects, outputs=page, book=book)
        if data.obs.empty:
            err("warning: no imagery given: the NDVI curves are empty")
        path = render_farmer(data, _farmer_token_of(data, token), out)
    echo(f"wrote {path}")
    _said_no_crop_model(data)
    _said_rejects(data, rejects)
