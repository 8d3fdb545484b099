"""The book as Studio sees it after import: metadata, cover, chapters of plain text and the images between their
paragraphs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """An image of the book at its place in a chapter: after the chapter text's first `after` paragraphs (0: before
    the first); `name` is its key in `Book.images`, `alt` the text a reader without pictures gets."""

    after: int
    name: str
    alt: str = ""


@dataclass
class Chapter:
    """One chapter in reading order. `included` is the default tick in the plan (front/back matter start unticked)."""

    title: str
    text: str  # plain text, paragraphs separated by blank lines ("\n\n")
    included: bool = True
    kind: str = "body"  # body | front | back | toc | license
    source: str = ""  # the file inside the EPUB (or "txt")
    figures: list[Figure] = field(default_factory=list)  # not read aloud; shown in the read-along EPUB 3

    @property
    def chars(self) -> int:
        return len(self.text)


@dataclass
class Book:
    """Title, author, language, optional cover image and the chapters; `warnings` collect import notes for the UI."""

    title: str
    author: str = ""
    language: str = "en"
    chapters: list[Chapter] = field(default_factory=list)
    cover: bytes | None = None
    cover_mime: str = ""
    warnings: list[str] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)  # figure name ("img001.png": its type in its name) -> bytes

    @property
    def chars(self) -> int:
        return sum(c.chars for c in self.chapters)
