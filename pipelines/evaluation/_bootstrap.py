"""The intervals beside the evaluations' figures: the scored units (fields) resampled with replacement, each resample
scored as the whole set is, and the percentile interval of the resampled figures. A fixed seed, so the same
evaluation gives the same intervals byte for byte (``agcredit evaluate alerts`` and ``growth-stage``).

A cluster (grouped) bootstrap (``agcredit evaluate … --interval-by condition|farmer``, :data:`INTERVAL_BY`): the
set's G groups of units (the fields of one simulated condition, or of one farmer) drawn G of G with replacement, each
unit counted as often as its group is drawn (:func:`group_codes`, ``resample_counts(…, groups=)``) — units of one
group are not independent, and drawing them as if they were narrows the interval. A resample then holds a varying
number of units (the drawn groups' sizes); every scorer here divides by the resample's own total. ``groups=None`` (the
default, ``--interval-by field``) draws exactly as before; so does every unit its own group (the same draws).

Memory: the resamples are drawn and scored a block of rows at a time (:func:`count_blocks`, at most
:data:`BLOCK_VALUES` counts a block; :func:`blockwise`), each block's per-resample figures kept and the interval taken
over all of them at the end — the very draws, in the same order, as the whole (resamples × units) matrix, which a
truth set of 100,000 fields would hold in gigabytes. A scorer treats each resample on its own, so its figures do not
depend on the blocks (:func:`resample_sums`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from features.errors import UserInputError

__all__ = ["INTERVAL", "INTERVAL_BY", "BLOCK_VALUES", "Counts", "Draws", "describe", "block_rows",
           "count_blocks", "resample_counts", "blockwise", "resample_sums", "season_draws",
           "grouped_season_draws", "group_codes", "check_interval_by", "check_bank_interval_by", "farmer_groups", "percentile_interval", "interval_text",
           "sorted_draws", "draws_median", "draws_quantile", "repeated_median", "repeated_quantile"]

#: level, number of resamples and seed of every interval drawn here
INTERVAL: dict[str, Any] = {"level": 0.95, "resamples": 2000, "seed": 20261205}


#: what ``--interval-by`` may name → the groups it draws whole, in words (``field``: every field its own: today's draws)
INTERVAL_BY: dict[str, str] = {"field": "field", "condition": "simulated condition", "farmer": "farmer"}


def check_interval_by(value: str) -> str:
    """``value`` when it is one of :data:`INTERVAL_BY`, else a one-line :class:`UserInputError` (exit 2) that does not
    quote what was typed."""
    if value not in INTERVAL_BY:
        raise UserInputError(f"--interval-by: expected one of {', '.join(INTERVAL_BY)}")
    return value


def check_bank_interval_by(value: str) -> str:
    """:func:`check_interval_by` for a bank's own fields (``models performance``): ``field`` or ``farmer`` only — a
    bank's fields carry no simulated condition."""
    check_interval_by(value)
    if value not in ("field", "farmer"):
        raise UserInputError(f"--interval-by: expected field or farmer here (not {INTERVAL_BY[value]}: a bank's "
                             "fields carry no simulated condition)")
    return value


def farmer_groups(frame: pd.DataFrame, by: str, source: object) -> tuple[np.ndarray | None, int | None]:
    """The groups a ``--interval-by`` of a bank's fields draws whole (:func:`check_bank_interval_by`): ``field``
    (None, None: every field its own); ``farmer`` each row's farmer (:func:`group_codes` of ``farmer_token``) and how
    many — a one-line error naming ``source`` when the column is missing or empty."""
    if by != "farmer":
        return None, None
    if "farmer_token" not in frame.columns or frame["farmer_token"].isna().all():
        raise UserInputError(f"{source}: --interval-by farmer needs the features' farmer_token column")
    groups = group_codes(frame["farmer_token"])
    return groups, int(groups.max()) + 1


