"""Reading users' data: CSV, JSONL, Parquet and Hugging Face datasets, labels, carved splits."""

import json

import pandas as pd
import pytest

from textclf.data import load_files, load_hf
from textclf.errors import TextclfWarning, UserError

LABELS = ["visit", "missile", "alliance"]


def frame(n=30, multi=False):
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        rows.append({"id": f"r{i}", "text": f"text {i} on {label}", "label": f"{label}|visit" if multi and i % 2 else label})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_byte_order_mark_and_windows_line_ends_are_read_as_plain_utf8(tmp_path, suffix):
    path = tmp_path / f"train{suffix}"
    getattr(frame(), "to_csv" if suffix == ".csv" else "to_json")(path, index=False, **({} if suffix == ".csv" else
                                                                                      {"orient": "records", "lines": True}))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    dataset = load_files("bom", str(path), id_column="id", validation_size=0.2, test_size=0.2, split_seed=1)
    texts = [text for split in dataset.splits for text in split.texts]
    assert sorted(texts) == sorted(frame()["text"]) and not any("\ufeff" in text or "\r" in text for text in texts)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_file_format_reads_the_same(tmp_path, suffix):
    path = tmp_path / f"train{suffix}"
    data = frame()
    {".csv": lambda: data.to_csv(path, index=False),
     ".jsonl": lambda: data.to_json(path, orient="records", lines=True),
     ".parquet": lambda: data.to_parquet(path)}[suffix]()
    dataset = load_files("mine", str(path), id_column="id", validation_size=0.2, test_size=0.2, split_seed=1)
    assert dataset.label_names == ("alliance", "missile", "visit")
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (18, 6, 6)
    everything = set(dataset.train.ids) | set(dataset.validation.ids) | set(dataset.test.ids)
    assert everything == set(data["id"])
    for split in (dataset.validation, dataset.test):  # stratified: two of each label
        assert sorted(split.primary_labels) == sorted(LABELS * 2)


def test_carved_split_is_seeded(tmp_path):
    path = tmp_path / "train.csv"
    frame().to_csv(path, index=False)
    first, again, other = (load_files("m", str(path), split_seed=seed).test.texts for seed in (1, 1, 2))
    assert first == again and first != other


def test_label_separator_and_list_labels(tmp_path):
    csv_path, jsonl_path = tmp_path / "train.csv", tmp_path / "train.jsonl"
    frame(multi=True).to_csv(csv_path, index=False)
    separated = load_files("m", str(csv_path), label_separator="|")
    assert ("missile", "visit") in separated.train.labels + separated.validation.labels + separated.test.labels
    # read without the separator, "missile|visit" is one label beside missile and visit: said, with the fix
    frame(n=90, multi=True).to_csv(tmp_path / "more.csv", index=False)
    with pytest.warns(UserWarning, match="made of other labels joined by '\\|' .* \"data.label_separator='\\|'\" task=multilabel"):
        load_files("m", str(tmp_path / "more.csv"))
    rows = [{"text": f"text {i}", "labels": [LABELS[i % 3], "visit"]} for i in range(30)]
    jsonl_path.write_text("\n".join(json.dumps(r) for r in rows))
    parquet_path = tmp_path / "train.parquet"
    pd.DataFrame(rows).to_parquet(parquet_path)  # a list column, as Parquet stores one
    for path in (jsonl_path, parquet_path):
        listed = load_files("m", str(path), label_column="labels")
        assert all(row[0] in LABELS for row in listed.train.labels)
        assert ("alliance", "visit") in listed.train.labels + listed.validation.labels + listed.test.labels


def test_hugging_face_local_folder(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        data = frame()
        data["text"] = split + " " + data["text"]  # distinct texts: the leakage check would refuse copies
        data.to_csv(folder / f"{split}.csv", index=False)
    dataset = load_hf("hf", str(folder))
    assert len(dataset.train) == 30 and len(dataset.validation) == 30
    assert dataset.label_names == ("alliance", "missile", "visit")
    few = load_hf("hf", str(folder), per_label=2, split_seed=1)  # data.per_label from any source
    assert len(few.train) == 6 and len(few.validation) == 30 and len(few.test) == 30


def test_hugging_face_class_labels_become_names(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)})
    data = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(30)], "label": [i % 3 for i in range(30)]},
                                      features=features)
    folder = tmp_path / "parquet"
    folder.mkdir()
    data.to_parquet(str(folder / "train.parquet"))
    # A ClassLabel survives in the Parquet schema metadata; test split carved from train.
    dataset = load_hf("hf", str(folder), validation_split=None, test_split=None)
    assert set(dataset.label_names) == set(LABELS)


