"""Text normalization: turn written numbers, money, dates, units and abbreviations into the words a TTS says."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from num2words import CONVERTER_CLASSES, num2words

__all__ = ["normalize_text", "words_for_wer"]

logger = logging.getLogger(__name__)

Rule = Callable[[str], str]


def _words(text: str) -> frozenset[str]:
    """A set from one space-separated string, so long word tables stay readable."""
    return frozenset(text.split())


# ---------------------------------------------------------------------------------------------------------------------
# Number words (English). num2words does the spelling; we only trim it to the American form listeners expect.
# ---------------------------------------------------------------------------------------------------------------------

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_AND = re.compile(r"\band\b")


def _american(words: str) -> str:
    """Drop num2words' British "and" and its commas ("one hundred and five" -> "one hundred five")."""
    words = _AND.sub(" ", words.replace(",", ""))
    # num2words writes years like 1905 as "nineteen oh-five"; the hyphen would join two spoken words.
    words = words.replace("oh-", "oh ")
    return " ".join(words.split())


# Past a quadrillion people read digits, not "one novemdecillion", and num2words overflows soon after.
_MAX_SPOKEN_DIGITS = 15


def _cardinal(value: int) -> str:
    if abs(value) >= 10**_MAX_SPOKEN_DIGITS:
        return _digits(str(value))
    return _american(num2words(value, lang="en"))


def _ordinal(value: int) -> str:
    if value >= 10**_MAX_SPOKEN_DIGITS:
        return _digits(str(value))
    return _american(num2words(value, lang="en", to="ordinal"))


def _year(value: int) -> str:
    # num2words' year reading only makes sense for four-digit years; others read as plain numbers.
    if 1000 <= value <= 2999:
        return _american(num2words(value, lang="en", to="year"))
    return _cardinal(value)


def _digits(text: str) -> str:
    """'0142' -> 'zero one four two': how people read codes, phone numbers and numbers with leading zeros."""
    return " ".join(_DIGIT_WORDS[int(ch)] for ch in text if ch.isdigit())


def _integer(text: str) -> str:
    """An integer as written (maybe with thousands commas) to words; codes and long IDs are read digit by digit."""
    plain = text.replace(",", "")
    if len(plain) > _MAX_SPOKEN_DIGITS:
        return _digits(plain)  # also keeps int() away from strings too long to convert
    if "," not in text:
        if len(plain) > 1 and plain.startswith("0"):
            return _digits(plain)  # "007", "0142": a code, not a quantity
        # A seven-plus digit run written without separators is an ID ("order 48213077"), unless it is round.
        if len(plain) >= 7 and not plain.endswith("000"):
            return _digits(plain)
    return _cardinal(int(plain))


def _decimal(text: str) -> str:
    """'2.3' -> 'two point three', '.5' -> 'point five'; digits after the point are read one by one."""
    whole, _, frac = text.partition(".")
    head = _integer(whole) if whole else ""
    if not frac:
        return head
    return f"{head} point {_digits(frac)}".strip()


def _number(text: str) -> str:
    """Any written non-negative number: '1,234', '2.30', '007', '3.10.2' (versions read with 'dot')."""
    if text.count(".") > 1:
        return " dot ".join(_integer(part) if part else "" for part in text.split("."))
    return _decimal(text)


def _is_one(text: str) -> bool:
    """Singular forms ("one dollar", "one hour") are for exactly 1, not 1.0 or 1.5."""
    return text.replace(",", "") == "1"


# A number as written: thousands groups (only when every group has three digits), or plain digits, with decimals.
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"

# ---------------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------------

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
_MONTHS: Mapping[str, str] = MappingProxyType(
    {
        **{name: name for name in _MONTH_NAMES},
        **{name[:3]: name for name in _MONTH_NAMES if name != "May"},
        "Sept": "September",
    }
)
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))

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

# symbol -> (singular, plural, minor unit singular, minor unit plural); yen has no minor unit in speech.
_CURRENCIES: Mapping[str, tuple[str, str, str | None, str | None]] = MappingProxyType(
    {
        "$": ("dollar", "dollars", "cent", "cents"),
        "£": ("pound", "pounds", "penny", "pence"),
        "€": ("euro", "euros", "cent", "cents"),
        "¥": ("yen", "yen", None, None),
    }
)
_MAGNITUDES: Mapping[str, str] = MappingProxyType(
    {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "t": "trillion"}
)