def describe(units: str, by: str = "field", n_groups: int | None = None) -> str:
    """How the intervals were drawn, in words (printed under the figures and kept in the JSON). ``by`` other than
    ``field``: a cluster bootstrap over the groups (:data:`INTERVAL_BY`) of ``units`` — ``n_groups`` of them — each
    drawn with all its fields."""
    if by != "field":
        count = f"{n_groups:,} groups" if n_groups is not None else "groups"
        units = f"{units}, clustered by {INTERVAL_BY[by]} ({count} drawn whole)"
    return (f"{INTERVAL['level']:.0%} percentile bootstrap over {units} "
            f"({INTERVAL['resamples']:,} resamples, seed {INTERVAL['seed']})")


def group_codes(keys: Sequence[Any] | pd.Series | np.ndarray) -> np.ndarray:
    """Each unit's group as a code 0…G−1 (in order of first appearance), from its group key (a condition id, a farmer
    token; never kept beyond this): a unit without one (None, NaN, blank) is its own group. Distinct keys give
    ``arange(n)``: every unit its own group, which :func:`resample_counts` draws exactly as ``groups=None``."""
    s = pd.Series(np.asarray(keys, dtype=object), dtype=object)
    missing = (s.isna() | (s.astype(str).str.strip() == "")).to_numpy()
    # a unit without a key: a group of its own (a label no key has), numbered in place among the first appearances
    labels = [(1, i) if m else (0, k) for i, (k, m) in enumerate(zip(s, missing, strict=True))]
    return np.asarray(pd.factorize(pd.Series(labels, dtype=object))[0], dtype=np.int64)


#: the most counts (int32, 4 bytes each) one block of resamples holds: 64 MiB (the module docstring's memory); the
#: scorers' copies of a block (float products, cumulative counts) take a few times that, whatever the set's size
BLOCK_VALUES = 16 * 2**20


