"""Export a rendered book: loudness per chapter, silences, and M4B/MP3/WAV/FLAC streamed through ffmpeg."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import resample, to_float32
from studio.audio.io import ffmpeg_exe
from studio.audio.loudness import GainPlan, GatedRmsMeter, Loudness, plan_gain, soft_limit
from studio.book.model import Book
from studio.clock import clock
from studio.errors import Cancelled, InvalidInput, StudioError
from studio.fsutil import write_atomic

log = logging.getLogger(__name__)

FORMATS = ("m4b", "mp3", "wav", "flac")
LOSSY = frozenset({"m4b", "mp3"})
# Frames per block read from a chunk and piped to the encoders: ~1.5 s at 44.1 kHz, a few hundred KB per block.
BLOCK_FRAMES = 65536
# A RIFF/WAVE file stores its sizes in 32 bits. Switch to RF64 (EBU Tech 3306, read by ffmpeg, sox, Audacity and
# libsndfile) a little before 4 GiB, leaving room for the header and the INFO tags.
WAV_LIMIT_BYTES = int(3.9 * 2**30)
_MIB = 2**20
# Share of progress for the measuring pass (a plain read) versus the encoding pass (read, gain, encode).
_MEASURE_SHARE = 0.25

ProgressFn = Callable[[float, str], None]


class ExportFailed(StudioError):
    """An encoder or the file system failed during export; nothing was left half-written."""


class DiskFull(ExportFailed):
    """The disk filled up before or during export."""


@dataclass
class ExportChapter:
    """One chapter to export: its title and rendered chunk files in reading order.

    `paragraph_breaks` holds the indices of chunks after which a paragraph ends (the longer pause follows them).
    """

    title: str
    chunk_files: list[Path]
    paragraph_breaks: list[int] = field(default_factory=list)


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
        for name in ("aac_bitrate", "mp3_bitrate"):
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


# ---------------------------------------------------------------------------------------------------- pure helpers


def wav_container(frames: int, channels: int = 1, bytes_per_sample: int = 2) -> str:
    """'WAV' while the data fits a classic RIFF file, 'RF64' beyond ~3.9 GiB (its 32-bit sizes would overflow)."""
    return "RF64" if frames * channels * bytes_per_sample > WAV_LIMIT_BYTES else "WAV"


_FFMETA_SPECIAL = re.compile(r"([=;#\\\n])")


def ffmetadata_escape(value: str) -> str:
    """Escape a value for an FFMETADATA1 file: '=', ';', '#', '\\' and newlines get a backslash before them.

    ffmpeg's reader takes any line break right after a backslash as escaped, even after an escaped backslash, so a
    value ending in a backslash would swallow the next line (a title taking the tags below it): its trailing
    backslashes are written as U+FF3C (＼), which looks the same. Global tags avoid this altogether: they are passed
    on ffmpeg's command line (`_tag_args`)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    stripped = value.rstrip("\\")
    value = stripped + "\uff3c" * (len(value) - len(stripped))
    return _FFMETA_SPECIAL.sub(r"\\\1", value)


def ffmetadata_unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_filename(name: str, fallback: str = "Untitled", max_bytes: int = 120) -> str:
    """A file name that is valid on Windows, macOS and Linux: 'Chapter 1: A/B?*' -> 'Chapter 1 - A-B'."""
    text = unicodedata.normalize("NFC", name)
    text = text.replace(":", " - ").replace("/", "-").replace("\\", "-")
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)  # controls, newlines, tabs
    text = re.sub(r'[<>"|?*]', "", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(?: - ){2,}", " - ", text).strip(" .-")
    # 255 bytes is the usual limit per name; keep room for "NN - " and the suffix, never cut a UTF-8 sequence
    encoded = text.encode("utf-8")[:max_bytes]
    text = encoded.decode("utf-8", errors="ignore").rstrip(" .-")
    if not text or text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"{fallback} {text}".strip() if text else fallback
    return text


_ISO639_2 = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "sv": "swe",
             "da": "dan", "no": "nor", "fi": "fin", "pl": "pol", "cs": "ces", "ru": "rus", "uk": "ukr", "tr": "tur",
             "ja": "jpn", "zh": "zho", "ko": "kor", "ar": "ara", "hi": "hin", "el": "ell", "hu": "hun"}  # fmt: skip


