"""Book text rules both importers share: lines and paragraphs cleaned, titles tidied and compared."""

from __future__ import annotations

import re

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))  # soft hyphen, zero-width marks
ROMAN = re.compile(r"M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_SMALL_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of", "on", "or", "the", "to"]
)
_NOT_ALNUM = re.compile(r"[\W_]+")
_ALNUM = re.compile(r"[^\W_]")
_STAR_RUN = re.compile(r"\*(?:[ \t]*\*)+")
_STARS = re.compile(r"\*+")
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
MAX_HEADING_CHARS = 100


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
    words = [w for w in WORD.findall(title) if len(w) > 1]
    shouted = [w for w in words if w.isupper() and not ROMAN.fullmatch(w)]
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
    for match in WORD.finditer(title):
        word = match.group(0)
        before = title[last : match.start()]
        out.append(before)
        last = match.end()
        if not word.isupper() or (len(word) > 1 and ROMAN.fullmatch(word)):
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