def block_rows(n_cols: int) -> int:
    """Resamples in a block of ``n_cols`` counted units: as many as :data:`BLOCK_VALUES` holds, at least one."""
    return max(1, BLOCK_VALUES // max(n_cols, 1))


def _drawn_chunks(n: int, cols: np.ndarray, stream: int, groups: np.ndarray | None) -> Iterator[np.ndarray]:
    """:func:`count_blocks`' rows as the random stream gives them, in chunks of at most 2 million draws (a chunk's
    size is part of the stream: the same chunks, the same counts)."""
    reps = int(INTERVAL["resamples"])
    seed = int(INTERVAL["seed"])
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)) if stream else seed)
    if groups is None:
        g, gcols = n, cols
    else:
        codes = np.asarray(groups, dtype=np.int64)
        if codes.shape != (n,) or (n and (codes.min() < 0)):
            raise ValueError(f"groups: expected {n} group codes 0…G−1, one per unit")
        g, gcols = (int(codes.max()) + 1 if n else 0), codes[cols]
    step = max(1, min(250, 2_000_000 // max(g, 1)))
    for lo in range(0, reps, step):
        k = min(step, reps - lo)
        idx = rng.integers(0, g, size=(k, g)) + (np.arange(k) * g)[:, None]
        yield np.bincount(idx.ravel(), minlength=k * g).reshape(k, g)[:, gcols].astype(np.int32)


def count_blocks(n: int, cols: np.ndarray, stream: int = 0, groups: np.ndarray | None = None
                 ) -> Iterator[np.ndarray]:
    """How often each of the ``cols`` of ``n`` units is drawn in each of :data:`INTERVAL`'s resamples of ``n`` units
    with replacement: (resamples, len(cols)) counts, yielded in blocks of :func:`block_rows` resamples (the last one
    shorter), in order. Units outside ``cols`` (those that add nothing to any figure) are drawn too, so every resample
    has ``n`` units.

    ``groups`` (:func:`group_codes`: each of the ``n`` units' group 0…G−1): a cluster bootstrap — the G groups drawn
    G of G with replacement and each unit counted as often as its group is drawn (all units of a group always the
    same count; a resample holds the drawn groups' units, a varying number). None: every unit its own group, the
    draws above; ``groups = arange(n)`` gives the very same counts.

    ``stream`` picks the random stream: 0 (the default) is the seed's own, as every single set of units draws it;
    ``k`` > 0 is the seed's ``k``-th spawned child (``numpy.random.SeedSequence(seed, spawn_key=(k,))``), an
    independent stream. A bootstrap stratified into several sets of units (the fields of each held-out season) gives
    each set its own stream, so that sets of the same size are not drawn alike."""
    cols = np.asarray(cols, dtype=np.int64)
    rows = block_rows(len(cols))
    held: list[np.ndarray] = []
    n_held = 0
    for chunk in _drawn_chunks(n, cols, stream, groups):
        while len(chunk):  # a chunk split across blocks where a block ends inside it
            part, chunk = chunk[:rows - n_held], chunk[rows - n_held:]
            held.append(part)
            n_held += len(part)
            if n_held == rows:
                yield np.concatenate(held)
                held, n_held = [], 0
    if held:
        yield np.concatenate(held)


def resample_counts(n: int, cols: np.ndarray, stream: int = 0, groups: np.ndarray | None = None) -> np.ndarray:
    """:func:`count_blocks`' blocks in one (resamples, len(cols)) matrix: the whole draw at once, for a small set
    (the scorers take it block by block, :func:`blockwise`)."""
    return np.concatenate(list(count_blocks(n, cols, stream, groups)))


#: what a scorer gives for a block of resamples (:func:`blockwise`): one value per resample (an array), or a dict of
#: such, nested (the per-class figures of a crop-type set, the metrics of each crop)
F = TypeVar("F", np.ndarray, dict[str, Any])


def _joined(parts: list[Any]) -> Any:
    """The blocks' figures end to end: arrays concatenated, dicts key by key."""
    if isinstance(parts[0], dict):
        return {k: _joined([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def blockwise(score: Callable[[np.ndarray], F], blocks: Iterable[np.ndarray]) -> F:
    """``score`` (a block's counts → its figures, :data:`F`) on each of ``blocks``
    (:func:`count_blocks`) in turn, the figures joined in the resamples' order: what ``score`` gives on the whole
    matrix, while only one block of counts (and ``score``'s temporaries of it) is held. ``score`` must treat each
    resample on its own (a row's figure may not depend on the rows beside it: :func:`resample_sums`)."""
    return cast(F, _joined([score(b) for b in blocks]))


def resample_sums(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each row's ``Σ w·x`` (``w``: counts, one row per resample; ``x``: a value per column), summed row by row: a
    BLAS product ``w @ x`` rounds a row's sum by how many rows it is handed (its kernels take rows in fours, its
    threads split them), so a block's sums of fractional values would not be the whole matrix's bit for bit. Integer
    ``x`` (counts, 0/1) sums exactly either way, and may take ``@``."""
    return (np.asarray(w) * np.asarray(x, dtype=np.float64)).sum(axis=1)


#: ``(k, n)`` → how often each of the ``k``-th held-out season's ``n`` scored fields is drawn in each resample:
#: (resamples, n) in blocks of rows (:func:`count_blocks`) — a bootstrap stratified by season (the yield targets, the
#: crop-type leave-one-season-out means)
Counts = Callable[[int, int], Iterable[np.ndarray]]


def season_draws(k: int, n: int, groups: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """The ``k``-th held-out season's draws of its ``n`` fields, in blocks: its own stream of the shared seed (stream
    ``k + 1``; stream 0 is the one every unstratified interval draws), so that seasons with as many fields are not
    drawn alike. ``groups``: the season's fields' group codes (:func:`group_codes`): its groups drawn whole, within
    it."""
    return count_blocks(n, np.arange(n), stream=k + 1, groups=groups)


def grouped_season_draws(groups: Sequence[np.ndarray | None]) -> Counts:
    """:data:`Counts` of a bootstrap stratified by season and clustered within each: the ``k``-th held-out season's
    groups (``groups[k]``, :func:`group_codes` of its fields in order; None: every field its own) drawn with
    replacement on that season's own stream (:func:`season_draws`)."""
    def counts(k: int, n: int) -> Iterator[np.ndarray]:
        return season_draws(k, n, groups[k])
    return counts


def percentile_interval(values: np.ndarray) -> list[float] | None:
    """The :data:`INTERVAL` level's percentile interval of the resampled ``values`` (NaN: a resample without the
    figure, left out), rounded to 6 decimals (as the finest figure beside it: an interval rounded coarser than its
    figure could seem to exclude it); None when no resample has it."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    a = (1.0 - float(INTERVAL["level"])) / 2.0
    return [round(float(np.quantile(v, a)), 6), round(float(np.quantile(v, 1.0 - a)), 6)]


def exact_interval(k: int, n: int) -> list[float] | None:
    """The exact (Clopper–Pearson) 95% interval of ``k`` of ``n``, rounded as :func:`percentile_interval` rounds."""
    from scipy.stats import beta

    if n <= 0:
        return None
    lo = 0.0 if k <= 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k >= n else float(beta.ppf(0.975, k + 1, n - k))
    return [round(lo, 6), round(hi, 6)]


#: how an interval is drawn when the bootstrap's has no width (the ``interval_exact`` lists of the evaluations)
EXACT_METHOD = "exact binomial (the bootstrap's interval had no width)"


def share_interval(values: np.ndarray, k: int, n: int, units: int | None = None
                   ) -> tuple[list[float] | None, bool]:
    """The 95% interval of a share ``k`` of ``n`` from its resampled ``values`` (:func:`percentile_interval`), and
    whether it is exact instead: all or none of the cases right makes every resample alike, an interval of no width
    (50 of 50 never-planted fields found: 100–100%) that a target of 95% was judged met by — the exact binomial
    interval then (92.9–100%: the target inside it), of the ``units`` draws holding the cases
    (:func:`exact_when_alike`)."""
    return exact_when_alike(percentile_interval(values), k, n, units)


def exact_when_alike(iv: list[float] | None, k: int, n: int, units: int | None = None
                     ) -> tuple[list[float] | None, bool]:
    """``iv`` (a share ``k`` of ``n``'s bootstrap interval), or the exact binomial interval when it has no width and
    all or none of the cases are right (:func:`share_interval`), and whether it was replaced. ``units``: how many
    independent draws of the bootstrap hold the ``n`` cases (:func:`draw_units`: the fields a season's alerts lie
    on, the farmers under ``--interval-by farmer``); the cases of one draw go together, so the exact interval is
    of the draws — 40 of 40 alerts on 6 fields is 6 of 6 (None: each case its own draw)."""
    if iv is not None and iv[0] == iv[1] and n > 0 and k in (0, n):
        u = n if units is None else max(1, min(int(units), n))
        return exact_interval(u if k else 0, u), True
    return iv, False


def draw_units(keys: Iterable[Any], groups: Mapping[str, Any] | np.ndarray | None = None) -> int:
    """How many independent draws of a bootstrap hold the cases of ``keys``: with ``groups`` an array of cluster
    codes (:func:`group_codes`), ``keys`` is a boolean mask over it and the count is of its distinct codes; with a
    mapping (field → group key), ``keys`` are field ids and a field without a key (absent, None, NaN, blank) is its
    own draw; without groups,
    the distinct ``keys``."""
    if isinstance(groups, np.ndarray):
        return int(np.unique(groups[np.asarray(keys, dtype=bool)]).size)
    if groups is None:
        return len({str(k) for k in keys})

    def unit(k: Any) -> tuple[str, Any]:
        g = groups.get(str(k))  # a field without a key (None, NaN, blank) is its own draw, as group_codes has it
        missing = g is None or (isinstance(g, float) and math.isnan(g)) or not str(g).strip()
        return ("field", str(k)) if missing else ("group", g)

    return len({unit(k) for k in keys})


def interval_text(lo: float, hi: float, spec: str = ".3f") -> str:
    """An interval's bounds as printed beside its figure: "lo–hi", or "lo to hi" when the format shows signs
    (``spec`` starting with "+") or a bound is negative — "-0.17–-0.07" reads as a subtraction."""
    sep = " to " if spec.startswith("+") or min(float(lo), float(hi)) < 0 else "–"
    return f"{float(lo):{spec}}{sep}{float(hi):{spec}}"


#: what :func:`_kth` reads order statistics from: the values in ascending order, each resample's cumulative counts
#: in that order, and each resample's number of draws
Draws = tuple[np.ndarray, np.ndarray, np.ndarray]


def sorted_draws(values: np.ndarray, counts: np.ndarray) -> Draws:
    """Sort ``values`` once and accumulate each row of ``counts`` (how often each value is drawn) in that order, so
    that every quantile of every resample is read off without building the repeated values."""
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        c = c.astype(np.int64)
    order = np.argsort(values, kind="stable")
    cum = np.take(c, order, axis=1)
    np.cumsum(cum, axis=1, out=cum)
    total = cum[:, -1] if cum.shape[1] else np.zeros(len(cum), dtype=np.int64)
    return np.asarray(values, dtype=np.float64)[order], cum, total


def _kth(sorted_values: np.ndarray, cum: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row, the ``k``-th smallest (0-based) of the repeated values: the first value whose cumulative count
    exceeds ``k``. Rows are assumed to hold more than ``k`` values."""
    return sorted_values[(cum > k[:, None]).argmax(axis=1)]


def draws_median(draws: Draws) -> np.ndarray:
    """Each resample's median of :func:`sorted_draws`' values (see :func:`repeated_median`); NaN where it drew none."""
    v, cum, total = draws
    out = np.full(len(cum), np.nan)
    ok = total > 0
    c, n = cum[ok], total[ok]
    out[ok] = (_kth(v, c, (n - 1) // 2) + _kth(v, c, n // 2)) / 2.0
    return out


def draws_quantile(draws: Draws, q: float) -> np.ndarray:
    """Each resample's ``q`` quantile of :func:`sorted_draws`' values (see :func:`repeated_quantile`)."""
    v, cum, total = draws
    out = np.full(len(cum), np.nan)
    ok = total > 0
    c, n = cum[ok], total[ok]
    h = (n - 1).astype(np.float64) * q
    lo = np.floor(h)
    gamma = h - lo
    lo_i = lo.astype(np.int64)
    a = _kth(v, c, lo_i)
    b = _kth(v, c, np.minimum(lo_i + 1, n - 1))
    diff = b - a
    out[ok] = np.where(gamma >= 0.5, b - diff * (1.0 - gamma), a + diff * gamma)
    return out


def repeated_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per row of ``counts`` (how often each of ``values`` is drawn), ``np.median(np.repeat(values, row))`` bit for
    bit — the mean of the two middle values as numpy takes it, so an all-ones row gives the reported median exactly —
    without building the repeated array; NaN where a row draws nothing."""
    return draws_median(sorted_draws(values, counts))


def repeated_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Per row of ``counts``, ``np.quantile(np.repeat(values, row), q)`` with numpy's default linear method, bit for
    bit: the virtual index (n − 1)·q, its two neighbouring order statistics and numpy's two-sided interpolation
    between them (from the lower one below a fraction of one half, from the upper one above). NaN where a row draws
    nothing."""
    return draws_quantile(sorted_draws(values, counts), q)
