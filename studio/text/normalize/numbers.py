"""Text normalization: number rules (phone numbers, ordinals, fractions, ranges, symbols, plain numbers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from studio.text.normalize.common import SENTENCE_START, WORD_START
from studio.text.normalize.spell import NUM, cardinal, digits, number, ordinal

_VULGAR_FRACTIONS: Mapping[str, str] = MappingProxyType(
    {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8"}
)
_VULGAR_FRACTION = re.compile(rf"(\d)?([{''.join(_VULGAR_FRACTIONS)}])")


def vulgar_fractions(text: str) -> str:
    # "1½" becomes "1 1/2" so the fraction rule below reads it as "one and a half".
    return _VULGAR_FRACTION.sub(
        lambda m: (m.group(1) + " " if m.group(1) else "") + _VULGAR_FRACTIONS[m.group(2)], text
    )


_PHONE = re.compile(
    r"(?<![\w+$.,-])"
    r"(?:(?P<cc>\+\d{1,3})[\s.-]?)?"
    r"(?:\((?P<area>\d{3})\)\s?|(?P<area2>\d{3})[.-])?"
    r"(?P<exchange>\d{3})[.-](?P<line>\d{4})"
    r"(?:,?\s*(?:extension|ext\.?|x)\s*(?P<ext>\d{1,6}))?"
    r"(?![\w-])",
    re.IGNORECASE,
)


def phone_numbers(text: str) -> str:
    # Phone numbers are read digit by digit in groups, with a pause (comma) between groups.
    def replace(m: re.Match[str]) -> str:
        groups = []
        if m.group("cc"):
            groups.append("plus " + digits(m.group("cc")))
        area = m.group("area") or m.group("area2")
        if area:
            groups.append(digits(area))
        groups += [digits(m.group("exchange")), digits(m.group("line"))]
        if m.group("ext"):
            groups.append("extension " + digits(m.group("ext")))
        # a listener needs a beat after the last digit before the sentence goes on ("..., four zero two, anytime")
        after = m.string[m.end() : m.end() + 2].lstrip()
        pause = "," if after[:1].isalnum() else ""
        return ", ".join(groups) + pause

    return _PHONE.sub(replace, text)


_ORDINAL = re.compile(r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3}){0,4}|\d{1,15})(?i:st|nd|rd|th)\b")


def ordinals(text: str) -> str:
    # "22nd" -> "twenty-second"
    return _ORDINAL.sub(lambda m: ordinal(int(m.group("num").replace(",", ""))), text)


_NUMBER_SIGN = re.compile(r"(?<!\w)#\s?(?=\d)")
_NUMBER_ABBR = re.compile(rf"{WORD_START}(?:No|no|NO)\.\s?(?=\d)")


def number_signs(text: str) -> str:
    # "#1" and "No. 5" are read "number one", "number five".
    text = _NUMBER_SIGN.sub("number ", text)
    return _NUMBER_ABBR.sub(
        lambda m: "Number " if SENTENCE_START.search(m.string[max(0, m.start() - 8) : m.start()]) else "number ",
        text,
    )


_DIMENSIONS = re.compile(rf"(?<![\w.])(?P<a>{NUM})\s?[x×]\s?(?P<b>{NUM})(?!\w)")
_TIMES_AFTER = re.compile(rf"(?<![\w.])(?P<n>{NUM})[x×](?!\w)")
_TIMES_BEFORE = re.compile(rf"(?<![\w.])[x×](?P<n>{NUM})(?!\w)")


def multipliers(text: str) -> str:
    # "1920x1080" -> "... by ...", "2x faster" -> "two times faster", "x2" -> "times two".
    text = _DIMENSIONS.sub(lambda m: f"{number(m.group('a'))} by {number(m.group('b'))}", text)
    text = _TIMES_AFTER.sub(lambda m: f"{number(m.group('n'))} times", text)
    return _TIMES_BEFORE.sub(lambda m: f"times {number(m.group('n'))}", text)


_RANGE = re.compile(rf"(?<![\w.,/-])(?P<a>{NUM})(?:\s?–\s?|-)(?P<b>{NUM})(?![\w-]|[.,/]\d)")


def ranges(text: str) -> str:
    # "10-20" -> "ten to twenty": a hyphen between two numbers is read as a range.
    return _RANGE.sub(lambda m: f"{number(m.group('a'))} to {number(m.group('b'))}", text)


_FRACTION = re.compile(r"(?<![\w/.,])(?:(?P<whole>\d+)\s)?(?P<n>\d{1,15})/(?P<d>\d{1,15})(?![\w/]|[.,]\d)")


def _fraction_words(numerator: int, denominator: int) -> str:
    if denominator == 2:
        unit = "half" if numerator == 1 else "halves"
    elif denominator == 4:
        unit = "quarter" if numerator == 1 else "quarters"
    else:
        unit = ordinal(denominator) + ("" if numerator == 1 else "s")
    return f"{cardinal(numerator)} {unit}"


def fractions(text: str) -> str:
    # "1/2" -> "one half", "3/4" -> "three quarters", "2 1/2" -> "two and a half"; other slashes read "slash".
    def replace(m: re.Match[str]) -> str:
        numerator, denominator = int(m.group("n")), int(m.group("d"))
        whole = m.group("whole")
        idiom = (numerator, denominator) == (24, 7) or numerator == denominator
        is_fraction = not idiom and denominator > 1 and (denominator <= 10 or numerator < denominator <= 100)
        if not is_fraction:
            if (numerator, denominator) == (24, 7):
                spoken = "twenty-four seven"
            elif numerator == denominator:
                spoken = f"{cardinal(numerator)}-{cardinal(numerator)}"  # "50/50" -> "fifty-fifty"
            else:
                spoken = f"{number(m.group('n'))} slash {number(m.group('d'))}"
            return f"{number(whole)} {spoken}" if whole else spoken
        if whole:
            if numerator == 1 and denominator in (2, 4):
                return f"{number(whole)} and a {'half' if denominator == 2 else 'quarter'}"
            return f"{number(whole)} and {_fraction_words(numerator, denominator)}"
        return _fraction_words(numerator, denominator)

    return _FRACTION.sub(replace, text)


_PLUS_BETWEEN = re.compile(r"(?<=\d)\s*\+\s*(?=\d)")
_PLUS_AFTER = re.compile(r"(?<=\d)\+(?!\w)")
_PLUS_BEFORE = re.compile(r"(?<!\w)\+(?=\d)")
_EQUALS = re.compile(r"(?<=[\d\s])=(?=[\s\d])")


def math_symbols(text: str) -> str:
    # "2 + 2 = 4", "18+": symbols between numbers are read aloud; elsewhere they are left to the engine.
    text = _PLUS_BETWEEN.sub(" plus ", text)
    text = _PLUS_AFTER.sub(" plus", text)
    text = _PLUS_BEFORE.sub("plus ", text)
    return _EQUALS.sub(" equals ", text)


_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_NUMBER = re.compile(r"(?<![\w.])(?P<neg>-(?=\.?\d))?(?P<num>\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)*|\d+(?:\.\d+)*|\.\d+)")


def numbers(text: str) -> str:
    # Whatever digits are left: "MP3" -> "MP three", "-4" -> "minus four", "3.14" -> "three point one four".
    text = _LETTER_DIGIT.sub(" ", text)

    def replace(m: re.Match[str]) -> str:
        return ("minus " if m.group("neg") else "") + number(m.group("num"))

    return _NUMBER.sub(replace, text)
