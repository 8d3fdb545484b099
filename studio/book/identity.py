"""What every chunk of a book job will say: spoken text, voice and cache key, computed once and stored with the job.

The job's `identity/` folder is derived from plan.json, settings.json and the engine's facts (model version,
languages). It is recomputed only where its inputs changed (a chunk's text, the lexicon, the settings, the model
version), rewritten only for the chapters that changed, and written by one function, `store`; the renderer, the UI,
export and the CLI all read it instead of recomputing.
A job made before it existed gets it on first use (`current`), with the same keys, so its finished chunks are kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.book.plan import BookPlan, cache_key
from studio.errors import InvalidInput
from studio.fsutil import write_atomic
from studio.text.prepare import language_family, resolve_language, respell, spoken_text

if TYPE_CHECKING:
    from studio.book.job import BookJob, RenderSettings
    from studio.engines.registry import Registry

IDENTITY_DIR, IDENTITY_FILE = "identity", "book.json"
IDENTITY_VERSION = 1
_INPUTS = ("plan.json", "settings.json")  # the job files the identity is derived from


@dataclass(frozen=True)
class EngineFacts:
    """What a chunk's identity needs from its engine, read without loading a model."""

    engine: str
    model_version: str
    languages: tuple[str, ...]
    default_language: str
    label: str = ""
    events: bool = False  # the engine performs event tags ("[laughter]"); for the others they are removed


def engine_facts(registry: Registry, engine: str) -> EngineFacts:
    """The one source of a book's model version (the registry's description of the engine, as the UI, export and
    renderer all see it; the renderer warns when the model it loads reports another)."""
    info = registry.info(engine)
    return EngineFacts(engine, info.model_version, tuple(info.languages), info.default_language, info.label,
                       info.supports_events)  # fmt: skip


@dataclass(frozen=True)
class ChunkIdentity:
    """One chunk as the engine will get it. `respelled` fingerprints the text after the lexicon (so a new rule
    re-normalizes only the chunks it changes)."""

    id: str
    chapter: int
    text: str
    role: str
    respelled: str
    spoken: str
    voice: str
    key: str

    def row(self) -> list[Any]:
        return [self.id, self.chapter, self.text, self.role, self.respelled, self.spoken, self.voice, self.key]

    def stored(self) -> list[Any]:
        """As stored: the spoken text is left out (null) where it is the chunk's text unchanged."""
        spoken = None if self.spoken == self.text else self.spoken
        return [self.id, self.chapter, self.text, self.role, self.respelled, spoken, self.voice, self.key]

    @classmethod
    def parse(cls, row: list[Any]) -> ChunkIdentity:
        text = str(row[2])
        spoken = text if row[5] is None else str(row[5])
        return cls(str(row[0]), int(row[1]), text, str(row[3]), str(row[4]), spoken, str(row[6]), str(row[7]))


@dataclass
class BookIdentity:
    """Every chunk's identity in plan order, and what they were computed from."""

    engine: str
    model_version: str
    language: str  # the language the engine speaks and the text is normalized in
    normalize: bool
    lexicon: list[list[Any]]
    key_params: dict[str, Any]
    voices: list[str | None]  # narrator, dialogue
    chunks: list[ChunkIdentity] = field(default_factory=list)
    inputs: dict[str, list[int]] = field(default_factory=dict)  # stamps of plan.json and settings.json
    version: int = IDENTITY_VERSION
    complete: bool = True  # False: some chapters' stored files were missing or damaged (they are computed again)
    _by_id: dict[str, ChunkIdentity] = field(default_factory=dict, repr=False, compare=False)

    def basis(self) -> str:
        """A fingerprint of everything the chunks were computed from, besides their own text and role."""
        inputs = [self.version, self.engine, self.model_version, self.language, self.normalize, self.lexicon,
                  self.key_params, self.voices]  # fmt: skip
        return _fingerprint(json.dumps(inputs, sort_keys=True, ensure_ascii=False))

    def by_chapter(self) -> dict[int, list[ChunkIdentity]]:
        out: dict[int, list[ChunkIdentity]] = {}
        for chunk in self.chunks:
            out.setdefault(chunk.chapter, []).append(chunk)
        return out

    def chunk(self, chunk_id: str) -> ChunkIdentity:
        if not self._by_id:
            self._by_id = {c.id: c for c in self.chunks}
        try:
            return self._by_id[chunk_id]
        except KeyError:
            raise InvalidInput(f"There is no chunk {chunk_id!r} in this book.") from None

    @property
    def text_language(self) -> str:
        """The language the book's text is written in (the job's setting, else the book's): what checks read."""
        return str(self.key_params.get("language") or self.language)

    def keys(self) -> dict[str, str]:
        """chunk id -> cache key."""
        return {c.id: c.key for c in self.chunks}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "engine": self.engine,
            "model_version": self.model_version,
            "language": self.language,
            "normalize": self.normalize,
            "lexicon": self.lexicon,
            "key_params": self.key_params,
            "voices": self.voices,
            "inputs": self.inputs,
            "fields": ["id", "chapter", "text", "role", "respelled", "spoken", "voice", "key"],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BookIdentity:
        return cls(
            engine=str(data["engine"]),
            model_version=str(data["model_version"]),
            language=str(data["language"]),
            normalize=bool(data["normalize"]),
            lexicon=list(data["lexicon"]),
            key_params=dict(data["key_params"]),
            voices=list(data["voices"]),
            chunks=[ChunkIdentity.parse(r) for r in data.get("chunks", [])],
            inputs={k: list(v) for k, v in data.get("inputs", {}).items()},
            version=int(data["version"]),
        )


