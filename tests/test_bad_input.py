"""Bad input: one line naming the problem and the fix, exit 2, no traceback, nothing half-written.

Each case runs train.py's (or textclf's) own entry point in this process; tests/test_train_contract.py
keeps a few as real `python train.py` processes.
"""

import gzip
import json

import pandas as pd
import pytest

from helpers.stores import all_runs, client
from textclf.errors import UserError


@pytest.fixture
def run_train(train_in_process):
    """Refused input must leave no store behind: each test starts where none is."""
    return lambda folder, *overrides: train_in_process(folder, *overrides, new_store=True)


@pytest.fixture
def run_cli(cli_in_process):
    return cli_in_process


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def good_rows(n=12):
    labels = ["visit", "missile", "alliance"]
    return [{"text": f"passage number {i} about {labels[i % 3]} matters", "label": labels[i % 3]} for i in range(n)]


def assert_clean_failure(result, folder, *words):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Fix:" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    if (folder / "mlflow.db").exists():
        assert all(run.info.status != "RUNNING" for run in all_runs(folder))
        assert client(folder).search_model_versions() == []
    return lines[0]


def no_run_at_all(folder) -> bool:
    """No run in the store, none in its trash either (a run that bad input ended is deleted)."""
    from mlflow.entities import ViewType

    if not (folder / "mlflow.db").exists():
        return True
    store = client(folder)
    return store.search_runs([e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)],
                             run_view_type=ViewType.ALL) == []


def assert_refused_before_anything_was_written(result, folder, *words):
    """Bad data: refused while it is read, before any store, run or model exists; only Hydra's
    folder for the run's log (``outputs/``) was made."""
    line = assert_clean_failure(result, folder, *words)
    assert not (folder / "mlflow.db").exists() and not (folder / "mlruns").exists()
    assert sorted(path.name for path in folder.iterdir() if path.is_dir()) == ["outputs"]
    return line


@pytest.fixture
def files_run(run_train):
    return lambda folder, train, *extra: run_train(folder, "data=files", f"data.train={train}", *extra)


def test_missing_file(tmp_path, files_run):
    result = files_run(tmp_path, tmp_path / "nope.csv")
    assert_refused_before_anything_was_written(result, tmp_path, "not found", "nope.csv")


def test_missing_column(tmp_path, files_run):
    train = tmp_path / "train.csv"
    pd.DataFrame(good_rows()).rename(columns={"label": "topic"}).to_csv(train, index=False)
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "'label'", "topic", "data.label_column")


@pytest.mark.parametrize("bad_text", ["", "   ", None, 42])
def test_empty_null_or_non_text_values(tmp_path, bad_text, files_run):
    rows = good_rows()
    rows[3]["text"] = bad_text
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "row(s) 4")


def test_every_row_without_text_is_named_at_once(tmp_path, files_run):
    """A CSV's "" reads as missing and its "   " as a blank string: both named in one line (the
    blank row was named only once the empty one was fixed)."""
    rows = good_rows()
    rows[3]["text"], rows[7]["text"] = "", "   "
    train = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(train, index=False)
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "no text", "row(s) 4, 8")


def test_unknown_label_in_validation(tmp_path, files_run):
    train = write_jsonl(tmp_path / "train.jsonl", good_rows())
    validation = write_jsonl(tmp_path / "validation.jsonl", [{"text": "a passage on trade", "label": "trade"}])
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "a passage on energy", "label": "energy"}])
    result = files_run(tmp_path, train, f"data.validation={validation}", f"data.test={test}")
    # both splits are named in the one line, not only the first (fixing it would meet the next)
    assert_refused_before_anything_was_written(result, tmp_path, "validation data", "'trade' and test data",
                                               "'energy' that never occur in train")
    # a misspelt label is named with the one it may be
    misspelt = write_jsonl(tmp_path / "misspelt.jsonl", [{"text": "a passage on a visit", "label": "visits"}])
    result = files_run(tmp_path, train, f"data.validation={misspelt}", f"data.test={misspelt}")
    assert_refused_before_anything_was_written(result, tmp_path, "'visits' (did you mean 'visit'?) that never occur")


