"""Text normalization: the rules in the order they run, per language; normalize_text and words_for_wer."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from studio.text.normalize.abbreviations import abbreviations, acronyms
from studio.text.normalize.cleanup import ampersand, tidy, unicode_cleanup
from studio.text.normalize.dates import decades, numeric_dates, times, weekdays, word_dates, years
from studio.text.normalize.foreign import foreign_numbers, num2words_lang
from studio.text.normalize.numbers import (
    fractions,
    math_symbols,
    multipliers,
    number_signs,
    numbers,
    ordinals,
    phone_numbers,
    ranges,
    vulgar_fractions,
)
from studio.text.normalize.roman import roman_numerals
from studio.text.normalize.units import currency, units

Rule = Callable[[str], str]

# ---------------------------------------------------------------------------------------------------------------------
# Rules, in the order they run. Earlier rules consume the more specific patterns (a phone number, a date, a time)
# before later, more general ones (ranges, plain numbers) could misread their digits.
# ---------------------------------------------------------------------------------------------------------------------

_ENGLISH_RULES: tuple[Rule, ...] = (
    unicode_cleanup,
    vulgar_fractions,
    ampersand,
    roman_numerals,
    abbreviations,
    number_signs,
    phone_numbers,
    numeric_dates,
    weekdays,
    word_dates,
    times,
    currency,
    decades,
    years,
    ordinals,
    multipliers,
    units,
    ranges,
    fractions,
    math_symbols,
    numbers,
    acronyms,
    tidy,
)

_RULES: Mapping[str, tuple[Rule, ...]] = MappingProxyType({"en": _ENGLISH_RULES})


# ---------------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------------


_MAX_ROUNDS = 4


def _rules_for(language: str) -> Sequence[Rule]:
    base = language.strip().replace("-", "_").split("_")[0].lower()
    if base in _RULES:
        return _RULES[base]
    lang = num2words_lang(language)
    if lang is None:
        return ()
    return (unicode_cleanup, lambda text: foreign_numbers(text, lang))


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
