"""Model settings checked before training starts, not minutes into ``fit``."""

from __future__ import annotations

from numbers import Integral

from textclf.errors import UserError


def check_estimator_params(estimator, label_names=None) -> None:
    """Validate every (nested) scikit-learn estimator's parameters now, not minutes into ``fit``;
    with ``label_names`` (the data's), also what a step asks of the label set (``check_label_set``:
    a zero-shot model's descriptions)."""
    from sklearn.utils._param_validation import InvalidParameterError

    parts = [estimator, *(v for v in estimator.get_params(deep=True).values() if hasattr(v, "get_params"))]
    for part in parts:
        if hasattr(part, "_parameter_constraints"):  # only scikit-learn's own classes declare them
            try:
                part._validate_params()
            except InvalidParameterError as error:
                raise UserError(f"bad model setting: {error} Fix: change that model.* or features.* value") from None
            _check_ngram_ranges(part)
        if label_names is not None and hasattr(part, "check_label_set"):  # after its settings' shape is checked
            part.check_label_set(label_names)


def _check_ngram_ranges(part) -> None:
    """scikit-learn checks only that an n-gram range is a tuple: ``features.word_ngram_range=abc``
    arrives as ``('a', 'b', 'c')`` and fails mid-fit with a message that names no setting."""
    params = part.get_params(deep=False)
    for name, value in params.items():
        if not name.endswith("ngram_range") or _is_ngram_range(value):
            continue
        # textclf's word and character features take word_ngram_range and char_ngram_range from
        # the features config; a TfidfVectorizer takes one of them as ngram_range (configs/features/)
        kind = name.removesuffix("_ngram_range") if name != "ngram_range" else \
            "word" if params.get("analyzer") == "word" else "char"
        key = f"features.{kind}_ngram_range"
        raise UserError(f"{key} must be two whole numbers [min, max] with 1 <= min <= max, got "
                        f"{list(value) if isinstance(value, tuple) else value!r}. Fix: pass e.g. {key}=[1,2]")


def _is_ngram_range(value) -> bool:
    whole = [isinstance(n, Integral) and not isinstance(n, bool) for n in value] if isinstance(value, (tuple, list)) else []
    return len(whole) == 2 and all(whole) and 1 <= value[0] <= value[1]
