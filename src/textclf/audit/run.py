"""``run_audit(cfg)``: the recipe behind ``textclf audit``.

Read the data as ``train.py`` would, but keep what it refuses, to report it (leakage, rows with
no text or no label: ``configs/audit.yaml``) and carve nothing (a label too rare to carve is said,
not fatal); pool every split, get each text's out-of-fold probabilities from each model of
``audit.models`` and average them, and run every check on the pool. Nothing is trained for keeps
and nothing is registered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from textclf.audit import checks
from textclf.audit.label_issues import LabelIssue, find_label_issues
from textclf.audit.similarity import Pair, char_tfidf, duplicate_pairs, label_similarity
from textclf.config import build
from textclf.data import Split
from textclf.data.checks import check_labels_in_train
from textclf.data.dataset import MissingRow
from textclf.data.splitting import check_carvable
from textclf.errors import UserError
from textclf.evaluation.crossval import KFold, cross_validate_pool, pool_of
from textclf.models.blas import blas_threads, check_blas_threads
from textclf.models.params import check_estimator_params
from textclf.training import seed_everything


@dataclass(frozen=True)
class AuditReport:
    """What the audit found. Rows are positions in ``pool`` (every split, in order);
    ``origins[row]`` is the split and the row within the file it was read from (counted from 0)."""

    dataset: str
    model: str
    task: str
    # each audit model's out-of-fold macro-F1 against the given labels (mean over folds): how far
    # its view of the data can be trusted; with weak models, many label issues are their mistakes
    model_scores: dict[str, float]
    pool: Split
    origins: tuple[tuple[str, int], ...]
    label_issues: tuple[LabelIssue, ...]
    duplicates: tuple[Pair, ...]
    outliers: tuple[tuple[int, float], ...]
    lengths: tuple[tuple[int, str], ...]
    counts: dict
    label_pairs: tuple[checks.LabelPair, ...]
    # rows left out of every other check: no text or no label (data.missing=drop)
    missing: tuple[MissingRow, ...] = ()
    # what train.py would refuse in this data, in its words: a label train lacks, a label too
    # rare to carve the splits not given (rows with no text or no label are in ``missing``)
    refused: tuple[str, ...] = ()

    def leakage(self) -> list[Pair]:
        """Duplicate pairs whose texts sit in different splits."""
        return [pair for pair in self.duplicates if self.origins[pair.first][0] != self.origins[pair.second][0]]

    def imbalance(self) -> float:
        """The most common label's training texts over the rarest's."""
        return checks.imbalance(self.counts)

    def found(self) -> dict[str, int]:
        """How many of each kind of problem; what the summary table, the run's metrics and
        ``--fail-on`` read."""
        return {"label_issues": len(self.label_issues), "duplicates": len(self.duplicates),
                "leakage": len(self.leakage()), "outliers": len(self.outliers), "length": len(self.lengths),
                "label_pairs": len(self.label_pairs), "missing": len(self.missing)}


def run_audit(cfg: DictConfig, models: dict[str, DictConfig]) -> AuditReport:
    """Audit the data ``cfg`` reads; ``models``: each model of ``audit.models`` by name, its config
    composed as ``model=NAME`` (``cli.audit``)."""
    seed_everything(cfg.seed)
    check_blas_threads(cfg.blas_threads)
    check_every_row_read(cfg.data)
    dataset = build(cfg.data, "data", for_audit=True)
    task = build(cfg.task, "task")
    estimators = {name: _built(name, model, task, dataset.label_names) for name, model in models.items()}
    for estimator in estimators.values():
        check_estimator_params(estimator)
    settings = cfg.audit
    pool = pool_of(*dataset.splits)
    origins = file_rows(dataset)

    folds = KFold(folds=settings.folds, seed=cfg.seed, setting="audit.folds")
    with blas_threads(cfg.blas_threads):
        validations = {name: cross_validate_pool(estimator, pool, dataset.label_names, task, folds)
                       for name, estimator in estimators.items()}
    probabilities = np.mean([validation.probabilities for validation in validations.values()], axis=0)
    multilabel = task.name == "multilabel"
    given = pool.labels if multilabel else tuple(row[:1] for row in pool.labels)
    issues = find_label_issues(given, probabilities, dataset.label_names, multilabel, all_labels=pool.labels)

    vectors = char_tfidf(pool.texts)
    duplicates = duplicate_pairs(pool.texts, vectors, settings.near_duplicate_similarity)
    return AuditReport(
        dataset=dataset.name, model=" + ".join(models), task=task.name,
        model_scores={name: validation.metrics()["cv/macro_f1"] for name, validation in validations.items()},
        pool=pool, origins=origins,
        label_issues=tuple(issues), duplicates=tuple(duplicates),
        outliers=tuple(least_like_any_label(vectors, given, dataset.label_names, settings.outlier_share)),
        lengths=tuple(checks.length_problems(pool.texts, settings.min_chars, settings.max_words)),
        counts=checks.label_counts(dataset.splits),
        label_pairs=tuple(checks.rare_label_pairs(pool.labels, settings.rare_pair_count, settings.common_label_count)
                          if multilabel else ()),
        missing=dataset.dropped_missing, refused=refusals(dataset),
    )


def check_every_row_read(data) -> None:
    """The audit reads every row and names each where it is in its file: a setting that leaves rows
    out would make those places wrong (and hide what it left out)."""
    for key, leaves_out in (("per_label", data.get("per_label") is not None), ("overlap", data.get("overlap") == "drop")):
        if leaves_out:
            raise UserError(f"data.{key}={data.get(key)} leaves rows out, and textclf audit reads every row. "
                            f"Fix: leave data.{key} as configs/audit.yaml has it")


def file_rows(dataset) -> tuple[tuple[str, int], ...]:
    """``(split, row in its file)`` for each row of every split, in order: rows left out
    (``dataset.dropped_missing``) are skipped in the count."""
    origins = []
    for split in dataset.splits:
        left_out = {missing.row for missing in dataset.dropped_missing if missing.split == split.name}
        rows = (row for row in range(len(split) + len(left_out)) if row not in left_out)
        origins += [(split.name, row) for row in rows]
    return tuple(origins)


def refusals(dataset) -> tuple[str, ...]:
    """What train.py would say of the labels: one a validation or test file has that train lacks,
    or one too rare to carve the splits not given out of train."""
    not_given = [split.name for split in dataset.eval_splits if not len(split)]
    checks_of_train_py = [lambda: check_labels_in_train(dataset)]
    if not_given:
        checks_of_train_py.append(lambda: check_carvable(dataset.train, not_given))
    said = []
    for check in checks_of_train_py:
        try:
            check()
        except UserError as error:
            said.append(str(error))
    return tuple(said)


def _built(name: str, model: DictConfig, task, label_names):
    try:
        return task.prepare(build(model.estimator, "model"), label_names)
    except UserError as error:  # e.g. minilm_logreg without the transformers extra
        raise UserError(f"audit.models has {name}: {error}, or leave it out (audit.models=[tfidf_linearsvc])") from None


def least_like_any_label(vectors, labels, label_names, share: float) -> list[tuple[int, float]]:
    """The ``share`` of texts least similar to every label's mean vector, least similar first."""
    similarity = label_similarity(vectors, labels, label_names)
    count = int(np.ceil(share * len(similarity))) if share > 0 else 0
    rows = np.argsort(similarity, kind="stable")[:count]
    return [(int(row), float(similarity[row])) for row in rows]
