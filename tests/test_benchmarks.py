"""The benchmark runners keep working (``benchmarks/all.py --tiny``: a tiny dataset; one zero-shot
model and 32 fine-tuning passages on the tiny BERT built in the test, in place of MiniLM); they
measure, and nothing here asserts a timing."""

import json
import subprocess
import sys

import pandas as pd

from helpers.paths import ROOT, SEEDS
from helpers.processes import clean_env


def as_csv(split: str, path, per_label: int):
    rows = [json.loads(line) for line in (SEEDS / f"{split}.jsonl").read_text().splitlines()]
    frame = pd.DataFrame({"label": [r["labels"][0] for r in rows], "id": [r["id"] for r in rows],
                          "text": [r["text"] for r in rows]})
    frame.groupby("label").head(per_label).to_csv(path, index=False)
    return path


def test_runners_compare_textclf_with_what_a_user_would_write(tmp_path, tiny):
    train, test = as_csv("train", tmp_path / "train.csv", 30), as_csv("test", tmp_path / "test.csv", 10)
    out = tmp_path / "results"
    # Every corpus counts as large: textclf's features are then the script's (word 1-2-grams in at
    # least 2 texts), and its predictions LinearSVC's own, like the script's.
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "all.py"), "--tiny", "--train", str(train),
                             "--test", str(test), "--override", "features.small_corpus_max_chars=0",
                             "--encoder", str(tiny), "--json-folder", str(out)],
                            capture_output=True, text=True, timeout=900, env=clean_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wall seconds (end to end)" in result.stdout and "peak RSS MB" in result.stdout
    assert "`textclf predict`" in result.stdout
    measured = json.loads((out / "results-20newsgroups-default.json").read_text())["models"]["tfidf_linearsvc"]
    assert measured["baseline_name"] == "script"
    for side in ("baseline", "textclf"):
        assert measured[side]["wall_seconds"] > 0 and measured[side]["peak_rss_mb"] > 0
        assert measured[side]["peak_tree_pss_mb"] > 0  # every process of the run is sampled
        assert 0 <= measured[side]["accuracy"] <= 1
    # same features, same classifier, same data: the two agree on accuracy
    assert abs(measured["baseline"]["accuracy"] - measured["textclf"]["accuracy"]) < 1e-9
    for cost in ("fresh_load_and_tag_seconds", "textclf_predict_one_text_seconds", "import_floor_seconds"):
        assert measured["textclf"][cost] > 0
    tagging = json.loads((out / "results-tagging.json").read_text())["results"]["minilm_zeroshot"]
    for inference in ("fp32", "int8"):
        assert tagging[inference]["passages_per_second"] > 0 and 0 <= tagging[inference]["test_macro_f1"] <= 1
    finetune = json.loads((out / "results-finetune.json").read_text())["summary"]
    assert finetune["textclf"]["train_samples_per_second"] > 0 and finetune["bare"]["ratio_to_bare"] == 1.0
