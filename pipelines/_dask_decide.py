"""Decisions on partitions, byte-identical to :func:`underwriting.decisions.decide_batch` (private).

``decide_batch`` underwrites applications in ``application_id`` order against one
concentration :class:`~underwriting.decisions.Headroom`: every APPROVE/REDUCE consumes
headroom of its borrower *and of its crop-region*, and the body records both exposures.
Keeping a farmer's applications in one partition keeps the borrower exposure right, but
the crop-region exposure couples every farmer growing that crop in that region: a
partition cannot know what applications of other partitions consumed before its own.

So the partitions run in rounds (a fixed-point iteration). Every application is decided
with ``decide(..., headroom=h)`` where ``h`` holds the exposures *before it* in
``application_id`` order: the Book's plus the consumption of all earlier applications as
last computed. After a round the consumptions are updated; an application is decided again
only when the exposures it saw (its borrower's, its crop-region's) changed. When no
application changes, every one saw exactly the exposures ``decide_batch`` would have given
it — by induction along the order: the first application sees the Book alone; if the
first k are right, so are their consumptions and therefore the inputs of the k+1-th — so
the items equal ``decide_batch``'s byte for byte. Round r fixes at least the first r
applications, so the iteration ends; in practice after two rounds, or one when
concentration does not apply (a young book). The cost is about twice the work of one pass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines._dask_parts import content_key, frame_hash, group_partitions, part_path, read_part, write_part
from underwriting.decisions import Headroom, batch_pledges, decide
from underwriting.records import DecisionItem, canonical_json

__all__ = ["DecideTask", "decide_partitions", "decide_task", "items_frame", "items_from_frame"]

_ITEM_COLUMNS = ("application_id", "idempotency_key", "farmer_token", "season", "as_of", "outcome", "limit",
                 "currency", "reason_codes", "body_json", "kind", "supersedes")


@dataclass(frozen=True)
class DecideTask:
    """One partition's applications (``application_id`` order), their fields, and the exposures per application."""

    key: str
    applications: pd.DataFrame
    features: pd.DataFrame
    valuations: pd.DataFrame
    todo: dict[str, tuple[int, dict[str, int]]]  # application_id → (borrower exposure, crop-region exposures)
    out: str | None
    #: application_id → the applications already holding its farmer's fields (underwriting.decisions.batch_pledges
    #: over the whole run, the store's holders included)
    pledged_to: dict[str, list[str]] = field(default_factory=dict)


def items_frame(items: list[DecisionItem]) -> pd.DataFrame:
    """Decision items as a table (the body as its canonical JSON)."""
    rows = [{"application_id": i.application_id, "idempotency_key": i.idempotency_key, "farmer_token": i.farmer_token,
             "season": i.season, "as_of": i.as_of, "outcome": i.outcome, "limit": int(i.limit),
             "currency": i.currency, "reason_codes": json.dumps(list(i.reason_codes)),
             "body_json": canonical_json(i.body), "kind": i.kind, "supersedes": i.supersedes} for i in items]
    df = pd.DataFrame(rows, columns=list(_ITEM_COLUMNS))
    df["limit"] = df["limit"].astype("int64")
    return df


def items_from_frame(df: pd.DataFrame) -> list[DecisionItem]:
    out = []
    for r in df.to_dict("records"):
        sup = r.get("supersedes")
        out.append(DecisionItem(idempotency_key=str(r["idempotency_key"]), application_id=str(r["application_id"]),
                                farmer_token=str(r["farmer_token"]), season=str(r["season"]), as_of=str(r["as_of"]),
                                outcome=str(r["outcome"]), limit=int(r["limit"]), currency=str(r["currency"]),
                                reason_codes=tuple(json.loads(r["reason_codes"])), body=json.loads(r["body_json"]),
                                kind=str(r["kind"]), supersedes=None if sup is None or pd.isna(sup) else str(sup)))
    return out


def decide_task(task: DecideTask, *, prices: pd.DataFrame, policy: Any, profile: str, as_of: date,
                base: Headroom, provenance: Any) -> list[DecisionItem]:
    """Decide the partition's applications listed in ``task.todo`` (skipped when its part exists)."""
    path = part_path(task.out, task.key) if task.out is not None else None
    if path is not None and path.is_file():
        return items_from_frame(read_part(path))
    feats = {k: g for k, g in task.features.groupby(task.features["farmer_token"].astype(str), sort=False)}
    empty_f = task.features.iloc[:0]
    vals = task.valuations
    book = pd.DataFrame()
    items = []
    earlier = task.pledged_to
    for app in task.applications.to_dict("records"):
        aid = str(app["application_id"])
        if aid not in task.todo:
            continue
        b_exp, cr = task.todo[aid]
        room = Headroom(book_total=base.book_total, applies=base.applies, max_borrower=base.max_borrower,
                        max_crop_region=base.max_crop_region, borrower={str(app["farmer_token"]): int(b_exp)},
                        crop_region=dict(cr))
        f = feats.get(str(app["farmer_token"]), empty_f)
        v = vals[vals["field_id"].isin(f["field_id"])]
        items.append(decide(app, f, v, prices, book, policy, profile, as_of, headroom=room, provenance=provenance,
                            pledged_to=earlier.get(aid, ())))
    if path is not None:
        write_part(items_frame(items), path)
    return items


