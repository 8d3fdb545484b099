"""The smalltts engine: text -> 24 kHz speech in a cloned voice (a library voice holding a recording's codec latents).

Per chunk of text (sentences, at most `CHUNK_CHARS`): phoneme token ids (`text.py`), a length in seconds estimated
from the tokens and the voice's own speaking rate (or given), the condition encoder once, four denoiser steps, the
codec decoder; chunks are joined with `CHUNK_GAP` seconds of silence. Several chunks can share each graph call
(`batch_size`): item i then sounds exactly as it would alone (its own noise, padding masked)."""

from __future__ import annotations

import copy
import logging
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import studio.systems.smalltts.model as m
import studio.systems.smalltts.text as st
from studio.audio.types import AudioResult
from studio.config import Settings
from studio.engines.base import Availability, DeviceReport, EngineInfo, EngineSpec, SynthParams, VoiceInfo
from studio.errors import InvalidInput, ModelMissing, VoiceNotFound
from studio.voices.library import Voice, VoiceLibrary

log = logging.getLogger(__name__)

LANGUAGES = ("en",)  # espeak-ng en-us phonemes: the model was trained on English
CHUNK_CHARS = 250  # a chunk stays well under the 30 s one generation may last
CHUNK_GAP = 0.2  # seconds of silence between chunks
MIN_SPEED, MAX_SPEED = 0.5, 2.0
# the length estimate: seconds per phone (a phoneme symbol; stress and length marks are not phones), the pauses
# punctuation makes, and an event's length. 0.075 s a phone matches upstream's 11.5 characters a second on English
# prose (0.91 characters a phone on the fixture texts); a voice cloned with a transcript brings its own rate.
SECONDS_PER_PHONE = 0.075
MIN_RATE, MAX_RATE = 0.045, 0.13  # a measured rate is kept within these (a bad transcript cannot make 5 s a word)
CLAUSE_PAUSE, SENTENCE_PAUSE, EVENT_SECONDS = 0.15, 0.3, 0.5
_NOT_PHONES = set(';:,.!?¡¿—…"«» ') | set("ˈˌːˑ")
_CLAUSE, _SENTENCE = set(",;:—"), set(".!?…")
DEFAULT_BATCH = {"cpu": 1, "cuda": 4}  # chunks per graph call (docs/smalltts.md has the measurements)


def count_phones(ids: Sequence[int]) -> tuple[int, int, int, int]:
    """(phones, clause marks, sentence marks, events) of a token list."""
    phones = clauses = sentences = events = 0
    for i in ids:
        symbol = st.SYMBOLS[i - 1] if 0 < i <= len(st.SYMBOLS) else ""
        if symbol.startswith("["):
            events += 1
        elif symbol in _CLAUSE:
            clauses += 1
        elif symbol in _SENTENCE:
            sentences += 1
        elif symbol and symbol not in _NOT_PHONES:
            phones += 1
    return phones, clauses, sentences, events // st.EVENT_REPEAT


def estimate_seconds(ids: Sequence[int], seconds_per_phone: float = SECONDS_PER_PHONE) -> float:
    """How long speaking `ids` takes at speed 1.0: phones at the voice's rate, pauses at punctuation (the last
    sentence mark is the end, not a pause), each event its own length; within upstream's 0.5-30 s."""
    phones, clauses, sentences, events = count_phones(ids)
    seconds = phones * seconds_per_phone + clauses * CLAUSE_PAUSE + max(0, sentences - 1) * SENTENCE_PAUSE
    seconds += events * EVENT_SECONDS
    return min(max(seconds, m.MIN_SECONDS), m.MAX_SECONDS)


def speaking_rate(transcript: str, seconds: float) -> float | None:
    """Seconds per phone of a recording with its transcript (pauses at its punctuation taken out), or None when
    there is no transcript or it yields nothing sensible."""
    if not transcript.strip():
        return None
    ids = st.token_ids(transcript)
    phones, clauses, sentences, events = count_phones(ids)
    if phones < 8:
        return None
    spoken = seconds - clauses * CLAUSE_PAUSE - max(0, sentences - 1) * SENTENCE_PAUSE - events * EVENT_SECONDS
    return min(max(spoken / phones, MIN_RATE), MAX_RATE)


@dataclass(frozen=True)
class VoiceData:
    """What a smalltts voice is: the reference's latents and its speaking rate."""

    latents: NDArray[np.float32]
    seconds_per_phone: float
    name: str


@dataclass
class Chunk:
    index: int
    tokens: st.Tokens
    seconds: float


