"""`textclf suggest`: the least certain texts, spread over the pool, never two near-copies nor a
copy of the labeled data, exactly -n of them; bad input is one line."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from helpers.paths import SEEDS
from helpers.processes import run_train
from helpers.shared import built_once
from helpers.training import cli_here
from textclf.audit.suggest import pick_for_labeling, uncertainty


def test_uncertainty_ranks_close_calls_first():
    probabilities = np.array([[0.9, 0.05, 0.05], [0.45, 0.44, 0.11], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1]])
    assert list(np.argsort(-uncertainty(probabilities, "margin", False), kind="stable")) == [2, 1, 3, 0]
    assert list(np.argsort(-uncertainty(probabilities, "entropy", False), kind="stable")) == [2, 1, 3, 0]
    # multi-label: how close the least decided label is to 0.5
    assert uncertainty(np.array([[0.5, 0.1], [0.95, 0.02]]), "margin", True).tolist() == pytest.approx([1.0, 0.1])


def test_picks_skip_near_copies_of_each_other_and_of_the_labeled_data():
    stories = [f"story {i}: the {word} ministry said talks on {topic} would resume next {day}"
               for i, (word, topic, day) in enumerate(zip(
                   ["foreign", "defense", "trade", "finance", "unification", "interior", "energy", "health"],
                   ["tariffs", "drills", "visas", "fisheries", "rail links", "pandemic aid", "pipelines", "water"],
                   ["week", "month", "spring", "autumn", "year", "Monday", "Friday", "winter"]))]
    copies = [stories[0].upper(), stories[0].title(), stories[0].replace(" ", "  ")]
    texts = stories + copies  # 8 distinct stories, then 3 near-copies of story 0
    probabilities = np.tile([0.8, 0.2], (len(texts), 1))
    probabilities[[0, 8, 9, 10]] = [0.5, 0.5]  # story 0 and its copies: the least certain
    picks = pick_for_labeling(texts, probabilities, ["a", "b"], 10, seed=0)
    rows = [pick.row for pick in picks]
    assert rows[0] in {0, 8, 9, 10}  # the least certain first
    assert len(rows) == 8 and len(set(rows) & {0, 8, 9, 10}) == 1  # 10 asked, but only 8 are not copies
    # story 0 is already labeled: none of its copies is picked
    labeled = pick_for_labeling(texts, probabilities, ["a", "b"], 10, labeled_texts=[stories[0]], seed=0)
    assert sorted(pick.row for pick in labeled) == [1, 2, 3, 4, 5, 6, 7]
    assert len({pick.cluster for pick in pick_for_labeling(texts, probabilities, ["a", "b"], 4, seed=0)}) == 4
    assert all(pick.reason.startswith(f"uncertainty {pick.uncertainty:.2f} by margin: ") and "cluster" in pick.reason
               for pick in labeled)


@pytest.fixture(scope="session")
def suggest_store(tmp_path_factory):
    """A default model trained on the seed corpus (features=tfidf_word), the champion suggest reads."""
    def build(folder):
        result = run_train(folder, "features=tfidf_word")
        assert result.returncode == 0, result.stderr[-2000:]

    return built_once(tmp_path_factory, "suggest-champion", build)


def test_suggest_writes_n_picks_ready_to_label(suggest_store, tmp_path, capsys, monkeypatch):
    output = tmp_path / "picks.csv"
    result = cli_here("suggest", str(SEEDS / "test.jsonl"), "-n", "7", "--labeled", str(SEEDS / "train.jsonl"),
                      "-o", str(output), "--tracking-uri", f"sqlite:///{suggest_store}/mlflow.db", capsys=capsys,
                      monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr[-2000:]
    picks = pd.read_csv(output)
    assert len(picks) == 7 and picks["id"].is_unique
    assert list(picks.columns[:3]) == ["id", "text", "label"] and {"top1_prob", "uncertainty", "reason"} <= set(picks.columns)
    test = pd.read_json(SEEDS / "test.jsonl", lines=True).set_index("id")
    assert all(test.loc[ident, "text"] == text for ident, text in zip(picks["id"], picks["text"]))
    assert (picks["label"] == picks["top1"]).all()
    assert {"top2", "top3_prob"} <= set(picks.columns) and "top4" not in picks.columns  # three labels shown


def test_suggest_reads_a_text_file_and_names_picks_by_line(suggest_store, tmp_path, capsys, monkeypatch):
    texts = [json.loads(line)["text"] for line in (SEEDS / "test.jsonl").read_text().splitlines()[:30]]
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(texts) + "\n", encoding="utf-8")
    result = cli_here("suggest", str(pool), "-n", "3", "--tracking-uri", f"sqlite:///{suggest_store}/mlflow.db",
                      capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 0, result.stderr[-2000:]
    picks = pd.read_csv(io.StringIO(result.stdout))
    assert list(picks.columns[:2]) == ["line", "text"]
    assert all(texts[line - 1] == text for line, text in zip(picks["line"], picks["text"]))


def test_fewer_picks_than_asked_say_why(suggest_store, tmp_path, capsys, monkeypatch):
    texts = [json.loads(line)["text"] for line in (SEEDS / "test.jsonl").read_text().splitlines()[:5]]
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(texts) + "\n", encoding="utf-8")
    pd.DataFrame({"text": texts[:4]}).to_parquet(tmp_path / "labeled.parquet")  # all but the last, as Parquet
    store = f"sqlite:///{suggest_store}/mlflow.db"

    def suggest(*arguments):
        return cli_here("suggest", str(pool), *arguments, "-o", str(tmp_path / "picks.csv"), "--tracking-uri", store,
                        capsys=capsys, monkeypatch=monkeypatch)

    labeled = suggest("-n", "3", "--labeled", str(tmp_path / "labeled.parquet"))
    assert labeled.returncode == 0, labeled.stderr[-2000:]
    assert pd.read_csv(tmp_path / "picks.csv")["text"].tolist() == texts[4:]
    assert "1 of the 3 picks asked for: the pool's other texts are near-copies of the labeled data" in labeled.stderr
    # the training file, as it was trained on (data.text_column=body), beside a pool whose column is text
    pd.DataFrame({"body": texts[:4], "topic": ["x"] * 4}).to_csv(tmp_path / "train.csv", index=False)
    named = suggest("-n", "3", "--labeled", str(tmp_path / "train.csv"), "--labeled-text-column", "body")
    assert named.returncode == 0, named.stderr[-2000:]
    assert pd.read_csv(tmp_path / "picks.csv")["text"].tolist() == texts[4:]
    small = suggest("-n", "40")
    assert len(pd.read_csv(tmp_path / "picks.csv")) == 5
    assert small.stderr.strip() == "5 of the 40 picks asked for: the pool has 5 texts"


@pytest.mark.parametrize(("arguments", "message"), [
    (["-n", "0"], "-n must be 1 or more"),
    (["--strategy", "loudest"], "invalid choice: 'loudest'"),
    (["--labeled", "/nowhere/train.csv"], "/nowhere/train.csv"),
    (["--labeled", str(SEEDS / "train.jsonl"), "--labeled-text-column", "body"],
     "line 1 has no field 'body' (fields: ['id', 'text', 'labels']). Fix: pass --labeled-text-column NAME"),
])
def test_bad_input_is_one_line_and_writes_nothing(arguments, message, suggest_store, tmp_path, capsys, monkeypatch):
    output = tmp_path / "picks.csv"
    result = cli_here("suggest", str(SEEDS / "test.jsonl"), *arguments, "-o", str(output),
                      "--tracking-uri", f"sqlite:///{suggest_store}/mlflow.db", capsys=capsys, monkeypatch=monkeypatch)
    assert result.returncode == 2 and result.stderr.count("error:") == 1 and message in result.stderr
    assert "Fix:" in result.stderr and not output.exists()
