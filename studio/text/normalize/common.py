"""Text normalization: pieces the rules share (word sets, the context a rule looks at around a match)."""

from __future__ import annotations

import re


def word_set(text: str) -> frozenset[str]:
    """A set from one space-separated string, so long word tables stay readable."""
    return frozenset(text.split())


# How far around a match a rule looks for context (the previous or next word).
CONTEXT = 80
SENTENCE_START = re.compile(r"(?:^|[.!?]['\")\]]*\s+)$")
NEXT_CAPITALIZED = re.compile(r"\s+[A-Z]")
# Abbreviations may follow digits ("20vs."): later rules split those apart, so they must be caught here too.
WORD_START = r"(?<![^\W\d_])"
