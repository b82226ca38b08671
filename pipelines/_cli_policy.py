"""``agcredit policy impact``: what a change of credit policy would do to a batch of decisions, before it is adopted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    BOOK_HELP,
    FEATURES_HELP,
    IMAGERY_HELP,
    PROFILE_HELP,
    REUNDERWRITING_HELP,
    THEN_HELP,
    parse_date,
    policy_app,
    user_errors,
)

__all__ = ["policy_impact_cmd"]

_POLICY_SPEC = "a policy YAML file, a released version of the shipped policy (e.g. 2026.12.9) or default"


@policy_app.command("impact")
@user_errors
def policy_impact_cmd(
    candidate: str = typer.Option(..., "--candidate", help=f"The policy to assess: {_POLICY_SPEC}."),
    against: str = typer.Option("default", "--against", help=f"The policy in force: {_POLICY_SPEC} (default: the "
                                "shipped policy)."),
    applications: Path | None = typer.Option(None, "--applications", help="applications (CSV or Parquet; required "
                                             "but with --reunderwriting --county)"),
    fields: Path | None = typer.Option(None, "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, "
                                       "Shapefile; required but with --reunderwriting --county)"),
    season: str | None = typer.Option(None, "--season", help="season, named by its harvest year (required; with "
                                      "--reunderwriting default the county's current season or the fields file's "
                                      "latest)"),
    as_of: str = typer.Option(..., "--as-of", help="decision date: nothing observed after it is used (YYYY-MM-DD)"),
    imagery: str | None = typer.Option(None, "--imagery", help=IMAGERY_HELP),
    features: Path | None = typer.Option(None, "--features", help=FEATURES_HELP),
    book: Path | None = typer.Option(None, "--book", help=BOOK_HELP),
    profile: str | None = typer.Option(None, "--profile", help=PROFILE_HELP),
    weather: Path | None = typer.Option(None, "--weather", help="daily weather CSV: required when the yield model "
                                        "reads weather"),
    history: Path | None = typer.Option(None, "--history", help="the farm records' reported yields, as underwrite "
                                        "--history (the pre-season rule)"),
    store: str | None = typer.Option(None, "--store", help="an existing decision store to read (never written): the "
                                     "second pledges and open alerts a decision reads; with --reunderwriting the "
                                     "lines' previous records (required; default as reunderwrite: $AGCREDIT_STORE_URL "
                                     "or sqlite:///agcredit-decisions.db)"),
    reunderwriting: bool = typer.Option(False, "--reunderwriting", help=REUNDERWRITING_HELP),
    county: Path | None = typer.Option(None, "--county", help="with --reunderwriting: a county folder (its Book, "
                                       "applications, fields, scenes and weather)"),
    then: list[str] | None = typer.Option(None, "--then", help=THEN_HELP),
    crop_model: str = typer.Option("champion", "--crop-model", help="with --imagery: the crop-type model the "
                                   "features are built with (champion, a folder, or none)"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder for series and area"),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help=ALLOW_MISSING_HELP),
    out: Path | None = typer.Option(None, "--out", help="every application's two decisions (.csv or .parquet)"),
    top: int = typer.Option(10, "--top", min=0, help="how many of the largest changes to list"),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (every application)."),
) -> None:
    """Policy impact: the season's applications decided under the policy in force and under a candidate policy, the
    champion models and every other input the same, nothing stored — which decisions change, by how much, and why.
    With --reunderwriting: the Book's active lines re-underwritten as of the date under each policy, as `agcredit
    reunderwrite` would — which lines' limits, outcomes, maturities and proposed actions change."""
    from pipelines._cli_models import (
        check_impact_out,
        need_plain_inputs,
        print_impact,
        refuse_beside_reunderwriting,
        reunderwriting_run,
    )
    from pipelines.impact import policy_impact
    from underwriting.store import store_url

    def given_file(spec: str) -> str | None:  # a policy file read by the run (``default`` is always the shipped one)
        return spec if spec.strip().lower() != "default" and Path(spec).is_file() else None

    if reunderwriting:
        from pipelines.impact_reunderwriting import policy_impact_reunderwriting

        refuse_beside_reunderwriting("policy impact", features=features, crop_model=crop_model != "champion")
        res: Any = reunderwriting_run(
            "policy impact", out, county=county, fields=fields, imagery=imagery, book=book, applications=applications,
            weather=weather, history=history, store=store, as_of=as_of, then=then, candidate=given_file(candidate),
            against=given_file(against),
            run=lambda day, **inputs: policy_impact_reunderwriting(
                candidate, as_of=day, against=against, season=season, profile=profile, cache_dir=cache,
                allow_missing_acquisitions=allow_missing, **inputs))
        print_impact(res, out=out, top=top, as_json=as_json)
        return
    need_plain_inputs("policy impact", county=county, applications=applications, fields=fields, season=season,
                      then=then)
    assert applications is not None and fields is not None and season is not None
    check_impact_out(out, applications=applications, fields=fields, features=features, book=book, weather=weather,
                     history=history, imagery=imagery, candidate=given_file(candidate), against=given_file(against),
                     store=store_url(store) if store is not None else None)
    day = parse_date(as_of, "--as-of")
    assert day is not None
    res = policy_impact(candidate, applications=applications, fields=fields, season=season, as_of=day,
                        features=features, imagery=imagery, against=against, book=book, profile=profile,
                        weather=weather, history=history, store=store, crop_model=crop_model, cache_dir=cache,
                        allow_missing_acquisitions=allow_missing)
    print_impact(res, out=out, top=top, as_json=as_json)
