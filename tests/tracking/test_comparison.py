"""`textclf compare` on a real store: ranked within each task, in the metric's direction, in 120
columns unless --wide. The runs are written straight into the store (no training needed)."""

import io

import pandas as pd
import pytest

LONG_PARAM = "features.transformer.transformer_list.{}.1.ngram_range._args_.0"


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory):
    """Three multi-class runs and two multi-label runs; the multi-label ones score higher."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mixed")
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.create_experiment("diplomacy", artifact_location=(folder / "mlruns").as_uri())
    runs = [("tfidf_logreg C=5.0", "multiclass", 0.90, 0.40, "5.0"), ("tfidf_nb", "multiclass", 0.86, 0.30, "1.0"),
            ("tfidf_sgd", "multiclass", 0.88, 0.90, "2.0"),
            ("tfidf_linearsvc task=multilabel", "multilabel", 0.95, 0.10, "0.5"),
            ("minilm_logreg task=multilabel", "multilabel", 0.97, 0.20, "10.0")]
    for name, task, f1, loss, c in runs:
        run = client.create_run(experiment, run_name=name, tags={"textclf.task": task})
        long_params = {LONG_PARAM.format(i): f"{name} {i}" for i in range(6)}  # differ between runs
        for key, value in {"model.classifier.C": c, "data.name": "diplomacy", **long_params}.items():
            client.log_param(run.info.run_id, key, value)
        accuracy = "test/accuracy" if task == "multiclass" else "test/subset_accuracy"
        for key, value in {"validation/macro_f1": f1, "validation/log_loss": loss, "test/macro_f1": f1 - 0.02,
                           accuracy: f1 - 0.05, "fit_seconds": 1.5}.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id, "FINISHED")
    return f"sqlite:///{folder}/mlflow.db"


def sections(stdout: str) -> dict[str, list[str]]:
    """The table of each task, by its heading's task name."""
    return {block.splitlines()[0].split(":")[0]: block.splitlines() for block in stdout.strip().split("\n\n")}


def test_runs_are_ranked_within_their_task_only(mixed_store, cli_in_process):
    result = cli_in_process("compare", "--tracking-uri", mixed_store)
    assert result.returncode == 0, result.stderr
    tables = sections(result.stdout)
    assert list(tables) == ["multiclass", "multilabel"]
    multiclass = "\n".join(tables["multiclass"])
    assert multiclass.index("tfidf_logreg") < multiclass.index("tfidf_sgd") < multiclass.index("tfidf_nb")
    assert "multilabel" not in multiclass and "test/accuracy" in multiclass
    assert "test/subset_accuracy" in tables["multilabel"][1] and "test/accuracy" not in tables["multilabel"][1]


def test_the_default_table_fits_120_columns_and_wide_shows_everything(mixed_store, cli_in_process):
    narrow = cli_in_process("compare", "--tracking-uri", mixed_store)
    # the table fits; the note under it holds a command to copy, as long as the store path given
    assert max(len(line) for line in narrow.stdout.splitlines() if not line.startswith("(")) <= 120
    header = narrow.stdout.splitlines()[1].split()
    assert "C" in header and "task" not in header  # model.classifier.C, shortened; the heading names the task
    # the command as typed, plus --wide (plain `textclf compare --wide` dropped the store given)
    assert f"hidden: textclf compare --tracking-uri {mixed_store} --wide shows every one)" in narrow.stdout
    wide = cli_in_process("compare", "--tracking-uri", mixed_store, "--wide")
    assert wide.returncode == 0, wide.stderr
    assert "features.transformer.transformer_list.5.1.ngram_range._args_.0" in wide.stdout
    assert "data.name" not in wide.stdout  # the same in every run


