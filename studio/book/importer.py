"""Book import: one entry point that reads a file, decides EPUB or plain text by its content, and returns a Book."""

from __future__ import annotations

import logging
from pathlib import Path

from studio.book.epub import load_epub
from studio.book.model import Book
from studio.book.safety import DEFAULT_LIMITS, is_zip, not_an_epub
from studio.book.txt import load_txt, too_long
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 20_000_000  # about 30 hours of narration; longer books are split into parts
EPUB_SUFFIXES = frozenset({".epub"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ""})


def load_book(path: Path, max_chars: int = DEFAULT_MAX_CHARS) -> Book:
    """Read an EPUB or a plain-text book. The content decides: a '.epub' must be a ZIP archive, and a '.txt' that is
    really an EPUB is read as one; anything else raises InvalidInput with what was received and what to do."""
    path = Path(path)
    name = path.name
    data = _read(path, max_chars)
    suffix = path.suffix.lower()
    if not data:
        raise InvalidInput(f"'{name}' is empty (0 bytes). Choose the book file again.")
    if suffix in EPUB_SUFFIXES:
        if not is_zip(data):
            raise not_an_epub(name, "it is not a ZIP archive")
        return load_epub(data, name, max_chars)
    if is_zip(data):
        book = load_epub(data, name, max_chars)
        book.warnings.insert(0, f"'{name}' is an EPUB despite its name; it was read as one.")
        return book
    if suffix not in TEXT_SUFFIXES:
        log.info("%s: unknown suffix %r, trying plain text", name, suffix)
    try:
        return load_txt(data, name, max_chars)
    except InvalidInput as exc:
        if suffix in TEXT_SUFFIXES:
            raise
        raise InvalidInput(f"{exc} Studio imports EPUB (.epub) and plain-text (.txt) books.") from exc


def _read(path: Path, max_chars: int) -> bytes:
    """The file's bytes, refusing sizes no book within the limits can have before reading them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise InvalidInput(f"'{path}' does not exist. Choose the book file again.") from exc
    if path.is_dir():
        raise InvalidInput(f"'{path}' is a folder. Choose an .epub or .txt file inside it.")
    # an EPUB may carry images beyond its text; plain text spends at most 4 bytes on a character
    limit = max(DEFAULT_LIMITS.max_archive_bytes, 4 * max_chars + 4)
    if size > limit:
        raise too_long(path.name, size // 4, max_chars)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"'{path}' cannot be read ({exc.strerror or exc}). Check the file and try again.") from exc