def test_hugging_face_saved_folders_keep_their_split_names_and_multi_label_class_names(tmp_path):
    import datasets

    def part(prefix, rows=30):
        return datasets.Dataset.from_dict({"text": [f"{prefix} passage {i}" for i in range(rows)],
                                           "tags": [[i % 3, (i + 1) % 3] for i in range(rows)]},
                                          features=datasets.Features({
                                              "text": datasets.Value("string"),
                                              "tags": datasets.Sequence(datasets.ClassLabel(names=LABELS))}))

    datasets.DatasetDict({"train": part("train"), "dev": part("dev", 12)}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(UserError, match=r"has no split 'validation' but has \['dev'\], which nothing reads. "
                                        "Fix: set data.validation_split=null to carve it from train, or to one"):
        load_hf("saved", str(tmp_path / "dict"), label_column="tags")  # the defaults: dev would go unread
    dataset = load_hf("saved", str(tmp_path / "dict"), validation_split="dev", label_column="tags")
    assert len(dataset.validation) == 12 and dataset.validation.texts[0] == "dev passage 0"  # the dev split, as saved
    assert set(dataset.label_names) == set(LABELS)  # names, not the ClassLabel's integers
    assert all(len(labels) == 2 and set(labels) <= set(LABELS) for labels in dataset.train.labels)
    with pytest.raises(UserError, match=r"has no split 'valid' \(it has \['dev', 'train'\]\). "
                                        "Fix: set data.validation_split to one of them or to null"):
        load_hf("saved", str(tmp_path / "dict"), validation_split="valid", test_split=None, label_column="tags")
    with pytest.raises(UserError, match="has no split None"):  # data.train_split=null: one line, not a KeyError
        load_hf("saved", str(tmp_path / "dict"), train_split=None, label_column="tags")
    # an unread split not named like a validation split (IMDB's "unsupervised") leaves the default as it was:
    # validation carved from train; asked for, its unlabeled rows (-1) are one line
    unlabeled = datasets.Dataset.from_dict({"text": ["no label"] * 3, "tags": [[-1]] * 3}, features=part("u").features)
    datasets.DatasetDict({"train": part("train"), "unsupervised": unlabeled}).save_to_disk(str(tmp_path / "imdb"))
    assert len(load_hf("imdb", str(tmp_path / "imdb"), label_column="tags", split_seed=0).validation) > 0
    with pytest.raises(UserError, match=r"split 'unsupervised' .* has no labels \(every row's is -1\)\. Fix: set "
                                        "data.validation_split to a labeled split"):
        load_hf("imdb", str(tmp_path / "imdb"), validation_split="unsupervised", label_column="tags")
    # a few rows of -1 in a labeled split are rows without a label, as a blank cell is in a file (was
    # the whole split refused, data.missing=drop or not)
    datasets.DatasetDict({"train": datasets.concatenate_datasets([part("train"), unlabeled])}).save_to_disk(
        str(tmp_path / "some"))
    with pytest.raises(UserError, match=r"missing or empty labels at row\(s\) 31, 32, 33 .*data.missing=drop"):
        load_hf("some", str(tmp_path / "some"), label_column="tags")
    # a null in a ClassLabel column (or a list column) is no label either (was a traceback)
    flat = datasets.Dataset.from_dict({"text": [f"passage {i}" for i in range(30)],
                                       "label": [None if i == 4 else i % 3 for i in range(30)]},
                                      features=datasets.Features({"text": datasets.Value("string"),
                                                                  "label": datasets.ClassLabel(names=LABELS)}))
    datasets.DatasetDict({"train": flat}).save_to_disk(str(tmp_path / "nulls"))
    with pytest.raises(UserError, match=r"missing or empty labels at row\(s\) 5 "):
        load_hf("nulls", str(tmp_path / "nulls"))
    dropped = load_hf("some", str(tmp_path / "some"), label_column="tags", missing="drop")
    assert [(row.row, row.problem) for row in dropped.dropped_missing] == [(30, "no label"), (31, "no label"),
                                                                           (32, "no label")]
    part("lone").save_to_disk(str(tmp_path / "lone"))  # one Dataset, not a DatasetDict: the train split
    assert len(load_hf("lone", str(tmp_path / "lone"), label_column="tags", split_seed=0).validation) > 0
    # a saved folder holds one configuration: naming another is refused, not silently ignored
    with pytest.raises(UserError, match="data.config_name=en names a configuration, and .* is a save_to_disk folder"):
        load_hf("lone", str(tmp_path / "lone"), config_name="en", label_column="tags")


def test_one_example_class_cannot_be_stratified(tmp_path):
    data = frame()
    data.loc[0, "label"] = "lonely"
    path = tmp_path / "train.csv"
    data.to_csv(path, index=False)
    with pytest.raises(UserError, match="lonely.* pass data.validation=PATH and data.test=PATH"):  # both at once
        load_files("m", str(path))
    data.drop(index=0).assign(text=lambda rows: rows.text + " (test)").to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(UserError, match="lonely.* pass data.validation=PATH$"):  # given a test file
        load_files("m", str(path), test=str(tmp_path / "test.csv"))
    # two texts of a label: carving test took one and the error said the label had "one distinct text"
    data.loc[1, "label"] = "lonely"
    data.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"it needs 3 of each label .*label\(s\) lonely \(2\) have fewer"):
        load_files("m", str(path))
    assert "lonely" in load_files("m", str(path), test=str(tmp_path / "test.csv")).label_names  # carving one: 2 do
    data.loc[1, "label"] = "visit;missile"  # labels joined, and no data.label_separator to split them
    data.to_csv(path, index=False)
    with pytest.raises(UserError, match="if 'visit;missile' is several labels, pass \"data.label_separator=';'\""):
        load_files("m", str(path))
    # the id column given as the labels: one text a label (the fix named was "add examples")
    data.assign(ref=[f"row-{i}" for i in range(len(data))]).to_csv(path, index=False)
    with pytest.raises(UserError, match=f"each of the {len(data)} labels in train has a single distinct text "
                                        r"\(e.g. 'row-0', .*Fix: pass data.label_column=NAME"):
        load_files("m", str(path), label_column="ref")