def test_single_class(tmp_path, files_run):
    rows = [dict(row, label="visit") for row in good_rows()]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "single class")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("model=tfidf_nope", ["tfidf_nope", "tfidf_logreg"]),
        ("hparams_search=tfidf_lgreg", ["choose one of: minilm_finetune, minilm_setfit, tfidf_linearsvc, tfidf_logreg)"]),
        ("data.nope=1", ["data.nope", "+data.nope"]),
        # a key of a group not chosen: was "add a new key with +cv.folds=VALUE"
        ("cv.folds=3", ["cv.* keys exist once cv is chosen", "Fix: choose it first, e.g. cv=kfold"]),
        ("cv=kfold cv.fold=3", ["unknown config key 'cv.fold' (did you mean 'cv.folds'?)", "+cv.fold"]),
        ("data.train=[", ["cannot parse"]),
        ("seed=abc", ["seed"]),
        ("blas_threads=0", ["blas_threads must be null (OpenBLAS's own setting) or a whole number from 1 to", "got 0",
                            "Fix: pass blas_threads=1"]),
        ("blas_threads=two", ["blas_threads must be null", "got 'two'"]),
        ("blas_threads=true", ["blas_threads must be null", "got True"]),  # would have read as 1
        ("blas_threads=1.5", ["blas_threads must be null", "got 1.5"]),
        ("blas_threads=-1", ["blas_threads must be null", "got -1"]),
        # was ctypes' traceback inside the started run (too large for C), or a quiet cap
        ("blas_threads=100000000000000000000", ["this machine's cores", "got 100000000000000000000"]),
        ("model.classifier.estimator.C=abc", ["'C' parameter"]),
        ("model.calibration_set=test", ["model.calibration_set", "validation or null"]),
        ("features.word_ngram_range=abc", ["features.word_ngram_range must be two whole numbers", "['a', 'b', 'c']"]),
        ("features.char_ngram_range=[5,2]", ["features.char_ngram_range", "[5, 2]", "=[1,2]"]),
        ("features=tfidf_word features.word_ngram_range=[0,2]", ["features.word_ngram_range", "1 <= min"]),
        ("cv=kfold cv.folds=1", ["cv.folds must be an integer of at least 2", "cv.folds=5"]),
        # scikit-learn's traceback, after the run had started, when no label had that many texts
        ("cv=kfold cv.folds=1000", ["cv.folds=1000 is more folds than any label has texts", "Fix: pass cv.folds="]),
        # was a KeyError once the first fold was scored, its run left FAILED
        # a search without -m trained one ordinary run, silently
        ("hparams_search=tfidf_logreg", ["hparams_search=tfidf_logreg runs a search", "Fix: add -m: python train.py -m"]),
        ("cv=kfold cv.score=macro_f2", ["cv.score=macro_f2 is not a score of a multiclass fold (one of accuracy, "
                                        "macro_f1", "Fix: pass cv.score=macro_f1"]),
        # each was a KeyError traceback once the model was trained, evaluated and logged, its run FAILED
        ("tracking.champion_metric=validation/macro_f2", ["tracking.champion_metric=validation/macro_f2 is not a metric "
                                                          "of this run (did you mean 'validation/macro_f1'?)",
                                                          "Fix: pass tracking.champion_metric=validation/macro_f1"]),
        ("tracking.champion_metric=cv/macro_f1", ["cv/macro_f1 is a score of cross-validation", "Fix: pass cv=kfold"]),
        ("optimized_metric=test/acuracy", ["optimized_metric=test/acuracy", "(did you mean 'test/accuracy'?)"]),
    ],
)
def test_bad_overrides(tmp_path, override, words, run_train):
    assert_clean_failure(run_train(tmp_path, *override.split()), tmp_path, *words)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("splits", [[], ["data.validation=null", "data.test=null"], ["data.name=mine"]])
def test_an_own_train_file_without_data_files_is_refused(tmp_path, run_train, splits):
    """A new user's first try: data.train without data=files. It was read beside the bundled
    corpus's validation and test splits (a missing column, with a Fix that led in a circle) or,
    with those set to null, trained and registered as the bundled corpus, diplomacy-topics."""
    rows = pd.DataFrame({"body": [row["text"] for row in good_rows()], "topic": [row["label"] for row in good_rows()]})
    rows.to_csv(tmp_path / "news.csv", index=False)
    result = run_train(tmp_path, f"data.train={tmp_path / 'news.csv'}", "data.text_column=body",
                       "data.label_column=topic", *splits)
    assert_clean_failure(result, tmp_path, "data=diplomacy", f"Fix: pass data=files data.train={tmp_path / 'news.csv'}")
    assert not (tmp_path / "mlflow.db").exists()