# Unit symbols after a number (case-sensitive: "MB" is not "mb") -> (singular, plural).
_UNITS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "km": ("kilometer", "kilometers"),
        "m": ("meter", "meters"),
        "cm": ("centimeter", "centimeters"),
        "mm": ("millimeter", "millimeters"),
        "mi": ("mile", "miles"),
        "ft": ("foot", "feet"),
        "kg": ("kilogram", "kilograms"),
        "g": ("gram", "grams"),
        "mg": ("milligram", "milligrams"),
        "lb": ("pound", "pounds"),
        "lbs": ("pound", "pounds"),
        "oz": ("ounce", "ounces"),
        "L": ("liter", "liters"),
        "ml": ("milliliter", "milliliters"),
        "mL": ("milliliter", "milliliters"),
        "mph": ("mile per hour", "miles per hour"),
        "kph": ("kilometer per hour", "kilometers per hour"),
        "km/h": ("kilometer per hour", "kilometers per hour"),
        "km/hr": ("kilometer per hour", "kilometers per hour"),
        "m/s": ("meter per second", "meters per second"),
        "°C": ("degree Celsius", "degrees Celsius"),
        "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
        "°": ("degree", "degrees"),
        "%": ("percent", "percent"),
        "h": ("hour", "hours"),
        "hr": ("hour", "hours"),
        "hrs": ("hour", "hours"),
        "min": ("minute", "minutes"),
        "mins": ("minute", "minutes"),
        "s": ("second", "seconds"),
        "sec": ("second", "seconds"),
        "secs": ("second", "seconds"),
        "ms": ("millisecond", "milliseconds"),
        "KB": ("kilobyte", "kilobytes"),
        "kB": ("kilobyte", "kilobytes"),
        "MB": ("megabyte", "megabytes"),
        "GB": ("gigabyte", "gigabytes"),
        "TB": ("terabyte", "terabytes"),
        "Hz": ("hertz", "hertz"),
        "kHz": ("kilohertz", "kilohertz"),
        "MHz": ("megahertz", "megahertz"),
        "GHz": ("gigahertz", "gigahertz"),
        "W": ("watt", "watts"),
        "kW": ("kilowatt", "kilowatts"),
        "kWh": ("kilowatt hour", "kilowatt hours"),
        "V": ("volt", "volts"),
        "mAh": ("milliamp hour", "milliamp hours"),
    }
)
_UNIT_ALT = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))

# All-caps words that are said as words, not letters. Acronyms pronounced as words keep their spelling;
# common words written in capitals for emphasis ("I did NOT") are lowercased so they are not spelled out.
_WORD_ACRONYMS = _words(
    "NASA NATO SCUBA LASER RADAR SONAR LIDAR COVID AIDS OPEC FIFA UEFA GIF JPEG PIN RAM ROM SIM LAN WAN SARS MERS "
    "IKEA LEGO SWAT ZIP POTUS FLOTUS NAFTA FEMA ASCII DARPA NOAA UNIX IMAX MIDI YOLO FOMO TESOL NASCAR UNICEF "
    "UNESCO OSHA"
)
_EMPHASIS_WORDS = _words(
    "NO NOT YES THE AND OR BUT YOU ALL NEVER EVER ALWAYS VERY REALLY STOP NOW MUST WILL IS ARE WAS WERE CAN DO "
    "DID OFF ON OUT BIG HUGE FREE NEW HELP NOTE ONLY AM BE HE SHE WE THEY ME MY OUR HIS HER TO OF IN AT BY FOR "
    "FROM WITH THIS THAT WHAT WHY HOW WHO WHEN GO GET YOUR SO TOO MORE MOST LESS WAIT"
)
_ROMAN_NUMERAL = re.compile(r"X{0,3}(?:IX|IV|V?I{0,3})")

# ---------------------------------------------------------------------------------------------------------------------
# Rules, in the order they run. Earlier rules consume the more specific patterns (a phone number, a date, a time)
# before later, more general ones (ranges, plain numbers) could misread their digits.
# ---------------------------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u2212": "-",
    }
)


def _unicode_cleanup(text: str) -> str:
    # Curly apostrophes make phonemizers see "it’s" as two words; no-break spaces and the minus sign hide numbers.
    return text.translate(_QUOTES)


