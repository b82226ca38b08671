"""``agcredit models impact crop-type --reunderwriting``: the Book's active lines re-underwritten with the crop-type
model in force and with a candidate, each side exactly what ``agcredit reunderwrite`` writes with that crop model, the
store read as it stands and nothing written (the yield path's own test is tests/pipelines/test_impact_reunderwriting.py;
this one runs the crop-type swap: the features rebuilt with each crop model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.pipelines._reunderwrite_world import store_copy
from tests.pipelines.test_impact_reunderwriting import (  # noqa: F401 - the module's world and its crop champion
    _county,
    _crop_champion,
    _DeclaredCrop,
    _files,
    _same_as_stored,
    _stored,
    rw,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")


class _AllMaize(_DeclaredCrop):
    """A candidate crop-type model taking every field for maize at 0.95 (the declared crop's probability given imagery
    and declaration 0.95 on maize fields, 0.025 on the others)."""

    def predict(self, series: pd.DataFrame, fields: pd.DataFrame, as_of: Any = None) -> pd.DataFrame:
        out = super().predict(series, fields, as_of)
        out["crop_type"] = "maize"
        for c in ("rice", "maize", "cotton"):
            out[f"prob_{c}"] = 0.95 if c == "maize" else 0.025
        out["declared_crop_prob"] = np.where(fields["declared_crop"].astype(str).to_numpy() == "maize", 0.95, 0.025)
        return out


def _candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """``B`` names the all-maize candidate and ``A`` a copy of the stand-in champion, by the same loader the impact
    asks (a registry version's or a saved folder's name, resolved there)."""
    import pipelines.featurize as fz

    models = {"B": (_AllMaize(), "crop-type version 2 (B)"), "A": (_DeclaredCrop(), "crop-type version 1 (stand-in)")}
    real = fz.load_crop_model
    monkeypatch.setattr(fz, "load_crop_model", lambda spec, season_scale=None: models[str(spec)] if str(spec) in models
                        else real(spec, season_scale=season_scale))


def test_crop_type_candidate_each_side_is_what_reunderwrite_writes(rw: dict[str, Any], tmp_path: Path,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The crop model in force (each field its declared crop) against one taking every field for maize: the base side
    is, line by line, what `agcredit reunderwrite` writes into a copy of the store, the candidate's what
    re-underwriting with the all-maize crop model writes into another; the lines with a field not declared maize are
    the ones the candidate changes (its CROP_MISMATCH a risk: frozen and sent to review), the others stand; the store
    read is unchanged byte for byte and the JSON the same on a second run."""
    from pipelines._champions import ChampionModels
    from pipelines.reunderwrite import reunderwrite_county

    _candidates(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    c, mid, season = rw["county"], rw["cps"]["mid"], rw["season"]
    base_url, cand_url, url = (store_copy(rw, tmp_path, n) for n in ("base", "cand", "read"))
    r = CliRunner().invoke(app, ["reunderwrite", "--county", str(c.path), "--cache", str(c.cache_dir), "--as-of",
                                 mid.isoformat(), "--store", base_url])
    assert r.exit_code == 0 and " record(s) written" in r.stdout, r.output
    champ = ChampionModels.resolve(warnings=[], weather=c.weather(), on=mid)
    assert champ.crop_version == "crop-type version 1 (stand-in)"
    cand = replace(champ, crop_model=_AllMaize(), crop_version="crop-type version 2 (B)")
    written = reunderwrite_county(c, season, mid, store=cand_url, models=cand, book_check_when_deciding=True)
    assert written.written == len(written.items) > 0
    before = _files(tmp_path)
    out = tmp_path / "lines.csv"
    args = ["models", "impact", "crop-type", "--candidate", "B", *_county(rw, url), "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out, keep_default_na=False)
    _same_as_stored(t, "base", _stored(base_url, mid))
    _same_as_stored(t, "candidate", _stored(cand_url, mid))
    assert _files(tmp_path) == {**before, "lines.csv": _files(tmp_path)["lines.csv"]}
    assert not (tmp_path / "read.artifacts").exists()
    # every line has a field declared other than maize: the candidate's CROP_MISMATCH is a risk on each, sent to review
    assert t["changed"].all() and (t["actions_base"] == "").all()
    assert t["reasons_added"].str.split(";").map(lambda r: "CROP_MISMATCH" in r).all()
    assert t["actions_candidate"].str.split(";").map(lambda a: "REVIEW" in a).all()
    assert (t["limit_candidate"] < t["limit_base"]).all()
    lines = r.stdout.splitlines()
    assert lines[0].startswith("promotion impact of crop-type version 2 (B) against crop-type version 1 (stand-in) "
                               f"on the Book's re-underwriting as of {mid} ({len(t)} active lines "
                               "re-underwritten twice)"), lines[0]
    assert f"decisions changed: {int(t['changed'].sum())} of {len(t)} " in r.stdout
    js = [CliRunner().invoke(app, [*args[:-2], "--json"]).stdout for _ in range(2)]
    assert js[0] == js[1]
    j = json.loads(js[0])
    assert j["base"] == "crop-type version 1 (stand-in)" and j["candidate"] == "crop-type version 2 (B)"
    assert j["reunderwriting"]["lines"] == len(t) and j["counts"]["changed"] == int(t["changed"].sum())
    assert _files(tmp_path) == {**before, "lines.csv": _files(tmp_path)["lines.csv"]}


def test_crop_type_candidate_equal_to_the_model_in_force_is_one_line(rw: dict[str, Any], tmp_path: Path,  # noqa: F811
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate naming the crop model in force (here a copy under another name, the same description) is refused in
    one line, nothing compared and nothing written."""
    _candidates(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rw["uri"])
    url = store_copy(rw, tmp_path, "read")
    before = _files(tmp_path)
    r = CliRunner().invoke(app, ["models", "impact", "crop-type", "--candidate", "A", *_county(rw, url)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "are the same crop-type model (crop-type version 1 (stand-in)): nothing to compare" in r.stderr
    assert _files(tmp_path) == before
