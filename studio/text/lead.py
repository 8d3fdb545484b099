"""The first piece of a take, made short so that it plays at once: the opening clause of a long first sentence.

An engine makes a piece's audio only once it has the whole piece, so a take's first sound waits for its first
sentence. `lead_clause` cuts a long first sentence after its opening clause (at a comma, semicolon, colon or dash, once
a few words are said), or, when the opening has no such pause, before a conjunction or preposition (else at a space
not right after an article or preposition); the rest of the text is spoken after it as before. Only the first piece
is short: the rest stays sentence-sized."""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.text.charset import has_speech
from studio.text.chunking import split_sentences

__all__ = ["LEAD_MAX_CHARS", "Lead", "lead_clause"]

# A piece's time to audio grows with its length: with the bundled Piper voice on a 2-core CPU, the default text's
# 53-character opening clause comes in about a third of the time of its 152-character sentence (0.56 s), well under
# 0.3 s (`python -m studio.bench.first_audio`). A first sentence up to this long is spoken whole; a longer one is cut
# so that its first piece is at most this long.
LEAD_MAX_CHARS = 60
LEAD_MIN_CHARS = 15  # a shorter opening ("Yes,") is no clause worth a seam: the cut goes further on
LEAD_MIN_WORDS = 3
REST_MIN_CHARS = 15  # the rest of the sentence must be worth a piece of its own
# Where a clause-less opening is cut: before one of these, a phrase starts (never "of" or "to": "the keeper | of")
_PHRASE_OPENERS = frozenset(
    str.split(
        "and but or nor so yet which who whom whose that when where while because since although though after before "
        "until unless if as with without in on at for from into onto upon through across over under between by near"
    )
)
# Words that lean on the next one: a cut right after them ("upon the | size") splits a phrase in its middle
_LEANING = _PHRASE_OPENERS | frozenset(str.split("the a an of to my your his her its our their this these those"))
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|[，、；：]")
_UNSPACED = frozenset({"ja", "zh"})
_PARAGRAPH_END = re.compile(r"\n[^\S\n]*\n")


@dataclass(frozen=True)
class Lead:
    """A take cut in two: `head` is said first, `rest` right after it. `clause`: the cut is at a clause's pause (a
    comma's pause belongs there), else at a word boundary inside a phrase (as little pause as can be)."""

    head: str
    rest: str
    clause: bool


def lead_clause(text: str, language: str = "en", max_chars: int = LEAD_MAX_CHARS) -> Lead | None:
    """`text` cut after the opening clause of its first sentence when that sentence is longer than `max_chars`;
    None when the first sentence is short enough to be the first piece itself, or has no place to cut."""
    stripped = text.strip()
    end = _PARAGRAPH_END.search(stripped)
    paragraph = stripped[: end.start()] if end else stripped
    sentences = split_sentences(paragraph[: max_chars * 8], language)  # the opening alone: a long text is not scanned
    if not sentences or len(sentences[0]) <= max_chars:
        return None
    sentence = sentences[0]
    unspaced = language.replace("_", "-").split("-")[0].lower() in _UNSPACED
    cut, clause = _clause_cut(sentence, max_chars, unspaced), True
    if cut is None and not unspaced:
        cut, clause = _word_cut(sentence, max_chars), False
    if cut is None:
        return None
    head = sentence[:cut].strip()
    if not has_speech(head):
        return None
    # the head's characters, counted without whitespace, locate the cut in the text as written (line breaks and all)
    position = _position_after(stripped, sum(1 for ch in head if not ch.isspace()))
    return Lead(head, stripped[position:].strip(), clause)


def _fits(sentence: str, cut: int, max_chars: int, unspaced: bool) -> bool:
    head = sentence[:cut].strip()
    if not (LEAD_MIN_CHARS <= len(head) <= max_chars) or len(sentence) - cut < REST_MIN_CHARS:
        return False
    if head.count("[") != head.count("]") or head.count("(") != head.count(")"):
        return False  # never inside a tag or a bracket
    return unspaced or len(head.split()) >= LEAD_MIN_WORDS


def _clause_cut(sentence: str, max_chars: int, unspaced: bool) -> int | None:
    """The end of the longest opening clause that fits (more audio to play while the rest is made)."""
    cuts = [m.end() for m in _CLAUSE_END.finditer(sentence, 0, max_chars + 1)]
    return next((cut for cut in reversed(cuts) if _fits(sentence, cut, max_chars, unspaced)), None)


def _word_cut(sentence: str, max_chars: int) -> int | None:
    """Before the last conjunction or preposition that leaves a head that fits, else at the last space that does and
    is not right after an article, a preposition or the like."""
    spaces = [m.start() for m in re.finditer(r"\s", sentence[: max_chars + 1])]
    fitting = [cut for cut in spaces if _fits(sentence, cut, max_chars, False)]
    for cut in reversed(fitting):
        word = sentence[cut:].split(maxsplit=1)[0].strip("\"'“‘(").lower()
        if word in _PHRASE_OPENERS:
            return cut
    free = [cut for cut in fitting if sentence[:cut].split()[-1].strip("\"'“‘(").lower() not in _LEANING]
    choice = free or fitting
    return choice[-1] if choice else None


def _position_after(text: str, visible: int) -> int:
    """The index in `text` just after its first `visible` non-whitespace characters."""
    seen = 0
    for index, ch in enumerate(text):
        if not ch.isspace():
            seen += 1
            if seen == visible:
                return index + 1
    return len(text)
