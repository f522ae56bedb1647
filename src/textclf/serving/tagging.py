"""What a saved model returns for texts: a label (or labels) and one probability per class."""

from __future__ import annotations

import numpy as np
import pandas as pd


def predictions_frame(decision, labels: list[tuple[str, ...]], probabilities: np.ndarray) -> pd.DataFrame:
    """``label`` (or ``labels``, a list), then ``prob_<class>`` columns."""
    frame = pd.DataFrame({decision.output_column: decision.output_values(labels)})
    for j, name in enumerate(decision.classes):
        frame[f"prob_{name}"] = probabilities[:, j].astype(float)
    return frame


def tag_texts(estimator, decision, texts: list[str]) -> pd.DataFrame:
    """The served output for ``texts``."""
    probabilities = np.asarray(estimator.predict_proba(texts))
    return predictions_frame(decision, decision.labels(probabilities), probabilities)
