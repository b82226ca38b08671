"""``agcredit policy show|validate|diff|history`` through CliRunner, and underwriting/policy_tools.py's functions."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.errors import UserInputError
from pipelines.cli import app
from underwriting.policy import (
    ARCHIVE_DIR,
    DEFAULT_POLICY_PATH,
    REASON_CODES,
    archived_policies,
    default_policy,
    load_policy,
    version_key,
    version_order,
)
from underwriting.policy_tools import (
    OPTIONAL_RULES,
    check_store,
    diff_policies,
    money_value,
    policy_history,
    value_text,
)
from underwriting.records import DecisionItem
from underwriting.store import DecisionStore

runner = CliRunner()
RAW: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
DEFAULT = default_policy()
V9 = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")
V9_FILE = str(ARCHIVE_DIR / "agcredit-default-2026.12.9.yaml")


def write(tmp_path: Path, doc: dict[str, Any], name: str = "candidate.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


def candidate(version: str = "2027.1.1", **changes: Any) -> dict[str, Any]:
    """The shipped policy's document with a version and ``profile__key=value`` changes (``in_kcc__advance_rate``)."""
    doc = copy.deepcopy(RAW)
    doc["version"] = version
    for spec, value in changes.items():
        prof, key = spec.split("__")
        doc["profiles"][prof.replace("_", "-")][key] = value
    return doc


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["policy", *args])


# --- show ---------------------------------------------------------------------------------------------------------

def test_show_the_shipped_policy() -> None:
    res = invoke("show")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[:3] == [
        f"policy agcredit-default v2026.12.10 (hash {DEFAULT.content_hash[:12]}): the shipped default policy "
        f"({DEFAULT_POLICY_PATH})",
        "released: the content of version 2026.12.10 of the shipped policy",
        "profiles: us-operating, in-kcc, cn-rural"]
    assert lines.count("profile us-operating (USD)") == 1 and "profile cn-rural (CNY)" in lines
    us = lines[lines.index("profile us-operating (USD)"):lines.index("profile in-kcc (INR)")]
    # money in major units of the profile's currency (default.yaml: product_cap "400000", min_line "5000")
    assert "  product_cap: USD 400,000.00" in us and "  min_line: USD 5,000.00" in us
    assert "  min_book_for_concentration: USD 10,000,000.00" in us
    assert "  advance_rate: 0.8" in us and "  max_term_days: 548" in us
    assert "  emergence_checkpoint: 06-30 (year offset 0)" in us
    assert "  emergence_checkpoint_by_crop: winter_wheat 05-01 (year offset 0)" in us
    assert "    decisions_read_alerts: on" in us and "    min_clear_obs: 3" in us
    assert us.index("  optional rules:") + len(OPTIONAL_RULES) + 1 == us.index("  evidence:")
    kcc = lines[lines.index("profile in-kcc (INR)"):lines.index("profile cn-rural (CNY)") - 1]
    rules = [f"    {k}: on" for k in OPTIONAL_RULES]  # each optional rule once, in schema order
    assert kcc == [
        "profile in-kcc (INR)", "  advance_rate: 0.8", "  min_dscr: 1.25", "  z_price_shock: 1.2816",
        "  preseason_haircut: 0.7", "  annual_rate: 0.07", "  product_cap: INR 300,000.00", "  min_line: INR 10,000.00",
        "  rounding_step: INR 1,000.00", "  max_share_borrower: 0.01", "  max_share_crop_region: 0.4",
        "  min_book_for_concentration: INR 50,000,000.00", "  marketing_window_days: 45", "  max_term_days: 365",
        "  emergence_checkpoint: 08-31 (year offset 0)",
        "  emergence_checkpoint_by_crop: not set (every crop at the profile's emergence_checkpoint)",
        "  high_yield_uncertainty: 0.25", "  override_approval_share: 0.2", "  optional rules:", *rules,
        "  evidence:", "    area_tolerance: 0.1", "    refer_failing_area_share: 0.25", "    max_overlap_fraction: 0.05",
        "    max_noncrop_fraction: 0.1", "    min_clear_obs: 3", "    min_crop_type_prob: 0.8",
        "    min_declared_crop_prob: 0.2", "    min_clear_pixels: 8"]
    assert len(rules) == 13 and res.stderr == ""


@pytest.mark.parametrize("spec", ["2026.12.9", "v2026.12.9"])
def test_show_a_released_version(spec: str) -> None:
    res = invoke("show", spec, "--profile", "in-kcc")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[:3] == [
        f"policy agcredit-default v2026.12.9 (hash {V9.content_hash[:12]}): a released version of the shipped policy "
        f"({V9_FILE})",
        "released: the content of version 2026.12.9 of the shipped policy",
        "profiles: us-operating, in-kcc, cn-rural"]
    assert [ln for ln in lines if ln.startswith("profile ")] == ["profile in-kcc (INR)"]
    # 2026.12.9 predates the three rules 2026.12.10 added: not set (the behaviour of files written before them)
    assert "    decisions_read_alerts: not set (off: the behaviour before the rule)" in lines
    assert "    fallow_as_declared: not set (off: the behaviour before the rule)" in lines
    assert "    open_alerts_act: on" in lines