def test_bad_bytes_and_bad_quoting_are_user_errors(tmp_path):
    latin = tmp_path / "latin.csv"
    # UTF-8 up to café's é, written in Latin-1: an editor shows it at line 3, column 12
    latin.write_bytes(b"text,label\nmeeting,visit\n" + "déjà vu ".encode() + b"caf\xe9 talks,visit\n")
    with pytest.raises(UserError, match="not valid UTF-8 \\(line 3, byte 0xe9 at column 12\\)"):
        load_files("m", str(latin))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok", "label": "a"}\n\n{"text": "fine", "label": "b"}\n{"text": "unterminated\n')
    with pytest.raises(UserError, match="could not parse .* line 4 is not JSON \\(Unterminated string"):
        load_files("m", str(broken))
    # a spreadsheet's export with semicolons: was "has no text column 'text'; its columns are ['text;label']"
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text("text;label\nmeeting in Seoul;visit\nmissile test;nk\n")
    with pytest.raises(UserError, match="reads as a single column 'text;label': its fields look separated by ';'.*"
                                        "Fix: save it comma-separated"):
        load_files("m", str(semicolons))
    wrong = tmp_path / "train.xlsx"
    wrong.write_text("x")
    with pytest.raises(UserError, match="extension"):
        load_files("m", str(wrong))


def test_leak_check_sees_case_and_whitespace_variants_but_not_different_texts(tmp_path):
    words = " ".join(f"word{i}" for i in range(40))
    train = [{"text": f"Opening {words} closing", "label": "a"}, {"text": "short one", "label": "b"},
             {"text": "another short text", "label": "a"}, {"text": "b side text", "label": "b"}]

    def write(name, rows):
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")

    write("train.jsonl", train)
    different_middle = f"Opening {words.replace('word20', 'word99')} closing"
    write("validation.jsonl", [{"text": different_middle, "label": "a"}, {"text": "SHORT   one", "label": "b"}])
    write("test.jsonl", [{"text": "fresh words here", "label": "a"}])
    with pytest.raises(UserError, match=r"1 validation text\(s\) also appear in train \(validation row\(s\) 2 \(1: the first record, a CSV's header not counted\)\)"):
        load_files("t", str(tmp_path / "train.jsonl"), str(tmp_path / "validation.jsonl"), str(tmp_path / "test.jsonl"))
    variant = f"opening\u00a0{words.replace(' ', chr(10) + '  ')}\tCLOSING "
    write("validation.jsonl", [{"text": different_middle, "label": "a"}, {"text": "b side, new", "label": "b"}])
    write("test.jsonl", [{"text": variant, "label": "a"}])
    with pytest.raises(UserError, match=r"1 test text\(s\) also appear in train \(test row\(s\) 1 \(1: the first record, a CSV's header not counted\)\)"):
        load_files("t", str(tmp_path / "train.jsonl"), str(tmp_path / "validation.jsonl"), str(tmp_path / "test.jsonl"))


