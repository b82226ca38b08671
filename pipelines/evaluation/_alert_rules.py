"""Alert thresholds given as rules (``agcredit evaluate alerts --rule NAME=VALUE``): :func:`parse_rules` and the
params with them set (:func:`_with_rules`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields as fields_of
from dataclasses import replace
from typing import Any

import numpy as np

from features.errors import UserInputError
from pipelines.monitor import AlertParams


def parse_rules(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` texts (``agcredit evaluate alerts --rule``) as :class:`AlertParams` thresholds, each value of
    its field's type (``true``/``false`` for a switch); an unknown name, a bad value, a name given twice or
    ``timing_unit`` (``--timing``) is a one-line :class:`UserInputError`, which never quotes what was typed (it may
    be anything: the argument is named by its position) — only a known threshold's name."""
    kinds = {f.name: f.type for f in fields_of(AlertParams)}
    out: dict[str, Any] = {}
    for k, item in enumerate(items, 1):
        name, sep, text = str(item).partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise UserInputError(f"--rule (argument {k}): expected NAME=VALUE")
        if name == "timing_unit":
            raise UserInputError("--rule: the collapse timing's unit is set by --timing, not --rule")
        if name not in kinds:
            raise UserInputError(f"--rule (argument {k}): not an alert threshold; known: {', '.join(sorted(kinds))}")
        if name in out:
            raise UserInputError(f"--rule: {name} given twice")
        out[name] = _rule_value(name, str(kinds[name]), text)
    _with_rules(AlertParams(), out)  # a contradictory combination: refused here, before any replay
    return out


def _rule_value(name: str, kind: str, text: str) -> Any:
    """``text`` as the value of the threshold ``name`` of type ``kind`` (its annotation's text)."""
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        raise UserInputError(f"--rule {name}: expected "
                             f"{'true or false' if kind == 'bool' else 'a whole number' if kind == 'int' else 'a number'}"
                             ) from None
    if not np.isfinite(value):
        raise UserInputError(f"--rule {name}: expected a finite number")
    return value


def _with_rules(base: AlertParams, rules: dict[str, Any]) -> AlertParams:
    """``base`` with ``rules`` set; a contradictory combination is a one-line :class:`UserInputError`."""
    try:
        return replace(base, **rules)
    except ValueError as e:
        raise UserInputError(f"--rule: {e}") from None
