"""`textclf predict` and `textclf compare` on a real store (the first test as a real process, the
rest through the command's own main in this process). How the store is found: test_store_discovery.py."""

import io
import json

import pandas as pd
import pytest

from helpers.processes import run_cli

TEXTS = [
    "The defense ministers will hold talks in Canberra next week, with the agenda still being finalised.",
    "Pyongyang fired two short-range ballistic missiles into the sea off its east coast on Sunday morning.",
]


def store_uri(folder):
    return f"sqlite:///{folder}/mlflow.db"


def test_predict_csv_from_a_text_file(trained_store, tmp_path):
    folder, _ = trained_store
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    result = run_cli("predict", str(source), "--tracking-uri", store_uri(folder), cwd=folder)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table.columns[:3]) == ["line", "text", "label"]
    assert len([c for c in table.columns if c.startswith("prob_")]) == 8
    assert list(table["text"]) == TEXTS
    assert table.loc[1, "label"] == "north_korea_security"
    probabilities = table[[c for c in table.columns if c.startswith("prob_")]]
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-3).all()


def test_predict_jsonl_from_stdin_and_from_a_jsonl_file(trained_store, tmp_path, cli_in_process):
    run_cli = cli_in_process
    folder, _ = trained_store
    output = tmp_path / "out.jsonl"
    result = run_cli("predict", "-", "--output", str(output), "--tracking-uri", store_uri(folder),
                     stdin="\n".join(TEXTS), cwd=folder)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["text"] for r in rows] == TEXTS and all("label" in r for r in rows)

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({"body": t}) for t in TEXTS), encoding="utf-8")
    result = run_cli("predict", str(source), "--text-column", "body", "--format", "jsonl",
                     "--model-uri", "models:/diplomacy-topics/1", "--tracking-uri", store_uri(folder), cwd=folder)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == [r["label"] for r in rows]


def test_predict_csv_input(trained_store, tmp_path, cli_in_process):
    run_cli = cli_in_process
    folder, _ = trained_store
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS, "other": [1, 2]}).to_csv(source, index=False)
    result = run_cli("predict", str(source), "-o", str(tmp_path / "out.csv"), "--tracking-uri", store_uri(folder),
                     cwd=folder)
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 2


def test_predict_explains_in_jsonl_and_csv(trained_store, tmp_path, cli_in_process):
    folder, _ = trained_store
    for output in ("out.jsonl", "out.csv"):
        result = cli_in_process("predict", "-", "--explain", "-o", str(tmp_path / output), "--tracking-uri",
                                store_uri(folder), stdin="\n".join(TEXTS), cwd=folder)
        assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    table = pd.read_csv(tmp_path / "out.csv")
    for row, cell in zip(rows, table["explanation"]):
        (explanation,) = row["explanation"]
        assert explanation["label"] == row["label"] and explanation["method"] == "linear"
        assert json.loads(cell) == row["explanation"]  # CSV: the same, as a JSON cell
    words = [term["text"] for term in rows[1]["explanation"][0]["terms"][:5]]
    assert {"missiles", "ballistic", "fired", "Pyongyang"} & set(words), words


def test_predict_keeps_ids_and_offers_top_k_and_min_confidence(trained_store, tmp_path, cli_in_process):
    run_cli = cli_in_process
    folder, _ = trained_store
    source = tmp_path / "in.csv"
    # p-20 names no topic: no model is sure of it.
    pd.DataFrame({"id": ["p-17", "p-18", "p-19", "p-20"], "text": [TEXTS[0], "", TEXTS[1], "a short note"]}).to_csv(
        source, index=False)
    result = run_cli("predict", str(source), "--top-k", "3", "--min-confidence", "0.99", "--tracking-uri",
                     store_uri(folder), cwd=folder)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table.columns) == ["id", "text", "label", "top1", "top1_prob", "top2", "top2_prob", "top3",
                                   "top3_prob", "confidence", "uncertain"]
    assert list(table["id"]) == ["p-17", "p-19", "p-20"]  # the blank text is skipped, the ids stay with their texts
    assert list(table["top1"]) == list(table["label"]) and list(table["confidence"]) == list(table["top1_prob"])
    assert (table["top1_prob"] >= table["top2_prob"]).all() and (table["top2_prob"] >= table["top3_prob"]).all()
    assert list(table["uncertain"]) == list(table["confidence"] < 0.99) and table["uncertain"].iloc[-1]

    result = run_cli("predict", "-", "--format", "jsonl", "--top-k", "9", "--tracking-uri", store_uri(folder),
                     stdin="\n\n" + TEXTS[1], cwd=folder)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("error: --top-k 9 asks for more labels than the model's 8 classes. "
                                     "Fix: pass --top-k 8 or less")
    result = run_cli("predict", "-", "--format", "jsonl", "--top-k", "1", "--tracking-uri", store_uri(folder),
                     stdin="\n\n" + TEXTS[1], cwd=folder)
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert list(row) == ["line", "text", "label", "top1", "top1_prob"] and row["line"] == 3


