"""EPUB 2/3 books: safety checks, ebooklib for the package, our own safe parsing of the contents and the TOC."""

from __future__ import annotations

import html.entities
import io
import logging
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import ebooklib
import lxml.html
from ebooklib import epub
from lxml import etree

from studio.book.model import Book
from studio.book.safety import (
    CONTAINER,
    DEFAULT_LIMITS,
    XmlError,
    ZipLimits,
    check_epub_archive,
    parse_xml,
    reject_external_entities,
    strip_doctype,
)
from studio.book.txt import (
    BACK,
    BODY,
    FRONT,
    LICENSE,
    TOC,
    Section,
    clean_inline,
    clean_paragraph,
    finish_sections,
    has_words,
    is_chapter_title,
    join_lines,
    tidy_title,
    title_from_name,
    title_key,
    too_long,
)
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

_MIB = 2**20
MAX_COVER_BYTES = 20 * _MIB
OPS_TYPE = "{http://www.idpf.org/2007/ops}type"
XHTML_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml", "text/xml"})
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG", "image/png"), (b"GIF8", "image/gif"))

# Elements whose text is never read aloud.
_SKIP_TAGS = frozenset({
    "head", "title", "script", "style", "noscript", "template", "svg", "math", "object", "iframe", "audio", "video",
    "canvas", "button", "select", "textarea", "input", "rt", "rp", "img",
})  # fmt: skip
# Elements that end a paragraph; everything else flows inline.
_BLOCK_TAGS = frozenset({
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table",
    "thead", "tbody", "tfoot", "tr", "caption", "section", "article", "header", "footer", "aside", "nav", "main",
    "figure", "figcaption", "address", "center", "hr", "body", "html", "hgroup", "details", "summary",
})  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_NOTE_TYPES = frozenset({"noteref", "pagebreak", "footnote", "footnotes", "endnote", "endnotes", "rearnote", "note"})
_NOTE_ROLES = frozenset({"doc-noteref", "doc-pagebreak", "doc-footnote", "doc-endnote", "doc-endnotes"})
_NOTE_CLASSES = frozenset(
    {"fnanchor", "noteref", "footnote-ref", "footnote-link", "pagenum", "pageno", "page-number", "pagebreak",
     "footnote", "footnotes"}
)  # fmt: skip
_MARKER_TEXT = re.compile(r"^[\[(]?\s*(?:\d{1,3}|[*†‡§¶]{1,3}|[a-z])\s*[\])]?$")
_BOILERPLATE_IDS = frozenset({"pg-header", "pg-footer"})
_BOILERPLATE_CLASSES = frozenset({"pg-boilerplate", "pgheader", "pgfooter"})
_LABEL_ONLY = re.compile(
    r"^(?:(?:chapter|part|book|letter|volume|canto|stave|section)\s+)?(?:\d{1,4}|[ivxlcdm]{1,8}|[a-z-]+)$",
    re.IGNORECASE,
)
# What EPUB semantics (epub:type, EPUB 2 guide types, landmarks) say about a file.
_SEMANTIC_KINDS = {
    "cover": FRONT, "titlepage": FRONT, "title-page": FRONT, "halftitlepage": FRONT, "copyright-page": FRONT,
    "dedication": FRONT, "epigraph": FRONT, "frontmatter": FRONT, "imprint": FRONT, "seriespage": FRONT,
    "toc": TOC, "loi": TOC, "lot": TOC,
    "bodymatter": BODY, "text": BODY, "chapter": BODY, "part": BODY, "prologue": BODY, "epilogue": BODY,
    "preface": BODY, "foreword": BODY, "introduction": BODY, "afterword": BODY,
    "backmatter": BACK, "colophon": BACK, "index": BACK, "bibliography": BACK, "glossary": BACK, "endnotes": BACK,
    "rearnotes": BACK,
}  # fmt: skip
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


# --- reading the package with ebooklib ----------------------------------------------------------------------------


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

    # ours: nothing; _read_toc parses the nav with the safe parser and falls back to the NCX, then the spine
    def _parse_nav(self, data: bytes, base_path: str, navtype: str = "toc") -> None:
        return None


@dataclass
class _Package:
    """What ebooklib read: the book object, where the OPF sits, and which files the archive lacks."""

    book: epub.EpubBook
    opf_dir: str
    toc_id: str
    missing: set[str]

    def path(self, item: epub.EpubItem) -> str:
        return posixpath.normpath(posixpath.join(self.opf_dir, item.file_name))


