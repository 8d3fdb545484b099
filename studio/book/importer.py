"""Book import: one entry point that reads a file, decides its format by its content where the content can tell
(EPUB, Word, PDF, Kindle, HTML), else by its suffix (Markdown, plain text), and returns a Book."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from studio.book.epub import load_epub
from studio.book.formats import (
    DOCX_SUFFIXES,
    EPUB_SUFFIXES,
    FORMATS_NOTE,
    HTML_SUFFIXES,
    KINDLE_SUFFIXES,
    MARKDOWN_SUFFIXES,
    PDF_SUFFIXES,
    TEXT_SUFFIXES,
    is_kindle,
    looks_like_html,
)
from studio.book.html_book import load_html
from studio.book.kindle import load_kindle
from studio.book.markdown_book import load_markdown
from studio.book.model import Book
from studio.book.pdf import is_pdf, load_pdf
from studio.book.safety import DEFAULT_LIMITS, is_zip, not_an_epub
from studio.book.txt import load_txt, too_long
from studio.book.word import is_docx, load_docx
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 20_000_000  # about 30 hours of narration; longer books are split into parts
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Word 97-2003 (.doc) and other old Office files
Reader = Callable[[bytes, str, int], Book]
# format -> (reader, what it is called in a message, the suffixes that name it)
_FORMATS: dict[str, tuple[Reader, str, tuple[str, ...]]] = {
    "epub": (load_epub, "an EPUB", EPUB_SUFFIXES),
    "docx": (load_docx, "a Word document", DOCX_SUFFIXES),
    "pdf": (load_pdf, "a PDF", PDF_SUFFIXES),
    "kindle": (load_kindle, "a Kindle book", KINDLE_SUFFIXES),
    "html": (load_html, "an HTML page", HTML_SUFFIXES),
    "markdown": (load_markdown, "a Markdown file", MARKDOWN_SUFFIXES),
    "txt": (load_txt, "a plain-text file", (*TEXT_SUFFIXES, "")),
}


def sniff(data: bytes, named: str | None = None) -> str | None:
    """The format the bytes themselves declare, or None (Markdown and plain text look alike: the suffix decides)."""
    if is_pdf(data, named == "pdf"):
        return "pdf"
    if is_zip(data):
        return "docx" if is_docx(data) else "epub"
    if is_kindle(data):
        return "kindle"
    if looks_like_html(data):
        return "html"
    return None


def _by_suffix(suffix: str) -> str | None:
    return next((kind for kind, (_, _, suffixes) in _FORMATS.items() if suffix in suffixes), None)


def load_book(path: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Book:
    """Read a book (EPUB, PDF, DOCX, Markdown, HTML, Kindle via Calibre, or plain text). The content decides where it
    can: a '.txt' that is really an EPUB is read as one (with a warning), and a '.pdf' or '.epub' whose bytes are not
    one raises InvalidInput with what was received and what to do."""
    path = Path(path)
    name = path.name
    data = _read(path, max_chars)
    suffix = path.suffix.lower()
    if not data:
        raise InvalidInput(f"'{name}' is empty (0 bytes). Choose the book file again.")
    named = _by_suffix(suffix)
    found = sniff(data, named)
    if found is None and named in ("epub", "docx", "pdf", "kindle"):
        raise _not_what_it_says(name, named, data)
    kind = found or named
    if kind is None:
        log.info("%s: unknown suffix %r, trying plain text", name, suffix)
        try:
            return load_txt(data, name, max_chars)
        except InvalidInput as exc:
            raise InvalidInput(f"{exc} {FORMATS_NOTE}") from exc
    reader, called, _ = _FORMATS[kind]
    book = reader(data, name, max_chars)
    if named is not None and named != kind and not (kind == "html" and named in ("markdown", "txt")):
        book.warnings.insert(0, f"'{name}' is {called} despite its name; it was read as one.")
    return book


def _not_what_it_says(name: str, named: str, data: bytes) -> InvalidInput:
    if named == "epub":
        return not_an_epub(name, "it is not a ZIP archive")
    called = _FORMATS[named][1]
    if data.startswith(OLE_MAGIC):
        return InvalidInput(f"'{name}' is an old Microsoft Office document (.doc), not {called}. Open it in Word or "
                            f"LibreOffice and save it as .docx (or EPUB or plain text). {FORMATS_NOTE}")  # fmt: skip
    return InvalidInput(f"'{name}' is not {called} (its content does not start like one: {data[:8]!r}). The file is "
                        f"damaged or misnamed; download or export it again. {FORMATS_NOTE}")  # fmt: skip


def _read(path: Path, max_chars: int) -> bytes:
    """The file's bytes, refusing sizes no book within the limits can have before reading them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise InvalidInput(f"'{path}' does not exist. Choose the book file again.") from exc
    if path.is_dir():
        raise InvalidInput(f"'{path}' is a folder. Choose a book file inside it. {FORMATS_NOTE}")
    # an EPUB or PDF may carry images beyond its text; plain text spends at most 4 bytes on a character
    limit = max(DEFAULT_LIMITS.max_archive_bytes, 4 * max_chars + 4)
    if size > limit:
        raise too_long(path.name, size // 4, max_chars)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"'{path}' cannot be read ({exc.strerror or exc}). Check the file and try again.") from exc
