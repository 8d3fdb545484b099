"""Split text into paragraphs, sentences and synthesis-sized chunks without breaking words or abbreviations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["call_pieces", "chunk_text", "split_paragraphs", "split_sentences"]


def _words(text: str) -> frozenset[str]:
    """A set from one space-separated string, so long word tables stay readable."""
    return frozenset(text.split())


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")
_WHITESPACE = re.compile(r"\s+")

# A candidate sentence end: Western terminators (with any closing quotes or brackets) before whitespace or the end,
# or CJK terminators, which need no space after them.
_CLOSERS = "\"'”’»)\\]」』）"
_BOUNDARY = re.compile(rf"(?P<term>[.!?…]+)[{_CLOSERS}]*(?=\s|$)|[。！？]+[{_CLOSERS}]*")
_LAST_TOKEN = re.compile(r"(\S+)$")
_NEXT_WORD = re.compile(r"\s*[\"'“‘(\[]*(\w+)")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")

# Abbreviations whose period never ends a sentence: they stand before something (a name, a number, an example).
_NEVER_ENDS = _words(
    "mr mrs ms dr prof st mt capt sgt lt gov sen rep no nos fig figs vol ch pp p vs cf approx e.g i.e viz ca c"
)
# Abbreviations that often stand mid-sentence but may also end one ("... in the U.S. The next day ...").
_MAY_END = _words(
    "u.s u.k u.n e.u a.m p.m inc ltd corp co jr sr etc al ave blvd rd dept "
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun"
)
# After a _MAY_END abbreviation, a capitalized word starts a new sentence only if it is a typical sentence opener;
# otherwise it is more likely a name ("U.S. Army").
_SENTENCE_OPENERS = _words(
    "the a an he she it they we i you this that these those there here but and so then in on at after before when "
    "while if his her its their our my your as however meanwhile what who why how where yes no one some many most "
    "all each every for to with by from later today tomorrow yesterday now still also although because since once "
    "finally first next"
)
_CJK_LANGUAGES = frozenset({"ja", "zh", "ko"})
_UNSPACED_LANGUAGES = frozenset({"ja", "zh"})

# Clause boundaries for an overlong sentence: after ; : , and dashes when whitespace follows; CJK commas need none.
_CLAUSE_BREAK = re.compile(r"(?<=[;:,—–])\s+|(?<=[，、；：])\s*")


def _base_language(language: str) -> str:
    """'en-US' -> 'en', 'zh_Hans' -> 'zh'."""
    return language.strip().replace("-", "_").split("_")[0].lower()


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines, each with its whitespace collapsed (hard line wraps become spaces)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in (_collapse(part) for part in _BLANK_LINE.split(text)) if p]


def _is_sentence_end(paragraph: str, start: int, match: re.Match[str]) -> bool:
    """Decide whether the terminator found by `match` ends the sentence that began at `start`."""
    if match.group("term") is None:
        return True  # CJK terminator
    next_word_match = _NEXT_WORD.match(paragraph, match.end())
    next_word = next_word_match.group(1) if next_word_match else ""
    if next_word[:1].islower():
        return False  # "Wait... what?", "e.g. apples", "Really?! he said" - the sentence goes on
    term = match.group("term")
    if term != ".":
        return True  # "?", "!", "?!", "..." before a capital or the end
    if not next_word:
        return True
    # Only the last few characters matter; a window keeps long unsplit runs ("Dr. Dr. Dr. ...") linear.
    token_match = _LAST_TOKEN.search(paragraph, max(start, match.start() - 40), match.start())
    token = token_match.group(1).lstrip("\"'“‘([") if token_match else ""
    key = token.lower()
    if key in _NEVER_ENDS and not token.isupper():  # "p. 5" is a page, "Plan P." is not
        return False
    if key in _MAY_END or _DOTTED.fullmatch(token) or (len(token) == 1 and token.isupper()):
        # Initials ("J. K. Rowling"), dotted acronyms and the like end a sentence only before a typical opener.
        return next_word.lower() in _SENTENCE_OPENERS or (key == "etc" and next_word[:1].isupper())
    return True


def _sentences_in(paragraph: str, language: str) -> Iterable[str]:
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        # A CJK terminator inside non-CJK text ends a sentence only before whitespace or at the very end.
        glued = match.end() < len(paragraph) and not paragraph[match.end()].isspace()
        if match.group("term") is None and language not in _CJK_LANGUAGES and glued:
            continue
        if _is_sentence_end(paragraph, start, match):
            sentence = paragraph[start : match.end()].strip()
            if sentence:
                yield sentence
            start = match.end()
    rest = paragraph[start:].strip()
    if rest:
        yield rest


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Sentences of `text`, in order, whitespace collapsed; a paragraph break always ends a sentence.

    Knows English abbreviations (Dr., Mr., e.g., U.S., No. ...), decimals ("2.3"), ellipses, "?!" runs, closing
    quotes and brackets after the terminator, and the CJK terminators 。！？ (which need no space after them).
    """
    base = _base_language(language)
    return [sentence for paragraph in split_paragraphs(text) for sentence in _sentences_in(paragraph, base)]


