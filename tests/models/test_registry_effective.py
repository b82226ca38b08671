"""A promotion's effective date (the business date from which a version is in force for decisions), on a real
MLflow registry in a temporary SQLite store: the champion of a date is the latest promotion in force by then.

A past-dated report took the crop-type champion of its date by the alias history's wall-clock dates, so on a
simulated or back-filled season (the demo's 2009, a bank re-running last year) every promotion was "after" the date
and the page fell back to today's champion. A promotion now records its effective date (``models promote
--effective D``, default today; the county trainers on a simulated season: its start)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from models.errors import RegistryError
from pipelines.cli import app
from tests.models.test_registry import TinyModel, gov


def _three_versions(name: str = "crop-type") -> None:
    from models import registry

    for scale in (1.0, 2.0, 3.0):
        registry.register(TinyModel(scale), name, metrics={"r2_maize": 0.5}, governance=gov(0.5))


def _champion_on(day: date, name: str = "crop-type") -> str | None:
    from models.registry import alias_history, champion_move_on

    move = champion_move_on(alias_history(name), day)
    return None if move is None or move["version"] is None else str(move["version"])


def test_promotions_with_effective_dates_pick_the_version_in_force_on_each_date(store: Path) -> None:
    from models import registry

    _three_versions()
    today = datetime.now(UTC).date()
    out = registry.promote("crop-type", 1, effective="2009-06-01", reason="trained for the 2009 season")
    assert out["effective"] == "2009-06-01"
    registry.promote("crop-type", 2, effective=date(2009, 9, 1))
    registry.promote("crop-type", 3)  # no date: in force from today
    hist = [h for h in registry.alias_history("crop-type") if h["alias"] == "champion"]
    assert [(h["version"], h["effective"]) for h in hist] == [("1", "2009-06-01"), ("2", "2009-09-01"),
                                                              ("3", today.isoformat())]
    assert _champion_on(date(2009, 5, 31)) is None  # nothing in force yet
    assert _champion_on(date(2009, 6, 1)) == _champion_on(date(2009, 8, 31)) == "1"
    assert _champion_on(date(2009, 9, 1)) == _champion_on(date(2010, 3, 1)) == "2"
    assert _champion_on(today) == "3" == registry.resolve("crop-type").version
    # a promotion recorded later but dated earlier: in force from its own date, not over a later-dated one
    registry.promote("crop-type", 1, effective="2009-07-01", reason="back-filled")
    assert _champion_on(date(2009, 7, 15)) == "1" and _champion_on(date(2009, 9, 15)) == "2"
    # the alias had moved to 1 (underwrite decided with it) while by effective date 3 was in force today: it stays 3
    assert _champion_on(today) == "3" == registry.resolve("crop-type").version
    # the same date twice: the later promotion wins (ties by promotion order)
    registry.promote("crop-type", 2, effective="2009-07-01", reason="replaced the same day")
    assert _champion_on(date(2009, 7, 15)) == "2"


def test_a_champion_re_dated_records_one_move_and_a_re_run_none(store: Path) -> None:
    """The version already champion, promoted again with another effective date (a demo registry made before effective
    dates, dated after the fact): one row with the new date, the alias unchanged; the same again adds nothing."""
    from models import registry

    _three_versions()
    registry.promote("crop-type", 2)
    assert _champion_on(date(2009, 8, 1)) is None  # promoted today: not in force on a 2009 date
    n = len(registry.alias_history("crop-type"))
    out = registry.promote("crop-type", 2, effective="2009-06-01")
    assert out.get("redated") and out["effective"] == "2009-06-01"
    assert len(registry.alias_history("crop-type")) == n + 1 and _champion_on(date(2009, 8, 1)) == "2"
    last = registry.alias_history("crop-type")[-1]
    assert (last["previous_version"], last["version"], last["effective"], last["reason"]) == (
        "2", "2", "2009-06-01", f"re-dated (was in force from {datetime.now(UTC).date()})")
    assert registry.promote("crop-type", 2, effective="2009-06-01").get("unchanged")
    assert registry.promote("crop-type", 2).get("unchanged")  # no date given: a re-run, nothing recorded
    assert len(registry.alias_history("crop-type")) == n + 1


def test_an_untagged_history_keeps_its_wall_clock_dates(store: Path) -> None:
    """A history written before effective dates (a table without the column): read with none, the champion of a
    date by the moves' wall-clock dates as before; the first write adds the column, the older rows stay NULL."""
    from models import registry
    from pipelines._cli_report import champion_version_on

    hist = [{"alias": "champion", "version": "1", "at": "2009-01-10T08:00:00+00:00"},
            {"alias": "challenger", "version": "2", "at": "2009-05-01T08:00:00+00:00"},
            {"alias": "champion", "version": "2", "at": "2009-10-01T08:00:00+00:00"}]
    assert [champion_version_on(hist, date(2009, d.month, d.day)) for d in (date(2009, 9, 15), date(2009, 10, 1))] \
        == ["1", "2"]
    assert champion_version_on(hist, date(2008, 12, 31)) is None
    con = sqlite3.connect(store / "alias_history.db")  # the table as the release before approvals made it
    con.executescript("""
        CREATE TABLE alias_history (
          seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, model TEXT NOT NULL, alias TEXT NOT NULL,
          version TEXT, previous_version TEXT, operator TEXT NOT NULL, reason TEXT NOT NULL, forced INTEGER NOT NULL,
          metrics TEXT NOT NULL, failures TEXT NOT NULL);
        INSERT INTO alias_history (at, model, alias, version, previous_version, operator, reason, forced, metrics,
          failures) VALUES ('2009-01-10T08:00:00+00:00', 'crop-type', 'champion', '1', NULL, 'ops', 'old', 0, '{}',
          '[]');
    """)
    con.commit()
    con.close()
    old = registry.alias_history("crop-type")
    assert [(h["version"], h["effective"], h["approved_by"]) for h in old] == [("1", None, None)]
    assert _champion_on(date(2009, 1, 10)) == "1" and _champion_on(date(2009, 1, 9)) is None
    _three_versions()  # writes: the columns added, the old row untouched
    con = sqlite3.connect(store / "alias_history.db")
    assert {str(r[1]) for r in con.execute("PRAGMA table_info(alias_history)")} >= {"approved_by", "effective"}
    con.close()
    assert registry.alias_history("crop-type")[0]["effective"] is None
    assert _champion_on(date(2009, 1, 10)) == "1"


