"""The book as Studio sees it after import: metadata, cover and chapters of plain text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Chapter:
    """One chapter in reading order. `included` is the default tick in the plan (front/back matter start unticked)."""

    title: str
    text: str  # plain text, paragraphs separated by blank lines ("\n\n")
    included: bool = True
    kind: str = "body"  # body | front | back | toc | license
    source: str = ""  # the file inside the EPUB (or "txt")

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

    @property
    def chars(self) -> int:
        return sum(c.chars for c in self.chapters)
