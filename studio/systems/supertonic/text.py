"""Supertonic text front end: the reference preprocessing, the unicode indexer, and safe unknown-character handling."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput, ModelMissing
from studio.text.charset import describe_char

log = logging.getLogger(__name__)

V2_LANGUAGES: tuple[str, ...] = ("en", "ko", "es", "pt", "fr")
# Supertonic 3: 31 languages plus `na`, the language-agnostic tag (upstream reference AVAILABLE_LANGS, same order).
V3_LANGUAGES: tuple[str, ...] = (
    "en", "ko", "ja", "ar", "bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "hi", "hr", "hu",
    "id", "it", "lt", "lv", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "vi", "na",
)  # fmt: skip
SHORT_CHUNK_LANGUAGES = frozenset({"ko", "ja"})  # dense scripts: the reference chunks them at 120 characters
MAX_CHUNK_CHARS = 300
MAX_CHUNK_CHARS_SHORT = 120

# The reference removes these pictographic ranges outright (emoji, dingbats, flags).
_EMOJI = re.compile(
    "[\U0001f600-\U0001f64f\U0001f300-\U0001f5ff\U0001f680-\U0001f6ff\U0001f700-\U0001f77f\U0001f780-\U0001f7ff"
    "\U0001f800-\U0001f8ff\U0001f900-\U0001f9ff\U0001fa00-\U0001fa6f\U0001fa70-\U0001faff\u2600-\u26ff\u2700-\u27bf"
    "\U0001f1e6-\U0001f1ff]+"
)
# Applied in this order, like the reference (dict order matters: "@" before "e.g.,").
_CHAR_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    ("–", "-"), ("‑", "-"), ("—", "-"), ("_", " "), ("\u201c", '"'), ("\u201d", '"'), ("\u2018", "'"),
    ("\u2019", "'"), ("´", "'"), ("`", "'"), ("[", " "), ("]", " "), ("|", " "), ("/", " "), ("#", " "),
    ("→", " "), ("←", " "),
)  # fmt: skip
_REMOVED_SYMBOLS = re.compile(r"[♥☆♡©\\]")
_EXPRESSIONS: tuple[tuple[str, str], ...] = (("@", " at "), ("e.g.,", "for example, "), ("i.e.,", "that is, "))
_SPACE_BEFORE = tuple((re.compile(" " + re.escape(p)), p) for p in (",", ".", "!", "?", ";", ":", "'"))
_ENDS_CLOSED = re.compile(r"[.!?;:,'\"')\]}…。」』】〉》›»]$")
_WHITESPACE = re.compile(r"\s+")

# Studio's own fallbacks for characters an indexer lacks (the reference would feed -1 to the model instead).
_FALLBACKS: dict[str, str] = {
    "«": '"', "»": '"', "„": '"', "‟": '"', "〝": '"', "〞": '"', "‹": "'", "›": "'", "‚": "'", "‛": "'",
    "‐": "-", "‒": "-", "―": "-", "−": "-", "⁃": "-", "•": ",", "·": ",",
}  # fmt: skip


@dataclass(frozen=True)
class Preprocessed:
    """One text after preprocessing: the string fed to the indexer and what was changed on the way."""

    text: str
    dropped: tuple[str, ...] = ()
    replaced: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # warnings carried over from neighbouring text (e.g. a chunk with nothing to say)

    @property
    def body(self) -> str:
        """The text between the <lang> tags."""
        return self.text[self.text.index(">") + 1 : self.text.rindex("</")]

    @property
    def warnings(self) -> tuple[str, ...]:
        out = list(self.notes)
        if self.dropped:
            shown = ", ".join(describe_char(c) for c in self.dropped[:8])
            more = f" and {len(self.dropped) - 8} more" if len(self.dropped) > 8 else ""
            out.append(f"Supertonic cannot read {shown}{more}; removed from the text.")
        if self.replaced:
            pairs = ", ".join(f"{describe_char(a)} -> {b!r}" for a, b in self.replaced[:8])
            out.append(f"Supertonic has no symbol for {pairs}; replaced.")
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for a batch: text_ids int64 [B, T], text_mask float32 [B, 1, T], and per-item details."""

    text_ids: NDArray[np.int64]
    text_mask: NDArray[np.float32]
    items: tuple[Preprocessed, ...]

    @property
    def lengths(self) -> NDArray[np.int64]:
        return np.asarray([len(p.text) for p in self.items], dtype=np.int64)


def length_to_mask(lengths: NDArray[np.int64], max_len: int | None = None) -> NDArray[np.float32]:
    """Lengths [B] -> float mask [B, 1, max_len] with ones on the valid positions."""
    lengths = np.asarray(lengths, dtype=np.int64)
    width = int(max_len if max_len is not None else (lengths.max() if lengths.size else 0))
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.float32)
    return mask.reshape(len(lengths), 1, width)


