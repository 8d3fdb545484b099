"""smalltts's text front end: (normalized) text -> the phoneme token ids its condition encoder reads.

Upstream (`smalltts/data/phonemization/phonemes.py`): the text is split at event tags (`[laughter]`); each stretch of
words is phonemized by espeak-ng (en-us, stress marks, punctuation kept: phonemizer splits at punctuation marks,
phonemizes each piece and puts the marks back), then cut into words and single punctuation marks joined by spaces;
every character found in the symbol table becomes its id (position + 1; 0 is padding), and each known event tag
becomes its event token repeated four times. Studio phonemizes with the same espeak-ng it uses for Piper
(piper-phonemize, which bundles espeak-ng and its data), piece by piece as phonemizer does, so no second
phonemizer package is needed. Normalization (numbers, abbreviations) is Studio's own, done before the engine."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from studio.text.events import EVENTS  # the 23 events, in the model's token order

__all__ = ["EVENTS", "EVENT_REPEAT", "SYMBOLS", "VOCAB_SIZE", "Tokens", "decode", "token_ids", "tokenize"]

_PUNCTUATION = ';:,.!?¡¿—…"«»"" '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_IPA = "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'̩'ᵻ"
EVENT_REPEAT = 4  # an event tag is fed as its token this many times


def _symbols() -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for ch in _PUNCTUATION + _LETTERS + _IPA:
        seen.setdefault(ch, None)
    for label in EVENTS:
        seen.setdefault(f"[{label}]", None)
    return tuple(seen)


SYMBOLS = _symbols()  # id = position + 1
VOCAB_SIZE = len(SYMBOLS) + 1  # with the padding id 0
_ID = {symbol: i + 1 for i, symbol in enumerate(SYMBOLS)}
# phonemizer's default punctuation marks: each run of them is kept as it is while the words between are phonemized
_MARKS = ';:,.!?¡¿—…"«»“”(){}[]'
_MARK_RUN = re.compile(r"(\s*[" + re.escape(_MARKS) + r"]+\s*)+")
_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")
_TAG = re.compile(r"\[(\w+)\]")


@dataclass
class Tokens:
    """What `tokenize` made of a text: the ids, the bracketed tags it did not know (kept as words), whether any
    words are left to speak (text of event tags only has none)."""

    ids: list[int] = field(default_factory=list)
    unknown_events: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    has_words: bool = False


def event_id(label: str) -> int | None:
    """The token of an event label (any case), None for a label the model does not know."""
    key = label.lower()
    return _ID[f"[{key}]"] if key in EVENTS else None


def _espeak(text: str) -> str:
    """espeak-ng's phonemes (en-us, stress marks) for a stretch without punctuation marks, sentences joined by
    spaces."""
    from piper_phonemize import phonemize_espeak

    sentences = phonemize_espeak(text, "en-us")
    return " ".join(unicodedata.normalize("NFC", "".join(sentence)) for sentence in sentences)


def phonemes(text: str) -> str:
    """Words and punctuation of one stretch (no tags) as upstream writes them: phonemized words and single marks,
    each separated by one space ("həlˈoʊ , wˈɜːld !")."""
    pieces: list[str] = []
    last = 0
    for run in _MARK_RUN.finditer(text):
        pieces.append(_espeak(text[last : run.start()]) if text[last : run.start()].strip() else "")
        pieces.append(run.group(0))
        last = run.end()
    if text[last:].strip():
        pieces.append(_espeak(text[last:]))
    return " ".join(_WORD_OR_MARK.findall(" ".join(pieces)))


def tokenize(text: str) -> Tokens:
    """Token ids of normalized text; `[tag]` is an event token (x4) when the model knows the event, else its word."""
    out = Tokens()
    parts = _TAG.split(text)
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if not part.strip():
                continue
            spoken = phonemes(part)
            out.ids.extend(_ID[ch] for ch in spoken if ch in _ID)
            out.has_words = out.has_words or any(ch.isalpha() for ch in spoken)
        elif (eid := event_id(part)) is not None:
            out.ids.extend([eid] * EVENT_REPEAT)
            out.events.append(part.lower())
        else:  # an unknown tag is read as the word it holds (upstream drops it silently)
            out.unknown_events.append(part)
            spoken = phonemes(part)
            out.ids.extend(_ID[ch] for ch in spoken if ch in _ID)
            out.has_words = out.has_words or any(ch.isalpha() for ch in spoken)
    return out


def token_ids(text: str) -> list[int]:
    return tokenize(text).ids


def decode(ids: list[int]) -> str:
    """Ids back to their symbols (for messages and tests)."""
    return "".join(SYMBOLS[i - 1] if 0 < i <= len(SYMBOLS) else "" for i in ids)
