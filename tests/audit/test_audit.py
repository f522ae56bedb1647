"""`textclf audit`: planted wrong labels and duplicates are found on data made here, the report
folder and its MLflow run hold what users read, --fail-on gates CI, and bad input is one line."""

import json
import random

import pandas as pd
import pytest

from helpers.paths import SEEDS
from helpers.shared import built_once
from helpers.stores import all_runs, client, migrated_store
from helpers.training import cli_here
from textclf.audit.checks import length_problems, rare_label_pairs

FLIPS = 66  # 5% of the seed corpus's training passages


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """The seed corpus as CSV files, with FLIPS primary labels changed, a copy of a train text in
    train (case and spacing changed), and one in test with a new dateline (leakage); audited once
    (``textclf audit`` into ``report/``, its output in ``result.json``)."""
    rows = {name: [json.loads(line) for line in (SEEDS / f"{name}.jsonl").read_text().splitlines()]
            for name in ("train", "validation", "test")}
    train, validation, test = rows["train"], rows["validation"], rows["test"]
    labels = sorted({row["labels"][0] for row in train})
    rng = random.Random(0)
    flipped = set()
    for row in rng.sample(train, FLIPS):
        row["labels"] = [rng.choice([label for label in labels if label not in row["labels"]])]
        flipped.add(row["id"])
    copied, leaked = train[5], train[9]
    train.append({"id": "copy-in-train", "text": "  " + copied["text"].upper().replace(" ", "  "), "labels": copied["labels"]})
    test.append({"id": "leaked-to-test", "text": "SEOUL (Wire) -- " + leaked["text"], "labels": leaked["labels"]})

    def build(folder):
        for name, part in (("train", train), ("validation", validation), ("test", test)):
            pd.DataFrame({"id": [r["id"] for r in part], "text": [r["text"] for r in part],
                          "topic": ["|".join(r["labels"]) for r in part]}).to_csv(folder / f"{name}.csv", index=False)
        monkeypatch, capture = pytest.MonkeyPatch(), _Capture()
        migrated_store(folder)
        with capture.redirected():
            result = cli_here("audit", *_data(folder), "--output", str(folder / "report"), capsys=capture,
                              monkeypatch=monkeypatch)
        monkeypatch.undo()
        (folder / "result.json").write_text(json.dumps(result.__dict__))

    folder = built_once(tmp_path_factory, "planted-audit", build)
    return folder, _data(folder), flipped, copied, leaked


def _data(folder):
    return ["data=files", "data.name=planted", f"data.train={folder / 'train.csv'}",
            f"data.validation={folder / 'validation.csv'}", f"data.test={folder / 'test.csv'}",
            "data.label_column=topic", "data.label_separator=|", "data.id_column=id",
            f"tracking.uri=sqlite:///{folder}/mlflow.db", f"tracking.artifact_location={folder}/mlruns", "audit.folds=3"]


@pytest.fixture(scope="session")
def audited(planted):
    from helpers.training import Result

    return Result(**json.loads((planted[0] / "result.json").read_text()))


class _Capture:
    """``capsys`` for ``cli_here`` outside a test: use inside ``redirected()``."""

    def __init__(self):
        import io

        self.out, self.err = io.StringIO(), io.StringIO()

    def redirected(self):
        import contextlib

        stack = contextlib.ExitStack()
        stack.enter_context(contextlib.redirect_stdout(self.out))
        stack.enter_context(contextlib.redirect_stderr(self.err))
        return stack

    def readouterr(self):
        from types import SimpleNamespace

        captured = SimpleNamespace(out=self.out.getvalue(), err=self.err.getvalue())
        for stream in (self.out, self.err):
            stream.seek(0)
            stream.truncate()
        return captured