def test_show_says_what_an_optional_key_not_set_means() -> None:
    """"not set" read as "unknown": an optional rule not set is off (the behaviour before it), the approval share
    not set CREDIT_POLICY.md's 20%."""
    res = invoke("show", "2026.11.1", "--profile", "us-operating")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert "  override_approval_share: not set (20%, CREDIT_POLICY.md)" in lines
    assert "    refer_after_harvest: not set (off: the behaviour before the rule)" in lines
    data = json.loads(invoke("show", "2026.11.1", "--profile", "us-operating", "--json").stdout)
    assert data["profiles"][0]["parameters"]["override_approval_share"] is None
    assert value_text(None, "open_alerts_act") == "not set (off: the behaviour before the rule)"
    assert value_text(None, "emergence_checkpoint_by_crop.maize") == "not set (the profile's emergence_checkpoint)"


def test_show_a_file_as_json_with_one_profile(tmp_path: Path) -> None:
    path = write(tmp_path, candidate(in_kcc__product_cap="250000.50", in_kcc__fallow_as_declared=False))
    res = invoke("show", str(path), "--profile", "in-kcc", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["policy_id"], data["version"], data["origin"], data["source"]) == (
        "agcredit-default", "2027.1.1", "file", str(path))
    assert data["content_hash"] == load_policy(path).content_hash and len(data["content_hash"]) == 64
    assert data["released"] == {"equals": None, "clash": None}
    assert [p["name"] for p in data["profiles"]] == ["in-kcc"]
    params = data["profiles"][0]["parameters"]
    assert params["product_cap"] == {"currency": "INR", "major": "250000.50", "minor": 25_000_050}
    assert params["min_line"] == {"currency": "INR", "major": "10000.00", "minor": 1_000_000}
    assert (params["advance_rate"], params["fallow_as_declared"], params["emergence_checkpoint_by_crop"]) == (
        0.8, False, None)
    assert params["evidence"]["min_clear_pixels"] == 8
    assert list(params)[:3] == ["currency", "advance_rate", "min_dscr"]
    assert data["reason_texts"]["ROUNDED_TO_STEP"] == "Credit lines are granted in round amounts."
    assert list(data["reason_texts"]) == list(REASON_CODES)  # the codes' order, not the file's or alphabetical
    assert data["description"] == RAW["description"] and data["description"].startswith("Default crop-credit")


def test_show_a_file_that_reuses_a_released_version_says_so_loudly(tmp_path: Path) -> None:
    path = write(tmp_path, candidate("2026.12.9", us_operating__advance_rate=0.75))
    res = invoke("show", str(path))
    assert res.exit_code == 0, res.output
    clash = (f"agcredit-default version 2026.12.9 is a released version of the shipped policy with other content "
             f"(released hash {V9.content_hash[:12]}…, {V9_FILE}): any store holding the release refuses records "
             "decided under this file — give it a new version")
    assert res.stderr == f"WARNING: {clash}\n"
    assert res.stdout.splitlines()[1] == f"released: NO — {clash}"
    data = json.loads(invoke("show", str(path), "--json").stdout)
    # no released version has this content (2026.12.9 has the same version, other content)
    assert data["released"] == {"equals": None, "clash": {"version": "2026.12.9", "file": V9_FILE,
                                                          "content_hash": V9.content_hash}}


def test_show_an_unknown_profile_is_one_line() -> None:
    res = invoke("show", "--profile", "eu-farm")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == (f"error: {DEFAULT_POLICY_PATH}: 'profiles.eu-farm': no such profile (known: cn-rural, "
                          "in-kcc, us-operating)\n")


def test_show_an_unknown_spec_names_the_released_versions() -> None:
    res = invoke("show", "2020.1")
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith("error: policy '2020.1': no such file, and not a released version of the shipped "
                                 "policy (released: 2026.11.1, 2026.12.1, 2026.12.2,")
    assert "2026.12.9, 2026.12.10; or default)" in res.stderr


# --- validate -----------------------------------------------------------------------------------------------------

def test_validate_a_valid_copy(tmp_path: Path) -> None:
    path = write(tmp_path, candidate())
    pol = load_policy(path)
    res = invoke("validate", str(path))
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        f"valid: agcredit-default v2027.1.1 (hash {pol.content_hash[:12]}), profiles us-operating, in-kcc, cn-rural "
        f"({path})",
        "ok       archive: not a released version of the shipped policy, and no released version has its id and "
        "version"]


def test_validate_a_bad_key_is_one_line_exit_2(tmp_path: Path) -> None:
    doc = candidate()
    doc["profiles"]["us-operating"]["advance_rat"] = doc["profiles"]["us-operating"].pop("advance_rate")
    path = write(tmp_path, doc)
    res = invoke("validate", str(path))
    assert res.exit_code == 2 and res.stdout == "" and "Traceback" not in res.output
    assert len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith(f"error: {path}: 'profiles.us-operating.advance_rat': unknown key (value 0.8; "
                                 "expected one of currency, advance_rate,")
    missing = invoke("validate", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert missing.stderr == f"error: {tmp_path / 'nope.yaml'}: cannot be read (No such file or directory)\n"


def test_validate_a_released_version_with_other_content_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, candidate("2026.12.9", us_operating__advance_rate=0.75))
    res = invoke("validate", str(path))
    assert res.exit_code == 1, res.output
    pol = load_policy(path)
    assert res.stdout.splitlines() == [
        f"parsed: agcredit-default v2026.12.9 (hash {pol.content_hash[:12]}), profiles us-operating, in-kcc, cn-rural "
        f"({path})",
        f"PROBLEM  archive: agcredit-default version 2026.12.9 is a released version of the shipped policy with other "
        f"content (released hash {V9.content_hash[:12]}…, {V9_FILE}): any store holding the release refuses records "
        "decided under this file — give it a new version"]
    data = json.loads(invoke("validate", str(path), "--json").stdout)
    assert (data["problems"], data["parsed"], data["valid"]) == (1, True, False)
    assert [(c["check"], c["status"]) for c in data["checks"]] == [("archive", "problem")]
    # against a store holding the release: two problems, counted
    url = _store(tmp_path, _items(("agcredit-default", "2026.12.9", V9.content_hash), 2))
    both = invoke("validate", str(path), "--store", url, "--json")
    assert both.exit_code == 1, both.output
    assert json.loads(both.stdout)["problems"] == 2