def chunk_limit(language: str) -> int:
    """Characters per synthesis chunk, as the reference: 120 for Korean and Japanese, 300 otherwise."""
    return MAX_CHUNK_CHARS_SHORT if language in SHORT_CHUNK_LANGUAGES else MAX_CHUNK_CHARS


class TextProcessor:
    """Text -> text ids with a Supertonic unicode indexer (a list: code point -> id, -1 where unknown)."""

    def __init__(self, indexer: Sequence[int] | NDArray[np.int64], languages: Sequence[str]) -> None:
        self.indexer = np.asarray(indexer, dtype=np.int64)
        if self.indexer.ndim != 1 or self.indexer.size == 0:
            raise ModelMissing("unicode_indexer.json must be a flat list of ids; download the model again.")
        self.languages = tuple(languages)

    @classmethod
    def from_file(cls, path: Path, languages: Sequence[str]) -> TextProcessor:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelMissing(f"Supertonic text indexer not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise ModelMissing(f"'{path.name}' is not a valid unicode indexer ({exc}); download it again.") from exc
        if not isinstance(data, list):
            raise ModelMissing(f"'{path.name}' is not a valid unicode indexer (expected a JSON list).")
        return cls(data, languages)

    def known(self, ch: str) -> bool:
        cp = ord(ch)
        # The reference packs code points into uint16, so anything above U+FFFF can never have an id.
        return cp < len(self.indexer) and cp <= 0xFFFF and self.indexer[cp] >= 0

    def check_language(self, language: str) -> None:
        if language not in self.languages:
            known = ", ".join(self.languages)
            raise InvalidInput(f"Language '{language}' is not supported by this model. Choose one of: {known}.")

    def preprocess(self, text: str, language: str) -> Preprocessed:
        """The reference normalization, plus dropping/replacing what the indexer cannot map (with a record of it)."""
        self.check_language(language)
        text = unicodedata.normalize("NFKD", text)
        dropped: dict[str, None] = dict.fromkeys(ch for m in _EMOJI.finditer(text) for ch in m.group())
        text = _EMOJI.sub("", text)
        for old, new in _CHAR_REPLACEMENTS:
            text = text.replace(old, new)
        text = _REMOVED_SYMBOLS.sub("", text)
        for old, new in _EXPRESSIONS:
            text = text.replace(old, new)
        text, more_dropped, replaced = self._sanitize(text)
        dropped.update(dict.fromkeys(more_dropped))
        for pattern, punct in _SPACE_BEFORE:
            text = pattern.sub(punct, text)
        for double, single in (('""', '"'), ("''", "'"), ("``", "`")):
            while double in text:
                text = text.replace(double, single)
        text = _WHITESPACE.sub(" ", text).strip()
        if not _ENDS_CLOSED.search(text):
            text += "."
        return Preprocessed(f"<{language}>{text}</{language}>", tuple(dropped), tuple(replaced))

    def _sanitize(self, text: str) -> tuple[str, list[str], list[tuple[str, str]]]:
        """Drop or replace characters without an id; whitespace is left to the later collapse step."""
        out: list[str] = []
        dropped: list[str] = []
        replaced: dict[tuple[str, str], None] = {}
        for ch in text:
            if ch.isspace() or self.known(ch):
                out.append(ch)
                continue
            sub = _FALLBACKS.get(ch)
            if sub is not None and all(self.known(c) for c in sub):
                out.append(sub)
                replaced.setdefault((ch, sub), None)
                continue
            if ch not in dropped:
                dropped.append(ch)
            # a dropped letter between two others keeps a word boundary; a dropped combining mark does not
            out.append("" if unicodedata.combining(ch) else " ")
        return "".join(out), dropped, list(replaced)

    def ids(self, text: str) -> NDArray[np.int64]:
        """Ids of an already preprocessed string (every character must be known)."""
        ids = self.indexer[np.fromiter((ord(c) for c in text), dtype=np.int64, count=len(text))]
        if (ids < 0).any():  # cannot happen after preprocess(); guards direct callers
            bad = sorted({c for c in text if not self.known(c)})
            raise InvalidInput(f"Unknown characters for this model: {', '.join(describe_char(c) for c in bad)}")
        return ids

    def encode(self, texts: Sequence[str], language: str) -> EncodedBatch:
        """Texts of one language -> padded text ids [B, T] (0 after each end, like the reference) and the mask."""
        return self.encode_items([self.preprocess(t, language) for t in texts])

    def encode_items(self, preprocessed: Sequence[Preprocessed]) -> EncodedBatch:
        """Already preprocessed texts -> text ids and mask."""
        items = tuple(preprocessed)
        for item in items:
            for warning in item.warnings:
                log.debug(warning)
        lengths = np.asarray([len(p.text) for p in items], dtype=np.int64)
        text_ids = np.zeros((len(items), int(lengths.max()) if len(items) else 0), dtype=np.int64)
        for i, item in enumerate(items):
            text_ids[i, : len(item.text)] = self.ids(item.text)
        return EncodedBatch(text_ids, length_to_mask(lengths), items)
