"""PDF books with a text layer, read with pypdf: chapters from the outline (bookmarks) when there is one, else from
heading lines; scanned, password-protected and broken files refused with what to do instead."""

from __future__ import annotations

import io
import logging
import re
import zlib
from dataclasses import dataclass
from typing import Any

from pypdf import PasswordType, PdfReader
from pypdf.errors import PyPdfError

from studio.book.model import Book
from studio.book.pdf_layout import Layout, Paragraph, strip_furniture
from studio.book.sections import LICENSE, Section, finish_sections, split_gutenberg
from studio.book.text_rules import MAX_HEADING_CHARS, clean_inline, tidy_title, title_key
from studio.book.txt import heading_sections, title_from_name, too_long
from studio.book.txt_headings import find_headings, is_heading
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
# what a damaged or hostile file makes pypdf raise besides its own errors
_BROKEN = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, RecursionError,
           OverflowError, zlib.error, NotImplementedError)  # fmt: skip
_MIN_TEXT_CHARS = 100  # fewer letters than this in the whole file: the pages are pictures
_NEXT_PAGE_LINES = 8  # a bookmark may point at the page before its heading: look this far into the next page
_JUNK_TITLE = re.compile(r"^(?:untitled|microsoft word\b.*|.*\.(?:docx?|pdf|odt|rtf|tex|indd))$", re.IGNORECASE)


def is_pdf(data: bytes, named_pdf: bool = False) -> bool:
    """A PDF header at the start; for a file named .pdf, anywhere in the first kilobyte (some writers put bytes
    before it)."""
    return data.startswith(PDF_MAGIC) or (named_pdf and PDF_MAGIC in data[:1024])


def _broken(name: str, exc: BaseException) -> InvalidInput:
    return InvalidInput(f"'{name}' cannot be read as a PDF ({type(exc).__name__}: {exc}); the file is damaged or not "
                        "a PDF. Download or export it again, or import the book as EPUB or TXT.")  # fmt: skip


