"""Chapter openings of the three fixture books, spoken by the bundled Piper voice and heard by Whisper: headings
("Chapter III", "Letter 1") and abbreviations ("Mrs.", "St.", "Dec.", "Dr." after a full stop) read as a person would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.api import Studio
from studio.book.epub import load_epub
from studio.config import Settings
from studio.text.normalize import words_for_wer

# (book, chapter title, paragraphs spoken, words that must be heard in this order)
OPENINGS = [
    ("alice-in-wonderland", "Chapter III. A Caucus-Race and a Long Tale", 1, ["chapter", "three", "caucus", "race"]),
    ("alice-in-wonderland", "Chapter IX. The Mock Turtle’s Story", 1, ["chapter", "nine", "mock", "turtle"]),
    ("alice-in-wonderland", "Chapter XII. Alice’s Evidence", 1, ["chapter", "twelve", "evidence"]),
    ("frankenstein", "Letter 1", 3, ["letter", "one", "missus", "england", "saint", "december"]),
    ("frankenstein", "Chapter 24", 1, ["chapter", "twenty", "four"]),
    ("moby-dick", "Chapter 1. Loomings", 1, ["chapter", "one"]),
]
TAKES = 3  # Piper samples fresh noise on each call; a blurred take is tried again (see test_piper)


def _in_order(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(word in it for word in needle)


def _opening(shared_fixtures: Path, book: str, title: str, paragraphs: int) -> str:
    loaded = load_epub((shared_fixtures / "books" / f"{book}.epub").read_bytes(), book)
    chapter = next(c for c in loaded.chapters if c.title == title)
    return "\n\n".join(chapter.text.split("\n\n")[:paragraphs])


def _heard(studio: Studio, transcriber, text: str, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    takes = []
    for _ in range(TAKES):
        audio = studio.synthesize(text, "piper", "joe").audio
        heard = transcriber.transcribe(audio.samples, audio.sample_rate)
        if _in_order(expected, words_for_wer(heard)):
            return
        takes.append(heard)
    pytest.fail(f"{text!r}: expected to hear {expected}; heard {takes}")


@pytest.mark.parametrize(("book", "title", "paragraphs", "expected"), OPENINGS,
                         ids=[f"{b}:{t[:12]}" for b, t, _, _ in OPENINGS])  # fmt: skip
def test_chapter_openings_are_heard_as_written(  # type: ignore[no-untyped-def]
    book: str, title: str, paragraphs: int, expected: list[str], shared_fixtures: Path, settings: Settings, transcriber
) -> None:
    _heard(Studio(settings=settings), transcriber, _opening(shared_fixtures, book, title, paragraphs), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The door opened. Dr. Smith came in.", ["door", "opened", "doctor", "smith"]),
        ("They sailed home. St. Paul was waiting.", ["home", "saint", "paul"]),
        ("PART II. The Return of Louis XIV", ["part", "two", "louis", "the", "fourteenth"]),
    ],
)
def test_abbreviations_and_numerals_in_any_position(text: str, expected: list[str], settings: Settings,  # type: ignore[no-untyped-def]
                                                    transcriber) -> None:  # fmt: skip
    _heard(Studio(settings=settings), transcriber, text, expected)