def test_what_the_runs_overrides_set_shows_first_once_and_short(tmp_path, cli_in_process):
    """A search's runs: long names that spell out their overrides, a param the config copies into
    its estimator, long float values. The default table shows what was overridden, in the
    overrides' order, each setting once, floats to four digits, cutting run names to make room."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("diplomacy", artifact_location=(tmp_path / "mlruns").as_uri())
    for trial, (c, ngrams, sublinear) in enumerate([(0.23345864076016243, "[1, 2]", "True"),
                                                    (0.08179499475211674, "[1, 1]", "False"),
                                                    (2.340677735927049e-05, "[1, 3]", "True")]):
        study = ["contract", "earlier", "earlier"][trial]  # where each trial's study is: the sweeper's first overrides
        overrides = (f"hparams_search.study_name='{study}' hparams_search.storage='sqlite:///{tmp_path}/{study}.db' "
                     f"model.classifier.estimator.C={c} features.word_ngram_range={ngrams.replace(' ', '')} "
                     f"features.sublinear_tf={sublinear} hparams_search.trial={trial}")
        run = client.create_run(experiment, run_name=f"tfidf_linearsvc {overrides}",
                                tags={"textclf.task": "multiclass", "textclf.overrides": overrides})
        params = {"model.classifier.estimator.C": str(c), "features.word_ngram_range": ngrams,
                  "features.sublinear_tf": sublinear, "features.transformer.sublinear_tf": sublinear,
                  "features.transformer.ngram_range._args_.0": ngrams,  # the tuple the config builds from it
                  "hparams_search.trial": str(trial), "a.b": str(trial), "a.c": str(-trial),
                  "hparams_search.study_name": study, "hparams_search.storage": f"sqlite:///{tmp_path}/{study}.db"}
        for key, value in params.items():
            client.log_param(run.info.run_id, key, value)
        for key in ("validation/macro_f1", "test/macro_f1", "test/accuracy", "fit_seconds"):
            client.log_metric(run.info.run_id, key, [0.9, 0.8123, 0.7][trial])
        client.set_terminated(run.info.run_id)
    result = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--columns",
                            "validation/macro_f1")  # one metric: room for every param
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120, result.stdout
    header = lines[1].split()
    shown = header[header.index("validation/macro_f1") + 1:]
    assert shown[:2] == ["C", "word_ngram_range"] and shown.count("sublinear_tf") == 1, result.stdout
    assert not any(name.endswith("0") for name in shown), result.stdout  # ngram_range._args_.0: a copy
    assert "study_name" not in shown and "storage" not in shown  # the search's bookkeeping (tag textclf.study)
    assert "b" in shown  # a.b's values are trial's, yet it is another setting: both shown
    assert "0.2335" in lines[2].split() and "0.08179" in lines[3].split()
    assert "2.341e-05" in lines[4].split()  # was 2.340677735927049… with its exponent cut off
    markdown = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--columns",
                              "validation/macro_f1", "--format", "markdown")
    rows = [line.split(" | ") for line in markdown.stdout.splitlines()[3:]]
    assert [row[1] for row in rows] == ["0.9000", "0.8123", "0.7000"], markdown.stdout  # as the table writes them


def test_overrides_every_run_shares_are_left_out_of_the_names_shown(tmp_path, cli_in_process):
    """Runs on a user's data: every name starts with the same data overrides, which left each cut
    to the same ``tfidf_linearsvc dat…``. The table shows what tells them apart; --wide all of it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("news", artifact_location=(tmp_path / "mlruns").as_uri())
    shared = f"data=files data.train={tmp_path}/a/long/folder/of/news/train.csv data.text_column=body"
    for c, score in (("1", 0.7), ("5", 0.8)):
        run = client.create_run(experiment, run_name=f"tfidf_linearsvc {shared} C={c}",
                                tags={"textclf.task": "multiclass", "textclf.overrides": f"{shared} C={c}"})
        client.log_param(run.info.run_id, "model.classifier.estimator.C", c)
        client.log_metric(run.info.run_id, "validation/macro_f1", score)
        client.set_terminated(run.info.run_id)
    table = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--experiment", "news")
    assert [line.split()[:2] for line in table.stdout.splitlines()[2:]] == [["tfidf_linearsvc", "C=5"],
                                                                            ["tfidf_linearsvc", "C=1"]], table.stdout
    wide = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--experiment", "news",
                          "--wide")
    assert f"tfidf_linearsvc {shared} C=5" in wide.stdout
    # a model trained on other data: the names still tell each model's runs apart (they were all
    # cut to "minilm_setfit dat…" once one run's data differed), the data column the models
    for number, name in enumerate(("minilm_setfit data=files train=other.csv per_label=4",
                                   "minilm_setfit data=files train=other.csv per_label=8")):
        run = client.create_run(experiment, run_name=name, tags={"textclf.task": "multiclass"})
        client.log_param(run.info.run_id, "data.train", "other.csv")
        client.log_metric(run.info.run_id, "validation/macro_f1", 0.5 - number / 10)
        client.set_terminated(run.info.run_id)
    table = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--experiment", "news")
    assert [line.split()[:2] for line in table.stdout.splitlines()[2:6]] == [
        ["tfidf_linearsvc", "C=5"], ["tfidf_linearsvc", "C=1"], ["minilm_setfit", "per_label=4"],
        ["minilm_setfit", "per_label=8"]], table.stdout