def test_planted_wrong_labels_are_found(planted, audited):
    folder, _, flipped, *_ = planted
    assert audited.returncode == 0, audited.stderr[-2000:]
    issues = pd.read_csv(folder / "report" / "label_issues.csv", keep_default_na=False)
    assert list(issues.columns) == ["split", "row", "id", "text", "given_label", "suggested_label", "quality"]
    reported = set(issues["id"])
    assert len(flipped & reported) >= 0.7 * FLIPS, (len(flipped & reported), len(reported))  # recall
    assert len(flipped & reported) >= 0.6 * len(reported), (len(flipped & reported), len(reported))  # precision
    assert list(issues["quality"]) == sorted(issues["quality"])  # least believable first
    train = pd.read_csv(folder / "train.csv")
    row = issues[issues["id"].isin(flipped)].iloc[0]
    assert train.iloc[int(row["row"])]["id"] == row["id"] and row["split"] == "train"
    assert row["given_label"] == train.iloc[int(row["row"])]["topic"] != row["suggested_label"]


def test_planted_duplicates_and_leakage_are_found(planted, audited):
    folder, _, _, copied, leaked = planted
    duplicates = pd.read_csv(folder / "report" / "duplicates.csv", keep_default_na=False)
    pairs = {frozenset((a, b)): (kind, across) for a, b, kind, across in
             zip(duplicates["id"], duplicates["other_id"], duplicates["kind"], duplicates["across_splits"])}
    assert pairs[frozenset((copied["id"], "copy-in-train"))] == ("exact", False)
    assert pairs[frozenset((leaked["id"], "leaked-to-test"))] == ("near", True)
    assert "1 across splits: leakage" in audited.stdout


def test_the_report_is_an_mlflow_run_in_the_audit_experiment(planted, audited):
    folder, *_ = planted
    store = client(folder)
    (experiment,) = [e for e in store.search_experiments() if e.name == "planted-audit"]
    (run,) = store.search_runs([experiment.experiment_id])
    issues = pd.read_csv(folder / "report" / "label_issues.csv")
    assert run.info.status == "FINISHED"
    assert run.data.metrics["audit/label_issues"] == len(issues)
    assert run.data.metrics["audit/leakage"] == 1
    assert run.data.params["audit.models"] == "['tfidf_linearsvc', 'minilm_logreg']"
    artifacts = {a.path for a in store.list_artifacts(run.info.run_id)}
    assert {"label_issues.csv", "duplicates.csv", "outliers.csv", "lengths.csv", "summary.md",
            "label_counts.csv"} <= artifacts
    assert "Likely label errors" in (folder / "report" / "summary.md").read_text()
    for name in ("tfidf_linearsvc", "minilm_logreg"):  # each model's agreement, as printed
        score = run.data.metrics[f"audit/oof_macro_f1.{name}"]
        assert f"{score:.2f} {name}" in audited.stdout


def test_the_models_agreement_with_the_labels_says_how_far_to_trust_the_label_issues(tmp_path, capsys, monkeypatch):
    """Out-of-fold macro-F1 per audit model: high where the labels follow the texts, near chance
    (1/8) where they were dealt at random, and then nearly every text looks mislabeled."""
    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    kept = pd.DataFrame({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                         "topic": [r["labels"][0] for r in rows]}).groupby("topic").head(25).sample(frac=1.0, random_state=1)
    dealt = kept.assign(topic=kept["topic"].sample(frac=1.0, random_state=0).to_numpy())
    scores = {}
    for name, frame in (("true", kept), ("dealt", dealt)):
        folder = tmp_path / name
        folder.mkdir()
        for split, part in (("train", frame[:160]), ("validation", frame[160:180]), ("test", frame[180:])):
            part.to_csv(folder / f"{split}.csv", index=False)  # the audit pools them
        result = cli_here("audit", *_data(folder), "audit.models=[tfidf_linearsvc]", "--output",
                          str(folder / "report"), capsys=capsys, monkeypatch=monkeypatch)
        assert result.returncode == 0, result.stderr[-2000:]
        (line,) = [line for line in result.stdout.splitlines() if "out-of-fold macro-F1" in line]
        scores[name] = float(line.split()[2])
        scores[f"{name} issues"] = len(pd.read_csv(folder / "report" / "label_issues.csv")) / len(frame)
    assert scores["true"] > 0.6 and scores["dealt"] < 0.3, scores
    assert scores["dealt issues"] > 1.5 * scores["true issues"], scores


