"""`textclf predict --article` end to end on the default model trained on the seed corpus (the shared
trained store), `textclf.tag_articles`, and the one-line errors of bad input, which leave no file.

eastline_visit.txt is a broadcast transcript written for these tests in the register of the seed
corpus. What its passages are about was decided when it was written, before any model saw it: the
story is a foreign minister's trip (high_level_engagement) to explain a crisis at home
(domestic_crisis_explanation) and reassure allies (alliance_reassurance); one passage each on the
trilateral framework and on trust; a byline, a sign-off, a tip line, a phone line, a mail line and
a copyright notice.
"""

import csv
import json
from pathlib import Path

import pytest

import textclf
from helpers.processes import run_cli
from textclf.articles.html_input import readable_html

ARTICLE = Path(__file__).parent / "eastline_visit.txt"
BOILERPLATE = "broadcast_boilerplate"
INTENDED_TOP_TOPICS = {"high_level_engagement", "domestic_crisis_explanation", "alliance_reassurance"}
# The passages that are boilerplate, by how they start (the tip line is two sentences, the
# copyright line three).
BOILERPLATE_STARTS = ("Our diplomatic correspondent", "This is Lim Tae-ho", "Seen something", "Send us your tips",
                      "[Phone]", "[Mail]", "Copyright (c)", "All rights reserved", "No part of this broadcast")


def store_uri(folder):
    return f"sqlite:///{folder}/mlflow.db"


@pytest.fixture(scope="module")
def tagged_article(trained_store, tmp_path_factory):
    """The test article through a real `textclf predict --article` process: (record, CSV rows)."""
    folder, _ = trained_store
    out = tmp_path_factory.mktemp("article")
    result = run_cli("predict", "--article", str(ARTICLE), "-o", str(out / "tagged.jsonl"),
                     "--passages-csv", str(out / "passages.csv"), "--tracking-uri", store_uri(folder), cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # everything went to the files
    [line] = (out / "tagged.jsonl").read_text(encoding="utf-8").splitlines()
    with open(out / "passages.csv", encoding="utf-8", newline="") as handle:
        return json.loads(line), list(csv.DictReader(handle))


def test_each_passage_keeps_its_offsets_label_and_probabilities(tagged_article):
    record, rows = tagged_article
    text = ARTICLE.read_text(encoding="utf-8")
    passages = record["passages"]
    assert record["article"] == str(ARTICLE) and len(passages) == 19
    assert [p["index"] for p in passages] == list(range(19))
    for passage in passages:
        assert text[passage["start"]:passage["end"]] == passage["text"]
        probabilities = {k: v for k, v in passage.items() if k.startswith("prob_")}
        assert len(probabilities) == 8 and abs(sum(probabilities.values()) - 1) < 1e-3
        assert passage["label"] == max(probabilities, key=probabilities.get).removeprefix("prob_")
    assert passages[2]["text"].startswith("[Anchor]\nForeign Minister") and passages[5]["text"].startswith("[Reporter]")
    assert passages[7]["text"].startswith("[Foreign Minister Yoon") and passages[7]["text"].endswith("scheduled.]")
    # the CSV holds the same passages, one a row
    assert [(r["article"], int(r["index"]), int(r["start"]), int(r["end"]), r["text"], r["label"]) for r in rows] == [
        (record["article"], p["index"], p["start"], p["end"], p["text"], p["label"]) for p in passages]
    assert float(rows[0]["prob_high_level_engagement"]) == round(passages[0]["prob_high_level_engagement"], 4)


def test_boilerplate_is_tagged_and_left_out_of_the_topics(tagged_article):
    record, _ = tagged_article
    boilerplate = [p for p in record["passages"] if p["text"].startswith(BOILERPLATE_STARTS)]
    assert len(boilerplate) == 9
    assert {p["text"][:30]: p["label"] for p in boilerplate} == {p["text"][:30]: BOILERPLATE for p in boilerplate}
    topics = record["topics"]
    assert BOILERPLATE not in {t["label"] for t in topics}
    content = [p["index"] for p in record["passages"] if p["label"] != BOILERPLATE]
    assert sorted(i for t in topics for i in t["passages"]) == content  # single-label: each passage once
    assert sum(t["share"] for t in topics) == pytest.approx(1)


def test_the_top_topics_are_the_ones_the_article_was_written_about(tagged_article):
    record, _ = tagged_article
    topics = record["topics"]
    assert {t["label"] for t in topics[:3]} == INTENDED_TOP_TOPICS, [(t["label"], t["share"]) for t in topics]
    assert [t["share"] for t in topics] == sorted((t["share"] for t in topics), reverse=True)


def test_the_python_api_and_jsonl_articles_give_the_same_answer(trained_store, tmp_path, cli_in_process):
    folder, _ = trained_store
    text = ARTICLE.read_text(encoding="utf-8")
    source = tmp_path / "articles.jsonl"
    source.write_text("".join(json.dumps({"slug": slug, "body": body}) + "\n"
                              for slug, body in (("visit", text), ("short", "Pyongyang fired a missile on Sunday."))))
    result = cli_in_process("predict", "--article", str(source), "--article-id-column", "slug", "--text-column", "body",
                            "--tracking-uri", store_uri(folder), cwd=folder)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["article"] for r in records] == ["visit", "short"]
    api = textclf.tag_articles([text, "Pyongyang fired a missile on Sunday."], tracking_uri=store_uri(folder),
                               ids=["visit", "short"])
    assert json.loads(json.dumps(api)) == records
    assert records[1]["topics"][0]["label"] == "north_korea_security"


