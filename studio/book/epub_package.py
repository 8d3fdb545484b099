"""EPUB packages read with ebooklib: the book object, its metadata (title, authors) and cover."""

from __future__ import annotations

import io
import logging
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import ebooklib
from ebooklib import epub

from studio.book.safety import CONTAINER
from studio.book.text_rules import clean_inline
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

_MIB = 2**20
MAX_COVER_BYTES = 20 * _MIB
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG", "image/png"), (b"GIF8", "image/gif"))


class _Reader(epub.EpubReader):
    """ebooklib's reader, tolerant of missing files; tables of contents are left to our own safe parsing.

    ebooklib 0.20 raises KeyError for any manifest file missing from the archive and gives up on the whole book, and
    it fails on a broken NCX or nav document; a listener would rather lose one chapter or the titles than the book.
    """

    def __init__(self, source: io.BytesIO) -> None:
        super().__init__(source, {"ignore_ncx": True})
        self.missing: list[str] = []
        self.toc_id = ""

    def read_file(self, name: str) -> bytes:
        try:
            return bytes(super().read_file(name))
        except KeyError:
            path = posixpath.normpath(name)
            if path in (CONTAINER, posixpath.normpath(self.opf_file or ".")):
                raise
            self.missing.append(path)
            return b""

    # ours: the spine only; ebooklib's version also parses the NCX and gives up on the book if that fails
    def _load_spine(self) -> None:
        spine = self.container.find(f"{{{epub.NAMESPACES['OPF']}}}spine")
        if spine is None:
            self.book.spine = []
            return
        self.book.spine = [(t.get("idref"), t.get("linear", "yes")) for t in spine if isinstance(t.tag, str)]
        self.toc_id = spine.get("toc", "") or ""

    # ours: nothing; read_toc parses the nav with the safe parser and falls back to the NCX, then the spine
    def _parse_nav(self, data: bytes, base_path: str, navtype: str = "toc") -> None:
        return None


@dataclass
class Package:
    """What ebooklib read: the book object, where the OPF sits, and which files the archive lacks."""

    book: epub.EpubBook
    opf_dir: str
    toc_id: str
    missing: set[str]

    def path(self, item: epub.EpubItem) -> str:
        return posixpath.normpath(posixpath.join(self.opf_dir, item.file_name))


def read_package(data: bytes, name: str) -> Package:
    reader = _Reader(io.BytesIO(data))
    try:
        book = reader.load()
    except Exception as exc:  # ebooklib raises anything from KeyError to AttributeError on a damaged package
        log.info("ebooklib could not read %s", name, exc_info=True)
        raise InvalidInput(
            f"'{name}' is a damaged EPUB: its package file (OPF) cannot be read ({type(exc).__name__}: {exc}). "
            "Export the book again as EPUB, or use a .txt file."
        ) from exc
    return Package(book, reader.opf_dir or "", reader.toc_id, set(reader.missing))


def raw(item: epub.EpubItem) -> bytes:
    """The file's bytes as stored; ebooklib's get_content() would rebuild XHTML through its own HTML template."""
    return bytes(item.content or b"")


def _metadata(book: epub.EpubBook, namespace: str, tag: str | None) -> list[tuple[str | None, dict[str, str]]]:
    try:
        return list(book.get_metadata(namespace, tag))
    except (KeyError, AttributeError):
        return []


def first_text(book: epub.EpubBook, tag: str) -> str:
    for value, _attrs in _metadata(book, "DC", tag):
        if value and value.strip():
            return clean_inline(value)
    return ""


def book_authors(book: epub.EpubBook) -> str:
    """Creators whose role is author (EPUB 2 opf:role, EPUB 3 refines), or every creator when no role is given."""
    roles = {
        attrs.get("refines", "").lstrip("#"): (value or "").strip()
        for value, attrs in _metadata(book, "OPF", None)
        if attrs.get("property") == "role"
    }
    named: list[tuple[str, str]] = []
    for value, attrs in _metadata(book, "DC", "creator"):
        if value and value.strip():
            role = attrs.get(f"{{{epub.NAMESPACES['OPF']}}}role") or roles.get(attrs.get("id", ""), "")
            named.append((clean_inline(value), role))
    authors = [n for n, role in named if role in ("", "aut")] or [n for n, _ in named]
    return ", ".join(dict.fromkeys(authors))


def _sniff_image(data: bytes) -> str:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def _cover_candidates(book: epub.EpubBook) -> Iterator[epub.EpubItem]:
    yield from book.get_items_of_type(ebooklib.ITEM_COVER)
    for _value, attrs in _metadata(book, "OPF", "cover"):
        item = book.get_item_with_id(attrs.get("content", ""))
        if item is not None:
            yield item
    for item in book.get_items_of_type(ebooklib.ITEM_IMAGE):
        if "cover" in (item.id or "").lower() or "cover" in (item.file_name or "").lower():
            yield item


def book_cover(book: epub.EpubBook) -> tuple[bytes | None, str]:
    for item in _cover_candidates(book):
        data = raw(item)
        mime = _sniff_image(data)
        if mime and len(data) <= MAX_COVER_BYTES:
            return data, mime
    return None, ""
