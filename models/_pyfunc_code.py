"""The ``mlflow.pyfunc`` face of every agcredit model, logged as MLflow "model from code".

MLflow copies this file into each logged model and runs it when ``mlflow.pyfunc.load_model`` loads one: the
wrapper is named by code, not pickled (a pickled ``python_model`` runs arbitrary code when unpickled; the agcredit
model folders themselves are LightGBM text files and JSON). Loading needs agcredit installed, as scoring does.
"""

from __future__ import annotations

from models.registry import set_pyfunc_model

set_pyfunc_model()