@pytest.mark.parametrize("texts, options, message", [
    ("One text.", {}, "texts is one string, not a list of articles. Fix: pass \\[text\\]"),
    ([b"<p>Bytes.</p>"], {"html": True}, "article 0 is bytes, not text. Fix: decode it first"),
    (["<p>One.</p>"], {"html": True, "markdown": True}, "an article is written in one of them. Fix: pass one"),
    (["One.", "Two."], {"ids": ["a"]}, "1 ids for 2 texts. Fix: pass one id per text"),
])
def test_tag_articles_refuses_bad_input_before_looking_for_a_model(texts, options, message):
    with pytest.raises(textclf.UserError, match=message):
        textclf.tag_articles(texts, tracking_uri="sqlite:///nowhere/mlflow.db", **options)


MARKDOWN = """# Seoul and Tokyo agree to resume joint drills

[The defence ministry said on Monday](https://news.example.org/2024/11/drills_resume.html) that **joint naval \
drills** with Washington will resume in spring, a step it called proof that the _alliance_ remains firm.

*Reporting by Kim Seo-yeon. Editing by Lee Min-ji.*

---

[1]: https://news.example.org/reference
"""
PLAIN = ("Seoul and Tokyo agree to resume joint drills\n\nThe defence ministry said on Monday that joint naval "
         "drills with Washington will resume in spring, a step it called proof that the alliance remains firm.\n\n"
         "Reporting by Kim Seo-yeon. Editing by Lee Min-ji.\n")


