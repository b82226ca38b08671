"""A yield-value version's minimum metrics gate every checkpoint of its scope: the end of season's unprefixed
(``skill_r2_maize``), each in-season checkpoint's named as its held-out metrics are (``mid_skill_r2_maize``) — read by
governance, refused by promotion; versions registered with end-of-season minimum metrics only, and crop-type versions
(``accuracy_mid``), judged exactly as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.errors import RegistryError
from models.governance import Governance, Requirement
from pipelines.train_yield import yield_minimum_metrics
from tests.models.test_registry import TinyModel

pytestmark = pytest.mark.filterwarnings(
    # mlflow's own: SQLAlchemy on its sqlite store (third party, unavoidable)
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning",
)

CROPS = ("maize", "soybean")
#: held-out metrics that meet every gate at end and at mid
GOOD = {"skill_r2_maize": 0.2, "skill_r2_soybean": 0.01, "below_p10_all": 0.08, "above_p90_all": 0.12,
        "mid_skill_r2_maize": 0.1, "mid_skill_r2_soybean": -0.04, "mid_below_p10_all": 0.05,
        "mid_above_p90_all": 0.16}


def yield_gov(metrics: dict[str, float], *, checkpoints: tuple[str, ...] = ("end", "mid"),
              minimum: tuple[Requirement, ...] | None = None) -> Governance:
    return Governance(crops=CROPS, regions=("us-nebraska",), checkpoints=checkpoints, metrics=dict(metrics),
                      minimum_metrics=(yield_minimum_metrics(CROPS, checkpoints=checkpoints) if minimum is None
                                       else minimum), data="synthetic")


def test_the_minimum_metrics_of_a_version_name_every_checkpoint_of_its_scope() -> None:
    assert [str(r) for r in yield_minimum_metrics(["cotton", "maize"], checkpoints=("end", "mid"))] == [
        "skill_r2_cotton >= -0.05", "skill_r2_maize >= -0.05",
        "below_p10_all >= 0.03", "below_p10_all <= 0.17", "above_p90_all >= 0.03", "above_p90_all <= 0.17",
        "mid_skill_r2_cotton >= -0.05", "mid_skill_r2_maize >= -0.05",
        "mid_below_p10_all >= 0.03", "mid_below_p10_all <= 0.17", "mid_above_p90_all >= 0.03",
        "mid_above_p90_all <= 0.17"]
    # the first checkpoint's unprefixed (as build_yield_release names its metrics), every other one prefixed
    assert [r.metric for r in yield_minimum_metrics(["rice"], checkpoints=("end", "emergence", "pre_season"))] == [
        "skill_r2_rice", "below_p10_all", "below_p10_all", "above_p90_all", "above_p90_all",
        "emergence_skill_r2_rice", "emergence_below_p10_all", "emergence_below_p10_all", "emergence_above_p90_all",
        "emergence_above_p90_all",
        "pre_season_skill_r2_rice", "pre_season_below_p10_all", "pre_season_below_p10_all",
        "pre_season_above_p90_all", "pre_season_above_p90_all"]
    # an end-of-season-only scope, and the one-prefix form, as before
    assert yield_minimum_metrics(["rice"], checkpoints=("end",)) == yield_minimum_metrics(["rice"])
    assert [r.metric for r in yield_minimum_metrics(["rice"], "mid_")][:2] == ["mid_skill_r2_rice", "mid_below_p10_all"]
    with pytest.raises(ValueError, match="give checkpoint_prefix or checkpoints, not both"):
        yield_minimum_metrics(["rice"], "mid_", checkpoints=("end", "mid"))


def test_a_version_poor_at_mid_season_only_fails_there_with_the_value_found() -> None:
    assert yield_gov(GOOD).failures() == [] and "meets its minimum metrics" in yield_gov(GOOD).summary()
    g = yield_gov({**GOOD, "mid_skill_r2_soybean": -0.2, "mid_above_p90_all": 0.25})
    assert g.failures() == ["mid_skill_r2_soybean >= -0.05 (found -0.2)", "mid_above_p90_all <= 0.17 (found 0.25)"]
    assert g.unmeasured_checkpoints() == [] and g.summary().endswith("; FAILS 2 minimum metric(s)")
    # as the registry reads it back
    assert Governance.from_json(g.to_json()).failures() == g.failures()
    # a mid metric missing while the others are there: missing, as at end of season
    gone = {k: v for k, v in GOOD.items() if k != "mid_skill_r2_maize"}
    assert yield_gov(gone).failures() == ["mid_skill_r2_maize >= -0.05 (found missing)"]


def test_mid_in_scope_with_its_minimum_metrics_but_no_held_out_metric_is_one_line() -> None:
    end_only = {k: v for k, v in GOOD.items() if not k.startswith("mid_")}
    line = ("checkpoint mid is in scope without held-out metrics (needs mid_above_p90_all, mid_below_p10_all, "
            "mid_skill_r2_maize, mid_skill_r2_soybean)")
    g = yield_gov(end_only)
    assert g.unmeasured_checkpoints() == ["mid"] and g.failures() == [line]
    assert Governance.from_json(g.to_json()).failures() == [line]
    # a NaN figure is no figure; one finite mid metric measures the checkpoint (the others then fail as missing)
    assert yield_gov({**end_only, "mid_below_p10_all": float("nan")}).failures() == [line]
    g = yield_gov({**end_only, "mid_below_p10_all": 0.1})
    assert g.unmeasured_checkpoints() == [] and g.failures() == [
        "mid_skill_r2_maize >= -0.05 (found missing)", "mid_skill_r2_soybean >= -0.05 (found missing)",
        "mid_above_p90_all >= 0.03 (found missing)", "mid_above_p90_all <= 0.17 (found missing)"]
    # the end of season (its metrics unprefixed) is never taken for unmeasured: its requirements fail as missing
    mid_only = {k: v for k, v in GOOD.items() if k.startswith("mid_")}
    g = yield_gov(mid_only)
    assert g.unmeasured_checkpoints() == [] and len(g.failures()) == 6
    assert all(f.endswith("(found missing)") and not f.startswith("mid_") for f in g.failures())


def test_checkpoint_names_read_as_prefixes_and_suffixes_apart() -> None:
    g = Governance(crops=CROPS, regions=(), checkpoints=("emergence", "mid", "pre_harvest", "harvest", "end"))
    named = {m: g._checkpoint_of(m) for m in (
        "mid_skill_r2_cotton", "pre_harvest_below_p10_all", "harvest_above_p90_all", "emergence_skill_r2_maize",
        "accuracy_pre_harvest", "macro_f1_harvest", "ece_mid", "accuracy_end",
        "skill_r2_cotton", "below_p10_all", "mid", "mid_", "end_of", "r2_maize")}
    assert named == {"mid_skill_r2_cotton": "mid", "pre_harvest_below_p10_all": "pre_harvest",
                     "harvest_above_p90_all": "harvest", "emergence_skill_r2_maize": "emergence",
                     "accuracy_pre_harvest": "pre_harvest", "macro_f1_harvest": "harvest", "ece_mid": "mid",
                     "accuracy_end": "end", "skill_r2_cotton": None, "below_p10_all": None, "mid": None,
                     "mid_": None, "end_of": "end", "r2_maize": None}
    # a yield scope at every checkpoint underwriting looks up: each in-season one gated by its own prefix
    cps = ("end", "mid", "emergence", "pre_season")
    metrics = {**{k: v for k, v in GOOD.items() if not k.startswith("mid_")},
               **{f"{cp}_{k}": v for cp in cps[1:] for k, v in GOOD.items() if not k.startswith("mid_")}}
    metrics["pre_season_skill_r2_maize"] = -0.3
    del metrics["emergence_below_p10_all"], metrics["emergence_above_p90_all"]
    del metrics["emergence_skill_r2_maize"], metrics["emergence_skill_r2_soybean"]
    g = yield_gov(metrics, checkpoints=cps)
    assert g.failures() == [
        "checkpoint emergence is in scope without held-out metrics (needs emergence_above_p90_all, "
        "emergence_below_p10_all, emergence_skill_r2_maize, emergence_skill_r2_soybean)",
        "pre_season_skill_r2_maize >= -0.05 (found -0.3)"]


def test_a_version_registered_with_end_of_season_minimum_metrics_only_is_judged_as_before() -> None:
    """A governance record as a yield-value version trained before stored it (end-of-season minimum metrics only,
    held-out mid metrics beside them): the same failures, byte for byte, whatever its mid figures."""
    record = {"crops": ["maize", "soybean"], "regions": ["us-nebraska"], "checkpoints": ["end", "mid"],
              "metrics": {"skill_r2_maize": 0.2, "skill_r2_soybean": -0.08, "below_p10_all": 0.02,
                          "above_p90_all": 0.12, "mid_skill_r2_maize": -0.5, "mid_skill_r2_soybean": -0.5,
                          "mid_below_p10_all": 0.4, "mid_above_p90_all": 0.0},
              "minimum_metrics": [["skill_r2_maize", ">=", -0.05], ["skill_r2_soybean", ">=", -0.05],
                                  ["below_p10_all", ">=", 0.03], ["below_p10_all", "<=", 0.17],
                                  ["above_p90_all", ">=", 0.03], ["above_p90_all", "<=", 0.17]],
              "data": "synthetic", "notes": "",
              "checkpoint_dates": {"us-nebraska": {"end": {"*": ["10-15", 0]}, "mid": {"*": ["07-20", 0]}}}}
    g = Governance.from_json(json.dumps(record))
    assert g.failures() == ["skill_r2_soybean >= -0.05 (found -0.08)", "below_p10_all >= 0.03 (found 0.02)"]
    assert g.unmeasured_checkpoints() == []
    assert g.summary() == ("synthetic data; scope crops=maize,soybean regions=us-nebraska checkpoints=end,mid; "
                           "us-nebraska end from * 10-15; us-nebraska mid from * 07-20; FAILS 2 minimum metric(s)")
    # without any mid metric either: nothing said of mid (it named no minimum metric for it)
    record["metrics"] = {k: v for k, v in record["metrics"].items() if not k.startswith("mid_")}
    assert Governance.from_dict(record).failures() == g.failures()
    record["metrics"] = {**record["metrics"], "skill_r2_soybean": 0.0, "below_p10_all": 0.1}
    assert Governance.from_dict(record).failures() == []


def test_a_crop_type_version_is_judged_as_before() -> None:
    """Crop-type minimum metrics are named with the checkpoint as a suffix, gated at every checkpoint of the scope."""
    cps = ("emergence", "mid", "pre_harvest", "end")
    metrics = {"accuracy_end": 0.93, "macro_f1_end": 0.58, "ece_end": 0.055,
               "accuracy_emergence": 0.55, "macro_f1_emergence": 0.65, "ece_emergence": 0.2,
               "accuracy_pre_harvest": 0.9, "macro_f1_pre_harvest": float("nan")}  # none at mid
    req = tuple(Requirement(m, o, t) for m, o, t in (("accuracy_end", ">=", 0.75), ("macro_f1_end", ">=", 0.6),
                                                   ("ece_end", "<=", 0.15)))
    req += tuple(Requirement(f"{m}_{cp}", o, t) for cp in ("emergence", "mid", "pre_harvest")
                 for m, o, t in (("accuracy", ">=", 0.6), ("macro_f1", ">=", 0.55), ("ece", "<=", 0.15)))
    g = Governance(crops=("maize", "rice"), regions=("in-smallholder",), checkpoints=cps, metrics=metrics,
                   minimum_metrics=req, data="synthetic")
    assert g.unmeasured_checkpoints() == ["mid"]
    assert g.failures() == [
        "checkpoint mid is in scope without held-out metrics (needs accuracy_mid, ece_mid, macro_f1_mid)",
        "macro_f1_end >= 0.6 (found 0.58)",
        "accuracy_emergence >= 0.6 (found 0.55)", "ece_emergence <= 0.15 (found 0.2)",
        "macro_f1_pre_harvest >= 0.55 (found nan)", "ece_pre_harvest <= 0.15 (found missing)"]
    # its end-of-season-only record (before the in-season gates): every checkpoint of the scope needs a figure
    old = Governance(crops=("maize",), regions=(), checkpoints=("mid", "end"), metrics={"accuracy_end": 0.9},
                     minimum_metrics=req[:1])
    assert old.failures() == ["checkpoint mid is in scope without held-out metrics (needs accuracy_mid)"]


def _register(gov: Governance) -> str:
    from models import registry

    return registry.register(TinyModel(1.0), "yield-value", metrics=gov.metrics, governance=gov)


def test_promotion_is_refused_for_a_version_failing_at_mid_season_only(store: Path) -> None:
    from models import registry
    from pipelines.cli import app

    v = _register(yield_gov({**GOOD, "mid_skill_r2_maize": -0.2}))
    with pytest.raises(RegistryError, match=r"yield-value version 1 is below its minimum metrics") as e:
        registry.promote("yield-value", v, reason="try")
    assert e.value.problem == ("yield-value version 1 is below its minimum metrics: mid_skill_r2_maize >= -0.05 "
                               "(found -0.2)")
    r = CliRunner().invoke(app, ["models", "promote", "yield-value", v, "--reason", "try"])
    assert r.exit_code == 2 and "below its minimum metrics: mid_skill_r2_maize >= -0.05 (found -0.2)" in r.stderr
    assert [h["alias"] for h in registry.alias_history("yield-value")] == ["challenger"]
    r = CliRunner().invoke(app, ["models", "show", "yield-value"])
    assert r.exit_code == 0, r.stderr
    assert "FAILS 1 minimum metric(s)" in r.stdout and "    below minimum: mid_skill_r2_maize >= -0.05 (found -0.2)" \
        in r.stdout
    out = registry.promote("yield-value", v, force=True, reason="mid-season reviewed", approved_by="mrm-2")
    assert out["failures"] == ["mid_skill_r2_maize >= -0.05 (found -0.2)"]
    # a version registered before (no mid minimum metric) with the same figures is promoted as it was then
    old = yield_gov({**GOOD, "mid_skill_r2_maize": -0.2}, minimum=yield_minimum_metrics(CROPS))
    v2 = _register(old)
    assert registry.promote("yield-value", v2, reason="as before")["failures"] == []


def test_ungated_checkpoints_name_what_no_minimum_metric_gates() -> None:
    """A model card's "no minimum metric gates": a yield version registered before in-season gates leaves mid ungated
    (its unprefixed requirements gate the first checkpoint), one since gates both; a crop-type version's suffixed
    requirements gate every checkpoint; a version without minimum metrics gates none; prefixes read longest first."""
    from models.governance import Governance, Requirement

    def gov(cps: tuple[str, ...], *names: str) -> Governance:
        return Governance(crops=("maize",), regions=("r",), checkpoints=cps,
                          minimum_metrics=tuple(Requirement(n, ">=", 0.0) for n in names))

    assert gov(("end", "mid"), "skill_r2_maize").ungated_checkpoints() == ["mid"]
    assert gov(("end", "mid"), "skill_r2_maize", "mid_skill_r2_maize").ungated_checkpoints() == []
    assert gov(("emergence", "mid", "end"), "accuracy_end").ungated_checkpoints() == []
    assert gov(("end", "mid"),).ungated_checkpoints() == ["end", "mid"]
    # "pre" is a prefix of "pre_harvest": a pre_harvest requirement gates pre_harvest, not pre
    g = gov(("end", "pre", "pre_harvest"), "skill_r2_maize", "pre_harvest_skill_r2_maize")
    assert g.ungated_checkpoints() == ["pre"]
    assert g._checkpoint_of("pre_harvest_skill_r2_maize") == "pre_harvest"
