"""PDF page text made into book text: running headers and footers and page numbers removed, words hyphenated at
line ends joined, lines joined into paragraphs, and heading lines kept apart."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from studio.book.text_rules import MAX_HEADING_CHARS, clean_paragraph, has_words
from studio.book.txt_headings import is_heading, is_subtitle

EDGE_LINES = 2  # running headers and footers sit in the first or last two lines of a page
_EDGE_NUMBER = re.compile(r"(?:^\d{1,4}\b|\b\d{1,4}$|^[ivxlcdm]{1,7}\b|\b[ivxlcdm]{1,7}$)")
_WIDE_NUMBER = re.compile(r"^\d{1,4}\s{2,}|\s{2,}\d{1,4}$")
_PAGE_OF = re.compile(r"^[-–—\s]*page\s+\d{1,5}(?:\s*(?:of|/)\s*\d{1,5})?[-–—\s]*$", re.IGNORECASE)
_BARE_ARABIC = re.compile(r"^[-–—\s]*(\d{1,5})(?:\s*(?:of|/)\s*\d{1,5})?[-–—\s]*$")
_BARE_ROMAN = re.compile(r"^[-–—\s]*[ivxlcdm]{1,7}[-–—\s]*$")  # lowercase: front-matter page numbers, not 'IV'
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_HYPHENS = ("-", "\u00ad", "\u2010")
_LAST_WORD = re.compile(r"([^\W\d_]+)[-\u00ad\u2010]$")
_WORD_TAIL = 80  # no word is longer: the last word of a paragraph is found in its last characters
_FIRST_WORD = re.compile(r"^([^\W\d_]+)")
_PARAGRAPH_END = tuple(".!?:;\"”’')]…")
_SHORT = 0.75  # a line shorter than this share of the usual line length ends its paragraph (with a full stop)


def _edge_key(line: str) -> str:
    """A header or footer line compared across pages: the page number at either end does not count. A line that
    reads as a chapter heading keeps its own number ('Chapter 2' at the top of a page is no repeat of 'Chapter 1');
    only a page number set apart by wide space goes ('CHAPTER I      13')."""
    wide = _WIDE_NUMBER.sub("#", line.strip().lower())
    if is_heading(wide.strip("# ")):
        return " ".join(wide.split())
    return _EDGE_NUMBER.sub("#", " ".join(line.lower().split()))


def _running_keys(pages: list[list[str]], edge: slice) -> dict[str, int]:
    """Lines at the same edge of pages close together (next page, or the one after for left/right headers), and
    the first page each is on."""
    where: dict[str, list[int]] = {}
    for number, lines in enumerate(pages):
        body = [x for x in lines if x.strip()]
        for key in dict.fromkeys(_edge_key(line) for line in body[edge]):
            where.setdefault(key, []).append(number)
    return {key: seen[0] for key, seen in where.items() if any(b - a <= 2 for a, b in itertools.pairwise(seen))}


def _page_number_offset(pages: list[list[str]]) -> int | None:
    """Printed page number minus page index, as most pages with a bare number at an edge agree."""
    offsets: Counter[int] = Counter()
    for index, lines in enumerate(pages):
        body = [x for x in lines if x.strip()]
        for line in body[:EDGE_LINES] + body[-EDGE_LINES:]:
            match = _BARE_ARABIC.match(line)
            if match:
                offsets[int(match.group(1)) - index] += 1
    return offsets.most_common(1)[0][0] if offsets else None


def strip_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Every page's lines without running headers and footers (repeated on nearby pages, whatever the page number)
    and page numbers ('12', 'xii', 'Page 3 of 10'); blank lines inside the page stay (they end paragraphs)."""
    top, bottom = _running_keys(pages, slice(0, EDGE_LINES)), _running_keys(pages, slice(-EDGE_LINES, None))
    offset = _page_number_offset(pages)
    out = []
    for index, lines in enumerate(pages):
        text_lines = [k for k, x in enumerate(lines) if x.strip()]
        edge_top, edge_bottom = set(text_lines[:EDGE_LINES]), set(text_lines[-EDGE_LINES:])
        keep = []
        removed: set[str] = set()
        for k, line in enumerate(lines):
            at_top, at_bottom = k in edge_top, k in edge_bottom
            key = _edge_key(line)
            first = top.get(key) if at_top else bottom.get(key) if at_bottom else None
            # the same words twice at a page's top are the running header and then the chapter's own heading
            if first is not None and key not in removed:
                removed.add(key)
                continue
            if (at_top or at_bottom) and _is_page_number(line, index, offset):
                continue
            keep.append(line.rstrip())
        while keep and not keep[-1].strip():
            keep.pop()
        while keep and not keep[0].strip():
            keep.pop(0)
        out.append(keep)
    return out


def _is_page_number(line: str, index: int, offset: int | None) -> bool:
    if _PAGE_OF.match(line) or _BARE_ROMAN.match(line):
        return True
    match = _BARE_ARABIC.match(line)
    return match is not None and (offset is None or int(match.group(1)) - index == offset)


def _lead(line: str) -> int:
    return len(line) - len(line.lstrip())


