"""Plain-text books (encoding, Gutenberg boilerplate, chapter headings) and the chapter rules EPUB import shares."""

from __future__ import annotations

import codecs
import itertools
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePath

from studio.book.model import Book, Chapter
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

BODY, FRONT, BACK, TOC, LICENSE = "body", "front", "back", "toc", "license"
_EITHER = "front-or-back"  # decided by position: before the first body chapter it is front matter

# --- shared text rules -------------------------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))  # soft hyphen, zero-width marks
_ROMAN = re.compile(r"M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_SMALL_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of", "on", "or", "the", "to"]
)
_NOT_ALNUM = re.compile(r"[\W_]+")
_ALNUM = re.compile(r"[^\W_]")
_STAR_RUN = re.compile(r"\*(?:[ \t]*\*)+")
_STARS = re.compile(r"\*+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
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


def clean_inline(text: str) -> str:
    """One line of prose: invisible characters removed, every whitespace run (tabs, no-break spaces) one space."""
    return " ".join(text.translate(_INVISIBLE).split())


def title_key(text: str) -> str:
    """Letters and digits only, case-folded: 'CHAPTER I.\\nDown the Rabbit-Hole' equals 'Chapter I. Down the...'."""
    return _NOT_ALNUM.sub("", text.casefold())


def clean_paragraph(text: str) -> str:
    """Asterisks read as 'asterisk': '* * *' elisions become an ellipsis, footnote stars ('alien.*', '*See...') go."""
    return clean_inline(_STARS.sub("", _STAR_RUN.sub(" … ", text)))


def has_words(paragraph: str) -> bool:
    """False for scene breaks and rules ('* * *', '———'): nothing a narrator would read."""
    return _ALNUM.search(paragraph) is not None


def join_lines(lines: list[str]) -> str:
    """Heading lines as one title: 'CHAPTER I' + 'Down the Rabbit-Hole' -> 'CHAPTER I. Down the Rabbit-Hole'."""
    out = ""
    for line in (clean_inline(x) for x in lines):
        if not line:
            continue
        if not out:
            out = line
        elif out[-1] in ".:;,!?—-–(":
            out = f"{out} {line}"
        else:
            out = f"{out}. {line}"
    return out


def tidy_title(raw: str) -> str:
    """A printable chapter title: one line, no trailing full stop or colon, and shouting made calm where it is."""
    title = join_lines(raw.splitlines()).strip()
    if title.endswith((".", ":")) and not title.endswith("..."):
        title = title[:-1].rstrip()
    words = [w for w in _WORD.findall(title) if len(w) > 1]
    shouted = [w for w in words if w.isupper() and not _ROMAN.fullmatch(w)]
    if words and len(shouted) * 2 >= len(words):
        return _recase_all(title)
    first = words[0] if words else ""
    if first in shouted and title.startswith(first):
        return first.capitalize() + title[len(first) :]
    return title


def _recase_all(title: str) -> str:
    """'THE FULL PROJECT GUTENBERG LICENSE' -> 'The Full Project Gutenberg License'; Roman numerals stay."""
    out: list[str] = []
    last = 0
    for match in _WORD.finditer(title):
        word = match.group(0)
        before = title[last : match.start()]
        out.append(before)
        last = match.end()
        if not word.isupper() or (len(word) > 1 and _ROMAN.fullmatch(word)):
            out.append(word)
            continue
        lower = word.lower()
        after_break = not "".join(out).strip() or before.strip()[-1:] in (":", ";", ",", ".", "(", "—", "-")
        out.append(lower if lower in _SMALL_WORDS and not after_break else word.capitalize())
    out.append(title[last:])
    return "".join(out)


def join_titles(first: str, second: str) -> str:
    """Two headings that belong together ('Part One' + 'Chapter 1'; 'Frankenstein;' + 'or, the Modern Prometheus')."""
    if not first:
        return second
    if not second:
        return first
    return f"{first} {second}" if first[-1] in ";:,—-–" else f"{first}: {second}"


# --- sections: what both importers produce before the chapter rules run ------------------------------------------


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
    keys = (title_key(p) for p in paragraphs if len(p) <= _MAX_HEADING_CHARS)
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


# --- plain text files --------------------------------------------------------------------------------------------

_BINARY_MAGIC = (
    (b"%PDF", "a PDF document; export the text as .txt or the book as EPUB"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{\\rtf", "an RTF document; save it as plain text (.txt)"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document; save it as plain text (.txt)"),
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.01  # real text has practically none; binary decoded as Windows-1252 has plenty
_SNIFF_BYTES = 1 << 16


@dataclass
class Decoded:
    """Text from bytes, the encoding that produced it and a note for the user when it was a guess."""

    text: str
    encoding: str
    warning: str = ""


def _not_text(name: str, what: str) -> InvalidInput:
    return InvalidInput(
        f"'{name}' is not a text file (it is {what}). Choose a .txt file saved as plain text, or an .epub."
    )


def _sniff_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte order mark: mostly-ASCII text has a NUL in every other byte."""
    sample = data[: _SNIFF_BYTES - _SNIFF_BYTES % 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.3 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


def _bom_codec(data: bytes) -> tuple[str, int] | None:
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return codec, len(bom)
    return None


def decode_text(data: bytes, name: str) -> Decoded:
    """Detect the encoding (BOM, UTF-16 by NUL pattern, UTF-8, then Windows-1252/Latin-1) or reject binary data."""
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            raise _not_text(name, what)
    if data[60:68] == b"BOOKMOBI":
        raise _not_text(name, "a Kindle (MOBI/AZW) book; convert it to EPUB without DRM")
    bom = _bom_codec(data)
    codec = bom[0] if bom else _sniff_utf16(data)
    if codec is not None:
        try:
            decoded = Decoded(data[bom[1] if bom else 0 :].decode(codec), codec)
        except UnicodeDecodeError as exc:
            raise _not_text(name, f"binary data that is not valid {codec.upper()}") from exc
    elif b"\x00" in data:
        raise _not_text(name, "binary data: it contains NUL bytes")
    else:
        decoded = _decode_8bit(data, name)
    _reject_control_chars(decoded.text, name)
    return decoded


def _decode_8bit(data: bytes, name: str) -> Decoded:
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text, codec = data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:  # five byte values have no Windows-1252 character; Latin-1 maps every byte
        text, codec = data.decode("latin-1"), "Latin-1"
    warning = (
        f"'{name}' is not UTF-8; it was read as {codec} (Western European). If letters look wrong, "
        "save the file as UTF-8 and import it again."
    )
    log.info("%s decoded as %s", name, codec)
    return Decoded(text, codec, warning)


def _reject_control_chars(text: str, name: str) -> None:
    sample = text[: 4 * _SNIFF_BYTES]
    controls = len(_CONTROL.findall(sample))
    if sample and controls > _MAX_CONTROL_SHARE * len(sample):
        raise _not_text(name, f"binary data: {controls} control characters in its first {len(sample)} characters")


def too_long(name: str, chars: int, max_chars: int) -> InvalidInput:
    return InvalidInput(
        f"'{name}' has {chars:,} characters or more; Studio imports books of up to {max_chars:,} characters. "
        "Split the book into parts and import them one by one."
    )


# --- chapter headings in plain text ------------------------------------------------------------------------------

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
_MAX_HEADING_CHARS = 100
_SENTENCE_END = frozenset(".!?…\"”’'")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_UNDERSCORE_ITALICS = re.compile(r"(?<![\w_])_(?=\S)|(?<=\S)_(?![\w_])")
_ILLUSTRATION = re.compile(r"^\[(?:illustration|picture|image)\b[^\]]*\]$", re.IGNORECASE)
_FOOTNOTE_MARK = re.compile(r"\[(?:\d{1,3}|[*†‡])\]")


@dataclass
class _Heading:
    index: int  # paragraph index
    title: str
    numeral: int | None = None  # set for bare numeral headings ('IV', '12.'), which need a consistent sequence
    bare: bool = False  # a label alone ('CHAPTER IV'): its title may stand in the next paragraph


def _roman_value(text: str) -> int | None:
    if not _ROMAN.fullmatch(text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN_VALUES[ch]
        following = _ROMAN_VALUES[text[i + 1]] if i + 1 < len(text) else 0
        total += -value if value < following else value
    return total


def _heading(index: int, raw: str) -> _Heading | None:
    """A standalone short paragraph (one line, or a label line and a title line) that opens a chapter."""
    if len(raw) > 2 * _MAX_HEADING_CHARS:
        return None
    lines = [clean_inline(x) for x in raw.split("\n") if x.strip()]
    if not lines or len(lines) > 2 or any(len(x) > _MAX_HEADING_CHARS for x in lines):
        return None
    first = lines[0]
    if len(lines) == 2 and (_LABELLED.match(lines[1]) or _NAMED.match(lines[1])):
        return None  # two labels in a row are a list of contents, not a heading and its title
    labelled = _LABELLED.match(first)
    if labelled or (len(lines) == 1 and _NAMED.match(first)):
        bare = labelled is not None and not labelled.group("rest") and len(lines) == 1
        return _Heading(index, tidy_title("\n".join(lines)), bare=bare)
    match = _NUMERAL.match(first)
    if match:
        num = match.group("num")
        value = int(num) if num.isdigit() else _roman_value(num)
        if value:
            return _Heading(index, tidy_title("\n".join(lines)), value, bare=len(lines) == 1)
    return None


def _is_subtitle(paragraph: str) -> bool:
    """'DOWN THE RABBIT-HOLE' or 'The Pool of Tears' after a bare 'CHAPTER II', not the chapter's first sentence."""
    if "\n" in paragraph.strip() or len(paragraph) > _MAX_HEADING_CHARS or paragraph.rstrip()[-1:] in _SENTENCE_END:
        return False
    words = [w for w in _WORD.findall(paragraph) if len(w) > 3]
    return paragraph.isupper() or (bool(words) and all(w[0].isupper() for w in words))


def _drop_contents_entries(headings: list[_Heading]) -> list[_Heading]:
    """Headings listed back to back in a table of contents that appear again later are not chapter starts."""
    later: dict[str, int] = {}
    for h in headings:
        later[title_key(h.title)] = later.get(title_key(h.title), 0) + 1
    kept: list[_Heading] = []
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


def _consistent_numerals(headings: list[_Heading]) -> list[_Heading]:
    """Bare numerals count as headings only if they run 1, 2, 3... (restarting at 1 for a new part), three or more."""
    values = [h.numeral for h in headings if h.numeral is not None]
    ok = len(values) >= 3 and values[0] == 1
    ok = ok and all(b == a + 1 or b == 1 for a, b in itertools.pairwise(values))
    return [h for h in headings if h.numeral is None or ok]


def find_headings(paragraphs: list[str]) -> list[_Heading]:
    found = [h for i, p in enumerate(paragraphs) if (h := _heading(i, p)) is not None]
    return _consistent_numerals(_drop_contents_entries(found))


def _join_wrapped(raw: str) -> str:
    """A hard-wrapped paragraph as one line; '_italics_' markers and '[12]' footnote marks removed."""
    parts: list[str] = []
    for line in (clean_inline(x) for x in raw.split("\n")):
        if line:
            parts.append(line if not parts or parts[-1].endswith(("—", "--")) else " " + line)
    text = _FOOTNOTE_MARK.sub("", _UNDERSCORE_ITALICS.sub("", "".join(parts)))
    return clean_paragraph(text)


def _paragraphs(text: str) -> list[str]:
    """Raw paragraphs (lines kept) separated by blank lines; scene breaks and illustration tags dropped."""
    raws = (p.strip("\n") for p in _BLANK_LINE.split(text))
    return [p for p in raws if p.strip() and has_words(p) and not _ILLUSTRATION.match(p.strip())]


# --- Gutenberg metadata --------------------------------------------------------------------------------------------

_FIELD = re.compile(r"^(title|author|language)\s*:\s*(.*)$", re.IGNORECASE)
LANGUAGE_CODES = {
    "english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "finnish": "fi", "swedish": "sv", "danish": "da", "norwegian": "no", "polish": "pl",
    "russian": "ru", "chinese": "zh", "japanese": "ja", "korean": "ko", "latin": "la", "greek": "el",
    "hungarian": "hu", "czech": "cs", "catalan": "ca", "esperanto": "eo", "tagalog": "tl", "hindi": "hi",
}  # fmt: skip


def gutenberg_fields(lines: list[str]) -> dict[str, str]:
    """'Title: ...', 'Author: ...', 'Language: ...' from a Gutenberg header; indented lines continue a field."""
    fields: dict[str, str] = {}
    current = ""
    for line in lines:
        match = _FIELD.match(line.strip())
        if match:
            current = match.group(1).lower()
            fields.setdefault(current, clean_inline(match.group(2)))
        elif current and line[:1].isspace() and line.strip() and current in fields:
            fields[current] = clean_inline(f"{fields[current]} {line}")
        else:
            current = ""
    return fields


def _apply_gutenberg_fields(book: Book, header: list[str]) -> None:
    fields = gutenberg_fields([line for p in header for line in p.split("\n")])
    book.title = fields.get("title") or book.title
    book.author = fields.get("author") or book.author
    language = fields.get("language", "").lower()
    book.language = LANGUAGE_CODES.get(language.split(",")[0].strip(), book.language)


# --- the plain-text importer ---------------------------------------------------------------------------------------


def title_from_name(name: str) -> str:
    stem = PurePath(name).stem.replace("_", " ").strip()
    return clean_inline(stem) or "Untitled"


def load_txt(data: bytes, name: str, max_chars: int = 20_000_000) -> Book:
    """A Book from a plain-text file: one chapter per detected heading, or one chapter named after the file."""
    if not data:
        raise InvalidInput(f"'{name}' is empty (0 bytes). Choose the book file again.")
    if len(data) > 4 * max_chars + 4:  # no encoding spends more than 4 bytes on a character
        raise too_long(name, len(data) // 4, max_chars)
    decoded = decode_text(data, name)
    if len(decoded.text) > max_chars:
        raise too_long(name, len(decoded.text), max_chars)
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").rstrip("\x1a")
    if not text.strip():
        raise InvalidInput(f"'{name}' contains no text (only whitespace). Choose the file that holds the book.")
    book = Book(title=title_from_name(name))
    if decoded.warning:
        book.warnings.append(decoded.warning)
    paragraphs = _paragraphs(text)
    if not paragraphs:
        raise InvalidInput(f"'{name}' contains no words to read. Choose the file that holds the book.")
    sections = split_gutenberg([Section("", paragraphs, "txt")])
    header = [p for s in sections if s.hint == LICENSE and s.title == GUTENBERG_HEADER for p in s.paragraphs]
    _apply_gutenberg_fields(book, header)
    out: list[Section] = []
    for section in sections:
        if section.hint == LICENSE:
            section.paragraphs = [_join_wrapped(p) for p in section.paragraphs]
            out.append(section)
        else:
            out.extend(_chapters(section.paragraphs, book))
    finish_sections(out, book)
    log.info("%s: %d chapters, %d characters, %s", name, len(book.chapters), book.chars, decoded.encoding)
    return book


def _chapters(paragraphs: list[str], book: Book) -> list[Section]:
    headings = find_headings(paragraphs)
    if not headings:
        return [Section(book.title, [_join_wrapped(p) for p in paragraphs], "txt")]
    sections: list[Section] = []
    if headings[0].index > 0:
        sections.append(Section(book.title, [_join_wrapped(p) for p in paragraphs[: headings[0].index]], "txt"))
    bounds = [h.index for h in headings[1:]] + [len(paragraphs)]
    for heading, end in zip(headings, bounds, strict=True):
        first = heading.index + 1
        title = heading.title
        if heading.bare and first < end and _is_subtitle(paragraphs[first]):
            title = tidy_title(f"{paragraphs[heading.index].strip()}\n{paragraphs[first].strip()}")
            first += 1
        body = [_join_wrapped(p) for p in paragraphs[first:end]]
        sections.append(Section(title, [title, *body], "txt", heads=1))
    return sections
