"""The synthesis service: validate and normalize text, run an engine (streaming or whole), measure, save."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import chain
from pathlib import Path

import numpy as np

from studio.audio.dsp import silence
from studio.audio.io import WRITABLE_FORMATS, AudioWriter, writable_format, write_audio
from studio.audio.seam import clause_end, rest_start
from studio.audio.types import AudioResult
from studio.engines.base import Engine, EngineInfo, SynthParams, warm_up
from studio.engines.registry import Registry
from studio.errors import Cancelled, EngineUnavailable, InvalidInput
from studio.text.chunking import call_pieces
from studio.text.lead import Lead, lead_clause
from studio.text.prepare import clean_input, resolve_language, speech_problem, spoken_text

log = logging.getLogger(__name__)

STREAM_GAP = 0.15  # seconds of silence between streamed sentences when they are joined (EngineInfo.chunk_gap)
# The pause, in seconds, where a take's opening clause meets the rest of its sentence (`text.lead`), as the pieces'
# own silences plus any gap: a comma's pause inside one of Piper's sentences measures 0.29 to 0.36 s (a sentence's
# 0.45 s and more); at a word boundary inside a phrase there should be next to none.
CLAUSE_PAUSE = (0.2, 0.36)
WORD_PAUSE = (0.0, 0.1)
REST_LEAD = 0.05  # seconds of its opening silence the rest keeps (Piper's measure 0.05 to 0.06 s)


@dataclass(frozen=True)
class SynthRequest:
    """Everything one synthesis needs; `None` means the engine's default."""

    text: str
    engine: str = "piper"
    voice: str | None = None
    language: str | None = None
    steps: int | None = None
    speed: float | None = None
    gpu: bool = False
    normalize: bool = True
    seed: int | None = None
    instruct: str | None = None  # how to speak, in words ("speak slowly and warmly"): engines that take them
    duration: float | None = None  # seconds the take should last: engines whose length is an input (smalltts)


