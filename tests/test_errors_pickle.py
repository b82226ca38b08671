"""Every agcredit error survives pickling with its class, message and attributes: a user error raised inside a Dask
task reached the client as a bare ``Exception`` (its keyword-only ``__init__`` refused pickle's ``cls(*args)``) and
the CLI printed a 141-line traceback with exit code 1 instead of one line with exit code 2."""

from __future__ import annotations

import pickle

import pytest

from features.errors import ContractError, FieldsError, ImageryError, UserInputError
from models.errors import MoneyError, PriceError, RegistryArtifactsError, RegistryError
from pipelines.errors import RunInputError
from underwriting.errors import ApplicationsError, AuditChainError, PolicyError, StoreError


@pytest.mark.parametrize("err", [
    ImageryError(source="S2_44NDEMO_20090705.tif", problem="unreadable scene file (RasterioIOError)"),
    FieldsError(source="fields.gpkg", problem="duplicate field ids", offenders=["F1", "F2"]),
    ContractError(table="features", column="as_of", expected="a date", found="text", offenders=["F3"]),
    MoneyError(where="limit", value="1e4", expected="digits"), PriceError(problem="no price", offenders=["x"]),
    RegistryError(problem="no champion", fix="train one"), RegistryArtifactsError(problem="unread", fix="serve"),
    RunInputError(what="value", problem="no fields"),
    ApplicationsError(source="apps.csv", problem="bad"), PolicyError(source="p.yaml", key="k", problem="bad"),
    StoreError(url="sqlite:///x.db", problem="locked"), UserInputError("plain"),
    AuditChainError(record_id="r1", position=3, problem="hash"),
])
def test_errors_round_trip_through_pickle(err: Exception) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and back.__dict__ == err.__dict__
