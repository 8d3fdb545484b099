"""The render plan: chapters cut into engine-sized chunks, a pronunciation lexicon, optional dialogue voice."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from studio.book.model import Book, Figure
from studio.errors import InvalidInput
from studio.text.chunking import chunk_text, split_paragraphs

PLAN_VERSION = 1
CHARS_PER_SECOND = 15.0  # typical narration pace at speed 1.0, for duration estimates before anything renders
NARRATOR, DIALOGUE = "narrator", "dialogue"

# Dialogue: text between straight or curly double quotes (single quotes are too often apostrophes).
_QUOTED = re.compile(r"(\"[^\"]+\"|“[^”]+”)")


RULE_SECONDS = 0.5  # longest one rule may take on one chunk: a rule that needs longer is refused, never run on


@dataclass
class LexiconEntry:
    """Say `pattern` as `replacement`; whole words, case-insensitive, unless `regex` is set.

    User patterns run on the `regex` package with a time limit: a rule that backtracks catastrophically stops with a
    message naming it instead of freezing the server."""

    pattern: str
    replacement: str
    regex: bool = False

    @property
    def rule(self) -> str:
        return f"{'/' + self.pattern + '/' if self.regex else self.pattern} = {self.replacement}"

    def compiled(self) -> Any:
        return _compiled(self.pattern, self.replacement, self.regex)

    def apply(self, text: str) -> str:
        # a plain word rule says its replacement literally; a /regex/ rule's may refer to groups (\1, \g<name>)
        template: Any = self.replacement if self.regex else (lambda _match: self.replacement)
        try:
            return str(self.compiled().sub(template, text, timeout=RULE_SECONDS))
        except TimeoutError as exc:
            raise InvalidInput(
                f"The lexicon rule “{self.rule}” takes too long (over {RULE_SECONDS:g} s on one chunk): its pattern "
                "backtracks on this text. Simplify it (avoid nested repeats such as (a+)+)."
            ) from exc
        except (regex.error, re.error, IndexError) as exc:
            raise InvalidInput(f"The lexicon rule “{self.rule}” has a bad replacement: {exc}.") from exc


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, replacement: str, is_regex: bool) -> Any:
    """A rule's pattern, compiled and (for /regex/ rules) checked with its replacement once per process."""
    try:
        if is_regex:
            compiled = regex.compile(pattern)
        else:
            compiled = regex.compile(rf"(?<!\w){regex.escape(pattern)}(?!\w)", regex.IGNORECASE)
    except (regex.error, re.error, OverflowError, RecursionError) as exc:
        raise InvalidInput(f"Lexicon pattern {pattern!r} is not a valid regular expression: {exc}.") from exc
    if is_regex:
        _check_template(LexiconEntry(pattern, replacement, True), compiled)
    return compiled


def _check_template(entry: LexiconEntry, compiled: Any) -> None:
    """The replacement's group references (\\1, \\g<name>) and escapes, checked now rather than at the first match:
    Python's own parser checks a template eagerly against a pattern with the same groups."""
    names = {index: name for name, index in compiled.groupindex.items()}
    probe = "".join(f"(?P<{names[i]}>)" if i in names else "()" for i in range(1, compiled.groups + 1))
    try:
        re.compile(probe).sub(entry.replacement, "")
    except (re.error, IndexError) as exc:  # IndexError: an unknown group name
        raise InvalidInput(f"The lexicon rule “{entry.rule}” has a bad replacement: {exc}.") from exc


def apply_lexicon(text: str, lexicon: list[LexiconEntry]) -> str:
    for entry in lexicon:
        if entry.pattern:
            text = entry.apply(text)
    return text


def check_lexicon(lexicon: list[LexiconEntry], texts: Iterable[str]) -> None:
    """Run every rule on every text once (each within its time limit) before the lexicon is saved or used, so a
    rule that is too slow on this book is refused with its name, and nothing is saved."""
    for text in texts:
        apply_lexicon(text, lexicon)


