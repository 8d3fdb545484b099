"""Text normalization for other languages than English: only numbers, spelled by num2words in that language."""

from __future__ import annotations

import logging
import re

from num2words import CONVERTER_CLASSES, num2words

from studio.text.normalize.common import word_set
from studio.text.normalize.spell import MAX_SPOKEN_DIGITS

logger = logging.getLogger(__name__)

# Languages that write "2,5" for two and a half (and "1.234" or "1 234" for a thousand and more).
_COMMA_DECIMAL = word_set(
    "fr de es it pt ru pl nl cs sk sl sv da no fi tr ro hu uk be lt lv id vi ca kz az is sr tg tet ce eo"
)
_DOT_DECIMAL_NUMBER = re.compile(r"(?<![\w.,])(?P<neg>-)?(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?")
# A "." before exactly three digits groups thousands ("1.234"); before other digit counts it is a decimal point.
_COMMA_DECIMAL_NUMBER = re.compile(
    r"(?<![\w.,])(?P<neg>-)?(?P<int>\d{1,3}(?:[.\s]\d{3})+(?!\d)|\d+)(?:[,.](?P<frac>\d+))?"
)


def num2words_lang(language: str) -> str | None:
    """The num2words code for a language tag ("pt-BR" -> "pt_BR", "fr-CA" -> "fr"), or None if unsupported."""
    tag = language.strip().replace("-", "_")
    if not tag:
        return None
    base = tag.split("_")[0].lower()
    for candidate in (f"{base}_{tag.split('_')[1].upper()}" if "_" in tag else "", base):
        if candidate and candidate in CONVERTER_CLASSES:
            return candidate
    return None


def foreign_numbers(text: str, lang: str) -> str:
    base = lang.split("_")[0]
    pattern = _COMMA_DECIMAL_NUMBER if base in _COMMA_DECIMAL else _DOT_DECIMAL_NUMBER

    def replace(m: re.Match[str]) -> str:
        digits = re.sub(r"[^\d]", "", m.group("int"))
        if len(digits) > MAX_SPOKEN_DIGITS:
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