def news_with_repeats(n=600, repeats=30, seed=0):
    """Articles of five topics where ``repeats`` texts occur two or three times, with case and
    spacing changes, as in public news datasets (BBC News: ~100 repeats in 2,225)."""
    import random

    rng = random.Random(seed)
    topics = ["business", "entertainment", "politics", "sport", "tech"]
    words = {topic: [f"{topic}{i}" for i in range(40)] for topic in topics}
    rows = []
    for i in range(n):
        topic = topics[i % 5]
        rows.append({"text": f"story {i}: " + " ".join(rng.choices(words[topic], k=30)), "label": topic})
    for i in rng.sample(range(n), repeats):
        for _ in range(rng.choice([1, 2])):
            rows.append({"text": "  " + rows[i]["text"].upper() + " ", "label": rows[i]["label"]})
    rng.shuffle(rows)
    return pd.DataFrame(rows)


def test_carved_splits_keep_copies_of_a_text_on_one_side(tmp_path):
    from textclf.data.duplicates import normalised_text

    news_with_repeats().to_csv(tmp_path / "train.csv", index=False)
    dataset = load_files("news", str(tmp_path / "train.csv"), split_seed=3)  # validation and test carved
    sides = {}
    for split in dataset.splits:
        for text in split.texts:
            sides.setdefault(normalised_text(text), set()).add(split.name)
    assert all(len(names) == 1 for names in sides.values())
    assert 85 <= len(dataset.validation) <= 110 and 85 <= len(dataset.test) <= 110  # 15% of 600 distinct texts


