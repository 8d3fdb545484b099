"""Export a rendered book: loudness per chapter, silences, M4B/MP3/WAV/FLAC streamed through ffmpeg, and the timed
formats (read-along EPUB 3, SRT, WebVTT) written from where each sentence is said."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from studio.audio.loudness import GainPlan, GatedRmsMeter, Loudness, plan_gain, soft_limit
from studio.book import export_timed
from studio.book.export_encoder import _Encoder, _EncoderError
from studio.book.export_ffmpeg import (
    _book_encoder,
    _epub_audio_encoder,
    _mp3_encoder,
    _write_cover,
    _write_ffmetadata,
    ffmetadata_escape,
    ffmetadata_unescape,
    wav_container,
)
from studio.book.export_files import (
    MP3_RECORD,
    _check_free_space,
    _disk_full,
    _finish,
    _nearly_full,
    _os_error,
    _publish,
    safe_filename,
)
from studio.book.export_model import (
    BookMeta,
    ChapterResult,
    DiskFull,
    ExportChapter,
    ExportFailed,
    ExportResult,
    ExportSettings,
    ProgressFn,
)
from studio.book.export_plan import _ChapterPlan, _chunk_blocks, _Context, _estimate_bytes, _plan
from studio.clock import clock
from studio.errors import Cancelled

# the names other modules and the tests import from here
__all__ = [
    "MP3_RECORD", "BookMeta", "DiskFull", "ExportChapter", "ExportResult", "ExportSettings", "export_book",
    "ffmetadata_escape", "ffmetadata_unescape", "safe_filename", "wav_container",
]  # fmt: skip

log = logging.getLogger(__name__)

# Share of progress for the measuring pass (a plain read) versus the encoding pass (read, gain, encode).
_MEASURE_SHARE = 0.25


# ---------------------------------------------------------------------------------------------------------- export


def export_book(
    chapters: Sequence[ExportChapter],
    meta: BookMeta,
    out_dir: Path | str,
    settings: ExportSettings | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    narrator: str = "Studio",
) -> ExportResult:
    """Normalize each chapter's loudness and write the chosen formats into `out_dir`, streaming chunk by chunk.
    The timed formats (read-along EPUB 3, SRT, WebVTT) need each chapter's `chunk_texts`; `narrator` names the
    voice in the EPUB.

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
    if "epub3" in formats:  # the read-along book carries the chapters' pictures too
        estimate += sum(_size(f.path) for f in {fig.path: fig for c in chapters for fig in c.figures}.values())
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
        timelines = export_timed.prepare(ctx, chapters, formats, progress)
        results = _run(ctx, formats, encoders, progress, cancel, warnings)
        staged = _finish(encoders)
        if timelines is not None:
            staged |= export_timed.write(ctx, timelines, formats, narrator)
        files = _publish(staged, out, base, warnings)
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
    book_encoders = [_book_encoder(ctx, fmt) for fmt in formats if fmt in ("m4b", "wav", "flac")]
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
        per_chapter = []
        if "mp3" in formats:
            per_chapter.append(_mp3_encoder(ctx, plan))
        if "epub3" in formats:  # the read-along EPUB's narration of this chapter
            per_chapter.append(_epub_audio_encoder(ctx, plan))
            ctx.epub_audio.append(per_chapter[-1].output)
        encoders.extend(per_chapter)
        chapter_encoders.extend(per_chapter)
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
        for enc in per_chapter:
            enc.finish()
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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # gone: the package leaves it out
        return 0
