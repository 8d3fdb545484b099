"""Tests for paragraph and sentence splitting and for packing sentences into size-limited chunks."""

from __future__ import annotations

import pytest

from studio.text.chunking import chunk_text, split_paragraphs, split_sentences

STORY = (
    "Dr. Mara Quinn reached the harbor at 6 a.m. on a grey Tuesday, carrying a notebook, a thermos, and a map "
    "that was 2.5 times older than she was. The U.S. Coast Guard had closed the north pier; nobody, not even "
    'Mr. Ellis from the bait shop, knew why. She asked him anyway. "Storm damage?" she said. He shrugged, '
    "pointed at the water, and muttered something about No. 7 buoy, e.g. the one that had drifted since March. "
    "It was, i.e., the only buoy anyone still cared about... Then the fog rolled in — thick, cold, and silent — "
    "and the gulls stopped calling! Was this the sign her grandmother had written about in 1962? She opened the "
    "notebook to page 14 and read the line again: the tide will turn twice before the bell rings once."
)

SECOND_PARAGRAPH = (
    "Hours later the bell rang. Nobody on shore heard it, but the recording on her phone caught every note, "
    "and she played it back until the battery died."
)


def test_split_paragraphs_on_blank_lines_and_collapses_wraps() -> None:
    text = "First line\nwrapped here.\n\n\n  Second   paragraph.\r\n\r\nThird.\n \t\nFourth."
    assert split_paragraphs(text) == ["First line wrapped here.", "Second paragraph.", "Third.", "Fourth."]
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\n \n") == []


def test_story_sentences() -> None:
    assert split_sentences(STORY) == [
        "Dr. Mara Quinn reached the harbor at 6 a.m. on a grey Tuesday, carrying a notebook, a thermos, and a map "
        "that was 2.5 times older than she was.",
        "The U.S. Coast Guard had closed the north pier; nobody, not even Mr. Ellis from the bait shop, knew why.",
        "She asked him anyway.",
        '"Storm damage?" she said.',
        "He shrugged, pointed at the water, and muttered something about No. 7 buoy, e.g. the one that had "
        "drifted since March.",
        "It was, i.e., the only buoy anyone still cared about...",
        "Then the fog rolled in — thick, cold, and silent — and the gulls stopped calling!",
        "Was this the sign her grandmother had written about in 1962?",
        "She opened the notebook to page 14 and read the line again: the tide will turn twice before the bell "
        "rings once.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. and Mrs. Smith met Dr. Jones.", ["Mr. and Mrs. Smith met Dr. Jones."]),
        ("He lives in the U.S. He likes it.", ["He lives in the U.S.", "He likes it."]),
        ("The U.S. Army is large.", ["The U.S. Army is large."]),
        ("We met at 5 p.m. Then we left.", ["We met at 5 p.m.", "Then we left."]),
        ("Pi is 3.14. It never ends.", ["Pi is 3.14.", "It never ends."]),
        ("Wait... what? Really?! Yes!!", ["Wait... what?", "Really?!", "Yes!!"]),
        ("Hmm… Fine.", ["Hmm…", "Fine."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("It ended (finally.) We cheered.", ["It ended (finally.)", "We cheered."]),
        ("J. K. Rowling wrote it. She is British.", ["J. K. Rowling wrote it.", "She is British."]),
        ("Take vitamin C. The doctor said so.", ["Take vitamin C.", "The doctor said so."]),
        ("Apples, pears, etc. Nothing else.", ["Apples, pears, etc.", "Nothing else."]),
        ("See St. Paul. It is old.", ["See St. Paul.", "It is old."]),
        ("Item No. 5 is gone.", ["Item No. 5 is gone."]),
        ("Read p. 5 first.", ["Read p. 5 first."]),
        ("Ask Prof. Lee vs. Sen. Ray.", ["Ask Prof. Lee vs. Sen. Ray."]),
        ("no terminator at all", ["no terminator at all"]),
        ("  lots   of\n space.  Here  ", ["lots of space.", "Here"]),
        ("Heading\n\nBody text.", ["Heading", "Body text."]),
        ("", []),
        ("   \n ", []),
        ("...", ["..."]),
    ],
)
def test_split_sentences_english(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("你好。我很好！你呢？好的", "zh", ["你好。", "我很好！", "你呢？", "好的"]),
        (
            "こんにちは。元気ですか？「はい。」そうです。",
            "ja",
            ["こんにちは。", "元気ですか？", "「はい。」", "そうです。"],
        ),
        ("안녕하세요. 반갑습니다! 네?", "ko", ["안녕하세요.", "반갑습니다!", "네?"]),
        ("Bonjour. Ça va ? Oui !", "fr", ["Bonjour.", "Ça va ?", "Oui !"]),
    ],
)
def test_split_sentences_other_languages(text: str, language: str, expected: list[str]) -> None:
    assert split_sentences(text, language) == expected


def test_split_sentences_never_returns_empty_or_padded() -> None:
    for text in [STORY, "a. . b", "! ? .", "x .\n\n. y", "。。。", '"Hi." "Bye."']:
        for sentence in split_sentences(text):
            assert sentence and sentence == sentence.strip() and "  " not in sentence