def _read_package(data: bytes, name: str) -> _Package:
    reader = _Reader(io.BytesIO(data))
    try:
        book = reader.load()
    except Exception as exc:  # ebooklib raises anything from KeyError to AttributeError on a damaged package
        log.info("ebooklib could not read %s", name, exc_info=True)
        raise InvalidInput(
            f"'{name}' is a damaged EPUB: its package file (OPF) cannot be read ({type(exc).__name__}: {exc}). "
            "Export the book again as EPUB, or use a .txt file."
        ) from exc
    return _Package(book, reader.opf_dir or "", reader.toc_id, set(reader.missing))


def _raw(item: epub.EpubItem) -> bytes:
    """The file's bytes as stored; ebooklib's get_content() would rebuild XHTML through its own HTML template."""
    return bytes(item.content or b"")


def _semantic_kind(el: etree._Element) -> str:
    return next((_SEMANTIC_KINDS[t] for t in sorted(_epub_types(el)) if t in _SEMANTIC_KINDS), "")


def _metadata(book: epub.EpubBook, namespace: str, tag: str | None) -> list[tuple[str | None, dict[str, str]]]:
    try:
        return list(book.get_metadata(namespace, tag))
    except (KeyError, AttributeError):
        return []


def _first_text(book: epub.EpubBook, tag: str) -> str:
    for value, _attrs in _metadata(book, "DC", tag):
        if value and value.strip():
            return clean_inline(value)
    return ""


def _authors(book: epub.EpubBook) -> str:
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


def _cover(book: epub.EpubBook) -> tuple[bytes | None, str]:
    for item in _cover_candidates(book):
        data = _raw(item)
        mime = _sniff_image(data)
        if mime and len(data) <= MAX_COVER_BYTES:
            return data, mime
    return None, ""


# --- tables of contents: nav (EPUB 3) or NCX (EPUB 2), parsed safely -----------------------------------------------


@dataclass
class _TocNode:
    title: str
    href: str
    children: list[_TocNode] = field(default_factory=list)


@dataclass
class TocEntry:
    """One place the table of contents names: a file in the archive and an optional fragment id inside it."""

    title: str
    path: str
    fragment: str = ""


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname.lower() if isinstance(el.tag, str) else ""


def _tokens(el: etree._Element, attribute: str) -> set[str]:
    return set((el.get(attribute) or "").lower().split())


def _epub_types(el: etree._Element) -> set[str]:
    return _tokens(el, OPS_TYPE) | _tokens(el, "epub:type")


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c) == name]


def _text_of(el: etree._Element | None) -> str:
    return clean_inline("".join(el.itertext())) if el is not None else ""


def _ncx_nodes(parent: etree._Element) -> list[_TocNode]:
    nodes = []
    for point in _children(parent, "navpoint"):
        label = next(iter(_children(point, "navlabel")), None)
        content = next(iter(_children(point, "content")), None)
        title = _text_of(label)
        nodes.append(_TocNode(title, (content.get("src") or "") if content is not None else "", _ncx_nodes(point)))
    return nodes


def _parse_ncx(data: bytes) -> list[_TocNode]:
    root = parse_xml(data)
    nav_map = next((el for el in root.iter() if _local(el) == "navmap"), None)
    return _ncx_nodes(nav_map) if nav_map is not None else []


def _nav_nodes(ol: etree._Element) -> list[_TocNode]:
    nodes = []
    for li in _children(ol, "li"):
        label = next((c for c in li if _local(c) in ("a", "span")), None)
        sub = next(iter(_children(li, "ol")), None)
        href = (label.get("href") or "") if label is not None and _local(label) == "a" else ""
        nodes.append(_TocNode(_text_of(label), href, _nav_nodes(sub) if sub is not None else []))
    return nodes


def _parse_nav(data: bytes) -> tuple[list[_TocNode], dict[str, str]]:
    """The toc nav as a tree, and the landmarks as {href: kind}."""
    root = parse_xhtml(data)
    navs = [el for el in root.iter() if _local(el) == "nav"]
    toc = next((n for n in navs if "toc" in _epub_types(n) or n.get("role") == "doc-toc"), None)
    if toc is None:  # an unlabelled nav is the table of contents unless it says it is something else
        toc = next((n for n in navs if not _epub_types(n) & {"landmarks", "page-list"}), None)
    nodes = []
    if toc is not None:
        ol = next((el for el in toc.iter() if _local(el) == "ol"), None)
        nodes = _nav_nodes(ol) if ol is not None else []
    landmarks: dict[str, str] = {}
    for nav in navs:
        if "landmarks" in _epub_types(nav):
            for a in nav.iter():
                kind = _semantic_kind(a)
                if _local(a) == "a" and a.get("href") and kind:
                    landmarks[a.get("href") or ""] = kind
    return nodes, landmarks