_VULGAR_FRACTIONS: Mapping[str, str] = MappingProxyType(
    {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8"}
)
_VULGAR_FRACTION = re.compile(rf"(\d)?([{''.join(_VULGAR_FRACTIONS)}])")


def _vulgar_fractions(text: str) -> str:
    # "1½" becomes "1 1/2" so the fraction rule below reads it as "one and a half".
    return _VULGAR_FRACTION.sub(
        lambda m: (m.group(1) + " " if m.group(1) else "") + _VULGAR_FRACTIONS[m.group(2)], text
    )


_AMPERSAND = re.compile(r"\s*&\s*")


def _ampersand(text: str) -> str:
    # "R&D", "Tom & Jerry": the symbol is read "and" and must stand apart from the letters around it.
    return _AMPERSAND.sub(" and ", text)


def _capitalize_like(source: str, words: str) -> str:
    return words[:1].upper() + words[1:] if source[:1].isupper() else words


# How far around a match a rule looks for context (the previous or next word).
_CONTEXT = 80
_SENTENCE_START = re.compile(r"(?:^|[.!?]['\")\]]*\s+)$")
_PREV_WORD = re.compile(r"([\w'-]+)\W*$")
_NEXT_CAPITALIZED = re.compile(r"\s+[A-Z]")
# Abbreviations may follow digits ("20vs."): later rules split those apart, so they must be caught here too.
_WORD_START = r"(?<![^\W\d_])"
_SAINT_STREET = re.compile(rf"{_WORD_START}(?P<abbr>St|Dr)\.")


def _previous_is_address(text: str, start: int) -> bool:
    """True if the word before `start` is a number or a name (capitalized, not just starting the sentence)."""
    before = text[max(0, start - _CONTEXT) : start]  # a window keeps long texts linear
    m = _PREV_WORD.search(before)
    if not m:
        return False
    word = m.group(1)
    if any(ch.isdigit() for ch in word):
        return True  # "221 Baker St.", "5th St."
    return word[:1].isupper() and not _SENTENCE_START.search(before[: m.start()])


def _saint_street_doctor(text: str) -> str:
    # "St." is Saint before a name and Street after one; "Dr." likewise Doctor or Drive.
    def replace(m: re.Match[str]) -> str:
        after = text[m.end() : m.end() + _CONTEXT]
        followed_by_name = bool(_NEXT_CAPITALIZED.match(after))
        if _previous_is_address(text, m.start()):
            word = "Street" if m.group("abbr") == "St" else "Drive"
            # The period may also have ended the sentence: keep it when a new sentence (or the text) follows.
            return word + "." if followed_by_name or not after.strip() else word
        if followed_by_name:
            return "Saint" if m.group("abbr") == "St" else "Doctor"
        return "Street" if m.group("abbr") == "St" else "Doctor"

    return _SAINT_STREET.sub(replace, text)


# (pattern, spoken form, whether its period can also end a sentence). Patterns include their period.
_ABBREVIATION_TABLE: tuple[tuple[str, str, bool], ...] = (
    (r"Mr\.|Mr\b(?=\s+[A-Z])", "Mister", False),
    (r"Mrs\.|Mrs\b(?=\s+[A-Z])", "Missus", False),
    (r"Ms\.|Ms\b(?=\s+[A-Z])", "Miz", False),
    (r"Dr\b(?=\s+[A-Z])", "Doctor", False),
    (r"Prof\.", "Professor", False),
    (r"Capt\.", "Captain", False),
    (r"Sgt\.", "Sergeant", False),
    (r"Lt\.", "Lieutenant", False),
    (r"Gov\.", "Governor", False),
    (r"Sen\.", "Senator", False),
    (r"Mt\.", "Mount", False),
    (r"Fig\.", "Figure", False),
    (r"Dept\.", "Department", True),
    (r"Jr\.", "Junior", True),
    (r"Sr\.", "Senior", True),
    (r"Ave\.", "Avenue", True),
    (r"Blvd\.", "Boulevard", True),
    (r"Rd\.", "Road", True),
    (r"Inc\.", "Incorporated", True),
    (r"Ltd\.", "Limited", True),
    (r"Corp\.", "Corporation", True),
    (r"Co\.", "Company", True),
    (r"[Vv]s\.?(?!\w)", "versus", False),
    (r"[Ee]tc\.?(?!\w)", "et cetera", True),
    (r"[Aa]pprox\.?(?!\w)", "approximately", False),
    (r"[Cc]f\.", "compare", False),
    (r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.", "", True),  # the month, filled in below
)
# One alternation (group "a<i>" for table row i) scans the text once instead of once per abbreviation.
# A period followed by another ("etc...") is an ellipsis, so such a match is left alone.
_ABBREVIATION = re.compile(
    _WORD_START + "(?:" + "|".join(f"(?P<a{i}>{row[0]})" for i, row in enumerate(_ABBREVIATION_TABLE)) + r")(?!\.)"
)
_EG_IE = re.compile(rf"{_WORD_START}(?P<abbr>[Ee]\.g|[Ii]\.e)\.,?")


def _abbreviations(text: str) -> str:
    text = _saint_street_doctor(text)

    def replace(m: re.Match[str]) -> str:
        _, spoken, can_end = _ABBREVIATION_TABLE[int((m.lastgroup or "a0")[1:])]
        word = _capitalize_like(m.group(0), spoken or _MONTHS[m.group(0).rstrip(".")])
        after = m.string[m.end() : m.end() + _CONTEXT]
        # "..., etc. The next" - the abbreviation's period was also the full stop; keep one.
        if can_end and m.group(0).endswith(".") and (not after.strip() or _NEXT_CAPITALIZED.match(after)):
            return word + "."
        return word

    text = _ABBREVIATION.sub(replace, text)

    def eg_ie(m: re.Match[str]) -> str:
        words = "for example" if m.group("abbr").lower() == "e.g" else "that is"
        # A comma after "for example" gives the pause a reader makes; no comma before closing punctuation.
        after = m.string[m.end() : m.end() + _CONTEXT].lstrip()
        comma = "," if after[:1].isalnum() else ""
        return _capitalize_like(m.group(0), words) + comma

    return _EG_IE.sub(eg_ie, text)


_PHONE = re.compile(
    r"(?<![\w+$.,-])"
    r"(?:(?P<cc>\+\d{1,3})[\s.-]?)?"
    r"(?:\((?P<area>\d{3})\)\s?|(?P<area2>\d{3})[.-])?"
    r"(?P<exchange>\d{3})[.-](?P<line>\d{4})"
    r"(?:,?\s*(?:extension|ext\.?|x)\s*(?P<ext>\d{1,6}))?"
    r"(?![\w-])",
    re.IGNORECASE,
)


def _phone_numbers(text: str) -> str:
    # Phone numbers are read digit by digit in groups, with a pause (comma) between groups.
    def replace(m: re.Match[str]) -> str:
        groups = []
        if m.group("cc"):
            groups.append("plus " + _digits(m.group("cc")))
        area = m.group("area") or m.group("area2")
        if area:
            groups.append(_digits(area))
        groups += [_digits(m.group("exchange")), _digits(m.group("line"))]
        if m.group("ext"):
            groups.append("extension " + _digits(m.group("ext")))
        # a listener needs a beat after the last digit before the sentence goes on ("..., four zero two, anytime")
        after = m.string[m.end() : m.end() + 2].lstrip()
        pause = "," if after[:1].isalnum() else ""
        return ", ".join(groups) + pause

    return _PHONE.sub(replace, text)


def _month_day(month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{_MONTH_NAMES[month - 1]} {_ordinal(day)}"


_ISO_DATE = re.compile(r"(?<![\w-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\w-])")
_US_DATE = re.compile(r"(?<![\w/])(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})(?![\w/])")


def _numeric_dates(text: str) -> str:
    # ISO "2024-04-03" and US "4/3/2024" both become "April third, twenty twenty-four".
    def replace(m: re.Match[str]) -> str:
        spoken = _month_day(int(m.group("m")), int(m.group("d")))
        return f"{spoken}, {_year(int(m.group('y')))}" if spoken else m.group(0)

    return _US_DATE.sub(replace, _ISO_DATE.sub(replace, text))


_WEEKDAY = re.compile(rf"{_WORD_START}(?P<day>{_WEEKDAY_ALT})\b\.?(?=,?\s+(?:(?:{_MONTH_ALT})\b|\d))")


def _weekdays(text: str) -> str:
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
    after = m.string[m.end() : m.end() + _CONTEXT]
    return not after.strip() or bool(_NEXT_CAPITALIZED.match(after))


def _word_dates(text: str) -> str:
    # "3 Apr 2024" -> "the third of April, twenty twenty-four"; "Apr 3, 2024" -> "April third, twenty twenty-four".
    def year_part(m: re.Match[str]) -> str:
        return f", {_year(int(m.group('year')))}" if m.group("year") else ""

    def day_month(m: re.Match[str]) -> str:
        day = int(m.group("day"))
        if not 1 <= day <= 31:
            return m.group(0)
        the = m.group("the") or "the "
        spoken = f"{the}{_ordinal(day)} of {_MONTHS[m.group('month')]}{year_part(m)}"
        # "the 1st of May." - a period after the month ends the sentence unless it marks an abbreviation ("Apr.").
        ends = m.group("mdot") and (_MONTHS[m.group("month")] == m.group("month") or _is_sentence_end(m))
        return spoken + "." if ends else spoken

    def month_day(m: re.Match[str]) -> str:
        day = int(m.group("day"))
        if not 1 <= day <= 31:
            return m.group(0)
        return f"{_MONTHS[m.group('month')]} {_ordinal(day)}{year_part(m)}"

    text = _DAY_MONTH.sub(day_month, text)
    text = _MONTH_DAY.sub(month_day, text)
    return _MONTH_YEAR.sub(lambda m: f"{_MONTHS[m.group('month')]} {_year(int(m.group('year')))}", text)


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


def _times(text: str) -> str:
    # "4:45 PM" -> "four forty-five p.m.", "9:05" -> "nine oh five", "12:00" -> "twelve o'clock".
    def clock(m: re.Match[str]) -> str:
        hour, minute = int(m.group("h")), int(m.group("m"))
        # "4.45 pm" is a British time; without a.m./p.m., "4.45" stays a decimal number.
        if hour > 24 or (m.group("sep") == "." and not m.group("ampm")):
            return m.group(0)
        ampm = _ampm_words(m)
        if minute == 0:
            spoken = _cardinal(hour) + ("" if ampm else " hundred" if hour > 12 else " o'clock")
        elif minute < 10:
            spoken = f"{_cardinal(hour)} oh {_cardinal(minute)}"
        else:
            spoken = f"{_cardinal(hour)} {_cardinal(minute)}"
        if m.group("s"):
            seconds = int(m.group("s"))
            spoken += f" and {_cardinal(seconds)} {'second' if seconds == 1 else 'seconds'}"
        return spoken + ampm

    def hour_only(m: re.Match[str]) -> str:
        hour = int(m.group("h"))
        return _cardinal(hour) + _ampm_words(m) if 1 <= hour <= 12 else m.group(0)

    return _HOUR_AMPM.sub(hour_only, _CLOCK.sub(clock, text))


_CURRENCY_BEFORE = re.compile(
    rf"(?<![\w.])(?P<neg>-)?(?P<sym>[$£€¥])\s?(?P<num>{_NUM})"
    r"(?:(?P<mag>[KkMmBbTt]|bn|mn|BN)(?![\w])|\s+(?P<magword>(?i:thousand|million|billion|trillion))\b)?"
)
_CURRENCY_AFTER = re.compile(rf"(?<![\w.])(?P<neg>-)?(?P<num>{_NUM})\s?(?P<sym>[€£])(?!\w)")
_CENTS = re.compile(rf"(?<![\w.])(?P<num>{_NUM})\s?¢")


def _money(sym: str, num: str, magnitude: str | None, negative: bool) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[sym]
    sign = "minus " if negative else ""
    if magnitude:  # "$5.2M" -> "five point two million dollars": a magnitude always takes the plural
        return f"{sign}{_number(num)} {magnitude} {many}"
    whole, _, frac = num.replace(",", "").partition(".")
    if len(whole) > _MAX_SPOKEN_DIGITS or (frac and (len(frac) > 2 or minor_one is None or minor_many is None)):
        return f"{sign}{_number(num)} {many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    major = int(whole) if whole else 0
    parts = []
    if major or not cents:
        parts.append(f"{_cardinal(major)} {one if major == 1 else many}")
    if cents:
        parts.append(f"{_cardinal(cents)} {minor_one if cents == 1 else minor_many}")
    return sign + " and ".join(parts)


def _currency(text: str) -> str:
    # "$3.50" -> "three dollars and fifty cents"; "$450K" -> "four hundred fifty thousand dollars".
    def before(m: re.Match[str]) -> str:
        mag = m.group("mag")
        magnitude = _MAGNITUDES[mag.lower()] if mag else (m.group("magword") or "").lower() or None
        return _money(m.group("sym"), m.group("num"), magnitude, bool(m.group("neg")))

    def after(m: re.Match[str]) -> str:
        return _money(m.group("sym"), m.group("num"), None, bool(m.group("neg")))

    def cents(m: re.Match[str]) -> str:
        return f"{_number(m.group('num'))} {'cent' if _is_one(m.group('num')) else 'cents'}"

    text = _CURRENCY_BEFORE.sub(before, text)
    text = _CURRENCY_AFTER.sub(after, text)
    return _CENTS.sub(cents, text)


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
    rf"(?P<year>{_YEAR_NUM})(?![\w-]|[.,]\d|\s*%|\s?(?:{_UNIT_ALT})(?!\w))"
)
_YEAR_PAREN = re.compile(rf"\((?P<year>{_YEAR_NUM})\)")


def _plural_word(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _decades(text: str) -> str:
    # "1990s" -> "nineteen nineties", "the '80s" -> "the eighties"; before units, where "s" means seconds.
    def long(m: re.Match[str]) -> str:
        words = _year(int(m.group("decade"))).split(" ")
        return " ".join([*words[:-1], _plural_word(words[-1])])

    text = _DECADE.sub(long, text)
    return _SHORT_DECADE.sub(lambda m: m.group("pre").rstrip("'") + _plural_word(_cardinal(int(m.group("tens")))), text)


def _years(text: str) -> str:
    # Four-digit numbers read as years only where the context says so: "in 1999", "1999-2004", "(2005)".
    text = _YEAR_FROM_TO.sub(
        lambda m: f"{m.group('from')} {_year(int(m.group('a')))} {m.group('to')} {_year(int(m.group('b')))}", text
    )
    text = _YEAR_RANGE.sub(lambda m: f"{_year(int(m.group('a')))} to {_year(int(m.group('b')))}", text)
    text = _YEAR_CONTEXT.sub(lambda m: f"{m.group('prep')} {_year(int(m.group('year')))}", text)
    return _YEAR_PAREN.sub(lambda m: f"({_year(int(m.group('year')))})", text)


_ORDINAL = re.compile(r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3}){0,4}|\d{1,15})(?i:st|nd|rd|th)\b")


def _ordinals(text: str) -> str:
    # "22nd" -> "twenty-second"
    return _ORDINAL.sub(lambda m: _ordinal(int(m.group("num").replace(",", ""))), text)


_NUMBER_SIGN = re.compile(r"(?<!\w)#\s?(?=\d)")
_NUMBER_ABBR = re.compile(rf"{_WORD_START}(?:No|no|NO)\.\s?(?=\d)")


def _number_signs(text: str) -> str:
    # "#1" and "No. 5" are read "number one", "number five".
    text = _NUMBER_SIGN.sub("number ", text)
    return _NUMBER_ABBR.sub(
        lambda m: "Number " if _SENTENCE_START.search(m.string[max(0, m.start() - 8) : m.start()]) else "number ",
        text,
    )


_DIMENSIONS = re.compile(rf"(?<![\w.])(?P<a>{_NUM})\s?[x×]\s?(?P<b>{_NUM})(?!\w)")
_TIMES_AFTER = re.compile(rf"(?<![\w.])(?P<n>{_NUM})[x×](?!\w)")
_TIMES_BEFORE = re.compile(rf"(?<![\w.])[x×](?P<n>{_NUM})(?!\w)")


def _multipliers(text: str) -> str:
    # "1920x1080" -> "... by ...", "2x faster" -> "two times faster", "x2" -> "times two".
    text = _DIMENSIONS.sub(lambda m: f"{_number(m.group('a'))} by {_number(m.group('b'))}", text)
    text = _TIMES_AFTER.sub(lambda m: f"{_number(m.group('n'))} times", text)
    return _TIMES_BEFORE.sub(lambda m: f"times {_number(m.group('n'))}", text)


_UNIT = re.compile(
    rf"(?<![\w.,/])(?P<neg>-)?(?P<a>{_NUM})(?:\s?(?:[-–]|to)\s?(?P<b>{_NUM}))?\s?(?P<unit>{_UNIT_ALT})(?!\w)"
)


def _units(text: str) -> str:
    # "2.3h" -> "two point three hours", "10-20%" -> "ten to twenty percent"; singular only for exactly 1.
    def replace(m: re.Match[str]) -> str:
        one, many = _UNITS[m.group("unit")]
        quantity = ("minus " if m.group("neg") else "") + _number(m.group("a"))
        if m.group("b"):
            return f"{quantity} to {_number(m.group('b'))} {many}"
        return f"{quantity} {one if _is_one(m.group('a')) else many}"

    return _UNIT.sub(replace, text)


_RANGE = re.compile(rf"(?<![\w.,/-])(?P<a>{_NUM})(?:\s?–\s?|-)(?P<b>{_NUM})(?![\w-]|[.,/]\d)")


def _ranges(text: str) -> str:
    # "10-20" -> "ten to twenty": a hyphen between two numbers is read as a range.
    return _RANGE.sub(lambda m: f"{_number(m.group('a'))} to {_number(m.group('b'))}", text)


_FRACTION = re.compile(r"(?<![\w/.,])(?:(?P<whole>\d+)\s)?(?P<n>\d{1,15})/(?P<d>\d{1,15})(?![\w/]|[.,]\d)")


def _fraction_words(numerator: int, denominator: int) -> str:
    if denominator == 2:
        unit = "half" if numerator == 1 else "halves"
    elif denominator == 4:
        unit = "quarter" if numerator == 1 else "quarters"
    else:
        unit = _ordinal(denominator) + ("" if numerator == 1 else "s")
    return f"{_cardinal(numerator)} {unit}"


def _fractions(text: str) -> str:
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
                spoken = f"{_cardinal(numerator)}-{_cardinal(numerator)}"  # "50/50" -> "fifty-fifty"
            else:
                spoken = f"{_number(m.group('n'))} slash {_number(m.group('d'))}"
            return f"{_number(whole)} {spoken}" if whole else spoken
        if whole:
            if numerator == 1 and denominator in (2, 4):
                return f"{_number(whole)} and a {'half' if denominator == 2 else 'quarter'}"
            return f"{_number(whole)} and {_fraction_words(numerator, denominator)}"
        return _fraction_words(numerator, denominator)

    return _FRACTION.sub(replace, text)


_PLUS_BETWEEN = re.compile(r"(?<=\d)\s*\+\s*(?=\d)")
_PLUS_AFTER = re.compile(r"(?<=\d)\+(?!\w)")
_PLUS_BEFORE = re.compile(r"(?<!\w)\+(?=\d)")
_EQUALS = re.compile(r"(?<=[\d\s])=(?=[\s\d])")


def _math_symbols(text: str) -> str:
    # "2 + 2 = 4", "18+": symbols between numbers are read aloud; elsewhere they are left to the engine.
    text = _PLUS_BETWEEN.sub(" plus ", text)
    text = _PLUS_AFTER.sub(" plus", text)
    text = _PLUS_BEFORE.sub("plus ", text)
    return _EQUALS.sub(" equals ", text)


_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_NUMBER = re.compile(r"(?<![\w.])(?P<neg>-(?=\.?\d))?(?P<num>\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)*|\d+(?:\.\d+)*|\.\d+)")


def _numbers(text: str) -> str:
    # Whatever digits are left: "MP3" -> "MP three", "-4" -> "minus four", "3.14" -> "three point one four".
    text = _LETTER_DIGIT.sub(" ", text)

    def replace(m: re.Match[str]) -> str:
        return ("minus " if m.group("neg") else "") + _number(m.group("num"))

    return _NUMBER.sub(replace, text)


_ACRONYM = re.compile(r"(?<![\w.])(?<!\w')(?P<letters>[A-Z]{2,5})(?P<suffix>'?s'?)?(?P<dot>\.(?!\w))?(?!\w|'\w)")
_CAPS_RUN = re.compile(r"\b[A-Z]{2,}(?:[-\s]+[A-Z]{2,})+\b")


def _acronyms(text: str) -> str:
    """Spell all-caps words of 2-5 letters: "FBI" -> "F.B.I.", "CEOs" -> "C.E.O.'s".

    Left alone: acronyms said as words (NASA, NATO, ...), Roman numerals (II, XIV), and runs of two or more
    all-caps words, which are headings or shouting rather than acronyms. Common words written in capitals for
    emphasis ("NOT") are lowercased. Dotted letters are used because phonemizers read a lone "A" as the article.
    """
    shouted = [m.span() for m in _CAPS_RUN.finditer(text)]

    def replace(m: re.Match[str]) -> str:
        letters, suffix, dot = m.group("letters"), m.group("suffix"), m.group("dot") or ""
        if any(start <= m.start() < end for start, end in shouted) or _ROMAN_NUMERAL.fullmatch(letters):
            return m.group(0)
        if not suffix and letters in _EMPHASIS_WORDS:
            return letters.lower() + dot
        if letters in _WORD_ACRONYMS or (suffix and letters + "S" in _WORD_ACRONYMS):
            return m.group(0)
        spelled = ".".join(letters) + "."
        # The plural and the possessive sound alike ("C.E.O.'s"); a dotted ending swallows the full stop.
        if suffix:  # a quote after the "s" ("the CEOs' pay") is a plural possessive or a closing quote: keep it
            return spelled + "'s" + ("'" if suffix.endswith("'") and suffix != "'s" else "") + dot
        return spelled

    return _ACRONYM.sub(replace, text)


_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[,.;:!?)\]])")
_SPACES = re.compile(r"[ \t]+")
_DOUBLE_COMMA = re.compile(r",\s*,")


