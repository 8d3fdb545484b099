"""A book render job as a folder: plan, settings, status and every finished chunk, written atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.book.model import Book
from studio.book.plan import BookPlan
from studio.book.qa import DEFAULT_THRESHOLD, DEFAULT_TRIES
from studio.errors import InvalidInput
from studio.fsutil import write_atomic

PLAN_FILE, SETTINGS_FILE, STATUS_FILE, LOCK_FILE = "plan.json", "settings.json", "status.json", "render.lock"


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class RenderSettings:
    """How a job renders: engine, voices, knobs, checking and export formats."""

    engine: str = "piper"
    voice: str = "joe"
    dialogue_voice: str | None = None
    language: str | None = None
    speed: float | None = None
    steps: int | None = None
    # how to speak, in words ("calm, warm narration"), for an engine that takes instructions (Qwen3-TTS 1.7B
    # CustomVoice); part of every chunk's cache key, so new instructions render the book again. None: none
    instruct: str | None = None
    gpu: bool = False
    normalize: bool = True
    qa: bool = True
    qa_threshold: float = DEFAULT_THRESHOLD
    qa_tries: int = DEFAULT_TRIES
    formats: tuple[str, ...] = ("m4b",)  # any of m4b, mp3, wav, flac, epub3 (read-along), srt, vtt (subtitles)
    subtitle_words: bool = False  # subtitles: a cue per word where the checks timed the words
    chapters: list[int] | None = None  # None: the plan's included chapters
    sentence_gap: float | None = None  # seconds of silence between chunks in the export; None: `book_sentence_gap`
    paragraph_gap: float = 0.6
    chapter_gap: float = 1.5

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "formats" in values:
            values["formats"] = tuple(values["formats"])
        return cls(**values)


@dataclass
class ChunkRecord:
    """What is on disk for one finished chunk (chunks/<key>.json beside chunks/<key>.wav)."""

    key: str
    chunk_id: str
    spoken_text: str
    seconds: float
    tries: int = 1
    checked: bool = False
    wer: float | None = None
    # how far the transcript sounded from the text (phoneme error rate), kept where the words missed the threshold: a
    # chunk whose words were heard another way but sound right is not flagged
    sounds: float | None = None
    transcript: str = ""
    flagged: bool = False
    rendered_at: float = field(default_factory=time.time)
    seed: int | None = None  # the take's seed when one was asked for (a regenerated chunk): the same take again
    accepted: bool = False  # a person listened to this take and kept it as it is (it was flagged; it is no more)
    # the checker's word timings for this take: [word as heard, start, end], seconds within the chunk's audio (records
    # written before they were kept, and unchecked chunks, have none)
    words: list[list[Any]] = field(default_factory=list)


class BookJob:
    """Open or create a job folder; everything the render and the UI need is read from and written to it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.chunks_dir = folder / "chunks"
        self.out_dir = folder / "out"

    # --- creation and loading -------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        jobs_dir: Path,
        book: Book,
        plan: BookPlan,
        settings: RenderSettings,
        source_name: str = "",
        job_id: str | None = None,
        source_hash: str = "",
    ) -> BookJob:
        job = cls(jobs_dir / (job_id or new_job_id(book.title)))
        job.folder.mkdir(parents=True, exist_ok=True)
        job.chunks_dir.mkdir(exist_ok=True)
        if book.cover:
            write_atomic(job.folder / "cover.bin", book.cover)
        if book.images:  # the pictures the read-along EPUB 3 shows between the paragraphs
            job.images_dir.mkdir(exist_ok=True)
            for name, data in book.images.items():
                write_atomic(job.images_dir / name, data)
        write_json(
            job.folder / "book.json",
            {
                "title": book.title,
                "author": book.author,
                "language": book.language,
                "cover_mime": book.cover_mime,
                "source": source_name,
                "source_sha256": source_hash,  # the uploaded file's: the same book imported again is found by it
                "warnings": book.warnings,
                "created": time.time(),
            },
        )
        job.save_plan(plan)
        job.save_settings(settings)
        if not (job.folder / STATUS_FILE).exists():
            job.write_status(state="planned", message="Planned; nothing rendered yet.")
        return job

    @classmethod
    def open(cls, folder: Path) -> BookJob:
        job = cls(folder)
        if not (folder / PLAN_FILE).is_file():
            raise InvalidInput(f"{folder} is not a Studio book job (no {PLAN_FILE}).")
        return job

    @property
    def id(self) -> str:
        return self.folder.name

    def _read(self, name: str, parse: Any = None) -> Any:
        """A job file, checked: a damaged or hostile one is an InvalidInput naming it (never a crash in a listing)."""
        try:
            data = read_json(self.folder / name)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return parse(data) if parse is not None else data
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidInput(f"This book job's {name} is damaged ({str(exc)[:120]}); import the book again, or "
                               f"restore {self.folder / name}.") from exc  # fmt: skip

    def meta(self) -> dict[str, Any]:
        data: dict[str, Any] = self._read("book.json")
        return data

    @property
    def images_dir(self) -> Path:
        """The book's pictures (`Book.images`), by name; `PlanChapter.figures` say where they stand."""
        return self.folder / "images"

    def cover(self) -> bytes | None:
        path = self.folder / "cover.bin"
        return path.read_bytes() if path.is_file() else None

    def plan(self) -> BookPlan:
        plan: BookPlan = self._read(PLAN_FILE, BookPlan.from_dict)
        return plan

    def save_plan(self, plan: BookPlan) -> None:
        write_atomic(self.folder / PLAN_FILE, plan.dumps())

    def settings(self) -> RenderSettings:
        settings: RenderSettings = self._read(SETTINGS_FILE, RenderSettings.from_dict)
        return settings

    def save_settings(self, settings: RenderSettings) -> None:
        write_json(self.folder / SETTINGS_FILE, asdict(settings))

    def status(self) -> dict[str, Any]:
        """The job's status; a damaged status.json reads as a job that was interrupted (its chunks are on disk)."""
        if not (self.folder / STATUS_FILE).is_file():
            return {"state": "planned"}
        try:
            status = self._read(STATUS_FILE)
        except InvalidInput as exc:
            return {"state": "interrupted", "error": str(exc), "message": "Its status file was damaged."}
        for key in ("state", "message", "error"):
            if key in status and not isinstance(status[key], str):
                status[key] = str(status[key])
        for key in ("done", "total"):
            value = status.get(key, 0)
            status[key] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
        return dict(status)

    def write_status(self, **values: Any) -> None:
        status = self.status() if (self.folder / STATUS_FILE).is_file() else {}
        status.update(values, updated=time.time())
        write_json(self.folder / STATUS_FILE, status)

    # --- where a chunk's audio lives (what it says is stored in identity/: studio/book/identity.py) ----------
    def audio_path(self, key: str) -> Path:
        return self.chunks_dir / f"{key}.wav"

    def record(self, key: str) -> ChunkRecord | None:
        path = self.chunks_dir / f"{key}.json"
        if not path.is_file() or not self.audio_path(key).is_file():
            return None
        try:
            return ChunkRecord(**read_json(path))
        except (ValueError, TypeError):
            return None  # a damaged record: the chunk renders again

    def save_chunk(self, key: str, samples: NDArray[np.float32], sample_rate: int, record: ChunkRecord) -> None:
        """Audio first, then its record: a record always points at complete audio."""
        import soundfile as sf

        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".wav", dir=self.chunks_dir)
        os.close(fd)
        try:
            sf.write(tmp, samples, sample_rate, subtype="PCM_16")
            os.replace(tmp, self.audio_path(key))
        finally:
            Path(tmp).unlink(missing_ok=True)
        self.save_record(record)

    def save_record(self, record: ChunkRecord) -> None:
        write_json(self.chunks_dir / f"{record.key}.json", asdict(record))
        _RECORDS.forget(self.chunks_dir, record.key)

    def records(self) -> dict[str, ChunkRecord]:
        """Every finished chunk's record by cache key. Kept in memory per process and brought up to date from the
        folder's listing only when the folder changed, reading just the records that are new or were rewritten: a
        UI poll during a render costs what the render changed since the last poll, not the whole book."""
        return _RECORDS.records(self)

    def clean_temp(self) -> int:
        """Remove temp files a killed render left behind (they were never renamed into place, so never used)."""
        removed = 0
        for path in self.chunks_dir.glob(".*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def delete(self) -> None:
        shutil.rmtree(self.folder)


@dataclass
class _Listing:
    """One chunks folder as last seen: its mtime, whether that mtime can be trusted, and the records read."""

    dir_mtime: int = -1
    trusted: bool = False
    records: dict[str, tuple[int, ChunkRecord]] = field(default_factory=dict)  # key -> (inode, record)


class _RecordIndex:
    """The records of the chunks folders this process looks at. A record is written by renaming a temp file into
    the folder (write_atomic), which changes the folder's mtime: an unchanged mtime means nothing changed, unless it
    is so recent that another write may share its clock tick (then the folder is listed again)."""

    SIZE = 8
    RECENT_NS = 100_000_000

    def __init__(self) -> None:
        self._folders: dict[Path, _Listing] = {}
        self._lock = threading.Lock()

    def forget(self, folder: Path, key: str) -> None:
        with self._lock:
            listing = self._folders.get(folder)
            if listing is not None:
                listing.records.pop(key, None)
                listing.trusted = False

    def records(self, job: BookJob) -> dict[str, ChunkRecord]:
        folder = job.chunks_dir
        with self._lock:
            listing = self._folders.pop(folder, None) or _Listing()
            self._folders[folder] = listing  # most recently used last
            while len(self._folders) > self.SIZE:
                self._folders.pop(next(iter(self._folders)))
            try:
                mtime = folder.stat().st_mtime_ns
            except OSError:
                listing.records.clear()
                listing.dir_mtime = -1
                return {}
            if not (listing.trusted and mtime == listing.dir_mtime):
                now = time.time_ns()
                self._update(job, listing)
                listing.dir_mtime = mtime
                listing.trusted = now - mtime > self.RECENT_NS
            return {key: record for key, (_stamp, record) in listing.records.items()}

    @staticmethod
    def _update(job: BookJob, listing: _Listing) -> None:
        """List the folder (names and inode numbers: no stat per file on Linux) and read the records that are new or
        were renamed in since (a rewrite is a new file, so a new inode); this process's own writes are forgotten by
        save_record, so they are read again whatever their inode."""
        with os.scandir(job.chunks_dir) as entries:
            inodes = {entry.name: entry.inode() for entry in entries}
        known = listing.records
        for key in [k for k in known if f"{k}.json" not in inodes or f"{k}.wav" not in inodes]:
            del known[key]
        for name, inode in inodes.items():
            if not name.endswith(".json") or name.startswith("."):
                continue
            key = name[:-5]
            if f"{key}.wav" not in inodes:
                continue
            had = known.get(key)
            if had is not None and had[0] == inode:
                continue
            record = job.record(key)
            if record is not None:
                known[key] = (inode, record)


_RECORDS = _RecordIndex()


def new_job_id(title: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in title.lower())[:32].strip("-") or "book"
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{uuid.uuid4().hex[:6]}"


def file_hash(path: Path) -> str:
    """SHA-256 of a file, read in blocks (a book of any size)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_jobs(jobs_dir: Path) -> list[BookJob]:
    """Every job folder, newest first."""
    if not jobs_dir.is_dir():
        return []
    jobs = [BookJob(p) for p in jobs_dir.iterdir() if (p / PLAN_FILE).is_file()]
    return sorted(jobs, key=lambda j: j.folder.stat().st_mtime, reverse=True)
