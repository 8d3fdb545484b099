"""Book sections, what both importers produce, and the chapter rules that make chapters of them."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from studio.book.model import Book, Chapter
from studio.book.text_rules import MAX_HEADING_CHARS, join_titles, title_key
from studio.errors import InvalidInput

BODY, FRONT, BACK, TOC, LICENSE = "body", "front", "back", "toc", "license"
_EITHER = "front-or-back"  # decided by position: before the first body chapter it is front matter

# at the start of any line: old Gutenberg EPUBs keep the whole header in one <pre>
GUTENBERG_START = re.compile(r"^(?:\*{3}|…)\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK", re.I | re.M)
GUTENBERG_END = re.compile(r"^(?:\*{3}|…)\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK", re.I | re.M)
_GUTENBERG_END_LINE = re.compile(r"^end of (?:the )?project gutenberg", re.IGNORECASE)
_GUTENBERG_HEADER_START = re.compile(r"^the project gutenberg e-?book\b", re.IGNORECASE)

_LICENSE_TITLE = re.compile(r"project gutenberg|^(?:the )?(?:full )?licen[cs]e$", re.IGNORECASE)
_TOC_TITLE = re.compile(r"^(?:table of )?contents?$|^list of (?:illustrations|figures|plates|maps|tables)$", re.I)
_BODY_TITLE = re.compile(
    r"^(?:chapter|chap|part|book|letter|volume|vol|canto|stave|act|prologue|epilogue|preface|foreword|introduction"
    r"|afterword|interlude|conclusion|postscript)\b",
    re.IGNORECASE,
)
_FRONT_TITLE = re.compile(
    r"^(?:title(?: page)?|half[- ]title|frontispiece|imprint|dedication|epigraph|cover(?: page)?|praise for\b.*"
    r"|.*\btranscriber['’]?s? notes?|note on the text)$",
    re.IGNORECASE,
)
_BACK_TITLE = re.compile(
    r"^(?:index|colophon|about the (?:authors?|publisher|illustrator)|bibliography|glossary|end ?notes|notes"
    r"|footnotes|credits|reading group guide|discussion questions|a note on the type)$",
    re.IGNORECASE,
)
_EITHER_TITLE = re.compile(
    r"^(?:copyright(?: page| notice)?|acknowledge?ments?|(?:also|other books) by\b.*|by the same author)$",
    re.IGNORECASE,
)
_FRONT_TEXT = re.compile(r"©|\bcopyright\b|\ball rights reserved\b|\bisbn\b|\bpublished by\b", re.IGNORECASE)
TITLE_PAGE_CHARS = 1000  # a title, copyright or dedication page is shorter than this
GUTENBERG_HEADER = "Project Gutenberg Header"
_MAX_JOINED_HEADINGS = 2  # 'Book One' + 'Part Two' + 'Chapter 1' is the deepest nesting that still reads well
_UNTITLED = {FRONT: "Front Matter", BACK: "Back Matter", TOC: "Contents", LICENSE: "License"}


@dataclass
class Section:
    """A stretch of the book that may become a chapter; its first `heads` paragraphs are headings (the title)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    source: str = ""
    hint: str = ""  # kind from the book's own semantics (epub:type, guide, landmarks) or boilerplate markers
    heads: int = 0  # leading paragraphs that are the printed heading, rewritten as the title
    link_share: float = 0.0  # share of the text inside links: high for a table of contents
    linear: bool = True  # EPUB spine items marked linear="no" are auxiliary (pop-up notes and the like)

    @property
    def chars(self) -> int:
        return sum(len(p) for p in self.paragraphs)

    @property
    def is_empty(self) -> bool:
        """Nothing to read beyond the heading itself."""
        return len(self.paragraphs) <= self.heads


def split_gutenberg(sections: list[Section]) -> list[Section]:
    """Cut Project Gutenberg's header (up to '*** START OF ...') and footer ('*** END OF ...') into license parts."""
    start = _find_marker(sections, GUTENBERG_START)
    if start is not None:
        i, j = start
        head = [p for s in sections[:i] for p in s.paragraphs] + sections[i].paragraphs[: j + 1]
        rest = Section(sections[i].title, sections[i].paragraphs[j + 1 :], sections[i].source, sections[i].hint)
        rest.link_share, rest.linear = sections[i].link_share, sections[i].linear
        header = Section(GUTENBERG_HEADER, head, sections[i].source, LICENSE)
        sections = [header, rest, *sections[i + 1 :]]
    end = _find_marker(sections, GUTENBERG_END)
    if end is not None:
        i, j = end
        if j > 0 and _GUTENBERG_END_LINE.match(sections[i].paragraphs[j - 1]):
            j -= 1
        tail = sections[i].paragraphs[j:] + [p for s in sections[i + 1 :] for p in s.paragraphs]
        kept = sections[i]
        kept.paragraphs = kept.paragraphs[:j]
        licence_title = next((s.title for s in sections[i:] if s.hint == LICENSE and s.title), "")
        footer = Section(licence_title or "Project Gutenberg License", tail, kept.source, LICENSE)
        sections = [*sections[:i], kept, footer]
    return sections


def _find_marker(sections: list[Section], marker: re.Pattern[str]) -> tuple[int, int] | None:
    for i, section in enumerate(sections):
        for j, paragraph in enumerate(section.paragraphs):
            if marker.search(paragraph):
                return i, j
    return None