class SmallTTSEngine:
    """Loaded smalltts graphs; voices come from the library (smalltts has no preset speakers)."""

    def __init__(self, sessions: m.Sessions, device_report: DeviceReport | None = None,
                 model_dir: Path | None = None) -> None:  # fmt: skip
        self.sessions = sessions
        self.device = device_report or DeviceReport()
        self.model_dir = model_dir
        self.library: VoiceLibrary | None = None
        self.batch_size = DEFAULT_BATCH.get(self.device.actual, 1)
        self._voices: dict[tuple[str, float], VoiceData] = {}
        self.info = engine_info()

    @classmethod
    def load(cls, model_dir: Path, device: str = "cpu", threads: int = 1) -> SmallTTSEngine:
        sessions, reports = m.load_sessions(Path(model_dir), device, threads)
        report = next((r for r in reports if r.actual != r.requested), reports[0])
        providers = tuple(sorted({p for r in reports for p in r.providers}))
        engine = cls(sessions, DeviceReport(report.requested, report.actual, report.reason, providers), model_dir)
        log.info("smalltts loaded from %s (%s)", model_dir, engine.device.note)
        return engine

    # ---------------------------------------------------------------- voices

    def voices(self) -> list[VoiceInfo]:
        return library_voices(self.library)

    def for_user(self, settings: Settings) -> SmallTTSEngine:
        view = copy.copy(self)
        view.library = VoiceLibrary(settings.voices_dir)
        return view

    def voice_data(self, voice: str) -> VoiceData:
        key = (voice or "").strip()
        if not key:
            raise VoiceNotFound(NO_VOICE)
        if self.library is None:
            raise VoiceNotFound(f"smalltts has no voice '{voice}'. {NO_VOICE}")
        try:
            entry = self.library.get(key)
        except VoiceNotFound:
            names = ", ".join(v.name for v in self.voices()) or "none yet"
            raise VoiceNotFound(f"smalltts has no voice '{voice}' (its voices: {names}). {NO_VOICE}") from None
        if entry.engine != m.ENGINE:
            raise VoiceNotFound(f"{entry.name} is a {entry.engine} voice; smalltts speaks voices cloned for it.")
        path = entry.path("latents")
        stamp = (str(path), path.stat().st_mtime if path.exists() else 0.0)
        if stamp not in self._voices:
            self._voices[stamp] = read_voice(entry)
        return self._voices[stamp]

    # ---------------------------------------------------------------- synthesis

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        parts = list(self.stream(text, voice, params))
        return self._joined([p.samples for p in parts], tuple(dict.fromkeys(w for p in parts for w in p.warnings)))

    def _joined(self, waves: Sequence[NDArray[np.float32]], warnings: tuple[str, ...]) -> AudioResult:
        """Chunks joined with CHUNK_GAP seconds of silence, as one take."""
        gap = np.zeros(int(CHUNK_GAP * m.SAMPLE_RATE), dtype=np.float32)
        pieces: list[NDArray[np.float32]] = []
        for i, wave in enumerate(waves):
            pieces.extend([gap, wave] if i else [wave])
        return AudioResult(np.concatenate(pieces), m.SAMPLE_RATE, self.device.actual, self.device.note, warnings)

    def stream(self, text: str, voice: str, params: SynthParams | None = None) -> Iterator[AudioResult]:
        """One AudioResult per chunk, in order; `batch_size` chunks share each graph call."""
        params = params or SynthParams()
        data = self.voice_data(voice)
        chunks, warnings = self.plan(text, data, params)
        seed = secrets.randbits(63) if params.seed is None else int(params.seed) & 0x7FFF_FFFF_FFFF_FFFF
        size = max(1, int(self.batch_size))
        for start in range(0, len(chunks), size):
            group = chunks[start : start + size]
            for chunk, wave in zip(group, self.render(data, group, seed), strict=True):
                note = warnings if chunk.index == chunks[0].index else ()
                yield AudioResult(wave, m.SAMPLE_RATE, self.device.actual, self.device.note, note)

    def batch(self, texts: Sequence[str], voice: str, params: SynthParams | None = None) -> list[AudioResult]:
        """Several texts; the chunks of all of them `batch_size` at a time. Text i sounds exactly as
        `synthesize(texts[i])` would with the same seed (each chunk's noise depends on the seed and its place)."""
        if isinstance(texts, str) or not texts:
            raise InvalidInput("batch() needs a non-empty list of texts.")
        params = params or SynthParams()
        data = self.voice_data(voice)
        seed = secrets.randbits(63) if params.seed is None else int(params.seed) & 0x7FFF_FFFF_FFFF_FFFF
        planned = [self.plan(t, data, params) for t in texts]
        jobs = [(t, chunk) for t, (chunks, _) in enumerate(planned) for chunk in chunks]
        waves: dict[tuple[int, int], NDArray[np.float32]] = {}
        size = max(1, int(self.batch_size))
        for start in range(0, len(jobs), size):
            group = jobs[start : start + size]
            for (t, chunk), wave in zip(group, self.render(data, [c for _, c in group], seed), strict=True):
                waves[(t, chunk.index)] = wave
        return [self._joined([waves[(t, c.index)] for c in chunks], warnings)
                for t, (chunks, warnings) in enumerate(planned)]  # fmt: skip

    def plan(self, text: str, data: VoiceData, params: SynthParams) -> tuple[list[Chunk], tuple[str, ...]]:
        """The chunks to speak, each with its tokens and its length; warnings for unknown tags."""
        from studio.text.chunking import chunk_text

        if not text or not text.strip():
            raise InvalidInput("The text is empty: type or paste something to speak.")
        if params.language and params.language.split("-")[0].lower() not in LANGUAGES:
            raise InvalidInput(f"smalltts speaks English only, not '{params.language}'.")
        speed = float(params.speed or 1.0)
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise InvalidInput(f"Speed must be {MIN_SPEED} to {MAX_SPEED}; got {speed}.")
        chunks: list[Chunk] = []
        unknown: list[str] = []
        for index, piece in enumerate(c for c in chunk_text(text, CHUNK_CHARS, "en") if c.strip()):
            tokens = st.tokenize(piece)
            unknown.extend(tokens.unknown_events)
            if tokens.has_words or tokens.events:
                chunks.append(Chunk(index, tokens, estimate_seconds(tokens.ids, data.seconds_per_phone) / speed))
        if not chunks:
            raise InvalidInput("Nothing to speak: the text has no words or event tags smalltts can say.")
        if params.duration is not None:
            total = float(params.duration)
            if not math.isfinite(total) or total < m.MIN_SECONDS * len(chunks):
                raise InvalidInput(f"The length must be at least {m.MIN_SECONDS * len(chunks):.1f} s for this text "
                                   f"({len(chunks)} chunk(s)); got {params.duration}.")  # fmt: skip
            scale = total / sum(c.seconds for c in chunks)
            if max(c.seconds * scale for c in chunks) > m.MAX_SECONDS:
                raise InvalidInput(f"{total:.1f} s is too long for this text: one chunk would last over "
                                   f"{m.MAX_SECONDS:.0f} s. Give a shorter length, or more text.")  # fmt: skip
            for c in chunks:
                c.seconds = c.seconds * scale
        else:
            for c in chunks:
                c.seconds = min(max(c.seconds, m.MIN_SECONDS), m.MAX_SECONDS)
        warnings: tuple[str, ...] = ()
        if unknown:
            names = ", ".join(f"[{u}]" for u in dict.fromkeys(unknown))
            warnings = (f"{names}: not a smalltts event, read as a word. Events: {', '.join(st.EVENTS)}.",)
        return chunks, warnings

    def render(self, data: VoiceData, chunks: Sequence[Chunk], seed: int) -> list[NDArray[np.float32]]:
        """The chunks' audio, all in one set of graph calls; chunk k's noise comes from (seed, k) alone."""
        samples = [round(c.seconds * m.SAMPLE_RATE) for c in chunks]
        frames = [m.frames_for(c.seconds) for c in chunks]
        rngs = [np.random.default_rng([seed, c.index]) for c in chunks]
        latents = m.sample(self.sessions, data.latents, [c.tokens.ids for c in chunks], frames, rngs)
        return m.decode(self.sessions, latents, samples)

    def raw_runner(self, text: str, voice: str, params: SynthParams) -> Callable[[], None]:
        """The bare graph calls for `text` (tokens, lengths and voice prepared outside), for the benchmark."""
        data = self.voice_data(voice)
        chunks, _ = self.plan(text, data, params)

        def run() -> None:
            size = max(1, int(self.batch_size))
            for start in range(0, len(chunks), size):
                self.render(data, chunks[start : start + size], 0)

        return run


