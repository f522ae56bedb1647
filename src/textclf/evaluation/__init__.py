"""Scoring a fitted model: metrics, report tables, plots and the report files of a run."""

# What a run's summary and `textclf compare` show first, per task: a multi-label subset accuracy
# is not comparable with a multi-class accuracy, so each task has its own. No import here: the
# compare command reads this without loading scikit-learn.
HEADLINE_METRICS = {
    "multiclass": ("validation/macro_f1", "test/macro_f1", "test/accuracy", "fit_seconds"),
    "multilabel": ("validation/macro_f1", "test/macro_f1", "test/subset_accuracy", "fit_seconds"),
}

LOWER_IS_BETTER = ("loss", "seconds", "_ms")  # metric names ending so are better when smaller


def lower_is_better(metric: str) -> bool:
    """Whether a smaller ``metric`` is better (a loss, a time): for ranking runs and for the champion."""
    return metric.endswith(LOWER_IS_BETTER)