def test_an_effective_date_that_is_not_a_date_or_after_today_is_a_one_line_error(store: Path) -> None:
    from models import registry

    _three_versions("yield-value")
    runner = CliRunner()
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    for value, msg in (("2009-13-01", "error: --effective: expected a date YYYY-MM-DD, found '2009-13-01'"),
                       ("01/08/2009", "error: --effective: expected a date YYYY-MM-DD, found '01/08/2009'"),
                       (tomorrow, f"error: model registry: effective date {tomorrow} is after today")):
        r = runner.invoke(app, ["models", "promote", "yield-value", "1", "--effective", value])
        assert r.exit_code == 2, (value, r.stdout, r.stderr)
        assert r.stderr.startswith(msg) and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
    assert registry.list_models()[0]["aliases"] == {"challenger": 3}  # nothing moved
    with pytest.raises(RegistryError, match="effective date 'soon' is not a date"):
        registry.promote("yield-value", 1, effective="soon")
    r = runner.invoke(app, ["models", "promote", "yield-value", "1", "--effective", "2009-06-01"])
    assert r.exit_code == 0 and "champion is now v1 (was none), by analyst-7; in force from 2009-06-01" in r.stdout, \
        r.stderr
    r = runner.invoke(app, ["models", "show", "yield-value"])
    assert "champion: v- -> v1 by analyst-7: promoted; in force from 2009-06-01" in r.stdout, r.stdout


