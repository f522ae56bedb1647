"""``blas_threads``: how many threads NumPy's and SciPy's OpenBLAS use while a run fits (measured:
one thread fits tfidf_logreg twice as fast on 2 cores; src/textclf/models/blas.py)."""

import json

import pandas as pd
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info, threadpool_limits

from helpers.paths import SEEDS
from helpers.stores import all_runs
from helpers.training import cli_here


def blas_thread_counts() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def spied_fits(monkeypatch) -> list[set[int]]:
    """scikit-learn's own LogisticRegression.fit, noting the OpenBLAS threads each fit runs with."""
    seen = []
    real_fit = LogisticRegression.fit

    def fit(self, *args, **kwargs):
        seen.append(blas_thread_counts())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", fit)
    return seen


def test_the_fit_uses_the_configured_blas_threads_and_the_caller_gets_its_own_back(tmp_path, train_in_process,
                                                                                  monkeypatch):
    seen = spied_fits(monkeypatch)
    # The caller (textclf.train in a user's process) runs OpenBLAS on 1 thread, then on 2 (the
    # machines this runs on have 2 cores at least): the default setting and an explicit one hold
    # inside the run, null leaves the caller's, and each run gives the caller's back.
    for caller, overrides, expected in ((1, ["blas_threads=2"], {2}), (2, [], {1}), (2, ["blas_threads=null"], {2})):
        seen.clear()
        with threadpool_limits(caller, user_api="blas"):
            result = train_in_process(tmp_path, "model=tfidf_logreg", "features=tfidf_word", "data.per_label=20",
                                      *overrides)
            assert result.returncode == 0, result.stderr[-2000:]
            assert seen and all(counts == expected for counts in seen), (caller, overrides, seen)
            assert blas_thread_counts() == {caller}
    # logged with the run (it changes the last digits of a fit), kept out of the run's name
    runs = all_runs(tmp_path)
    assert sorted(run.data.params["blas_threads"] for run in runs) == ["1", "2", "None"]
    assert {run.info.run_name for run in runs} == {"tfidf_logreg features=tfidf_word per_label=20"}


def test_the_audits_folds_fit_with_the_configured_blas_threads(tmp_path, capsys, monkeypatch):
    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    small = pd.DataFrame({"text": [row["text"] for row in rows], "topic": [row["labels"][0] for row in rows]})
    small.groupby("topic").head(10).to_csv(tmp_path / "train.csv", index=False)  # the audit reads every row
    seen = spied_fits(monkeypatch)
    own = blas_thread_counts()
    result = cli_here("audit", "data=files", f"data.train={tmp_path / 'train.csv'}", "data.label_column=topic",
                      "audit.models=[tfidf_logreg]", "audit.folds=2", "features=tfidf_word", "blas_threads=2",
                      f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", "--output", str(tmp_path / "report"),
                      capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(seen) == 2 and all(counts == {2} for counts in seen), seen  # one fit per fold
    assert blas_thread_counts() == own
    (audit,) = all_runs(tmp_path)
    assert audit.data.params["blas_threads"] == "2"