NO_VOICE = ("smalltts has no preset voices: clone one from a short recording in the Voice Clone tab "
            "(or `studio voice clone --engine smalltts`).")  # fmt: skip


def read_voice(entry: Voice) -> VoiceData:
    path = entry.path("latents")
    try:
        latents = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise VoiceNotFound(
            f"Voice {entry.name}: its latents ({path.name}) cannot be read ({exc}); clone it again."
        ) from exc
    if latents.ndim != 2 or latents.shape[1] != m.LATENT_DIM or not 1 <= latents.shape[0] <= 10_000:
        raise VoiceNotFound(f"Voice {entry.name}: its latents have shape {latents.shape}, not [frames, "
                            f"{m.LATENT_DIM}]; clone it again.")  # fmt: skip
    if not np.isfinite(latents).all():
        raise VoiceNotFound(f"Voice {entry.name}: its latents hold invalid numbers; clone it again.")
    rate = entry.source.get("seconds_per_phone")
    rate = float(rate) if isinstance(rate, (int, float)) and MIN_RATE <= float(rate) <= MAX_RATE else SECONDS_PER_PHONE
    return VoiceData(latents.astype(np.float32), rate, entry.name)


def library_voices(library: VoiceLibrary | None) -> list[VoiceInfo]:
    if library is None:
        return []
    return [VoiceInfo(v.id, v.name, LANGUAGES, "library", v.source.get("kind", "clone")) for v in library.all(m.ENGINE)]