def _flatten(nodes: list[_TocNode]) -> Iterator[_TocNode]:
    """Reading order. A lone child that is no chapter ('ETYMOLOGY' > '(Supplied by a Late Consumptive Usher...)')
    is a subtitle inside its parent's text, not a chapter of its own; several children are a real list (parts)."""
    for node in nodes:
        yield node
        lone_subtitle = len(node.children) == 1 and not _is_chapterish(node.children[0].title)
        if not lone_subtitle:
            yield from _flatten(node.children)


def _is_chapterish(title: str) -> bool:
    return is_chapter_title(tidy_title(title))


def _resolve(href: str, base_dir: str) -> tuple[str, str]:
    path, _, fragment = href.partition("#")
    full = posixpath.normpath(posixpath.join(base_dir, unquote(path))) if path else ""
    return full, unquote(fragment)


def _toc_entries(nodes: list[_TocNode], base_dir: str, spine_paths: set[str]) -> tuple[list[TocEntry], int]:
    """Entries that point into the spine (first one per place wins), and how many pointed nowhere."""
    entries: list[TocEntry] = []
    seen: set[tuple[str, str]] = set()
    lost = 0
    for node in _flatten(nodes):
        if not node.href:
            continue
        path, fragment = _resolve(node.href, base_dir)
        if path not in spine_paths:
            lost += 1
            continue
        if (path, fragment) not in seen:
            seen.add((path, fragment))
            entries.append(TocEntry(tidy_title(node.title), path, fragment))
    return entries, lost


@dataclass
class _Toc:
    entries: list[TocEntry]
    hints: dict[str, str]  # file path -> kind, from the guide and landmarks


