"""Errors of the underwriting package."""

from __future__ import annotations

from features.errors import PicklableError, UserInputError, format_offenders

__all__ = ["ApplicationsError", "PolicyError", "StoreError", "StoreChangedError", "TokenKeyError", "AuditChainError"]


class ApplicationsError(UserInputError):
    """An applications or book table cannot be used."""

    def __init__(self, *, source: str, problem: str, offenders: list[object] | tuple[object, ...] = ()) -> None:
        self.source = source
        self.problem = problem
        self.offenders = list(offenders)
        msg = f"{source}: {problem}"
        if self.offenders:
            msg += f": {format_offenders(self.offenders)}"
        super().__init__(msg)


class TokenKeyError(UserInputError):
    """Personal identifiers are present but no key to pseudonymise them."""

    def __init__(self, *, source: str, env: str) -> None:
        self.source = source
        self.env = env
        super().__init__(
            f"{source}: personal identifiers found but {env} is not set "
            f"(set it to a secret of at least 16 characters to derive farmer tokens)"
        )


class PolicyError(UserInputError):
    """A policy file is invalid."""

    def __init__(self, *, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        # a whole-file problem (key "<file>" or "<document>") names the file only
        super().__init__(f"{source}: {problem}" if key.startswith("<") else f"{source}: '{key}': {problem}")


class StoreError(UserInputError):
    """The decision store cannot be opened or used."""

    def __init__(self, *, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"decision store {url}: {problem}")


class StoreChangedError(StoreError):
    """Another run wrote records this run would fork (it superseded the same record first); nothing was written."""


class AuditChainError(PicklableError):
    """The decision chain is broken at a record."""

    def __init__(self, *, record_id: str, position: int, problem: str) -> None:
        self.record_id = record_id
        self.position = position
        self.problem = problem
        super().__init__(f"audit chain broken at record {position} ({record_id}): {problem}")