def engine_info() -> EngineInfo:
    return EngineInfo(
        name=m.ENGINE, label=m.LABEL, sample_rate=m.SAMPLE_RATE, languages=LANGUAGES, default_language="en",
        supports_steps=False, default_steps=m.STEPS, min_speed=MIN_SPEED, max_speed=MAX_SPEED, default_speed=1.0,
        supports_clone=True, supports_duration=True, supports_events=True, chunk_chars=CHUNK_CHARS,
        chunk_gap=CHUNK_GAP, model_version=f"smalltts-dmd-{m.REVISION[:12]}", license=m.LICENSE,
    )  # fmt: skip


# ---- files, availability, download --------------------------------------------------------------------------


def user_model_dir(settings: Settings) -> Path:
    """Where a user may place the four graphs by hand (the Hub layout: dmd/, codec/)."""
    return settings.home / "models" / m.ENGINE


def missing_files(folder: Path) -> list[str]:
    out = []
    for name in m.MODEL_FILES:
        path = folder / name
        try:
            size = path.stat().st_size
            if size == 0 or (size < 1024 and path.read_bytes().startswith(b"version ")):  # a Git LFS pointer
                out.append(name)
        except OSError:
            out.append(name)
    return out


def find_model_dir(settings: Settings) -> Path | None:
    manual = user_model_dir(settings)
    if manual.is_dir() and not missing_files(manual):
        return manual
    from studio.engines.hub import local_snapshot

    snapshot = local_snapshot(m.REPO_ID, list(m.MODEL_FILES), m.REVISION, settings.cache_dir)
    return snapshot if snapshot is not None and not missing_files(snapshot) else None


LICENSE_NOTE = ("the smalltts weights are licensed CC-BY-NC-4.0: non-commercial use only (the code is MIT); "
                "they speak only voices cloned with the speaker's permission")  # fmt: skip


def _check(settings: Settings) -> Availability:
    if find_model_dir(settings) is not None:
        return Availability(True)
    manual = user_model_dir(settings)
    command = f"`python -m studio download {m.ENGINE}`"
    source = f"the four graphs from huggingface.co/{m.REPO_ID}; {LICENSE_NOTE}"
    if manual.is_dir() and any((manual / name).exists() for name in m.MODEL_FILES):
        return Availability(False, f"smalltts graphs in {manual} are incomplete",
                            f"Missing or empty there: {', '.join(missing_files(manual))}. Add them by hand, or run "
                            f"{command} ({source}).")  # fmt: skip
    return Availability(False, "smalltts weights are not downloaded",
                        f"Download them with {command} ({source}), or place these files by hand in {manual}: "
                        f"{', '.join(m.MODEL_FILES)}.")  # fmt: skip


def _load(settings: Settings, device: str) -> SmallTTSEngine:
    folder = find_model_dir(settings)
    if folder is None:
        raise ModelMissing(_check(settings).message)
    engine = SmallTTSEngine.load(folder, device, settings.threads)
    engine.library = VoiceLibrary(settings.voices_dir)
    return engine


def _download(settings: Settings, on_progress: Callable[[float, str], None] | None = None) -> Path:
    from studio.engines.hub import download_files

    return download_files(m.REPO_ID, list(m.MODEL_FILES), m.REVISION, settings.cache_dir, on_progress,
                          offline=settings.offline or None, manual_dir=user_model_dir(settings))  # fmt: skip


SPECS: list[EngineSpec] = [
    EngineSpec(
        name=m.ENGINE,
        label=m.LABEL,
        info=lambda settings: engine_info(),
        check=_check,
        load=_load,
        download=_download,
        list_voices=lambda settings: library_voices(VoiceLibrary(settings.voices_dir)),
    )
]