@pytest.mark.parametrize("spelled", ["v2026.12.9", "2026.12.09", " 2026.12.9", "2026.12.9.0"])
def test_a_released_version_spelled_otherwise_with_other_content_is_a_problem(tmp_path: Path, spelled: str) -> None:
    """A review: ``v2026.12.10`` with other rules passed `validate` ("no released version has its id and version",
    "new to this store") while `show`, `diff` and `impact` read it as the release. Every spelling of a version is
    that version."""
    path = write(tmp_path, candidate(spelled, us_operating__advance_rate=0.75))
    res = invoke("validate", str(path), "--json")
    assert res.exit_code == 1, res.output
    assert [(c["check"], c["status"]) for c in json.loads(res.stdout)["checks"]] == [("archive", "problem")]
    pol = load_policy(path)
    records = pd.DataFrame({"body": [json.dumps({"policy": {"id": "agcredit-default", "version": "2026.12.9",
                                                            "content_hash": V9.content_hash}})]})
    assert [c["status"] for c in check_store(pol, None, records)] == ["problem"]


def test_validate_a_copy_of_a_release(tmp_path: Path) -> None:
    path = tmp_path / "v9.yaml"
    path.write_bytes(Path(V9_FILE).read_bytes())
    res = invoke("validate", str(path), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["valid"], data["problems"], data["description"]) == (True, 0, V9.description)
    assert data["checks"] == [{"check": "archive", "status": "ok",
                               "text": "the content of released version 2026.12.9 of the shipped policy"}]


def _items(policy: tuple[str, str, str], n: int, start: int = 0, season: str = "2025", as_of: str = "2025-05-01",
           kind: str = "decision", supersedes: dict[int, str] | None = None) -> list[DecisionItem]:
    pid, version, digest = policy
    return [DecisionItem(idempotency_key=f"{kind}-{i}-{version}", application_id=f"APP{i}", farmer_token=f"tok{i}",
                         season=season, as_of=as_of, outcome="REDUCE", limit=100_000 + i, currency="USD",
                         reason_codes=("LOW_STRESSED_YIELD",), kind=kind,
                         supersedes=(supersedes or {}).get(i),
                         body={"limit": 100_000 + i, "application": {"requested_amount": 200_000},
                               "policy": {"id": pid, "version": version, "content_hash": digest,
                                          "profile": "us-operating"}})
            for i in range(start, start + n)]


def _store(tmp_path: Path, *batches: list[DecisionItem]) -> str:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with DecisionStore(url) as st:
        for items in batches:
            st.append(items, operator="batch")
    return url


def test_validate_against_a_store(tmp_path: Path) -> None:
    path = write(tmp_path, candidate("2027.1.1"))
    pol = load_policy(path)
    other = write(tmp_path, candidate("2027.1.1", us_operating__advance_rate=0.7), "other.yaml")
    url = _store(tmp_path, _items(("agcredit-default", "2027.1.1", pol.content_hash), 3),
                 _items(("agcredit-default", "2027.2", "f" * 64), 1, start=5))
    same = invoke("validate", str(path), "--store", url)
    assert same.exit_code == 0, same.output
    assert same.stdout.splitlines()[2:] == [
        "ok       store: recorded in this store with this content: 3 record(s) name it",
        "warning  store: the store holds records of a later version of agcredit-default: 2027.2"]
    changed = invoke("validate", str(other), "--store", url, "--json")
    assert changed.exit_code == 1, changed.output
    checks = json.loads(changed.stdout)["checks"]
    assert checks[1] == {"check": "store", "status": "problem", "text": (
        f"the store holds version 2027.1.1 with other content (hash {pol.content_hash[:12]}…: registered, 3 record(s) "
        "name it): give the changed policy a new version")}
    assert checks[2]["status"] == "warning"
    new = invoke("validate", str(write(tmp_path, candidate("2027.3"), "new.yaml")), "--store", url)
    assert new.exit_code == 0, new.output
    assert new.stdout.splitlines()[2:] == ["ok       store: version 2027.3 is new to this store"]


def test_validate_never_creates_a_store(tmp_path: Path) -> None:
    path = write(tmp_path, candidate())
    db = tmp_path / "missing" / "decisions.db"
    for url in (f"sqlite:///{db}", f"sqlite:///{tmp_path / 'absent.db'}"):
        res = invoke("validate", str(path), "--store", url)
        assert res.exit_code == 2 and res.stdout == "", res.output
        assert res.stderr == (f"error: decision store {url}: no database file there (check --store / "
                              "AGCREDIT_STORE_URL; `agcredit underwrite` creates the store)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidate.yaml"]


# --- diff ---------------------------------------------------------------------------------------------------------

def test_diff_identical_content() -> None:
    res = invoke("diff", "default", "2026.12.10", "--exit-code")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[2:] == ["identical content"]


