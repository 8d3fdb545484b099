"""Characters a speech engine cannot say: find them, drop them, and name them in a warning."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# Unicode categories that carry no speech: symbols such as emoji (So), surrogates, private use, unassigned, controls.
_SILENT_CATEGORIES = {"So", "Cs", "Co", "Cn", "Cc", "Cf"}
_KEEP_CONTROLS = {"\n", "\t", "\r"}


# terminal escape sequences (colours, cursor moves) pasted from a console: CSI "ESC [ ... letter", OSC "ESC ] ... BEL"
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_controls(text: str) -> str:
    """Text as typed or pasted, without terminal escape codes and invisible control characters (tabs and line
    breaks become spaces where they separate words)."""
    text = _ANSI.sub("", text)
    out = []
    for ch in text:
        kind = unicodedata.category(ch)
        if ch == "\n":
            out.append(ch)
        elif kind == "Cc":  # a control between words separates them (tabs, NUL, bells)
            out.append(" ")
        elif kind != "Cf":  # format characters (zero-width joiners, soft hyphens) sit inside words
            out.append(ch)
    return "".join(out)


MAX_NAME = 80


def clean_name(name: object, what: str = "voice") -> str:
    """A name a user gives (voice, dataset, run): control codes out, spaces collapsed, 1 to MAX_NAME characters.
    Refuses with a message naming `what` ("voice", "dataset", "run")."""
    from studio.errors import InvalidInput

    cleaned = " ".join(strip_controls(name if isinstance(name, str) else "").split())
    if not cleaned:
        raise InvalidInput(f"Give the {what} a name.")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"The {what} name has {len(cleaned)} characters; use at most {MAX_NAME}.")
    return cleaned


def has_speech(text: str) -> bool:
    """At least one letter or digit: symbols, emoji, punctuation and invisible characters alone say nothing."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def describe_char(ch: str) -> str:
    """'😀 (U+1F600 GRINNING FACE)' style label for a warning."""
    name = unicodedata.name(ch, "unnamed character")
    return f"{ch!s} (U+{ord(ch):04X} {name})" if ch.isprintable() else f"U+{ord(ch):04X} {name}"


def drop_chars(text: str, speakable: Callable[[str], bool]) -> tuple[str, list[str]]:
    """Remove characters for which `speakable` is false; return the cleaned text and the distinct removed ones."""
    kept: list[str] = []
    dropped: dict[str, None] = {}
    for ch in text:
        if ch in _KEEP_CONTROLS or speakable(ch):
            kept.append(ch)
        else:
            dropped.setdefault(ch, None)
            kept.append(" ")  # keep word boundaries: "a😀b" must not become "ab"
    cleaned = " ".join("".join(kept).split(" "))
    return cleaned, list(dropped)


def is_generally_speakable(ch: str) -> bool:
    """Letters, digits, punctuation and spaces: what a phonemizer can turn into sound or prosody."""
    return unicodedata.category(ch) not in _SILENT_CATEGORIES


def dropped_warning(dropped: list[str], engine_label: str) -> str:
    shown = ", ".join(describe_char(c) for c in dropped[:8])
    more = f" and {len(dropped) - 8} more" if len(dropped) > 8 else ""
    return f"{engine_label} cannot speak {shown}{more}; removed from the text."
