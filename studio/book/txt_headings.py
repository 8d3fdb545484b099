"""Plain-text books: paragraphs split and unwrapped, and the chapter headings among them."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from studio.book.text_rules import (
    MAX_HEADING_CHARS,
    ROMAN,
    WORD,
    clean_inline,
    clean_paragraph,
    has_words,
    tidy_title,
    title_key,
)

_NUMBER_WORD = (
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|eight"
    r"|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)"
)
_ROMAN_NUMBER = r"(?=[ivxlcdm])m{0,4}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})"  # strict: not 'did'
_LABELLED = re.compile(
    rf"^(?:chapter|chap\.|part|book|volume|vol\.|letter|canto|stave)\s+(?:\d{{1,4}}|{_ROMAN_NUMBER}|{_NUMBER_WORD})"
    r"(?![a-z0-9])(?:[.:—–-]?\s*(?P<rest>.{0,80}))?$",  # the number is a whole word: 'Book mild' is no heading
    re.IGNORECASE,
)
_NAMED = re.compile(
    r"^(?:prologue|epilogue|preface|foreword|introduction|afterword|interlude|conclusion)\b[.:]?(?:\s.{0,60})?$",
    re.IGNORECASE,
)
_NUMERAL = re.compile(r"^(?P<num>[IVXLCDM]{1,8}|\d{1,3})\.?$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_SENTENCE_END = frozenset(".!?…\"”’'")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_UNDERSCORE_ITALICS = re.compile(r"(?<![\w_])_(?=\S)|(?<=\S)_(?![\w_])")
_ILLUSTRATION = re.compile(r"^\[(?:illustration|picture|image)\b[^\]]*\]$", re.IGNORECASE)
_FOOTNOTE_MARK = re.compile(r"\[(?:\d{1,3}|[*†‡])\]")


@dataclass
class Heading:
    index: int  # paragraph index
    title: str
    numeral: int | None = None  # set for bare numeral headings ('IV', '12.'), which need a consistent sequence
    bare: bool = False  # a label alone ('CHAPTER IV'): its title may stand in the next paragraph


def _roman_value(text: str) -> int | None:
    if not ROMAN.fullmatch(text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN_VALUES[ch]
        following = _ROMAN_VALUES[text[i + 1]] if i + 1 < len(text) else 0
        total += -value if value < following else value
    return total


def _heading(index: int, raw: str) -> Heading | None:
    """A standalone short paragraph (one line, or a label line and a title line) that opens a chapter."""
    if len(raw) > 2 * MAX_HEADING_CHARS:
        return None
    lines = [clean_inline(x) for x in raw.split("\n") if x.strip()]
    if not lines or len(lines) > 2 or any(len(x) > MAX_HEADING_CHARS for x in lines):
        return None
    first = lines[0]
    if len(lines) == 2 and (_LABELLED.match(lines[1]) or _NAMED.match(lines[1])):
        return None  # two labels in a row are a list of contents, not a heading and its title
    labelled = _LABELLED.match(first)
    if labelled or (len(lines) == 1 and _NAMED.match(first)):
        bare = labelled is not None and not labelled.group("rest") and len(lines) == 1
        return Heading(index, tidy_title("\n".join(lines)), bare=bare)
    match = _NUMERAL.match(first)
    if match:
        num = match.group("num")
        value = int(num) if num.isdigit() else _roman_value(num)
        if value:
            return Heading(index, tidy_title("\n".join(lines)), value, bare=len(lines) == 1)
    return None


def is_subtitle(paragraph: str) -> bool:
    """'DOWN THE RABBIT-HOLE' or 'The Pool of Tears' after a bare 'CHAPTER II', not the chapter's first sentence."""
    if "\n" in paragraph.strip() or len(paragraph) > MAX_HEADING_CHARS or paragraph.rstrip()[-1:] in _SENTENCE_END:
        return False
    words = [w for w in WORD.findall(paragraph) if len(w) > 3]
    return paragraph.isupper() or (bool(words) and all(w[0].isupper() for w in words))


def _drop_contents_entries(headings: list[Heading]) -> list[Heading]:
    """Headings listed back to back in a table of contents that appear again later are not chapter starts."""
    later: dict[str, int] = {}
    for h in headings:
        later[title_key(h.title)] = later.get(title_key(h.title), 0) + 1
    kept: list[Heading] = []
    previous_dropped = -2
    for k, h in enumerate(headings):
        key = title_key(h.title)
        later[key] -= 1
        followed = k + 1 < len(headings) and headings[k + 1].index == h.index + 1
        listed = followed or previous_dropped == h.index - 1
        if later[key] > 0 and listed:
            previous_dropped = h.index
            continue
        kept.append(h)
    return kept


def _consistent_numerals(headings: list[Heading]) -> list[Heading]:
    """Bare numerals count as headings only if they run 1, 2, 3... (restarting at 1 for a new part), three or more."""
    values = [h.numeral for h in headings if h.numeral is not None]
    ok = len(values) >= 3 and values[0] == 1
    ok = ok and all(b == a + 1 or b == 1 for a, b in itertools.pairwise(values))
    return [h for h in headings if h.numeral is None or ok]


def find_headings(paragraphs: list[str]) -> list[Heading]:
    found = [h for i, p in enumerate(paragraphs) if (h := _heading(i, p)) is not None]
    return _consistent_numerals(_drop_contents_entries(found))


def join_wrapped(raw: str) -> str:
    """A hard-wrapped paragraph as one line; '_italics_' markers and '[12]' footnote marks removed."""
    parts: list[str] = []
    for line in (clean_inline(x) for x in raw.split("\n")):
        if line:
            parts.append(line if not parts or parts[-1].endswith(("—", "--")) else " " + line)
    text = _FOOTNOTE_MARK.sub("", _UNDERSCORE_ITALICS.sub("", "".join(parts)))
    return clean_paragraph(text)


def split_paragraphs(text: str) -> list[str]:
    """Raw paragraphs (lines kept) separated by blank lines; scene breaks and illustration tags dropped."""
    raws = (p.strip("\n") for p in _BLANK_LINE.split(text))
    return [p for p in raws if p.strip() and has_words(p) and not _ILLUSTRATION.match(p.strip())]


def is_heading(line: str) -> bool:
    """One line that reads as a chapter heading by itself: 'CHAPTER IV', 'Part Two: The Return', 'Prologue', 'XII'."""
    return _heading(0, line) is not None