def test_a_long_path_keeps_the_end_that_tells_files_apart(tmp_path, cli_in_process):
    """A new user's runs on news.csv and news.jsonl in one folder showed as the same cut path."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("news", artifact_location=(tmp_path / "mlruns").as_uri())
    for name, score in (("news.csv", 0.7), ("news.jsonl", 0.8)):
        run = client.create_run(experiment, run_name="tfidf_linearsvc", tags={"textclf.task": "multiclass"})
        client.log_param(run.info.run_id, "data.train", f"/home/analyst/projects/topics/{name}")
        client.log_metric(run.info.run_id, "validation/macro_f1", score)
        client.set_terminated(run.info.run_id)
    table = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--experiment", "news")
    assert [line.split()[-1] for line in table.stdout.splitlines()[2:4]] == ["…topics/news.jsonl",
                                                                             "…s/topics/news.csv"], table.stdout


def test_losses_sort_ascending(mixed_store, cli_in_process):
    result = cli_in_process("compare", "--tracking-uri", mixed_store, "--metric", "validation/log_loss")
    multiclass = "\n".join(sections(result.stdout)["multiclass"])
    assert "lowest validation/log_loss first" in multiclass
    assert multiclass.index("tfidf_nb") < multiclass.index("tfidf_logreg") < multiclass.index("tfidf_sgd")


def test_csv_has_every_column_and_a_task_column(mixed_store, cli_in_process):
    result = cli_in_process("compare", "--tracking-uri", mixed_store, "--format", "csv")
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table["task"]) == ["multiclass"] * 3 + ["multilabel"] * 2
    assert list(table["run"])[:3] == ["tfidf_logreg C=5.0", "tfidf_sgd", "tfidf_nb"]
    assert "model.classifier.C" in table.columns and "run_id" in table.columns
    # a metric a run's task does not log is an empty cell, not a placeholder ("'-" once guarded)
    assert table.loc[table["task"] == "multiclass", "test/subset_accuracy"].isna().all()
    # one run a task: each row still has the params that differ between any runs, with its values
    limited = pd.read_csv(io.StringIO(cli_in_process("compare", "--tracking-uri", mixed_store, "--format", "csv",
                                                     "--limit", "1").stdout))
    assert list(limited["run"]) == ["tfidf_logreg C=5.0", "minilm_logreg task=multilabel"]
    assert list(limited["model.classifier.C"]) == [5.0, 10.0]


def test_a_metric_one_task_does_not_log_shows_only_the_tasks_that_do(mixed_store, cli_in_process):
    result = cli_in_process("compare", "--tracking-uri", mixed_store, "--metric", "test/subset_accuracy")
    assert result.returncode == 0, result.stderr
    assert list(sections(result.stdout)) == ["multilabel"]  # no multi-class table of empty scores


def test_a_metric_no_run_logged_is_one_line_naming_those_logged(mixed_store, cli_in_process):
    """The fix named validation/macro_f1 whatever the runs logged (an audit's runs log none)."""
    result = cli_in_process("compare", "--tracking-uri", mixed_store, "--metric", "validation/macro_f2")
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and line.startswith("error: no run logged metric 'validation/macro_f2' (did you "
                                                      "mean 'validation/macro_f1'?). Fix: pass --metric with a logged "
                                                      "metric: "), line
    assert "test/subset_accuracy" in line and "validation/log_loss" in line
    # the runs' headline metrics are listed first, whatever the store's order
    assert line.split("metric: ")[1].startswith("validation/macro_f1, test/macro_f1, test/accuracy, fit_seconds")
    # a metric without its split names the splits that logged it
    result = cli_in_process("compare", "--tracking-uri", mixed_store, "--metric", "macro_f1")
    assert "no run logged metric 'macro_f1' (did you mean 'validation/macro_f1' or 'test/macro_f1'?)" in result.stderr


def test_a_cross_validated_runs_mean_over_folds_is_shown_beside_the_validation_score(tmp_path, cli_in_process):
    """cv=kfold runs log cv/macro_f1; the default table did not show it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("diplomacy", artifact_location=(tmp_path / "mlruns").as_uri())
    for name, scores in (("plain", {"validation/macro_f1": 0.8}), ("folded", {"validation/macro_f1": 0.7,
                                                                              "cv/macro_f1": 0.7512})):
        run = client.create_run(experiment, run_name=name, tags={"textclf.task": "multiclass"})
        for key, value in {**scores, "test/macro_f1": 0.6, "test/accuracy": 0.6, "fit_seconds": 1.0}.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
    result = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    header = result.stdout.splitlines()[1].split()
    assert header[:4] == ["run", "validation/macro_f1", "cv/macro_f1", "test/macro_f1"], result.stdout
    assert "0.7512" in result.stdout.splitlines()[3].split()  # the folded run, ranked second
    assert result.stdout.splitlines()[2].split()[:3] == ["plain", "0.8", "-"]  # no folds: "-", as a param (was NaN)
    csv = cli_in_process("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--format", "csv")
    assert pd.read_csv(io.StringIO(csv.stdout))["cv/macro_f1"].isna().tolist() == [True, False]  # an empty cell


def test_sweep_shows_only_the_jobs_of_one_sweep(tmp_path, cli_in_process):
    """--sweep: the jobs of the sweep named by its id's first characters (as its closing table
    prints them), in any experiment, or ``latest``, the sweep started or continued last; not the
    experiment's other runs nor another sweep's jobs."""
    from mlflow.tracking import MlflowClient

    from textclf.tracking.description import SWEEP_METRIC_TAG, SWEEP_STARTED_TAG

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment, mine = (client.create_experiment(name, artifact_location=(tmp_path / name).as_uri())
                        for name in ("diplomacy", "mine"))

    def finished(name, score, experiment=experiment, **tags):
        run = client.create_run(experiment, run_name=name, tags={"textclf.task": "multiclass", **tags})
        client.log_metric(run.info.run_id, "validation/macro_f1", score)
        client.log_metric(run.info.run_id, "cv/macro_f1", 1 - score)  # the other order
        client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id

    def sweep(name, started, experiment=experiment):
        return finished(name, 0.0, experiment, **{"textclf.sweep": "parent", SWEEP_STARTED_TAG: str(started)})

    finished("plain run", 0.99)
    first, second = sweep("sweep model=a,b", 1000), sweep("sweep C=1,2", 2000)
    for name, score in (("first-a", 0.7), ("first-b", 0.8)):
        finished(name, score, **{"mlflow.parentRunId": first})
    finished("second-c", 0.9, **{"mlflow.parentRunId": second})
    elsewhere = sweep("sweep on my data", 3000, mine)
    finished("mine-d", 0.6, mine, **{"mlflow.parentRunId": elsewhere})

    def names(*arguments):
        result = cli_in_process("compare", "--tracking-uri", uri, *arguments)
        assert result.returncode == 0, result.stderr
        return [line.split()[0] for line in result.stdout.splitlines()[2:] if line.strip()]

    assert names("--sweep", first[:8]) == ["first-b", "first-a"]
    client.set_tag(first, SWEEP_METRIC_TAG, "cv/macro_f1")  # a cross-validated search ranks its jobs so
    assert names("--sweep", first[:8]) == ["first-a", "first-b"]
    assert names("--sweep", first[:8], "--metric", "validation/macro_f1") == ["first-b", "first-a"]
    assert names("--sweep", "latest") == ["second-c"]
    assert names("--sweep", second.upper()) == ["second-c"]
    assert names("--sweep", elsewhere[:8]) == ["mine-d"]  # found in its own experiment
    assert names("--sweep", elsewhere[:8], "--experiment", "mine") == ["mine-d"]
    wrong = cli_in_process("compare", "--tracking-uri", uri, "--sweep", elsewhere[:8], "--experiment", "diplomacy")
    assert wrong.returncode == 2 and "is in experiment 'mine', not 'diplomacy'" in wrong.stderr
    assert set(names()) >= {"plain", "first-a", "first-b", "second-c"}
    client.set_tag(first, SWEEP_STARTED_TAG, "4000")  # its study continued: the latest sweep again
    assert names("--sweep", "latest") == ["first-a", "first-b"]  # by cv/macro_f1, as tagged above
    refused = cli_in_process("compare", "--tracking-uri", uri, "--sweep", "ffffffff")
    assert refused.returncode == 2 and refused.stderr.count("error:") == 1
    assert "no sweep 'ffffffff'" in refused.stderr and first[:8] in refused.stderr and "Fix:" in refused.stderr


def test_a_sweeps_closing_table_names_the_command_that_shows_its_hidden_params(tmp_path, monkeypatch, capsys,
                                                                             cli_in_process):
    """The table a sweep ends with hides params to fit; its note names `compare --sweep ID --wide`
    (and the store, not the project's): plain `compare --wide` showed every run of the experiment."""
    from mlflow.tracking import MlflowClient

    from textclf.tracking.sweep import print_ranking

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("diplomacy", artifact_location=(tmp_path / "mlruns").as_uri())

    def finished(name, **tags):
        run = client.create_run(experiment, run_name=name, tags={"textclf.task": "multiclass", **tags})
        for i in range(6):
            client.log_param(run.info.run_id, LONG_PARAM.format(i), f"{name} {i}")
        client.log_metric(run.info.run_id, "validation/macro_f1", 0.5)
        client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id

    finished("outside the sweep")
    parent = finished("sweep", **{"textclf.sweep": "parent"})
    for name in ("job-a", "job-b"):
        finished(name, **{"mlflow.parentRunId": parent})
    import mlflow

    # as a sweep's parent run sets it; both are put back after the test (it sets the variable too)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    print_ranking(parent, "validation/macro_f1", uri)
    (note,) = [line for line in capsys.readouterr().out.splitlines() if "hidden" in line]
    command = note.split(": ", 1)[1].removesuffix(" shows every one)")
    assert command == f"textclf compare --sweep {parent[:8]} --wide --tracking-uri {uri}"
    shown = cli_in_process(*command.split()[1:])
    assert shown.returncode == 0, shown.stderr
    assert LONG_PARAM.format(5) in shown.stdout and "job-a" in shown.stdout and "outside" not in shown.stdout


def test_the_note_repeats_a_store_without_its_password():
    """The hidden-params note repeats the command as typed (for pasting into reports, --format
    markdown): a team server's password in it is hidden, as every store textclf prints is."""
    from textclf.cli.compare import _without_passwords

    typed = ["--tracking-uri", "postgresql://analyst:s3cret@db.internal/mlflow", "--experiment", "mine",
             "--tracking-uri=http://analyst:s3cret@mlflow.internal:5000"]
    assert _without_passwords(typed) == ["--tracking-uri", "postgresql://analyst:***@db.internal/mlflow",
                                         "--experiment", "mine", "--tracking-uri=http://analyst:***@mlflow.internal:5000"]