def test_bad_setting_found_during_fit_leaves_no_run(tmp_path, run_train):
    # a term must be in more texts than train holds: only the fit can know
    result = run_train(tmp_path, "features=tfidf_word", "features.min_df=100000")
    assert_clean_failure(result, tmp_path, "min_df", "features.* settings")
    assert all_runs(tmp_path) == []  # the run that began is ended FAILED and moved to the trash
    (trashed,) = client(tmp_path).search_runs(["1"], run_view_type=2)  # ViewType.DELETED_ONLY
    assert trashed.info.status == "FAILED"


def test_bad_data_found_only_by_the_fit_leaves_no_run(tmp_path, run_train):
    rows = [{"text": chr(0x4E00 + i), "label": "x" if i % 2 else "y"} for i in range(40)]  # one-letter texts: no vocabulary
    write_jsonl(tmp_path / "train.jsonl", rows)
    result = run_train(tmp_path, "data=files", f"data.train={tmp_path / 'train.jsonl'}", "features=tfidf_word",
                       "model=tfidf_nb")
    assert_clean_failure(result, tmp_path, "vocabulary")
    assert all_runs(tmp_path) == []


def test_unknown_model_uri(trained_store, tmp_path, run_cli):
    folder, _ = trained_store
    source = tmp_path / "in.txt"
    source.write_text("a passage\n")
    def predict(uri, *flags):
        return run_cli("predict", str(source), "--model-uri", uri, "--tracking-uri", f"sqlite:///{folder}/mlflow.db",
                       *flags, cwd=folder)

    line = assert_clean_failure(predict("models:/no-such-model@champion"), tmp_path, "cannot load model")
    assert "registered here: diplomacy-topics (tracking store" in line  # what the name might have been
    line = assert_clean_failure(predict("models:/diplomacy-topics@nobody"), tmp_path, "cannot load model", "nobody")
    assert "registered here" not in line
    assert_clean_failure(predict("runs:/0123456789abcdef/model"), tmp_path, "cannot load model")
    assert_clean_failure(predict(f"file://{tmp_path}"), tmp_path, "cannot verify", "--no-verify")
    # a name without a version or alias, a run's other path (were "cannot verify", pointing at --no-verify)
    assert_clean_failure(predict("models:/diplomacy-topics"), tmp_path, "names no version of 'diplomacy-topics'",
                         "Fix: pass models:/diplomacy-topics@champion")
    assert_clean_failure(predict("runs:/0123456789abcdef/nomodel"), tmp_path, "textclf logs a run's model at "
                         "runs:/0123456789abcdef/model, not at 'nomodel'")
    # a registered model's name without models:/ (was "cannot verify", pointing at --no-verify)
    for name, meant in (("diplomacy-topics", "models:/diplomacy-topics@champion"),
                        ("diplomacy-topics@champion", "models:/diplomacy-topics@champion"),
                        ("diplomacy-topics/1", "models:/diplomacy-topics/1")):
        assert_clean_failure(predict(name), tmp_path, f"{name!r} is neither a model URI nor a folder here. Fix: "
                             f"pass {meant}")
    assert_clean_failure(predict(str(source)), tmp_path, "is a file, not the folder of a saved model")
    # a folder that is not there, unverified (was MLflow's words on failed artifact downloads)
    assert_clean_failure(predict("saved/nowhere", "--no-verify"), tmp_path, "(no such folder)")


def test_empty_prediction_input(trained_store, tmp_path, run_cli):
    folder, _ = trained_store
    result = run_cli("predict", "-", stdin="\n  \n", cwd=folder)
    assert_clean_failure(result, tmp_path, "no texts")


def test_a_folder_instead_of_a_file(tmp_path, files_run):
    # a save_to_disk folder passed as data.train was "train file not found"
    assert_refused_before_anything_was_written(files_run(tmp_path, tmp_path), tmp_path, "is a folder",
                                               f"data=hf data.path={tmp_path}")


def test_wrong_extension(tmp_path, files_run):
    train = tmp_path / "train.xlsx"
    train.write_bytes(b"PK\x03\x04 not really a spreadsheet")
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "unsupported extension", ".xlsx")


def test_corrupt_parquet(tmp_path, files_run):
    train = tmp_path / "train.parquet"
    train.write_bytes(b"PAR1 this is not a parquet body")
    line = assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "could not parse",
                                                      "parquet", "re-save it as Parquet")
    assert ".." not in line


