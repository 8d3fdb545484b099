"""EPUB text: XHTML documents walked into paragraphs (Blocks), cut into Pieces at TOC targets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from studio.book.epub_markup import epub_types, local_name, semantic_kind, tokens
from studio.book.epub_toc import TocEntry
from studio.book.figures import ImageFinder
from studio.book.text_rules import clean_inline, clean_paragraph, has_words
from studio.book.txt import too_long

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
    return el.get("id") in _BOILERPLATE_IDS or bool(tokens(el, "class") & _BOILERPLATE_CLASSES)


def _is_note_or_page_number(el: etree._Element, tag: str) -> bool:
    """Footnote markers, footnote bodies and page numbers: a listener wants none of them in the flow."""
    if epub_types(el) & _NOTE_TYPES or (el.get("role") or "") in _NOTE_ROLES:
        return True
    if tokens(el, "class") & _NOTE_CLASSES:
        return True
    if tag not in ("a", "sup") or len(text := "".join(el.itertext()).strip()) > 5 or not _MARKER_TEXT.match(text):
        return False
    # a short linked mark ('1', '[2]', '*') is a note reference; a plain <sup>2</sup> is mathematics and stays
    links = [el] if tag == "a" else [a for a in el.iter() if local_name(a) == "a"]
    return any("#" in (a.get("href") or "") for a in links)


def _is_hidden(el: etree._Element) -> bool:
    style = (el.get("style") or "").replace(" ", "").lower()
    return el.get("hidden") is not None or "display:none" in style


class Walker:
    """One pass over a document in order, cutting paragraphs at block elements and pieces at TOC targets."""

    def __init__(self, pieces: list[Piece], breaks: dict[str, TocEntry], source: str, budget: Budget,
                 images: ImageFinder | None = None) -> None:  # fmt: skip
        self.images = images
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
            tag = local_name(el)
            if not tag or tag in _SKIP_TAGS or _is_hidden(el) or _is_note_or_page_number(el, tag):
                if tag in ("img", "svg") and self.images is not None and not self.boilerplate and not _is_hidden(el):
                    self._picture(el, tag)
                self._text(el.tail)
                continue
            boilerplate = _is_boilerplate(el)
            self._start(el, tag, boilerplate)
            self._text(el.text)
            stack.append((el, tag, boilerplate))
            stack.extend((child, "", False) for child in reversed(el))
        self.flush()

    def _picture(self, el: etree._Element, tag: str) -> None:
        """An <img>, or the <image>s of an <svg> (how many books wrap their plates), noted where it stands."""
        assert self.images is not None
        in_paragraph = bool(self.lines) or bool("".join(self.line).strip())
        if tag == "img":
            self.images.image(el.get("src") or "", self.source, el.get("alt") or "", in_paragraph)
            return
        for image in el.iter():
            if local_name(image) == "image":
                href = image.get("{http://www.w3.org/1999/xlink}href") or image.get("href") or ""
                self.images.image(href, self.source, "", in_paragraph)

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
                self.piece.hint = semantic_kind(el)
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
        text = "\n".join(line for line in map(clean_paragraph, self.lines) if line)
        self.lines = []
        if not has_words(text):
            if self.images is not None:
                self.images.no_paragraph()
            return
        level = next((h for h in reversed(self.headings) if h), 0)
        self.piece.blocks.append(Block(text, level))
        if self.images is not None and not self.boilerplate:
            self.images.paragraph(text)
        self.piece.chars += len(text)
        self.budget.spend(len(text))


@dataclass
class Budget:
    """Characters left before the book is refused; checked as text is collected, so a huge book stops early."""

    name: str
    max_chars: int
    used: int = 0

    def spend(self, chars: int) -> None:
        self.used += chars
        if self.used > self.max_chars:
            raise too_long(self.name, self.used, self.max_chars)