def test_diff_the_shipped_policy_against_the_previous_release() -> None:
    res = invoke("diff", "default", "2026.12.9")
    assert res.exit_code == 0, res.output
    head = [f"A: agcredit-default v2026.12.10 (hash {DEFAULT.content_hash[:12]}): the shipped default policy "
            f"({DEFAULT_POLICY_PATH})",
            f"B: agcredit-default v2026.12.9 (hash {V9.content_hash[:12]}): a released version of the shipped policy "
            f"({V9_FILE})"]
    body: list[str] = []
    for name in ("us-operating", "in-kcc", "cn-rural"):
        body += [f"profile {name}: 3 parameter(s) differ"] + [
            f"  {k}: on → not set (off: the behaviour before the rule)"
            for k in ("decisions_read_alerts", "renewals_propose_actions", "fallow_as_declared")]
    assert res.stdout.splitlines() == head + ["version: 2026.12.10 → 2026.12.9"] + body
    assert invoke("diff", "default", "2026.12.9", "--exit-code").exit_code == 1
    data = json.loads(invoke("diff", "default", "2026.12.9", "--json").stdout)
    # a rule set in A and not in B is "removed", as a crop's checkpoint or a reason text is
    assert data["profiles"]["in-kcc"][0] == {"key": "decisions_read_alerts", "change": "removed", "a": True,
                                             "b": None}
    assert data["document"] == [{"key": "version", "change": "changed", "a": "2026.12.10", "b": "2026.12.9"}]
    assert (data["a"]["description"], data["written_differently"], data["differs"]) == (
        DEFAULT.description, False, True)


def test_diff_a_changed_profile(tmp_path: Path) -> None:
    doc = candidate(in_kcc__advance_rate=0.75, in_kcc__product_cap="350000", in_kcc__fallow_as_declared=False)
    doc["profiles"]["in-kcc"]["emergence_checkpoint_by_crop"] = {"winter_wheat": {"month_day": "04-15",
                                                                                 "year_offset": 0}}
    doc["profiles"]["in-kcc"]["evidence"]["min_clear_obs"] = 4
    del doc["profiles"]["us-operating"]["emergence_checkpoint_by_crop"]
    doc["reason_texts"]["ROUNDED_TO_STEP"] = "Lines come in round amounts."
    doc["profiles"]["eu-farm"] = copy.deepcopy(doc["profiles"]["us-operating"])
    del doc["profiles"]["cn-rural"]
    path = write(tmp_path, doc)
    res = invoke("diff", "default", str(path), "--exit-code")
    assert res.exit_code == 1, res.output
    assert res.stdout.splitlines()[2:] == [
        "version: 2026.12.10 → 2027.1.1",
        "profiles only in A: cn-rural",
        "profiles only in B: eu-farm",
        "profile us-operating: 1 parameter(s) differ",
        "  emergence_checkpoint_by_crop.winter_wheat: 05-01 (year offset 0) → not set (the profile's "
        "emergence_checkpoint)",
        "profile in-kcc: 5 parameter(s) differ",
        "  advance_rate: 0.8 → 0.75",
        "  product_cap: INR 300,000.00 → INR 350,000.00",
        "  emergence_checkpoint_by_crop.winter_wheat: not set (the profile's emergence_checkpoint) → 04-15 (year "
        "offset 0)",
        "  evidence.min_clear_obs: 3 → 4",
        "  fallow_as_declared: on → off",
        "reason text ROUNDED_TO_STEP changed:",
        "  A: Credit lines are granted in round amounts.",
        "  B: Lines come in round amounts."]
    one = invoke("diff", "default", str(path), "--profile", "in-kcc", "--json")
    assert one.exit_code == 0, one.output
    data = json.loads(one.stdout)
    assert (data["identical"], data["only_in_a"], data["only_in_b"], list(data["profiles"])) == (
        False, [], [], ["in-kcc"])
    assert (data["other_profiles_differ"], data["differs"]) == (True, True)
    assert [c["change"] for c in data["profiles"]["in-kcc"]] == ["changed", "changed", "added", "changed", "changed"]
    assert data["profiles"]["in-kcc"][1] == {
        "key": "product_cap", "change": "changed", "a": {"currency": "INR", "major": "300000.00", "minor": 30_000_000},
        "b": {"currency": "INR", "major": "350000.00", "minor": 35_000_000}}
    assert data["reason_texts"] == [{"code": "ROUNDED_TO_STEP", "change": "changed",
                                     "a": "Credit lines are granted in round amounts.",
                                     "b": "Lines come in round amounts."}]
    assert (data["a"]["version"], data["b"]["origin"], data["b"]["content_hash"]) == (
        "2026.12.10", "file", load_policy(path).content_hash)
    bad = invoke("diff", "default", str(path), "--profile", "mx-farm")
    assert bad.exit_code == 2 and bad.stderr == ("error: --profile 'mx-farm': no such profile in either policy (A: "
                                                 "us-operating, in-kcc, cn-rural; B: us-operating, in-kcc, eu-farm)\n")


def test_diff_of_a_profile_in_one_policy_only(tmp_path: Path) -> None:
    doc = candidate()
    del doc["profiles"]["cn-rural"]
    res = diff_policies(DEFAULT, load_policy(write(tmp_path, doc)), profile="cn-rural")
    assert (res["only_in_a"], res["only_in_b"], res["profiles"], res["identical"]) == (["cn-rural"], [], {}, False)
    assert (res["differs"], res["other_profiles_differ"]) == (True, False)
    # --profile keeps B's other profiles out of only_in_b too
    res = diff_policies(load_policy(write(tmp_path, doc)), DEFAULT, profile="us-operating")
    assert (res["only_in_a"], res["only_in_b"], list(res["profiles"])) == ([], [], ["us-operating"])
    assert (res["other_profiles_differ"], res["differs"]) == (True, True)  # the version differs (shown)