def test_a_report_as_of_a_simulated_past_date_uses_the_effective_date_champion(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's crop-type model on a 2009 date: the version promoted in force from the season's start, not today's
    champion by fallback (as before: every promotion's wall-clock date was after 2009)."""
    import models.registry as registry
    from pipelines import _cli_report as cli

    _three_versions()
    registry.promote("crop-type", 1, effective="2009-06-01")
    registry.promote("crop-type", 2, effective="2009-09-01")
    registry.promote("crop-type", 3)
    real_resolve = registry.resolve
    loaded: list[str] = []

    def resolve(name: str, alias: str = "champion", **_: Any) -> Any:  # the real version, a stand-in for its model
        r = real_resolve(name, alias)
        loaded.append(r.version)
        return SimpleNamespace(version=r.version, run_id=r.run_id, model=f"model-{r.version}")

    monkeypatch.setattr(registry, "resolve", resolve)
    model, used = cli._champion_crop_model(date(2009, 8, 1))
    assert model == "model-1" and used == ("crop-type version 1, the champion of 2009-08-01 by effective date "
                                           "(today's: 3)"), used
    model, used = cli._champion_crop_model(date(2009, 10, 25))
    assert model == "model-2" and used == ("crop-type version 2, the champion of 2009-10-25 by effective date "
                                           "(today's: 3)"), used
    model, used = cli._champion_crop_model(datetime.now(UTC).date())
    assert model == "model-3" and "by effective date (today's too)" in used
    model, used = cli._champion_crop_model(date(2009, 5, 1))  # before any promotion in force: today's, said so
    assert model == "model-3" and used == ("crop-type version 3, today's champion (the alias history records no "
                                           "champion on or before 2009-05-01)")


def test_a_simulated_county_s_promotions_are_in_force_from_its_season_start() -> None:
    """The county trainers' default effective date: a synthetic county's current season starts it (the demo's 2009
    season window); a real county's (and an unlabelled one's) is today (None), as a bank's model is in force from the
    day it is promoted."""
    from features.series import season_window
    from pipelines.county import promotion_effective

    sim = SimpleNamespace(synthetic=True, data_kind="synthetic", current_season="2009", region="in-smallholder")
    start = season_window("2009", "in-smallholder")[0]
    assert promotion_effective(sim) == start and start.year == 2009  # type: ignore[arg-type]
    for kind in ("real", "unlabelled"):
        bank = SimpleNamespace(synthetic=False, data_kind=kind, current_season="2009", region="in-smallholder")
        assert promotion_effective(bank) is None  # type: ignore[arg-type]
    future = SimpleNamespace(synthetic=True, data_kind="synthetic", current_season=str(datetime.now(UTC).year + 1),
                             region="in-smallholder")
    assert promotion_effective(future) <= datetime.now(UTC).date()  # type: ignore[arg-type,operator]


def test_monitor_as_of_a_past_date_uses_the_champion_of_that_date(
        store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``monitor --as-of D`` loaded today's crop-type champion whatever D; it now takes the champion of D as the
    report of that date does (by effective date), and says so when it is not today's; today (or no date in force):
    today's, silently as before."""
    import models.registry as registry
    from pipelines import _cli_reunderwrite as cli_ru

    _three_versions()
    registry.promote("crop-type", 1, effective="2009-06-01")
    registry.promote("crop-type", 3)
    real_resolve = registry.resolve

    def resolve(name: str, alias: str = "champion", **_: Any) -> Any:
        r = real_resolve(name, alias)
        return SimpleNamespace(version=r.version, run_id=r.run_id, model=f"model-{r.version}")

    monkeypatch.setattr(registry, "resolve", resolve)
    capsys.readouterr()  # (MLflow's own warnings while registering)
    assert cli_ru._crop_model("champion", date(2009, 8, 1)) == "model-1"
    assert capsys.readouterr().err.strip() == ("note: alerts computed with crop-type version 1, the champion of "
                                               "2009-08-01 by effective date (today's: 3)")
    for day in (None, datetime.now(UTC).date(), date(2009, 5, 1)):
        assert cli_ru._crop_model("champion", day) == "model-3"
        assert capsys.readouterr().err == ""


def test_champion_models_as_of_a_past_date_are_the_champions_in_force_on_it(store: Path) -> None:
    """``ChampionModels.resolve(on=D)`` (what ``reunderwrite --as-of D`` resolves) took today's champions whatever D;
    it now takes each model's champion in force on D by effective date and says which and why; today, a later date
    or none: today's, nothing said; before any promotion: today's, with a warning saying so."""
    from models import registry
    from pipelines._champions import ChampionModels

    _three_versions("yield-value")
    registry.promote("yield-value", 1, effective="2009-06-01")
    registry.promote("yield-value", 2, effective="2009-09-01")
    got = ChampionModels.resolve(crop_model="none", on=date(2009, 8, 1))
    assert (got.yield_version, got.yield_model.scale, got.governance.metrics) == ("1", 1.0, {"r2_maize": 0.5})
    assert got.said == "models: yield-value version 1, the champion of 2009-08-01 by effective date (today's: 2)"
    later = ChampionModels.resolve(crop_model="none", on=date(2009, 10, 1))
    assert later.yield_version == "2" and later.said == ("models: the champion of 2009-10-01 by effective date "
                                                         "(today's too)")
    today = datetime.now(UTC).date()
    for day in (None, today, today + timedelta(days=3)):
        now = ChampionModels.resolve(crop_model="none", on=day)
        assert (now.yield_version, now.said) == ("2", None)
    warnings: list[str] = []
    early = ChampionModels.resolve(crop_model="none", on=date(2009, 5, 1), warnings=warnings)
    assert early.yield_version == "2" and early.said == (
        "models: yield-value version 2, today's champion (the alias history records no champion of yield-value on "
        "or before 2009-05-01)")
    assert warnings == ["yield-value version 2, today's champion, used as of 2009-05-01: the alias history records "
                        "no champion of yield-value on or before 2009-05-01"]
    # a version given by number (replay: the version a record names) is that version, whatever the date
    assert ChampionModels.resolve(alias="1", crop_model="none", on=date(2009, 10, 1)).yield_version == "1"


def test_champion_of_names_each_model_by_its_own_history(store: Path) -> None:
    """Each model the run resolves by alias is taken by its own alias history (crop-type and yield-value promoted on
    different dates); a champion of D whose version cannot be loaded: today's, said so."""
    from models import registry
    from pipelines._champions import champion_of

    _three_versions("crop-type")
    registry.promote("crop-type", 1, effective="2009-06-01")
    registry.promote("crop-type", 3, effective="2009-10-01")
    got, why, same = champion_of("crop-type", date(2009, 9, 30))
    assert (got.version, why, same) == ("1", "the champion of 2009-09-30 by effective date (today's: 3)", False)
    got, why, same = champion_of("crop-type", date(2009, 10, 1))
    assert (got.version, why, same) == ("3", "the champion of 2009-10-01 by effective date (today's too)", True)
    real = registry.resolve

    def gone(name: str, alias: str = "champion", **kw: Any) -> Any:
        if alias == "1":
            raise RegistryError(problem="artifacts gone", fix="-")
        return real(name, alias, **kw)

    registry_resolve = pytest.MonkeyPatch()
    registry_resolve.setattr(registry, "resolve", gone)
    try:
        warnings: list[str] = []
        got, why, _ = champion_of("crop-type", date(2009, 9, 30), warnings=warnings)
    finally:
        registry_resolve.undo()
    assert got.version == "3" and why == "today's champion (version 1, the champion of 2009-09-30, cannot be loaded)"
    assert warnings and warnings[0].startswith("crop-type version 3, today's champion, used as of 2009-09-30")


def test_a_promotion_dated_before_a_later_dated_one_says_until_when_it_is_in_force(store: Path) -> None:
    """A model-risk audit: ``models promote crop-type 3 --effective 2009-07-01`` after v2's promotion dated
    2009-09-01 printed "in force from 2009-07-01", but by effective date v2 stays the champion of 2009-09-01 on
    (a back-filled window, kept): the line says until when and whose promotion takes over; a re-dating later than the
    version's own earlier-dated move says that move stands (the history is append-only)."""
    from models import registry

    _three_versions()
    registry.promote("crop-type", 1, effective="2009-06-01")
    registry.promote("crop-type", 2, effective="2009-09-01")
    today = datetime.now(UTC).date().isoformat()
    runner = CliRunner()
    r = runner.invoke(app, ["models", "promote", "crop-type", "3", "--effective", "2009-07-01"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == (f"crop-type: v3 recorded as the champion of earlier dates (today's was v2), by "
                                f"analyst-7; in force from 2009-07-01 until 2009-09-01, when v2's promotion (recorded "
                                f"{today}, in force from 2009-09-01) takes over by effective date; today's champion "
                                "stays v2 (the champion alias follows the effective dates)")
    assert registry.resolve("crop-type").version == "2"  # what underwrite decides with: today's by effective date
    assert (_champion_on(date(2009, 8, 31)), _champion_on(date(2009, 9, 1))) == ("3", "2")
    r = runner.invoke(app, ["models", "promote", "crop-type", "3", "--effective", "2009-08-01"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == (f"crop-type: v3 recorded as the champion of earlier dates (today's was v2), by "
                                f"analyst-7; in force from 2009-07-01 (its move dated 2009-07-01 stands: the alias "
                                f"history is append-only) until 2009-09-01, when v2's promotion (recorded {today}, in "
                                "force from 2009-09-01) takes over by effective date; today's champion stays v2 (the "
                                "champion alias follows the effective dates)")
    assert _champion_on(date(2009, 7, 15)) == "3"
    # dated after every other move: the line as before
    r = runner.invoke(app, ["models", "promote", "crop-type", "1", "--effective", "2009-10-01"])
    assert r.stdout.strip() == "crop-type: champion is now v1 (was v2), by analyst-7; in force from 2009-10-01", r.stdout


def test_a_champion_re_dated_before_another_move_says_it_is_champion_again_after_it(store: Path) -> None:
    """The review: v1 from 2009-06-01, v2 from 2009-09-01 (today's champion), then v2 re-dated to 2009-05-01 printed
    "in force from 2009-05-01 until 2009-06-01, when v1's promotion … takes over", as if v2 ended there; its own move
    dated 2009-09-01 still stands (the history is append-only): the line says it is the champion again from then."""
    from models import registry

    _three_versions()
    registry.promote("crop-type", 1, effective="2009-06-01")
    registry.promote("crop-type", 2, effective="2009-09-01")
    r = CliRunner().invoke(app, ["models", "promote", "crop-type", "2", "--effective", "2009-05-01"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip().endswith("takes over by effective date, and again from 2009-09-01 by its own later-dated "
                                     "move"), r.stdout
    assert [_champion_on(date(2009, m, 15)) for m in (5, 7, 9)] == ["2", "1", "2"]


def test_a_back_dated_promotion_leaves_the_alias_on_todays_champion_by_effective_date(store: Path) -> None:
    """A model-risk walkthrough: v1 champion from today, then ``promote 3 --effective 2009-06-01`` moved the
    ``champion`` alias to v3 — what ``underwrite`` decides with — while by effective date (``reunderwrite``,
    ``monitor``, ``report``) v1 stayed in force today. The alias now goes back to v1, its return recorded with v1's
    date; the window 2009-06-01 … the day before stays v3's. A run killed before the return is mended by its
    re-run."""
    from models import registry

    _three_versions()
    today = datetime.now(UTC).date()
    registry.promote("crop-type", 1)
    out = registry.promote("crop-type", 3, effective="2009-06-01", reason="back-filled season")
    assert out["today_champion"] == "1" and out["until_version"] == "1"
    assert registry.resolve("crop-type").version == "1" == _champion_on(today)
    assert _champion_on(date(2009, 7, 1)) == "3"
    last = [h for h in registry.alias_history("crop-type") if h["alias"] == "champion"][-1]
    assert (last["version"], last["previous_version"], last["effective"]) == ("1", "3", today.isoformat())
    # killed between moving the alias and its return: the alias on 3, its move recorded — the re-run puts it back
    registry.promote("crop-type", 2, effective="2009-05-01")
    client = registry._client(create=False)
    client.set_registered_model_alias("crop-type", "champion", "2")
    assert registry.resolve("crop-type").version == "2"
    again = registry.promote("crop-type", 2, effective="2009-05-01")
    assert again.get("unchanged") or again.get("today_champion") == "1"
    assert registry.resolve("crop-type").version == "1"


def test_a_back_filled_promotion_re_run_adds_nothing_and_keeps_the_challenger(store: Path) -> None:
    """A review: each re-run of a back-dated promotion added its move and the alias's return again (FORCED ones too),
    and back-dating the challenger removed its challenger alias though it was not today's champion."""
    from models import registry

    _three_versions()
    registry.promote("crop-type", 1)
    client = registry._client(create=False)
    client.set_registered_model_alias("crop-type", "challenger", "3")
    registry.promote("crop-type", 3, effective="2009-06-01")
    n = len(registry.alias_history("crop-type"))
    again = registry.promote("crop-type", 3, effective="2009-06-01")
    assert again.get("backfilled") == "2009-06-01" and len(registry.alias_history("crop-type")) == n
    assert registry.resolve("crop-type").version == "1" and registry.alias_version("crop-type", "challenger") == "3"


def test_an_alias_left_on_a_back_filled_version_goes_back_on_a_re_run(store: Path) -> None:
    """A review: a registry back-filled before this release (the alias on v2, v1 in force today by effective date)
    stayed so — the re-run of that promotion said "nothing recorded" —; it puts the alias back, recorded."""
    from models import registry
    from models._registry_mlflow_store import _append_history

    _three_versions()
    registry.promote("crop-type", 1)
    client = registry._client(create=False)
    client.set_registered_model_alias("crop-type", "champion", "2")  # as the earlier release left it
    _append_history(model="crop-type", alias="champion", version="2", previous="1", operator="a", reason="back-filled",
                    forced=False, metrics={}, failures=[], effective=date(2009, 1, 1))
    out = registry.promote("crop-type", 2, effective="2009-01-01")
    assert out.get("unchanged") and out.get("today_champion") == "1"
    assert registry.resolve("crop-type").version == "1"
