"""`report portfolio --csv`: the page and its CSV tables are written all or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.errors import UserInputError
from pipelines.report import render_portfolio
from tests.pipelines.test_report import _data


def test_a_page_that_cannot_be_written_leaves_no_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CSV tables were written before the page: when the page could not be written, the tables were left
    without it (a partial output). Every output is now built in memory and every path checked before any is
    written, and a write failing part way takes back what the run wrote."""
    data = _data()
    out, csv = tmp_path / "pages", tmp_path / "csv"
    (out / f"portfolio-{data.season}.html").mkdir(parents=True)  # the page's path is a folder: it cannot be written
    with pytest.raises(UserInputError, match=r"portfolio-.*\.html: the report is a folder"):
        render_portfolio(data, out, csv_dir=csv)
    assert not csv.exists() or not any(csv.iterdir())
    # a write failing after the checks (a full disk): the tables written are removed, one replaced is put back
    import features.atomic

    csv.mkdir()
    (csv / f"alerts-{data.season}.csv").write_text("old\n")
    (out / f"portfolio-{data.season}.html").rmdir()
    real = features.atomic.write_bytes_atomic

    def full(b: bytes, path: Path, *a: object, **k: object) -> Path:
        if path.suffix == ".html":
            raise OSError(28, "No space left on device")
        return real(b, path)

    monkeypatch.setattr(features.atomic, "write_bytes_atomic", full)
    with pytest.raises(OSError, match="No space left"):
        render_portfolio(data, out, csv_dir=csv)
    assert sorted(p.name for p in csv.iterdir()) == [f"alerts-{data.season}.csv"]
    assert (csv / f"alerts-{data.season}.csv").read_text() == "old\n"
    assert not out.exists() or not any(out.iterdir())
    monkeypatch.setattr(features.atomic, "write_bytes_atomic", real)
    page = render_portfolio(data, out, csv_dir=csv)
    assert page.is_file() and {p.name for p in csv.iterdir()} == {f"{n}-{data.season}.csv" for n in
                                                                   ("exposure", "actions", "alerts")}


def test_cli_csv_checks_every_table_path_first(tmp_path: Path) -> None:
    """--csv checked only exposure-<season>.csv could be written: an actions or alerts table's path that could
    not be written was found only after the county was read. Each table's path is checked first (one line,
    exit 2)."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    csv = tmp_path / "csv"
    (csv / "actions-2024.csv").mkdir(parents=True)
    r = CliRunner().invoke(app, ["report", "portfolio", "--out", str(tmp_path / "p"), "--season", "2024", "--csv",
                                 str(csv), "--store", f"sqlite:///{tmp_path / 'none.db'}"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.strip() == f"error: {csv / 'actions-2024.csv'}: the report --csv is a folder (expected a file path)"
    assert not (tmp_path / "none.db").exists()
