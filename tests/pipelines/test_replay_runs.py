"""`audit replay` reads the store as each replayed decision read it (the records before its own seq): decisions
written by two runs of one as-of date with a re-underwriting (an open alert) appended between them replay
identically (it read the store before the first replayed decision: the second run's decision differed)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.underwrite import underwrite
from tests.pipelines.test_underwrite import KEY, _renewal, registry, world  # noqa: F401
from underwriting.policy import default_policy
from underwriting.store import DecisionStore


def test_replay_of_two_runs_of_one_day_with_an_alert_between(world: dict[str, Any], registry: str,  # noqa: F811
                                                             tmp_path: Path) -> None:
    from pipelines.reunderwrite import ActionRules, _link

    c = world["county"]
    season, as_of = world["season"], world["as_of"]
    line, aid = _renewal(world)
    tok = str(line["farmer_token"])
    feats = world["features"]
    fids = sorted(feats.loc[feats["farmer_token"].astype(str) == tok, "field_id"].astype(str))
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    # run 1 (morning): the applications received so far (not aid)
    allapps = pd.read_csv(c.path / "records" / "applications.csv", dtype=str)
    sub = tmp_path / "morning.csv"
    allapps[allapps["application_id"] != aid].to_csv(sub, index=False)
    r0 = CliRunner().invoke(app, ["underwrite", "--applications", str(sub), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", season,
              "--as-of", str(as_of), "--profile", "in-kcc", "--cache", str(c.cache_dir),
              "--book", str(c.path / "records" / "book.csv"), "--store", url, "--crop-model", "none",
              "--no-progress"], env={"AGCREDIT_TOKEN_KEY": KEY})
    assert r0.exit_code == 0, r0.stderr
    # the monitoring's re-underwriting of farmer's line, same day, with an open CROP_FAILURE alert
    opened = world["apps"][world["apps"]["application_id"] == aid].assign(application_id=str(line["application_id"]))
    res = underwrite(opened, c.fields(season), season, as_of, imagery=c.imagery, policy=default_policy(),
                     profile=c.profile, book=world["book"], store=f"sqlite:///{tmp_path / 'side.db'}",
                     models=world["models"], cache_dir=c.cache_dir, features=feats)
    alerts = pd.DataFrame({"field_id": [fids[0]], "alert": ["CROP_FAILURE"], "severity": ["high"],
                           "date": pd.to_datetime([as_of - timedelta(days=6)]), "farmer_token": [tok]})
    with DecisionStore(url) as st:
        st.append(list(res.items), operator="tester")
        prev = st.latest(str(line["application_id"]))
        rec, _ = _link(res.items[0], prev, line.to_dict(), alerts, default_policy(), as_of, ActionRules(), st.get)
        st.append([rec], operator="tester")
    # run 2 (afternoon): the full applications file; aid is new and reads the alert
    runner = CliRunner()
    env = {"AGCREDIT_TOKEN_KEY": KEY}
    common = ["--applications", str(c.path / "records" / "applications.csv"), "--fields",
              str(c.path / "records" / "fields.gpkg"), "--imagery", str(c.imagery), "--season", season,
              "--as-of", str(as_of), "--profile", "in-kcc", "--cache", str(c.cache_dir),
              "--book", str(c.path / "records" / "book.csv"), "--store", url]
    r = runner.invoke(app, ["underwrite", *common, "--crop-model", "none", "--no-progress"], env=env)
    assert r.exit_code == 0, r.stderr
    with DecisionStore(url) as st:
        body = st.latest(aid).body
    # the second run's decision read the alert (the field excluded, the renewal proposing a REVIEW)
    codes = {f["field_id"]: f["codes"] for f in body["fields"]}
    assert "CROP_FAILURE_OBSERVED" in codes[fids[0]]
    assert "REVIEW" in body["renewal"]["proposed_actions"]
    r = runner.invoke(app, ["audit", "replay", *common], env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "4 identical, 0 reproduced, 0 differs, 0 not stored" in r.stdout, r.stdout