def _open(data: bytes, name: str) -> PdfReader:
    """A reader, decrypted with the empty password where a PDF is 'encrypted' without one (only an owner password)."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise InvalidInput(f"'{name}' is protected by a password, so its text cannot be read. Open it with the "
                               "password and save a copy without one (or print it to a new PDF), or import the book "
                               "as EPUB or TXT.")  # fmt: skip
        pages = len(reader.pages)
    except InvalidInput:
        raise
    except _BROKEN as exc:
        if "cryptography" in str(exc) or "AES" in str(exc):
            raise InvalidInput(f"'{name}' is encrypted in a way Studio cannot read ({exc}). Save a copy without "
                               "encryption, or import the book as EPUB or TXT.") from exc  # fmt: skip
        raise _broken(name, exc) from exc
    if not pages:
        raise InvalidInput(f"'{name}' is a PDF without pages; there is nothing to read. Download or export it again.")
    return reader


def _page_text(page: Any) -> str | None:
    """The page's text laid out as printed (indents and blank lines between paragraphs kept), or pypdf's plain
    extraction where layout fails; None when neither can read the page."""
    for mode in ("layout", "plain"):
        try:
            return str(page.extract_text(extraction_mode=mode) or "")
        except _BROKEN as exc:
            log.info("page %s (%s extraction): %s", getattr(page, "page_number", "?"), mode, exc)
    return None


def _pages(reader: PdfReader, name: str, max_chars: int, warnings: list[str]) -> list[list[str]]:
    pages: list[list[str]] = []
    failed: list[int] = []
    chars = 0
    for number, page in enumerate(reader.pages):
        text = _page_text(page)
        if text is None:
            failed.append(number + 1)
            text = ""
        chars += len(text)
        if chars > max_chars:
            raise too_long(name, chars, max_chars)
        pages.append(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    if failed:
        warnings.append(f"{len(failed)} page(s) of '{name}' could not be read and were skipped (first: page "
                        f"{failed[0]}).")  # fmt: skip
    return pages


def _scanned(name: str) -> InvalidInput:
    return InvalidInput(f"'{name}' has no text layer: its pages are images (it looks scanned). Studio reads text, "
                        "not pictures: run OCR first (for example `ocrmypdf --sidecar book.txt in.pdf out.pdf`, "
                        "then import the .txt or the new PDF), or use the book as EPUB or TXT.")  # fmt: skip


def _metadata(reader: PdfReader, book: Book) -> None:
    try:
        info = reader.metadata
        title = clean_inline(str(info.title or "")) if info else ""
        author = clean_inline(str(info.author or "")) if info else ""
        root = reader.trailer["/Root"].get_object()
        language = root.get("/Lang") if isinstance(root, dict) else None
    except _BROKEN:
        return
    if title and not _JUNK_TITLE.match(title):
        book.title = title
    book.author = author
    if language:
        book.language = clean_inline(str(language)) or book.language


# --- the outline ---------------------------------------------------------------------------------------------------


@dataclass
class _Mark:
    title: str
    page: int
    depth: int


def _marks(reader: PdfReader, items: Any, depth: int, out: list[_Mark]) -> None:
    for item in items:
        if isinstance(item, list):
            _marks(reader, item, depth + 1, out)
            continue
        try:
            page = reader.get_destination_page_number(item)
            title = tidy_title(clean_inline(str(item.title or "")))
        except _BROKEN:
            continue
        if page is not None and page >= 0 and title:
            out.append(_Mark(title, page, depth))


def outline_marks(reader: PdfReader) -> list[_Mark]:
    """The bookmarks that open chapters: the top level, or the one below when the top is one entry (the book) or
    parts whose chapters start on the part's own page."""
    found: list[_Mark] = []
    try:
        _marks(reader, reader.outline, 0, found)
    except _BROKEN as exc:
        log.info("outline unreadable: %s", exc)
        return []
    top = [m for m in found if m.depth == 0]
    second = [m for m in found if m.depth == 1]
    if len(top) < 2 and len(second) >= 2:
        chosen = second
    elif second and sum(1 for m in top if any(s.page == m.page for s in second)) * 2 > len(top):
        chosen = [m for m in found if m.depth <= 1]
    else:
        chosen = top
    return chosen if len(chosen) >= 2 else []


def _heading_lines(lines: list[str], title: str, after: int = 0, within: int | None = None) -> tuple[int, int] | None:
    """Where a bookmark's title is printed on its page (from line `after` on, starting in the first `within`
    lines): the short lines (start, end) that spell it."""
    key = title_key(title)
    for start in range(after, len(lines) if within is None else min(within, len(lines))):
        spelled, best = "", 0
        for end in range(start, min(start + 4, len(lines))):
            if len(lines[end].strip()) > MAX_HEADING_CHARS:
                break
            spelled += title_key(lines[end])
            if not spelled or not key.startswith(spelled):
                break
            best = end + 1
            if spelled == key:
                break
        matched = title_key("".join(lines[start:best]))
        if best and (matched == key or 2 * len(matched) > len(key) or is_heading(lines[start].strip())):
            while (
                best < len(lines)
                and len(lines[best].strip()) <= MAX_HEADING_CHARS
                and (not lines[best].strip() or title_key(lines[best]) in key)
            ):
                best += 1  # the title printed again below a running header, or in parts ('CHAPTER I.', then...)
            return start, best
    return None


