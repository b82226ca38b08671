"""Season calendar and due checkpoints: exactly what is due, once."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import UserInputError
from pipelines.schedule import (
    CheckpointLog,
    checkpoint_dates,
    due_checkpoints,
    load_calendar,
    nothing_due_text,
    upcoming,
)


def test_calendar_loads_and_dates() -> None:
    cal = load_calendar()
    cps = checkpoint_dates("2024", cal, "us-nebraska")
    ww = cps[cps["crop"] == "winter_wheat"]
    assert ww.iloc[0]["date"].date() == date(2023, 9, 15)  # winter wheat's pre-season is in the previous autumn
    assert set(cps["checkpoint"]) == {"pre_season", "emergence", "mid_season", "pre_harvest"}
    assert cps["date"].is_monotonic_increasing


HEAD = "region,crop,checkpoint,month_day,year_offset\n"


def _maize(**dates: str) -> str:
    """us-nebraska maize's four checkpoints (the shipped dates), some replaced by ``dates``."""
    md = {"pre_season": "04-01", "emergence": "06-01", "mid_season": "07-20", "pre_harvest": "09-10"} | dates
    return "".join(f"us-nebraska,maize,{k},{v},0\n" for k, v in md.items())


def test_bad_calendar(tmp_path: Path) -> None:
    p = tmp_path / "cal.csv"
    p.write_text(HEAD + "us-nebraska,maize,harvest,09-01,0\n")
    with pytest.raises(UserInputError, match=r"cal\.csv row 2 \(region us-nebraska, crop maize, checkpoint harvest\): "
                       "column checkpoint holds 'harvest', expected one of pre_season"):
        load_calendar(p)
    p.write_text(HEAD + _maize(emergence="9/1"))
    with pytest.raises(UserInputError, match=r"cal\.csv row 3 \(region us-nebraska, crop maize, checkpoint emergence\): "
                       r"column month_day holds '9/1', expected a month-day MM-DD that every year has \(no 02-29\)$"):
        load_calendar(p)


def test_every_shipped_checkpoint_is_inside_its_season_window() -> None:
    """us-nebraska winter wheat's pre-season checkpoint was 09-01 of the year before, two weeks before the season's
    window opens (09-15): `reunderwrite --due --today 2017-09-01` stopped on "as-of 2017-09-01 is before season 2018
    starts (2017-09-15...): give a date on or after 2017-09-15" — a date the analyst never gave — and again every day
    until the emergence checkpoint superseded it. Every checkpoint of the shipped calendar is now one the pipeline
    can run (inside its region's window, the same test re-underwriting applies), in leap and common years."""
    from features.series import season_window

    cps = pd.concat([checkpoint_dates(str(s), load_calendar()) for s in range(2016, 2021)], ignore_index=True)
    for r in cps.itertuples(index=False):
        start, end = season_window(r.season, r.region)
        assert start <= r.date.date() <= end, (r.region, r.crop, r.checkpoint, r.date.date(), start, end)
    ww = cps[(cps["region"] == "us-nebraska") & (cps["crop"] == "winter_wheat") & (cps["season"] == "2018")]
    assert ww["date"].min().date() == date(2017, 9, 15)


def test_a_calendar_checkpoint_outside_the_season_window_or_listed_twice_is_refused(tmp_path: Path) -> None:
    """A calendar (--calendar) with a checkpoint the pipeline cannot run, or one listed twice with two dates (which
    one is due?), is one line naming it, at load: `schedule show` would list it and `reunderwrite --due` stop on
    it every day."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    p = tmp_path / "cal.csv"
    p.write_text(HEAD + "us-nebraska,winter_wheat,pre_season,09-01,-1\nus-nebraska,winter_wheat,emergence,11-01,-1\n"
                 "us-nebraska,winter_wheat,mid_season,05-01,0\nus-nebraska,winter_wheat,pre_harvest,06-15,0\n")
    with pytest.raises(UserInputError, match=r"cal.csv row 2 \(region us-nebraska, crop winter_wheat, checkpoint "
                       r"pre_season\): outside the region's season window: us-nebraska winter_wheat pre_season 09-01 "
                       r"of the year before \(window 09-15 of the year before to 11-30\)"):
        load_calendar(p)
    r = CliRunner().invoke(app, ["schedule", "show", "--calendar", str(p), "--today", "2017-01-01"])
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "us-nebraska winter_wheat pre_season 09-01 of the year before" in r.stderr
    p.write_text(HEAD + _maize() + "us-nebraska,maize,mid_season,07-25,0\n")
    with pytest.raises(UserInputError, match=r"cal.csv row 6 \(region us-nebraska, crop maize, checkpoint mid_season\): "
                       r"repeats row 4 \(each checkpoint once per region and crop: which date would be due\?\)$"):
        load_calendar(p)


def test_cotton_is_re_underwritten_in_its_pickings() -> None:
    """in-smallholder cotton is picked over weeks: from boll opening (the crop calendar's maturity, mid-December ± 15
    days: the first pickings) to the last pickings around the turn of the year. Its pre-harvest checkpoint, described
    as "first pickings", was 11-20 — 26 days before the maturity median, before even its spread; the other crops'
    pre-harvest checkpoints are within a few days of their maturity. `reunderwrite --due` on the demo then ran
    nothing for cotton from 2009-11-20 to the lines' maturity (2010-03): not a day of the pickings was
    re-underwritten. Its pre-harvest checkpoint is now in the first pickings (12-15), inside the season window."""
    from features.growth_stage import load_calendars

    crop = load_calendars().query("region == 'in-smallholder' and crop == 'cotton'").set_index("event")
    cps = checkpoint_dates("2009", load_calendar(), "in-smallholder").query("crop == 'cotton'").set_index("checkpoint")
    day = cps.loc["pre_harvest", "date"].day_of_year
    first = crop.loc["maturity", "doy_median"] - crop.loc["maturity", "doy_spread"]
    assert first <= day <= crop.loc["harvest", "doy_median"], (day, first)
    assert cps.loc["pre_harvest", "date"].date() == date(2009, 12, 15)


def test_nothing_due_says_why_and_the_next_checkpoint(tmp_path: Path) -> None:
    """`reunderwrite --due` with nothing to run said "no checkpoint up to it is left to run (none yet, or all have
    run; ...)" — before the season's first checkpoint and after its last alike: now which, and the next one."""
    cal = load_calendar()
    log = CheckpointLog(f"sqlite:///{tmp_path / 'store.db'}")
    region = ["in-smallholder"]
    assert due_checkpoints(date(2009, 5, 20), ["2009"], cal, log.done(), regions=region) == []
    assert nothing_due_text(date(2009, 5, 20), "2009", cal, "in-smallholder") == (
        "nothing due on 2009-05-20: no checkpoint of season 2009 in in-smallholder is due yet (the next: 2009-06-01 "
        "maize pre_season, rice pre_season)")
    for d in due_checkpoints(date(2009, 11, 21), ["2009"], cal, log.done(), regions=region):
        log.mark(d, as_of=d.date, n_lines=1)
    assert due_checkpoints(date(2009, 11, 21), ["2009"], cal, log.done(), regions=region) == []
    assert nothing_due_text(date(2009, 11, 21), "2009", cal, "in-smallholder") == (
        "nothing due on 2009-11-21: the 11 checkpoint(s) of season 2009 in in-smallholder up to it are done (run, "
        "superseded by a later one or covered by later records; the next: 2009-12-15 cotton pre_harvest)")
    assert nothing_due_text(date(2010, 3, 1), "2009", cal, "in-smallholder").endswith(
        "the 12 checkpoint(s) of season 2009 in in-smallholder up to it are done (run, superseded by a later one or "
        "covered by later records; season 2009 has no later checkpoint)")


