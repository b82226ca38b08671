"""``agcredit policy impact``: what a change of credit policy would do to a batch of decisions, before it is adopted."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import (
    ALLOW_MISSING_HELP,
    BOOK_HELP,
    FEATURES_HELP,
    IMAGERY_HELP,
    PROFILE_HELP,
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
    applications: Path = typer.Option(..., "--applications", help="applications (CSV or Parquet)"),
    fields: Path = typer.Option(..., "--fields", help="field polygons (GeoParquet, GeoPackage, GeoJSON, Shapefile)"),
    season: str = typer.Option(..., "--season", help="season, named by its harvest year"),
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
                                     "second pledges and open alerts a decision reads"),
    crop_model: str = typer.Option("champion", "--crop-model", help="with --imagery: the crop-type model the "
                                   "features are built with (champion, a folder, or none)"),
    cache: Path | None = typer.Option(None, "--cache", "--cache-dir", help="cache folder for series and area"),
    allow_missing: bool = typer.Option(False, "--allow-missing-acquisitions", help=ALLOW_MISSING_HELP),
    out: Path | None = typer.Option(None, "--out", help="every application's two decisions (.csv or .parquet)"),
    top: int = typer.Option(10, "--top", min=0, help="how many of the largest changes to list"),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (every application)."),
) -> None:
    """Policy impact: the season's applications decided under the policy in force and under a candidate policy, the
    champion models and every other input the same, nothing stored — which decisions change, by how much, and why."""
    from pipelines._cli_models import check_impact_out, print_impact
    from pipelines.impact import policy_impact
    from underwriting.store import store_url

    def given_file(spec: str) -> str | None:  # a policy file read by the run (``default`` is always the shipped one)
        return spec if spec.strip().lower() != "default" and Path(spec).is_file() else None

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