def parse_lexicon(text: str) -> list[LexiconEntry]:
    """One rule per line: `word = replacement`, or `/regex/ = replacement`; '#' starts a comment."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise InvalidInput(f"Lexicon line {number} ({line!r}) needs the form: word = how to say it")
        left, right = (part.strip() for part in line.split("=", 1))
        is_regex = len(left) >= 2 and left.startswith("/") and left.endswith("/")
        entry = LexiconEntry(left[1:-1] if is_regex else left, right, is_regex)
        if not entry.pattern:
            raise InvalidInput(f"Lexicon line {number} has nothing to replace.")
        entry.compiled()  # validate now, not in the middle of a render
        entries.append(entry)
    return entries


def format_lexicon(entries: list[LexiconEntry]) -> str:
    return "\n".join(f"{'/' + e.pattern + '/' if e.regex else e.pattern} = {e.replacement}" for e in entries)


@dataclass
class PlanChunk:
    """One synthesis unit. `text` is editable; `paragraph_end` asks export for a longer pause after it."""

    id: str
    text: str
    role: str = NARRATOR
    paragraph_end: bool = False


@dataclass(frozen=True)
class PlanFigure:
    """A picture of the book (`name`, in the job's images folder) shown after the chunk `after` ("": before the
    chapter's first); never read aloud. Its place is a chunk, so editing the text never moves it."""

    after: str
    name: str
    alt: str = ""


@dataclass
class PlanChapter:
    index: int  # 1-based over all chapters, as the CLI numbers them
    title: str
    included: bool
    kind: str
    chunks: list[PlanChunk] = field(default_factory=list)
    figures: list[PlanFigure] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(c.text) for c in self.chunks)

    @property
    def estimated_seconds(self) -> float:
        return self.chars / CHARS_PER_SECOND