def _fingerprint(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _voice(role: str, settings: RenderSettings) -> str:
    return settings.dialogue_voice if role == "dialogue" and settings.dialogue_voice else settings.voice


def compute(
    plan: BookPlan, settings: RenderSettings, facts: EngineFacts, previous: BookIdentity | None = None
) -> BookIdentity:
    """Every chunk's identity; what `previous` already holds for unchanged inputs is reused, so one edited chunk
    costs one normalization, and a new lexicon rule re-normalizes only the chunks whose text it changes.

    Every lexicon rule runs on every chunk (each within its time limit) when the lexicon changed: a rule too slow on
    this book is refused here, with its name, before anything is saved."""
    requested = settings.language or plan.language
    # a language the user set must be one the engine speaks (checked when settings are saved); the book's own is a
    # hint: the engine speaks it, or one of its family, or its default. The text is normalized in that same language.
    language = resolve_language(requested, facts.languages, facts.default_language, strict=False)
    lexicon = [[e.pattern, e.replacement, e.regex] for e in plan.lexicon if e.pattern]
    rules = [e for e in plan.lexicon if e.pattern]
    # the key's language is the requested one, as before this file existed: old jobs keep their finished chunks
    params: dict[str, Any] = {"speed": settings.speed, "steps": settings.steps, "language": requested}
    if settings.instruct:  # only when given: the chunks of a book without instructions keep their keys
        params["instruct"] = settings.instruct
    voices: list[str | None] = [settings.voice, settings.dialogue_voice]
    ident = BookIdentity(facts.engine, facts.model_version, language, settings.normalize, lexicon, params, voices)
    old = {c.id: c for c in previous.chunks} if previous is not None and previous.version == IDENTITY_VERSION else {}
    same_lexicon = previous is not None and previous.lexicon == lexicon
    same_speech = (
        previous is not None
        and previous.normalize == settings.normalize
        and (not settings.normalize or language_family(previous.language) == language_family(language))
        and previous.engine == facts.engine  # another engine may perform event tags this one removes
    )
    same_key = previous is not None and (
        previous.engine,
        previous.model_version,
        previous.key_params,
        previous.voices,
    ) == (facts.engine, facts.model_version, params, voices)
    for chapter in plan.chapters:
        for chunk in chapter.chunks:
            before = old.get(chunk.id)
            unchanged = before is not None and (before.text, before.role) == (chunk.text, chunk.role)
            if before is not None and unchanged and same_lexicon and same_speech and same_key:
                ident.chunks.append(before if before.chapter == chapter.index else
                                    ChunkIdentity(chunk.id, chapter.index, *before.row()[2:]))  # fmt: skip
                continue
            respelled_text = respell(chunk.text, rules) if rules else chunk.text
            respelled = _fingerprint(respelled_text)
            if before is not None and before.respelled == respelled and same_speech:
                spoken = before.spoken
            else:
                spoken = spoken_text(respelled_text, language, settings.normalize, events=facts.events)
            voice = _voice(chunk.role, settings)
            key = cache_key(facts.engine, facts.model_version, voice, params, spoken)
            ident.chunks.append(ChunkIdentity(chunk.id, chapter.index, chunk.text, chunk.role, respelled, spoken,
                                              voice, key))  # fmt: skip
    return ident


# --- stored with the job --------------------------------------------------------------------------------------------
# identity/book.json holds what every chunk was computed from and the stamps of plan.json and settings.json;
# identity/<chapter>.json holds that chapter's chunks, tagged with the basis they were computed on. An edit rewrites
# the files of the chapters it changed, then book.json last: a reader that finds a chapter file of another basis (a
# write cut short) computes that chapter again.
_CACHE: OrderedDict[Path, tuple[tuple[int, int], BookIdentity]] = OrderedDict()  # parsed identities, by stamp
_CACHE_SIZE = 8
_LOCK = threading.Lock()


def _stamp(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError:
        return [0, 0]
    return [st.st_size, st.st_mtime_ns]


def input_stamps(folder: Path) -> dict[str, list[int]]:
    return {name: _stamp(folder / name) for name in _INPUTS}


def _chapter_file(folder: Path, index: int) -> Path:
    return folder / IDENTITY_DIR / f"{index:03d}.json"


def load(folder: Path) -> BookIdentity | None:
    """The stored identity (parsed once per change, then from memory), or None if there is none or its header is
    damaged (it is derived data: it is computed again). Chapters whose file is missing, damaged or of another basis
    are left out, and the identity is marked incomplete."""
    path = folder / IDENTITY_DIR / IDENTITY_FILE
    stamp = tuple(_stamp(path))
    if stamp == (0, 0):
        return None
    with _LOCK:
        hit = _CACHE.get(path)
        if hit is not None and hit[0] == stamp:
            _CACHE.move_to_end(path)
            return hit[1]
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
        ident = BookIdentity.from_dict(header)
        chapters = [int(i) for i in header["chapters"]]
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    basis = ident.basis()
    for index in chapters:
        try:
            data = json.loads(_chapter_file(folder, index).read_text(encoding="utf-8"))
            if data["basis"] != basis:
                raise ValueError("computed on another basis")
            ident.chunks.extend(ChunkIdentity.parse(row) for row in data["chunks"])
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            ident.complete = False
    _remember(path, (stamp[0], stamp[1]), ident)
    return ident


def _remember(path: Path, stamp: tuple[int, int], ident: BookIdentity) -> None:
    with _LOCK:
        _CACHE[path] = (stamp, ident)
        _CACHE.move_to_end(path)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def store(job: BookJob, ident: BookIdentity, previous: BookIdentity | None = None) -> BookIdentity:
    """The one writer of a job's identity. Writes the chapters that differ from `previous` (what is on disk), then
    the header, stamped with the plan and settings files it was computed from (they are written before it), so a
    reader can tell it is current with a few stat calls."""
    ident.inputs = input_stamps(job.folder)
    basis = ident.basis()
    on_disk = previous.by_chapter() if previous is not None and previous.complete and previous.basis() == basis else {}
    for index, rows in ident.by_chapter().items():
        if on_disk.get(index) != rows:
            data = {"basis": basis, "chunks": [c.stored() for c in rows]}
            write_atomic(_chapter_file(job.folder, index), json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    header = {**ident.to_dict(), "chapters": list(ident.by_chapter())}
    path = job.folder / IDENTITY_DIR / IDENTITY_FILE
    write_atomic(path, json.dumps(header, ensure_ascii=False, separators=(",", ":")))
    st = _stamp(path)
    _remember(path, (st[0], st[1]), ident)
    return ident


def current(job: BookJob, facts_for: Any, plan: BookPlan | None = None, settings: RenderSettings | None = None,
            check_facts: bool = True) -> BookIdentity:  # fmt: skip
    """The job's identity, brought up to date (and stored) when its plan, settings or engine facts changed since it
    was computed; the stored one as it is otherwise. `facts_for(engine)` gives the engine's facts (only called when
    `check_facts`, or when something must be computed)."""
    stored = load(job.folder)
    fresh_files = stored is not None and stored.complete and stored.inputs == input_stamps(job.folder)
    if fresh_files and not check_facts:
        assert stored is not None
        return stored
    settings = settings or job.settings()
    facts: EngineFacts = facts_for(settings.engine)
    if fresh_files and stored is not None and _same_facts(stored, facts, settings):
        return stored
    return store(job, compute(plan or job.plan(), settings, facts, stored), stored)


def _same_facts(ident: BookIdentity, facts: EngineFacts, settings: RenderSettings) -> bool:
    if (ident.engine, ident.model_version) != (facts.engine, facts.model_version):
        return False
    requested = ident.key_params.get("language")
    language = resolve_language(requested, facts.languages, facts.default_language, strict=False)
    return language == ident.language and ident.normalize == settings.normalize