def test_fail_on_exits_1_when_that_problem_is_found(planted, tmp_path, capsys, monkeypatch):
    _, data, *_ = planted
    quick = [*data, "audit.models=[tfidf_linearsvc]"]
    failing = cli_here("audit", *quick, "--output", str(tmp_path / "a"), "--fail-on", "leakage,duplicates",
                       capsys=capsys, monkeypatch=monkeypatch)
    assert failing.returncode == 1 and "failing (--fail-on): 1 leakage, 2 duplicates" in failing.stderr
    # an override may follow the options, as in train.py (was "unrecognized arguments")
    passing = cli_here("audit", *quick, "--output", str(tmp_path / "b"), "audit.near_duplicate_similarity=0.99",
                       "--fail-on", "leakage", capsys=capsys, monkeypatch=monkeypatch)
    assert passing.returncode == 0, passing.stderr[-2000:]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--fail-on", "typos"], "unknown kind 'typos'"),
    (["data=files", "data.train=/nowhere/train.csv"], "/nowhere/train.csv"),
    (["audit.folds=1", "audit.models=[tfidf_linearsvc]"], "audit.folds must be"),
    (["audit.folds=5000", "audit.models=[tfidf_linearsvc]"], "audit.folds=5000 needs at least 5000 texts"),
    (["audit.models=[tfidf_nothing]"], "audit.models has 'tfidf_nothing': "),  # was "In 'train': ..."
    (["audit.models=[]"], "audit.models names no model"),  # was cleanlab's traceback
    (["blas_threads=0", "audit.models=[tfidf_linearsvc]"], "blas_threads must be null (OpenBLAS's own setting)"),
    # rows left out: the report would name the wrong rows of the file
    (["data.per_label=4", "audit.models=[tfidf_linearsvc]"], "data.per_label=4 leaves rows out"),
    (["data.overlap=drop", "audit.models=[tfidf_linearsvc]"], "data.overlap=drop leaves rows out"),
    # the fix pointed at train.py's keys, which hold no audit.* key
    (["audit.modles=[tfidf_linearsvc]"], "'audit.modles' (did you mean 'audit.models'?). Fix: check its spelling "
                                         "(configs/audit.yaml holds the audit.* keys"),
    (["audit.models=[tfidf_linearsvc]", "--output", "{tmp}/notes.txt"], "report folder {tmp}/notes.txt is a file"),
])
def test_bad_input_is_one_line_and_leaves_no_report(arguments, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("kept\n")
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    output = [] if "--output" in arguments else ["--output", str(tmp_path / "report")]
    result = cli_here("audit", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", *arguments, *output, capsys=capsys,
                      monkeypatch=monkeypatch)
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and message.format(tmp=tmp_path) in result.stderr
    assert "Fix:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report").exists() and (tmp_path / "notes.txt").read_text() == "kept\n"


def test_an_unreachable_store_is_reported_before_the_folds_and_leaves_no_report(tmp_path, capsys, monkeypatch):
    import textclf.audit.run

    audits = []
    monkeypatch.setattr(textclf.audit.run, "run_audit", lambda *args: audits.append(args))
    result = cli_here("audit", "audit.models=[tfidf_linearsvc]", "tracking.uri=http://127.0.0.1:9",
                      "tracking.connect_timeout=3", "--output", str(tmp_path / "report"), capsys=capsys,
                      monkeypatch=monkeypatch)
    (line,) = result.stderr.strip().splitlines()  # no progress of cross-validation folds before it
    assert result.returncode == 2 and line.startswith("error: tracking server http://127.0.0.1:9 is unreachable")
    assert audits == [] and list(tmp_path.iterdir()) == []  # no fold was run, no report written