def undouble(lines: list[str]) -> list[str]:
    """A page whose lines are mostly one blank line apart (wide line spacing, as pypdf's layout extraction shows it)
    loses those single blank lines: there only a wider gap (two or more) separates paragraphs."""
    text = [k for k, x in enumerate(lines) if x.strip()]
    single = sum(1 for a, b in itertools.pairwise(text) if b - a == 2)
    if len(text) < 4 or 2 * single < len(text) - 1:
        return lines
    out: list[str] = []
    for k, line in enumerate(lines):
        alone = k + 1 < len(lines) and bool(lines[k + 1].strip()) and (k == 0 or bool(lines[k - 1].strip()))
        if line.strip() or not alone:
            out.append(line)
    return out


@dataclass
class Paragraph:
    text: str
    page: int
    page_top: bool = False  # the first text on its page
    heading: bool = False


@dataclass
class Layout:
    """What the whole document says about its lines: their usual length and the words it spells."""

    width: float = 60.0
    words: set[str] = field(default_factory=set)
    hyphenated: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, pages: list[list[str]]) -> Layout:
        lengths = sorted(len(x.strip()) for lines in pages for x in lines if len(x.strip()) > 20)
        width = float(lengths[int(0.75 * (len(lengths) - 1))]) if lengths else 60.0
        words: set[str] = set()
        hyphenated: set[str] = set()
        broken = False  # the line before ended in a hyphen: this line's first word is the end of a word
        for lines in pages:
            for line in lines:
                found = _WORDS.findall(line)
                ends_broken = line.rstrip().endswith(_HYPHENS)
                for k, word in enumerate(found):
                    if (k == 0 and broken) or (k == len(found) - 1 and ends_broken):
                        continue  # halves of a word broken at the line end are not words
                    (hyphenated if "-" in word else words).add(word.lower())
                broken = ends_broken if line.strip() else broken
        return cls(width, words, hyphenated)

    def join(self, before: str, after: str) -> str:
        """Two lines of one paragraph: 'won-' + 'derful' is 'wonderful' (or whatever word the document spells
        whole elsewhere); 'well-' + 'known' stays 'well-known' when the document spells it so, when both halves are
        words of their own and the whole is not, or when the next part is capitalized ('Anglo-' + 'Saxon')."""
        last, first = _LAST_WORD.search(before[-_WORD_TAIL:]), _FIRST_WORD.match(after)  # a paragraph grows long
        if before.endswith(_HYPHENS) and last and first:
            a, b = last.group(1), first.group(1)
            joined = (a + b).lower()
            compound = f"{a}-{b}".lower() in self.hyphenated or b[0].isupper()
            compound = compound or (a.lower() in self.words and b.lower() in self.words)  # 'daisy-' + 'chain'
            if compound and joined not in self.words:
                return before[:-1] + "-" + after
            return before[:-1] + after
        if before.endswith(("—", "–", "/")):
            return before + after
        return f"{before} {after}"

    def _margin(self, lines: list[str]) -> int:
        """The page's left margin in spaces: where most of its full lines start."""
        full = Counter(_lead(x) for x in lines if x.strip() and not self.short(x.strip()))
        return full.most_common(1)[0][0] if full else 0

    def short(self, line: str) -> bool:
        return len(line) < _SHORT * self.width

    def paragraphs(self, pages: list[list[str]], first_page: int = 0) -> list[Paragraph]:
        """Lines to paragraphs: a blank or indented line, or a short line ending a sentence, ends a paragraph;
        a heading line ('CHAPTER I.', and a title after it) is a paragraph of its own. Paragraphs run on across
        page breaks."""
        out: list[Paragraph] = []
        current: Paragraph | None = None
        after_heading = False

        def end() -> None:
            nonlocal current
            if current is not None:
                current.text = clean_paragraph(current.text)
                if has_words(current.text):
                    out.append(current)
            current = None

        for offset, raw_lines in enumerate(pages):
            page = first_page + offset
            lines = undouble(raw_lines)
            margin = self._margin(lines)
            previous_lead: int | None = None
            for position, raw in enumerate(lines):
                line = raw.strip()
                if not line:
                    end()
                    continue
                top = position == 0
                lead = _lead(raw)
                # a first line set in; or set out, where a run of lines set out begins (a hanging indent)
                indented = lead >= margin + 2 or (lead <= margin - 2 and lead != previous_lead)
                previous_lead = lead
                heading_like = len(line) <= MAX_HEADING_CHARS and (self.short(line) or top)
                headed = is_heading(line) or (after_heading and is_subtitle(line))
                headed = headed or (top and self.short(line) and is_subtitle(line))  # a title alone at a page top
                if heading_like and (current is None or top) and headed:
                    end()
                    out.append(Paragraph(line, page, top, heading=True))
                    after_heading = True
                    continue
                after_heading = False
                if current is not None and indented:
                    end()  # an indented first line
                if current is None:
                    current = Paragraph(line, page, top)
                else:
                    current.text = self.join(current.text, line)
                if self.short(line) and line.endswith(_PARAGRAPH_END):
                    end()
        end()
        return out