def test_diff_with_a_profile_other_profiles_differing(tmp_path: Path) -> None:
    """--profile P: a difference elsewhere is said ("other profiles differ (not shown)"), and --exit-code answers
    for what is shown."""
    path = write(tmp_path, candidate("2026.12.10", in_kcc__advance_rate=0.7))
    res = invoke("diff", "default", str(path), "--profile", "us-operating", "--exit-code")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[2:] == ["profile us-operating: the same", "other profiles differ (not shown)"]
    shown = invoke("diff", "default", str(path), "--profile", "in-kcc", "--exit-code")
    assert shown.exit_code == 1, shown.output
    assert shown.stdout.splitlines()[2:] == ["profile in-kcc: 1 parameter(s) differ", "  advance_rate: 0.8 → 0.7"]
    assert invoke("diff", "default", str(path), "--exit-code").exit_code == 1


def test_diff_of_reason_texts_added_and_removed() -> None:
    """A reason text added or removed (CROP_FAILURE_OBSERVED came with open_alerts_act, 2026.12.6) is said so, with
    its wording: an adverse-action notice quotes it."""
    v5 = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.5.yaml")
    text = DEFAULT.reason_texts["CROP_FAILURE_OBSERVED"]
    assert diff_policies(v5, DEFAULT)["reason_texts"] == [
        {"code": "CROP_FAILURE_OBSERVED", "change": "added", "a": None, "b": text}]
    assert diff_policies(DEFAULT, v5)["reason_texts"] == [
        {"code": "CROP_FAILURE_OBSERVED", "change": "removed", "a": text, "b": None}]
    res = invoke("diff", "2026.12.5", "default")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[-2:] == ["reason text CROP_FAILURE_OBSERVED added:", f"  B: {text}"]
    assert invoke("diff", "default", "2026.12.5").stdout.splitlines()[-2:] == [
        "reason text CROP_FAILURE_OBSERVED removed:", f"  A: {text}"]


def test_diff_compares_every_crop_and_every_evidence_threshold(tmp_path: Path) -> None:
    doc = candidate()
    us = doc["profiles"]["us-operating"]
    us["emergence_checkpoint_by_crop"] = {"maize": {"month_day": "06-15", "year_offset": 0},
                                          "winter_wheat": {"month_day": "05-02", "year_offset": 0}}
    us["evidence"]["min_clear_pixels"] = 9
    got = diff_policies(DEFAULT, load_policy(write(tmp_path, doc)))["profiles"]["us-operating"]
    assert [(c["key"], c["change"]) for c in got] == [
        ("emergence_checkpoint_by_crop.maize", "added"), ("emergence_checkpoint_by_crop.winter_wheat", "changed"),
        ("evidence.min_clear_pixels", "changed")]
    assert got[2] == {"key": "evidence.min_clear_pixels", "change": "changed", "a": 8, "b": 9}


@pytest.mark.parametrize(("key", "old", "new"), [("product_cap", "400000", "400000.00"),
                                                 ("product_cap", "400000", 400000),
                                                 ("advance_rate", 0.8, 0.80000)])
def test_diff_of_the_same_parameters_written_differently(tmp_path: Path, key: str, old: Any, new: Any) -> None:
    """Equal parameters written otherwise: the tool said "the documents differ in their id, version or description"
    when they did not. It says so now — and that a store holding the version refuses the other."""
    a = write(tmp_path, candidate(**{f"us_operating__{key}": old}), "a.yaml")
    b = candidate(**{f"us_operating__{key}": new})
    pb = tmp_path / "b.yaml"
    pb.write_text(yaml.safe_dump(b, sort_keys=False).replace("advance_rate: 0.8\n", "advance_rate: 0.80\n", 1)
                  if key == "advance_rate" else yaml.safe_dump(b, sort_keys=False), encoding="utf-8")
    if key == "advance_rate":  # 0.8 and 0.80 parse alike: the same content
        assert load_policy(a).content_hash == load_policy(pb).content_hash
        return
    assert load_policy(a).content_hash != load_policy(pb).content_hash
    res = invoke("diff", str(a), str(pb), "--exit-code")
    assert res.exit_code == 1, res.output
    assert res.stdout.splitlines()[2:] == [
        "profile us-operating: the same", "profile in-kcc: the same", "profile cn-rural: the same",
        "no parameter, reason text, id, version or description differs: the same parameters written differently "
        "(the content hash differs: a store holding this version refuses the other)"]
    data = json.loads(invoke("diff", str(a), str(pb), "--json").stdout)
    assert (data["identical"], data["written_differently"], data["document"]) == (False, True, [])


# --- history ------------------------------------------------------------------------------------------------------

