"""Non-verbal event tags in text ("Oh [laughter] no"): the vocabulary, and keeping them whole through the text path.

An engine that performs events (`EngineInfo.supports_events`: smalltts) receives them as written; for the others they
are removed before normalization, with a note. A bracketed word that is no event ("[1]", "[sic]") is ordinary text.
The lexicon and the normalizer work on the words between tags, so a rule never rewrites a tag."""

from __future__ import annotations

import re
from collections.abc import Callable

# the 23 sound events smalltts was trained on (its sound-event-detection labels), in its token order
EVENTS = (
    "babble", "boo", "burp", "chant", "cheer", "cough", "cry", "gargle", "gasp", "groan", "grunt", "hiccup", "hum",
    "laughter", "moan", "shout", "sigh", "sing", "sneeze", "sniff", "snore", "whisper", "whistle",
)  # fmt: skip
# the ones offered as buttons where text is written (the rest can be typed)
COMMON = ("laughter", "sigh", "gasp", "cough", "sniff", "groan", "whisper", "cry")
TAG = re.compile(r"\[(\w+)\]")


def is_event(label: str) -> bool:
    return label.lower() in EVENTS


def tag(label: str) -> str:
    return f"[{label.lower()}]"


def events_in(text: str) -> list[str]:
    """The known event tags in `text`, lower-cased, in order."""
    return [m.group(1).lower() for m in TAG.finditer(text or "") if is_event(m.group(1))]


def strip_events(text: str) -> tuple[str, list[str]]:
    """`text` without its known event tags (spaces closed up), and the tags removed."""
    removed: list[str] = []

    def drop(match: re.Match[str]) -> str:
        if not is_event(match.group(1)):
            return match.group(0)
        removed.append(match.group(1).lower())
        return " "

    stripped = TAG.sub(drop, text)
    if not removed:
        return text, []
    stripped = re.sub(r"[ \t]{2,}", " ", stripped)
    stripped = re.sub(r" +([,.;:!?])", r"\1", stripped)
    return "\n".join(line.strip() for line in stripped.split("\n")).strip(), removed


def between_tags(text: str, change: Callable[[str], str]) -> str:
    """`change` applied to each stretch of text between known event tags (its outer spaces kept); the tags stay
    exactly as written, lower-cased."""
    if not any(is_event(m.group(1)) for m in TAG.finditer(text)):
        return change(text)

    def changed(part: str) -> str:
        core = part.strip()
        if not core:
            return part
        lead, trail = part[: len(part) - len(part.lstrip())], part[len(part.rstrip()) :]
        return lead + change(core) + trail

    pieces: list[str] = []
    last = 0
    for match in TAG.finditer(text):
        if is_event(match.group(1)):
            pieces += [changed(text[last : match.start()]), tag(match.group(1))]
            last = match.end()
    pieces.append(changed(text[last:]))
    return "".join(pieces)


def removed_note(removed: list[str], label: str) -> str:
    names = ", ".join(dict.fromkeys(tag(r) for r in removed))
    return f"{label} does not perform event tags; removed {names} (smalltts performs them)."
