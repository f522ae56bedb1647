"""`textclf predict --article ... --explain --html PAGE`: the page rendered by a real headless
Chromium (Debian's package; .ci/run installs it), its DOM and a screenshot checked; and the
explanations in the JSON lines."""

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from helpers.browser import browser, screenshot
from helpers.processes import run_cli

ARTICLE = Path(__file__).parent / "eastline_visit.txt"
# A second article: short, with markup that must show as text, and a character outside UTF-16's
# basic plane before a passage (offsets are code points; the page must still cut passages right).
SHORT = ("Pyongyang fired a ballistic missile into the sea on Sunday. 🚀 Officials in Seoul called it a "
         "<script>alert('provocation')</script> & a test of the alliance.\n")


# A third, in Markdown: the markup the model does not read shows in grey.
MARKDOWN = ("## Envoys meet in Jakarta\n\n[The foreign ministers said on Friday](https://news.example.org/jakarta) "
            "that **regional cooperation** will deepen.\n")
# A fourth, the same words in an HTML page: its markup in grey too, the long head shortened.
STYLE_RULES = "".join(f".c{i} {{ margin: {i}px; }} " for i in range(40))
PAGE = (f"<!DOCTYPE html>\n<html><head><title>Jakarta</title><style>{STYLE_RULES}</style></head>\n<body>\n"
        "<h1>Envoys meet in Jakarta</h1>\n<p>The foreign ministers said on Friday that <b>regional cooperation</b> "
        "will deepen.</p>\n</body></html>\n")


class Elements(HTMLParser):
    """Start tags of a document, as (tag, attributes)."""

    def __init__(self, document: str):
        super().__init__()
        self.found = []
        self.feed(document)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def having(self, tag, css_class=None):
        return [a for t, a in self.found if t == tag and (css_class is None or css_class in a.get("class", "").split())]


