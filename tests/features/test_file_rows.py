"""Where a row of a user's file is, as the messages name it (features.errors.file_rows)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from features.errors import file_rows, remember_csv


def test_a_csv_row_is_the_line_its_record_starts_on_as_pandas_reads_the_records(tmp_path: Path) -> None:
    """Blank and white-space lines (pandas skips them) and a quoted cell over two lines counted; a row of commas
    only is a record (pandas reads it as one)."""
    p = tmp_path / "t.csv"
    p.write_text('\na,b\n1,2\n\n   \n3,4\n,\n"x\ny",5\n\t\n6,7\n')
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    assert df["a"].tolist() == ["1", "3", "", "x\ny", "6"]
    assert file_rows(str(p), range(5)) == ["line 3", "line 6", "line 7", "line 8", "line 11"]
    kept = tmp_path / "k.csv"  # a quoted "" and a no-break space alone are rows to pandas (a review)
    kept.write_text('a,b\n1,2\n""\n\u00a0\n   \n3,4\n')
    assert pd.read_csv(kept, dtype=str, keep_default_na=False)["a"].tolist() == ["1", "", "\u00a0", "3"]
    assert file_rows(str(kept), range(4)) == ["line 2", "line 3", "line 4", "line 6"]
    assert file_rows(str(tmp_path / "gone.csv"), [0, 3]) == ["line 2", "line 5"]  # unreadable: counted from the header
    assert file_rows("t.parquet", [0, 3]) == ["row 1", "row 4"]


def test_a_csv_named_by_its_file_name_is_found_once_read_and_an_edit_is_seen(tmp_path: Path) -> None:
    name = f"apps-{tmp_path.name}.csv"  # a name no other test reads
    p = tmp_path / name
    p.write_text("a,b\n\n1,2\n")
    assert file_rows(name, [0]) == ["line 2"]  # never read (and not in the working folder): from the header
    remember_csv(p)
    assert file_rows(name, [0]) == ["line 3"]
    p.write_text("a,b\n\n\n1,2\n")
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    assert file_rows(name, [0]) == ["line 4"]