def _hard_split(word: str, max_chars: int) -> list[str]:
    return [word[i : i + max_chars] for i in range(0, len(word), max_chars)]


def _pack(pieces: Iterable[str], max_chars: int, joiner: str = " ") -> list[str]:
    """Greedily join consecutive pieces with `joiner` while the result fits in `max_chars`."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= max_chars:
            current = f"{current}{joiner}{piece}"
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_words(text: str, max_chars: int) -> list[str]:
    words: list[str] = []
    for word in text.split():
        words.extend(_hard_split(word, max_chars) if len(word) > max_chars else [word])
    return _pack(words, max_chars)


def _split_long_sentence(sentence: str, max_chars: int, joiner: str) -> list[str]:
    """Pieces of at most `max_chars`: at clause boundaries first, then at spaces, then inside an overlong word."""
    pieces: list[str] = []
    for clause in (c.strip() for c in _CLAUSE_BREAK.split(sentence)):
        if not clause:
            continue
        pieces.extend([clause] if len(clause) <= max_chars else _split_words(clause, max_chars))
    return _pack(pieces, max_chars, joiner)


def chunk_text(text: str, max_chars: int, language: str = "en") -> list[str]:
    """Chunks of at most `max_chars` characters made of whole consecutive sentences, never spanning paragraphs.

    A sentence longer than `max_chars` is split at clause boundaries (; : , — –), then at spaces, and a single
    word longer than `max_chars` is cut hard. Joining the chunks with spaces gives back the words of the text.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}; use the longest chunk the engine accepts")
    # Chinese and Japanese do not put spaces between sentences, so their pieces are joined without one.
    joiner = "" if _base_language(language) in _UNSPACED_LANGUAGES else " "
    chunks: list[str] = []
    for paragraph in split_paragraphs(text):
        pieces: list[str] = []
        for sentence in split_sentences(paragraph, language):
            if len(sentence) <= max_chars:
                pieces.append(sentence)
            else:
                pieces.extend(_split_long_sentence(sentence, max_chars, joiner))
        chunks.extend(_pack(pieces, max_chars, joiner))
    return chunks


def call_pieces(text: str, max_chars: int, language: str = "en") -> Iterator[str]:
    """`text` in pieces of at most `max_chars` for an engine that takes no more in one call: the text itself when it
    fits, else whole paragraphs packed together (kept apart by a blank line), a paragraph too long for one call cut
    into whole sentences by `chunk_text`. Lazy, so a long text is cut as it is spoken."""
    if len(text) <= max_chars:
        yield text
        return
    current: list[str] = []
    size = 0
    for paragraph in split_paragraphs(text):
        if current and size + 2 + len(paragraph) > max_chars:
            yield "\n\n".join(current)
            current, size = [], 0
        if len(paragraph) > max_chars:  # chunk_text packs its sentences up to the limit: each is one call
            yield from chunk_text(paragraph, max_chars, language)
            continue
        size += (2 if current else 0) + len(paragraph)
        current.append(paragraph)
    if current:
        yield "\n\n".join(current)
