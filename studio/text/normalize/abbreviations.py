"""Text normalization: abbreviations (Mr., St., e.g.) and acronyms (spelled, said as words, or shouting)."""

from __future__ import annotations

import re

from studio.text.normalize.common import CONTEXT, NEXT_CAPITALIZED, SENTENCE_START, WORD_START, word_set
from studio.text.normalize.dates import MONTHS

# All-caps words that are said as words, not letters. Acronyms pronounced as words keep their spelling;
# common words written in capitals for emphasis ("I did NOT") are lowercased so they are not spelled out.
_WORD_ACRONYMS = word_set(
    "NASA NATO SCUBA LASER RADAR SONAR LIDAR COVID AIDS OPEC FIFA UEFA GIF JPEG PIN RAM ROM SIM LAN WAN SARS MERS "
    "IKEA LEGO SWAT ZIP POTUS FLOTUS NAFTA FEMA ASCII DARPA NOAA UNIX IMAX MIDI YOLO FOMO TESOL NASCAR UNICEF "
    "UNESCO OSHA"
)
_EMPHASIS_WORDS = word_set(
    "NO NOT YES THE AND OR BUT YOU ALL NEVER EVER ALWAYS VERY REALLY STOP NOW MUST WILL IS ARE WAS WERE CAN DO "
    "DID OFF ON OUT BIG HUGE FREE NEW HELP NOTE ONLY AM BE HE SHE WE THEY ME MY OUR HIS HER TO OF IN AT BY FOR "
    "FROM WITH THIS THAT WHAT WHY HOW WHO WHEN GO GET YOUR SO TOO MORE MOST LESS WAIT"
)
_ROMAN_NUMERAL = re.compile(r"X{0,3}(?:IX|IV|V?I{0,3})")


def _capitalize_like(source: str, words: str) -> str:
    return words[:1].upper() + words[1:] if source[:1].isupper() else words


_PREV_WORD = re.compile(r"([\w'-]+)\W*$")


_SAINT_STREET = re.compile(rf"{WORD_START}(?P<abbr>St|Dr)\.")


def _previous_is_address(text: str, start: int) -> bool:
    """True if the word before `start` is a number or a name (capitalized, not just starting the sentence)."""
    before = text[max(0, start - CONTEXT) : start]  # a window keeps long texts linear
    m = _PREV_WORD.search(before)
    if not m:
        return False
    word = m.group(1)
    if before[m.end(1) :].strip():
        return False  # "I saw Alice. Dr. Smith", "England, St. Petersburg": punctuation between, so no street name
    if any(ch.isdigit() for ch in word):
        return True  # "221 Baker St.", "5th St."
    return word[:1].isupper() and not SENTENCE_START.search(before[: m.start()])


def _saint_street_doctor(text: str) -> str:
    # "St." is Saint before a name and Street after one; "Dr." likewise Doctor or Drive.
    def replace(m: re.Match[str]) -> str:
        after = text[m.end() : m.end() + CONTEXT]
        followed_by_name = bool(NEXT_CAPITALIZED.match(after))
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
    (r"Vol\.", "Volume", False),
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
    WORD_START + "(?:" + "|".join(f"(?P<a{i}>{row[0]})" for i, row in enumerate(_ABBREVIATION_TABLE)) + r")(?!\.)"
)
_EG_IE = re.compile(rf"{WORD_START}(?P<abbr>[Ee]\.g|[Ii]\.e)\.,?")


def abbreviations(text: str) -> str:
    text = _saint_street_doctor(text)

    def replace(m: re.Match[str]) -> str:
        _, spoken, can_end = _ABBREVIATION_TABLE[int((m.lastgroup or "a0")[1:])]
        word = _capitalize_like(m.group(0), spoken or MONTHS[m.group(0).rstrip(".")])
        after = m.string[m.end() : m.end() + CONTEXT]
        # "..., etc. The next" - the abbreviation's period was also the full stop; keep one.
        if can_end and m.group(0).endswith(".") and (not after.strip() or NEXT_CAPITALIZED.match(after)):
            return word + "."
        return word

    text = _ABBREVIATION.sub(replace, text)

    def eg_ie(m: re.Match[str]) -> str:
        words = "for example" if m.group("abbr").lower() == "e.g" else "that is"
        # A comma after "for example" gives the pause a reader makes; no comma before closing punctuation.
        after = m.string[m.end() : m.end() + CONTEXT].lstrip()
        comma = "," if after[:1].isalnum() else ""
        return _capitalize_like(m.group(0), words) + comma

    return _EG_IE.sub(eg_ie, text)


_ACRONYM = re.compile(r"(?<![\w.])(?<!\w')(?P<letters>[A-Z]{2,5})(?P<suffix>'?s'?)?(?P<dot>\.(?!\w))?(?!\w|'\w)")
_CAPS_RUN = re.compile(r"\b[A-Z]{2,}(?:[-\s]+[A-Z]{2,})+\b")


def acronyms(text: str) -> str:
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