def _read_toc(pkg: _Package, spine_paths: set[str], warnings: list[str]) -> _Toc:
    """Prefer the EPUB 3 nav, then the NCX; if neither leads anywhere the spine alone gives the chapters."""
    hints = _guide_hints(pkg)
    candidates: list[tuple[str, epub.EpubItem]] = []
    for item in pkg.book.get_items():
        if isinstance(item, epub.EpubNav):
            candidates.insert(0, ("nav", item))
        elif isinstance(item, epub.EpubNcx) or (pkg.toc_id and item.id == pkg.toc_id):
            candidates.append(("ncx", item))
    problems: list[str] = []
    for kind, item in candidates:
        path = pkg.path(item)
        content = _raw(item)
        if path in pkg.missing or not content:
            problems.append(f"its {kind.upper()} file is missing")
            continue
        try:
            if kind == "nav":
                nodes, landmarks = _parse_nav(content)
                hints.update({_resolve(h, posixpath.dirname(path))[0]: k for h, k in landmarks.items()})
            else:
                nodes = _parse_ncx(content)
            entries, lost = _toc_entries(nodes, posixpath.dirname(path), spine_paths)
        except (XmlError, InvalidInput, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            problems.append(f"its {kind.upper()} cannot be read ({exc})")
            continue
        if entries:
            if lost:
                warnings.append(f"{lost} table-of-contents entries point to files the book does not have.")
            return _Toc(entries, hints)
        problems.append(f"its {kind.upper()} points to no chapter file")
    if problems:
        warnings.append(
            "The table of contents is unusable (" + "; ".join(problems) + "); chapters follow the reading order and "
            "are titled from their headings."
        )
    return _Toc([], hints)


def _guide_hints(pkg: _Package) -> dict[str, str]:
    hints: dict[str, str] = {}
    for ref in getattr(pkg.book, "guide", None) or []:
        kind = _SEMANTIC_KINDS.get((ref.get("type") or "").lower(), "")
        if kind and ref.get("href"):
            hints[_resolve(ref["href"], pkg.opf_dir)[0]] = kind
    return hints


# --- XHTML to paragraphs ---------------------------------------------------------------------------------------------


def _numeric_entity(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name in _XML_ENTITIES:
        return match.group(0)
    value = html.entities.html5.get(name.decode("ascii") + ";")
    if value is None:
        return match.group(0)
    return "".join(f"&#{ord(ch)};" for ch in value).encode("ascii")


def parse_xhtml(data: bytes) -> etree._Element:
    """XHTML through the safe XML parser (HTML named entities made numeric first); tag soup through lxml's HTML
    parser. Never any DOCTYPE, entity expansion or network access."""
    reject_external_entities(data, "XHTML document")
    data = strip_doctype(data)
    try:
        return parse_xml(_NAMED_ENTITY.sub(_numeric_entity, data))
    except XmlError:
        pass
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "windows-1252"
    parser = lxml.html.HTMLParser(
        encoding=encoding, recover=True, no_network=True, remove_comments=True, remove_pis=True
    )
    try:
        return lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise XmlError(str(exc)) from exc


@dataclass
class Block:
    """One paragraph of text; `heading` is 1-6 for h1-h6, 0 for ordinary text."""

    text: str
    heading: int = 0


@dataclass
class Piece:
    """Text from one place in the reading order up to the next table-of-contents target (or boilerplate edge)."""

    entry: TocEntry | None
    source: str
    blocks: list[Block] = field(default_factory=list)
    license: bool = False
    continuation: bool = False  # started by a new file nobody points to: may belong to the previous chapter
    hint: str = ""
    linear: bool = True
    chars: int = 0
    link_chars: int = 0


def _is_boilerplate(el: etree._Element) -> bool:
    return el.get("id") in _BOILERPLATE_IDS or bool(_tokens(el, "class") & _BOILERPLATE_CLASSES)


def _is_note_or_page_number(el: etree._Element, tag: str) -> bool:
    """Footnote markers, footnote bodies and page numbers: a listener wants none of them in the flow."""
    if _epub_types(el) & _NOTE_TYPES or (el.get("role") or "") in _NOTE_ROLES:
        return True
    if _tokens(el, "class") & _NOTE_CLASSES:
        return True
    if tag not in ("a", "sup") or len(text := "".join(el.itertext()).strip()) > 5 or not _MARKER_TEXT.match(text):
        return False
    # a short linked mark ('1', '[2]', '*') is a note reference; a plain <sup>2</sup> is mathematics and stays
    links = [el] if tag == "a" else [a for a in el.iter() if _local(a) == "a"]
    return any("#" in (a.get("href") or "") for a in links)


def _is_hidden(el: etree._Element) -> bool:
    style = (el.get("style") or "").replace(" ", "").lower()
    return el.get("hidden") is not None or "display:none" in style


class _Walker:
    """One pass over a document in order, cutting paragraphs at block elements and pieces at TOC targets."""

    def __init__(self, pieces: list[Piece], breaks: dict[str, TocEntry], source: str, budget: _Budget) -> None:
        self.pieces = pieces
        self.breaks = breaks
        self.source = source
        self.budget = budget
        self.lines: list[str] = []
        self.line: list[str] = []
        self.headings: list[int] = []
        self.links = 0
        self.pre = 0
        self.boilerplate = 0

    @property
    def piece(self) -> Piece:
        return self.pieces[-1]

    def walk(self, root: etree._Element) -> None:
        # an explicit stack, not recursion: nesting depth is the document's choice, not ours
        stack: list[tuple[etree._Element, str, bool]] = [(root, "", False)]
        while stack:
            el, closing, boilerplate = stack.pop()
            if closing:
                self._end(el, closing, boilerplate)
                self._text(el.tail)
                continue
            tag = _local(el)
            if not tag or tag in _SKIP_TAGS or _is_hidden(el) or _is_note_or_page_number(el, tag):
                self._text(el.tail)
                continue
            boilerplate = _is_boilerplate(el)
            self._start(el, tag, boilerplate)
            self._text(el.text)
            stack.append((el, tag, boilerplate))
            stack.extend((child, "", False) for child in reversed(el))
        self.flush()

    def _start(self, el: etree._Element, tag: str, boilerplate: bool) -> None:
        if boilerplate:
            self.flush()
            self.boilerplate += 1
            if self.boilerplate == 1:
                self.pieces.append(Piece(None, self.source, license=True))
        anchor = el.get("id") or (el.get("name") if tag == "a" else None)
        if anchor and anchor in self.breaks:
            entry = self.breaks.pop(anchor)
            self.flush()
            if self.boilerplate:
                self.piece.entry = self.piece.entry or entry
            else:
                self.pieces.append(Piece(entry, self.source))
        if tag in _BLOCK_TAGS:
            self.flush()
            if not self.piece.blocks and not self.piece.hint:  # <section epub:type="dedication"> opening a part
                self.piece.hint = _semantic_kind(el)
        if tag == "br":
            self._end_line()
        self.headings.append(_HEADINGS.get(tag, 0))
        self.links += tag == "a" and bool(el.get("href"))
        self.pre += tag == "pre"

    def _end(self, el: etree._Element, tag: str, boilerplate: bool) -> None:
        if tag in _BLOCK_TAGS:
            self.flush()
        elif tag in ("td", "th"):
            self.line.append(" ")
        self.headings.pop()
        self.links -= tag == "a" and bool(el.get("href"))
        self.pre -= tag == "pre"
        if boilerplate:
            self.flush()
            self.boilerplate -= 1
            if self.boilerplate == 0:
                self.pieces.append(Piece(None, self.source))

    def _text(self, text: str | None) -> None:
        if not text:
            return
        if self.links:
            self.piece.link_chars += len(text.strip())
        if not self.pre:
            self.line.append(text)
            return
        for i, part in enumerate(text.split("\n")):
            if i:
                self._end_line()
            self.line.append(part)

    def _end_line(self) -> None:
        line = clean_inline("".join(self.line))
        self.line = []
        if line:
            self.lines.append(line)

    def flush(self) -> None:
        """End the paragraph being collected and add it to the current piece."""
        self._end_line()
        if not self.lines:
            return
        text = "\n".join(line for line in map(clean_paragraph, self.lines) if line)
        self.lines = []
        if not has_words(text):
            return
        level = next((h for h in reversed(self.headings) if h), 0)
        self.piece.blocks.append(Block(text, level))
        self.piece.chars += len(text)
        self.budget.spend(len(text))


@dataclass
class _Budget:
    """Characters left before the book is refused; checked as text is collected, so a huge book stops early."""

    name: str
    max_chars: int
    used: int = 0

    def spend(self, chars: int) -> None:
        self.used += chars
        if self.used > self.max_chars:
            raise too_long(self.name, self.used, self.max_chars)


# --- from spine and TOC to sections --------------------------------------------------------------------------------


@dataclass
class _SpineDoc:
    path: str
    item: epub.EpubItem | None
    linear: bool


def _spine(pkg: _Package, warnings: list[str]) -> list[_SpineDoc]:
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


def _pieces(pkg: _Package, docs: list[_SpineDoc], toc: _Toc, budget: _Budget, warnings: list[str]) -> list[Piece]:
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
            root = parse_xhtml(_raw(doc.item))
        except XmlError as exc:
            warnings.append(f"The chapter file '{doc.path}' cannot be read ({exc}); it was skipped.")
            continue
        _walk_doc(pieces, root, doc, by_path.get(doc.path, []), toc, budget)
    return pieces


def _walk_doc(
    pieces: list[Piece], root: etree._Element, doc: _SpineDoc, entries: list[TocEntry], toc: _Toc, budget: _Budget
) -> None:
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    ids |= {el.get("name") for el in root.iter() if _local(el) == "a" and el.get("name")}
    at_start = next((e for e in entries if not e.fragment or e.fragment not in ids), None)
    breaks = {e.fragment: e for e in entries if e.fragment and e.fragment in ids}
    body = next((el for el in root.iter() if _local(el) == "body"), root)
    hint = toc.hints.get(doc.path, "") or _semantic_kind(body)
    first = Piece(at_start, doc.path, continuation=at_start is None and bool(toc.entries), hint=hint)
    pieces.append(first)
    start = len(pieces) - 1
    _Walker(pieces, breaks, doc.path, budget).walk(body)
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
    pkg = _read_package(data, name)
    book = Book(
        title=_first_text(pkg.book, "title") or title_from_name(name),
        author=_authors(pkg.book),
        language=_first_text(pkg.book, "language") or "en",
    )
    book.cover, book.cover_mime = _cover(pkg.book)
    docs = _spine(pkg, book.warnings)
    if not docs:
        raise InvalidInput(f"'{name}' has an empty reading order (spine): there is nothing to read. Export it again.")
    toc = _read_toc(pkg, {d.path for d in docs}, book.warnings)
    pieces = _pieces(pkg, docs, toc, _Budget(name, max_chars), book.warnings)
    sections = [_section(p) for p in _merge_continuations(pieces) if p.blocks]
    if not any(has_words(p) for s in sections for p in s.paragraphs):
        raise InvalidInput(
            f"'{name}' contains no text to read (only images or empty pages). "
            "Studio reads text: use an EPUB with text, or a .txt file."
        )
    finish_sections(sections, book)
    log.info("%s: %d chapters, %d characters, %d warnings", name, len(book.chapters), book.chars, len(book.warnings))
    return book
