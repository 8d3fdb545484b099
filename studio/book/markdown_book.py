"""Markdown books (.md, .markdown) read with markdown-it-py: headings open chapters, the spoken text loses its
markup (emphasis, links, code marks), front matter and images' alt text are not read."""

from __future__ import annotations

import logging
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from studio.book.headed import Block, block, headed_sections
from studio.book.model import Book
from studio.book.sections import finish_sections
from studio.book.txt import title_from_name, too_long
from studio.book.txt_decode import decode_text
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?---[ \t]*\n(?P<yaml>.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_YAML_FIELD = re.compile(r"^(title|author|language|lang)\s*:\s*['\"]?(.*?)['\"]?\s*$", re.IGNORECASE | re.MULTILINE)
_SKIPPED_BLOCKS = frozenset({"fence", "code_block", "html_block", "hr"})


def _front_matter(text: str) -> tuple[str, dict[str, str]]:
    """The text without its YAML front matter, and the title/author/language the front matter states."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return text, {}
    fields: dict[str, str] = {}
    for key, value in _YAML_FIELD.findall(match.group("yaml")):
        fields.setdefault("language" if key.lower() == "lang" else key.lower(), value.strip())
    return text[match.end() :], fields


def _inline_text(token: Token) -> str:
    """The words of an inline token: markup marks dropped, code kept as words, images and raw HTML not read."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _blocks(tokens: list[Token]) -> list[Block]:
    """Paragraphs and headings in reading order; a table row is one line, its cells joined with commas."""
    out: list[Block] = []
    level = 0
    row: list[str] | None = None
    for token in tokens:
        if token.type == "heading_open":
            level = int(token.tag[1:])
        elif token.type == "heading_close":
            level = 0
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            found = block(", ".join(c for c in row if c))
            out.extend([found] if found else [])
            row = None
        elif token.type == "inline" and row is not None:
            row.append(_inline_text(token).strip())
        elif token.type == "inline":
            found = block(_inline_text(token), level)
            out.extend([found] if found else [])
    return out


def load_markdown(data: bytes, name: str, max_chars: int = 20_000_000) -> Book:
    """A Book from a Markdown file: '#' or '##' headings (the level that splits the book) open chapters."""
    decoded = decode_text(data, name)
    if len(decoded.text) > max_chars:
        raise too_long(name, len(decoded.text), max_chars)
    text, fields = _front_matter(decoded.text.replace("\r\n", "\n").replace("\r", "\n"))
    parser = MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(text)
    blocks = _blocks([t for t in tokens if t.type not in _SKIPPED_BLOCKS])
    if not blocks:
        raise InvalidInput(f"'{name}' contains no text to read (only markup, code or images). Choose the file that "
                           "holds the book.")  # fmt: skip
    book = Book(title=fields.get("title") or title_from_name(name), author=fields.get("author", ""))
    book.language = fields.get("language") or book.language
    if decoded.warning:
        book.warnings.append(decoded.warning)
    sections, found_title = headed_sections(blocks, book.title, "markdown")
    if found_title and not fields.get("title"):
        book.title = found_title
    finish_sections(sections, book)
    log.info("%s: %d chapters, %d characters", name, len(book.chapters), book.chars)
    return book
