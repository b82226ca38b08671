"""The files the report commands write: their names, checked writable first, and written all or none.

Re-exported by :mod:`pipelines.report`.
"""

from __future__ import annotations

from pathlib import Path

#: the tables ``render_portfolio --csv`` writes, in this order
CSV_TABLES = ("exposure", "actions", "alerts")


def csv_table_path(csv_dir: str | Path, name: str, season: str) -> Path:
    """The path of the ``--csv`` table ``name`` (one of :data:`CSV_TABLES`) of ``season``: ``<name>-<season>.csv``."""
    return Path(csv_dir) / f"{name}-{season}.csv"


def portfolio_outputs(out_dir: str | Path, season: str, csv_dir: str | Path | None = None) -> list[tuple[Path, str]]:
    """The files :func:`render_portfolio` writes for ``season``, each ``(path, what)``: ``portfolio-<season>.html``
    in ``out_dir``, then with ``csv_dir`` each table of :data:`CSV_TABLES` there."""
    page = [(Path(out_dir) / f"portfolio-{season}.html", "report")]
    tables = [(csv_table_path(csv_dir, n, season), "report --csv") for n in CSV_TABLES] if csv_dir is not None else []
    return page + tables


def farmer_page_path(out_dir: str | Path, token: str) -> Path:
    """The page :func:`render_farmer` writes for the farmer ``token``: ``farmer-<token>.html`` in ``out_dir``."""
    return Path(out_dir) / f"farmer-{token}.html"


def check_folders(**folders: str | Path | None) -> None:
    """Refuse (one line naming the option) an output folder whose parent folder does not exist: the report creates
    its ``--out`` (``--csv``) folder, never the folders above it — a mistyped path made a tree of folders, exit 0
    (``evaluate report`` and ``models card`` refuse a missing folder the same way). ``folders``: option name (``out``,
    ``csv``) → the folder given (None: not given)."""
    from features.errors import UserInputError

    for option, given in folders.items():
        if given is None:
            continue
        p = Path(given)
        parent = p.expanduser().absolute().parent
        if not p.exists() and not parent.is_dir():
            raise UserInputError(f"--{option} {given}: its parent folder {parent} does not exist (the report creates "
                                 f"the --{option} folder, not the folders above it: create them first)")


def check_outputs(outputs: list[tuple[Path, str]]) -> None:
    """Each ``(path, what)`` checked writable (:func:`features.atomic.check_writable`: a one-line
    :class:`~features.errors.UserInputError` naming the first that is not — a folder where the file should be, a file
    where a folder should be, a read-only folder); creates nothing. The report commands call it as soon as the
    names are known, before the registry, the store or a scene is read."""
    from features.atomic import check_writable

    for path, what in outputs:
        check_folders(**{"csv" if what.endswith("--csv") else "out": path.parent})
        check_writable(path, what=what)


def _write_all(outputs: list[tuple[Path, str, str]]) -> None:
    """Write each ``(path, text, what)`` of ``outputs`` all or none: every path checked writable first
    (:func:`features.atomic.check_writable`, one-line error naming it), then every file written beside its target
    before any is renamed into place (:func:`features.atomic.write_all_atomic`): a run failing or killed while the
    files are written leaves the targets as they were; a rename failing puts back what the run replaced."""
    from features.atomic import write_all_atomic

    check_outputs([(path, what) for path, _text, what in outputs])
    write_all_atomic([(path, text.encode("utf-8")) for path, text, _what in outputs])
