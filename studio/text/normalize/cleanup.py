"""Text normalization: clean-up rules (typographic quotes and spaces, ampersands, spacing at the end)."""

from __future__ import annotations

import re

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


def unicode_cleanup(text: str) -> str:
    # Curly apostrophes make phonemizers see "it’s" as two words; no-break spaces and the minus sign hide numbers.
    return text.translate(_QUOTES)


_AMPERSAND = re.compile(r"\s*&\s*")


def ampersand(text: str) -> str:
    # "R&D", "Tom & Jerry": the symbol is read "and" and must stand apart from the letters around it.
    return _AMPERSAND.sub(" and ", text)


_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[,.;:!?)\]])")
_SPACES = re.compile(r"[ \t]+")
_DOUBLE_COMMA = re.compile(r",\s*,")


def tidy(text: str) -> str:
    # Rules insert and remove words; leave single spaces and no space before punctuation.
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = _DOUBLE_COMMA.sub(",", text)
    return "\n".join(line.strip() for line in text.split("\n"))