@pytest.mark.parametrize("content", ["", "\n"])
def test_an_empty_file(tmp_path, files_run, content):
    train = tmp_path / "train.csv"
    train.write_text(content, encoding="utf-8")
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "train.csv is empty")


def test_bad_csv_quoting(tmp_path, files_run):
    train = tmp_path / "train.csv"
    train.write_text('text,label\n"an unterminated quote,visit\nplain,missile\n', encoding="utf-8")
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "could not parse",
                                               "separate cells with commas")


@pytest.mark.parametrize("rows", ["plain words,visit,extra\nmore words,missile,extra\n",  # pandas took an index
                                  "plain words,visit,extra,more\nmore words,missile\n"])
def test_csv_rows_wider_than_the_header(tmp_path, files_run, rows):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + rows, encoding="utf-8")
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "more cells than its header", "quote")


def test_non_utf8_bytes(tmp_path, files_run):
    train = tmp_path / "train.csv"
    train.write_bytes("text,label\ncaf\xe9 diplomacy,visit\n".encode("latin-1"))
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "UTF-8")
    # a training file that is no text at all says what it looks like, not "re-save it as UTF-8"
    train.write_bytes(gzip.compress(b"text,label\na visit,visit\n", mtime=0))
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path,
                                               "train file", "train.csv is not UTF-8 text: it looks like a gzip-compressed file. Fix: gunzip")


def test_missing_text_column(tmp_path, files_run):
    train = write_jsonl(tmp_path / "train.jsonl", [{"body": r["text"], "label": r["label"]} for r in good_rows()])
    assert_refused_before_anything_was_written(files_run(tmp_path, train), tmp_path, "text column 'text'", "data.text_column")


# a list inside a label list was read as the label "['nested']"
@pytest.mark.parametrize("bad_label", [None, "", "  ", ["visit", ["nested"]]])
def test_missing_or_empty_labels(tmp_path, bad_label, files_run):
    rows = good_rows()
    rows[5]["label"] = bad_label
    assert_refused_before_anything_was_written(files_run(tmp_path, write_jsonl(tmp_path / "train.jsonl", rows)), tmp_path, "row(s) 6")


def test_unknown_label_in_test(tmp_path, files_run):
    train = write_jsonl(tmp_path / "train.jsonl", good_rows())
    validation = write_jsonl(tmp_path / "validation.jsonl", [{"text": "talks resume", "label": "visit"}])
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "tariffs rise", "label": "trade"}])
    result = files_run(tmp_path, train, f"data.validation={validation}", f"data.test={test}")
    assert_refused_before_anything_was_written(result, tmp_path, "test data", "'trade'")


def test_duplicate_ids(tmp_path, files_run):
    rows = [dict(row, id="same" if i < 2 else f"id{i}") for i, row in enumerate(good_rows())]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    assert_refused_before_anything_was_written(files_run(tmp_path, train, "data.id_column=id"), tmp_path, "duplicate ids", "'same'")


def test_same_text_in_train_and_test(tmp_path, files_run):
    rows = good_rows()
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    test = write_jsonl(tmp_path / "test.jsonl", [rows[0], {"text": "talks resume", "label": "visit"}])
    result = files_run(tmp_path, train, f"data.validation={test}", f"data.test={test}")
    assert_refused_before_anything_was_written(result, tmp_path, "also appear in train")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("data.trian=x.csv", ["data.trian"]),         # a typo of a real key
        ("+model.classifier.nope=1", ["nope"]),       # a new key the estimator does not take
        ("task.min_labels=2", ["task.min_labels"]),  # a key of the other task option
        ("tracking.connect_timeout=[1", ["cannot parse"]),
        ("tracking.server_silence_seconds=0", ["tracking.server_silence_seconds", "positive"]),
        ("data=nope", ["data/nope", "diplomacy"]),
    ],
)
def test_more_bad_overrides(tmp_path, override, words, run_train):
    assert_clean_failure(run_train(tmp_path, override), tmp_path, *words)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("tracking.registered_model=news/topics", ["tracking.registered_model", "'/'", "registered_model=news-topics"]),
        ("data.name=reuters:2024", ["tracking.registered_model", "'reuters:2024-topics'"]),  # the default name's part
        ("tracking.champion_alias='best one'", ["tracking.champion_alias", "letters, digits"]),
        ("tracking.champion_alias=latest", ["tracking.champion_alias", "'latest'"]),  # MLflow reads it as the newest
        ("tracking.champion_alias=v2", ["tracking.champion_alias", "champion_alias=champion"]),
        ("tracking.experiment=''", ["tracking.experiment", "1 to 500 characters"]),
    ],
)
def test_a_name_mlflow_would_refuse_at_registration_is_refused_before_the_run(tmp_path, override, words, run_train):
    # MLflow checks a registered model's name and alias only at the run's last step, after the fit
    assert_clean_failure(run_train(tmp_path, "features=tfidf_word", "model=tfidf_nb", override), tmp_path, *words)
    assert no_run_at_all(tmp_path)


