"""``agcredit policy show|validate|diff|history``: the credit policy's own change control (underwriting/policy_tools.py
holds the logic; these commands parse, call it and render)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from pipelines._cli_app import STORE_HELP, echo, err, policy_app, user_errors

__all__ = ["policy_diff_cmd", "policy_history_cmd", "policy_show_cmd", "policy_validate_cmd"]

_SPEC = "default (the shipped policy), a released version of it (e.g. 2026.12.9 or v2026.12.9) or a policy YAML file"
_ORIGIN = {"default": "the shipped default policy", "version": "a released version of the shipped policy",
           "file": "a policy file"}


def _dump(data: Any) -> None:
    echo(json.dumps(data, indent=2, ensure_ascii=False))


def _resolve(spec: str, released: Sequence[Any]) -> tuple[Any, str]:
    from pipelines.impact import resolve_policy

    return resolve_policy(spec, released)


def _released() -> list[Any]:
    from underwriting.policy import archived_policies

    return archived_policies()


def _head(label: str, policy: Any, origin: str) -> str:
    from pipelines.impact import policy_text

    return f"{label}{policy_text(policy)}: {_ORIGIN[origin]} ({policy.source})"


def _released_line(match: dict[str, Any]) -> str:
    if match["equals"] is not None:
        return f"released: the content of version {match['equals']['version']} of the shipped policy"
    return "released: no — this content is no released version of the shipped policy"


def _profile_lines(prof: dict[str, Any]) -> list[str]:
    from underwriting.policy_tools import OPTIONAL_RULES, value_text

    params = prof["parameters"]
    lines = [f"profile {prof['name']} ({prof['currency']})"]
    for key, value in params.items():
        if key in OPTIONAL_RULES or key in ("currency", "evidence"):
            continue
        lines.append(f"  {key}: {value_text(value, key)}")
    lines.append("  optional rules:")
    lines += [f"    {key}: {value_text(params[key], key)}" for key in OPTIONAL_RULES]
    lines.append("  evidence:")
    lines += [f"    {key}: {value_text(v)}" for key, v in params["evidence"].items()]
    return lines


@policy_app.command("show")
@user_errors
def policy_show_cmd(
    spec: str = typer.Argument("default", help=f"The policy: {_SPEC}."),
    profile: str | None = typer.Option(None, "--profile", help="Only this profile (default: every profile)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full structure as JSON (the description; money in "
                                 "major units as a decimal string and in minor units; an optional key not set as "
                                 "null; the reason texts)."),
) -> None:
    """A policy's id, version and content hash, where it comes from, whether it is a released version of the shipped
    policy, and every parameter of each profile (money in major units, the optional rules on / off / not set — off,
    the behaviour before the rule —, the crops' emergence checkpoints, the evidence thresholds)."""
    from underwriting.policy_tools import clash_text, describe_policy

    released = _released()
    policy, origin = _resolve(spec, released)
    data = describe_policy(policy, released, origin=origin, profile=profile)
    clash = data["released"]["clash"]
    if clash is not None:
        err(f"WARNING: {clash_text(policy, clash)}")
    if as_json:
        _dump(data)
        return
    echo(_head("policy ", policy, origin))
    echo(_released_line(data["released"]) if clash is None else f"released: NO — {clash_text(policy, clash)}")
    echo(f"profiles: {', '.join(policy.profiles)}")
    for prof in data["profiles"]:
        echo()
        for line in _profile_lines(prof):
            echo(line)


def _check_lines(checks: Sequence[dict[str, str]]) -> list[str]:
    mark = {"ok": "ok", "problem": "PROBLEM", "warning": "warning"}
    return [f"{mark[c['status']]:<8} {c['check']}: {c['text']}" for c in checks]


def _store_checks(policy: Any, store: str) -> list[dict[str, str]]:
    from underwriting.policy_tools import check_store
    from underwriting.store import DecisionStore

    # read only: nothing written to the store (its file, journal mode and -wal as they were); one that does not
    # exist is refused, nothing created
    with DecisionStore(store, create=False, read_only=True) as st:
        return check_store(policy, st.policy_content(policy.policy_id, policy.version), st.policy_blocks())


@policy_app.command("validate")
@user_errors
def policy_validate_cmd(
    file: Path = typer.Argument(..., help="The candidate policy YAML file."),
    store: str | None = typer.Option(None, "--store", help="A decision store to check the file against, read only: "
                                     "nothing is written to it (SQLAlchemy URL): is its version new there, recorded "
                                     "with this content, or recorded with other content (registered, or named by its "
                                     "records: a problem)."),
    as_json: bool = typer.Option(False, "--json", help="Print the policy and the checks as JSON."),
) -> None:
    """Check a candidate policy file before it is adopted: parse and validate it (an error names the file, the key
    and the problem: exit 2), then check it against the released versions of the shipped policy and, with --store,
    against a decision store. The first line says "valid:" when no check found a problem (exit 0), "parsed:" when one
    did (exit 1); JSON: "parsed" true, "valid" whether no check found a problem, "problems" how many did."""
    from underwriting.policy import load_policy
    from underwriting.policy_tools import check_archive

    policy = load_policy(file)
    checks = [check_archive(policy, _released())]
    if store is not None:
        checks += _store_checks(policy, store)
    problems = sum(c["status"] == "problem" for c in checks)
    if as_json:
        _dump({"policy_id": policy.policy_id, "version": policy.version, "description": policy.description,
               "content_hash": policy.content_hash, "source": policy.source, "profiles": list(policy.profiles),
               "parsed": True, "valid": not problems, "checks": checks, "problems": problems})
    else:
        shown = policy.version if policy.version[:1] in ("v", "V") else f"v{policy.version}"  # not "vv2026.12.10"
        echo(f"{'parsed' if problems else 'valid'}: {policy.policy_id} {shown} (hash "
             f"{policy.content_hash[:12]}), profiles {', '.join(policy.profiles)} ({policy.source})")
        for line in _check_lines(checks):
            echo(line)
    if problems:
        raise typer.Exit(code=1)


def _text_lines(what: str, change: dict[str, Any]) -> list[str]:
    """A text's change (a reason code's, the description): its kind, then the old and the new wording in full."""
    return [f"{what} {change['change']}:"] + [f"  {side.upper()}: {change[side]}" for side in ("a", "b")
                                              if change[side] is not None]


def _diff_lines(diff: dict[str, Any], a: Any, b: Any) -> list[str]:
    from underwriting.policy_tools import change_text

    lines = []
    for c in diff["document"]:
        if c["key"] == "description":
            lines += _text_lines("description", c)
        else:
            lines.append(f"{c['key']}: {c['a']} → {c['b']}")
    if diff["only_in_a"]:
        lines.append(f"profiles only in A: {', '.join(diff['only_in_a'])}")
    if diff["only_in_b"]:
        lines.append(f"profiles only in B: {', '.join(diff['only_in_b'])}")
    for name, changes in diff["profiles"].items():
        lines.append(f"profile {name}: " + (f"{len(changes)} parameter(s) differ" if changes else "the same"))
        lines += [f"  {change_text(c)}" for c in changes]
    for t in diff["reason_texts"]:
        lines += _text_lines(f"reason text {t['code']}", t)
    if diff["other_profiles_differ"]:
        lines.append("other profiles differ (not shown)")
    if diff["written_differently"]:
        same = (a.policy_id, a.version) == (b.policy_id, b.version)
        lines.append("no parameter, reason text, id, version or description differs: the same parameters written "
                     "differently (the content hash differs" + (": a store holding this version refuses the other)"
                                                               if same else ")"))
    return lines


@policy_app.command("diff")
@user_errors
def policy_diff_cmd(
    a: str = typer.Argument(..., help=f"The first policy (A): {_SPEC}."),
    b: str = typer.Argument(..., help=f"The second policy (B): {_SPEC}."),
    profile: str | None = typer.Option(None, "--profile", help="Only this profile."),
    as_json: bool = typer.Option(False, "--json", help="Print the differences as JSON (reason texts in full)."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when the contents differ (as git diff "
                                   "--exit-code; the same parameters written differently too: their content hashes "
                                   "differ), else 0. With --profile: 1 when what is shown differs (that profile, the "
                                   "reason texts, the id, version or description), whatever the other profiles."),
) -> None:
    """What differs between two policies: the id, version and description; per profile each parameter `key: A → B`
    (money in major units, the optional rules on / off / not set — off, the behaviour before the rule —, evidence
    thresholds, the crops' emergence checkpoints); profiles only in one; the reason texts changed, added or removed,
    old and new wording in full. Equal parameters written otherwise ("400000" and "400000.00") are said to be so:
    their content hashes differ all the same."""
    from underwriting.policy_tools import diff_policies

    released = _released()
    (pa, oa), (pb, ob) = _resolve(a, released), _resolve(b, released)
    diff = diff_policies(pa, pb, profile=profile)
    if as_json:
        _dump({"a": _side(pa, oa), "b": _side(pb, ob), **diff})
    else:
        echo(_head("A: ", pa, oa))
        echo(_head("B: ", pb, ob))
        if diff["identical"]:
            echo("identical content")
        else:
            for line in _diff_lines(diff, pa, pb):
                echo(line)
    if exit_code and diff["differs"]:
        raise typer.Exit(code=1)


def _side(policy: Any, origin: str) -> dict[str, Any]:
    return {"policy_id": policy.policy_id, "version": policy.version, "description": policy.description,
            "content_hash": policy.content_hash, "origin": origin, "source": policy.source}


def _history_line(g: dict[str, Any]) -> list[str]:
    if g["policy_id"] is None:
        head = "records naming no policy"
        released = ""
    else:
        head = f"{g['policy_id']} v{g['version']} (hash {g['content_hash'][:12]})"
        released = (f"released version {g['released_version']} of the shipped policy" if g["released_version"]
                    else "unknown content — keep the file: a replay needs it")
    kinds = ", ".join(f"{k} {n}" for k, n in g["records"].items())
    return [head + (f": {released}" if released else ""),
            f"  records: {kinds}; as of {g['first_as_of']} to {g['last_as_of']}; seasons {', '.join(g['seasons'])}; "
            f"current record of {g['current_applications']} application(s)"]


@policy_app.command("history")
@user_errors
def policy_history_cmd(
    store: str | None = typer.Option(None, "--store", help=STORE_HELP + " Read only: nothing is written to it."),
    season: str | None = typer.Option(None, "--season", help="Only this season's records (YYYY)."),
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    """Which policy versions decided the store's records: per policy id, version and content hash the records by
    kind, their first and last as-of dates and seasons, whether the content is a released version of the shipped
    policy, and of how many applications the current record (the one in force) names it."""
    from features.contracts import check_season
    from underwriting.policy_tools import policy_history
    from underwriting.store import DecisionStore

    if season is not None:
        season = check_season(season, where="--season")
    with DecisionStore(store, create=False, read_only=True) as st:
        records = st.policy_blocks(season)
        if season is not None and records.empty:
            seasons = sorted(set(st.policy_blocks()["season"].astype(str)))
            from features.errors import UserInputError

            raise UserInputError(f"{st.shown_url}: no stored record of season {season!r} (stored seasons: "
                                 f"{', '.join(seasons) or 'none'})")
        shown = st.shown_url
    groups = policy_history(records, _released())
    if as_json:
        _dump({"store": shown, "season": season, "records": len(records), "policies": groups})
        return
    echo(f"{len(records)} record(s) in {shown}" + (f", season {season}" if season is not None else "")
         + f": {len(groups)} policy version(s)")
    for g in groups:
        for line in _history_line(g):
            echo(line)
