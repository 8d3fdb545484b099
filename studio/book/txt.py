"""Plain-text books: the importer (load_txt) and Gutenberg metadata; decoding and headings are in txt_*.py."""

from __future__ import annotations

import logging
import re
from pathlib import PurePath

from studio.book.model import Book
from studio.book.sections import GUTENBERG_HEADER, LICENSE, Section, finish_sections, split_gutenberg
from studio.book.text_rules import clean_inline, tidy_title
from studio.book.txt_decode import decode_text
from studio.book.txt_headings import find_headings, is_subtitle, join_wrapped, split_paragraphs
from studio.errors import InvalidInput

log = logging.getLogger(__name__)


def too_long(name: str, chars: int, max_chars: int) -> InvalidInput:
    return InvalidInput(
        f"'{name}' has {chars:,} characters or more; Studio imports books of up to {max_chars:,} characters. "
        "Split the book into parts and import them one by one."
    )


# --- Gutenberg metadata --------------------------------------------------------------------------------------------

_FIELD = re.compile(r"^(title|author|language)\s*:\s*(.*)$", re.IGNORECASE)
LANGUAGE_CODES = {
    "english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "finnish": "fi", "swedish": "sv", "danish": "da", "norwegian": "no", "polish": "pl",
    "russian": "ru", "chinese": "zh", "japanese": "ja", "korean": "ko", "latin": "la", "greek": "el",
    "hungarian": "hu", "czech": "cs", "catalan": "ca", "esperanto": "eo", "tagalog": "tl", "hindi": "hi",
}  # fmt: skip


def gutenberg_fields(lines: list[str]) -> dict[str, str]:
    """'Title: ...', 'Author: ...', 'Language: ...' from a Gutenberg header; indented lines continue a field."""
    fields: dict[str, str] = {}
    current = ""
    for line in lines:
        match = _FIELD.match(line.strip())
        if match:
            current = match.group(1).lower()
            fields.setdefault(current, clean_inline(match.group(2)))
        elif current and line[:1].isspace() and line.strip() and current in fields:
            fields[current] = clean_inline(f"{fields[current]} {line}")
        else:
            current = ""
    return fields


def _apply_gutenberg_fields(book: Book, header: list[str]) -> None:
    fields = gutenberg_fields([line for p in header for line in p.split("\n")])
    book.title = fields.get("title") or book.title
    book.author = fields.get("author") or book.author
    language = fields.get("language", "").lower()
    book.language = LANGUAGE_CODES.get(language.split(",")[0].strip(), book.language)


# --- the plain-text importer ---------------------------------------------------------------------------------------


def title_from_name(name: str) -> str:
    stem = PurePath(name).stem.replace("_", " ").strip()
    return clean_inline(stem) or "Untitled"


def load_txt(data: bytes, name: str, max_chars: int = 20_000_000, title: str | None = None) -> Book:
    """A Book from a plain-text file: one chapter per detected heading, or one chapter named after the file (or
    `title`, for a text that came without a file name)."""
    if not data:
        raise InvalidInput(f"'{name}' is empty (0 bytes). Choose the book file again.")
    if len(data) > 4 * max_chars + 4:  # no encoding spends more than 4 bytes on a character
        raise too_long(name, len(data) // 4, max_chars)
    decoded = decode_text(data, name)
    if len(decoded.text) > max_chars:
        raise too_long(name, len(decoded.text), max_chars)
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").rstrip("\x1a")
    if not text.strip():
        raise InvalidInput(f"'{name}' contains no text (only whitespace). Choose the file that holds the book.")
    book = Book(title=title or title_from_name(name))
    if decoded.warning:
        book.warnings.append(decoded.warning)
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise InvalidInput(f"'{name}' contains no words to read. Choose the file that holds the book.")
    sections = split_gutenberg([Section("", paragraphs, "txt")])
    header = [p for s in sections if s.hint == LICENSE and s.title == GUTENBERG_HEADER for p in s.paragraphs]
    _apply_gutenberg_fields(book, header)
    out: list[Section] = []
    for section in sections:
        if section.hint == LICENSE:
            section.paragraphs = [join_wrapped(p) for p in section.paragraphs]
            out.append(section)
        else:
            out.extend(heading_sections(section.paragraphs, book))
    finish_sections(out, book)
    log.info("%s: %d chapters, %d characters, %s", name, len(book.chapters), book.chars, decoded.encoding)
    return book


def heading_sections(paragraphs: list[str], book: Book, source: str = "txt") -> list[Section]:
    """Sections cut at the chapter headings found among plain paragraphs (also used for PDFs without an outline)."""
    headings = find_headings(paragraphs)
    if not headings:
        return [Section(book.title, [join_wrapped(p) for p in paragraphs], source)]
    sections: list[Section] = []
    if headings[0].index > 0:
        sections.append(Section(book.title, [join_wrapped(p) for p in paragraphs[: headings[0].index]], source))
    bounds = [h.index for h in headings[1:]] + [len(paragraphs)]
    for heading, end in zip(headings, bounds, strict=True):
        first = heading.index + 1
        title = heading.title
        if heading.bare and first < end and is_subtitle(paragraphs[first]):
            title = tidy_title(f"{paragraphs[heading.index].strip()}\n{paragraphs[first].strip()}")
            first += 1
        body = [join_wrapped(p) for p in paragraphs[first:end]]
        sections.append(Section(title, [title, *body], source, heads=1))
    return sections