def test_split_sentences_keeps_every_word() -> None:
    text = f"{STORY}\n\n{SECOND_PARAGRAPH}"
    assert " ".join(split_sentences(text)).split() == text.split()


def test_chunk_text_packs_whole_sentences() -> None:
    sentences = split_sentences(STORY)
    chunks = chunk_text(STORY, 200)
    assert chunks == [
        "Dr. Mara Quinn reached the harbor at 6 a.m. on a grey Tuesday, carrying a notebook, a thermos, and a map "
        "that was 2.5 times older than she was.",
        "The U.S. Coast Guard had closed the north pier; nobody, not even Mr. Ellis from the bait shop, knew why. "
        'She asked him anyway. "Storm damage?" she said.',
        "He shrugged, pointed at the water, and muttered something about No. 7 buoy, e.g. the one that had "
        "drifted since March. It was, i.e., the only buoy anyone still cared about...",
        "Then the fog rolled in — thick, cold, and silent — and the gulls stopped calling! Was this the sign her "
        "grandmother had written about in 1962?",
        "She opened the notebook to page 14 and read the line again: the tide will turn twice before the bell "
        "rings once.",
    ]
    # Every chunk is a run of whole sentences.
    rebuilt = [s for chunk in chunks for s in split_sentences(chunk)]
    assert rebuilt == sentences


def test_chunk_text_never_crosses_paragraphs() -> None:
    chunks = chunk_text("One short.\n\nTwo short.\n\nThree short.", 1000)
    assert chunks == ["One short.", "Two short.", "Three short."]


def test_chunk_text_splits_long_sentence_at_clauses_first() -> None:
    sentence = "The tide turned; the gulls went quiet, the fog came in — and the bell rang."
    assert chunk_text(sentence, 40) == [
        "The tide turned; the gulls went quiet,",
        "the fog came in — and the bell rang.",
    ]
    assert chunk_text("alpha beta gamma delta epsilon", 11) == ["alpha beta", "gamma delta", "epsilon"]


def test_chunk_text_cuts_overlong_word_hard() -> None:
    assert chunk_text("a Supercalifragilistic b", 8) == ["a", "Supercal", "ifragili", "stic b"]
    assert chunk_text("abc", 1) == ["a", "b", "c"]


@pytest.mark.parametrize("max_chars", [0, -5])
def test_chunk_text_rejects_bad_max_chars(max_chars: int) -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_text("Hello.", max_chars)


def test_chunk_text_empty() -> None:
    assert chunk_text("", 100) == []
    assert chunk_text(" \n\n ", 100) == []


@pytest.mark.parametrize("max_chars", [1, 5, 11, 12, 13, 20, 37, 50, 64, 80, 100, 150, 200, 333, 1000, 5000])
def test_chunk_text_invariants(max_chars: int) -> None:
    text = f"{STORY}\n\n{SECOND_PARAGRAPH}\n\n{STORY}"
    chunks = chunk_text(text, max_chars)
    assert chunks
    for chunk in chunks:
        assert chunk, "empty chunk"
        assert chunk == chunk.strip()
        assert len(chunk) <= max_chars, (max_chars, chunk)
    # The longest word of the text has 11 characters; from there on no word is cut, so words survive in order.
    if max_chars >= 11:
        assert " ".join(chunks).split() == text.split()
    # Paragraphs are never merged: no chunk holds the end of one paragraph and the start of the next.
    for chunk in chunks:
        assert not ("rings once." in chunk and "Hours later" in chunk)
        assert not ("battery died." in chunk and "Dr. Mara" in chunk)
    # Packing is greedy: a chunk and the next one within a paragraph could not have been joined.
    paragraphs = [chunk_text(p, max_chars) for p in (STORY, SECOND_PARAGRAPH, STORY)]
    assert [c for p in paragraphs for c in p] == chunks


def test_chunk_text_small_limits_keep_all_characters() -> None:
    for max_chars in range(1, 15):
        chunks = chunk_text(SECOND_PARAGRAPH, max_chars)
        assert all(0 < len(chunk) <= max_chars for chunk in chunks)
        assert "".join("".join(chunks).split()) == "".join(SECOND_PARAGRAPH.split())


def test_chunk_text_cjk() -> None:
    text = "今日は良い天気です。散歩に行きましょう！公園で会いましょう。"
    # Japanese sentences are packed without a space between them.
    assert chunk_text(text, 20, "ja") == ["今日は良い天気です。散歩に行きましょう！", "公園で会いましょう。"]
    assert chunk_text(text, 19, "ja") == ["今日は良い天気です。", "散歩に行きましょう！", "公園で会いましょう。"]
    small = chunk_text(text, 4, "ja")
    assert all(0 < len(c) <= 4 for c in small) and "".join(small) == text
    # Korean puts spaces between words and sentences, like English.
    assert chunk_text("안녕하세요. 반갑습니다!", 100, "ko") == ["안녕하세요. 반갑습니다!"]


def test_chunk_text_cjk_clause_marks() -> None:
    text = "我们今天去公园，然后去商店，最后回家吃饭。"
    assert chunk_text(text, 8, "zh") == ["我们今天去公园，", "然后去商店，", "最后回家吃饭。"]