def _tidy(text: str) -> str:
    # Rules insert and remove words; leave single spaces and no space before punctuation.
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = _DOUBLE_COMMA.sub(",", text)
    return "\n".join(line.strip() for line in text.split("\n"))


_ENGLISH_RULES: tuple[Rule, ...] = (
    _unicode_cleanup,
    _vulgar_fractions,
    _ampersand,
    _abbreviations,
    _number_signs,
    _phone_numbers,
    _numeric_dates,
    _weekdays,
    _word_dates,
    _times,
    _currency,
    _decades,
    _years,
    _ordinals,
    _multipliers,
    _units,
    _ranges,
    _fractions,
    _math_symbols,
    _numbers,
    _acronyms,
    _tidy,
)

_RULES: Mapping[str, tuple[Rule, ...]] = MappingProxyType({"en": _ENGLISH_RULES})

# ---------------------------------------------------------------------------------------------------------------------
# Other languages: only numbers, spelled by num2words in that language.
# ---------------------------------------------------------------------------------------------------------------------

# Languages that write "2,5" for two and a half (and "1.234" or "1 234" for a thousand and more).
_COMMA_DECIMAL = _words(
    "fr de es it pt ru pl nl cs sk sl sv da no fi tr ro hu uk be lt lv id vi ca kz az is sr tg tet ce eo"
)
_DOT_DECIMAL_NUMBER = re.compile(r"(?<![\w.,])(?P<neg>-)?(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?")
# A "." before exactly three digits groups thousands ("1.234"); before other digit counts it is a decimal point.
_COMMA_DECIMAL_NUMBER = re.compile(
    r"(?<![\w.,])(?P<neg>-)?(?P<int>\d{1,3}(?:[.\s]\d{3})+(?!\d)|\d+)(?:[,.](?P<frac>\d+))?"
)


