"""``features series`` summary line for Sentinel Hub: the Statistical (or Process) API's requests and the Catalog
API's counted apart, and the reuse of cached earlier windows said."""
from __future__ import annotations

import responses
from typer.testing import CliRunner

from pipelines.cli import app
from tests.features.test_sentinelhub import _sh, add_token, make_fields  # noqa: F401
from tests.features.test_sh_stats_incremental import add_daily_stats


@responses.activate
def test_a_later_as_of_counts_catalog_and_statistical_requests_apart_and_says_the_reuse(tmp_path, monkeypatch):
    """A second `features series --imagery sentinelhub-stats` at a later as-of printed "Statistical API: 6 requests
    (retries 0), 0 from cache" while 3 went to the Catalog API (the check of each cached window) and 3 to the
    Statistical API, and the 3 cached windows reused were not said."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    add_token()
    asked = add_daily_stats()
    make_fields().assign(farmer_token="tok", declared_crop="maize", declared_area_ha=3.0).to_file(tmp_path / "f.gpkg")
    args = ["features", "series", "--fields", str(tmp_path / "f.gpkg"), "--imagery", "sentinelhub-stats", "--season",
            "2023", "--start", "2023-06-01", "--end", "2023-07-20", "--out", str(tmp_path / "s.parquet"),
            "--no-progress"]
    first = CliRunner().invoke(app, [*args, "--as-of", "2023-06-30"])
    assert first.exit_code == 0, first.stderr
    assert "; Statistical API: 3 requests (retries 0), 0 from cache" in first.stdout, first.stdout
    asked.clear()
    later = CliRunner().invoke(app, [*args, "--as-of", "2023-07-20"])
    assert later.exit_code == 0, later.stderr
    assert len(asked) == 3
    assert ("; Statistical API: 3 requests, Catalog API: 3 requests (retries 0), 0 from cache, 3 field(s)' earlier "
            "window reused from the cache (only the days after it asked)") in later.stdout, later.stdout