@dataclass(frozen=True)
class PreparedText:
    """The text as the engine will receive it, with the resolved settings and any warnings so far."""

    text: str
    voice: str
    params: SynthParams
    info: EngineInfo
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SynthStats:
    """How a synthesis went: the device that really ran and the speed figures users compare."""

    chars: int
    audio_seconds: float
    elapsed: float
    device_note: str
    partial: bool = False  # cancelled part way: how many of `chars` were spoken is not known, so no chars/s

    @property
    def chars_per_sec(self) -> float:
        return self.chars / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of compute per second of audio (lower is faster)."""
        return self.elapsed / self.audio_seconds if self.audio_seconds > 0 else 0.0

    def summary(self) -> str:
        rate = "" if self.partial else f"{self.chars_per_sec:.0f} chars/s · "
        made = f"{self.audio_seconds:.1f} s of audio in {self.elapsed:.2f} s"
        return f"{self.device_note} · {made} · {rate}RTF {self.rtf:.3f}"


@dataclass(frozen=True)
class SynthChunk:
    """One streamed piece: its audio, its position, and the running statistics."""

    audio: AudioResult
    index: int
    stats: SynthStats
    gap: float = STREAM_GAP  # seconds of silence before it when joined to the one before (its engine's chunk_gap)


@dataclass(frozen=True)
class SynthOutcome:
    audio: AudioResult
    stats: SynthStats
    warnings: tuple[str, ...] = field(default_factory=tuple)
    cancelled: bool = False


class Synthesizer:
    """Turns a SynthRequest into audio through the registry's cached engines. Never imports gradio."""

    def __init__(self, registry: Registry, quick_start: bool = True) -> None:
        self.registry = registry
        # a long first sentence is said in two pieces, its opening clause first, so the take starts at once
        self.quick_start = quick_start

    @property
    def max_chars(self) -> int | None:
        """The most characters one synthesis takes here (`Settings.char_limit`), None for no limit. An engine's own
        `EngineInfo.max_chars` is no limit on the text: it is the most that one engine call gets (`stream`)."""
        return self.registry.settings.char_limit

    def default_voice(self, engine: str) -> str:
        voices = self.registry.voices(engine)
        if not voices:
            raise InvalidInput(no_voices(self.registry.info(engine)))
        return voices[0].id

    def prepare(self, req: SynthRequest) -> PreparedText:
        """Validate everything a user can get wrong, before any model is loaded; the text takes the one text path
        (`text.prepare`) that books take too."""
        info = self.registry.info(req.engine)
        status = self.registry.available(req.engine)
        if not status.ok:
            raise EngineUnavailable(f"{info.label} is not available: {status.message}")
        if not (req.text or "").strip():
            raise InvalidInput("The text is empty: type or paste something to speak.")
        text = clean_input(req.text)  # escape codes pasted from a terminal are never read aloud
        if speech_problem(text):
            raise InvalidInput("There is nothing to speak: the text has no letters or digits (only symbols, emoji or "
                               "punctuation). Type some words.")  # fmt: skip
        limit = self.max_chars
        if limit is not None and len(text) > limit:
            raise InvalidInput(too_long(len(text), limit))
        language = resolve_language(req.language, info.languages, info.default_language, label=info.label)
        speed = info.default_speed if req.speed is None else float(req.speed)
        if info.supports_speed and not (info.min_speed <= speed <= info.max_speed):
            raise InvalidInput(f"Speed {speed:g} is out of range; use {info.min_speed:g} to {info.max_speed:g}.")
        steps = None  # not asked: the engine's default where it really runs (Supertonic: 16 on a GPU)
        if info.supports_steps and req.steps is not None:
            steps = int(req.steps)
            if not (info.min_steps <= steps <= info.max_steps):
                raise InvalidInput(f"Steps {steps} is out of range; use {info.min_steps} to {info.max_steps}.")
        instruct = check_instructions(req.instruct, info)
        duration = check_duration(req.duration, info, len(text))
        voices = self.registry.voices(req.engine)  # one listing per request: it reads voice files
        if not voices:
            raise InvalidInput(no_voices(info))
        voice = req.voice or voices[0].id
        known = {v.id for v in voices}
        if known and voice not in known and not Path(voice).is_file():
            raise InvalidInput(f"{info.label} has no voice '{voice}'. Choose one of: {', '.join(sorted(known))}.")
        warnings: tuple[str, ...] = ()
        if not info.supports_events:
            from studio.text.events import removed_note, strip_events

            text, removed = strip_events(text)
            if removed:
                warnings = (removed_note(removed, info.label),)
                if speech_problem(text):
                    raise InvalidInput(f"There is nothing to speak: the text holds only event tags, which {info.label} "
                                       "does not perform. Type some words, or pick smalltts.")  # fmt: skip
        text = spoken_text(text, language, req.normalize)
        params = SynthParams(language=language, speed=speed, steps=steps, seed=req.seed, instruct=instruct,
                             duration=duration)  # fmt: skip
        return PreparedText(text, voice, params, info, warnings)

    def stream(self, req: SynthRequest, cancel: threading.Event | None = None) -> Iterator[SynthChunk]:
        """Yield audio sentence by sentence; stop before the next sentence once `cancel` is set. A text longer than
        the engine takes in one call (`EngineInfo.max_chars`) is given to it in pieces of whole paragraphs or
        sentences (`call_pieces`), one after another, so text of any length streams. A long first sentence comes in
        two pieces, its opening clause first (`quick_start`), so the take starts playing at once."""
        prepared = self.prepare(req)
        engine = self.registry.get(req.engine, "cuda" if req.gpu else "cpu")
        warm_up(engine, prepared.voice)  # model loading is not synthesis time: keep it out of chars/s and RTF
        start = time.perf_counter()
        seconds = 0.0
        seen: set[str] = set(prepared.warnings)  # a warning each piece repeats (a dropped emoji) is said once
        for index, (audio, gap) in enumerate(self._engine_audio(engine, prepared)):
            seconds += audio.duration
            # the engine reports no per-sentence text: the rate is for the whole call
            stats = SynthStats(len(prepared.text), seconds, time.perf_counter() - start, audio.device_note)
            fresh = tuple(w for w in audio.warnings if w not in seen)
            seen.update(fresh)
            warnings = prepared.warnings + fresh if index == 0 else fresh
            yield SynthChunk(replace(audio, warnings=warnings), index, stats, gap)
            if cancel is not None and cancel.is_set():
                raise Cancelled("Stopped: the audio generated so far is kept.")

    def _engine_audio(self, engine: Engine, prepared: PreparedText) -> Iterator[tuple[AudioResult, float]]:
        """The engine's pieces for the whole text, each with the silence to put before it."""
        params, voice, gap = prepared.params, prepared.voice, prepared.info.chunk_gap
        calls = call_pieces(prepared.text, prepared.info.max_chars, params.language or "en")
        # a seed reproduces a take as it always was, and a length asked for is shared by the call's sentences
        if self.quick_start and params.seed is None and params.duration is None:
            first = next(calls, None)
            lead = lead_clause(first, params.language or "en") if first else None
            if lead is None:
                calls = chain([first] if first else [], calls)
            else:
                yield from lead_audio(engine, lead, voice, params, gap)
        for piece in calls:
            for audio in engine.stream(piece, voice, params):
                yield audio, gap

    def synthesize(self, req: SynthRequest, cancel: threading.Event | None = None) -> SynthOutcome:
        """Whole-text synthesis; a cancel keeps the sentences already made."""
        chunks: list[SynthChunk] = []
        cancelled = False
        try:
            for chunk in self.stream(req, cancel):
                chunks.append(chunk)
        except Cancelled:
            cancelled = True
        if not chunks:
            raise (
                Cancelled("Stopped before any audio was made.") if cancelled else InvalidInput("No audio was produced.")
            )
        return combine(chunks, cancelled)

    def synthesize_to_file(
        self, req: SynthRequest, path: Path | str, cancel: threading.Event | None = None
    ) -> tuple[Path, SynthStats, tuple[str, ...]]:
        """Speak `req` into an audio file (.wav, .flac, .mp3) sentence by sentence as it is made, so text of any
        length takes the memory of one sentence. Returns the file, its statistics and the warnings. A cancel keeps
        what was made; any other failure leaves no file."""
        take = TakeWriter(Path(path))
        cancelled = False
        try:
            for chunk in self.stream(req, cancel):
                take.add(chunk)
        except Cancelled:
            cancelled = True
        except BaseException:
            take.abort()
            raise
        written, stats = take.finish(cancelled)
        return written, stats, tuple(take.warnings)


