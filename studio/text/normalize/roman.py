"""Text normalization: Roman numerals where a reader says them as numbers.

"Chapter III" -> "Chapter three", "PART IV." -> "PART four.", "World War II" -> "World War two", a heading line that
is only "XII." -> "twelve.", and a ruler's number after a name: "Louis XIV" -> "Louis the fourteenth". A phonemizer
left alone says "Chapter Roman three" or spells "X" as the letter. Anywhere else a capital "I", "V" or "X" is a
word or a letter ("I went", "Malcolm X", "vitamin C") and is left as written.
"""

from __future__ import annotations

import re

from studio.text.normalize.common import word_set
from studio.text.normalize.spell import cardinal, ordinal

_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
# a well-formed numeral from 1 to 3999 (no "IIII", no "VX")
_NUMERAL = r"(?=[MDCLXVI])M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"

# words after which a Roman numeral counts something: said as a cardinal ("Chapter three", "Act one")
_COUNTED = word_set(
    "chapter part book volume vol. section act scene canto letter stave appendix lecture article psalm epistle "
    "lesson episode phase round level fit tome livre war"
)
# any word, then a run of numeral letters all in one case; the word is looked up in _COUNTED afterwards (one
# case-insensitive alternation of the words scanned a book three times slower than this)
_AFTER_WORD = re.compile(r"\b(?P<word>[A-Za-z]{2,8}+\.?)(?P<gap>\s+)(?P<num>[MDCLXVI]++|[mdclxvi]++)\b(?![-'’.]\w)")
# after these a single capital is more often a letter than a number ("Appendix C", "Section V")
_LETTERED = frozenset({"appendix", "section", "article", "level", "phase"})
# a line that is only a numeral (with a full stop or colon): a section heading ("II." on its own line)
_HEADING_LINE = re.compile(rf"(?m)^(?P<lead>[ \t]*)(?P<num>{_NUMERAL})(?P<end>[.:]?)[ \t]*$")
# a name and a ruler's number of two or more letters: "Henry VIII", "Pope John Paul II" (a single "V" or "X"
# after a name is too often a letter: "Malcolm X", "Brand X")
_REGNAL = re.compile(r"\b(?P<name>[A-Z][a-z]+)(?P<gap> )(?P<num>(?=[LXVI]{2,}\b)L?X{0,3}(?:IX|IV|V?I{0,3}))\b(?!-\w)")
# capitalized words that are no ruler's name
_NOT_NAMES = word_set(
    "The A An And Or But If Then When While As At In On Of To For By With From Into Than That This These Those "
    "He She It We They You His Her Its Our Their Your My Me Him Us Them Was Were Is Are Be Been Not No Yes So "
    "Chapter Part Book Volume Section Act Scene Canto Letter Stave Appendix Lecture Article Psalm Episode Phase "
    "Round Level War Page Table Figure Plate Note Class Type Grade Stage Step Item Rule Series Mark Model Version "
    "Apollo Gemini Vostok Soyuz Pioneer Voyager Saturn Titan Super Bowl Final Fantasy Rocky Star Trek"
)


def roman_value(numeral: str) -> int:
    """The value of a well-formed Roman numeral ("XIV" -> 14); letters are read right to left."""
    total, previous = 0, 0
    for letter in reversed(numeral.upper()):
        value = _VALUES[letter]
        total = total - value if value < previous else total + value
        previous = max(previous, value)
    return total


def _is_numeral(text: str) -> bool:
    return bool(text) and re.fullmatch(_NUMERAL, text) is not None


def roman_numerals(text: str) -> str:
    def counted(m: re.Match[str]) -> str:
        word, num = m.group("word"), m.group("num")
        if word.lower() not in _COUNTED:
            return m.group(0)
        # a numeral is written in capitals ("Chapter IV", "CHAPTER IV"), or all in lowercase after a lowercase
        # word ("chapter iv"); a single letter counts only after a capitalized word, which is a heading's
        # ("Part I", not "the letter I wrote" or "the book I read"), and not where headings are lettered
        if len(num) == 1:
            ok = num in "IVX" and word[:1].isupper() and word.lower() not in _LETTERED
        else:
            ok = num.isupper() or (num.islower() and word.islower())
        if not ok or not _is_numeral(num.upper()):
            return m.group(0)
        # "PART II" -> "PART TWO": a heading in capitals stays a run of capitals, read as words (a capitalized word
        # left alone would be spelled out as an acronym: "P.A.R.T. two")
        said = cardinal(roman_value(num))
        return word + m.group("gap") + (said.upper() if word.isupper() else said)

    text = _AFTER_WORD.sub(counted, text)

    def heading(m: re.Match[str]) -> str:
        if len(m.group("num")) == 1 and m.group("num") not in "IVX":
            return m.group(0)  # "C." alone on a line is a list's letter
        return m.group("lead") + cardinal(roman_value(m.group("num"))).capitalize() + m.group("end")

    text = _HEADING_LINE.sub(heading, text)

    def regnal(m: re.Match[str]) -> str:
        if m.group("name") in _NOT_NAMES:
            return m.group(0)
        return m.group("name") + m.group("gap") + "the " + ordinal(roman_value(m.group("num")))

    return _REGNAL.sub(regnal, text)
