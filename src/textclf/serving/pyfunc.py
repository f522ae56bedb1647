"""The MLflow ``PythonModel`` every textclf model is saved as: reads the saved state, tags a
DataFrame's ``text`` column, and with ``params={"explain": True}`` says why (``explain``)."""

from __future__ import annotations

import pandas as pd

from .reader import load_state
from .tagging import tag_texts

EXPLAIN_PARAM = "explain"  # in the model's signature: mlflow models serve passes it through


class BadInput(ValueError):
    """The caller's input cannot be tagged; MLflow's server answers it with 400 and this message."""


class SavedModel:
    """A saved model's estimator and decision rule, read from its state folder; ``predict`` tags
    a DataFrame's ``text`` column. (``textclf predict`` uses it directly on a local store.)"""

    def __init__(self, state_folder: str):
        self.estimator, self.decision = load_state(state_folder)

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """``label`` (or ``labels``) and ``prob_<class>`` columns; with ``params={"explain": True}``
        also ``explanation``, a list of one explanation a label (``explain``)."""
        if "text" not in model_input.columns:
            raise BadInput(f"input needs a 'text' column; it has {list(model_input.columns)}")
        missing = model_input["text"].isna().to_numpy()
        if missing.any():  # a JSON null: no text to tag (an empty string is one, tagged by the prior)
            rows = ", ".join(map(str, missing.nonzero()[0][:10]))
            raise BadInput(f"text is null in row(s) {rows} (counted from 0): send a string for every row")
        explain = bool((params or {}).get(EXPLAIN_PARAM, False))
        return tag_texts(self.estimator, self.decision, model_input["text"].astype(str).tolist(), explain)


def python_model():
    """A ``PythonModel`` (built on call: mlflow is imported only where a model is saved or loaded)."""
    import mlflow

    class TextclfModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.saved = SavedModel(context.artifacts["state"])

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            try:
                return self.saved.predict(model_input, params)
            except BadInput as error:  # the caller's mistake: MLflow's server then says it, without a stack trace
                raise mlflow.exceptions.MlflowException.invalid_parameter_value(str(error)) from None

    return TextclfModel()