def test_rows_train_py_refuses_are_reported_where_they_are_in_the_file(tmp_path, capsys, monkeypatch, recwarn):
    """A user's file with rows without a text or a label and a label too rare to carve, and a
    validation file with a label train lacks: the audit stopped with train.py's error on the very
    problems it is for. Now it lists them, says what train.py would, and carves nothing: each
    finding names its row in the user's file."""
    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    data = pd.DataFrame({"body": [r["text"] for r in rows], "topic": [r["labels"][0] for r in rows]}) \
        .groupby("topic").head(16).reset_index(drop=True).astype(object)
    data, held = data.iloc[:-8].reset_index(drop=True), data.iloc[-8:].reset_index(drop=True)
    data.loc[3, "body"], data.loc[7, "topic"] = "", None
    data.loc[10, "body"], data.loc[10, "topic"] = "   ", None
    data.loc[len(data)] = ["Fisheries quotas in the northern sea were discussed at length by both delegations.",
                           "fisheries"]
    held.loc[len(held)] = ["The agencies agreed to share launch schedules for their lunar landers.", "space_policy"]
    data.to_csv(tmp_path / "mine.csv", index=False)
    held.to_csv(tmp_path / "held.csv", index=False)
    arguments = ["audit", "data=files", f"data.train={tmp_path / 'mine.csv'}", f"data.validation={tmp_path / 'held.csv'}",
                 "data.text_column=body", "data.label_column=topic", "audit.models=[tfidf_linearsvc]", "audit.folds=3",
                 f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", "--output", str(tmp_path / "report")]
    migrated_store(tmp_path)
    result = cli_here(*arguments, "--fail-on", "missing", capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 1 and "failing (--fail-on): 3 missing" in result.stderr, result.stderr[-2000:]
    assert "error:" not in result.stderr and "no text or no label          3" in result.stdout
    refused = [line for line in result.stdout.splitlines() if line.startswith("train.py would refuse this data: ")]
    assert len(refused) == 2, result.stdout
    assert "validation data" in refused[0] and "label(s) 'space_policy' that never occur in train" in refused[0]
    assert "cannot carve a stratified test split from train" in refused[1] and "fisheries (1)" in refused[1]
    # said once, not once per fold (the progress bar's line was broken by four copies)
    assert sum("class 'fisheries' has a single training example" in str(w.message) for w in recwarn) == 1
    report = tmp_path / "report"
    missing = pd.read_csv(report / "missing.csv", keep_default_na=False)
    assert missing[["split", "row", "problem"]].values.tolist() == [
        ["train", 3, "no text"], ["train", 7, "no label"], ["train", 10, "no text and no label"]]
    assert missing["text"][1] == data["body"][7]
    counts = pd.read_csv(report / "label_counts.csv").set_index("label")
    assert counts.loc["fisheries"].tolist() == [1, 0, 0] and counts.loc["space_policy"].tolist() == [0, 1, 0]
    # nothing carved: every finding's row is its row in the file, past the rows left out
    files = {"train": data, "validation": held}
    for name in ("label_issues.csv", "outliers.csv"):
        found = pd.read_csv(report / name, keep_default_na=False)
        assert len(found) and set(found["split"]) <= set(files), name
        assert all(files[split]["body"][row] == text for split, row, text in found[["split", "row", "text"]].values)
        assert all(ident == f"{split}-{row}" for split, row, ident in found[["split", "row", "id"]].values), name
    (run,) = all_runs(tmp_path)
    assert run.data.metrics["audit/missing"] == 3


def test_label_imbalance_is_between_labels_train_has():
    """A label only validation has (reported on its own) made the imbalance the largest count over 1."""
    from textclf.audit.checks import imbalance

    assert imbalance({"a": {"train": 10}, "b": {"train": 2, "test": 1}, "c": {"validation": 1}}) == 5.0


def test_length_and_label_pair_checks():
    problems = length_problems(["tiny", "a normal passage of ordinary length", " ".join(["word"] * 101)], 20, 100)
    assert [(row, problem.split(":")[0]) for row, problem in problems] == [(0, "too short"), (2, "too long")]
    # a and b are common and independent enough to meet ~12 times; they meet once: a slip
    labels = [("a",)] * 40 + [("b",)] * 40 + [("a", "c")] * 30 + [("b", "c")] * 30 + [("a", "b")]
    (pair,) = rare_label_pairs(labels, rare_pair_count=2, common_label_count=20)
    assert (pair.first, pair.second, pair.count) == ("a", "b", 1) and pair.expected > 2


def test_a_passage_suggested_as_one_of_its_own_labels_is_not_a_label_issue():
    """Multi-class audit: only the primary label is "given", but a two-topic passage whose model
    prefers its second topic is not a labeling error; one whose model prefers a third is."""
    import numpy as np

    from textclf.audit.label_issues import find_label_issues

    names = ("a", "b", "c")
    rng = np.random.default_rng(0)
    primary = [names[i % 3] for i in range(90)]
    probabilities = np.full((90, 3), 0.05)
    for row, label in enumerate(primary):
        probabilities[row, names.index(label)] = 0.9
    probabilities += rng.uniform(0, 0.01, probabilities.shape)
    probabilities[0] = [0.02, 0.96, 0.02]  # primary a, also labeled b: prefers b
    probabilities[3] = [0.02, 0.02, 0.96]  # primary a, labeled a only: prefers c
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    all_labels = [(label,) for label in primary]
    all_labels[0] = ("a", "b")
    issues = find_label_issues([(label,) for label in primary], probabilities, names, False, all_labels=all_labels)
    assert [issue.row for issue in issues] == [3] and issues[0].suggested == ("c",)
    unfiltered = find_label_issues([(label,) for label in primary], probabilities, names, False)
    assert {issue.row for issue in unfiltered} == {0, 3}


@pytest.mark.parametrize("name", ["SIGINT", "SIGKILL"])
def test_an_audit_stopped_while_its_report_is_written_leaves_no_report(name, tmp_path):
    """The report appears whole or not at all: Ctrl-C or a kill once every file is written but
    before the folder is moved into place leaves no report folder (Ctrl-C: nothing at all)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from helpers.paths import ROOT
    from helpers.processes import clean_env

    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    frame = pd.DataFrame({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                          "topic": [r["labels"][0] for r in rows]}).groupby("topic").head(20)
    for split, part in (("train", frame[::3]), ("validation", frame[1::3]), ("test", frame[2::3])):
        part.to_csv(tmp_path / f"{split}.csv", index=False)
    pause = tmp_path / "paused"
    process = subprocess.Popen(
        [sys.executable, "-m", "textclf.cli", "audit", *_data(tmp_path), "audit.models=[tfidf_linearsvc]",
         "--output", str(tmp_path / "report")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=clean_env(TEXTCLF_PAUSE_AT="audit_report", TEXTCLF_PAUSE_FILE=str(pause)))
    deadline = time.monotonic() + 180
    while not (pause.exists() and pause.read_text().strip()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.05)
    process.send_signal(getattr(signal, name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == (130 if name == "SIGINT" else -9), stderr[-2000:]
    assert not (tmp_path / "report").exists()
    staging = [path.name for path in tmp_path.iterdir() if path.name.startswith(".audit-")]
    if name == "SIGINT":
        assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("interrupted"), stderr
        assert staging == []  # what was written is removed on the way out
    else:
        assert len(staging) == 1 and not os.path.exists(tmp_path / "report")  # hidden, beside it: never the report


def test_run_outside_the_project_it_names_project_and_runs_with_it(tmp_path, capsys, monkeypatch):
    """From a data folder elsewhere: the missing project is one line naming ``--project``, which
    then reads that project's configs (relative data paths stay relative to where it runs)."""
    from helpers.paths import ROOT

    rows = [json.loads(line) for line in (SEEDS / "train.jsonl").read_text().splitlines()]
    frame = pd.DataFrame({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                          "topic": [r["labels"][0] for r in rows]}).groupby("topic").head(12)
    for split, part in (("train", frame[::3]), ("validation", frame[1::3]), ("test", frame[2::3])):
        part.to_csv(tmp_path / f"{split}.csv", index=False)
    monkeypatch.chdir(tmp_path)
    data = ["data=files", "data.train=train.csv", "data.validation=validation.csv", "data.test=test.csv",
            "data.label_column=topic", "data.id_column=id", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"tracking.artifact_location={tmp_path}/mlruns", "audit.models=[tfidf_linearsvc]", "audit.folds=3", "--output", "report"]
    refused = cli_here("audit", *data, capsys=capsys, monkeypatch=monkeypatch)
    assert refused.returncode == 2 and refused.stderr.count("error:") == 1
    assert "no textclf project" in refused.stderr and "pass --project PATH" in refused.stderr
    assert not (tmp_path / "report").exists()
    result = cli_here("audit", *data, "--project", str(ROOT), capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "report" / "label_issues.csv").exists()
