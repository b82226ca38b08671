"""``agcredit imagery fetch``: download Sentinel-2 L2A scenes for fields through Sentinel Hub."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines._cli_app import echo, err, imagery_app, parse_date, user_errors

#: help of ``--profile`` (imagery fetch, features series, features build): the order features.sources._sh_config reads
SH_PROFILE_HELP = ("sentinelhub config profile; default: SH_CLIENT_ID / SH_CLIENT_SECRET when set, else SH_PROFILE's "
                   "profile, else the sentinelhub config file's default-profile when the file exists")


@imagery_app.command("fetch")
@user_errors
def fetch(
    fields: Path = typer.Option(..., "--fields", help="Field file: GeoParquet, GeoPackage, GeoJSON or Shapefile."),
    season: str = typer.Option(..., "--season", help="Season (harvest year, YYYY)."),
    out: Path = typer.Option(..., "--out", help="Folder for the scenes (scene-index layout: index.csv + YYYY/*.tif). A folder fetched "
                                  "before for another window gets this window's scenes added to its index; one "
                                  "fetched for other fields' boxes, endpoint or --max-cloud is refused."),
    start: str = typer.Option(None, "--start", help="First day (YYYY-MM-DD); default: the region's season window."),
    end: str = typer.Option(None, "--end", help="Last day (YYYY-MM-DD); default: the region's season window."),
    as_of: str = typer.Option(None, "--as-of", help="Fetch nothing acquired after this day (YYYY-MM-DD)."),
    endpoint: str = typer.Option(
        "cdse", "--endpoint",
        help="cdse (Copernicus Data Space), sinergise, or profile: the --profile's own sh_base_url and sh_token_url "
             "(a self-hosted, mirror or other Sinergise deployment; https only; the profile's credentials are sent "
             "there)."),
    profile: str = typer.Option(None, "--profile", help=SH_PROFILE_HELP + "."),
    max_cloud: float = typer.Option(
        1.0, "--max-cloud",
        help="Skip acquisitions whose catalogue tile cloud cover (a ~100 km Sentinel-2 tile, not the field) is above "
             "this (0..1). Default 1.0: no scene filter, every acquisition is fetched and the SCL mask decides the "
             "clear pixels, as `features series --imagery sentinelhub` does."),
    resolution: float = typer.Option(10.0, "--resolution", help="Pixel size in metres."),
) -> None:
    """Fetch every acquisition over the fields' boxes as local scenes, then print what it cost.

    An acquisition the service keeps failing (HTTP 5xx or 429 after the retries, an unreadable GeoTIFF) is skipped:
    the others are written, each failed one is named on stderr and recorded in the folder's sentinelhub.json, and the
    command exits 1 ("N of M acquisitions failed: dates"); a re-run fetches only those. If every one fails: exit 2,
    nothing written. A 403 after some acquisitions were fetched (processing units used up) stops the requests: what
    was fetched is written, the rest recorded in sentinelhub.json, one line says why, exit 1; a re-run fetches only
    the rest. A 401/403 before any acquisition: exit 2, nothing written."""
    from features.fields import read_fields
    from features.sources.sentinelhub import fetch_season

    d_start, d_end, d_as_of = parse_date(start, "--start"), parse_date(end, "--end"), parse_date(as_of, "--as-of")
    read = read_fields(fields, season=season)
    result = fetch_season(read.fields, season, out, start=d_start, end=d_end, as_of=d_as_of, endpoint=endpoint,
                          profile=profile, max_cloud=max_cloud, resolution=resolution, partial=True)
    echo(f"scenes: {result.path / 'index.csv'}")
    echo(result.summary.render())
    missing = result.summary.missing
    if result.summary.stopped:  # a 403 midway: the service refused more work; what was fetched is written
        days = sorted({line.split(" ", 1)[0] for line in missing})
        err(f"error: Sentinel Hub refused further requests ({result.summary.stopped}): the account's processing "
            f"units are used up or its plan does not allow these requests (the credentials were accepted); "
            f"{result.summary.scenes} of {result.summary.acquisitions} acquisitions are written, the {len(missing)} "
            f"not fetched ({', '.join(days[:10])}{f' and {len(days) - 10} more dates' if len(days) > 10 else ''}) "
            f"are recorded in {result.path / 'sentinelhub.json'}; when the account has processing units again (or a "
            "plan that allows the request), re-run the same command to fetch only them")
        raise typer.Exit(code=1)
    if missing:  # a partial fetch: what was fetched is written; exit 1 says the folder lacks some acquisitions
        for line in missing:
            err(f"warning: not fetched: {line}")
        days = sorted({line.split(" ", 1)[0] for line in missing})
        err(f"error: {len(missing)} of {result.summary.acquisitions} acquisitions failed: {', '.join(days[:10])}"
            f"{f' and {len(days) - 10} more dates' if len(days) > 10 else ''}; the others are written and the "
            f"failed ones recorded in {result.path / 'sentinelhub.json'}; re-run the same command to fetch only them")
        raise typer.Exit(code=1)
