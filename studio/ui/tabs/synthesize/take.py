"""Generate and Cancel: a take streamed to the player sentence by sentence and written to its file as it is made."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from studio.audio.dsp import silence
from studio.clock import clock
from studio.errors import Cancelled
from studio.synthesis import SynthChunk, SynthRequest, TakeWriter, output_path
from studio.take_subtitles import write_subtitles
from studio.ui.context import AppContext

if TYPE_CHECKING:
    from studio.book.qa import Checker

JOB = "synthesize"
FORMATS = {"WAV": "wav", "MP3": "mp3"}


def _chunk_audio(chunk: SynthChunk) -> tuple[int, np.ndarray]:
    """A sentence for the player, after the pause its engine puts between sentences (the downloaded take has it
    too), so that what plays and what is saved sound the same."""
    samples = chunk.audio.samples
    if chunk.index > 0:
        samples = np.concatenate([silence(chunk.gap, chunk.audio.sample_rate), samples])
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
    return chunk.audio.sample_rate, pcm


def generate(
    ctx: AppContext,
    text: str,
    engine: str,
    voice: str | None,
    language: str | None,
    steps: float | None,
    speed: float | None,
    gpu: bool,
    normalize: bool,
    fmt: str,
    session: str,
    instruct: str | None = None,
    duration: float | None = None,
    subtitle_words: bool = False,
) -> Iterator[tuple[Any, Any, str, Any]]:
    """Stream sentences to the player, then write the whole take for download, with its subtitles (SRT and
    WebVTT: each sentence where it is said, or each word, heard by speech recognition, with `subtitle_words`).
    Yields (audio, file, status, subtitle files).
    `instruct` counts only for an engine that takes instructions, `duration` (seconds, 0 for automatic) only for one
    whose length is an input (their boxes are hidden for the others)."""
    info = ctx.registry.info(engine)
    req = SynthRequest(
        text=text or "",
        engine=engine,
        voice=voice or None,
        language=language or None,
        steps=int(steps) if (steps is not None and info.supports_steps) else None,
        speed=float(speed) if (speed is not None and info.supports_speed) else None,
        gpu=bool(gpu),
        normalize=bool(normalize),
        instruct=(instruct or None) if info.supports_instructions else None,
        duration=float(duration) if (duration and info.supports_duration) else None,
    )
    ctx.synthesizer.prepare(req)  # every input error surfaces before a model loads
    flag = ctx.cancel_flag(session, JOB)
    # the take goes to its file as it is made (a long text is never one array in memory); the player gets each
    # sentence as it comes
    take = TakeWriter(output_path(ctx.output_dir(session), text, FORMATS.get(fmt, "wav")))
    made = 0
    cancelled = False
    warned: set[str] = set()
    yield gr.update(value=None), gr.update(value=None), "Loading the voice…", gr.update(value=None)
    try:
        for chunk in ctx.synthesizer.stream(req, flag):
            take.add(chunk)
            made += 1
            for warning in chunk.audio.warnings:
                if warning not in warned:
                    warned.add(warning)
                    gr.Warning(warning)
            if made == 1 and chunk.audio.device_note.startswith("ran on CPU:") and gpu:
                gr.Warning(chunk.audio.device_note)
            yield (
                _chunk_audio(chunk),
                gr.update(),
                f"Generating… part {made} · {chunk.stats.device_note}",
                gr.update(),
            )
    except Cancelled:
        cancelled = True
    except BaseException:
        take.abort()
        raise
    if not made:
        yield gr.update(), gr.update(), "Stopped before any audio was made.", gr.update()
        return
    path, stats = take.finish(cancelled)
    prefix = "Stopped — kept what was made (no subtitles: the take ends before the text does). " if cancelled else ""
    # a stopped take holds only part of the text: its sentences could not be placed, so it gets no subtitles
    language = req.language or info.default_language
    subtitles: list[str] = []
    if not cancelled:
        if subtitle_words:
            # speech recognition hears the take (about a twentieth of its length on 2 cores): progress, and Cancel
            # leaves sentence cues
            work = _Hearing(ctx, path, req.text, language, flag)
            while work.running():
                yield gr.update(), gr.update(value=str(path)), work.status(), gr.update()
            files, warnings = work.result()
        else:
            files, warnings = write_subtitles(path, req.text, language)
        subtitles = [str(p) for p in files]
        for warning in warnings:
            gr.Warning(warning)
        if warnings:
            prefix = " ".join(warnings) + " "
    yield gr.update(), gr.update(value=str(path)), prefix + stats.summary(), gr.update(value=subtitles or None)


class _Hearing:
    """Word-by-word subtitles written on a thread, so the take's status can show how far the hearing is."""

    def __init__(self, ctx: AppContext, path: Path, text: str, language: str, cancel: threading.Event) -> None:
        self._done, self._total = 0, 0
        self._start = time.monotonic()
        self._out: tuple[list[Path], list[str]] = ([], [])
        self._error: BaseException | None = None
        checker = ctx.books.renderer.checker
        self._thread = threading.Thread(target=self._run, args=(path, text, language, checker, cancel), daemon=True)
        self._thread.start()

    def _run(self, path: Path, text: str, language: str, checker: Checker, cancel: threading.Event) -> None:
        try:
            self._out = write_subtitles(path, text, language, words=checker, on_progress=self._progress, cancel=cancel)
        except BaseException as exc:  # re-raised on the generator's thread, where the UI reports it
            self._error = exc

    def _progress(self, done: int, total: int) -> None:
        self._done, self._total = done, total

    def running(self) -> bool:
        self._thread.join(timeout=0.5)
        return self._thread.is_alive()

    def status(self) -> str:
        line = "Hearing the take to time each word…"
        if self._total:
            line += f" part {min(self._done + 1, self._total)} of {self._total}"
            if self._done:
                left = (time.monotonic() - self._start) / self._done * (self._total - self._done)
                line += f" · about {clock(left)} left"
        return line

    def result(self) -> tuple[list[Path], list[str]]:
        if self._error is not None:
            raise self._error
        return self._out


def cancel(ctx: AppContext, session: str) -> str:
    return "Stopping after the current sentence…" if ctx.cancel(session, JOB) else "Nothing is running."