def test_history_of_a_store_with_two_versions(tmp_path: Path) -> None:
    v9 = ("agcredit-default", "2026.12.9", V9.content_hash)
    own = ("bank-policy", "1.0", "e" * 64)
    v10 = ("agcredit-default", "2026.12.10", DEFAULT.content_hash)
    first = _items(v9, 3) + _items(own, 1, start=3, season="2024", as_of="2024-06-01")
    with DecisionStore(f"sqlite:///{tmp_path / 'x.db'}") as scratch:  # the record ids the store gives the first ones
        ids = scratch.append(first, operator="batch").record_ids
    # APP0 and APP1 re-underwritten under 2026.12.10 later (their current record names it), APP2 stays on 2026.12.9
    later = _items(v10, 2, kind="reunderwrite", as_of="2025-08-31", supersedes={0: ids[0], 1: ids[1]})
    url = _store(tmp_path, first, later)
    res = runner.invoke(app, ["policy", "history", "--store", url])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        f"6 record(s) in {url}: 3 policy version(s)",
        f"agcredit-default v2026.12.9 (hash {V9.content_hash[:12]}): released version 2026.12.9 of the shipped policy",
        "  records: decision 3; as of 2025-05-01 to 2025-05-01; seasons 2025; current record of 1 application(s)",
        f"agcredit-default v2026.12.10 (hash {DEFAULT.content_hash[:12]}): released version 2026.12.10 of the "
        "shipped policy",
        "  records: reunderwrite 2; as of 2025-08-31 to 2025-08-31; seasons 2025; current record of 2 application(s)",
        "bank-policy v1.0 (hash eeeeeeeeeeee): unknown content — keep the file: a replay needs it",
        "  records: decision 1; as of 2024-06-01 to 2024-06-01; seasons 2024; current record of 1 application(s)"]
    assert "tok" not in res.stdout
    js = runner.invoke(app, ["policy", "history", "--store", url, "--season", "2025", "--json"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.stdout)
    assert (data["records"], data["season"]) == (5, "2025")
    assert data["policies"][1] == {"policy_id": "agcredit-default", "version": "2026.12.10",
                                   "content_hash": DEFAULT.content_hash, "records": {"reunderwrite": 2},
                                   "first_as_of": "2025-08-31", "last_as_of": "2025-08-31", "seasons": ["2025"],
                                   "released_version": "2026.12.10", "current_applications": 2}
    none = runner.invoke(app, ["policy", "history", "--store", url, "--season", "2023"])
    assert none.exit_code == 2
    assert none.stderr == f"error: {url}: no stored record of season '2023' (stored seasons: 2024, 2025)\n"


def test_history_of_a_missing_store_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGCREDIT_STORE_URL", raising=False)
    res = runner.invoke(app, ["policy", "history"])
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == ("error: decision store sqlite:///agcredit-decisions.db: no database file there (check "
                          "--store / AGCREDIT_STORE_URL; `agcredit underwrite` creates the store)\n")
    assert list(tmp_path.iterdir()) == []


# --- functions ----------------------------------------------------------------------------------------------------

def test_money_value_and_value_text() -> None:
    assert money_value(123_450, "USD") == {"currency": "USD", "major": "1234.50", "minor": 123_450}
    assert money_value(5000, "JPY") == {"currency": "JPY", "major": "5000", "minor": 5000}
    assert value_text(money_value(123_450, "USD")) == "USD 1,234.50"
    assert [value_text(v) for v in (True, False, None, 0.25, 7)] == ["on", "off", "not set", "0.25", "7"]


def test_check_store_counts_only_records_of_this_content() -> None:
    bodies = [json.dumps({"policy": {"id": "p", "version": v, "content_hash": h}}) for v, h in
              [("1.2", "a" * 64), ("1.2", "a" * 64), ("1.10", "b" * 64), ("1.1", "c" * 64)]] + ["{}"]
    records = pd.DataFrame({"body": bodies})
    pol = DEFAULT.__class__(policy_id="p", version="1.2", content_hash="a" * 64, profiles={}, reason_texts={},
                            source="x")
    assert [c["text"] for c in check_store(pol, "a" * 64, records)] == [
        "recorded in this store with this content: 2 record(s) name it",
        "the store holds records of a later version of p: 1.10"]
    assert [c["status"] for c in check_store(pol, None, records.iloc[:0])] == ["ok"]


def test_history_counts_the_current_record_per_application() -> None:
    def body(v: str) -> str:
        return json.dumps({"policy": {"id": "p", "version": v, "content_hash": v * 4}})

    records = pd.DataFrame({
        "record_id": ["R1", "R2", "R3", "R4"], "supersedes": [None, "R1", None, None],
        "kind": ["decision", "override", "decision", "decision"], "application_id": ["A", "A", "B", "C"],
        "season": ["2025"] * 4, "as_of": ["2025-05-01", "2025-06-01", "2025-05-02", "2025-05-03"],
        "body": [body("1"), body("2"), body("1"), "{}"]})
    got = policy_history(records, archived_policies())
    assert [(g["policy_id"], g["version"], g["records"], g["current_applications"]) for g in got] == [
        (None, None, {"decision": 1}, 1), ("p", "1", {"decision": 2}, 1), ("p", "2", {"override": 1}, 1)]


def test_a_profile_of_neither_policy_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match=r"--profile 'x': no such profile in either policy"):
        diff_policies(DEFAULT, V9, profile="x")


def test_diff_of_documents_differing_in_their_description_only(tmp_path: Path) -> None:
    path = write(tmp_path, {**RAW, "description": "A bank's own words."})
    res = invoke("diff", "default", str(path), "--exit-code")
    assert res.exit_code == 1, res.output
    assert res.stdout.splitlines()[2:] == [
        "description changed:", f"  A: {RAW['description']}", "  B: A bank's own words.",
        "profile us-operating: the same", "profile in-kcc: the same", "profile cn-rural: the same"]
    data = json.loads(invoke("diff", "default", str(path), "--json").stdout)
    assert data["document"] == [{"key": "description", "change": "changed", "a": RAW["description"],
                                 "b": "A bank's own words."}]
    assert (data["a"]["description"], data["b"]["description"]) == (RAW["description"], "A bank's own words.")
    other = write(tmp_path, {**RAW, "policy_id": "bank-policy", "version": "1.0"}, "other.yaml")
    assert invoke("diff", "default", str(other)).stdout.splitlines()[2:4] == [
        "policy_id: agcredit-default → bank-policy", "version: 2026.12.10 → 1.0"]


# --- review fixes -------------------------------------------------------------------------------------------------