@pytest.mark.parametrize(("override", "words"), [
    ("model.descriptions.trust_restoration=5", ["model.descriptions.trust_restoration", "list of descriptions"]),
    ("~model.descriptions.trust_restoration", ["no description for label(s) ['trust_restoration']"]),
    ("~model.descriptions +model.descriptions=5", ["model.descriptions must map each label"]),
    # a misspelt label: the description that was meant for it is named
    ("~model.descriptions.trust_restoration +model.descriptions.trust_restorayion=rebuilding",
     ["no description for label(s) ['trust_restoration']", "'trust_restorayion' (did you mean 'trust_restoration'?)"]),
    ("model.descriptions.trust_restoration=null", ["model.descriptions.trust_restoration has no description"]),
])
def test_zero_shot_descriptions_are_checked_against_the_data_before_the_run(tmp_path, override, words, run_train):
    # (the label set is known once the data is read; the encoder has not loaded yet)
    assert_clean_failure(run_train(tmp_path, "model=minilm_zeroshot", *override.split()), tmp_path, *words)
    assert no_run_at_all(tmp_path)


@pytest.mark.parametrize(("option", "words"), [
    ("broken", ["broken.yaml, line 2, column 10 is not valid YAML", "expected ',' or ']'",
                "(while parsing a flow sequence at line 1)"]),
    ("bell", ["bell.yaml, character 18 is not valid YAML", "#x0007"]),  # was YAML's ReaderError traceback
    ("/elsewhere/mine.yaml", ["model/descriptions=/elsewhere/mine.yaml names a file", "hydra.searchpath=[file://DIR]"]),
    # a misspelt name with a slash in it is not a file: the options are listed (was "names a file")
    ("zeroshot/broken", ["Could not find 'model/descriptions/zeroshot/broken'", "choose one of: ", "bell, broken"]),
])
def test_a_descriptions_file_hydra_cannot_read_is_one_line(tmp_path, option, words, run_train):
    """A user's own descriptions file: one with a YAML mistake (was YAML's traceback, exit 1), or
    a path given where a config's name goes (was "Could not find ..." with no way out)."""
    folder = tmp_path / "configs" / "model" / "descriptions"
    folder.mkdir(parents=True)
    (folder / "broken.yaml").write_text("tariffs: [customs duties\nsanctions: asset freezes\n")
    (folder / "bell.yaml").write_text('tariffs: "customs\x07 duties"\n')
    result = run_train(tmp_path, "model=minilm_zeroshot", f"model/descriptions={option}",
                       f"hydra.searchpath=[file://{tmp_path / 'configs'}]")
    assert_clean_failure(result, tmp_path, *words)
    assert no_run_at_all(tmp_path)


def test_a_sweep_whose_store_or_names_are_refused_launches_no_job(tmp_path, run_train):
    # Hydra turns an error of the sweep's parent-run callback into a warning and launches every job
    result = run_train(tmp_path, "-m", "seed=1,2", "features=tfidf_word", "model=tfidf_nb", "tracking.champion_alias=latest")
    assert_clean_failure(result, tmp_path, "tracking.champion_alias")
    assert "Launching" not in result.stdout + result.stderr and not (tmp_path / "mlflow.db").exists()


def test_unreachable_tracking_server_is_reported_in_seconds(tmp_path, run_train):
    import time

    started = time.monotonic()
    result = run_train(tmp_path, "tracking.uri=http://127.0.0.1:9", "tracking.connect_timeout=3")
    assert_clean_failure(result, tmp_path, "unreachable", "127.0.0.1:9")
    assert time.monotonic() - started < 30
    assert "fit" not in result.stdout


