"""The export plan: the book's timeline laid out from chunk headers, its size estimate, and the chunks read
back along it as blocks."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import resample, to_float32
from studio.book.export_model import BookMeta, ExportChapter, ExportSettings
from studio.errors import InvalidInput

# Frames per block read from a chunk and piped to the encoders: ~1.5 s at 44.1 kHz, a few hundred KB per block.
BLOCK_FRAMES = 65536


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
    if fmt in ("srt", "vtt"):  # about 15 characters a second of speech, cues and times included, book and chapters
        return int(seconds * 40) + 4096
    if fmt == "epub3":  # the chapters' MP3s, the text and its overlays
        return int(seconds * int(settings.epub_bitrate[:-1]) * 125 * 1.02) + int(seconds * 200) + cover + 65536
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
    subtitles: Path | None = None  # the book's SRT, embedded in the M4B as a text track
    epub_audio: list[Path] = field(default_factory=list)  # the read-along EPUB's chapter MP3s, as they are made
