"""The policy file: the shipped profiles load, every kind of bad key or value is a PolicyError naming it."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from underwriting.errors import PolicyError
from underwriting.policy import (
    ARCHIVE_DIR,
    DEFAULT_POLICY_PATH,
    REASON_CODES,
    archived_policy,
    default_policy,
    load_policy,
    parse_policy,
)

RAW: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def write(tmp_path: Path, doc: Any) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def test_three_profiles_load_with_the_reference_numbers() -> None:
    pol = default_policy()
    assert set(pol.profiles) == {"us-operating", "in-kcc", "cn-rural"}
    us, kcc, cn = pol.profile("us-operating"), pol.profile("in-kcc"), pol.profile("cn-rural")
    assert (us.currency, kcc.currency, cn.currency) == ("USD", "INR", "CNY")
    assert (us.annual_rate, kcc.annual_rate, cn.annual_rate) == (0.08, 0.07, 0.06)
    assert (us.product_cap, kcc.product_cap, cn.product_cap) == (40_000_000, 30_000_000, 30_000_000)
    assert (us.min_line, kcc.min_line, us.rounding_step, kcc.rounding_step) == (500_000, 1_000_000, 50_000, 100_000)
    assert (us.marketing_window_days, kcc.marketing_window_days) == (60, 45)
    for p in (us, kcc, cn):
        assert (p.advance_rate, p.min_dscr, p.z_price_shock, p.preseason_haircut) == (0.80, 1.25, 1.2816, 0.70)
        assert (p.max_share_borrower, p.max_share_crop_region) == (0.01, 0.40)
        ev = p.evidence
        assert (ev.area_tolerance, ev.refer_failing_area_share, ev.max_overlap_fraction) == (0.10, 0.25, 0.05)
        assert (ev.max_noncrop_fraction, ev.min_clear_obs, ev.min_crop_type_prob) == (0.10, 3, 0.80)
        assert (ev.min_declared_crop_prob, ev.min_clear_pixels) == (0.20, 8)
        assert p.override_approval_share == 0.20 and p.as_dict()["override_approval_share"] == 0.20
    assert set(pol.reason_texts) == set(REASON_CODES)
    assert len(pol.content_hash) == 64 and pol.version == "2026.12.10"


def test_content_hash_follows_parameters_not_layout(tmp_path: Path) -> None:
    base = load_policy(write(tmp_path, RAW)).content_hash
    assert base == default_policy().content_hash  # comments and key order do not matter
    doc = copy.deepcopy(RAW)
    doc["profiles"]["in-kcc"]["annual_rate"] = 0.071
    assert load_policy(write(tmp_path, doc)).content_hash != base


def test_override_approval_share_is_optional_and_checked(tmp_path: Path) -> None:
    """A policy file written before the parameter existed loads, and its decision bodies' parameters stay as they
    were (no key added); a value outside [0, 1] is a PolicyError naming it."""
    doc = copy.deepcopy(RAW)
    for prof in doc["profiles"].values():
        del prof["override_approval_share"]
    old = load_policy(write(tmp_path, doc)).profile("in-kcc")
    assert old.override_approval_share is None and "override_approval_share" not in old.as_dict()
    doc["profiles"]["in-kcc"]["override_approval_share"] = 1.5
    with pytest.raises(PolicyError, match=r"profiles.in-kcc.override_approval_share.*\[0.0, 1.0\], found 1.5"):
        load_policy(write(tmp_path, doc))


def test_unknown_profile() -> None:
    with pytest.raises(PolicyError, match=r"'profiles.nope': no such profile \(known: cn-rural, in-kcc, us-operating\)"):
        default_policy().profile("nope")


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


_DELETE = object()
P = "profiles.us-operating"


@pytest.mark.parametrize(("path", "value", "pattern"), [
    ("colour", "blue", r"'colour': unknown key \(value 'blue'"),
    ("version", _DELETE, r"'version': missing"),
    ("version", "", r"'version': expected a non-empty string, found ''"),
    ("profiles", {}, r"'profiles': expected at least one profile"),
    ("profiles", ["a"], r"'profiles': expected a mapping, found \['a'\]"),
    (f"{P}.advance_ratio", 0.8, r"'profiles.us-operating.advance_ratio': unknown key \(value 0.8"),
    (f"{P}.min_dscr", _DELETE, r"'profiles.us-operating.min_dscr': missing"),
    (f"{P}.advance_rate", "high", r"'profiles.us-operating.advance_rate': expected a number, found 'high'"),
    (f"{P}.advance_rate", 1.5, r"'profiles.us-operating.advance_rate': expected a value in \[0.0, 1.0\], found 1.5"),
    (f"{P}.min_dscr", 0.9, r"'profiles.us-operating.min_dscr': expected a value in \[1.0, 10.0\], found 0.9"),
    (f"{P}.min_dscr", True, r"'profiles.us-operating.min_dscr': expected a number, found True"),
    (f"{P}.annual_rate", float("nan"), r"'profiles.us-operating.annual_rate': expected a finite number, found nan"),
    (f"{P}.marketing_window_days", -1, r"'profiles.us-operating.marketing_window_days': .*found -1"),
    (f"{P}.marketing_window_days", 60.5, r"'profiles.us-operating.marketing_window_days': expected an integer, found 60.5"),
    (f"{P}.currency", "XXX", r"'profiles.us-operating.currency': expected an ISO 4217 code, found 'XXX'"),
    (f"{P}.product_cap", "400000.001", r"'profiles.us-operating.product_cap': expected an amount in USD major units, found '400000.001'"),
    (f"{P}.product_cap", 1.5, r"'profiles.us-operating.product_cap': expected a decimal string .* found 1.5"),
    (f"{P}.rounding_step", "0", r"'profiles.us-operating.rounding_step': expected at least 1 minor units, found '0'"),
    (f"{P}.min_line", "500000", r"'profiles.us-operating.min_line': expected at most product_cap \('400000'\), found '500000'"),
    # loaded fine before and made every decision wrong: a REDUCE at 0, every small limit rounded to 0, and every
    # applicant DECLINEd on an empty Book (the concentration caps applying at a Book of 0)
    (f"{P}.min_line", "0", r"'profiles.us-operating.min_line': expected at least 1 minor units, found '0'"),
    (f"{P}.rounding_step", "6000", r"'profiles.us-operating.rounding_step': expected at most min_line \('5000'\), found '6000'"),
    (f"{P}.min_book_for_concentration", "0", r"'profiles.us-operating.min_book_for_concentration': expected at least 1 minor units"),
    (f"{P}.emergence_checkpoint.month_day", "13-01", r"'profiles.us-operating.emergence_checkpoint.month_day': expected 'MM-DD' \(a day of every year\), found '13-01'"),
    (f"{P}.emergence_checkpoint.year_offset", 3, r"'profiles.us-operating.emergence_checkpoint.year_offset': .*found 3"),
    (f"{P}.emergence_checkpoint", "06-30", r"'profiles.us-operating.emergence_checkpoint': expected a mapping, found '06-30'"),
    (f"{P}.emergence_checkpoint_by_crop", {}, r"'profiles.us-operating.emergence_checkpoint_by_crop': expected at least one crop, found none"),
    (f"{P}.emergence_checkpoint_by_crop", {"Winter Wheat": {"month_day": "05-01", "year_offset": 0}},
     r"'profiles.us-operating.emergence_checkpoint_by_crop.Winter Wheat': expected a crop name like 'winter_wheat'"),
    # a misspelt crop would never match a declared crop: the checkpoint silently unused
    (f"{P}.emergence_checkpoint_by_crop", {"winter_weat": {"month_day": "05-01", "year_offset": 0}},
     r"'profiles.us-operating.emergence_checkpoint_by_crop.winter_weat': 'winter_weat' is not a crop the engine knows"),
    (f"{P}.emergence_checkpoint_by_crop", {"winter_wheat": {"month_day": "05-01"}},
     r"'profiles.us-operating.emergence_checkpoint_by_crop.winter_wheat.year_offset': missing"),
    (f"{P}.evidence.min_clear_obs", 2.5, r"'profiles.us-operating.evidence.min_clear_obs': expected an integer, found 2.5"),
    (f"{P}.evidence.max_overlap_fraction", -0.1, r"'profiles.us-operating.evidence.max_overlap_fraction': .*found -0.1"),
    (f"{P}.evidence.overlap", 0.1, r"'profiles.us-operating.evidence.overlap': unknown key"),
    ("reason_texts.CROP_MISMATCH", _DELETE, r"'reason_texts.CROP_MISMATCH': missing"),
    ("reason_texts.CROP_MISMATCH", "  ", r"'reason_texts.CROP_MISMATCH': expected a non-empty sentence, found '  '"),
    ("reason_texts.BAD_CODE", "text", r"'reason_texts.BAD_CODE': unknown key \(value 'text'"),
])
def test_bad_policy_names_key_and_value(tmp_path: Path, path: str, value: Any, pattern: str) -> None:
    doc = copy.deepcopy(RAW)
    _set(doc, path, value)
    with pytest.raises(PolicyError, match=pattern):
        load_policy(write(tmp_path, doc))


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys while a reader of the file sees the first: refused, naming both lines."""
    text = (DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
            .replace('    advance_rate: 0.80\n', '    advance_rate: 0.80\n    advance_rate: 1.0\n', 1))
    assert text.count("advance_rate: 1.0") == 1
    f = tmp_path / "twice.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"'advance_rate': given twice \(at lines \d+ and \d+\)"):
        load_policy(f)


