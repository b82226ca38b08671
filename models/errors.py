"""Errors of the models package."""

from __future__ import annotations

from features.errors import UserInputError, format_offenders

__all__ = ["ModelError", "MoneyError", "PriceError", "RegistryError", "RegistryUnavailableError", "ModelInputError",
           "MissingWeatherError", "RegistryArtifactsError"]


class ModelError(Exception):
    """Base of model errors that are not the user's fault."""


class MoneyError(UserInputError):
    """A money amount or currency cannot be used."""

    def __init__(self, *, where: str, value: object, expected: str, shown: bool = False) -> None:
        """``shown``: the value is quoted as it is (an amount the caller found not shaped like a phone or ID number,
        :func:`models.money.to_minor`), else only when it does not look personal (:func:`features.identity.quoted`)."""
        self.where = where
        self.value = value
        self.expected = expected
        from features.identity import quoted

        super().__init__(f"{where}: expected {expected}, found {repr(value) if shown else quoted(value)}")


class PriceError(UserInputError, LookupError):
    """No usable price for a crop, region and season, or mixed currencies."""

    def __init__(self, *, problem: str, offenders: list[object] | tuple[object, ...] = ()) -> None:
        self.problem = problem
        self.offenders = list(offenders)
        msg = f"price table: {problem}"
        if self.offenders:
            msg += f": {format_offenders(self.offenders)}"
        super().__init__(msg)


class RegistryError(UserInputError, LookupError):
    """The model registry is missing, or a model or alias is not there."""

    def __init__(self, *, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"model registry: {problem}" + (f" ({fix})" if fix else ""))


class RegistryArtifactsError(UserInputError):
    """A registered model's files cannot be fetched to this host: its artifacts are out of reach (a path of the
    tracking server's host) or the local model cache folder cannot be written.

    Not a :class:`RegistryError`: a caller falling back when a model is missing (no crop-type champion) must not
    fall back when the model is there but this host cannot read it."""

    def __init__(self, *, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"model registry: {problem}" + (f" ({fix})" if fix else ""))


class RegistryUnavailableError(UserInputError):
    """The model registry at a URI cannot be used at all: unsupported scheme, missing database driver, no connection.

    Not a :class:`RegistryError`: callers that fall back when a model is missing must not fall back when the
    registry itself is out of reach. ``uri`` is shown with any password masked.
    """

    def __init__(self, *, uri: str, problem: str, fix: str = "", connect: bool = False) -> None:
        self.uri = uri
        self.problem = problem
        self.fix = fix
        self.connect = connect
        head = f"cannot connect to the model registry {uri}" if connect else f"cannot open the model registry {uri}"
        super().__init__(f"{head}: {problem}" + (f" ({fix})" if fix else ""))


class ModelInputError(UserInputError):
    """Features handed to a model lack columns it was trained on, or carry unseen ones."""

    def __init__(self, *, model: str, missing: list[str], unseen: list[str]) -> None:
        self.model = model
        self.missing = missing
        self.unseen = unseen
        parts = []
        if missing:
            parts.append(f"missing columns {format_offenders(missing)}")
        if unseen:
            parts.append(f"unseen columns {format_offenders(unseen)}")
        super().__init__(f"{model}: features do not match the training columns: " + "; ".join(parts))


class MissingWeatherError(ModelInputError):
    """A model that reads weather features scored on rows without them (no weather file given)."""

    def __init__(self, *, model: str, missing: list[str]) -> None:
        super().__init__(model=model, missing=missing, unseen=[])
        shown = ", ".join(missing[:5]) + (f", … ({len(missing)} in all)" if len(missing) > 5 else "")
        self.args = (f"{model}: this model reads weather features ({shown}) but the features carry "
                     "none: give the weather file (--weather F, the features.weather table; a county folder's "
                     "weather/daily.csv)",)
