"""Policy versions in order (private to :mod:`underwriting.policy`): :func:`version_key` sorts them,
:func:`version_order` compares two where a rule says which is later.
"""

from __future__ import annotations

import re

_VERSION_PART = re.compile(r"([0-9]*)(.*)\Z", re.S)


def _version_parts(version: str) -> list[tuple[int | None, str]]:
    """A version's dot-separated parts, a leading ``v`` dropped (``v2026.12.9`` is ``2026.12.9``): each its leading
    number (None: it has none) and the rest, its suffix (``10-adv70``: 10 and ``-adv70``)."""
    text = str(version).strip()
    if text[:1] in ("v", "V") and text[1:2].isdigit():
        text = text[1:]
    out: list[tuple[int | None, str]] = []
    for part in text.split("."):
        m = _VERSION_PART.match(part)
        assert m is not None  # matches any string
        out.append((int(m[1]) if m[1] else None, m[2]))
    return out


def same_version(version: str) -> str:
    """The one spelling of ``version`` that every spelling :func:`version_order` reads as the same version shares
    (``v2026.12.10``, `` 2026.12.10``, ``2026.12.010`` and ``2026.12.10.0`` are ``2026.12.10``): what identifies a
    version where a store or the archive keys a content by it — a file spelling a released number otherwise is
    that release (a review: ``v2026.12.10`` with other rules passed as a new version)."""
    parts = _version_parts(version)
    while len(parts) > 1 and parts[-1] == (0, ""):
        parts.pop()
    return ".".join(f"{num}{suffix}" if num is not None else suffix for num, suffix in parts)


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key of a policy version: its dot-separated parts in turn, each by its leading number, then by the rest
    (``2026.12.9`` < ``2026.12.10`` < ``2026.12.10.1`` < ``2026.12.10-adv70`` < ``2026.12.11`` < ``2026.12.11-rc1``);
    a leading ``v`` dropped, a part without a number before any numbered one. A suffixed part (``10-adv70``, ``11-rc1``) is a variant (or pre-release) of its number, whose
    order against that number no rule gives: listed after it, but :func:`version_order` does not order the two."""
    return tuple((0, -1, suffix) if num is None else (1, num, suffix) for num, suffix in _version_parts(version))


def version_order(a: str, b: str) -> int | None:
    """-1, 0 or 1 as version ``a`` is earlier than, the same as (``v2026.12.9``, ``2026.12.09``) or later than ``b``,
    part by part by their numbers (``2026.12.10`` after ``2026.12.9``; ``2026.12.10-adv70`` after ``2026.12.9`` and
    ``2026.12.11-rc1`` after ``2026.12.10``: the number decides; a missing part counts 0). None when they cannot be
    ordered: before any differing number, a part has no number (``beta``), or two parts of equal number have other
    suffixes (``2026.12.10-adv70`` against ``2026.12.10`` or ``2026.12.10-rc1``: a variant or a pre-release of the
    same numbered version — which comes later is the bank's naming, not a rule)."""
    pa, pb = _version_parts(a), _version_parts(b)
    width = max(len(pa), len(pb))
    pa += [(0, "")] * (width - len(pa))
    pb += [(0, "")] * (width - len(pb))
    for (na, sa), (nb, sb) in zip(pa, pb, strict=True):
        if na is None or nb is None:
            return None
        if na != nb:
            return -1 if na < nb else 1
        if sa != sb:
            return None
    return 0
