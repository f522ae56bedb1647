"""Splitting articles into passages: transcript markers, headlines, bracketed sound bites, the
three units, and offsets that index the text exactly."""

import pytest

from textclf.articles.segment import is_marker, segment

TRANSCRIPT = (
    "Envoy flies to Canberra as coalition talks drag on\n"
    "[Anchor]\n"
    "The deputy foreign minister left for Canberra on Monday. She is expected to stay three days.\n"
    "[Reporter] Officials said the trip was planned weeks ago.\n"
    "[Deputy Minister Ortiz: We came to listen. Nothing about our commitments has changed.]\n"
    "Talks resume on Friday. [Spokesperson Malik: We will publish the agenda. Nobody should read more into it.] "
    "That was the only comment.\n"
    "This is Dana Whitfield reporting.\n"
)


def passages(text, unit="sentence"):
    return [text[start:end] for start, end in segment(text, unit)]


def test_offsets_index_the_text_exactly_with_no_whitespace_at_the_ends():
    ending = "\u201cIt went well. Very well,\u201d he said \u2014 twice.\n\n"
    text = "  \r\n" + TRANSCRIPT.replace("\n", "\r\n") + ending
    for unit in ("sentence", "line", "paragraph"):
        spans = segment(text, unit)
        assert spans == sorted(spans) and all(a < b for a, b in spans)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))  # no overlap
        for start, end in spans:
            assert text[start:end] == text[start:end].strip() != ""
        # nothing but whitespace falls between passages
        gaps = [text[end:start] for (_, end), (start, _) in zip([(0, 0), *spans], [*spans, (len(text), 0)])]
        assert all(not gap.strip() for gap in gaps)


def test_a_headline_without_final_punctuation_is_a_passage_of_its_own():
    assert passages("Envoy flies to Canberra as talks drag on\nThe minister left on Monday. She stays three days.") == [
        "Envoy flies to Canberra as talks drag on", "The minister left on Monday.", "She stays three days."]


def test_transcript_markers_start_the_passage_after_them_and_are_never_one_alone():
    found = passages(TRANSCRIPT)
    assert found[1] == "[Anchor]\nThe deputy foreign minister left for Canberra on Monday."  # a marker line
    assert found[3] == "[Reporter] Officials said the trip was planned weeks ago."  # a marker in the line
    assert not any(is_marker(passage) for passage in found)
    assert passages("The minister left.\n[Anchor]") == ["The minister left.\n[Anchor]"]  # nothing after it
    assert passages("Talks ended. [Reporter] Both sides left.") == ["Talks ended.", "[Reporter] Both sides left."]


def test_a_bracketed_sound_bite_stays_one_passage_and_ends_at_its_bracket():
    found = passages(TRANSCRIPT)
    assert "[Deputy Minister Ortiz: We came to listen. Nothing about our commitments has changed.]" in found
    assert found[-4:-1] == ["Talks resume on Friday.",
                            "[Spokesperson Malik: We will publish the agenda. Nobody should read more into it.]",
                            "That was the only comment."]
    # sentencex cuts inside a bracket that holds a parenthesis: the block stays whole all the same
    assert passages("[Minister Ortiz: Thank you (and welcome). (Applause.) We stay.] Then the talks began.") == [
        "[Minister Ortiz: Thank you (and welcome). (Applause.) We stay.]", "Then the talks began."]
    # a bracket inside a sentence is an insertion, not a sound bite
    assert passages("He [the minister] said it twice. Then he left.") == ["He [the minister] said it twice.",
                                                                          "Then he left."]


def test_in_markdown_a_link_that_opens_a_sentence_is_not_a_sound_bite():
    # "[text](url)" and "[text][ref]" read on into the sentence: no cut after the bracket
    text = ("[The ministry said on Monday](https://example.org/a.html) that drills resume. Both sides agreed.\n"
            "[Officials in Seoul and Tokyo][1] welcomed the step.\n")
    assert [text[a:b] for a, b in segment(text, markdown=True)] == [
        "[The ministry said on Monday](https://example.org/a.html) that drills resume.", "Both sides agreed.",
        "[Officials in Seoul and Tokyo][1] welcomed the step."]
    # in a plain-text transcript a sound bite right before a bracket or a parenthesis still ends there
    assert passages("[Minister: We came to listen. Nothing has changed.][Anchor] Talks resume today.") == [
        "[Minister: We came to listen. Nothing has changed.]", "[Anchor] Talks resume today."]
    assert passages("[Minister Ortiz: We stay.](Applause.) Then he left.")[0] == "[Minister Ortiz: We stay.]"


def test_abbreviations_and_hyphenated_abbreviations_do_not_end_a_sentence():
    assert passages("The Korea-U.S. defense talks ended. The U.N. envoy met Gen. Park at 9 a.m. on Jan. 5.") == [
        "The Korea-U.S. defense talks ended.", "The U.N. envoy met Gen. Park at 9 a.m. on Jan. 5."]


