"""Text normalization: numbers spelled as English words (num2words, trimmed to the American form)."""

from __future__ import annotations

import re

from num2words import num2words

# Number words (English). num2words does the spelling; we only trim it to the American form listeners expect.

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_AND = re.compile(r"\band\b")


def _american(words: str) -> str:
    """Drop num2words' British "and" and its commas ("one hundred and five" -> "one hundred five")."""
    words = _AND.sub(" ", words.replace(",", ""))
    # num2words writes years like 1905 as "nineteen oh-five"; the hyphen would join two spoken words.
    words = words.replace("oh-", "oh ")
    return " ".join(words.split())


# Past a quadrillion people read digits, not "one novemdecillion", and num2words overflows soon after.
MAX_SPOKEN_DIGITS = 15


def cardinal(value: int) -> str:
    if abs(value) >= 10**MAX_SPOKEN_DIGITS:
        return digits(str(value))
    return _american(num2words(value, lang="en"))


def ordinal(value: int) -> str:
    if value >= 10**MAX_SPOKEN_DIGITS:
        return digits(str(value))
    return _american(num2words(value, lang="en", to="ordinal"))


def year(value: int) -> str:
    # num2words' year reading only makes sense for four-digit years; others read as plain numbers.
    if 1000 <= value <= 2999:
        return _american(num2words(value, lang="en", to="year"))
    return cardinal(value)


def digits(text: str) -> str:
    """'0142' -> 'zero one four two': how people read codes, phone numbers and numbers with leading zeros."""
    return " ".join(_DIGIT_WORDS[int(ch)] for ch in text if ch.isdigit())


def _integer(text: str) -> str:
    """An integer as written (maybe with thousands commas) to words; codes and long IDs are read digit by digit."""
    plain = text.replace(",", "")
    if len(plain) > MAX_SPOKEN_DIGITS:
        return digits(plain)  # also keeps int() away from strings too long to convert
    if "," not in text:
        if len(plain) > 1 and plain.startswith("0"):
            return digits(plain)  # "007", "0142": a code, not a quantity
        # A seven-plus digit run written without separators is an ID ("order 48213077"), unless it is round.
        if len(plain) >= 7 and not plain.endswith("000"):
            return digits(plain)
    return cardinal(int(plain))


def _decimal(text: str) -> str:
    """'2.3' -> 'two point three', '.5' -> 'point five'; digits after the point are read one by one."""
    whole, _, frac = text.partition(".")
    head = _integer(whole) if whole else ""
    if not frac:
        return head
    return f"{head} point {digits(frac)}".strip()


def number(text: str) -> str:
    """Any written non-negative number: '1,234', '2.30', '007', '3.10.2' (versions read with 'dot')."""
    if text.count(".") > 1:
        return " dot ".join(_integer(part) if part else "" for part in text.split("."))
    return _decimal(text)


def is_one(text: str) -> bool:
    """Singular forms ("one dollar", "one hour") are for exactly 1, not 1.0 or 1.5."""
    return text.replace(",", "") == "1"


# A number as written: thousands groups (only when every group has three digits), or plain digits, with decimals.
NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