@pytest.mark.parametrize(("uri", "words"), [
    ("htp://localhost:5000", ["'htp://'", "sqlite:///"]),        # a mistyped scheme
    ("file:///tmp/mlruns", ["'file://'", "sqlite:///"]),         # MLflow's file store: no model registry
    ("mysql://analyst:s3cret@127.0.0.1/runs", ["mysql://", "pip install mysqlclient"]),  # its driver missing
    ("postgresql://analyst:s3cret@127.0.0.1:9/runs", ["127.0.0.1:9", "unreachable"]),  # nothing listens
])
def test_a_tracking_uri_textclf_cannot_use_is_refused_before_training(tmp_path, run_train, run_cli, uri, words):
    result = run_train(tmp_path, f"tracking.uri={uri}", "features=tfidf_word", "model=tfidf_nb")
    line = assert_clean_failure(result, tmp_path, *words)
    assert "s3cret" not in line and "calibration" not in result.stdout and "fit" not in result.stdout
    compared = run_cli("compare", "--tracking-uri", uri, cwd=tmp_path)  # the commands read stores the same way
    assert assert_clean_failure(compared, tmp_path, *words) == line


def test_textclf_debug_raises_what_would_be_one_line(tmp_path, run_train, run_cli, monkeypatch):
    from textclf.errors import UserError

    monkeypatch.setenv("TEXTCLF_DEBUG", "1")
    with pytest.raises(UserError, match="nowhere.csv"):  # its traceback: what a bug report needs
        run_train(tmp_path, "data=files", "data.train=/nowhere.csv")
    with pytest.raises(UserError, match="no texts"):
        run_cli("predict", "-", stdin="\n", cwd=tmp_path)


def test_malformed_tracking_uri(tmp_path, run_train):
    assert_clean_failure(run_train(tmp_path, "tracking.uri=not-a-uri"), tmp_path, "not a URI")


def test_a_one_megabyte_text_trains(tmp_path, files_run):
    rows = good_rows(30)
    rows[0]["text"] = ("a very long passage about a visit " * 30000)[:1_000_000]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    result = files_run(tmp_path, train, "features=tfidf_word")
    assert result.returncode == 0, result.stderr[-2000:]


def test_tampered_registered_model_is_refused(tmp_path, run_train, run_cli):
    result = run_train(tmp_path, "features=tfidf_word", "model=tfidf_nb")
    assert result.returncode == 0, result.stderr[-2000:]
    (array,) = list((tmp_path / "mlruns").rglob("arrays/a0.npy"))
    import numpy as np

    np.save(array, np.array([object(), "planted"], dtype=object), allow_pickle=True)
    source = tmp_path / "in.txt"
    source.write_text("a passage\n")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    predicted = run_cli("predict", str(source), "--tracking-uri", uri, cwd=tmp_path)
    assert_clean_failure(predicted, tmp_path / "none", "is not the model that was logged", "arrays/a0.npy")
    # Unverified, the format itself still refuses a pickled array.
    unverified = run_cli("predict", str(source), "--tracking-uri", uri, "--no-verify", cwd=tmp_path)
    line = assert_clean_failure(unverified, tmp_path / "none", "refusing to load")
    assert "allow_pickle" in line


def test_a_search_setting_the_launcher_lacks_is_named_in_the_line(tmp_path, run_train):
    """The TF-IDF searches set the joblib launcher's n_jobs; on the basic launcher Hydra refuses the
    key, and the line used to end at "ConfigKeyError raised while composing config:"."""
    result = run_train(tmp_path, "-m", "hparams_search=tfidf_logreg", "hydra/launcher=basic",
                       "hydra.sweeper.n_trials=1")
    assert_clean_failure(result, tmp_path, "Key 'n_jobs' not in 'BasicLauncherConf'")


def test_a_search_that_would_look_for_the_worst_settings_is_refused(tmp_path):
    """Optuna maximised whatever optimized_metric named: a loss was searched for its highest. As
    `python train.py`: the sweep's parent run, made before the sweeper starts, goes as it exits."""
    from helpers.processes import run_train as run_process
    from textclf.search.sweeper import StudySweeper

    result = run_process(tmp_path, "-m", "hparams_search=tfidf_logreg", "features=tfidf_word",
                         "optimized_metric=validation/log_loss")
    line = assert_clean_failure(result, tmp_path, "better when lower", "hydra.sweeper.direction=minimize")
    # no study; the parent run is in the trash, as a refused sweep's is
    assert "Launching" not in result.stdout and not (tmp_path / "optuna.db").exists() and all_runs(tmp_path) == [], line
    with pytest.raises(UserError, match="better when higher.*Fix: pass hydra.sweeper.direction=maximize"):
        StudySweeper(1, 1, None, "minimize", None, {})._check_direction("validation/macro_f1")
