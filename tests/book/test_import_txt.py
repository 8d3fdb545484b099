"""Plain-text import: encodings, binary and empty files, size limits, Gutenberg boilerplate and chapter headings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from studio.book.importer import load_book
from studio.book.model import Book
from studio.book.txt import decode_text, load_txt
from studio.errors import InvalidInput

STORY = """CHAPTER I.
Down the Rabbit-Hole


Alice was beginning to get very tired of sitting by her sister on the
bank, and of having nothing to do: once or twice she had peeped into
the book her sister was reading.

So she was considering in her own mind (as well as she could).


CHAPTER II.
The Pool of Tears


“Curiouser and curiouser!” cried Alice (she was so much surprised).
"""

GUTENBERG = f"""The Project Gutenberg eBook of Alice's Adventures in Wonderland

This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions.

Title: Alice's Adventures in Wonderland

Author: Lewis Carroll

Release date: June 27, 2008 [eBook #11]

Language: English

*** START OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***

[Illustration]


Alice’s Adventures in Wonderland

by Lewis Carroll

Contents

 CHAPTER I.     Down the Rabbit-Hole
 CHAPTER II.    The Pool of Tears


{STORY}

THE END


*** END OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***

Updated editions will replace the previous one--the old editions will
be renamed.
"""


def _write(tmp_path: Path, data: bytes | str, name: str = "book.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _titles(book: Book) -> list[tuple[str, bool]]:
    return [(c.title, c.included) for c in book.chapters]


# --- encodings -----------------------------------------------------------------------------------------------------

TEXT = "Chapter 1\n\nLe cœur a ses raisons — «naïve» café.\n"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # with BOM
        TEXT.encode("utf-16-le"),  # no BOM: found by the NUL in every other byte
        TEXT.encode("utf-16-be"),
        TEXT.encode("utf-32"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16le", "utf16be", "utf32"],
)
def test_unicode_encodings(data: bytes) -> None:
    decoded = decode_text(data, "x.txt")
    assert decoded.text == TEXT and decoded.warning == ""


def test_cp1252_falls_back_with_a_warning(tmp_path: Path) -> None:
    book = load_book(_write(tmp_path, TEXT.encode("cp1252")))
    assert book.chapters[0].text == "Chapter 1\n\nLe cœur a ses raisons — «naïve» café."
    assert book.warnings == [
        "'book.txt' is not UTF-8; it was read as Windows-1252 (Western European). If letters look wrong, "
        "save the file as UTF-8 and import it again."
    ]


def test_bytes_outside_cp1252_fall_back_to_latin1() -> None:
    decoded = decode_text("Stra\u00dfe caf\u00e9 ".encode("latin-1") * 50 + b"\x81", "x.txt")
    assert decoded.encoding == "Latin-1" and decoded.text.startswith("Straße café") and decoded.warning


# --- what is not a usable text -------------------------------------------------------------------------------------


def test_binary_renamed_txt_is_refused(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    with pytest.raises(InvalidInput, match=r"'book.txt' is not a text file \(it is binary data: it contains NUL"):
        load_book(_write(tmp_path, data))


def test_control_characters_without_nul_are_binary() -> None:
    with pytest.raises(InvalidInput, match="control characters"):
        decode_text(bytes(range(1, 32)) * 100 + b"some text", "x.txt")


@pytest.mark.parametrize(
    ("head", "what"), [(b"%PDF-1.7\n", "'book.txt' cannot be read as a PDF"), (b"\x89PNG\r\n\x1a\n", "a PNG image")]
)  # the content decides: a PDF named .txt is read as a PDF (this one is broken)
def test_known_binary_formats_are_named(tmp_path: Path, head: bytes, what: str) -> None:
    with pytest.raises(InvalidInput, match=what):
        load_book(_write(tmp_path, head + b"\x00" * 100))


def test_empty_and_whitespace_only_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"'book.txt' is empty"):
        load_book(_write(tmp_path, b""))
    with pytest.raises(InvalidInput, match="contains no text"):
        load_book(_write(tmp_path, " \n\n\t \r\n   \n" * 100))


def test_twenty_million_characters_are_refused_quickly(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a" * 20_000_001)
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match="up to 20,000,000 characters"):
        load_book(path)
    assert time.perf_counter() - start < 2.0


def test_max_chars_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Split the book into parts"):
        load_book(_write(tmp_path, STORY), max_chars=100)


def test_a_large_text_imports_in_linear_time() -> None:
    chapter = "\n\n".join(["The whale rose from the sea and the ship turned to meet it.\nIn the wind."] * 200)
    data = "\n\n".join(f"CHAPTER {i}\n\n{chapter}" for i in range(1, 201)).encode()
    start = time.perf_counter()
    book = load_txt(data, "big.txt")
    assert time.perf_counter() - start < 3.0
    assert len(book.chapters) == 200 and book.chars > 2_500_000


# --- structure -----------------------------------------------------------------------------------------------------


def test_gutenberg_text(tmp_path: Path) -> None:
    book = load_book(_write(tmp_path, GUTENBERG, "pg11.txt"))
    assert (book.title, book.author, book.language) == ("Alice's Adventures in Wonderland", "Lewis Carroll", "en")
    assert _titles(book) == [
        ("Project Gutenberg Header", False),
        ("Alice's Adventures in Wonderland", False),
        ("Chapter I. Down the Rabbit-Hole", True),
        ("Chapter II. The Pool of Tears", True),
        ("Project Gutenberg License", False),
    ]
    assert [c.kind for c in book.chapters] == ["license", "front", "body", "body", "license"]
    first = book.chapters[2].text.split("\n\n")
    assert first[0] == "Chapter I. Down the Rabbit-Hole"
    assert first[1] == (  # hard-wrapped lines joined with spaces
        "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: "
        "once or twice she had peeped into the book her sister was reading."
    )
    assert "Project Gutenberg" not in "".join(c.text for c in book.chapters if c.included)


def test_no_headings_is_one_chapter_named_after_the_file(tmp_path: Path) -> None:
    book = load_book(_write(tmp_path, "Just a few lines\nof a note.\n\nAnd a second paragraph.", "my_short_story.txt"))
    assert book.title == "my short story"
    assert [(c.title, c.text, c.kind) for c in book.chapters] == [
        ("my short story", "Just a few lines of a note.\n\nAnd a second paragraph.", "body")
    ]
    assert book.chapters[0].included


@pytest.mark.parametrize(
    ("headings", "titles"),
    [
        (["Chapter 1", "Chapter 2"], ["Chapter 1", "Chapter 2"]),
        (["CHAPTER I", "CHAPTER II"], ["Chapter I", "Chapter II"]),
        (["Chapter One", "Chapter Twenty-Two"], ["Chapter One", "Chapter Twenty-Two"]),
        (["Part One", "PART II"], ["Part One", "Part II"]),
        (["Prologue", "Chapter 1", "Epilogue"], ["Prologue", "Chapter 1", "Epilogue"]),
        (["CHAPTER 1. Loomings.", "CHAPTER 2. The Carpet-Bag."], ["Chapter 1. Loomings", "Chapter 2. The Carpet-Bag"]),
        (["I.", "II.", "III.", "IV."], ["I", "II", "III", "IV"]),
        (["1", "2", "3"], ["1", "2", "3"]),
    ],
)
def test_heading_styles(headings: list[str], titles: list[str]) -> None:
    text = "\n\n".join(f"{h}\n\nSome words of the story, told at length." for h in headings)
    book = load_txt(text.encode(), "story.txt")
    assert [c.title for c in book.chapters] == titles
    assert book.chapters[0].text == f"{titles[0]}\n\nSome words of the story, told at length."


def test_bare_numerals_must_run_in_order() -> None:
    text = "I\n\nI went out.\n\nIV\n\nThe fourth thing.\n\nII\n\nAnother."
    book = load_txt(text.encode(), "story.txt")
    assert [c.title for c in book.chapters] == ["story"]


def test_a_bare_label_takes_its_title_from_the_next_line() -> None:
    text = "CHAPTER IV\n\nTHE RABBIT SENDS IN A LITTLE BILL\n\nIt was the White Rabbit.\n\nCHAPTER V\n\nIt was late."
    book = load_txt(text.encode(), "story.txt")
    assert [c.title for c in book.chapters] == ["Chapter IV. The Rabbit Sends in a Little Bill", "Chapter V"]
    assert book.chapters[1].text == "Chapter V\n\nIt was late."


def test_contents_listed_as_separate_lines_are_not_chapters() -> None:
    contents = "\n\n".join(f"CHAPTER {n}. Title {n}." for n in range(1, 4))
    story = "\n\n".join(f"CHAPTER {n}. Title {n}.\n\nStory part {n}." for n in range(1, 4))
    book = load_txt(f"My Book\n\nContents\n\n{contents}\n\n{story}".encode(), "my-book.txt")
    assert [(c.title, c.kind) for c in book.chapters] == [
        ("my-book", "toc"),
        ("Chapter 1. Title 1", "body"),
        ("Chapter 2. Title 2", "body"),
        ("Chapter 3. Title 3", "body"),
    ]
