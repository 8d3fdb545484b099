"""Whether what a recognizer heard *sounds* like the text: the edit distance between the two as espeak-ng phonemes.

Word error rate counts a word the recognizer spelled its own way as wrong: a name ("Hakluyt" heard as "Hack
Light"), a foreign word ("hval" heard as "Val"), an archaic spelling ("shew" heard as "show"). The audio is right and
the chunk would be flagged. Said as sounds, those differ by a phoneme or two in a whole chunk, while a chunk that
says other words, stops short or is silent differs in most of its phonemes. The check uses this as a second measure
only for chunks the word error rate fails (`studio.book.qa.Checker`).

Words in a script the language is not written in (Greek or Hebrew in an English book) have no measure: espeak-ng
reads them letter by letter, and so may the engine, which sounds "right" and is not what a listener wants.

espeak-ng comes with Piper (piper-phonemize-fix bundles it and its data for about a hundred languages); without it,
or for a language it has no voice for, there is no phoneme measure and the word error rate alone decides.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)

# left out of the comparison: stress, length and syllable marks, tie bars, word gaps and punctuation (how a phrase is
# phrased is not what was said)
_IGNORED = frozenset("ˈˌː‿ˑ͡ \t,.;:!?¡¿-—–'\"()")
# espeak-ng voices for the languages the engines speak, where the bare language code is not one
_VOICES = {"en": "en-us", "pt": "pt-br", "zh": "cmn", "yue": "yue"}
# the script each language is written in, where it is not the Latin alphabet (Latin letters are allowed in every
# language: names and loanwords)
_SCRIPTS = {
    **dict.fromkeys(("ru", "uk", "bg", "be", "mk", "sr", "kk", "ky", "mn", "tg"), "CYRILLIC"),
    **dict.fromkeys(("zh", "yue", "ja"), "CJK"),
    **dict.fromkeys(("ar", "fa", "ur", "ps"), "ARABIC"),
    **dict.fromkeys(("hi", "mr", "ne"), "DEVANAGARI"),
    "el": "GREEK",
    "he": "HEBREW",
    "yi": "HEBREW",
    "ko": "HANGUL",
    "th": "THAI",
    "ka": "GEORGIAN",
    "hy": "ARMENIAN",
}
_CJK = ("CJK", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC")


def espeak_voice(language: str) -> str:
    """The espeak-ng voice that phonemizes `language` (its region left out: an accent is not what is compared)."""
    base = language.lower().replace("_", "-").split("-")[0]
    return _VOICES.get(base, base)


def _script(letter: str) -> str:
    import unicodedata

    name = unicodedata.name(letter, "")
    first = name.split(" ", 1)[0]
    return "CJK" if first in _CJK else first


def in_its_script(text: str, language: str) -> bool:
    """Whether every letter of `text` is in the Latin alphabet or the language's own script."""
    own = _SCRIPTS.get(language.lower().replace("_", "-").split("-")[0], "LATIN")
    return all(_script(ch) in ("LATIN", own) for ch in text if ch.isalpha())


@functools.lru_cache(maxsize=64)
def _phonemizer_for(voice: str) -> bool:
    """Whether espeak-ng is installed and knows `voice` (asked once per voice)."""
    try:
        from piper_phonemize import phonemize_espeak
    except ImportError:
        return False
    try:
        phonemize_espeak("a", voice)
    except Exception as exc:  # an unknown voice: espeak-ng raises
        log.debug("espeak-ng has no voice %r: %s", voice, exc)
        return False
    return True


def phonemes(words: list[str], language: str) -> str | None:
    """The words as one string of espeak-ng phonemes without marks or gaps; None without a phonemizer for it."""
    voice = espeak_voice(language)
    if not _phonemizer_for(voice):
        return None
    from piper_phonemize import phonemize_espeak

    text = " ".join(words)
    if not text:
        return ""
    return "".join(p for sentence in phonemize_espeak(text, voice) for p in sentence if p not in _IGNORED)


def phoneme_error_rate(reference: str, heard: str, language: str = "en") -> float | None:
    """Edit distance between the two texts' phonemes over the reference's phoneme count (0 = sounds the same), after
    both are normalized the way the word error rate normalizes them (numbers spelled out, case and punctuation
    removed). None when espeak-ng cannot phonemize the language, or the reference has words in another script."""
    import jiwer

    from studio.text.normalize import words_for_wer

    if not in_its_script(reference, language):
        return None
    ref = phonemes(words_for_wer(reference, language), language)
    hyp = phonemes(words_for_wer(heard, language), language)
    if ref is None or hyp is None:
        return None
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.cer(ref, hyp))