def test_due_runs_latest_once_and_then_nothing(tmp_path: Path) -> None:
    cal = load_calendar()
    log = CheckpointLog(f"sqlite:///{tmp_path / 'store.db'}")
    today = date(2024, 7, 25)
    due = due_checkpoints(today, ["2024"], cal, log.done(), regions=["us-nebraska"])
    maize = [d for d in due if d.crop == "maize"]
    assert len(maize) == 1 and maize[0].checkpoint == "mid_season"
    assert maize[0].superseded == ("pre_season", "emergence")
    for d in due:
        log.mark(d, as_of=today, n_lines=3)
    assert due_checkpoints(today, ["2024"], cal, log.done(), regions=["us-nebraska"]) == []
    # a later day brings only the next checkpoint
    later = due_checkpoints(date(2024, 9, 12), ["2024"], cal, log.done(), regions=["us-nebraska"])
    assert [(d.crop, d.checkpoint) for d in later if d.crop == "maize"] == [("maize", "pre_harvest")]


def test_upcoming() -> None:
    cal = load_calendar()
    up = upcoming(date(2024, 8, 1), ["2024"], cal, "in-smallholder")
    assert up["date"].min().date() >= date(2024, 8, 1)
    assert "pre_harvest" in set(up["checkpoint"])


def test_cli_schedule_show() -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    twice = CliRunner().invoke(app, ["schedule", "show", "--season", "2024", "--season", "2024", "--region",
                                     "us-nebraska", "--today", "2024-07-01"])
    r = CliRunner().invoke(app, ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--today", "2024-07-01"])
    assert twice.exit_code == 0 and twice.stdout == r.stdout  # a season given twice was listed twice
    assert r.exit_code == 0, r.stderr
    assert "2024-07-20  2024    us-nebraska      maize         mid_season" in r.stdout
    # by default the next twelve months: next autumn's winter wheat (the season after next) was left out
    nxt = CliRunner().invoke(app, ["schedule", "show", "--region", "us-nebraska", "--today", "2026-12-01"])
    assert nxt.exit_code == 0, nxt.stderr
    assert "2027-09-15  2028    us-nebraska      winter_wheat  pre_season" in nxt.stdout
    assert "2027-11-01  2028    us-nebraska      winter_wheat  emergence" in nxt.stdout
    assert "2028-05-01" not in nxt.stdout and "2027-05-01  2027    us-nebraska      winter_wheat  mid_season" in nxt.stdout
    bad = CliRunner().invoke(app, ["schedule", "show", "--today", "July"])
    assert bad.exit_code == 2
    assert "expected a date YYYY-MM-DD" in bad.stderr


def test_schedule_show_of_a_past_season_says_why_nothing_is_listed() -> None:
    """An analyst replaying the smallholder demo's season asked `schedule show --season 2009 --region in-smallholder`
    and read "no coming checkpoints", as if the season had none: its twelve checkpoints are all before today. The
    message now says so and how to list them (--today)."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    r = CliRunner().invoke(app, ["schedule", "show", "--season", "2009", "--region", "in-smallholder",
                                 "--today", "2026-12-02"])
    assert r.exit_code == 0, r.stderr
    assert "no coming checkpoints: season 2009 has 12 (in-smallholder), all before 2026-12-02" in r.stdout
    assert "--today 2009-06-01" in r.stdout
    listed = CliRunner().invoke(app, ["schedule", "show", "--season", "2009", "--region", "in-smallholder",
                                      "--today", "2009-06-01"])
    assert "2009-12-15  2009    in-smallholder   cotton        pre_harvest" in listed.stdout


def test_schedule_show_says_which_checkpoints_the_champion_can_reestimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Operations saw the checkpoints but not what re-underwriting would do at them: before the yield model's
    validated day every line is kept, not re-estimated (smallholder maize's mid-season, 08-31, against a model
    validated from 09-15). `--models` says it per checkpoint from the champion's governance."""
    from typer.testing import CliRunner

    from features.errors import UserInputError
    from models import registry
    from models.governance import Governance
    from pipelines.cli import app

    gov = Governance(crops=("maize", "rice"), regions=("in-smallholder",), checkpoints=("mid", "end"),
                     checkpoint_dates={"in-smallholder": {"mid": {"*": ("09-15", 0)}, "end": {"*": ("02-28", 1)}}})
    monkeypatch.setattr(registry, "governance", lambda name, version: gov)
    args = ["schedule", "show", "--season", "2009", "--region", "in-smallholder", "--today", "2009-06-01", "--models"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.stderr
    assert "2009-08-31  2009    in-smallholder   maize         mid_season   kept (model validated from 2009-09-15)" \
        in r.stdout
    assert "2009-10-10  2009    in-smallholder   maize         pre_harvest  re-estimates" in r.stdout
    assert "2009-10-01  2009    in-smallholder   cotton        mid_season   kept (cotton outside the model's crops)" \
        in r.stdout
    old = Governance(crops=("maize",), regions=("in-smallholder",), checkpoints=("mid", "end"))
    monkeypatch.setattr(registry, "governance", lambda name, version: old)
    assert "scope by the crops scored together" in CliRunner().invoke(app, args).stdout

    def missing(name: str, version: str) -> Governance:
        raise UserInputError("yield-value has no version with the alias 'champion'")

    monkeypatch.setattr(registry, "governance", missing)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "no version with the alias 'champion'" in r.stderr and "Traceback" not in r.stderr


def test_mark_tolerates_a_concurrent_run_marking_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `reunderwrite --due` runs marking the same checkpoint: the one that finds the row inserted by the other
    between its check and its insert (a unique-key violation, which went up as a traceback) retries and finds it."""
    import sqlalchemy as sa

    from pipelines import schedule

    url = f"sqlite:///{tmp_path / 'store.db'}"
    cal = load_calendar()
    today = date(2024, 7, 25)
    first, second = CheckpointLog(url), CheckpointLog(url)
    due = [d for d in due_checkpoints(today, ["2024"], cal, first.done(), regions=["us-nebraska"])
           if d.crop == "maize"]
    first.mark(due[0], as_of=today, n_lines=3)
    real = sa.select
    calls = iter(range(1_000))

    def stale_check(*cols: object) -> object:  # the second run's first check ran before the first run committed
        q = real(*cols)  # type: ignore[call-overload]
        return q.where(sa.false()) if next(calls) == 0 else q

    monkeypatch.setattr(schedule.sa, "select", stale_check)
    second.mark(due[0], as_of=today, n_lines=5)
    monkeypatch.undo()
    rows = second.rows()
    assert len(rows) == 3 and rows.loc[rows["checkpoint"] == "mid_season", "n_lines"].tolist() == [3]


def test_a_store_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    """`reunderwrite --due` on a store in a folder that cannot be written (an auditor's copy on a read-only mount)
    ended in a traceback from the checkpoint log (sqlite3.OperationalError "unable to open database file"): now the
    store's one-line error (exit 2), here with a store path under a file (no folder can be made)."""
    from underwriting.errors import StoreError

    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"^decision store sqlite:///.*unable to open database file") as e:
        CheckpointLog(f"sqlite:///{blocker / 'store.db'}")
    assert "\n" not in str(e.value)


def test_due_looks_at_every_season_with_booked_lines_whose_window_is_open() -> None:
    """`reunderwrite --due` without --season looked at the county's current season only: in September-November a
    us-nebraska county has last season's harvest and next season's winter wheat open at once, and an in-smallholder
    county moved on to the new season in January still has last season's cotton lines in their pickings — the daily
    timer never ran their checkpoints. Now the current season and every other season of the county with a Book line
    whose season window is open on the day."""
    from pipelines.schedule import due_seasons

    both = ["2018", "2019"]
    assert due_seasons(date(2018, 10, 1), "2019", both, both, "us-nebraska") == ["2018", "2019"]
    assert due_seasons(date(2018, 10, 1), "2018", both, both, "us-nebraska") == ["2018", "2019"]
    assert due_seasons(date(2018, 12, 5), "2019", both, both, "us-nebraska") == ["2019"]  # 2018's window closed 11-30
    assert due_seasons(date(2018, 10, 1), "2019", both, ["2019"], "us-nebraska") == ["2019"]  # no 2018 line booked
    assert due_seasons(date(2010, 1, 10), "2010", ["2009", "2010"], ["2009"], "in-smallholder") == ["2009", "2010"]
    assert due_seasons(date(2010, 1, 10), "2010", ["2010"], ["2009"], "in-smallholder") == ["2010"]  # not the county's
    assert due_seasons(date(2010, 1, 10), "2010", ["2009", "2010"], ["2009"], "nowhere") == ["2010"]  # no window


def test_cli_schedule_show_says_which_checkpoints_are_done(tmp_path: Path) -> None:
    """`schedule show --store` (or $AGCREDIT_STORE_URL) said nothing of the checkpoints the store has run or covered:
    a status column now — done (as `reunderwrite --due` logged it, or the season's re-underwriting records of the
    crop: that day's, or later ones covering it), due (on or before --today, not run) or coming — and the season's
    checkpoints before --today are listed too. The store is only read."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.schedule import CheckpointLog, Due
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'd.db'}"

    def item(key: str, kind: str, as_of: str, crop: str) -> DecisionItem:
        body = {"fields": [{"field_id": "F1", "region": "us-nebraska", "declared_crop": crop}], "outcome": "REDUCE",
                "limit": 100}
        return DecisionItem(idempotency_key=key, application_id=f"A-{key}", farmer_token="tok", season="2024",
                            as_of=as_of, outcome="REDUCE", limit=100, currency="USD", reason_codes=(), body=body,
                            kind=kind)

    with DecisionStore(url) as st:
        st.append([item("m", "reunderwrite", "2024-07-20", "maize"),   # the maize mid-season checkpoint's records
                   item("s", "reunderwrite", "2024-08-10", "sorghum"),  # later than sorghum's: it is covered
                   item("y", "decision", "2024-09-30", "soybean")], operator="t")  # a decision runs no checkpoint
    CheckpointLog(url).mark(Due("2024", "us-nebraska", "soybean", "mid_season", date(2024, 7, 31)),
                            as_of=date(2024, 7, 31), n_lines=3)
    r = CliRunner().invoke(app, ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--today",
                                 "2024-09-12", "--store", url])
    assert r.exit_code == 0, r.stderr
    rows = {" ".join(line.split()[2:5]): " ".join(line.split()[5:]) for line in r.stdout.splitlines()[1:]}
    assert rows["us-nebraska maize mid_season"] == "done (records as of 2024-07-20)"
    assert rows["us-nebraska soybean mid_season"] == "done (ran as of 2024-07-31)"
    assert rows["us-nebraska sorghum mid_season"] == "done (covered by records as of 2024-08-10)"
    assert rows["us-nebraska maize pre_harvest"] == "due"
    assert rows["us-nebraska soybean pre_harvest"] == "coming" and rows["us-nebraska sorghum pre_harvest"] == "coming"
    assert "status" in r.stdout.splitlines()[0]
    # a store without the checkpoint log: none created (the store is only read)
    url2 = f"sqlite:///{tmp_path / 'e.db'}"
    with DecisionStore(url2) as st:
        st.append([item("m", "reunderwrite", "2024-07-20", "maize")], operator="t")
    r = CliRunner().invoke(app, ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--today",
                                 "2024-09-12", "--store", url2])
    assert r.exit_code == 0 and "done (records as of 2024-07-20)" in r.stdout, r.stderr
    import sqlalchemy as sa

    engine = sa.create_engine(url2)
    assert not sa.inspect(engine).has_table("agcredit_checkpoint_runs")
    engine.dispose()
    # without a store: as before (the coming checkpoints, no status)
    plain = CliRunner().invoke(app, ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--today",
                                     "2024-09-12"], env={"AGCREDIT_STORE_URL": None})
    assert plain.exit_code == 0 and "status" not in plain.stdout and "mid_season" not in plain.stdout


def test_schedule_show_store_status_is_of_the_region_the_day_and_a_whole_run(tmp_path: Path) -> None:
    """`schedule show --store` matched the store's re-underwriting records by season and crop only: in a store of
    two regions, the other region's records marked a checkpoint done; records dated after --today (a replay of a
    past day) marked it "done (covered ...)", which it was not on that day; and a `reunderwrite --rejects` run,
    whose farmers with fields rows set aside had their lines held (not re-decided), showed "done". Now the
    records' fields' region must be the row's, only records dated on or before --today count, and a run that set
    rows aside (its provenance's fields_set_aside) is "partial"."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'd.db'}"

    def item(key: str, as_of: str, crop: str, region: str, aside: bool = False) -> DecisionItem:
        body = {"fields": [{"field_id": f"F-{key}", "region": region, "declared_crop": crop}], "outcome": "REDUCE",
                "limit": 100, "provenance": {"fields_set_aside": {"rows": 1, "rejects_sha256": "0" * 64}} if aside
                else {}}
        return DecisionItem(idempotency_key=key, application_id=f"A-{key}", farmer_token="tok", season="2024",
                            as_of=as_of, outcome="REDUCE", limit=100, currency="USD", reason_codes=(), body=body,
                            kind="reunderwrite")

    with DecisionStore(url) as st:
        st.append([item("o", "2024-07-20", "maize", "other-region"),      # another region's maize mid-season
                   item("s", "2024-08-10", "sorghum", "us-nebraska"),     # after --today 2024-08-01
                   item("y", "2024-07-31", "soybean", "us-nebraska", aside=True)], operator="t")  # a --rejects run
    args = ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--store", url, "--today"]
    r = CliRunner().invoke(app, [*args, "2024-08-01"])
    assert r.exit_code == 0, r.stderr
    rows = {" ".join(line.split()[2:5]): " ".join(line.split()[5:]) for line in r.stdout.splitlines()[1:]}
    assert rows["us-nebraska maize mid_season"] == "due"
    assert rows["us-nebraska sorghum mid_season"] == "due"
    assert rows["us-nebraska soybean mid_season"] == "partial (rows set aside as of 2024-07-31)"
    # on a later day the sorghum records exist: the checkpoint is covered by them
    later = CliRunner().invoke(app, [*args, "2024-09-12"])
    rows = {" ".join(line.split()[2:5]): " ".join(line.split()[5:]) for line in later.stdout.splitlines()[1:]}
    assert rows["us-nebraska sorghum mid_season"] == "done (covered by records as of 2024-08-10)", later.stdout
    assert rows["us-nebraska maize mid_season"] == "due"


def test_schedule_show_before_the_store_exists_lists_the_coming_checkpoints_and_says_why_no_status(
        tmp_path: Path) -> None:
    """With AGCREDIT_STORE_URL set in a deployment's env file, `schedule show` was refused (exit 2, "no database file
    there") until the first `underwrite` created the store. It lists the coming checkpoints as without a store, said,
    and creates nothing."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    url = f"sqlite:///{tmp_path / 'not-yet.db'}"
    args = ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--today", "2024-08-01"]
    bare = CliRunner().invoke(app, args)
    r = CliRunner().invoke(app, args, env={"AGCREDIT_STORE_URL": url})
    assert r.exit_code == 0, r.stderr
    first, *rest = r.stdout.splitlines()
    assert first == (f"no decision store yet at {url} (`agcredit underwrite` creates it): the coming checkpoints "
                     "without their status")
    assert "\n".join(rest) == bare.stdout.rstrip("\n") and "status" not in rest[0]
    assert not (tmp_path / "not-yet.db").exists()


@pytest.mark.parametrize("given", ["Wenzu Wenteda", "+91-00000-18677", "2009-10"])
def test_schedule_show_season_that_is_no_year_is_one_line_without_personal_data(given: str) -> None:
    """`schedule show --season +91-…` echoed the phone number into the message; a typo is still shown."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    r = CliRunner().invoke(app, ["schedule", "show", "--season", "2009", "--season", given])
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    shown = f"'{given}'" if given == "2009-10" else "a value that is not one (not shown: it may be a name, phone or ID number)"
    assert r.stderr.strip() == f"error: --season: column 'season': expected a year like 2024, found {shown}"


def test_schedule_show_status_is_as_known_on_today_and_says_a_region_has_no_lines(tmp_path: Path) -> None:
    """An audit's `schedule show --store S --today 2018-08-15` listed checkpoints that `reunderwrite --due` ran
    later (as of 2018-09-10) as "done (ran as of 2018-09-10)" — not known on that day — and listed another
    region's checkpoints as "due" in a store holding no line of that region. A run logged as of a day after --today
    is not taken as done, and a region without any record of the season on or before --today says so."""
    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.schedule import CheckpointLog, Due
    from underwriting.records import DecisionItem
    from underwriting.store import DecisionStore

    url = f"sqlite:///{tmp_path / 'd.db'}"
    body = {"fields": [{"field_id": "F1", "region": "us-nebraska", "declared_crop": "maize"}], "outcome": "REDUCE",
            "limit": 100}
    with DecisionStore(url) as st:
        st.append([DecisionItem(idempotency_key="k", application_id="A-1", farmer_token="tok", season="2024",
                                as_of="2024-05-01", outcome="REDUCE", limit=100, currency="USD", reason_codes=(),
                                body=body)], operator="t")
    CheckpointLog(url).mark(Due("2024", "us-nebraska", "maize", "pre_harvest", date(2024, 9, 10)),
                            as_of=date(2024, 9, 10), n_lines=1)
    args = ["schedule", "show", "--season", "2024", "--store", url, "--today"]
    rows = {}
    for today in ("2024-08-15", "2024-09-12"):
        r = CliRunner().invoke(app, [*args, today])
        assert r.exit_code == 0, r.stderr
        rows[today] = {" ".join(line.split()[2:5]): " ".join(line.split()[5:]) for line in r.stdout.splitlines()[1:]}
    assert rows["2024-08-15"]["us-nebraska maize pre_harvest"] == "coming"
    assert rows["2024-09-12"]["us-nebraska maize pre_harvest"] == "done (ran as of 2024-09-10)"
    assert rows["2024-08-15"]["in-smallholder rice pre_season"] == "no lines (no record of in-smallholder)"
    assert rows["2024-08-15"]["us-nebraska soybean mid_season"] == "due"
    # before the season's first record (a store of another season only): due or coming, as without a store's lines
    early = CliRunner().invoke(app, [*args, "2024-04-20"])
    got = {" ".join(line.split()[2:5]): " ".join(line.split()[5:]) for line in early.stdout.splitlines()[1:]}
    assert got["in-smallholder rice pre_season"] == "coming" and got["us-nebraska maize pre_season"] == "due"


def test_a_checkpoint_due_today_is_due_today_and_listed_as_coming(tmp_path: Path) -> None:
    """A checkpoint is due on its own date, not the day after (us-nebraska maize mid-season, 2024-07-20): `reunderwrite
    --due` runs it that day, `schedule show` lists it among the coming ones that day, and a `--due` run with nothing
    left says the day's checkpoint is among those done, the next one after it."""
    cal = load_calendar()
    log = CheckpointLog(f"sqlite:///{tmp_path / 'store.db'}")
    day = date(2024, 7, 20)
    due = due_checkpoints(day, ["2024"], cal, log.done(), regions=["us-nebraska"])
    assert [(d.crop, d.checkpoint, d.date) for d in due if d.crop == "maize"] == [("maize", "mid_season", day)]
    assert [(d.crop, d.checkpoint) for d in due_checkpoints(date(2024, 7, 19), ["2024"], cal, log.done(),
                                                            regions=["us-nebraska"]) if d.crop == "maize"] \
        == [("maize", "emergence")]
    up = upcoming(day, ["2024"], cal, "us-nebraska")
    assert up["date"].min().date() == day and "mid_season" in set(up.loc[up["crop"] == "maize", "checkpoint"])
    for d in due:
        log.mark(d, as_of=d.date, n_lines=1)
    assert due_checkpoints(day, ["2024"], cal, log.done(), regions=["us-nebraska"]) == []
    assert nothing_due_text(day, "2024", cal, "us-nebraska") == (
        "nothing due on 2024-07-20: the 11 checkpoint(s) of season 2024 in us-nebraska up to it are done (run, "
        "superseded by a later one or covered by later records; the next: 2024-07-31 soybean mid_season)")


def test_a_season_is_looked_at_on_the_first_and_last_day_of_its_window() -> None:
    """us-nebraska's 2019 window opens on 2018-09-15, the day of winter wheat's pre-season checkpoint, and 2018's
    closes on 2018-11-30: on both days `reunderwrite --due` (no --season) looks at that season too, so the checkpoint
    is not run a day late and the last day of the window is not lost."""
    from pipelines.schedule import due_seasons

    both = ["2018", "2019"]
    assert due_seasons(date(2018, 9, 15), "2018", both, both, "us-nebraska") == ["2018", "2019"]
    assert due_seasons(date(2018, 9, 14), "2018", both, both, "us-nebraska") == ["2018"]
    assert due_seasons(date(2018, 11, 30), "2019", both, both, "us-nebraska") == ["2018", "2019"]
    assert due_seasons(date(2018, 12, 1), "2019", both, both, "us-nebraska") == ["2019"]


def test_a_calendar_checkpoint_on_the_last_day_of_its_window_or_on_no_day_of_every_year(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint on the last day of its region's season window (us-nebraska 11-30) is inside it and loads; one on
    02-29 (three years in four no such day) or 02-30 is refused at load as not a day of every year."""
    p = tmp_path / "cal.csv"
    monkeypatch.setenv("AGCREDIT_EXTRA_CROPS", "millet")  # a bank's crop without a crop calendar: no harvest date
    p.write_text(HEAD + "us-nebraska,millet,pre_season,09-15,-1\nus-nebraska,millet,emergence,11-01,-1\n"
                 "us-nebraska,millet,mid_season,06-01,0\nus-nebraska,millet,pre_harvest,11-30,0\n")
    cps = checkpoint_dates("2024", load_calendar(p), "us-nebraska")
    assert [d.date() for d in cps["date"]] == [date(2023, 9, 15), date(2023, 11, 1), date(2024, 6, 1),
                                               date(2024, 11, 30)]
    assert list(cps.columns) == ["region", "crop", "checkpoint", "season", "date"]
    for md in ("02-29", "02-30"):
        p.write_text(HEAD + _maize(pre_harvest=md))
        with pytest.raises(UserInputError, match=rf"row 5 \(region us-nebraska, crop maize, checkpoint pre_harvest\): "
                           rf"column month_day holds '{md}', expected a month-day MM-DD that every year has"):
            load_calendar(p)


def test_a_window_opening_on_02_29_is_checked_in_a_leap_year(monkeypatch: pytest.MonkeyPatch) -> None:
    """The window check runs over four consecutive seasons so that a leap year is among them for every year offset:
    a bank window opening on 02-29 of the year before (02-28 in common years) leaves a checkpoint on 02-28 of the
    year before outside it in leap years, which `reunderwrite --due` would refuse every such year."""
    from features.series import _md
    from pipelines import schedule

    monkeypatch.setattr(schedule, "_window", lambda season, region: (_md(int(season), "02-29", -1),
                                                                     _md(int(season), "11-30", 0)))
    cal = pd.DataFrame({"region": ["bank-r"], "crop": ["maize"], "checkpoint": ["pre_season"],
                        "month_day": ["02-28"], "year_offset": [-1]})
    assert schedule._outside_windows(cal) == [
        "bank-r maize pre_season 02-28 of the year before (window 02-29 of the year before to 11-30)"]


def test_checkpoints_of_a_region_the_calendar_does_not_know_are_refused() -> None:
    """`schedule show --region` with a region the calendar lacks (a typo) is refused naming the known ones, not an
    empty list read as "nothing coming"."""
    from features.errors import UserInputError

    with pytest.raises(UserInputError, match=r"no checkpoints for region 'us-nebraksa' \(known: in-smallholder, "
                       r"us-nebraska\)"):
        checkpoint_dates("2024", load_calendar(), "us-nebraksa")


def test_a_checkpoint_mark_failing_twice_is_an_error_not_silence(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`mark` retries once when a concurrent run inserted the same checkpoint first; a second unique-key violation
    is the store's one-line error, never swallowed (the checkpoint would stay unlogged and run again)."""
    import sqlalchemy as sa

    from pipelines import schedule
    from underwriting.errors import StoreError

    url = f"sqlite:///{tmp_path / 'store.db'}"
    log = CheckpointLog(url)
    due = schedule.Due("2024", "us-nebraska", "maize", "mid_season", date(2024, 7, 20))
    log.mark(due, as_of=due.date, n_lines=3)
    real = sa.select
    monkeypatch.setattr(schedule.sa, "select", lambda *cols: real(*cols).where(sa.false()))  # every check stale
    with pytest.raises(StoreError, match="UNIQUE constraint failed"):
        log.mark(due, as_of=due.date, n_lines=5)


def test_the_log_records_superseded_checkpoints_with_no_lines(tmp_path: Path) -> None:
    """A checkpoint run late supersedes the earlier ones it caught up: the log says those were superseded with no
    line of their own — only the checkpoint that ran re-decided lines."""
    from pipelines.schedule import Due

    log = CheckpointLog(f"sqlite:///{tmp_path / 'store.db'}")
    log.mark(Due("2024", "us-nebraska", "maize", "mid_season", date(2024, 7, 20), ("pre_season", "emergence")),
             as_of=date(2024, 7, 20), n_lines=3)
    rows = log.rows().set_index("checkpoint")
    assert rows.loc[["mid_season", "pre_season", "emergence"], "status"].tolist() == ["ran", "superseded", "superseded"]
    assert rows.loc[["mid_season", "pre_season", "emergence"], "n_lines"].tolist() == [3, 0, 0]


def test_the_log_keeps_the_record_ids_of_the_checkpoint_that_ran(tmp_path: Path) -> None:
    """The ids of the records a `--due` checkpoint wrote are logged under that checkpoint's own key (season, region,
    crop, checkpoint), once each — not under the checkpoints it superseded, which wrote none — so `audit replay
    --reunderwriting` tells its records apart."""
    import sqlalchemy as sa

    from pipelines.schedule import Due

    log = CheckpointLog(f"sqlite:///{tmp_path / 'store.db'}")
    log.mark(Due("2024", "us-nebraska", "maize", "mid_season", date(2024, 7, 20), ("emergence",)),
             as_of=date(2024, 7, 20), n_lines=2, record_ids=["r2", "r1", "r2"])
    with log.engine.connect() as c:
        rows = sorted(tuple(r) for r in c.execute(sa.select(log.records)).all())
    log.close()
    assert rows == [("2024", "us-nebraska", "maize", "mid_season", "r1"),
                    ("2024", "us-nebraska", "maize", "mid_season", "r2")]


def test_model_reach_says_a_region_outside_the_model_and_a_crop_without_a_validated_day() -> None:
    """`schedule show --models`: a checkpoint of a region the champion was not validated for says so (not "no
    validated day"), and one of a crop that none of the model's checkpoints has a validated day for is kept, said
    (no crash on an empty list of days)."""
    from models.governance import Governance
    from pipelines.schedule import model_reach

    gov = Governance(crops=("maize", "rice"), regions=("in-smallholder",), checkpoints=("mid", "end"),
                     checkpoint_dates={"in-smallholder": {"mid": {"rice": ("09-15", 0)}}})
    up = pd.DataFrame({"region": ["us-nebraska", "in-smallholder", "in-smallholder"], "crop": ["maize", "maize", "rice"],
                       "season": "2009", "date": pd.to_datetime(["2009-07-20", "2009-08-31", "2009-10-25"])})
    assert model_reach(up, gov) == ["kept (us-nebraska outside the model's regions)", "kept (no validated day for it)",
                                    "re-estimates"]


def test_a_calendar_that_is_a_folder_missing_or_unreadable_says_which(tmp_path: Path) -> None:
    """`--calendar` naming a folder, a file that is not there, or a file whose year offset is no number: one line
    each saying which (a missing file was a traceback from its size, a folder "not found"), the reader's own reason
    kept."""
    from features.errors import UserInputError

    with pytest.raises(UserInputError, match=r": is a folder, expected a calendar CSV file$"):
        load_calendar(tmp_path)
    with pytest.raises(UserInputError, match=r"none\.csv: calendar file not found$"):
        load_calendar(tmp_path / "none.csv")
    p = tmp_path / "cal.csv"
    p.write_text("region,crop,checkpoint,month_day,year_offset\nus-nebraska,maize,emergence,06-01,soon\n")
    with pytest.raises(UserInputError, match=r"cal\.csv row 2 \(region us-nebraska, crop maize, checkpoint emergence\): "
                       r"column year_offset holds 'soon', expected a whole number of years \(-1, 0, 1\)$"):
        load_calendar(p)
    p.write_text("region,crop,checkpoint,month_day,year_offset\nus-nebraska,maize,emergence,06-01,0,x,y\n")
    with pytest.raises(UserInputError, match=r"cal\.csv: calendar file cannot be read as CSV \("):
        load_calendar(p)


def test_a_banks_checkpoints_are_added_to_the_packages_calendar_not_to_a_given_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bank's regions folder adds its checkpoints to the package's calendar; a calendar given with `--calendar`
    replaces the package's, and is read alone (the bank's rows are not added to it)."""
    from features.regions import REGIONS_ENV, clear_caches

    d = tmp_path / "regions"
    d.mkdir()
    (d / "season_windows.csv").write_text("region,start,start_year_offset,end,end_year_offset\nbank-r,05-20,0,02-28,1\n")
    (d / "season_calendar.csv").write_text("region,crop,checkpoint,month_day,year_offset,description\n"
                                           "bank-r,cotton,pre_season,06-10,0,bank\nbank-r,cotton,emergence,08-10,0,b\n"
                                           "bank-r,cotton,mid_season,09-25,0,b\nbank-r,cotton,pre_harvest,12-10,0,b\n")
    given = tmp_path / "cal.csv"
    given.write_text(HEAD + _maize())
    monkeypatch.setenv(REGIONS_ENV, str(d))
    clear_caches()
    try:
        assert "bank-r" in set(load_calendar()["region"])
        assert load_calendar(given)["region"].tolist() == ["us-nebraska"] * 4
    finally:
        monkeypatch.delenv(REGIONS_ENV)
        clear_caches()


def test_schedule_show_on_a_postgresql_database_without_the_store_yet_lists_the_checkpoints(pg_server: str) -> None:
    """A bank's PostgreSQL database provisioned before the first `underwrite`: `schedule show --store` was refused
    ("no decision store there (no agcredit tables)", exit 2) where a SQLite file not created yet lists the coming
    checkpoints (a review, 2026-12-07). The same now, nothing created."""
    import sqlalchemy as sa
    from typer.testing import CliRunner

    from pipelines.cli import app

    engine = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE sched_empty")
    engine.dispose()
    url = pg_server.rsplit("/", 1)[0] + "/sched_empty"
    args = ["schedule", "show", "--season", "2024", "--region", "us-nebraska", "--today", "2024-08-01"]
    r = CliRunner().invoke(app, [*args, "--store", url])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("no decision store yet at postgresql")
    assert "\n".join(r.stdout.splitlines()[1:]) == CliRunner().invoke(app, args).stdout.rstrip("\n")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert not sa.inspect(conn).get_table_names()  # nothing created
    engine.dispose()


def test_a_calendars_mistakes_are_one_line_naming_file_row_region_crop_and_checkpoint(tmp_path: Path) -> None:
    """A review's calendars: a crop spelt `Rice` had its checkpoint skipped ("… Rice mid_season … 0 line(s)", exit
    0); a crop without a checkpoint, checkpoints out of order (the due run then "superseded" pre_harvest), a
    pre-harvest after the crop's harvest and a region the engine does not know were accepted; a year offset that is
    not a whole number was raw pandas text, a month-day named neither path nor row. Each is now one line naming the
    file and the row; a crop is read as the fields readers read it (`Rice` and `rice ` are rice)."""
    from pipelines.schedule import DEFAULT_CALENDAR

    rows = DEFAULT_CALENDAR.read_text().splitlines(keepends=True)  # row 20: in-smallholder rice mid_season 09-15
    assert rows[19].startswith("in-smallholder,rice,mid_season,09-15,0,")

    def cal(name: str, row20: str | None, extra: str = "") -> Path:
        p = tmp_path / name
        p.write_text("".join(rows[:19]) + (row20 or "") + "".join(rows[20:]) + extra)
        return p

    for crop in ("Rice", "rice ", " RICE"):
        got = load_calendar(cal("cap.csv", f"in-smallholder,{crop},mid_season,09-15,0,panicle\n"))
        pd.testing.assert_frame_equal(got.drop(columns="description"),
                                      load_calendar(DEFAULT_CALENDAR).drop(columns="description"))
    ri = "(region in-smallholder, crop rice, checkpoint"
    for p, want in (
            (cal("missing.csv", None), r"missing\.csv: region in-smallholder, crop rice has no checkpoint mid_season "
             r"\(rows 18, 19, 20; every crop of a region needs pre_season, emergence, mid_season, pre_harvest\)$"),
            (cal("order.csv", "in-smallholder,rice,mid_season,10-30,0,x\n"),
             rf"order\.csv row 21 {re.escape(ri)} pre_harvest\): 10-25 is not after mid_season 10-30 \(row 20\); "
             "checkpoints run in the order pre_season < emergence < mid_season < pre_harvest$"),
            (cal("region.csv", rows[19], "in-punjab,wheat,pre_season,11-01,-1,added\n"),
             r"region\.csv row 30 \(region in-punjab, crop wheat, checkpoint pre_season\): region 'in-punjab' has no "
             r"season window \(known regions: in-smallholder, us-nebraska; a bank adds one with AGCREDIT_REGIONS_DIR\)$"),
            (cal("offset.csv", "in-smallholder,rice,mid_season,09-15,0.5,x\n"),
             rf"offset\.csv row 20 {re.escape(ri)} mid_season\): column year_offset holds '0\.5', expected a whole "
             r"number of years \(-1, 0, 1\)$"),
            (cal("empty.csv", "in-smallholder,rice,mid_season,09-15,,x\n"),
             rf"empty\.csv row 20 {re.escape(ri)} mid_season\): column year_offset is empty$"),
            (cal("sep31.csv", "in-smallholder,rice,mid_season,09-31,0,x\n"),
             rf"sep31\.csv row 20 {re.escape(ri)} mid_season\): column month_day holds '09-31', expected a month-day "
             r"MM-DD that every year has \(no 02-29\)$")):
        with pytest.raises(UserInputError, match=want):
            load_calendar(p)
    late = tmp_path / "late.csv"
    late.write_text("".join(rows[:20]) + "in-smallholder,rice,pre_harvest,02-20,1,x\n" + "".join(rows[21:]))
    with pytest.raises(UserInputError, match=rf"late\.csv row 21 {re.escape(ri)} pre_harvest\): 02-20 of the year "
                       r"after is after the crop's harvest \(11-01, the crop calendar's median harvest day, day 305 of a "
                       r"common year\)$"):
        load_calendar(late)
    gone = tmp_path / "gone.csv"
    gone.write_text("".join(r for r in rows if not r.startswith("in-smallholder")))
    with pytest.raises(UserInputError, match=r"gone\.csv: no checkpoints for region 'in-smallholder' \(known: "
                       r"us-nebraska\)$"):
        checkpoint_dates("2009", load_calendar(gone), "in-smallholder")


def test_a_calendar_rewritten_at_once_with_the_same_size_is_read_again(tmp_path: Path) -> None:
    """The checked calendar is kept per file content (checking takes ~100 ms and it is read on every checkpoint
    lookup): a file rewritten within the same clock tick with as many bytes is read anew, not served from before."""
    p = tmp_path / "cal.csv"
    import os

    p.write_text(HEAD + _maize(mid_season="07-20"))
    assert load_calendar(p).set_index("checkpoint").loc["mid_season", "month_day"] == "07-20"
    st = p.stat()
    p.write_text(HEAD + _maize(mid_season="07-25"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # a coarse file clock: the same modification time
    assert load_calendar(p).set_index("checkpoint").loc["mid_season", "month_day"] == "07-25"