def _num2words_lang(language: str) -> str | None:
    """The num2words code for a language tag ("pt-BR" -> "pt_BR", "fr-CA" -> "fr"), or None if unsupported."""
    tag = language.strip().replace("-", "_")
    if not tag:
        return None
    base = tag.split("_")[0].lower()
    for candidate in (f"{base}_{tag.split('_')[1].upper()}" if "_" in tag else "", base):
        if candidate and candidate in CONVERTER_CLASSES:
            return candidate
    return None


def _foreign_numbers(text: str, lang: str) -> str:
    base = lang.split("_")[0]
    pattern = _COMMA_DECIMAL_NUMBER if base in _COMMA_DECIMAL else _DOT_DECIMAL_NUMBER

    def replace(m: re.Match[str]) -> str:
        digits = re.sub(r"[^\d]", "", m.group("int"))
        if len(digits) > _MAX_SPOKEN_DIGITS:
            return m.group(0)
        value: int | float = int(digits)
        if m.group("frac"):
            value = float(f"{digits}.{m.group('frac')}")
        if m.group("neg"):
            value = -value
        try:
            return str(num2words(value, lang=lang))
        except Exception:  # num2words raises assorted errors (overflow, unimplemented forms) per language
            logger.debug("num2words could not spell %r in %s; left as written", m.group(0), lang)
            return m.group(0)

    return pattern.sub(replace, text)