@pytest.mark.parametrize("flag, value, expected", [
    ("--top-k", "0", "argument --top-k: expected a whole number of 1 or more, got '0'. Fix: pass e.g. --top-k 3"),
    ("--top-k", "two", "argument --top-k: expected a whole number of 1 or more, got 'two'"),
    ("--min-confidence", "1.5", "argument --min-confidence: expected a probability from 0 to 1, got '1.5'"),
    ("--min-confidence", "nan", "argument --min-confidence: expected a probability from 0 to 1, got 'nan'"),
])
def test_bad_top_k_and_min_confidence_are_one_line_errors(flag, value, expected, tmp_path, cli_in_process):
    result = cli_in_process("predict", flag, value, stdin="a text\n", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {expected}"), result.stderr


def test_a_bad_line_past_the_first_batch_stops_stdout_after_it_and_o_writes_nothing(trained_store, tmp_path,
                                                                                   cli_in_process):
    folder, _ = trained_store
    source = tmp_path / "texts.jsonl"
    good = [json.dumps({"text": f"Talks on trade resumed in round {i}."}) for i in range(2001)]
    source.write_text("\n".join([*good, "not json"]) + "\n", encoding="utf-8")
    streamed = cli_in_process("predict", str(source), "--tracking-uri", store_uri(folder), cwd=tmp_path)
    assert streamed.returncode == 2 and "line 2002" in streamed.stderr, streamed.stderr
    assert len(streamed.stdout.splitlines()) == 1 + 2000  # the header and the first batch
    written = cli_in_process("predict", str(source), "-o", str(tmp_path / "tags.csv"), "--tracking-uri",
                             store_uri(folder), cwd=tmp_path)
    assert written.returncode == 2 and not (tmp_path / "tags.csv").exists()


@pytest.mark.parametrize(("output", "expected"), [("tags.jsonl", "jsonl"), ("tags.json", "jsonl"), ("tags.csv", "csv"),
                                                ("tags.txt", "csv"), ("tags", "csv"), ("-", "csv"),
                                                ("/dev/stdout", "csv")])
def test_the_output_format_follows_the_output_name(output, expected):
    from textclf.cli.output import chosen_format

    assert chosen_format(output, None) == expected and chosen_format(output, "jsonl") == "jsonl"


@pytest.mark.parametrize("command", ["predict", "suggest"])
def test_an_output_name_that_says_no_format_is_refused_before_any_work(command, tmp_path, cli_in_process):
    arguments = ["-", "-o", str(tmp_path / "tags.xlsx")] if command == "suggest" else ["-o", str(tmp_path / "tags.xlsx")]
    result = cli_in_process(command, *arguments, stdin="a text\n", cwd=tmp_path)  # no store here: not looked for
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot tell which format to write {tmp_path / 'tags.xlsx'} in")
    assert list(tmp_path.iterdir()) == []
    written = cli_in_process(command, *arguments, "--format", "csv", stdin="a text\n", cwd=tmp_path)
    assert "cannot tell which format" not in written.stderr  # --format says it


def test_compare_sorts_runs_and_shows_differing_params(two_model_store, cli_in_process):
    run_cli = cli_in_process
    tmp_path, _ = two_model_store
    result = run_cli("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--format", "csv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert len(table) == 2
    scores = list(table["validation/macro_f1"])
    assert scores == sorted(scores, reverse=True)
    assert "model.classifier._target_" in table.columns  # differs between the runs
    assert "data.name" not in table.columns  # the same in both runs
    assert table.loc[0, "run"] == "tfidf_logreg" and table.loc[1, "run"] == "tfidf_nb features=tfidf_word"
    markdown = run_cli("compare", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--format", "markdown",
                       "--metric", "test/macro_f1")
    assert markdown.returncode == 0
    assert markdown.stdout.startswith("multiclass: 2 run(s), highest test/macro_f1 first\n| run | test/macro_f1 |")


def test_compare_without_an_experiment_names_the_others_that_hold_runs(tmp_path, train_in_process, cli_in_process):
    """Runs of one's own data go to an experiment named after it: compare's default (diplomacy)
    showed only the seed corpus's, with no word of the others."""
    rows = [{"text": f"passage {i} on {topic}", "label": topic} for i, topic in enumerate(["trade", "health"] * 15)]
    pd.DataFrame(rows).to_csv(tmp_path / "mine.csv", index=False)
    for data in (["data=files", f"data.train={tmp_path / 'mine.csv'}", "data.name=mine"], []):
        trained = train_in_process(tmp_path, *data, "model=tfidf_nb", "features=tfidf_word")
        assert trained.returncode == 0, trained.stderr[-2000:]
    # an audit's run: a count of problems, no score the named command could rank by (it failed so)
    from mlflow.tracking import MlflowClient

    from textclf.tracking.description import AUDIT_TAG

    client = MlflowClient(store_uri(tmp_path))
    audit = client.create_run(client.create_experiment("mine-audit", artifact_location=str(tmp_path / "mlruns")),
                              tags={AUDIT_TAG: "report"})
    client.log_metric(audit.info.run_id, "audit/label_issues", 2)
    client.set_terminated(audit.info.run_id, "FINISHED")
    store = ["--tracking-uri", store_uri(tmp_path)]
    default = cli_in_process("compare", *store)
    assert default.returncode == 0 and "tfidf_nb" in default.stdout, default.stderr
    assert default.stderr == "other experiments with runs: mine (textclf compare --experiment NAME)\n"
    named = cli_in_process("compare", "--experiment", "mine", *store)
    assert named.returncode == 0 and "tfidf_nb" in named.stdout and named.stderr == ""
    # an experiment without finished runs points at those that have some (was: "run python train.py first")
    client.create_experiment("empty", artifact_location=str(tmp_path / "mlruns"))
    empty = cli_in_process("compare", "--experiment", "empty", *store)
    assert empty.returncode == 2 and empty.stderr == ("error: experiment 'empty' has no finished runs. Fix: pass "
                                                      "--experiment NAME, one of diplomacy, mine\n")


def test_ctrl_c_while_predict_reads_exits_130_with_one_line_and_no_output_file(tmp_path, monkeypatch, capsys):
    """Ctrl-C is a KeyboardInterrupt wherever the command is: here while it reads stdin. It says
    "interrupted", not train.py's "before a run began" (predict starts no run)."""
    import sys

    from helpers.training import cli_here

    def lines_then_ctrl_c():
        yield b"a first text\n"
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": lines_then_ctrl_c()})())
    result = cli_here("predict", "-o", str(tmp_path / "out.csv"), "--tracking-uri", f"sqlite:///{tmp_path}/none.db",
                      capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 130 and result.stderr.strip() == "interrupted", result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "suggest", "articles"])
def test_an_output_in_a_missing_folder_is_refused_before_any_work(command, tmp_path, cli_in_process):
    (tmp_path / "article.txt").write_text("Talks resumed. Both sides agreed.\n")
    out = tmp_path / "nodir" / ("tags.jsonl" if command == "articles" else "tags.csv")
    arguments = {"predict": ["predict", "-o", str(out)], "suggest": ["suggest", "-", "-o", str(out)],
                 "articles": ["predict", "--article", str(tmp_path / "article.txt"), "-o", str(out)]}[command]
    result = cli_in_process(*arguments, stdin="a text\n", cwd=tmp_path)  # no store here: not looked for
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr  # was a FileNotFoundError traceback
    assert result.stderr.startswith(f"error: -o {out}: folder {out.parent} does not exist. Fix: create it")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["article.txt"]
    folder = cli_in_process(*arguments[:-1], str(tmp_path), stdin="a text\n", cwd=tmp_path)
    assert folder.returncode == 2 and f"-o {tmp_path} is a folder" in folder.stderr, folder.stderr