def _outline_sections(pages: list[list[str]], marks: list[_Mark], layout: Layout, book: Book) -> list[Section]:
    starts: list[tuple[int, int, int, str]] = []  # page, first line, first body line, title
    for mark in sorted(marks, key=lambda m: m.page):
        page = mark.page
        after = starts[-1][2] if starts and starts[-1][0] == page else 0
        found = _heading_lines(pages[page], mark.title, after) if page < len(pages) else None
        if found is None and page + 1 < len(pages):  # a bookmark set just before a page break
            found = _heading_lines(pages[page + 1], mark.title, within=_NEXT_PAGE_LINES)
            page += found is not None
        first, body = found if found else (after, after)
        starts.append((page, first, body, mark.title))
    starts.sort(key=lambda s: (s[0], s[1]))  # a bookmark moved to the next page may pass one set on that page
    sections: list[Section] = []
    if starts and (starts[0][0] > 0 or starts[0][1] > 0):
        front = [*pages[: starts[0][0]], pages[starts[0][0]][: starts[0][1]]]
        paragraphs = [p.text for p in layout.paragraphs(front)]
        if paragraphs:
            sections.append(Section(book.title, paragraphs, "pdf"))
    for k, (page, _first, body, title) in enumerate(starts):
        end_page, end_line = (starts[k + 1][0], starts[k + 1][1]) if k + 1 < len(starts) else (len(pages), 0)
        chunk = [pages[page][body:]] if page < end_page else [pages[page][body:end_line]]
        if page < end_page:
            chunk += pages[page + 1 : end_page] + ([pages[end_page][:end_line]] if end_page < len(pages) else [])
        paragraphs = [p.text for p in layout.paragraphs(chunk, page)]
        while paragraphs and len(paragraphs[0]) <= MAX_HEADING_CHARS and title_key(paragraphs[0]) in title_key(title):
            paragraphs.pop(0)  # the rest of a heading the page break cut off
        sections.append(Section(title, [title, *paragraphs], "pdf", heads=1))
    return sections


# --- without an outline --------------------------------------------------------------------------------------------


def _page_top_sections(paragraphs: list[Paragraph], book: Book) -> list[Section] | None:
    """Short title-case lines alone at the top of pages ('The Pool of Tears'), when no labelled headings exist."""
    tops = [i for i, p in enumerate(paragraphs) if p.page_top and p.heading]
    if len(tops) < 2:
        return None
    sections = [Section(book.title, [p.text for p in paragraphs[: tops[0]]], "pdf")] if tops[0] else []
    for k, start in enumerate(tops):
        end = tops[k + 1] if k + 1 < len(tops) else len(paragraphs)
        title = tidy_title(paragraphs[start].text)
        sections.append(Section(title, [title, *(p.text for p in paragraphs[start + 1 : end])], "pdf", heads=1))
    return sections


def _heading_sections(pages: list[list[str]], layout: Layout, book: Book) -> list[Section]:
    paragraphs = layout.paragraphs(pages)
    texts = [p.text for p in paragraphs]
    if not find_headings(texts):
        found = _page_top_sections(paragraphs, book)
        if found:
            return found
    out: list[Section] = []
    for section in split_gutenberg([Section("", texts, "pdf")]):
        out.extend([section] if section.hint == LICENSE else heading_sections(section.paragraphs, book, "pdf"))
    return out


# --- the PDF importer ----------------------------------------------------------------------------------------------


def load_pdf(data: bytes, name: str, max_chars: int = 20_000_000) -> Book:
    """A Book from a PDF's text layer. Scanned PDFs (no text), passwords and damaged files raise InvalidInput."""
    reader = _open(data, name)
    book = Book(title=title_from_name(name))
    _metadata(reader, book)
    pages = _pages(reader, name, max_chars, book.warnings)
    letters = sum(1 for lines in pages for line in lines for ch in line if ch.isalnum())
    if letters < _MIN_TEXT_CHARS:
        raise _scanned(name)
    empty = sum(1 for lines in pages if not any(x.strip() for x in lines))
    if empty * 2 > len(pages):
        book.warnings.append(f"{empty} of {len(pages)} pages of '{name}' have no text (scanned pages?); only the "
                             "pages with a text layer were read. Run OCR on the PDF to read them all.")  # fmt: skip
    pages = strip_furniture(pages)
    layout = Layout.of(pages)
    marks = outline_marks(reader)
    sections = _outline_sections(pages, marks, layout, book) if marks else _heading_sections(pages, layout, book)
    finish_sections(sections, book)
    log.info("%s: %d chapters, %d characters, outline: %s", name, len(book.chapters), book.chars, bool(marks))
    return book
