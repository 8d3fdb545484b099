"""One text path from what a user typed to what an engine hears: clean, check, pick the language, respell, normalize.

Synthesize (`synthesis.Synthesizer.prepare`), books (`book.identity`) and the benchmarks all go through these
functions, so a sentence is spoken in the language it was normalized in, whichever way it came in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from studio.errors import InvalidInput
from studio.text.charset import has_speech, strip_controls

__all__ = [
    "Respelling",
    "clean_input",
    "language_family",
    "resolve_language",
    "respell",
    "speech_problem",
    "spoken_text",
]


class Respelling(Protocol):
    """A pronunciation rule (a book's lexicon entry): rewrites the text before normalization."""

    def apply(self, text: str) -> str: ...


def clean_input(text: str | None) -> str:
    """Escape codes pasted from a terminal are never read aloud; outer whitespace goes."""
    return strip_controls(text or "").strip()


def speech_problem(text: str) -> str | None:
    """Why `text` (cleaned) cannot be spoken: 'empty', 'no speech' (no letters or digits), or None when it can."""
    if not text.strip():
        return "empty"
    if not has_speech(text):
        return "no speech"
    return None


def language_family(code: str | None) -> str:
    """'en-us' / 'en_US' / 'en' -> 'en' (text normalization rules are per language family)."""
    return (code or "en").replace("_", "-").split("-")[0].lower()


def resolve_language(
    requested: str | None, languages: Sequence[str], default: str, *, strict: bool = True, label: str = "The engine"
) -> str:
    """The language the engine speaks, and so the one the text is normalized in.

    Nothing asked: the engine's default. Strict (a language the user picked): it must be one the engine speaks.
    Lenient (a book's own language): the same code, else one of the same family ('en' -> 'en-us'), else the
    engine's default."""
    if not requested:
        return default
    if requested in languages:
        return requested
    if strict:
        raise InvalidInput(f"{label} does not speak '{requested}'. Choose one of: {', '.join(languages)}.")
    family = language_family(requested)
    return next((code for code in languages if language_family(code) == family), default)


def spoken_text(text: str, language: str, normalize: bool = True, respellings: Iterable[Respelling] = (),
                events: bool = True) -> str:  # fmt: skip
    """Respellings first (a lexicon), then numbers, dates and abbreviations as words in the language's family:
    exactly what the engine receives. Event tags ("[laughter]") stay as written where the engine performs them
    (`events`), else they are removed (`text.events`)."""
    from studio.text.events import between_tags, strip_events
    from studio.text.normalize import normalize_text

    if not events:
        text = strip_events(text)[0]
    text = respell(text, respellings)
    if not normalize:
        return text
    family = language_family(language)
    return between_tags(text, lambda part: normalize_text(part, family))


def respell(text: str, respellings: Iterable[Respelling]) -> str:
    """The lexicon step alone (a book keeps its result's fingerprint to know which chunks a new rule touches); it
    never rewrites an event tag."""
    from studio.text.events import between_tags

    rules = list(respellings)
    if not rules:
        return text

    def apply(part: str) -> str:
        for rule in rules:
            part = rule.apply(part)
        return part

    return between_tags(text, apply)
