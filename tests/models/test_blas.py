"""``blas_threads``: how many threads NumPy's and SciPy's OpenBLAS use while a run fits (measured:
one thread fits tfidf_logreg twice as fast on 2 cores; src/textclf/models/blas.py)."""

import json

import pandas as pd
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info

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
    own = blas_thread_counts()  # this process's: one (tests/conftest.py)
    assert own == {1}
    for setting, expected in (("2", {2}), ("null", own)):  # null: OpenBLAS's own setting
        seen.clear()
        result = train_in_process(tmp_path, "model=tfidf_logreg", "features=tfidf_word", "data.per_label=20",
                                  f"blas_threads={setting}")
        assert result.returncode == 0, result.stderr[-2000:]
        assert seen and all(counts == expected for counts in seen), (setting, seen)
        assert blas_thread_counts() == own  # textclf.train in a user's process leaves theirs as it was
    # logged with the run (it changes the last digits of a fit), kept out of the run's name
    logged = sorted((run.data.params["blas_threads"], run.info.run_name) for run in all_runs(tmp_path))
    name = "tfidf_logreg features=tfidf_word per_label=20"
    assert logged == [("2", name), ("None", name)]


def test_the_audits_folds_fit_with_the_configured_blas_threads(tmp_path, capsys, monkeypatch):
    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    small = pd.DataFrame({"text": [row["text"] for row in rows], "topic": [row["labels"][0] for row in rows]})
    small.groupby("topic").head(10).to_csv(tmp_path / "train.csv", index=False)  # the audit reads every row
    seen = spied_fits(monkeypatch)
    result = cli_here("audit", "data=files", f"data.train={tmp_path / 'train.csv'}", "data.label_column=topic",
                      "audit.models=[tfidf_logreg]", "audit.folds=2", "features=tfidf_word", "blas_threads=2",
                      f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", "--output", str(tmp_path / "report"),
                      capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(seen) == 2 and all(counts == {2} for counts in seen), seen  # one fit per fold
    assert blas_thread_counts() == {1}