MAX_INSTRUCTION_CHARS = 1000


def no_voices(info: EngineInfo) -> str:
    """Why an engine without voices cannot speak, and what to do (a cloning engine with no preset speakers)."""
    if info.supports_clone:
        return (f"{info.label} has no voices yet: clone one from a short recording in the Voice Clone tab (or "
                f"`studio voice clone --engine {info.name}`), then pick it here.")  # fmt: skip
    return f"{info.label} has no voices installed."


def check_duration(duration: float | None, info: EngineInfo, chars: int) -> float | None:
    """A length asked for in seconds: only for engines whose output length is an input, and for text one engine
    call takes (the engine shares it among the text's sentences); None or 0 means the engine estimates it."""
    if duration is None or duration == 0:
        return None
    try:
        seconds = float(duration)
    except (TypeError, ValueError):
        raise InvalidInput(f"The length must be a number of seconds, not {duration!r}.") from None
    if not info.supports_duration:
        raise InvalidInput(f"{info.label} makes takes of their natural length; leave the length empty (smalltts "
                           "takes one).")  # fmt: skip
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"The length must be a positive number of seconds; got {duration}.")
    if chars > info.max_chars:
        raise InvalidInput(f"A length in seconds is for text up to {info.max_chars:,} characters; this has "
                           f"{chars:,}. Leave the length empty for long text.")  # fmt: skip
    return seconds


def check_instructions(instruct: str | None, info: EngineInfo) -> str | None:
    """Instructions cleaned (None when empty), or InvalidInput: the engine takes none, or they are too long."""
    cleaned = " ".join(clean_input(instruct or "").split())
    if not cleaned:
        if info.instructions_required:
            raise InvalidInput(f"{info.label} speaks in the voice its instructions describe: describe one, e.g. "
                               "'a warm, low female voice, calm and unhurried'.")  # fmt: skip
        return None
    if not info.supports_instructions:
        fix = f" {info.instructions_fix}" if info.instructions_fix else ""
        raise InvalidInput(f"{info.label} does not take instructions (how to speak, in words); leave them empty."
                           f"{fix}")  # fmt: skip
    if len(cleaned) > MAX_INSTRUCTION_CHARS:
        raise InvalidInput(f"The instructions have {len(cleaned):,} characters; keep them under "
                           f"{MAX_INSTRUCTION_CHARS:,} (a sentence or two on tone, pace and emotion).")  # fmt: skip
    return cleaned


def too_long(chars: int, limit: int) -> str:
    """Why a text is refused here, and the way to speak it anyway."""
    return (f"The text has {chars:,} characters; one synthesis here takes at most {limit:,}. Shorten it, or make an "
            "audiobook of it: that renders text of any length chunk by chunk, checked, and can resume.")  # fmt: skip


