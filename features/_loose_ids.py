"""Identifiers written differently in two files of one bank: ``0000 0271 8677`` in the Book and ``2718677`` in
the applications (a spreadsheet dropped the leading zeros), ``+91-00000-18677`` in one and ``000000 18677`` in
the other. Tokens hash an identifier as its file writes it (:func:`features.identity.farmer_token`; records hold
them, so that stays), and such a farmer silently became two: decided with no fields, a renewal not linked to its
Book line (a walkthrough). :func:`features.identity.tokenise` remembers, per token, a keyed hash of the
identifier's *loose* form — digits without leading zeros, a phone without its country code — so that a run can
tell "no such farmer" from "the same farmer written otherwise" (:func:`written_otherwise`) and refuse the latter
(:mod:`pipelines._id_spelling`). Only keyed hashes are kept, in this process's memory."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["loose_form", "remember", "written_otherwise"]

#: token → keyed hash of its identifier's loose form (this process; what tokenise has seen)
_LOOSE: dict[str, str] = {}


def loose_form(identifier: str, basis: str) -> str:
    """``identifier`` compared loosely: letters and digits only, case-folded; a phone in international form as its
    national number; a number without its leading zeros."""
    from features.identity import _norm, phone_forms

    n = _norm(identifier)
    if basis == "phone":
        forms = phone_forms(identifier)
        if forms:
            n = min(forms, key=len)  # the national number, without the trunk 0
    return (n.lstrip("0") or n) if n.isdigit() else n


def remember(tokens: Iterable[str], identifiers: Iterable[str], basis: str, key: bytes) -> None:
    """Keep each token's loose hash (called by :func:`features.identity.tokenise`)."""
    for t, v in zip(tokens, identifiers, strict=True):
        if t not in _LOOSE:
            _LOOSE[t] = hmac.new(key, b"loose\x00" + loose_form(v, basis).encode("utf-8"), hashlib.sha256).hexdigest()


def written_otherwise(tokens: Iterable[str], others: Iterable[str]) -> list[str]:
    """The tokens of ``tokens`` that are none of ``others`` but are one of them written otherwise (the same loose
    form), in order, each once."""
    other = set(others)
    loose = {_LOOSE[t] for t in other if t in _LOOSE}
    out: list[str] = []
    for t in tokens:
        if t not in other and _LOOSE.get(t) in loose and t not in out:
            out.append(t)
    return out
