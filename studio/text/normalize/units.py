"""Text normalization: money and units of measurement after numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from studio.text.normalize.spell import MAX_SPOKEN_DIGITS, NUM, cardinal, is_one, number

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
UNIT_ALT = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))


_CURRENCY_BEFORE = re.compile(
    rf"(?<![\w.])(?P<neg>-)?(?P<sym>[$£€¥])\s?(?P<num>{NUM})"
    r"(?:(?P<mag>[KkMmBbTt]|bn|mn|BN)(?![\w])|\s+(?P<magword>(?i:thousand|million|billion|trillion))\b)?"
)
_CURRENCY_AFTER = re.compile(rf"(?<![\w.])(?P<neg>-)?(?P<num>{NUM})\s?(?P<sym>[€£])(?!\w)")
_CENTS = re.compile(rf"(?<![\w.])(?P<num>{NUM})\s?¢")


def _money(sym: str, num: str, magnitude: str | None, negative: bool) -> str:
    one, many, minor_one, minor_many = _CURRENCIES[sym]
    sign = "minus " if negative else ""
    if magnitude:  # "$5.2M" -> "five point two million dollars": a magnitude always takes the plural
        return f"{sign}{number(num)} {magnitude} {many}"
    whole, _, frac = num.replace(",", "").partition(".")
    if len(whole) > MAX_SPOKEN_DIGITS or (frac and (len(frac) > 2 or minor_one is None or minor_many is None)):
        return f"{sign}{number(num)} {many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    major = int(whole) if whole else 0
    parts = []
    if major or not cents:
        parts.append(f"{cardinal(major)} {one if major == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {minor_one if cents == 1 else minor_many}")
    return sign + " and ".join(parts)


def currency(text: str) -> str:
    # "$3.50" -> "three dollars and fifty cents"; "$450K" -> "four hundred fifty thousand dollars".
    def before(m: re.Match[str]) -> str:
        mag = m.group("mag")
        magnitude = _MAGNITUDES[mag.lower()] if mag else (m.group("magword") or "").lower() or None
        return _money(m.group("sym"), m.group("num"), magnitude, bool(m.group("neg")))

    def after(m: re.Match[str]) -> str:
        return _money(m.group("sym"), m.group("num"), None, bool(m.group("neg")))

    def cents(m: re.Match[str]) -> str:
        return f"{number(m.group('num'))} {'cent' if is_one(m.group('num')) else 'cents'}"

    text = _CURRENCY_BEFORE.sub(before, text)
    text = _CURRENCY_AFTER.sub(after, text)
    return _CENTS.sub(cents, text)


_UNIT = re.compile(
    rf"(?<![\w.,/])(?P<neg>-)?(?P<a>{NUM})(?:\s?(?:[-–]|to)\s?(?P<b>{NUM}))?\s?(?P<unit>{UNIT_ALT})(?!\w)"
)


def units(text: str) -> str:
    # "2.3h" -> "two point three hours", "10-20%" -> "ten to twenty percent"; singular only for exactly 1.
    def replace(m: re.Match[str]) -> str:
        one, many = _UNITS[m.group("unit")]
        quantity = ("minus " if m.group("neg") else "") + number(m.group("a"))
        if m.group("b"):
            return f"{quantity} to {number(m.group('b'))} {many}"
        return f"{quantity} {one if is_one(m.group('a')) else many}"

    return _UNIT.sub(replace, text)
