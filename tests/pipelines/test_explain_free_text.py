"""``explain`` prints a record's free text (an override's reason, operator) on one line, whatever it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.money import format_minor
from models.yield_value import YieldModel
from tests.pipelines.test_explain import (
    AS_OF,
    SEASON,
    applications,
    loader_for,
    synthetic_features,
    train_model,
    underwrite_synthetic,
)

#: the reviewer's reason: a blank line, a forged "Override:" line, then a cursor-up and erase-line escape
FORGED = "visit ok\n\nOverride: REDUCE USD 1.00 -> APPROVE USD 9,999.00 by chief, approved by cro \x1b[1A\x1b[2K"


@pytest.fixture(scope="module")
def model() -> YieldModel:
    return train_model()


def test_a_stored_reason_cannot_forge_lines_of_explain(tmp_path: Path, model: YieldModel,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reason stored with line breaks and terminal escapes (before such reasons were refused) was printed as its
    own lines: explain showed the forged "Override: ..." line three times (the override step, the waterfall, the
    Override block) and the terminal obeyed its escapes. Each is printed escaped, on the line it belongs to."""
    import underwriting.override as ov_mod
    from pipelines.explain import explain

    url = f"sqlite:///{tmp_path / 'ov.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid = items[0].application_id
    monkeypatch.setattr(ov_mod, "plain_text_problem", lambda *a: None, raising=False)  # a record written before the check
    ov_mod.override(url, aid, format_minor(items[0].limit - 50_000, "USD").split(" ")[1], FORGED,
                    "ana\u202e", as_of="2025-08-20")
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    lines = text.splitlines()
    assert not any(line.startswith("Override:") for line in lines)
    assert "\x1b" not in text and "\u202e" not in text
    shown = "visit ok\\n\\nOverride: REDUCE USD 1.00 -> APPROVE USD 9,999.00 by chief, approved by cro \\x1b[1A\\x1b[2K"
    assert sum(shown in line for line in lines) == 3
    assert "ana\\u202e" in text


def test_a_typed_backslash_n_does_not_print_like_a_stored_line_break(tmp_path: Path, model: YieldModel) -> None:
    """A reason typed with the two characters backslash-n (allowed: it is plain text) printed exactly as a stored
    line break of a record written before the check is printed (``\\n``): the reader could not tell them apart (a
    review of 2026-12-06). A backslash prints doubled, so the two differ."""
    import underwriting.override as ov_mod
    from pipelines.explain import explain
    from underwriting._free_text import escaped

    assert escaped("a\\nb") == "a\\\\nb" and escaped("a\nb") == "a\\nb" and escaped("plain") == "plain"
    url = f"sqlite:///{tmp_path / 'ov.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid = items[0].application_id
    ov_mod.override(url, aid, format_minor(items[0].limit - 50_000, "USD").split(" ")[1], "see memo\\n42",
                    "ana", as_of="2025-08-20")
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "see memo\\\\n42" in text and "see memo\\n42" not in text.replace("see memo\\\\n42", "")


def test_a_field_id_holding_a_backslash_is_shown_as_stored(tmp_path: Path, model: YieldModel) -> None:
    """A review (session 77): explain doubled every backslash of its page (``plot\\\\0001: included``) where only an
    override's free text is meant to be (README): a field id, as stored, in the JSON and in the export, read otherwise
    on the page. Only the reason, operator and approver are doubled."""
    import underwriting.override as ov_mod
    from pipelines.explain import explain
    from underwriting._free_text import escaped

    assert escaped("a\\b", doubled=False) == "a\\b" and escaped("a\nb", doubled=False) == "a\\nb"
    url = f"sqlite:///{tmp_path / 'ov.db'}"
    feats, _ = synthetic_features(np.random.default_rng(7), 2, SEASON, AS_OF, n_farmers=1)
    feats["field_id"] = [f"plot\\{i:04d}" for i in range(len(feats))]
    items = underwrite_synthetic(url, model, feats, applications(feats, {"tok-00000": 900_000_000}))
    aid = items[0].application_id
    ov_mod.override(url, aid, format_minor(items[0].limit - 50_000, "USD").split(" ")[1], "see memo\\n42",
                    "ana", as_of="2025-08-20")
    text = explain(url, aid, model_loader=loader_for(model, [])).render()
    assert "plot\\0000" in text and "plot\\\\0000" not in text, text
    assert "see memo\\\\n42" in text