def _store_files(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_validate_and_history_leave_the_store_as_it_was(tmp_path: Path) -> None:
    """`validate --store` and `history` said "read only" but opened the store read-write: a DELETE-mode store was
    switched to WAL (header bytes 18-19: the file's bytes changed), a pending -wal was checkpointed into the file on
    close. Both now leave every byte as it was, and read the pending log's records."""
    import shutil
    import sqlite3

    pol = load_policy(write(tmp_path, candidate("2027.1.1")))
    named = ("agcredit-default", "2027.1.1", pol.content_hash)
    delete_mode = tmp_path / "delete"
    delete_mode.mkdir()
    db = delete_mode / "d.db"
    with DecisionStore(f"sqlite:///{db}") as st:
        st.append(_items(named, 2), operator="batch")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    live, pending = tmp_path / "live", tmp_path / "pending"
    live.mkdir()
    pending.mkdir()
    with DecisionStore(f"sqlite:///{live / 'd.db'}") as st:
        st.append(_items(named, 2), operator="batch")
    writer = DecisionStore(f"sqlite:///{live / 'd.db'}")
    writer.append(_items(named, 1, start=2), operator="batch")  # in the -wal until the writer closes
    shutil.copyfile(live / "d.db-wal", pending / "d.db-wal")
    shutil.copyfile(live / "d.db", pending / "d.db")
    writer.close()
    for folder, header, count in ((delete_mode, (1, 1), 2), (pending, (2, 2), 3)):
        before = _store_files(folder)
        assert list(before) == (["d.db"] if folder is delete_mode else ["d.db", "d.db-wal"])
        assert tuple((folder / "d.db").read_bytes()[18:20]) == header
        url = f"sqlite:///{folder / 'd.db'}"
        res = invoke("validate", str(tmp_path / "candidate.yaml"), "--store", url)
        assert res.exit_code == 0, res.output
        assert res.stdout.splitlines()[2] == (f"ok       store: recorded in this store with this content: {count} "
                                              "record(s) name it")
        hist = invoke("history", "--store", url, "--json")
        assert hist.exit_code == 0, hist.output
        assert json.loads(hist.stdout)["records"] == count  # the pending log's record read
        assert _store_files(folder) == before  # no byte changed, no -wal / -shm made
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    con = sqlite3.connect(foreign / "f.db")
    con.execute("CREATE TABLE t (x int)")
    con.commit()
    con.close()
    before = _store_files(foreign)
    for args in (["validate", str(tmp_path / "candidate.yaml"), "--store"], ["history", "--store"]):
        res = invoke(*args, f"sqlite:///{foreign / 'f.db'}")
        assert res.exit_code == 2 and "no agcredit tables" in res.stderr, res.output
    assert _store_files(foreign) == before


@pytest.mark.parametrize(("encoding", "problem"), [
    ("cp1252", "not UTF-8 text (byte 0xb7 at line 3, offset {offset}): a policy file is UTF-8 text — save it as "
               "UTF-8"),
    ("utf-16", "UTF-16 text (byte 0xff at line 1, offset 0): a policy file is UTF-8 text — save it as UTF-8")])
def test_a_policy_file_that_is_not_utf8_is_one_line(tmp_path: Path, encoding: str, problem: str) -> None:
    """A file saved as cp1252 or UTF-16 crashed with a traceback and exit 1 ("a problem found" / "they differ")."""
    text = "policy_id: p\nversion: '1'\ndescription: Credit·agricole\n"
    path = tmp_path / "p.yaml"
    path.write_bytes(text.encode(encoding))
    offset = text.encode(encoding).index(b"\xb7") if encoding == "cp1252" else 0
    for args in (["validate", str(path)], ["show", str(path)], ["diff", "default", str(path), "--exit-code"]):
        res = invoke(*args)
        assert res.exit_code == 2 and res.stdout == "" and "Traceback" not in res.output, res.output
        assert res.stderr == f"error: {path}: {problem.format(offset=offset)}\n"


def test_a_utf8_file_with_a_bom_and_an_empty_file(tmp_path: Path) -> None:
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(candidate(), sort_keys=False).encode())
    assert invoke("validate", str(bom)).exit_code == 0
    for content, problem in ((b"", "the file is empty (expected a policy document)"),
                             (b"  \n", "the file is empty (expected a policy document)"),
                             (b"# only a comment\n", "the file holds no YAML document, only comments (expected a "
                                                     "policy document)")):
        empty = tmp_path / "empty.yaml"
        empty.write_bytes(content)
        res = invoke("validate", str(empty))
        assert (res.exit_code, res.stderr) == (2, f"error: {empty}: {problem}\n")


def test_show_an_empty_name() -> None:
    res = invoke("show", "")
    assert res.exit_code == 2 and res.stderr == ("error: policy '': an empty name (expected default, a released "
                                                 "version of the shipped policy or a policy file)\n")


def test_validate_against_a_store_without_registration_rows(tmp_path: Path) -> None:
    """A store written before the per-version registration row existed holds records only: `validate --store` said
    "new to this store" for a version its records name with other content. The records' contents count too."""
    path = write(tmp_path, candidate("2027.1.1"))
    pol = load_policy(path)
    url = _store(tmp_path, _items(("agcredit-default", "2027.1.1", "f" * 64), 2),
                 _items(("agcredit-default", "2027.2", "e" * 64), 1, start=5))
    engine = __import__("sqlalchemy").create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM agc_meta WHERE key LIKE 'policy:%'")
    engine.dispose()
    res = invoke("validate", str(path), "--store", url)
    assert res.exit_code == 1, res.output
    assert res.stdout.splitlines()[2:] == [
        "PROBLEM  store: the store holds version 2027.1.1 with other content (hash ffffffffffff…: 2 record(s) name it): "
        "give the changed policy a new version",
        "warning  store: the store holds records of a later version of agcredit-default: 2027.2"]
    same = write(tmp_path, candidate("2027.2"), "same.yaml")
    records = pd.DataFrame({"policy": [{"id": "agcredit-default", "version": "2027.1.1",
                                        "content_hash": pol.content_hash}]})
    assert [c["text"] for c in check_store(pol, None, records)] == [
        "recorded in this store with this content: 1 record(s) name it"]
    assert invoke("validate", str(same), "--store", url).exit_code == 1  # 2027.2 named with e…e


