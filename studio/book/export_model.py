"""What an export is: its settings, the chapters and tags that go in, the results that come out, and its errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from studio.book.model import Book
from studio.errors import InvalidInput, StudioError
from studio.text.subtitles import WordTime

FORMATS = ("m4b", "mp3", "wav", "flac", "epub3", "srt", "vtt")
AUDIO_FORMATS = ("m4b", "mp3", "wav", "flac")
# formats written from the book's timeline (where each sentence is said): read-along EPUB 3 and subtitles
TIMED_FORMATS = frozenset({"epub3", "srt", "vtt"})
LOSSY = frozenset({"m4b", "mp3", "epub3"})
# the file name's extension where it is not the format's name
EXTENSIONS = {"epub3": "epub"}

ProgressFn = Callable[[float, str], None]


class ExportFailed(StudioError):
    """An encoder or the file system failed during export; nothing was left half-written."""


class DiskFull(ExportFailed):
    """The disk filled up before or during export."""


@dataclass(frozen=True)
class ExportFigure:
    """A picture of a chapter (a JPEG, PNG or GIF file) shown after its chunk `after` (-1: before the first)."""

    after: int
    path: Path
    alt: str = ""


@dataclass
class ExportChapter:
    """One chapter to export: its title and rendered chunk files in reading order.

    `paragraph_breaks` holds the indices of chunks after which a paragraph ends (the longer pause follows them).
    For the timed formats: `chunk_texts`, each chunk's written text (what a reader sees), and `chunk_words`, the
    words speech recognition heard in each chunk with their times (None where the chunk was not checked);
    `figures`, the chapter's pictures between its paragraphs.
    """

    title: str
    chunk_files: list[Path]
    paragraph_breaks: list[int] = field(default_factory=list)
    chunk_texts: list[str] = field(default_factory=list)
    chunk_words: list[tuple[WordTime, ...] | None] = field(default_factory=list)
    figures: list[ExportFigure] = field(default_factory=list)  # shown in the read-along EPUB 3, never read


@dataclass(frozen=True)
class ExportSettings:
    """What to write and how it should sound. Gaps are in seconds; levels in dBFS."""

    formats: tuple[str, ...] = ("m4b",)
    target_rms_db: float = -20.0  # speech RMS, silences gated out (audiobook platforms ask for -23 to -18)
    peak_db: float = -3.0  # no decoded sample above this
    # Lossy decoders overshoot the input's sample peaks (inter-sample peaks, quantization ringing): aim this much
    # lower when M4B or MP3 is among the formats, so the decoded file still respects peak_db.
    codec_headroom_db: float = 1.0
    sentence_gap: float = 0.25  # between chunks
    paragraph_gap: float = 0.6  # after a chunk listed in paragraph_breaks
    chapter_gap: float = 1.5  # lead-out silence at the end of every chapter
    aac_bitrate: str = "64k"
    mp3_bitrate: str = "128k"
    epub_bitrate: str = "64k"  # the read-along EPUB's chapter MP3s (speech; keeps the package small)
    subtitle_words: bool = False  # subtitles: one cue per word where speech recognition timed the words
    sample_rate: int | None = None  # None: the first chunk's rate; chunks at other rates are resampled to it

    def validate(self) -> None:
        if not self.formats:
            raise InvalidInput(f"No export format chosen; pick one or more of {', '.join(FORMATS)}.")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise InvalidInput(f"Unknown export format {unknown[0]!r}; use one of {', '.join(FORMATS)}.")
        for name in ("sentence_gap", "paragraph_gap", "chapter_gap"):
            value = getattr(self, name)
            if not 0.0 <= value <= 30.0:
                raise InvalidInput(f"{name.replace('_', ' ').capitalize()} is {value} s; use 0 to 30 seconds.")
        if not -40.0 <= self.target_rms_db <= -6.0:
            raise InvalidInput(f"Target loudness {self.target_rms_db} dB is out of range; use -40 to -6 dB RMS.")
        if not -20.0 <= self.peak_db <= 0.0:
            raise InvalidInput(f"Peak limit {self.peak_db} dBFS is out of range; use -20 to 0 dBFS.")
        if not 0.0 <= self.codec_headroom_db <= 6.0:
            raise InvalidInput(f"Codec headroom {self.codec_headroom_db} dB is out of range; use 0 to 6 dB.")
        for name in ("aac_bitrate", "mp3_bitrate", "epub_bitrate"):
            value = getattr(self, name)
            if not re.fullmatch(r"\d{2,3}k", value) or not 16 <= int(value[:-1]) <= 320:
                raise InvalidInput(f"{name.replace('_', ' ').upper()} {value!r} is not valid; use 16k to 320k.")
        if self.sample_rate is not None and not 8000 <= self.sample_rate <= 192000:
            raise InvalidInput(f"Sample rate {self.sample_rate} Hz is out of range; use 8000 to 192000 or keep it.")

    @property
    def ceiling_db(self) -> float:
        """Sample-peak ceiling the gain and limiter aim for."""
        return self.peak_db - (self.codec_headroom_db if LOSSY & set(self.formats) else 0.0)


@dataclass(frozen=True)
class BookMeta:
    """Tags written into the files; `cover` is image bytes (JPEG or PNG are embedded as is, others converted)."""

    title: str
    author: str = ""
    language: str = "en"
    cover: bytes | None = None
    cover_mime: str = ""
    genre: str = "Audiobook"

    @classmethod
    def from_book(cls, book: Book) -> BookMeta:
        return cls(book.title, book.author, book.language, book.cover, book.cover_mime)


@dataclass(frozen=True)
class ChapterResult:
    """Where a chapter sits in the book (seconds) and its loudness before and after the chapter's gain."""

    index: int
    title: str
    start: float
    duration: float  # including the chapter gap that ends it
    input_rms_db: float | None
    input_peak_db: float
    gain_db: float
    limited: bool
    rms_db: float | None  # measured on the samples sent to the encoders
    peak_db: float
    note: str = ""


@dataclass
class ExportResult:
    """Files written per format (MP3: one per chapter), chapter positions, loudness, and notes for the user."""

    files: dict[str, list[Path]]
    chapters: list[ChapterResult]
    duration: float
    sample_rate: int
    warnings: list[str] = field(default_factory=list)