def merge_empty(sections: list[Section]) -> list[Section]:
    """Headings with nothing under them: one or two join the next part ('Part One' + 'Chapter 1'); a longer run is
    a table of contents printed as headings; untitled parts with no text (a cover image) go."""
    out: list[Section] = []
    pending: list[Section] = []
    for section in sections:
        if section.is_empty and section.hint != LICENSE:
            if section.title:
                pending.append(section)
            continue
        if pending and section.hint != LICENSE and len(pending) <= _MAX_JOINED_HEADINGS:
            _absorb(pending, section)
        elif len(pending) > _MAX_JOINED_HEADINGS:
            out.append(_listing(pending))
        pending = []
        if section.paragraphs:
            out.append(section)
    if len(pending) > _MAX_JOINED_HEADINGS:
        out.append(_listing(pending))
    return out


def _absorb(headings: list[Section], section: Section) -> None:
    section.hint = section.hint or explicit_kind(section) or ""  # 'Edition 3.0' + 'Contents' is still a TOC
    title = ""
    for heading in headings:
        title = join_titles(title, heading.title)
    section.title = join_titles(title, section.title)
    section.paragraphs = [p for h in headings for p in h.paragraphs[: h.heads]] + section.paragraphs
    section.heads += sum(h.heads for h in headings)
    section.hint = section.hint or next((h.hint for h in headings if h.hint), "")


def _listing(headings: list[Section]) -> Section:
    return Section("Contents", [h.title for h in headings], headings[0].source, TOC)


def explicit_kind(section: Section) -> str | None:
    """The kind a title, the book's semantics or the text itself states outright; None when it takes judgement."""
    title = section.title
    if section.hint == LICENSE or _LICENSE_TITLE.search(title) or _is_gutenberg_header(section):
        return LICENSE
    if section.hint == TOC or _TOC_TITLE.match(title) or (section.link_share > 0.5 and len(section.paragraphs) > 2):
        return TOC
    for pattern, kind in ((_BODY_TITLE, BODY), (_FRONT_TITLE, FRONT), (_BACK_TITLE, BACK), (_EITHER_TITLE, _EITHER)):
        if pattern.match(title):
            return kind
    return section.hint or None


def is_chapter_title(title: str) -> bool:
    """'Chapter 3', 'Part Two', 'Letter 1', 'Prologue'...: words that open a chapter of the story."""
    return bool(_BODY_TITLE.match(title))


def _lists_titles(section: Section, titles: Counter[str]) -> bool:
    """A table of contents: most of its paragraphs are the titles of other parts of the book."""
    own = title_key(section.title)
    paragraphs = section.paragraphs[section.heads :]
    keys = (title_key(p) for p in paragraphs if len(p) <= MAX_HEADING_CHARS)
    listed = sum(1 for k in keys if k and titles[k] - (k == own) > 0)
    return listed >= 3 and 2 * listed >= len(paragraphs)


def _is_gutenberg_header(section: Section) -> bool:
    first = section.paragraphs[0] if section.paragraphs else ""
    return bool(_GUTENBERG_HEADER_START.match(first)) and section.chars < 5000


def _looks_like_title_page(section: Section, book: Book) -> bool:
    """Short material before the story: the book's title and author, a copyright notice, an untitled scrap."""
    if section.chars >= TITLE_PAGE_CHARS:
        return False
    key, book_key = title_key(section.title), title_key(book.title)
    if key and book_key and (key in book_key or book_key in key):
        return True
    text = "\n".join(section.paragraphs)
    return not section.title or bool(_FRONT_TEXT.search(text))


def finish_sections(sections: list[Section], book: Book) -> None:
    """Sections -> book.chapters: boilerplate cut, empty headings merged, untitled ones named, kinds and ticks set."""
    sections = merge_empty(split_gutenberg(sections))
    titles = Counter(title_key(s.title) for s in sections)
    seen_body = False
    body_count = 0
    # the last part that is not boilerplate is never a title page: something must follow a title page
    last = max((i for i, s in enumerate(sections) if s.hint != LICENSE), default=-1)
    chapters: list[Chapter] = []
    for i, section in enumerate(sections):
        kind = TOC if _lists_titles(section, titles) and section.hint != LICENSE else explicit_kind(section)
        if kind is None:
            kind = FRONT if not seen_body and i < last and _looks_like_title_page(section, book) else BODY
        if kind == _EITHER:
            kind = BACK if seen_body else FRONT
        seen_body = seen_body or kind == BODY
        body_count += kind == BODY
        title = section.title or (f"Chapter {body_count}" if kind == BODY else _UNTITLED[kind])
        text = "\n\n".join(section.paragraphs)
        chapters.append(Chapter(title, text, kind == BODY and section.linear, kind, section.source))
    if chapters and not any(c.included for c in chapters):
        readable = [c for c in chapters if c.kind != LICENSE]
        if not readable:
            raise InvalidInput(
                f"'{book.title}' holds only Project Gutenberg license text, no book. Download the book itself again."
            )
        for chapter in readable:
            chapter.included = True
        book.warnings.append("Studio could not tell the chapters from the front matter, so every part is ticked.")
    book.chapters = chapters
