"""Text normalization: dates, weekdays, clock times, decades and years."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from studio.text.normalize.common import CONTEXT, NEXT_CAPITALIZED, WORD_START
from studio.text.normalize.spell import cardinal, ordinal, year
from studio.text.normalize.units import UNIT_ALT

# Month names in calendar order (index + 1 is the month number), and every written form -> the spoken name.
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
MONTHS: Mapping[str, str] = MappingProxyType(
    {
        **{name: name for name in _MONTH_NAMES},
        **{name[:3]: name for name in _MONTH_NAMES if name != "May"},
        "Sept": "September",
    }
)
_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))


_WEEKDAYS: Mapping[str, str] = MappingProxyType(
    {
        "Mon": "Monday",
        "Tue": "Tuesday",
        "Tues": "Tuesday",
        "Wed": "Wednesday",
        "Thu": "Thursday",
        "Thur": "Thursday",
        "Thurs": "Thursday",
        "Fri": "Friday",
        "Sat": "Saturday",
        "Sun": "Sunday",
    }
)
_WEEKDAY_ALT = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))


def _month_day(month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{_MONTH_NAMES[month - 1]} {ordinal(day)}"


_ISO_DATE = re.compile(r"(?<![\w-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w-])")
_US_DATE = re.compile(r"(?<![\w/])(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})(?![\w/])")


def numeric_dates(text: str) -> str:
    # ISO "2024-04-03" and US "4/3/2024" both become "April third, twenty twenty-four".
    def replace(m: re.Match[str]) -> str:
        spoken = _month_day(int(m.group("m")), int(m.group("d")))
        return f"{spoken}, {year(int(m.group('y')))}" if spoken else m.group(0)

    return _US_DATE.sub(replace, _ISO_DATE.sub(replace, text))


_WEEKDAY = re.compile(rf"{WORD_START}(?P<day>{_WEEKDAY_ALT})\b\.?(?=,?\s+(?:(?:{_MONTH_ALT})\b|\d))")


def weekdays(text: str) -> str:
    # "Wed, Apr 3": only expanded right before a date, because "Sun" and "Sat" are also ordinary words.
    return _WEEKDAY.sub(lambda m: _WEEKDAYS[m.group("day")], text)


_DAY_MONTH = re.compile(
    rf"\b(?P<the>[Tt]he\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>{_MONTH_ALT})\b(?P<mdot>\.)?"
    rf"(?:(?P<sep>,\s*|\s+)(?P<year>\d{{4}})(?![\w.,]\d|\w))?"
)
_MONTH_DAY = re.compile(
    rf"\b(?P<month>{_MONTH_ALT})\b\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?![\w:.,]\w|\w)"
    rf"(?:(?P<sep>,\s*|\s+)(?P<year>\d{{4}})(?![\w.,]\d|\w))?"
)
_MONTH_YEAR = re.compile(rf"\b(?P<month>{_MONTH_ALT})\b\.?,?\s+(?P<year>\d{{4}})(?![\w.,]\d|\w)")


def _is_sentence_end(m: re.Match[str]) -> bool:
    """True if the text after the match is empty or starts a new sentence (a capitalized word)."""
    after = m.string[m.end() : m.end() + CONTEXT]
    return not after.strip() or bool(NEXT_CAPITALIZED.match(after))


def word_dates(text: str) -> str:
    # "3 Apr 2024" -> "the third of April, twenty twenty-four"; "Apr 3, 2024" -> "April third, twenty twenty-four".
    def year_part(m: re.Match[str]) -> str:
        return f", {year(int(m.group('year')))}" if m.group("year") else ""

    def day_month(m: re.Match[str]) -> str:
        day = int(m.group("day"))
        if not 1 <= day <= 31:
            return m.group(0)
        the = m.group("the") or "the "
        spoken = f"{the}{ordinal(day)} of {MONTHS[m.group('month')]}{year_part(m)}"
        # "the 1st of May." - a period after the month ends the sentence unless it marks an abbreviation ("Apr.").
        ends = m.group("mdot") and (MONTHS[m.group("month")] == m.group("month") or _is_sentence_end(m))
        return spoken + "." if ends else spoken

    def month_day(m: re.Match[str]) -> str:
        day = int(m.group("day"))
        if not 1 <= day <= 31:
            return m.group(0)
        return f"{MONTHS[m.group('month')]} {ordinal(day)}{year_part(m)}"

    text = _DAY_MONTH.sub(day_month, text)
    text = _MONTH_DAY.sub(month_day, text)
    return _MONTH_YEAR.sub(lambda m: f"{MONTHS[m.group('month')]} {year(int(m.group('year')))}", text)


_AMPM = r"(?P<ampm>[AaPp])\.?\s?[Mm](?:\.(?!\w)|\b)"
_CLOCK = re.compile(
    rf"(?<![\w:.])(?P<h>\d{{1,2}})(?P<sep>[:.])(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?:\s?{_AMPM})?"
    r"(?![\w:]|(?<=\d)\.\d)"
)
_HOUR_AMPM = re.compile(rf"(?<![\w:.])(?P<h>\d{{1,2}})\s?{_AMPM}")


def _ampm_words(m: re.Match[str]) -> str:
    # "a.m."/"p.m.": phonemizers say the letters ("ay em"), while a bare "A M" is read as the article "a".
    ampm = m.group("ampm")
    return "" if not ampm else (" a.m." if ampm.lower() == "a" else " p.m.")


def times(text: str) -> str:
    # "4:45 PM" -> "four forty-five p.m.", "9:05" -> "nine oh five", "12:00" -> "twelve o'clock".
    def clock(m: re.Match[str]) -> str:
        hour, minute = int(m.group("h")), int(m.group("m"))
        # "4.45 pm" is a British time; without a.m./p.m., "4.45" stays a decimal number.
        if hour > 24 or (m.group("sep") == "." and not m.group("ampm")):
            return m.group(0)
        ampm = _ampm_words(m)
        if minute == 0:
            spoken = cardinal(hour) + ("" if ampm else " hundred" if hour > 12 else " o'clock")
        elif minute < 10:
            spoken = f"{cardinal(hour)} oh {cardinal(minute)}"
        else:
            spoken = f"{cardinal(hour)} {cardinal(minute)}"
        if m.group("s"):
            seconds = int(m.group("s"))
            spoken += f" and {cardinal(seconds)} {'second' if seconds == 1 else 'seconds'}"
        return spoken + ampm

    def hour_only(m: re.Match[str]) -> str:
        hour = int(m.group("h"))
        return cardinal(hour) + _ampm_words(m) if 1 <= hour <= 12 else m.group(0)

    return _HOUR_AMPM.sub(hour_only, _CLOCK.sub(clock, text))


_YEAR_NUM = r"(?:1[1-9]\d\d|20\d\d)"
_DECADE = re.compile(r"(?<![\w.])(?P<decade>1[1-9]\d0|20\d0)s\b")
_SHORT_DECADE = re.compile(
    r"(?P<pre>'|\b(?:[Tt]he|[Hh]is|[Hh]er|[Tt]heir|[Mm]y|[Yy]our|[Oo]ur|[Ee]arly|[Ll]ate|[Mm]id)[\s-]+'?)"
    r"(?P<tens>[1-9]0)s\b"
)
_YEAR_RANGE = re.compile(rf"(?<![\w.,-])(?P<a>{_YEAR_NUM})\s?[-–]\s?(?P<b>{_YEAR_NUM})(?![\w-]|[.,]\d)")
_YEAR_FROM_TO = re.compile(
    rf"\b(?P<from>[Ff]rom|[Bb]etween)\s+(?P<a>{_YEAR_NUM})\s+(?P<to>to|and|until|through)\s+(?P<b>{_YEAR_NUM})\b"
    r"(?![.,]\d)"
)
_YEAR_CONTEXT = re.compile(
    r"\b(?P<prep>(?i:in|since|by|from|until|till|before|after|during|of|circa|year|around|c\.))\s+"
    rf"(?P<year>{_YEAR_NUM})(?![\w-]|[.,]\d|\s*%|\s?(?:{UNIT_ALT})(?!\w))"
)
_YEAR_PAREN = re.compile(rf"\((?P<year>{_YEAR_NUM})\)")


def _plural_word(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def decades(text: str) -> str:
    # "1990s" -> "nineteen nineties", "the '80s" -> "the eighties"; before units, where "s" means seconds.
    def long(m: re.Match[str]) -> str:
        words = year(int(m.group("decade"))).split(" ")
        return " ".join([*words[:-1], _plural_word(words[-1])])

    text = _DECADE.sub(long, text)
    return _SHORT_DECADE.sub(lambda m: m.group("pre").rstrip("'") + _plural_word(cardinal(int(m.group("tens")))), text)


def years(text: str) -> str:
    # Four-digit numbers read as years only where the context says so: "in 1999", "1999-2004", "(2005)".
    text = _YEAR_FROM_TO.sub(
        lambda m: f"{m.group('from')} {year(int(m.group('a')))} {m.group('to')} {year(int(m.group('b')))}", text
    )
    text = _YEAR_RANGE.sub(lambda m: f"{year(int(m.group('a')))} to {year(int(m.group('b')))}", text)
    text = _YEAR_CONTEXT.sub(lambda m: f"{m.group('prep')} {year(int(m.group('year')))}", text)
    return _YEAR_PAREN.sub(lambda m: f"({year(int(m.group('year')))})", text)