def test_the_model_reads_a_markdown_article_without_its_markup(trained_store, tmp_path, cli_in_process):
    folder, _ = trained_store
    (tmp_path / "note.md").write_text(MARKDOWN, encoding="utf-8")
    (tmp_path / "note.jsonl").write_text(json.dumps({"id": "note", "text": MARKDOWN}) + "\n", encoding="utf-8")
    records = {}
    for name, arguments in (("md", ["note.md"]), ("jsonl", ["note.jsonl", "--markdown"]), ("as text", ["note.jsonl"])):
        result = cli_in_process("predict", "--article", *arguments, "--explain", "--tracking-uri", store_uri(folder),
                                cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        records[name] = json.loads(result.stdout)
    passages = records["md"]["passages"]
    # the rule and the link definition are not passages; offsets index the file as written
    # (the italics span two passages: the model reads neither star)
    assert [p["text"][:12] for p in passages] == ["# Seoul and ", "[The defence", "*Reporting b", "Editing by L"]
    assert all(MARKDOWN[p["start"]:p["end"]] == p["text"] for p in passages)
    # the model's answer is the one for the same words without markup
    plain = textclf.tag_articles([PLAIN], tracking_uri=store_uri(folder), explain=True)[0]["passages"]
    probabilities = [{k: v for k, v in p.items() if k.startswith("prob_")} for p in passages]
    assert probabilities == [{k: v for k, v in p.items() if k.startswith("prob_")} for p in plain]
    # explanations point at the words in the passage as written
    for passage, unmarked in zip(passages, plain):
        terms = passage["explanation"][0]["terms"]
        assert [t["text"] for t in terms] == [t["text"] for t in unmarked["explanation"][0]["terms"]]
        assert all(passage["text"][t["start"]:t["end"]] == t["text"] for t in terms if " " not in t["text"])
    assert [p["text"] for p in records["jsonl"]["passages"]] == [p["text"] for p in passages]
    # --markdown not given: read as it is, the rule included, and the link's bracket ends a passage as a
    # transcript's sound bite would
    assert [p["text"][:12] for p in records["as text"]["passages"]] == [
        "# Seoul and ", "[The defence", "(https://new", "*Reporting b", "Editing by L", "*", "---", "[1]: https:/"]
    api = textclf.tag_articles([MARKDOWN], tracking_uri=store_uri(folder), markdown=True)[0]["passages"]
    assert [p["label"] for p in api] == [p["label"] for p in passages]


# The same words as PLAIN, in a page as a news site serves it.
HTML = """<!DOCTYPE html>
<html><head><title>Drills | Eastline News</title><style>body { font-family: serif; }</style></head>
<body><nav><a href="/">Home</a></nav><article>
<h1>Seoul and Tokyo agree to resume joint drills</h1>
<p>The defence ministry said on Monday that joint naval
   drills with <a href="https://news.example.org/us">Washington</a> will resume in spring, a step it called
   proof that the alliance remains <em>firm</em>.</p>
<p class="credit">Reporting by Kim Seo-yeon. Editing by Lee&nbsp;Min-ji.</p>
</article><script>track("drills");</script></body></html>
"""


def test_the_model_reads_an_html_article_as_a_browser_shows_it(trained_store, tmp_path, cli_in_process):
    folder, _ = trained_store
    (tmp_path / "drills.html").write_text(HTML, encoding="utf-8")
    (tmp_path / "drills.jsonl").write_text(json.dumps({"id": "drills", "text": HTML}) + "\n", encoding="utf-8")
    records = {}
    for name, arguments in (("html", ["drills.html"]), ("jsonl", ["drills.jsonl", "--html-articles"])):
        result = cli_in_process("predict", "--article", *arguments, "--explain", "--tracking-uri", store_uri(folder),
                                cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        records[name] = json.loads(result.stdout)
    passages = records["html"]["passages"]
    # passages are the page's sentences, the menu's link its own paragraph; offsets index the file
    assert [p["text"][:14] for p in passages] == ["Home", "Seoul and Toky", "The defence mi", "Reporting by K",
                                                  "Editing by Lee"]
    assert all(HTML[p["start"]:p["end"]] == p["text"] for p in passages)
    assert passages[2]["text"].endswith("remains <em>firm</em>.") and "<a href" in passages[2]["text"]
    # the model's answer for each passage is the one for the same words in plain text
    plain = textclf.tag_articles([PLAIN], tracking_uri=store_uri(folder), explain=True)[0]["passages"]
    probabilities = [{k: v for k, v in p.items() if k.startswith("prob_")} for p in passages[1:]]
    assert probabilities == [{k: v for k, v in p.items() if k.startswith("prob_")} for p in plain]
    for passage, unmarked in zip(passages[1:], plain):  # explanations point at the words in the file
        terms = passage["explanation"][0]["terms"]
        assert [t["text"] for t in terms] == [t["text"] for t in unmarked["explanation"][0]["terms"]]
        # a term's span as written holds the markup inside it ("firm</em>.", "naval\n   drills"), and
        # reads as the term
        assert all(readable_html(passage["text"][t["start"]:t["end"]]).text == t["text"] for t in terms)
    assert [p["text"] for p in records["jsonl"]["passages"]] == [p["text"] for p in passages]
    api = textclf.tag_articles([HTML], tracking_uri=store_uri(folder), html=True)[0]["passages"]
    assert [p["label"] for p in api] == [p["label"] for p in passages]


def test_units_line_and_paragraph(trained_store, cli_in_process):
    folder, _ = trained_store
    for unit, count in (("line", 16), ("paragraph", 1)):
        result = cli_in_process("predict", "--article", str(ARTICLE), "--unit", unit, "--tracking-uri",
                                store_uri(folder), cwd=folder)
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["passages"]) == count


@pytest.mark.parametrize("arguments, message", [
    (["--article", "missing.txt"], "error: article file not found: missing.txt. Fix: pass an existing"),
    (["--article", "empty.txt"], "error: article 'empty.txt' is empty. Fix: give it some text"),
    (["--article", "a.jsonl"], "error: a.jsonl line 1 has no column 'text' (columns: ['body']). Fix: pass --text"),
    (["--article", "a.txt", "--unit", "word"], "error: argument --unit: invalid choice: 'word'"),
    (["--article", "a.txt", "--top-k", "2"], "error: --top-k does not apply to --article"),
    (["--article", "a.txt", "-o", "out.csv"], "error: --article writes JSON lines, and -o out.csv names a CSV file"),
    (["a.txt", "--article", "b.txt"], "error: both an input (a.txt) and --article were given"),
    (["--article", "a.txt", "--passages-csv", "-"], "error: both the articles and --passages-csv would go to standard"),
    (["a.txt", "--unit", "line"], "error: --unit works on whole articles. Fix: pass the articles with --article"),
    (["--article", "a.txt", "--html", "-"], "error: both the articles and --html would go to standard output"),
    (["--article", "rule.md"], "error: article 'rule.md' has no words outside its Markdown markup. Fix: give it"),
    (["a.txt", "--markdown"], "error: --markdown works on whole articles. Fix: pass the articles with --article"),
    (["--article", "blank.html"], "error: article 'blank.html' has no words outside its HTML markup. Fix: give it"),
    (["--article", "a.txt", "--markdown", "--html-articles"], "error: --markdown and --html-articles: an article is "
                                                              "written in one of them. Fix: pass one"),
    (["a.txt", "--html-articles"], "error: --html-articles works on whole articles. Fix: pass the articles with"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, cli_in_process, arguments, message):
    (tmp_path / "empty.txt").write_text(" \n")
    (tmp_path / "a.jsonl").write_text('{"body": "One."}\n')
    (tmp_path / "a.txt").write_text("One sentence.\n")
    (tmp_path / "rule.md").write_text("---\n\n[1]: https://example.org\n")
    (tmp_path / "blank.html").write_text("<html><head><title>Home</title></head><body><script>go()</script></body>\n")
    files = set(tmp_path.iterdir())
    result = cli_in_process("predict", "--passages-csv", "p.csv", *arguments, "--tracking-uri", "sqlite:///nowhere.db",
                            cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1 and "Fix:" in result.stderr
    assert set(tmp_path.iterdir()) == files


def test_html_needs_articles(tmp_path, cli_in_process):
    (tmp_path / "a.txt").write_text("One sentence.\n")
    result = cli_in_process("predict", "a.txt", "--html", "page.html", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: --html works on whole articles. Fix:")
    assert not (tmp_path / "page.html").exists()


def test_a_boilerplate_label_the_model_lacks_is_refused(trained_store, tmp_path, cli_in_process):
    folder, _ = trained_store
    result = cli_in_process("predict", "--article", str(ARTICLE), "--boilerplate-label", "boilerplate", "-o",
                            str(tmp_path / "out.jsonl"), "--tracking-uri", store_uri(folder), cwd=folder)
    assert result.returncode == 2 and "--boilerplate-label boilerplate is not a label of the model" in result.stderr
    assert list(tmp_path.iterdir()) == []
    result = cli_in_process("predict", "--article", str(ARTICLE), "--boilerplate-label", "", "--tracking-uri",
                            store_uri(folder), cwd=folder)
    assert BOILERPLATE in {t["label"] for t in json.loads(result.stdout)["topics"]}


def test_tagging_tells_its_progress_batch_by_batch(trained_store, monkeypatch):
    """What `--article`'s progress bar counts: the passages of each batch, as it is tagged, out of
    all the articles' passages (known before the first batch)."""
    from textclf.articles import tag
    from textclf.predicting import load_for_predicting

    folder, _ = trained_store
    monkeypatch.setattr(tag, "BATCH_PASSAGES", 7)
    model = load_for_predicting("models:/diplomacy-topics@champion", store_uri(folder), verify=True)
    counted = []

    class Progress:
        total = None

        def update(self, count):
            counted.append((count, self.total))

    [tagged] = tag.tag_with(model, [tag.Article("visit", ARTICLE.read_text(encoding="utf-8"))], progress=Progress())
    assert counted == [(7, 19), (7, 19), (5, 19)] and len(tagged.passages) == 19