@dataclass
class BookPlan:
    title: str
    author: str
    language: str
    max_chars: int
    chapters: list[PlanChapter] = field(default_factory=list)
    lexicon: list[LexiconEntry] = field(default_factory=list)
    dialogue_voice: bool = False
    version: int = PLAN_VERSION

    def chapter(self, index: int) -> PlanChapter:
        for chapter in self.chapters:
            if chapter.index == index:
                return chapter
        raise InvalidInput(f"There is no chapter {index}; the book has chapters 1 to {len(self.chapters)}.")

    def selected(self, indices: list[int] | None = None) -> list[PlanChapter]:
        if indices is None:
            return [c for c in self.chapters if c.included]
        return [self.chapter(i) for i in indices]

    def to_dict(self) -> dict[str, Any]:
        """As asdict() would make it, without its deep copies (a whole book's plan is saved on every edit)."""
        return {
            "title": self.title,
            "author": self.author,
            "language": self.language,
            "max_chars": self.max_chars,
            "chapters": [
                {"index": c.index, "title": c.title, "included": c.included, "kind": c.kind,
                 "chunks": [{"id": k.id, "text": k.text, "role": k.role, "paragraph_end": k.paragraph_end}
                            for k in c.chunks],
                 **({"figures": [{"after": f.after, "name": f.name, "alt": f.alt} for f in c.figures]}
                    if c.figures else {})}
                for c in self.chapters
            ],
            "lexicon": [{"pattern": e.pattern, "replacement": e.replacement, "regex": e.regex} for e in self.lexicon],
            "dialogue_voice": self.dialogue_voice,
            "version": self.version,
        }  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """The CLI's `book plan` JSON."""
        return {
            "title": self.title,
            "author": self.author,
            "language": self.language,
            "chapters": [
                {
                    "index": c.index,
                    "title": c.title,
                    "included": c.included,
                    "chars": c.chars,
                    "estimated_seconds": round(c.estimated_seconds, 1),
                    "chunks": [{"id": k.id, "text": k.text, "role": k.role} for k in c.chunks],
                    # where the read-along EPUB 3 shows the chapter's pictures: after chunk `after` ("" = first)
                    "pictures": [{"after": f.after, "alt": f.alt} for f in c.figures],
                }
                for c in self.chapters
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BookPlan:
        chapters = [
            PlanChapter(
                c["index"],
                c["title"],
                c["included"],
                c.get("kind", "body"),
                [PlanChunk(**k) for k in c["chunks"]],
                [PlanFigure(str(f["after"]), str(f["name"]), str(f.get("alt", ""))) for f in c.get("figures", [])],
            )
            for c in data["chapters"]
        ]
        return cls(
            data["title"],
            data["author"],
            data["language"],
            data["max_chars"],
            chapters,
            [LexiconEntry(**e) for e in data.get("lexicon", [])],
            data.get("dialogue_voice", False),
            data.get("version", PLAN_VERSION),
        )

    def dumps(self) -> str:
        # one chapter per line: readable, and compact enough for the C encoder (indent= would take the slow one)
        data = self.to_dict()
        chapters = ",\n".join(json.dumps(c, ensure_ascii=False) for c in data.pop("chapters"))
        return f'{json.dumps(data, ensure_ascii=False)[:-1]}, "chapters": [\n{chapters}\n]}}\n'


def split_dialogue(paragraph: str) -> list[tuple[str, str]]:
    """[(text, role)] with quoted passages as dialogue and the rest as narration, in order."""
    parts = []
    for piece in _QUOTED.split(paragraph):
        piece = piece.strip()
        if piece:
            parts.append((piece, DIALOGUE if _QUOTED.fullmatch(piece) else NARRATOR))
    return parts


def plan_chapter_chunks(
    index: int, text: str, max_chars: int, language: str, dialogue_voice: bool = False
) -> list[PlanChunk]:
    """Sentence-aware chunks per paragraph (never across a paragraph), split by speaker role when asked."""
    chunks: list[PlanChunk] = []
    for paragraph in split_paragraphs(text):
        pieces = split_dialogue(paragraph) if dialogue_voice else [(paragraph, NARRATOR)]
        paragraph_chunks: list[PlanChunk] = []
        for piece, role in pieces:
            for chunk in chunk_text(piece, max_chars, language):
                paragraph_chunks.append(
                    PlanChunk(f"{index:03d}-{len(chunks) + len(paragraph_chunks) + 1:05d}", chunk, role)
                )
        if paragraph_chunks:
            paragraph_chunks[-1].paragraph_end = True
            chunks.extend(paragraph_chunks)
    return chunks


def figure_places(figures: Sequence[Figure], chunks: Sequence[PlanChunk]) -> list[PlanFigure]:
    """The chapter's pictures placed after the chunk that ends the paragraph they followed (each paragraph's last
    chunk has `paragraph_end`); after the last chunk when the text has fewer paragraphs."""
    ends = [c.id for c in chunks if c.paragraph_end]
    out = []
    for figure in figures:
        after = "" if figure.after <= 0 or not chunks else (ends[figure.after - 1] if figure.after <= len(ends)
                                                             else chunks[-1].id)  # fmt: skip
        out.append(PlanFigure(after, figure.name, figure.alt))
    return out


def make_plan(
    book: Book, max_chars: int, dialogue_voice: bool = False, lexicon: list[LexiconEntry] | None = None
) -> BookPlan:
    """Cut every chapter into chunks of at most `max_chars` (the engine's comfortable size)."""
    if max_chars < 20:
        raise InvalidInput(f"Chunks of {max_chars} characters are too small; use at least 20.")
    chapters = []
    for i, ch in enumerate(book.chapters, 1):
        chunks = plan_chapter_chunks(i, ch.text, max_chars, book.language, dialogue_voice)
        chapters.append(PlanChapter(i, ch.title, ch.included, ch.kind, chunks, figure_places(ch.figures, chunks)))
    chapters = [c for c in chapters if c.chunks]
    if not chapters:
        raise InvalidInput("The book has no text to read.")
    return BookPlan(book.title, book.author, book.language, max_chars, chapters, list(lexicon or []), dialogue_voice)


def parse_chapter_selection(spec: str, count: int) -> list[int]:
    """'2,4-6' -> [2, 4, 5, 6]; numbers are the plan's 1-based chapter indices."""
    out: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match:
            raise InvalidInput(f"Chapter selection {spec!r}: use numbers and ranges like 2,4-6.")
        lo = int(match.group(1))
        hi = int(match.group(2) or lo)
        if lo < 1 or hi > count or lo > hi:
            raise InvalidInput(f"Chapter selection {part!r} is outside 1-{count}.")
        out.extend(i for i in range(lo, hi + 1) if i not in out)
    if not out:
        raise InvalidInput("The chapter selection is empty.")
    return out


def cache_key(engine: str, model_version: str, voice: str, params: dict[str, Any], text: str) -> str:
    """Same inputs, same key: a finished chunk is reused; one changed sentence renders only its chunk again."""
    payload = json.dumps([engine, model_version, voice, params, text], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