def test_merge_keys_still_load_and_an_unhashable_key_is_one_line(tmp_path: Path) -> None:
    """The duplicate-key loader refused YAML merge keys (`<<: *base`, whose keys a profile overrides on purpose) and
    crashed with a TypeError on an unhashable key (a traceback through the CLI)."""
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace("  us-operating:\n", "  us-operating: &base\n", 1)
    text = text.replace("  cn-rural:\n", "  us-copy:\n    <<: *base\n    advance_rate: 0.70\n  cn-rural:\n", 1)
    f = tmp_path / "merge.yaml"
    f.write_text(text, encoding="utf-8")
    pol = load_policy(f)
    assert pol.profile("us-copy").advance_rate == 0.70 and pol.profile("us-operating").advance_rate == 0.80
    g = tmp_path / "unhashable.yaml"
    g.write_text("? [a, b]\n: 1\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"unhashable.yaml: not valid YAML at line 1"):
        load_policy(g)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"absent\.yaml: cannot be read \("):
        load_policy(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.yaml: not valid YAML at line"):
        load_policy(bad)
    with pytest.raises(PolicyError, match=r": expected a mapping, found \[1, 2\]"):
        parse_policy([1, 2])
    doc = copy.deepcopy(RAW)
    doc["description"] = __import__("datetime").date(2025, 1, 1)
    with pytest.raises(PolicyError, match=r": not representable as JSON"):
        parse_policy(doc)


def test_profile_parameters_and_checkpoint() -> None:
    p = default_policy().profile("in-kcc")
    assert str(p.emergence_checkpoint("2025")) == "2025-08-31"
    d = p.as_dict()
    assert d["product_cap"] == 30_000_000 and d["evidence"]["min_clear_pixels"] == 8
    assert "emergence_by_crop" not in d  # in-kcc names no crop of its own: its body is as before


def test_crop_emergence_checkpoint() -> None:
    """Autumn-sown winter wheat has its own checkpoint (spring green-up), every other crop the profile's."""
    p = default_policy().profile("us-operating")
    assert str(p.emergence_checkpoint("2018", "winter_wheat")) == "2018-05-01"
    assert str(p.emergence_checkpoint("2018", "maize")) == str(p.emergence_checkpoint("2018")) == "2018-06-30"
    assert str(p.emergence_checkpoint("2018", None)) == "2018-06-30"
    assert p.as_dict()["emergence_by_crop"] == {"winter_wheat": {"month_day": "05-01", "year_offset": 0}}


def test_every_released_version_is_archived_and_the_shipped_one_is_the_latest() -> None:
    """The archive holds one file per released version, named by its id and version, each loading with its own
    content hash; the shipped default is among them (a release that changes default.yaml must archive the new
    version, so the records it decides stay replayable after the next change) and no version appears twice."""
    shipped = default_policy()
    files = sorted(ARCHIVE_DIR.glob("*.yaml"))
    assert len(files) >= 3  # 2026.11.1, 2026.12.1, 2026.12.2: the versions decisions were recorded under
    pols = [load_policy(f) for f in files]
    assert [f.name for f in files] == [f"{p.policy_id}-{p.version}.yaml" for p in pols]
    assert len({(p.policy_id, p.version) for p in pols}) == len({p.content_hash for p in pols}) == len(pols)
    found = archived_policy(shipped.content_hash)
    assert found is not None and (found.policy_id, found.version) == (shipped.policy_id, shipped.version)
    # each release's content as its records carry it (a release adds a line; editing a released file breaks replay)
    released = {"2026.11.1": "8fc39048f895e0a1", "2026.12.1": "be18c252ae8aa978", "2026.12.2": "162072d85930171c",
                "2026.12.3": "a2a2880878115e54", "2026.12.4": "5ba69815148b3e0b",
                "2026.12.5": "e600eaf370bc102e", "2026.12.6": "a3dbac3224ae13c7",
                "2026.12.7": "b1caab3432d989b0", "2026.12.8": "3848865e9013e7be",
                "2026.12.9": "62db16139f89f4c1", "2026.12.10": "3a0c243161d6eb37"}
    assert {p.version: p.content_hash[:16] for p in pols if p.version in released} == released
    latest = max(pols, key=lambda p: tuple(int(x) for x in p.version.split(".")))
    assert latest.content_hash == shipped.content_hash
    assert archived_policy("0" * 64) is None


def test_crop_failure_observed_needs_a_text_only_where_open_alerts_act_emits_it(tmp_path: Path) -> None:
    """CROP_FAILURE_OBSERVED (2026.12.6) is a reason code a file gives a text for when a profile sets open_alerts_act:
    files written before it (every archived version up to 2026.12.5) load and hash as they did; a profile setting the
    parameter without the text is refused, naming both; an unknown code is still refused."""
    doc = copy.deepcopy(RAW)
    assert "CROP_FAILURE_OBSERVED" in REASON_CODES and doc["reason_texts"]["CROP_FAILURE_OBSERVED"]
    del doc["reason_texts"]["CROP_FAILURE_OBSERVED"]
    with pytest.raises(PolicyError, match=r"reason_texts.CROP_FAILURE_OBSERVED.*profile us-operating sets "
                                          r"open_alerts_act"):
        load_policy(write(tmp_path, doc))
    for prof in doc["profiles"].values():
        del prof["open_alerts_act"]
    old = load_policy(write(tmp_path, doc)).profile("in-kcc")
    assert old.open_alerts_act is None and "open_alerts_act" not in old.as_dict()
    assert load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.5.yaml").profile("in-kcc").open_alerts_act is None
    doc["reason_texts"]["CROP_FAILED_SOMEHOW"] = "x"
    with pytest.raises(PolicyError, match=r"reason_texts.CROP_FAILED_SOMEHOW.*unknown key"):
        load_policy(write(tmp_path, doc))


def test_exclusions_before_stress_is_optional_and_only_in_bodies_of_files_that_set_it(tmp_path: Path) -> None:
    """exclusions_before_stress (2026.12.7) is on in every shipped profile; a file without it (every archived version
    up to 2026.12.6) loads, hashes and writes its profile parameters as it did; a non-boolean is refused."""
    assert all(p.exclusions_before_stress is True for p in default_policy().profiles.values())
    doc = copy.deepcopy(RAW)
    for prof in doc["profiles"].values():
        del prof["exclusions_before_stress"]
    old = load_policy(write(tmp_path, doc)).profile("in-kcc")
    assert old.exclusions_before_stress is None and "exclusions_before_stress" not in old.as_dict()
    archived = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.6.yaml")
    assert archived.profile("in-kcc").exclusions_before_stress is None
    assert "exclusions_before_stress" not in archived.profile("in-kcc").as_dict()
    doc["profiles"]["in-kcc"]["exclusions_before_stress"] = "yes"
    with pytest.raises(PolicyError, match=r"profiles.in-kcc.exclusions_before_stress.*expected true or false"):
        load_policy(write(tmp_path, doc))


def test_refer_keeps_book_limit_is_optional_and_only_in_bodies_of_files_that_set_it(tmp_path: Path) -> None:
    """refer_keeps_book_limit (2026.12.8) is on in every shipped profile; a file without it (every archived version
    up to 2026.12.7) loads, hashes and writes its profile parameters as it did; a non-boolean is refused."""
    assert all(p.refer_keeps_book_limit is True for p in default_policy().profiles.values())
    doc = copy.deepcopy(RAW)
    for prof in doc["profiles"].values():
        del prof["refer_keeps_book_limit"]
    old = load_policy(write(tmp_path, doc)).profile("in-kcc")
    assert old.refer_keeps_book_limit is None and "refer_keeps_book_limit" not in old.as_dict()
    archived = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.7.yaml")
    assert archived.content_hash[:16] == "b1caab3432d989b0"
    assert archived.profile("in-kcc").refer_keeps_book_limit is None
    assert "refer_keeps_book_limit" not in archived.profile("in-kcc").as_dict()
    doc["profiles"]["in-kcc"]["refer_keeps_book_limit"] = "yes"
    with pytest.raises(PolicyError, match=r"profiles.in-kcc.refer_keeps_book_limit.*expected true or false"):
        load_policy(write(tmp_path, doc))


def test_prices_known_at_decision_is_optional_and_only_in_bodies_of_files_that_set_it(tmp_path: Path) -> None:
    """prices_known_at_decision (2026.12.9) is on in every shipped profile; a file without it (every archived version
    up to 2026.12.8) loads, hashes and writes its profile parameters as it did; a non-boolean is refused."""
    assert all(p.prices_known_at_decision is True for p in default_policy().profiles.values())
    assert default_policy().profile("us-operating").as_dict()["prices_known_at_decision"] is True
    doc = copy.deepcopy(RAW)
    for prof in doc["profiles"].values():
        del prof["prices_known_at_decision"]
    old = load_policy(write(tmp_path, doc)).profile("in-kcc")
    assert old.prices_known_at_decision is None and "prices_known_at_decision" not in old.as_dict()
    archived = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.8.yaml")
    assert archived.content_hash[:16] == "3848865e9013e7be"
    assert archived.profile("in-kcc").prices_known_at_decision is None
    assert "prices_known_at_decision" not in archived.profile("in-kcc").as_dict()
    doc["profiles"]["in-kcc"]["prices_known_at_decision"] = "yes"
    with pytest.raises(PolicyError, match=r"profiles.in-kcc.prices_known_at_decision.*expected true or false"):
        load_policy(write(tmp_path, doc))


@pytest.mark.parametrize("key", ["decisions_read_alerts", "renewals_propose_actions", "fallow_as_declared"])
def test_2026_12_10_parameters_are_optional_and_only_in_bodies_of_files_that_set_them(tmp_path: Path,
                                                                                      key: str) -> None:
    """decisions_read_alerts, renewals_propose_actions and fallow_as_declared (2026.12.10) are on in every shipped profile; a file without
    them (every archived version up to 2026.12.9) loads, hashes and writes its profile parameters as it did; a
    non-boolean is refused."""
    assert all(getattr(p, key) is True for p in default_policy().profiles.values())
    assert default_policy().profile("us-operating").as_dict()[key] is True
    doc = copy.deepcopy(RAW)
    for prof in doc["profiles"].values():
        del prof[key]
    old = load_policy(write(tmp_path, doc)).profile("in-kcc")
    assert getattr(old, key) is None and key not in old.as_dict()
    archived = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
    assert archived.content_hash[:16] == "62db16139f89f4c1"
    assert getattr(archived.profile("in-kcc"), key) is None and key not in archived.profile("in-kcc").as_dict()
    doc["profiles"]["in-kcc"][key] = "yes"
    with pytest.raises(PolicyError, match=rf"profiles.in-kcc.{key}.*expected true or false"):
        load_policy(write(tmp_path, doc))


# --- bounds and values the mutation audit found unpinned ------------------------------------------

def _us(**over: Any) -> dict[str, Any]:
    """The shipped document with us-operating's keys replaced (``over``: key -> value; evidence keys as evidence_<key>)."""
    doc = copy.deepcopy(RAW)
    prof = doc["profiles"]["us-operating"]
    for k, v in over.items():
        if k.startswith("evidence_"):
            prof["evidence"][k.removeprefix("evidence_")] = v
        else:
            prof[k] = v
    return doc


def test_a_checkpoint_year_offset_moves_it_to_the_next_or_the_previous_year() -> None:
    """year_offset is added to the season's year (a checkpoint of a season that began the autumn before is -1, one
    in the calendar year after it +1), -1 and 1 are the bounds, both allowed, and 2 or -2 is refused."""
    for off, year in ((1, 2026), (-1, 2024), (0, 2025)):
        doc = _us(emergence_checkpoint={"month_day": "06-30", "year_offset": off},
                  emergence_checkpoint_by_crop={"winter_wheat": {"month_day": "05-01", "year_offset": off}})
        p = parse_policy(doc).profile("us-operating")
        assert p.emergence_checkpoint("2025") == date(year, 6, 30), off
        assert p.emergence_checkpoint("2025", "winter_wheat") == date(year, 5, 1), off
    for off in (2, -2):
        with pytest.raises(PolicyError, match=rf"emergence_checkpoint.year_offset': expected a value in \[-1, 1\], "
                                              rf"found {off}"):
            parse_policy(_us(emergence_checkpoint={"month_day": "06-30", "year_offset": off}))


@pytest.mark.parametrize("month_day", ["02-30", "04-31", "02-29"])
def test_a_checkpoint_on_a_day_missing_from_some_years_is_refused(month_day: str) -> None:
    """'MM-DD' must be a day of every year: the pattern lets 02-30 and 04-31 through, the calendar does not, and 02-29
    is missing three years in four."""
    with pytest.raises(PolicyError, match=rf"emergence_checkpoint.month_day': expected 'MM-DD' \(a day of every "
                                          rf"year\), found '{month_day}'"):
        parse_policy(_us(emergence_checkpoint={"month_day": month_day, "year_offset": 0}))


def test_every_range_bound_is_inclusive() -> None:
    """A parameter exactly at either end of its range loads (``[low, high]``): min_dscr 1.0 and max_term_days 3650,
    marketing_window_days 0 and min_clear_obs 1000; a rounding step of one minor unit ("0.01" USD, the least allowed);
    a minimum line equal to the product cap, and a step equal to the minimum line."""
    p = parse_policy(_us(min_dscr=1.0, max_term_days=3650, marketing_window_days=0, evidence_min_clear_obs=1000,
                         rounding_step="0.01")).profile("us-operating")
    assert (p.min_dscr, p.max_term_days, p.marketing_window_days, p.evidence.min_clear_obs) == (1.0, 3650, 0, 1000)
    assert p.rounding_step == 1
    p = parse_policy(_us(min_dscr=10.0, min_line="400000", rounding_step="400000")).profile("us-operating")
    assert (p.min_dscr, p.min_line, p.rounding_step, p.product_cap) == (10.0, 40_000_000, 40_000_000, 40_000_000)


def test_a_profile_that_is_not_a_mapping_is_named() -> None:
    """The error names the profile's own key path (not a truncated one)."""
    doc = copy.deepcopy(RAW)
    doc["profiles"]["us-operating"] = ["advance_rate", 0.8]
    with pytest.raises(PolicyError, match=r"'profiles.us-operating': expected a mapping, found \['advance_rate', 0.8\]"):
        parse_policy(doc)


def test_a_key_given_twice_names_both_lines(tmp_path: Path) -> None:
    """The refusal of a key given twice names the lines (counted from 1) where the reader finds each."""
    f = tmp_path / "twice.yaml"
    f.write_text("policy_id: a\nversion: '1'\npolicy_id: b\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"'policy_id': given twice \(at lines 1 and 3\)"):
        load_policy(f)


def test_a_file_yaml_cannot_read_without_a_position_is_a_policy_error(tmp_path: Path) -> None:
    """A control character is a YAML reader error that carries no line: still a one-line PolicyError, not a crash."""
    f = tmp_path / "bell.yaml"
    f.write_text("policy_id: a\x07\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bell\.yaml: not valid YAML$"):
        load_policy(f)
