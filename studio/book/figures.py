"""A book's pictures: noted in reading order while the EPUB importer walks its text (each with the paragraphs it
stood between), then placed between the finished chapters' paragraphs, so they survive everything the importer does
to the text on the way (headings made titles, front matter split off, files without a TOC entry joined to the
chapter before). Only what an EPUB 3 reading system shows everywhere is kept: JPEG, PNG and GIF, within limits.
Pictures are never read aloud; the read-along EPUB 3 shows them where they stood."""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from urllib.parse import unquote

from studio.book.model import Book, Figure
from studio.text.chunking import split_paragraphs

_MIB = 2**20
MAX_IMAGE_BYTES = 20 * _MIB  # one picture (a scanned plate is a few MB)
MAX_BOOK_IMAGE_BYTES = 200 * _MIB  # all of a book's pictures, kept in its job folder
MAX_IMAGES = 2000
SEARCH_AHEAD = 5000  # paragraphs searched past the last picture's place for the next one's
TYPES = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"))
MIME = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif"}
_SHOWN_LOSSES = 5


@dataclass
class FoundImage:
    """A picture as the text walk met it: its file in the archive ("" when it points outside the book), its alt
    text, and the paragraphs it stood between (whitespace collapsed; "" where there was none)."""

    src: str
    alt: str
    shown_src: str
    before: str = ""
    after: str = ""


def _key(text: str) -> str:
    return " ".join(text.split())


def resolve(src: str, document: str) -> str:
    """The archive path of an image reference made in `document`; "" for one outside the book (a web address, a
    data: URI)."""
    src = src.strip()
    head = src.split("/", 1)[0]
    if not src or ":" in head or src.startswith("/"):
        return ""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(document), unquote(src.split("#", 1)[0])))
    return "" if path.startswith("..") else path


class ImageFinder:
    """Collects pictures during the walk. A picture between paragraphs goes after the paragraph before it (or before
    the next one); one inside a paragraph goes after that paragraph."""

    def __init__(self) -> None:
        self.found: list[FoundImage] = []
        self._last = ""
        self._waiting: list[FoundImage] = []  # for the next paragraph's text, as their `after`
        self._inline: list[FoundImage] = []  # inside the paragraph being collected

    def image(self, src: str, document: str, alt: str, in_paragraph: bool) -> None:
        found = FoundImage(resolve(src, document), _key(alt), src.strip(), before=self._last)
        self.found.append(found)
        (self._inline if in_paragraph else self._waiting).append(found)

    def paragraph(self, text: str) -> None:
        """A paragraph was added to the text."""
        key = _key(text)
        for found in self._waiting:
            found.after = key
        for found in self._inline:
            found.before = key
        self._waiting, self._inline, self._last = self._inline, [], key

    def no_paragraph(self) -> None:
        """The paragraph being collected had no words: its pictures stand where it would have been."""
        self._waiting += self._inline
        self._inline = []


def _kind(data: bytes) -> str:
    return next((ext for magic, ext in TYPES if data.startswith(magic)), "")


def _place(flat: list[tuple[int, int, str]], cursor: int, found: FoundImage) -> tuple[int, int, int] | None:
    """(chapter, paragraphs before the picture, new cursor), searching forward from `cursor`: after the paragraph it
    followed (best where the next one is also the one it preceded), else before the one it preceded."""
    window = range(cursor, min(len(flat), cursor + SEARCH_AHEAD))
    if found.before:
        matches = [k for k in window if flat[k][2] == found.before]
        both = [k for k in matches if found.after and k + 1 < len(flat) and flat[k + 1][2] == found.after]
        for k in both[:1] or matches[:1]:
            return flat[k][0], flat[k][1] + 1, k
    if found.after:
        for k in window:
            if flat[k][2] == found.after:
                return flat[k][0], flat[k][1], k
    return None


def place(book: Book, found: list[FoundImage], archive: zipfile.ZipFile) -> None:
    """Give each found picture its place in `book.chapters` (`Chapter.figures`) and its bytes in `book.images`,
    read from `archive`; one warning lists what was left out and why. The cover again is not a loss."""
    flat = [(c, p, _key(text)) for c, chapter in enumerate(book.chapters)
            for p, text in enumerate(split_paragraphs(chapter.text))]  # fmt: skip
    names: dict[str, str] = {}
    skipped: set[str] = set()
    lost: dict[str, str] = {}
    total, cursor = 0, 0
    members = {info.filename: info for info in archive.infolist()}
    for image in found:
        label = image.src or image.shown_src
        if label in lost or label in skipped:
            continue
        name = names.get(image.src)
        if name is None:
            info = members.get(image.src) if image.src else None
            why = ""
            if not image.src:
                why = "outside the book"
            elif info is None:
                why = "missing"
            elif info.file_size > MAX_IMAGE_BYTES:
                why = f"over {MAX_IMAGE_BYTES // _MIB} MB"
            elif len(names) >= MAX_IMAGES or total + info.file_size > MAX_BOOK_IMAGE_BYTES:
                why = f"past the {MAX_IMAGES} pictures or {MAX_BOOK_IMAGE_BYTES // _MIB} MB a book keeps"
            data = archive.read(info) if info is not None and not why else b""
            if not why and book.cover and data == book.cover:
                skipped.add(label)  # a cover page: the cover travels with the book anyway
                continue
            ext = _kind(data) if not why else ""
            if not why and not ext:
                why = "not JPEG, PNG or GIF"
            if why:
                lost[label] = why
                continue
            name = f"img{len(names) + 1:03d}{ext}"
            names[image.src] = name
            book.images[name] = data
            total += len(data)
        spot = _place(flat, cursor, image)
        if spot is None:
            lost.setdefault(label, "its place in the text was not found")
            continue
        chapter, after, cursor = spot
        book.chapters[chapter].figures.append(Figure(after, name, image.alt))
    # a picture whose every use was lost or skipped is not kept
    used = {f.name for c in book.chapters for f in c.figures}
    for unused in [n for n in book.images if n not in used]:
        del book.images[unused]
    if lost:
        shown = "; ".join(f"{src} ({why})" for src, why in list(lost.items())[:_SHOWN_LOSSES])
        more = f"; and {len(lost) - _SHOWN_LOSSES} more" if len(lost) > _SHOWN_LOSSES else ""
        count = f"{len(lost)} image{'s' if len(lost) != 1 else ''}"
        book.warnings.append(f"{count} of the book could not be kept for the read-along EPUB 3: {shown}{more}.")