def test_overlapping_user_splits_are_refused_with_the_switch_then_dropped_with_it(tmp_path):
    from textclf.data.duplicates import normalised_text

    data = news_with_repeats()
    data.iloc[:500].to_csv(tmp_path / "train.csv", index=False)
    test = pd.concat([data.iloc[500:], data.iloc[:7].assign(text=lambda f: f.text.str.lower())])
    test.to_csv(tmp_path / "test.csv", index=False)
    dataset = load_files("news", str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"), overlap="drop")
    in_train = {normalised_text(text) for text in dataset.train.texts}
    # in train as left after carving validation, or in that validation
    seen = in_train | {normalised_text(text) for text in dataset.validation.texts}
    leaked = sum(normalised_text(text) in seen for text in test.text)
    assert leaked >= 7
    assert dataset.dropped_overlap == (("test", leaked),)
    assert len(dataset.test) == len(test) - leaked and not any(normalised_text(t) in in_train for t in dataset.test.texts)
    with pytest.raises(UserError, match="test text.*Fix: pass data.overlap=drop"):
        load_files("news", str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"))
    with pytest.raises(UserError, match="data.overlap must be one of error, drop, keep"):
        load_files("news", str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"), overlap="ignore")
    kept = load_files("news", str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"), overlap="keep")
    assert len(kept.test) == len(test) and kept.dropped_overlap == ()  # for textclf audit to report


def test_test_texts_in_validation_are_refused_then_dropped_with_the_switch(tmp_path):
    """A new user passed one file as both validation and test: every score was counted twice,
    silently (and train = validation with data.overlap=drop left validation equal to carved test)."""
    data = news_with_repeats(repeats=0)
    data.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    data.iloc[400:500].to_csv(tmp_path / "validation.csv", index=False)
    data.iloc[480:].to_csv(tmp_path / "test.csv", index=False)  # 20 of validation's texts, 100 new ones
    files = [str(tmp_path / f"{split}.csv") for split in ("train", "validation", "test")]
    with pytest.raises(UserError, match=r"20 test text\(s\) also appear in validation .*Fix: pass data.overlap=drop"):
        load_files("news", *files)
    with pytest.raises(UserError, match="every test text also appears in train or validation"):
        load_files("news", *files[:2], files[1], overlap="drop")
    dataset = load_files("news", *files, overlap="drop")
    assert dataset.dropped_overlap == (("test", 20),) and len(dataset.test) == 100
    assert not set(dataset.test.texts) & set(dataset.validation.texts)
    kept = load_files("news", *files, overlap="keep")  # for textclf audit to report
    assert len(kept.test) == len(pd.read_csv(files[2]))


def test_news_with_repeats_trains_and_the_dropped_count_is_printed_and_logged(tmp_path, train_in_process):
    """The BBC News case: train and test files, validation carved from a train with repeats, and
    a test file sharing some texts with train."""
    from helpers.stores import all_runs

    data = news_with_repeats()
    train = data.iloc[:520].copy()
    train.iloc[[3, 40], train.columns.get_loc("text")] = ""  # and two rows without text, three without a label
    train.iloc[[40, 41, 42], train.columns.get_loc("label")] = None
    train.to_csv(tmp_path / "train.csv", index=False)
    pd.concat([data.iloc[520:], data.iloc[:5]]).to_csv(tmp_path / "test.csv", index=False)
    files = ["data=files", f"data.train={tmp_path / 'train.csv'}", f"data.test={tmp_path / 'test.csv'}",
             "model=tfidf_logreg"]
    refused = train_in_process(tmp_path, *files)
    assert refused.returncode == 2 and "row(s) 4, 41" in refused.stderr and "data.missing=drop" in refused.stderr
    refused = train_in_process(tmp_path, *files, "data.missing=drop")
    assert refused.returncode == 2 and "data.overlap=drop" in refused.stderr
    result = train_in_process(tmp_path, *files, "data.overlap=drop", "data.missing=drop")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "data.missing=drop: dropped 4 train row(s) with no text or no label" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.startswith("data.overlap=drop"))
    dropped = int(line.split("dropped ")[1].split()[0])
    assert dropped >= 5
    (run,) = all_runs(tmp_path)
    assert run.data.tags["data.overlap_dropped.test"] == str(dropped)
    assert run.data.tags["data.missing_dropped.train"] == "4"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_rows_without_a_text_or_a_label_are_refused_or_dropped_keeping_their_file_rows(tmp_path, suffix):
    data = frame().astype(object)
    data.loc[2, "text"], data.loc[5, "text"] = None, "   "
    data.loc[5, "label"], data.loc[9, "label"] = None, ""
    path = tmp_path / f"train{suffix}"
    {".csv": lambda: data.to_csv(path, index=False),
     ".jsonl": lambda: data.to_json(path, orient="records", lines=True),
     ".parquet": lambda: data.to_parquet(path)}[suffix]()
    with pytest.raises(UserError, match=r"no text .* in row\(s\) 3, 6 \(1: the first record.*\) and no label in "
                                        r"row\(s\) 6, 10\. Fix: fill, label or drop those rows, or pass data.missing=drop"):
        load_files("m", str(path))
    dataset = load_files("m", str(path), missing="drop", for_audit=True)
    assert [(row.split, row.row, row.id, row.problem) for row in dataset.dropped_missing] == [
        ("train", 2, "train-2", "no text"), ("train", 5, "train-5", "no text and no label"),
        ("train", 9, "train-9", "no label")]
    assert dataset.dropped_missing[2].text == "text 9 on visit"  # what a labeler needs to label it
    kept = [row for row in range(30) if row not in (2, 5, 9)]
    assert dataset.train.ids == tuple(f"train-{row}" for row in kept)  # the file's rows, as before
    assert dataset.train.texts == tuple(data["text"][kept])
    assert len(dataset.validation) == len(dataset.test) == 0  # the audit's reading carves nothing
    assert dataset.summary().missing_dropped == (("train", 3),)
    with pytest.raises(UserError, match="data.missing must be one of error, drop"):
        load_files("m", str(path), missing="skip")
    data.assign(label=None).to_json(tmp_path / "bare.jsonl", orient="records", lines=True)
    with pytest.raises(UserError, match="no row with both a text and a label"):
        load_files("m", str(tmp_path / "bare.jsonl"), missing="drop")


def test_a_dataset_name_with_no_folder_here_and_the_hub_out_of_reach_is_one_line(tmp_path, monkeypatch):
    """A mistyped folder (or a hub name offline) was about 25 s of the hub's retry warnings, then
    the error; the hub here is a port nobody listens on."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
    import datasets

    with pytest.raises(UserError, match=f"no folder 'my_datset' here \\({tmp_path}\\), no copy of it in the Hugging "
                                        r"Face cache, and the hub \(127.0.0.1\) cannot be reached.*Fix: pass a local"):
        load_hf("mine", "my_datset")
    assert datasets.config.HF_HUB_OFFLINE is False  # read offline (a cached copy would do), then as it was


def test_whole_number_labels_read_the_same_from_every_format(tmp_path):
    """pandas reads an integer column with a gap as floats: Parquet kept 1.0 as the label "1.0",
    which a CSV's 1 (and a model trained on it) does not match."""
    data = frame().assign(label=[float(i % 3) for i in range(30)])
    data.to_parquet(tmp_path / "train.parquet")
    data.assign(label=[i % 3 for i in range(30)], text=[f"other text {i}" for i in range(30)]).to_csv(
        tmp_path / "test.csv", index=False)
    data.assign(label=[[float(i % 3)] for i in range(30)]).to_json(tmp_path / "lists.jsonl", orient="records", lines=True)
    for path in ("train.parquet", "test.csv", "lists.jsonl"):
        assert load_files("m", str(tmp_path / path)).label_names == ("0", "1", "2"), path
    both = load_files("m", str(tmp_path / "train.parquet"), test=str(tmp_path / "test.csv"))  # not "never in train"
    assert set(both.test.primary_labels) == {"0", "1", "2"}


def test_a_group_column_is_read_with_its_split_and_a_missing_group_refused(tmp_path):
    import pandas as pd
    import pytest

    from textclf.data import load_files
    from textclf.errors import UserError

    frame = pd.DataFrame({"text": [f"passage number {i}" for i in range(40)], "label": ["a", "b"] * 20,
                          "article": [f"art{i // 4}" for i in range(40)]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    dataset = load_files("groups", str(tmp_path / "train.csv"), group_column="article", split_seed=0)
    for split in dataset.splits:  # carved splits keep each text's group
        assert len(split.groups) == len(split)
        assert all(group == f"art{int(text.rsplit(' ', 1)[1]) // 4}" for text, group in zip(split.texts, split.groups))
    # ...and each group lands in one split, as cross-validation keeps it in one fold
    owners = {group: split.name for split in dataset.splits for group in split.groups}
    assert sum(len(set(split.groups)) for split in dataset.splits) == len(owners) == 10
    # a line every article repeats does not chain the articles into one: whole articles are
    # carved as before, and the repeated line is the overlap check's (here: dropped)
    signed = pd.concat([frame, pd.DataFrame({"text": "Read more on our site", "label": ["a", "b"] * 5,
                                             "article": [f"art{i}" for i in range(10)]})])
    signed.to_csv(tmp_path / "signed.csv", index=False)
    dataset = load_files("groups", str(tmp_path / "signed.csv"), group_column="article", split_seed=0, overlap="drop")
    assert [len(set(split.groups)) for split in dataset.splits] == [6, 2, 2]  # train, validation, test articles
    frame.loc[3, "article"] = None
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(UserError, match="no 'article' group in row 4 "):  # the 4th data row, as label checks count
        load_files("groups", str(tmp_path / "train.csv"), group_column="article")
    # the group column is cv.group_column's: the fix names the setting users set
    with pytest.raises(UserError, match=r"no group column 'story'.*Fix: set cv.group_column=NAME"):
        load_files("groups", str(tmp_path / "train.csv"), group_column="story")


@pytest.mark.parametrize(("sizes", "words"), [
    (dict(validation_size=2), r"data.validation_size is the fraction .* between 0 and 1; got 2\."),
    (dict(test_size=0), r"data.test_size .* got 0\."),
    (dict(validation_size="half"), r"data.validation_size .* got 'half'"),
    (dict(validation_size=0.5, test_size=0.5), r"data.validation_size \+ data.test_size .* 0.5 \+ 0.5"),
])
def test_split_sizes_are_fractions_that_leave_some_of_train(tmp_path, sizes, words):
    path = tmp_path / "train.csv"
    frame().to_csv(path, index=False)
    with pytest.raises(UserError, match=words):
        load_files("m", str(path), **sizes)


def test_per_label_keeps_k_training_texts_of_each_primary_label_seeded(tmp_path):
    """data.per_label: K per primary label (all of a rarer one), drawn by the seed, validation and
    test whole; multi-label rows are counted by their primary label and keep every label."""
    from collections import Counter

    rows = ([{"text": f"alliance note {i}", "labels": ["alliance", "visit"] if i % 2 else ["alliance"]} for i in range(20)]
            + [{"text": f"missile note {i}", "labels": ["missile"]} for i in range(12)]
            + [{"text": f"visit note {i}", "labels": ["visit"]} for i in range(3)])
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    whole = load_files("m", str(path), label_column="labels", validation_size=0.2, test_size=0.2, split_seed=0)
    with pytest.warns(TextclfWarning) as said:
        few = [load_files("m", str(path), label_column="labels", validation_size=0.2, test_size=0.2,
                          split_seed=seed, per_label=4) for seed in (0, 0, 1)]
    counts = Counter(few[0].train.primary_labels)
    visits = Counter(whole.train.primary_labels)["visit"]
    assert visits < 4 and counts == {"alliance": 4, "missile": 4, "visit": visits}
    # asked for 4 of each, the user is told which label had fewer (it was silent)
    assert str(said[0].message) == f"data.per_label=4: 1 of 3 labels have fewer training texts, and keep all of theirs: 'visit' ({visits})"
    assert few[0].validation == whole.validation and few[0].test == whole.test
    assert set(few[0].train.texts) <= set(whole.train.texts)
    assert any(len(labels) == 2 for labels in few[0].train.labels + few[2].train.labels)  # second labels kept
    assert few[0].train == few[1].train  # seeded
    assert few[0].train.texts != few[2].train.texts  # another seed, another draw
    with pytest.raises(UserError, match="data.per_label must be a whole number"):
        load_files("m", str(path), label_column="labels", per_label=0)


def test_a_splits_content_hash_covers_every_text_and_label():
    from textclf.data import Split

    split = Split("train", ("a text", "another"), (("x",), ("y", "z")), ("1", "2"), "mem")
    changed_label = Split("train", ("a text", "another"), (("x",), ("y",)), ("1", "2"), "mem")
    changed_text = Split("train", ("a text", "another."), (("x",), ("y", "z")), ("1", "2"), "mem")
    moved_boundary = Split("train", ("a tex", "tanother"), (("x",), ("y", "z")), ("1", "2"), "mem")
    renamed_ids = Split("train", ("a text", "another"), (("x",), ("y", "z")), ("a", "b"), "elsewhere")
    hashes = {s.content_hash for s in (split, changed_label, changed_text, moved_boundary)}
    assert len(hashes) == 4 and renamed_ids.content_hash == split.content_hash  # content, not names


def test_joined_labels_read_as_one_are_said_in_one_warning_line_and_training_goes_on(tmp_path, train_in_process,
                                                                                          recwarn):
    from textclf.cli.errors import format_warning

    rows = [{"text": f"passage {i} on {topic}", "label": topic}
            for i, topic in enumerate(["trade", "health", "trade;health"] * 12)]
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    result = train_in_process(tmp_path, "data=files", f"data.train={tmp_path / 'train.csv'}", "model=tfidf_nb",
                              "features=tfidf_word")
    assert result.returncode == 0, result.stderr[-2000:]
    (said,) = [w for w in recwarn if "joined by" in str(w.message)]  # pytest holds warnings; train.py prints them:
    assert format_warning(said.message, said.category, said.filename, said.lineno) == (
        f"warning: train data ({tmp_path / 'train.csv'}) has 1 label(s) made of other labels joined by ';' "
        "(e.g. 'trade;health'), each read as a label of its own. If a text can have several labels, pass "
        "\"data.label_separator=';'\" task=multilabel\n")


def _files_labelled(folder, labels: list[str]) -> list[str]:
    """Train (12 of each label cell), validation and test (4 each) CSVs: train.py's overrides."""
    for split, count in (("train", 12), ("validation", 4), ("test", 4)):
        rows = [{"text": f"{split} passage {i} on {topic}", "label": topic} for i, topic in enumerate(labels * count)]
        pd.DataFrame(rows).to_csv(folder / f"{split}.csv", index=False)
    return ["data=files", *(f"data.{split}={folder / split}.csv" for split in ("train", "validation", "test")),
            "model=tfidf_nb", "features=tfidf_word"]


def test_labels_a_separator_splits_for_a_multiclass_task_are_said_to_be_cut(tmp_path, train_in_process, recwarn):
    """``data.label_separator`` asks for label sets; task=multiclass trains on each text's first
    label only: said in a warning naming task=multilabel (it was silent). Not said for the other task."""
    data = [*_files_labelled(tmp_path, ["trade", "health", "trade;health"]), "data.label_separator=';'"]
    result = train_in_process(tmp_path, *data)
    assert result.returncode == 0, result.stderr[-2000:]
    (said,) = [str(w.message) for w in recwarn if "label_separator" in str(w.message)]
    assert said == ("data.label_separator=';' gives 12 of 36 training texts several labels, and task=multiclass "
                    "trains on the first of each. Fix: pass task=multilabel to train on all of them")
    recwarn.clear()
    result = train_in_process(tmp_path, *data, "task=multilabel")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not [w for w in recwarn if "label_separator" in str(w.message)]


def test_label_sets_read_as_labels_under_a_multilabel_task_are_said(tmp_path, train_in_process, recwarn):
    """task=multilabel without data.label_separator, on cells that list labels (``economy|tech``,
    no label of its own beside them): every text has one label, some with a separator. It trained
    silently on the sets as labels; now a warning names the separator."""
    data = [*_files_labelled(tmp_path, ["trade|health", "sports", "trade|sports"]), "task=multilabel"]
    result = train_in_process(tmp_path, *data)
    assert result.returncode == 0, result.stderr[-2000:]
    (said,) = [str(w.message) for w in recwarn if "label_separator" in str(w.message)]
    assert said == ("task=multilabel, yet every training text has one label, and 2 of the 3 labels hold '|' "
                    "(e.g. 'trade|health'). Fix: if a cell lists several labels, pass \"data.label_separator='|'\"")
    recwarn.clear()
    result = train_in_process(tmp_path, *data, "data.label_separator='|'", "tracking.registered_model=sets")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not [w for w in recwarn if "label_separator" in str(w.message)]


def test_labels_made_of_other_labels_under_a_multilabel_task_are_said_once(tmp_path, train_in_process, recwarn):
    """``trade|health`` beside ``trade`` and ``health``: said as the data was read, and again by the
    multilabel check, in two overlapping warnings (a new user's first multi-label try)."""
    data = [*_files_labelled(tmp_path, ["trade", "health", "trade|health"]), "task=multilabel"]
    result = train_in_process(tmp_path, *data)
    assert result.returncode == 0, result.stderr[-2000:]
    said = [str(w.message) for w in recwarn if "label_separator" in str(w.message)]
    assert len(said) == 1 and "made of other labels joined by '|'" in said[0], said


def test_a_suggested_label_is_a_close_spelling_never_a_number():
    from textclf.errors import did_you_mean

    assert did_you_mean("visits", ["visit", "missile"]) == " (did you mean 'visit'?)"
    assert did_you_mean("trsut", ["trust", "visit"]) == " (did you mean 'trust'?)"
    for name, known in (("10", ["1", "2"]), ("4.0", ["5.0"]), (3, [1, 2]), ("sci.med", ["sci.space", "rec.autos"])):
        assert did_you_mean(name, known) == "", name


def test_label_sets_only_in_validation_are_refused_with_the_separator_as_the_fix(tmp_path, train_in_process):
    """Train holds ``trade`` and ``health``, validation ``trade|health``: the refusal's Fix sent the
    user to add training examples of a label that is a label set."""
    for split, labels in (("train", ["trade", "health"] * 12), ("validation", ["trade", "trade|health"] * 3)):
        pd.DataFrame({"text": [f"{split} passage {i} on {label}" for i, label in enumerate(labels)],
                      "label": labels}).to_csv(tmp_path / f"{split}.csv", index=False)
    result = train_in_process(tmp_path, "data=files", f"data.train={tmp_path / 'train.csv'}",
                              f"data.validation={tmp_path / 'validation.csv'}", "model=tfidf_nb", "features=tfidf_word",
                              new_store=True)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().endswith("that never occur in train. Fix: if a cell lists several labels, pass "
                                          "\"data.label_separator='|'\" task=multilabel"), result.stderr