def _consumption(item: DecisionItem) -> tuple[str | None, int]:
    """The crop-region key and amount an item consumed (as ``Headroom.consume`` does)."""
    conc = item.body["computation"]["concentration"]
    if not conc.get("applies") or item.outcome not in ("APPROVE", "REDUCE"):
        return None, 0
    crop = conc.get("crop")
    return (f"{crop}|{conc.get('region')}" if crop is not None else None), int(item.limit)


def decide_partitions(runner: Any, applications: pd.DataFrame, features: pd.DataFrame, valuations: pd.DataFrame,
                      prices: pd.DataFrame, base: Headroom, policy: Any, profile: str, as_of: date, *,
                      chunk_applications: int, provenance: Any, out: Path | None,
                      pledged: Mapping[tuple[str, str], Sequence[str]] | None = None) -> tuple[list[DecisionItem], int]:
    """All decisions in ``application_id`` order and the number of rounds run (see the module docstring);
    ``pledged``: the store's pledge holders, as :func:`underwriting.decisions.decide_batch` takes them."""
    apps = applications.sort_values("application_id", kind="stable").reset_index(drop=True)
    earlier = batch_pledges(apps, pledged)
    tokens = apps["farmer_token"].astype(str).to_numpy()
    aids = apps["application_id"].astype(str).tolist()
    parts = group_partitions(tokens, chunk_applications)
    ftok = features["farmer_token"].astype(str)
    payload = []
    for rows in parts:
        a = apps.iloc[rows].reset_index(drop=True)
        f = features[ftok.isin(set(tokens[rows]))].reset_index(drop=True)
        v = valuations[valuations["field_id"].isin(f["field_id"])].reset_index(drop=True)
        payload.append((a, f, v, content_key(frame_hash(a), frame_hash(f), frame_hash(v))))
    from pipelines._code_digest import DECISION_SOURCES, source_digest

    common = content_key("decide/3", source_digest(DECISION_SOURCES), frame_hash(prices), policy.content_hash, profile,
                         as_of.isoformat(),
                         canonical_json(provenance or {}), base.book_total, base.applies, base.max_borrower,
                         base.max_crop_region, sorted(base.borrower.items()), sorted(base.crop_region.items()))
    part_of = {aid: p for p, rows in enumerate(parts) for aid in (aids[i] for i in rows)}
    done: dict[str, DecisionItem] = {}
    seen: dict[str, tuple[int, int | None]] = {}
    key_of: dict[str, str | None] = {}
    rounds = 0
    shared = {"prices": prices, "policy": policy, "profile": profile, "as_of": as_of, "base": base,
              "provenance": provenance}
    while True:
        borrower, crop_region = dict(base.borrower), dict(base.crop_region)
        todo: dict[int, dict[str, tuple[int, dict[str, int]]]] = {}
        for aid, tok in zip(aids, tokens, strict=True):
            b_exp = borrower.get(tok, 0)
            k = key_of.get(aid)
            if aid not in done or seen[aid] != (b_exp, crop_region.get(k, 0) if k is not None else None):
                todo.setdefault(part_of[aid], {})[aid] = (b_exp, dict(crop_region))
            if aid in done:
                ck, amount = _consumption(done[aid])
                if amount:
                    borrower[tok] = b_exp + amount
                    if ck is not None:
                        crop_region[ck] = crop_region.get(ck, 0) + amount
        if not todo:
            break
        rounds += 1
        tasks = []
        for p, t in sorted(todo.items()):
            pl = {a: list(earlier[a]) for a in payload[p][0]["application_id"].astype(str) if a in earlier}
            tasks.append(DecideTask(key=content_key(common, payload[p][3], sorted((a, e[0], sorted(e[1].items()))
                                                                                  for a, e in t.items()),
                                                    sorted(pl.items())),
                                    applications=payload[p][0], features=payload[p][1], valuations=payload[p][2],
                                    todo=t, out=str(out) if out is not None else None, pledged_to=pl))
        for task, items in zip(tasks, runner.map(decide_task, tasks, shared=shared, label="decide"), strict=True):
            for it in items:
                b_exp, cr = task.todo[it.application_id]
                conc = it.body["computation"]["concentration"]
                k = f"{conc['crop']}|{conc.get('region')}" if conc.get("crop") is not None else None
                done[it.application_id], key_of[it.application_id] = it, k
                seen[it.application_id] = (b_exp, cr.get(k, 0) if k is not None else None)
    return [done[a] for a in aids], rounds
