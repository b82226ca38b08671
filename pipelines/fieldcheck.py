"""Validation report of a field file (the library behind ``agcredit fields validate``)."""

from __future__ import annotations

from pathlib import Path

from features.errors import FieldsError, UserInputError
from features.fields import (
    NEEDED_FOR,
    ReadResult,
    held_farmers,
    overlap_fractions,
    partial_rows,
    read_fields,
    write_rejects,
)

__all__ = ["refuse_rejected", "validate_file", "validation_report"]


def refuse_rejected(read: ReadResult, season: str, *, hint: str = "") -> None:
    """A deciding run (underwrite, reunderwrite) refuses a fields file with rejected fields of its season
    (:meth:`features.fields.ReadResult.rejected_of`: a geometry that is not a polygon or cannot be repaired, the same
    land under a second id): a farmer decided on the rest of their fields is decided on part of their land, and the
    decision is permanent (a corrected re-run is "already decided"). ``hint``: how that command sets such rows aside
    instead (``--rejects``)."""
    bad = read.rejected_of(season)
    if bad:
        raise FieldsError(source=read.source, problem=f"field(s) of season {season} rejected: a farmer is not "
                          "decided on part of their land — correct the rows"
                          + (f", or {hint}" if hint else "") + f" (`agcredit fields validate {read.source}` "
                          "lists them)", offenders=[f"{k} ({v})" for k, v in bad.items()])

#: the runs that refuse a file without each optional column of :data:`features.fields.NEEDED_FOR`
_NEEDED_BY = {"declared_crop": "monitor, reunderwrite and report with --imagery, and every run on a county folder",
              "region": "monitor, reunderwrite, report with --imagery, underwrite without --features, features build "
                        "and value"}


def validation_report(path: str | Path, *, season: str | None = None, strict: bool = False,
                      rejects: str | Path | None = None) -> str:
    """Read, repair and check a field file; return a short human report. ``rejects``: a CSV file for the rows that
    fail a row-level check (:func:`features.fields.write_rejects`), which are set aside instead of refusing the file."""
    return validate_file(path, season=season, strict=strict, rejects=rejects)[0]


def validate_file(path: str | Path, *, season: str | None = None, strict: bool = False,
                  rejects: str | Path | None = None) -> tuple[str, int, list[str]]:
    """:func:`validation_report`, how many rows set aside into ``rejects`` make the run partial
    (:func:`features.fields.partial_rows`: of ``season``, or of a season that cannot be read), and the fields
    rejected (a geometry that is not a polygon or cannot be repaired, the same land under a second id: the deciding
    runs refuse a file with any of their season, :func:`refuse_rejected`)."""
    if rejects is not None and strict:
        raise UserInputError("--strict refuses the file on a geometry that cannot be repaired, --rejects sets such "
                             "rows aside: give one of them")
    if rejects is not None:
        from features.atomic import check_writable

        check_writable(rejects, what="rejects file")
    # a region without a season window: refused as features build, underwrite and the other runs refuse it
    res = read_fields(path, season=season, strict=strict, check_regions=True, set_aside=rejects is not None)
    f = res.fields
    ov = overlap_fractions(f)
    lines = [
        f"fields file: {Path(path).name} ({f.crs.to_string() if f.crs else 'no CRS'})",
        f"  valid fields:     {len(f)} in {f['season'].nunique()} season(s), {f['farmer_token'].nunique()} farmer(s)",
        f"  repaired:         {len(res.repaired)}" + (f" ({', '.join(res.repaired[:5])}{' …' if len(res.repaired) > 5 else ''})" if res.repaired else ""),
    ]
    for fid, change in list(res.repaired_area.items())[:20]:  # a repair that moved the area: hectares to check
        lines.append(f"    - {fid}: area changed by the repair ({change})")
    if len(res.repaired_area) > 20:
        lines.append(f"    … and {len(res.repaired_area) - 20} more")
    lines.append(f"  rejected:         {len(res.rejected)}")
    for fid, why in list(res.rejected.items())[:20]:
        lines.append(f"    - {fid}: {why}")
    if len(res.rejected) > 20:
        lines.append(f"    … and {len(res.rejected) - 20} more")
    lines.append(f"  implausibly big:  {len(res.large)}" + (f" ({', '.join(res.large[:5])}"
                                                          f"{' …' if len(res.large) > 5 else ''})" if res.large else ""))
    lines.append(f"  below one pixel:  {len(res.small)}" + (f" ({', '.join(res.small[:5])}"
                                                          f"{' …' if len(res.small) > 5 else ''}; under 100 m², the "
                                                          "imagery cannot measure them)" if res.small else ""))
    n_ov = int((ov > 0.05).sum())
    lines.append(f"  overlapping >5%:  {n_ov} (with another farmer's field)")
    lines.append(f"  total area:       {res.total_area_ha:,.2f} ha (equal-area)")
    # optional in the contract, but most runs refuse the file without them: said here, not first by those runs
    for col in NEEDED_FOR:
        if col in res.absent or col not in f.columns:
            lines.append(f"  warning: no {col} column: {_NEEDED_BY[col]} refuse the file ({NEEDED_FOR[col]})")
    if rejects is not None:
        write_rejects(res.set_aside, rejects)
        lines.append(f"{len(res.set_aside)} rows rejected (see {rejects})")
        held = held_farmers(res.set_aside, season)
        if held:
            lines.append(f"{len(held)} farmer(s) whose applications underwrite --rejects does not decide until the "
                         "rows are corrected (a row of theirs rejected, or a rejected row over one of their fields)")
    rejected = res.rejected_of(season) if season else res.rejected
    return "\n".join(lines), partial_rows(res.set_aside, season), list(rejected)