def _language_tag(language: str) -> str | None:
    code = language.lower().split("-")[0].split("_")[0]
    if len(code) == 3 and code.isalpha():
        return code
    return _ISO639_2.get(code)


# ----------------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Chunk:
    path: Path
    frames: int  # at the output rate
    source_rate: int
    gap_after: int  # frames of silence that follow


@dataclass(frozen=True)
class _ChapterPlan:
    index: int
    title: str
    chunks: tuple[_Chunk, ...]
    start: int  # frame of the book
    frames: int  # including every gap and the lead-out

    @property
    def speech_frames(self) -> int:
        return sum(c.frames for c in self.chunks)


def _plan(chapters: Sequence[ExportChapter], settings: ExportSettings) -> tuple[list[_ChapterPlan], int]:
    """Read every chunk's header (no audio) and lay out the whole timeline, so chapter marks are known upfront."""
    if not chapters:
        raise InvalidInput("There is nothing to export: the book has no chapters with rendered audio.")
    import soundfile as sf

    infos: list[list[tuple[Path, int, int]]] = []
    for ch in chapters:
        if not ch.chunk_files:
            raise InvalidInput(f"Chapter '{ch.title}' has no rendered audio; render it or leave it out of the export.")
        rows = []
        for p in ch.chunk_files:
            path = Path(p)
            try:
                info = sf.info(str(path))
            except Exception as exc:  # missing or corrupt chunk: the message names it, rendering again fixes it
                raise InvalidInput(
                    f"Chunk '{path}' of chapter '{ch.title}' cannot be read ({exc}). Render the chapter again."
                ) from None
            rows.append((path, int(info.frames), int(info.samplerate)))
        infos.append(rows)
    rate = settings.sample_rate or infos[0][0][2]
    gaps = {k: round(getattr(settings, k) * rate) for k in ("sentence_gap", "paragraph_gap", "chapter_gap")}
    plans: list[_ChapterPlan] = []
    start = 0
    for index, (ch, rows) in enumerate(zip(chapters, infos, strict=True)):
        breaks = set(ch.paragraph_breaks)
        chunks = []
        for i, (path, frames, src_rate) in enumerate(rows):
            if src_rate != rate:  # resample_poly's output length: ceil(frames * up / down)
                g = math.gcd(src_rate, rate)
                frames = -(-frames * (rate // g) // (src_rate // g))
            last = i == len(rows) - 1
            gap = gaps["chapter_gap"] if last else gaps["paragraph_gap" if i in breaks else "sentence_gap"]
            chunks.append(_Chunk(path, frames, src_rate, gap))
        total = sum(c.frames + c.gap_after for c in chunks)
        plans.append(_ChapterPlan(index, ch.title.strip() or f"Chapter {index + 1}", tuple(chunks), start, total))
        start += total
    return plans, rate


def _estimate_bytes(fmt: str, frames: int, rate: int, chapters: int, settings: ExportSettings, cover: int) -> int:
    """Rough output size, used to refuse early when the disk cannot hold it and to say how much to free."""
    seconds = frames / rate
    if fmt == "wav":
        return frames * 2 + 4096
    if fmt == "flac":
        return frames + 4096 + cover  # speech at 16 bit compresses to about half
    if fmt == "m4b":
        return int(seconds * int(settings.aac_bitrate[:-1]) * 125 * 1.05) + cover + 65536
    return int(seconds * int(settings.mp3_bitrate[:-1]) * 125 * 1.02) + chapters * (cover + 4096)


# ------------------------------------------------------------------------------------------------- audio streaming


def _chunk_blocks(chunk: _Chunk, rate: int) -> Iterator[NDArray[np.float32]]:
    """Yield a chunk as mono float32 blocks at `rate`, exactly `chunk.frames` long in total."""
    import soundfile as sf

    def raw() -> Iterator[NDArray[np.float32]]:
        if chunk.source_rate == rate:  # stream: a chunk file is never loaded whole
            with sf.SoundFile(str(chunk.path)) as f:
                for block in f.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
                    yield to_float32(block.mean(axis=1))
        else:  # resampling needs the whole chunk; chunks are sentences (seconds), so this stays small
            data, src = sf.read(str(chunk.path), dtype="float32", always_2d=True)
            samples = resample(to_float32(data.mean(axis=1)), int(src), rate)
            for i in range(0, len(samples), BLOCK_FRAMES):
                yield samples[i : i + BLOCK_FRAMES]

    left = chunk.frames
    for block in raw():  # headers can disagree with the data: hold the planned length so chapter marks stay true
        if left <= 0:
            break
        block = block[:left]
        left -= len(block)
        yield block
    if left > 0:
        yield np.zeros(left, dtype=np.float32)


class _Encoder:
    """One ffmpeg process fed raw float32 mono PCM on stdin, writing one output file (no shell, no temp WAV)."""

    def __init__(
        self, label: str, output: Path, rate: int, inputs: list[str], out_args: list[str], book_wide: bool
    ) -> None:
        self.label = label  # the final file name, for messages
        self.output = output
        self.book_wide = book_wide
        pcm_in = ["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", *pcm_in, *inputs, *out_args]
        cmd.append(str(output))
        log.debug("ffmpeg: %s", cmd)
        # stderr goes to a file, not a pipe: a pipe nobody reads could fill up and stall ffmpeg (and us with it)
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish/kill/_failure)
        # LC_ALL=C keeps ffmpeg's error texts in English, so "No space left on device" can be recognized
        env = {**os.environ, "LC_ALL": "C"}
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env
        )

    def write(self, pcm: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(pcm)
        except (BrokenPipeError, OSError) as exc:  # ffmpeg exited early (disk full, bad option...): report why
            if isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.EINVAL):
                self._proc.wait()
                raise self._failure() from None
            raise

    def finish(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # a broken pipe here: the exit status below says what happened
            self._proc.stdin.close()
        if self._proc.wait() != 0 or not self.output.is_file():
            raise self._failure()
        self._stderr.close()

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        self._proc.wait()
        self._stderr.close()

    def _failure(self) -> _EncoderError:
        self._stderr.seek(0)
        text = self._stderr.read()[-2000:].decode(errors="replace").strip()
        self._stderr.close()
        return _EncoderError(self.label, self._proc.returncode, text)


class _EncoderError(Exception):
    def __init__(self, label: str, code: int | None, stderr: str) -> None:
        super().__init__(f"{label}: ffmpeg exited with {code}: {stderr}")
        self.label, self.code, self.stderr = label, code, stderr

    @property
    def disk_full(self) -> bool:
        # ffmpeg prints strerror(ENOSPC) and the negated errno; both appear in its last lines
        return "No space left on device" in self.stderr or f"error code: -{errno.ENOSPC}" in self.stderr


def _stage_path(work: Path, name: str) -> Path:
    """Where an encoder writes before the final rename (a seam for tests that point it at /dev/full)."""
    return work / name


# ---------------------------------------------------------------------------------------------------------- export


@dataclass
class _Context:
    plans: list[_ChapterPlan]
    rate: int
    meta: BookMeta
    settings: ExportSettings
    work: Path
    base: str
    metadata_file: Path
    cover: Path | None
    total_frames: int


def export_book(
    chapters: Sequence[ExportChapter],
    meta: BookMeta,
    out_dir: Path | str,
    settings: ExportSettings | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Normalize each chapter's loudness and write the chosen formats into `out_dir`, streaming chunk by chunk.

    Files appear only when every format finished: until then they live in a hidden work folder inside `out_dir`
    (same file system, so the final rename is atomic) that is removed on any failure or cancel. The chunk files
    are only read. Raises InvalidInput for unusable input, DiskFull/ExportFailed, or Cancelled.
    """
    settings = settings or ExportSettings()
    settings.validate()
    out = Path(out_dir)
    plans, rate = _plan(chapters, settings)
    total_frames = sum(p.frames for p in plans)
    formats = tuple(dict.fromkeys(settings.formats))
    cover_bytes = len(meta.cover or b"")
    estimate = sum(_estimate_bytes(f, total_frames, rate, len(plans), settings, cover_bytes) for f in formats)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, out.name, out, estimate) from None
    _check_free_space(out, estimate)

    progress = on_progress or (lambda fraction, message: None)
    warnings: list[str] = []
    base = safe_filename(meta.title, fallback="Audiobook")
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    encoders: list[_Encoder] = []
    failure: _EncoderError | OSError | None = None
    try:
        ctx = _Context(plans, rate, meta, settings, work, base, work / "chapters.ffmeta", None, total_frames)
        ctx.cover = _write_cover(meta, work, warnings)
        _write_ffmetadata(ctx)
        results = _run(ctx, formats, encoders, progress, cancel, warnings)
        files = _publish(_finish(encoders), out, base, warnings)
    except (_EncoderError, OSError) as exc:
        failure = exc
    finally:
        for enc in encoders:
            enc.kill()
        shutil.rmtree(work, ignore_errors=True)
    # translated only now, with the work folder gone, so the free space quoted to the user is what they really have
    if isinstance(failure, _EncoderError):
        if failure.disk_full or _nearly_full(out):
            raise _disk_full(failure.label, out, estimate)
        raise ExportFailed(
            f"Encoding '{failure.label}' failed (ffmpeg exit {failure.code}): {failure.stderr[-400:] or 'no message'}. "
            "The rendered chunks are kept; check the export settings and try again."
        )
    if failure is not None:
        raise _os_error(failure, f"{base}.{formats[0]}", out, estimate)
    progress(1.0, f"Exported {len(plans)} chapters ({clock(total_frames / rate)}) to {out}")
    log.info("exported %d chapters, %.1f s, formats %s, to %s", len(plans), total_frames / rate, formats, out)
    return ExportResult(files, results, total_frames / rate, rate, warnings)


def _run(
    ctx: _Context,
    formats: tuple[str, ...],
    encoders: list[_Encoder],
    progress: ProgressFn,
    cancel: threading.Event | None,
    warnings: list[str],
) -> list[ChapterResult]:
    """Both passes, chapter by chapter: measure, then gain, limit and feed every encoder."""
    book_encoders = [_book_encoder(ctx, fmt) for fmt in formats if fmt != "mp3"]
    encoders.extend(book_encoders)
    total = max(1, ctx.total_frames)
    done_measure = done_encode = 0
    results: list[ChapterResult] = []

    def report(message: str) -> None:
        progress(min(0.999, (_MEASURE_SHARE * done_measure + (1 - _MEASURE_SHARE) * done_encode) / total), message)

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("Export cancelled: no files were written; the rendered chunks are kept.")

    for plan in ctx.plans:
        where = f"chapter {plan.index + 1}/{len(ctx.plans)} '{plan.title}'"
        # pass 1: measure speech loudness and the sample peak
        meter = GatedRmsMeter(ctx.rate)
        for chunk in plan.chunks:
            check_cancel()
            for block in _chunk_blocks(chunk, ctx.rate):
                meter.add(block)
            done_measure += chunk.frames + chunk.gap_after
            report(f"Measuring loudness: {where}")
        loud = meter.result()
        gain = plan_gain(loud, ctx.settings.target_rms_db, ctx.settings.ceiling_db)
        if gain.note:
            warnings.append(f"Chapter {plan.index + 1} '{plan.title}': {gain.note}.")
        log.debug("%s: rms %s dB, peak %.1f dB -> %s", where, loud.rms_db, loud.peak_db, gain)

        # pass 2: one gain for the chapter, silences in between, every encoder fed the same blocks
        chapter_encoders = list(book_encoders)
        if "mp3" in formats:
            mp3 = _mp3_encoder(ctx, plan)
            encoders.append(mp3)
            chapter_encoders.append(mp3)
        out_meter = GatedRmsMeter(ctx.rate)
        for chunk in plan.chunks:
            check_cancel()
            for block in _chunk_blocks(chunk, ctx.rate):
                shaped = _apply_gain(block, gain)
                out_meter.add(shaped)
                _feed(chapter_encoders, shaped)
            _feed(chapter_encoders, np.zeros(chunk.gap_after, dtype=np.float32))
            done_encode += chunk.frames + chunk.gap_after
            report(f"Encoding {', '.join(formats)}: {where}")
        if "mp3" in formats:
            chapter_encoders[-1].finish()
        results.append(_chapter_result(plan, ctx.rate, loud, gain, out_meter.result()))
    return results


def _apply_gain(block: NDArray[np.float32], gain: GainPlan) -> NDArray[np.float32]:
    out = (block * np.float32(gain.gain)).astype(np.float32, copy=False)
    if gain.limit:
        out = soft_limit(out, gain.ceiling)
    return np.clip(out, -1.0, 1.0)


def _feed(encoders: list[_Encoder], block: NDArray[np.float32]) -> None:
    if not len(block):
        return
    pcm = block.astype("<f4", copy=False).tobytes()
    for enc in encoders:
        enc.write(pcm)


def _chapter_result(plan: _ChapterPlan, rate: int, before: Loudness, gain: GainPlan, after: Loudness) -> ChapterResult:
    return ChapterResult(
        index=plan.index,
        title=plan.title,
        start=plan.start / rate,
        duration=plan.frames / rate,
        input_rms_db=before.rms_db,
        input_peak_db=before.peak_db,
        gain_db=gain.gain_db,
        limited=gain.limit,
        rms_db=after.rms_db,
        peak_db=after.peak_db,
        note=gain.note,
    )


# ---------------------------------------------------------------------------------------------- ffmpeg commands


def _tags(meta: BookMeta) -> dict[str, str]:
    tags = {"title": meta.title, "album": meta.title, "genre": meta.genre}
    if meta.author:
        tags |= {"artist": meta.author, "album_artist": meta.author}
    return tags


def _tag_args(tags: dict[str, str]) -> list[str]:
    return [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]


def _write_ffmetadata(ctx: _Context) -> None:
    """Global tags and one [CHAPTER] per chapter, in sample units so marks fall exactly on chapter starts."""
    lines = [";FFMETADATA1"]  # the book's tags go on the command line, exactly as they are (_tag_args)
    lines.append("media_type=2")  # iTunes 'stik' = Audiobook: players file it under audiobooks, not music
    for plan in ctx.plans:
        lines += ["", "[CHAPTER]", f"TIMEBASE=1/{ctx.rate}", f"START={plan.start}", f"END={plan.start + plan.frames}",
                  f"title={ffmetadata_escape(plan.title)}"]  # fmt: skip
    # bytes, not text mode: on Windows text mode would turn the escaped newlines into "\\\r\n"
    ctx.metadata_file.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def _cover_kind(data: bytes, mime: str) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png"}.get(mime.lower())


def _write_cover(meta: BookMeta, work: Path, warnings: list[str]) -> Path | None:
    """The cover as a JPEG or PNG file for ffmpeg; other image types are converted, unreadable ones skipped."""
    if not meta.cover:
        return None
    kind = _cover_kind(meta.cover, meta.cover_mime)
    if kind:
        path = work / f"cover.{kind}"
        path.write_bytes(meta.cover)
        return path
    raw = work / "cover.src"
    raw.write_bytes(meta.cover)
    path = work / "cover.png"
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-frames:v", "1", str(path)],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0 or not path.is_file():
        warnings.append(f"The cover ({meta.cover_mime or 'unknown type'}) could not be read; exported without one.")
        return None
    return path


def _cover_args(ctx: _Context, input_index: int) -> tuple[list[str], list[str]]:
    if ctx.cover is None:
        return [], []
    return ["-i", str(ctx.cover)], [
        "-map", f"{input_index}:v", "-c:v", "copy", "-disposition:v:0", "attached_pic",
        "-metadata:s:v:0", "title=Cover", "-metadata:s:v:0", "comment=Cover (front)",
    ]  # fmt: skip


def _book_encoder(ctx: _Context, fmt: str) -> _Encoder:
    s = ctx.settings
    cover_in, cover_out = _cover_args(ctx, 2) if fmt in ("m4b", "flac") else ([], [])
    inputs = ["-f", "ffmetadata", "-i", str(ctx.metadata_file), *cover_in]
    args = ["-map", "0:a", *cover_out, "-map_metadata", "1", *_tag_args(_tags(ctx.meta))]
    if fmt == "m4b":
        lang = _language_tag(ctx.meta.language)
        args += ["-map_chapters", "1", "-c:a", "aac", "-b:a", s.aac_bitrate]
        args += ["-metadata:s:a:0", f"language={lang}"] if lang else []
        # faststart moves the index to the front so players and web servers can start before the end has loaded
        args += ["-movflags", "+faststart", "-f", "ipod"]
    elif fmt == "flac":
        args += ["-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"]
    else:  # wav: PCM 16; RF64 only when a RIFF header could not hold the size
        rf64 = wav_container(ctx.total_frames) == "RF64"
        args += ["-c:a", "pcm_s16le", "-rf64", "always" if rf64 else "never", "-f", "wav"]
    return _Encoder(f"{ctx.base}.{fmt}", _stage_path(ctx.work, f"book.{fmt}"), ctx.rate, inputs, args, True)


def _mp3_name(plan: _ChapterPlan, count: int) -> str:
    width = max(2, len(str(count)))
    return f"{plan.index + 1:0{width}d} - {safe_filename(plan.title, fallback='Chapter')}.mp3"


def _mp3_encoder(ctx: _Context, plan: _ChapterPlan) -> _Encoder:
    cover_in, cover_out = _cover_args(ctx, 1)
    tags = _tags(ctx.meta) | {"title": plan.title, "track": f"{plan.index + 1}/{len(ctx.plans)}"}
    args = ["-map", "0:a", *cover_out, "-c:a", "libmp3lame", "-b:a", ctx.settings.mp3_bitrate]
    for key, value in tags.items():  # list arguments: no quoting or escaping, any character is safe here
        args += ["-metadata", f"{key}={value}"]
    args += ["-id3v2_version", "3", "-write_id3v1", "1", "-f", "mp3"]
    name = _mp3_name(plan, len(ctx.plans))
    (ctx.work / "mp3").mkdir(exist_ok=True)
    return _Encoder(f"mp3/{name}", _stage_path(ctx.work / "mp3", name), ctx.rate, cover_in, args, False)


# ----------------------------------------------------------------------------------------- finishing and errors


def _finish(encoders: list[_Encoder]) -> dict[str, list[Path]]:
    """Close the book-wide encoders (MP3 encoders closed per chapter) and list what is staged per format."""
    for enc in encoders:
        if enc.book_wide:
            enc.finish()
    staged: dict[str, list[Path]] = {}
    for enc in encoders:
        fmt = enc.output.suffix.lstrip(".")
        staged.setdefault(fmt, []).append(enc.output)
    return staged


# the file names Studio wrote: in mp3/<book>/, its last export of that book's chapters; in the output folder, the
# book files (m4b, wav, flac) its exports wrote there
MP3_RECORD = ".studio-export.json"


def _publish(staged: dict[str, list[Path]], out: Path, base: str, warnings: list[str]) -> dict[str, list[Path]]:
    """Move finished files from the work folder into place: plain renames on the same file system. Chapters go to
    mp3/<book>/; only files an earlier export of this book wrote (named in its record) are replaced or removed, so a
    user's own files and other books' chapters stay."""
    files: dict[str, list[Path]] = {}
    for fmt, paths in staged.items():
        if fmt == "mp3":
            target_dir = out / "mp3" / base
            target_dir.mkdir(parents=True, exist_ok=True)
            record = target_dir / MP3_RECORD
            written = _studio_wrote(target_dir)
            for p in paths:
                os.chmod(p, 0o644)
                os.replace(p, target_dir / p.name)
            names = [p.name for p in paths]
            for stale in written:
                if stale not in names:  # _studio_wrote keeps plain file names only
                    (target_dir / stale).unlink(missing_ok=True)
            write_atomic(record, json.dumps({"files": names}, ensure_ascii=False, indent=2))
            files[fmt] = [target_dir / name for name in names]
        else:
            target = _own_name(out, base, fmt, warnings)
            os.chmod(paths[0], 0o644)
            os.replace(paths[0], target)
            _remember(out, target.name)
            files[fmt] = [target]
    return files


def _studio_wrote(folder: Path) -> list[str]:
    """The file names an export record in `folder` lists (what Studio wrote there)."""
    try:
        names = json.loads((folder / MP3_RECORD).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str) and Path(n).name == n] if isinstance(names, list) else []


def _remember(folder: Path, name: str) -> None:
    names = _studio_wrote(folder)
    if name not in names:
        write_atomic(folder / MP3_RECORD, json.dumps({"files": [*names, name]}, ensure_ascii=False, indent=2))


def _own_name(out: Path, base: str, fmt: str, warnings: list[str]) -> Path:
    """`<book>.<fmt>`, unless a file by that name is not one Studio wrote (the user's own): then the first free
    `<book> (N).<fmt>`, and a warning says so. Studio's own earlier export is replaced."""
    target = out / f"{base}.{fmt}"
    if (not target.exists() and not target.is_symlink()) or target.name in _studio_wrote(out):
        return target
    n = 2
    while True:
        free = out / f"{base} ({n}).{fmt}"
        if (not free.exists() and not free.is_symlink()) or free.name in _studio_wrote(out):
            break
        n += 1
    warnings.append(f"{target.name} in {out} is not a file Studio wrote, so it was kept; the export is {free.name}.")
    return free


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _nearly_full(path: Path) -> bool:
    free = _free_bytes(path)
    return free is not None and free < _MIB


def _check_free_space(out: Path, estimate: int) -> None:
    free = _free_bytes(out)
    if free is not None and free < estimate * 1.05:
        need = math.ceil((estimate * 1.05 - free) / _MIB)
        raise DiskFull(
            f"Not enough disk space in {out}: the export needs about {math.ceil(estimate / _MIB)} MB and "
            f"{free // _MIB} MB are free. Free {need} MB and export again; the rendered chunks are kept."
        )


def _disk_full(target: str, out: Path, estimate: int) -> DiskFull:
    free = _free_bytes(out) or 0
    short = estimate * 1.05 - free
    if short <= 0:  # our estimate was too low (or someone else filled the disk): ask for a quarter more
        short = estimate * 0.25
    need = max(1, math.ceil(short / _MIB))
    return DiskFull(
        f"The disk is full while writing '{target}' in {out}: free {need} MB and export again; "
        "the rendered chunks are kept."
    )


def _os_error(exc: OSError, target: str, out: Path, estimate: int) -> StudioError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return _disk_full(target, out, estimate)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportFailed(f"Cannot write to {out} ({exc.strerror}); choose another folder for the export.")
    return ExportFailed(f"Writing '{target}' in {out} failed: {exc}. The rendered chunks are kept.")
