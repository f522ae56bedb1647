"""Model settings checked before training starts, not minutes into ``fit``."""

from __future__ import annotations

from textclf.errors import UserError


def check_estimator_params(estimator) -> None:
    """Validate every (nested) scikit-learn estimator's parameters now, not minutes into ``fit``."""
    from sklearn.utils._param_validation import InvalidParameterError

    parts = [estimator, *(v for v in estimator.get_params(deep=True).values() if hasattr(v, "get_params"))]
    for part in parts:
        if not hasattr(part, "_parameter_constraints"):  # only scikit-learn's own classes declare them
            continue
        try:
            part._validate_params()
        except InvalidParameterError as error:
            raise UserError(f"bad model setting: {error} Fix: change that model.* or features.* value") from None