# ---------------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------------


_MAX_ROUNDS = 4


def _rules_for(language: str) -> Sequence[Rule]:
    base = language.strip().replace("-", "_").split("_")[0].lower()
    if base in _RULES:
        return _RULES[base]
    lang = _num2words_lang(language)
    if lang is None:
        return ()
    return (_unicode_cleanup, lambda text: _foreign_numbers(text, lang))


def normalize_text(text: str, language: str = "en") -> str:
    """Rewrite `text` as the words a speaker would say ("$5.2M" -> "five point two million dollars").

    English gets the full rule set; other languages get their numbers spelled by num2words when it supports
    them, and any other language is returned unchanged. Idempotent: normalizing twice changes nothing more.
    """
    rules = _rules_for(language or "")
    # Rules can expose work for each other (a number split off a glued word like "4Sat" makes "Sat" a word), so
    # run them until nothing changes; real text settles in one or two rounds, and that makes this idempotent.
    for _ in range(_MAX_ROUNDS):
        result = text
        for rule in rules:
            result = rule(result)
        if result == text:
            break
        text = result
    return text


_INNER_DOT = re.compile(r"(?<=\w)\.(?=[\w'])")
_NOT_WORD = re.compile(r"[^\w\s']+")
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def words_for_wer(text: str, language: str = "en") -> list[str]:
    """Normalized, lowercased words without punctuation, for comparing a reference with a speech transcript.

    Both sides go through the same path, so "4:45 PM", "4:45 p.m." and "four forty-five P M" all end as
    ["four", "forty", "five", "pm"]: hyphens split words, dotted letters join ("f.b.i." -> "fbi"), and runs of
    two or more single letters are joined too ("p m" -> "pm", "f b i" -> "fbi").
    """
    normalized = normalize_text(text, language).lower()
    normalized = _INNER_DOT.sub("", normalized)
    normalized = _NOT_WORD.sub(" ", normalized.replace("_", " "))
    normalized = _LOOSE_APOSTROPHE.sub(" ", normalized)
    words: list[str] = []
    run: list[str] = []
    for word in normalized.split():
        if len(word) == 1:
            run.append(word)
            continue
        words.extend(["".join(run)] if len(run) > 1 else run)
        run = []
        words.append(word)
    words.extend(["".join(run)] if len(run) > 1 else run)
    return words