def test_version_order_and_key() -> None:
    assert version_order("v2026.12.11", "2026.12.10") == 1
    assert version_order("2026.12.10-adv70", "2026.12.9") == 1  # a variant of 12.10: later than 12.9
    assert version_order("2026.12.9", "2026.12.11-rc1") == -1
    assert version_order("2027.01.1", "2027.1.1") == 0 and version_order("v2026.12.9", "2026.12.9") == 0
    assert version_order("2026.12.10.1", "2026.12.10") == 1
    # a variant or pre-release of the same number, or a part with no number: no order
    assert version_order("2026.12.10-adv70", "2026.12.10") is None
    assert version_order("2026.12.11-rc1", "2026.12.11") is None
    assert version_order("beta", "2026.12.9") is None
    versions = ["2026.12.11-rc1", "v2026.12.11", "2026.12.10-adv70", "2026.12.9", "2026.12.10", "2026.12.10.1"]
    assert sorted(versions, key=version_key) == ["2026.12.9", "2026.12.10", "2026.12.10.1", "2026.12.10-adv70",
                                                 "v2026.12.11", "2026.12.11-rc1"]


@pytest.mark.parametrize(("candidate_version", "stored", "later"), [
    ("v2026.12.11", "2026.12.10", []),  # said "the store holds a later version 2026.12.10"
    ("2026.12.10-adv70", "2026.12.9", []),
    ("2026.12.11", "2026.12.11-rc1", []),  # cannot be ordered: not called later
    ("2026.12.10", "2026.12.11-rc1", ["2026.12.11-rc1"]),
    ("2026.12.9", "2026.12.10-adv70", ["2026.12.10-adv70"])])
def test_the_later_version_warning(candidate_version: str, stored: str, later: list[str]) -> None:
    pol = DEFAULT.__class__(policy_id="p", version=candidate_version, content_hash="a" * 64, profiles={},
                            reason_texts={}, source="x")
    records = pd.DataFrame({"policy": [{"id": "p", "version": stored, "content_hash": "b" * 64},
                                       {"id": "q", "version": "9999.1", "content_hash": "c" * 64}]})
    got = [c["text"] for c in check_store(pol, None, records) if c["status"] == "warning"]
    assert got == [f"the store holds records of a later version of p: {', '.join(later)}"] if later else got == []


def test_history_groups_in_detail() -> None:
    """Each group's records by kind in KINDS order, its first and last as-of dates, every season."""
    def block(v: str) -> dict[str, str]:
        return {"id": "p", "version": v, "content_hash": v * 4}

    records = pd.DataFrame({
        "record_id": ["R1", "R2", "R3", "R4", "R5", "R6", "R7"], "application_id": ["A", "A", "A", "B", "C", "D", "E"],
        "kind": ["decision", "reunderwrite", "override", "decision", "decision", "amend", "decision"],
        "season": ["2025", "2025", "2025", "2024", "2025", "2025", "2025"],
        "as_of": ["2025-05-01", "2025-07-01", "2025-06-01", "2024-05-02", "2025-05-03", "2025-05-04", "2025-05-05"],
        "policy": [block("1"), block("1"), block("1"), block("1"), None, block("1"),
                   {"version": "1", "content_hash": "1111"}]})  # a block naming no policy id: no policy
    got = policy_history(records, [])
    assert got[1] == {"policy_id": "p", "version": "1", "content_hash": "1111",
                      "records": {"decision": 2, "override": 1, "reunderwrite": 1, "amend": 1},
                      "first_as_of": "2024-05-02", "last_as_of": "2025-07-01", "seasons": ["2024", "2025"],
                      "released_version": None, "current_applications": 3}
    # KINDS order, then any other kind (sorted)
    assert list(got[1]["records"]) == ["decision", "override", "reunderwrite", "amend"]
    assert (got[0]["policy_id"], got[0]["records"], len(got)) == (None, {"decision": 2}, 2)


def test_deciding_under_a_superseded_version_of_the_stores_policy_is_warned(tmp_path: Path) -> None:
    """A review: `underwrite --policy` an archived file decided (exit 0) beside the records of a later version without
    a word; `policy validate --store` warned of it, the command deciding did not."""
    from pipelines._underwrite_checks import superseded_policy_warning
    from underwriting.store import DecisionStore

    url = _store(tmp_path, _items(("agcredit-default", "2026.12.10", "a" * 64), 2))
    warnings: list[str] = []
    with DecisionStore(url, create=False, read_only=True) as st:
        superseded_policy_warning(st, V9, warnings)
        assert warnings == ["policy agcredit-default version 2026.12.9 decides this run, while this store holds "
                            "records of a later version (2026.12.10): `agcredit policy history` shows which version "
                            "decided what"]
        later = load_policy(ARCHIVE_DIR / "agcredit-default-2026.12.10.yaml")
        superseded_policy_warning(st, later, warnings)
    assert len(warnings) == 1