@pytest.fixture(scope="module")
def page(trained_store, tmp_path_factory):
    """Four articles through a real `textclf predict --article --explain --html`, then Chromium:
    (JSON records, the page's source, its DOM after rendering, the screenshot's pixels)."""
    folder, _ = trained_store
    out = tmp_path_factory.mktemp("html")
    (out / "short.txt").write_text(SHORT, encoding="utf-8")
    (out / "envoys.md").write_text(MARKDOWN, encoding="utf-8")
    (out / "envoys.html").write_text(PAGE, encoding="utf-8")
    result = run_cli("predict", "--article", str(ARTICLE), str(out / "short.txt"), str(out / "envoys.md"),
                     str(out / "envoys.html"), "--explain",
                     "--html",
                     str(out / "page.html"), "-o", str(out / "tagged.jsonl"), "--tracking-uri",
                     f"sqlite:///{folder}/mlflow.db", cwd=folder)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "tagged.jsonl").read_text(encoding="utf-8").splitlines()]
    dom = subprocess.run([*browser(out / "profile"), "--dump-dom", (out / "page.html").as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    pixels = screenshot(out / "page.html", out / "page.png")
    return records, (out / "page.html").read_text(encoding="utf-8"), dom, pixels


def test_the_rendered_page_has_one_element_per_passage_in_order(page):
    records, _, dom, _ = page
    passages = [p for record in records for p in record["passages"]]
    shown = Elements(dom).having("span", "passage")
    assert len(shown) == len(passages) == 19 + 2 + 2 + 2
    assert [(int(a["data-index"]), a["data-label"]) for a in shown] == [(p["index"], p["label"]) for p in passages]
    for attributes, passage in zip(shown, passages):  # probabilities on hover
        best = max((k for k in passage if k.startswith("prob_")), key=passage.get)
        assert f"{best.removeprefix('prob_')}: {passage[best]:.2f}" in attributes["title"]


def test_the_page_shows_each_passage_s_text_as_text(page):
    records, source, dom, _ = page
    text_of = re.compile(r'<span class="passage"[^>]*>(.*?)</span>', re.S)
    source = re.sub(r'<span class="markup">(.*?)</span>', r"\1", source)  # grey, and shown
    plain = [re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
             .replace("&#x27;", "'").replace("&quot;", '"') for html in text_of.findall(source)]
    assert plain == [p["text"] for record in records for p in record["passages"]]
    assert not Elements(dom).having("script")  # the article's <script> is text, not code


def test_each_article_has_a_topic_chart_and_the_page_an_index(page):
    records, _, dom, _ = page
    elements = Elements(dom)
    assert len(elements.having("section", "article")) == 4
    assert [a["href"] for a in elements.having("a")] == ["#article-0", "#article-1", "#article-2", "#article-3"]
    assert len(elements.having("rect", "bar")) == sum(len(record["topics"]) for record in records)


def champion_run(folder: Path) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    return client.get_model_version_by_alias("diplomacy-topics", "champion").run_id


def test_the_page_names_the_run_behind_the_alias_it_was_tagged_by(page, trained_store):
    """``@champion`` moves on to later models while the page is kept: the page names the run."""
    _, _, dom, _ = page
    (note,) = [text for text in re.findall(r'<p class="note">(.*?)</p>', dom, re.S) if "Tagged by" in text]
    assert f"Tagged by <code>models:/diplomacy-topics@champion</code> (logged by run <code>" \
           f"{champion_run(trained_store[0])}</code>)" in note


def test_a_model_loaded_through_mlflow_names_its_run_too(trained_store, tmp_path, cli_in_process):
    """--no-verify loads through MLflow's pyfunc, not textclf's own reader of a local store."""
    folder, _ = trained_store
    (tmp_path / "short.txt").write_text(SHORT, encoding="utf-8")
    result = cli_in_process("predict", "--article", str(tmp_path / "short.txt"), "--no-verify", "--html",
                            str(tmp_path / "page.html"), "-o", str(tmp_path / "tagged.jsonl"),
                            "--tracking-uri", f"sqlite:///{folder}/mlflow.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page_source = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert f"(logged by run <code>{champion_run(folder)}</code>)" in page_source


def test_the_page_needs_nothing_from_the_network(page):
    _, source, _, _ = page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(|@import|<link""", source, re.I)


def test_the_screenshot_is_not_blank(page):
    _, _, _, pixels = page
    colour = pixels.max(axis=2).astype(int) - pixels.min(axis=2)  # 0 for white, grey and black
    assert (pixels.min(axis=2) < 200).mean() > 0.03  # ink on at least 3% of the window
    assert (colour > 20).mean() > 0.03  # the passages' colours, not only black text
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100


def test_explanations_mark_the_words_behind_each_label(page):
    records, _, dom, _ = page
    missile = records[1]["passages"][0]
    assert missile["label"] == "north_korea_security"
    (explanation,) = missile["explanation"]
    assert explanation["label"] == missile["label"] and explanation["method"] == "linear"
    top_words = [t["text"] for t in explanation["terms"][:5]]
    assert {"missile", "ballistic", "fired", "Pyongyang"} & set(top_words), top_words
    for term in explanation["terms"]:
        assert missile["text"][term["start"]:term["end"]] == term["text"]
    marks = Elements(dom).having("mark")
    assert marks and {a["class"] for a in marks} <= {"for", "against"}


def grey_in(source: str, number: int) -> list[str]:
    """The grey runs of article ``number`` on the page."""
    section = source[source.index(f'id="article-{number}"'):]
    section = section[:section.index(f'id="article-{number + 1}"')] if f'id="article-{number + 1}"' in section else section
    return re.findall(r'<span class="markup">(.*?)</span>', section, re.S)


def test_markup_shows_in_grey_and_only_in_the_markdown_and_html_articles(page):
    records, source, dom, _ = page
    grey = re.findall(r'<span class="markup">(.*?)</span>', source, re.S)
    assert grey_in(source, 0) == grey_in(source, 1) == []
    assert [part.replace("&quot;", '"') for part in grey_in(source, 2)] == [
        "## ", "[", "](https://news.example.org/jakarta)", "**", "**"]
    assert "Markup in grey" in source and len(Elements(dom).having("span", "markup")) == len(grey)
    # the page's head, too long to show whole, shows its ends and how much lies between; the tags
    # around the words are grey; what is not grey in a passage is the words the model read
    page_grey = grey_in(source, 3)
    head = page_grey[0]
    assert head.startswith("&lt;!DOCTYPE html&gt;") and head.endswith("&lt;h1&gt;")
    assert f"\u2026 {len(PAGE[:PAGE.index('Envoys')]) - 90:,} characters \u2026" in head and len(head) < 200
    assert [part.replace("&lt;", "<").replace("&gt;", ">") for part in page_grey[1:]] == [
        "</h1>\n<p>", "<b>", "</b>", "</p>\n</body></html>\n"]
    assert [p["text"] for p in records[3]["passages"]] == [
        "Envoys meet in Jakarta", "The foreign ministers said on Friday that <b>regional cooperation</b> will deepen."]