def test_a_list_marker_stays_with_the_item_it_numbers():
    text = ("They agreed on three points:\n1. Joint drills continue next spring. Both navies join.\n"
            "2) A hotline reopens.\n- Envoys meet monthly.\n  * Talks go on. \u2022 Not a marker here.\n")
    assert passages(text) == ["They agreed on three points:", "1. Joint drills continue next spring.",
                              "Both navies join.", "2) A hotline reopens.", "- Envoys meet monthly.",
                              "* Talks go on.", "\u2022 Not a marker here."]
    assert passages("2024. The year talks resumed.") == ["2024.", "The year talks resumed."]  # no space: left to sentencex


def test_list_items_within_a_line_start_passages_of_their_own():
    # an article whose newlines were lost: sentencex read "1)" as a parenthesis and ran on to "2)"
    assert passages("Officials listed steps. 1) Tariffs will fall. North Korea fired a missile on Sunday. "
                    "2) Visas will ease.") == ["Officials listed steps.", "1) Tariffs will fall.",
                                               "North Korea fired a missile on Sunday.", "2) Visas will ease."]
    assert passages("They agreed: 1. Tariffs will fall. 2. Visas will ease. The summit ended.") == [
        "They agreed:", "1. Tariffs will fall.", "2. Visas will ease.", "The summit ended."]
    # a lone number after a sentence's end is text: a date, a rank, a score
    for text in ("Talks began on Jan. 5. Both sides agreed.", "She is the regime's No. 2. Her brother rules.",
                 "The vote was 3: 1. The bill passed.", "Talks resume in 2024. Both sides agreed."):
        assert len(passages(text)) == 2 and passages(text)[1].split()[0] in ("Both", "Her", "The"), passages(text)
    assert passages("He met (1) the envoy and 2) the minister. Then he left.") == [
        "He met (1) the envoy and 2) the minister.", "Then he left."]
    # a number after a list item that opens the line (the "2." was a passage of its own)
    assert passages("1. Tariffs fall. 2. Visas ease. 3) Talks go on.") == [
        "1. Tariffs fall.", "2. Visas ease.", "3) Talks go on."]
    assert passages("- Tariffs fall. 2. Visas ease.") == ["- Tariffs fall.", "2. Visas ease."]
    # on a later line, or after a transcript marker's line (the "2." was a passage of its own there)
    assert passages("Hello.\n1. Tariffs fall. 2. Exports rise. 3. Visas ease.") == [
        "Hello.", "1. Tariffs fall.", "2. Exports rise.", "3. Visas ease."]
    assert passages("[Anchor]\n1. Tariffs fall. 2. Exports rise.") == ["[Anchor]\n1. Tariffs fall.", "2. Exports rise."]
    # ... or after a transcript marker on the same line (was "[Anchor] 1.", "Tariffs fall.", "2.", ...)
    assert passages("[Anchor] 1. Tariffs fall. 2. Exports rise.") == ["[Anchor] 1. Tariffs fall.", "2. Exports rise."]
    assert passages("[Anchor] [Reporter] 1) Tariffs fall. 2) Exports rise.") == [
        "[Anchor] [Reporter] 1) Tariffs fall.", "2) Exports rise."]
    assert passages("[Minister: We came.] 1. Tariffs fall. 2. Visas ease.") == [
        "[Minister: We came.]", "1. Tariffs fall.", "2. Visas ease."]  # the "1." opens the line and the list
    assert passages("[Minister: We came. 1. Nothing changed.] 2. Next.") == [
        "[Minister: We came. 1. Nothing changed.]", "2. Next."]
    # ... but in such an item a date, a rank or a score is still text, and so is a number outside a list
    for text, first in (("1. Talks resumed on Jan. 2. Both sides agreed.", "1. Talks resumed on Jan. 2."),
                        ("1. The team is ranked No. 2. Its coach stayed.", "1. The team is ranked No. 2."),
                        ("1) Seoul won 3: 2. The crowd cheered.", "1) Seoul won 3: 2.")):
        assert passages(text)[0] == first, passages(text)
    assert passages("What is the answer? 42. Then we left.") == ["What is the answer?", "42.", "Then we left."]


def test_line_and_paragraph_units():
    text = "Headline here\n[Anchor]\nFirst line. Still the first line.\nSecond line.\n\n \nA new paragraph.\nIts end."
    assert passages(text, "line") == ["Headline here", "[Anchor]\nFirst line. Still the first line.", "Second line.",
                                      "A new paragraph.", "Its end."]
    assert passages(text, "paragraph") == ["Headline here\n[Anchor]\nFirst line. Still the first line.\nSecond line.",
                                           "A new paragraph.\nIts end."]
    assert passages("[Anchor]\n\nThe paragraph after it.", "paragraph") == ["[Anchor]\n\nThe paragraph after it."]


def test_markers_and_not_markers():
    assert is_marker("[Anchor]") and is_marker(" [Kakao Talk] ") and is_marker("[Anchor] [Reporter]")
    assert not is_marker("[Minister: We came.]") and not is_marker("[Anchor] Text") and not is_marker("Anchor")
    assert not is_marker("[Copyright holder Eastline, all rights reserved]") and not is_marker("[Done.]")


def test_empty_text_and_unknown_unit():
    assert segment(" \n\t\n") == []
    with pytest.raises(ValueError, match="unknown unit"):
        segment("Text.", "word")