class TakeWriter:
    """A take written to a file as its sentences come, with the gap `combine` puts between them, so a long take is
    never one array in memory. `finish()` names the file; `abort()` removes it."""

    def __init__(self, path: Path) -> None:
        writable_format(path)  # a wrong suffix is refused before anything is spoken
        self.path = path
        self.writer: AudioWriter | None = None
        self.last: SynthChunk | None = None
        self.warnings: list[str] = []

    def add(self, chunk: SynthChunk) -> None:
        rate = chunk.audio.sample_rate
        if self.writer is None:
            self.writer = AudioWriter(self.path, rate)
        else:
            self.writer.write(silence(chunk.gap, rate))
        self.writer.write(chunk.audio.samples)
        self.warnings.extend(w for w in chunk.audio.warnings if w not in self.warnings)
        self.last = chunk

    def finish(self, cancelled: bool = False) -> tuple[Path, SynthStats]:
        """Close the file; the statistics are `combine`'s for the same chunks."""
        if self.writer is None or self.last is None:
            raise (
                Cancelled("Stopped before any audio was made.") if cancelled else InvalidInput("No audio was produced.")
            )
        path = self.writer.close()
        last = self.last.stats
        return path, SynthStats(last.chars, self.writer.duration, last.elapsed, last.device_note, partial=cancelled)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def lead_audio(
    engine: Engine, lead: Lead, voice: str, params: SynthParams, gap: float
) -> Iterator[tuple[AudioResult, float]]:
    """A text's first call in two: the opening clause, then the rest, meeting with the pause a clause (or a word
    boundary) has inside a sentence, not a sentence's (`CLAUSE_PAUSE`, `WORD_PAUSE`); the edges where they meet are
    faded (`audio.seam`), so nothing clicks."""
    low, high = CLAUSE_PAUSE if lead.clause else WORD_PAUSE
    head = list(engine.stream(lead.head, voice, params))  # a clause: one piece, made at once
    if not head:
        yield from ((audio, gap) for audio in engine.stream(lead.rest, voice, params))
        return
    last = head[-1]
    samples, tail = clause_end(last.samples, last.sample_rate, max(0.0, high - REST_LEAD))
    head[-1] = replace(last, samples=samples)
    yield from ((audio, gap) for audio in head)
    for index, audio in enumerate(engine.stream(lead.rest, voice, params)):
        if index:
            yield audio, gap
            continue
        samples, lead_silence = rest_start(audio.samples, audio.sample_rate, min(REST_LEAD, high))
        yield replace(audio, samples=samples), max(0.0, low - tail - lead_silence)


def combine(chunks: list[SynthChunk], cancelled: bool = False) -> SynthOutcome:
    """Join streamed chunks into one result, each after the silence it asks for (`SynthChunk.gap`): the pause its
    engine puts between its own sentences (`EngineInfo.chunk_gap`: 0.3 s for Supertonic, as its reference; 0.15 s for
    the others), or a clause's where a sentence was said in two pieces."""
    first = chunks[0].audio
    parts: list[np.ndarray] = []
    for chunk in chunks:
        if parts:
            parts.append(silence(chunk.gap, first.sample_rate))
        parts.append(chunk.audio.samples)
    samples = np.concatenate(parts).astype(np.float32, copy=False)
    warnings = tuple(dict.fromkeys(w for c in chunks for w in c.audio.warnings))
    audio = AudioResult(samples, first.sample_rate, first.device, first.device_note, warnings)
    last = chunks[-1].stats
    # a cancelled take spoke only part of the text: its chars/s would count text never spoken (RTF stays true)
    stats = SynthStats(last.chars, audio.duration, last.elapsed, first.device_note, partial=cancelled)
    return SynthOutcome(audio, stats, warnings, cancelled)


_SLUG = re.compile(r"[^a-z0-9]+")


def output_path(folder: Path, text: str, fmt: str) -> Path:
    """A readable, unique file name for a download: time + the first words of the text."""
    if fmt not in WRITABLE_FORMATS:
        raise InvalidInput(f"Unknown format '{fmt}'; use one of {', '.join(WRITABLE_FORMATS)}.")
    slug = _SLUG.sub("-", text.lower())[:40].strip("-") or "speech"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return folder / f"{stamp}-{slug}.{fmt}"


def save(audio: AudioResult, folder: Path, text: str, fmt: str = "wav") -> Path:
    return write_audio(audio, output_path(folder, text, fmt))
