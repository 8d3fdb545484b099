"""EPUB 2/3 books: safety checks, ebooklib for the package, our own safe parsing of the contents and the TOC."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass

from ebooklib import epub
from lxml import etree

from studio.book.epub_markup import local_name, parse_xhtml, semantic_kind
from studio.book.epub_package import Package, book_authors, book_cover, first_text, raw, read_package
from studio.book.epub_text import Block, Budget, Piece, Walker
from studio.book.epub_toc import Toc, TocEntry, read_toc
from studio.book.figures import ImageFinder, place
from studio.book.model import Book
from studio.book.safety import DEFAULT_LIMITS, XmlError, ZipLimits, check_epub_archive
from studio.book.sections import LICENSE, Section, finish_sections
from studio.book.text_rules import has_words, join_lines, tidy_title, title_key
from studio.book.txt import title_from_name
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

XHTML_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml", "text/xml"})
_LABEL_ONLY = re.compile(
    r"^(?:(?:chapter|part|book|letter|volume|canto|stave|section)\s+)?(?:\d{1,4}|[ivxlcdm]{1,8}|[a-z-]+)$",
    re.IGNORECASE,
)


# --- from spine and TOC to sections --------------------------------------------------------------------------------


@dataclass
class _SpineDoc:
    path: str
    item: epub.EpubItem | None
    linear: bool


def _spine(pkg: Package, warnings: list[str]) -> list[_SpineDoc]:
    docs = []
    seen: set[str] = set()
    for idref, linear in pkg.book.spine:
        item = pkg.book.get_item_with_id(idref)
        if item is None:
            warnings.append(f"The reading order names '{idref}', which the book does not list; it was skipped.")
            continue
        path = pkg.path(item)
        if path in seen:  # read once: a file listed 100,000 times would otherwise be parsed 100,000 times
            continue
        seen.add(path)
        docs.append(_SpineDoc(path, item, str(linear).lower() != "no"))
    return docs


def _pieces(pkg: Package, docs: list[_SpineDoc], toc: Toc, budget: Budget, warnings: list[str],
            images: ImageFinder) -> list[Piece]:  # fmt: skip
    by_path: dict[str, list[TocEntry]] = {}
    for entry in toc.entries:
        by_path.setdefault(entry.path, []).append(entry)
    pieces: list[Piece] = []
    for doc in docs:
        if doc.path in pkg.missing:
            warnings.append(f"The chapter file '{doc.path}' is missing from the EPUB; it was skipped.")
            continue
        if doc.item is None or (doc.item.media_type or "").lower() not in XHTML_TYPES:
            continue
        try:
            root = parse_xhtml(raw(doc.item))
        except XmlError as exc:
            warnings.append(f"The chapter file '{doc.path}' cannot be read ({exc}); it was skipped.")
            continue
        _walk_doc(pieces, root, doc, by_path.get(doc.path, []), toc, budget, images)
    return pieces


def _walk_doc(pieces: list[Piece], root: etree._Element, doc: _SpineDoc, entries: list[TocEntry], toc: Toc,
              budget: Budget, images: ImageFinder) -> None:  # fmt: skip
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    ids |= {el.get("name") for el in root.iter() if local_name(el) == "a" and el.get("name")}
    at_start = next((e for e in entries if not e.fragment or e.fragment not in ids), None)
    breaks = {e.fragment: e for e in entries if e.fragment and e.fragment in ids}
    body = next((el for el in root.iter() if local_name(el) == "body"), root)
    hint = toc.hints.get(doc.path, "") or semantic_kind(body)
    first = Piece(at_start, doc.path, continuation=at_start is None and bool(toc.entries), hint=hint)
    pieces.append(first)
    start = len(pieces) - 1
    Walker(pieces, breaks, doc.path, budget, images).walk(body)
    if not first.blocks and len(pieces) > start + 1:  # the file's first TOC target opens it: the role goes there
        pieces[start + 1].hint = pieces[start + 1].hint or hint
    for piece in pieces[start:]:
        piece.linear = doc.linear


def _merge_continuations(pieces: list[Piece]) -> list[Piece]:
    """A file no TOC entry points to continues the chapter before it, unless it opens with a heading or a role."""
    out: list[Piece] = []
    for piece in pieces:
        opens_new = piece.hint or piece.license or (piece.blocks and piece.blocks[0].heading)
        if piece.continuation and out and not opens_new and not out[-1].license:
            out[-1].blocks.extend(piece.blocks)
            out[-1].chars += piece.chars
            out[-1].link_chars += piece.link_chars
            continue
        out.append(piece)
    return out


def _title_from_headings(blocks: list[Block]) -> tuple[str, int]:
    """A title from the leading headings, joining a bare label with its subtitle; and how many headings it used."""
    leading = []
    for block in blocks:
        if not block.heading:
            break
        leading.append(block)
    top = [b for b in leading if b.heading <= 3] or leading
    if not top:
        return "", 0
    used = leading.index(top[0]) + 1
    lines = top[0].text.split("\n")
    if len(lines) == 1 and _LABEL_ONLY.match(lines[0]) and used < len(leading):
        lines.append(leading[used].text)
        used += 1
    return tidy_title(join_lines(lines)), used


def _leading_title_headings(blocks: list[Block], title: str) -> int:
    """How many leading headings print the title (whole or in parts: 'CHAPTER I.' then 'Down the Rabbit-Hole')."""
    key = title_key(title)
    used = 0
    for block in blocks:
        block_key = title_key(block.text)
        if not block.heading or not block_key or block_key not in key:
            break
        used += 1
    return used


def _section(piece: Piece) -> Section:
    title = piece.entry.title if piece.entry else ""
    used = _leading_title_headings(piece.blocks, title) if title else 0
    if not title:
        title, used = _title_from_headings(piece.blocks)
    paragraphs = [b.text for b in piece.blocks[used:]]
    heads = 0
    if used:
        paragraphs.insert(0, title)  # the printed heading, once, in its tidy form: the narrator announces it
        heads = 1
    section = Section(title, paragraphs, piece.source, LICENSE if piece.license else piece.hint, heads)
    section.link_share = piece.link_chars / max(piece.chars, 1)
    section.linear = piece.linear
    return section


# --- the EPUB importer ---------------------------------------------------------------------------------------------


def load_epub(data: bytes, name: str, max_chars: int = 20_000_000, limits: ZipLimits = DEFAULT_LIMITS) -> Book:
    """A Book from EPUB bytes: checked for safety first, then chapters in reading order titled from the TOC."""
    check_epub_archive(data, name, limits)
    pkg = read_package(data, name)
    book = Book(
        title=first_text(pkg.book, "title") or title_from_name(name),
        author=book_authors(pkg.book),
        language=first_text(pkg.book, "language") or "en",
    )
    book.cover, book.cover_mime = book_cover(pkg.book)
    docs = _spine(pkg, book.warnings)
    if not docs:
        raise InvalidInput(f"'{name}' has an empty reading order (spine): there is nothing to read. Export it again.")
    toc = read_toc(pkg, {d.path for d in docs}, book.warnings)
    images = ImageFinder()
    pieces = _pieces(pkg, docs, toc, Budget(name, max_chars), book.warnings, images)
    sections = [_section(p) for p in _merge_continuations(pieces) if p.blocks]
    if not any(has_words(p) for s in sections for p in s.paragraphs):
        raise InvalidInput(
            f"'{name}' contains no text to read (only images or empty pages). "
            "Studio reads text: use an EPUB with text, or a .txt file."
        )
    finish_sections(sections, book)
    if images.found:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            place(book, images.found, archive)
    log.info("%s: %d chapters, %d characters, %d warnings", name, len(book.chapters), book.chars, len(book.warnings))
    return book
