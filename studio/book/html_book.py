"""HTML books (.html, .htm) read with lxml.html (no network, no DTDs): headings open chapters, scripts, styles and
navigation are not read, <title> names the book."""

from __future__ import annotations

import logging

import lxml.html
from lxml import etree

from studio.book.headed import Block, block, headed_sections
from studio.book.model import Book
from studio.book.safety import reject_external_entities
from studio.book.sections import finish_sections
from studio.book.text_rules import clean_inline
from studio.book.txt import title_from_name, too_long
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

_DROPPED = frozenset({"script", "style", "nav", "noscript", "template", "head", "svg", "math", "iframe", "object",
                      "form", "button", "select", "textarea", "canvas", "audio", "video"})  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "section", "article", "main",
                     "body", "html", "table", "thead", "tbody", "tr", "td", "th", "pre", "figure", "figcaption",
                     "header", "footer", "address", "aside", "hr", "caption", "center"})  # fmt: skip
HTML_CHAPTER_LEVEL = 2  # h1 and h2 open chapters; h3 and below are read as paragraphs


class _Walker:
    """Collects the text of block elements as paragraphs and headings, in document order."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.buffer: list[str] = []

    def flush(self, level: int = 0) -> None:
        found = block(clean_inline(" ".join(self.buffer)), level)
        self.buffer = []
        if found:
            self.blocks.append(found)

    def walk(self, el: etree._Element) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if not tag or tag in _DROPPED:
            return
        level = _HEADINGS.get(tag, 0)
        boundary = level or tag in _BLOCKS or tag == "br"
        if boundary:
            self.flush()
        if tag == "img":
            return  # alt text describes a picture; it is not the book's text
        self.buffer.append(el.text or "")
        for child in el:
            self.walk(child)
            self.buffer.append(child.tail or "")
        if boundary:
            self.flush(level)


def _parse(data: bytes, name: str) -> etree._Element:
    reject_external_entities(data, name)
    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None  # lxml reads the <meta charset> itself
    try:
        root = lxml.html.document_fromstring(text if text is not None else data, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        if text is None:
            raise InvalidInput(f"'{name}' cannot be read as HTML ({exc}). Save the page again.") from exc
        root = lxml.html.document_fromstring(data, parser=parser)  # a str with an encoding declaration
    return root


def load_html(data: bytes, name: str, max_chars: int = 20_000_000) -> Book:
    """A Book from an HTML file: h1/h2 headings (the level that splits the book) open chapters."""
    if len(data) > 8 * max_chars + 4:  # markup included; the text itself is checked below
        raise too_long(name, len(data) // 8, max_chars)
    root = _parse(data, name)
    title = clean_inline(" ".join(root.xpath("//title//text()")))
    author = next((clean_inline(m.get("content") or "") for m in root.iter("meta")
                   if (m.get("name") or "").lower() in ("author", "dc.creator")), "")  # fmt: skip
    book = Book(title=title or title_from_name(name), author=author)
    book.language = (root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or "en").strip()
    walker = _Walker()
    body = root.find("body")
    walker.walk(body if body is not None else root)
    walker.flush()
    if sum(len(b.text) for b in walker.blocks) > max_chars:
        raise too_long(name, sum(len(b.text) for b in walker.blocks), max_chars)
    if not walker.blocks:
        raise InvalidInput(f"'{name}' contains no text to read (only markup, scripts or images). Choose the page "
                           "that holds the book.")  # fmt: skip
    sections, found_title = headed_sections(walker.blocks, book.title, "html", HTML_CHAPTER_LEVEL)
    if found_title and not title:
        book.title = found_title
    finish_sections(sections, book)
    log.info("%s: %d chapters, %d characters", name, len(book.chapters), book.chars)
    return book
