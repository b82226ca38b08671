"""README cites no file a checkout lacks: no absolute path into the machine the figures were measured on (a rule, a
diagnostic script or a JSON under /work/data/ is not shipped; README says so in words, or names a command in the
repository that prints the figure)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_cites_no_path_outside_the_checkout() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    cited = sorted({m.group(0) for m in re.finditer(r"/work/[^\s`),;]*", text)})
    assert not cited, f"README.md cites paths a checkout lacks: {cited}"
