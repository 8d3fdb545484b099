"""Supertonic 2 and 3: multilingual ONNX flow-matching TTS at 44.1 kHz, as the upstream reference pipeline runs it."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import join
from studio.audio.types import AudioResult
from studio.config import MAX_SPEED, MAX_STEPS, MIN_SPEED, Settings
from studio.engines.base import (
    DeviceReport,
    Engine,
    EngineInfo,
    SynthParams,
    VoiceInfo,
    default_steps,
)
from studio.errors import InvalidInput, ModelMissing, VoiceNotFound
from studio.systems.supertonic.model import (
    GRAPHS,
    STYLES_DIR,
    RawInputs,
    Style,
    StyleShapes,
    SupertonicConfig,
    SupertonicSessions,
    check_contract,
    check_speed,
    check_steps,
    graph_file,
    model_style_shapes,
    run_raw,
)
from studio.systems.supertonic.text import Preprocessed, TextProcessor, chunk_limit
from studio.systems.supertonic.versions import (
    ONNX,
    TORCH,
    SupertonicVersion,
    _guess_version,
    _version,
    engine_label,
    engine_name,
)
from studio.text.chunking import chunk_text
from studio.voices.library import Voice, VoiceLibrary

__all__ = ["RawInputs", "Style", "SupertonicConfig", "SupertonicEngine", "SupertonicSessions", "raw_session_runner",
           "run_raw"]  # fmt: skip

log = logging.getLogger(__name__)

MIN_STEPS = 1  # the model accepts a single step; the UI may start higher (studio.config.MIN_STEPS)
SILENCE_SECONDS = 0.3  # between chunks of one text, as the reference
MAX_BATCH = 8  # items per batched inference (the reference's MAX_BATCH_SIZE)
GPU_DEFAULT_STEPS = 16  # where the graphs run on CUDA: the Audiopub GPU guide's "balanced" (docs/architecture.md)
MAX_TUNED = 3  # fine-tuned voices whose graphs stay loaded at once (engine.tuned_sessions)


def _merge_reports(reports: Sequence[DeviceReport]) -> DeviceReport:
    """One report for the four sessions: CUDA only when every graph really runs there."""
    first = reports[0]
    actual = {r.actual for r in reports}
    if len(actual) == 1:
        return first
    slow = [g for g, r in zip(GRAPHS, reports, strict=True) if r.actual == "cpu"]
    reason = next((r.reason for r in reports if r.reason), "")
    note = f"{', '.join(slow)} fell back to CPU" + (f" ({reason})" if reason else "")
    providers = tuple(dict.fromkeys(p for r in reports for p in r.providers))
    return DeviceReport(first.requested, "cuda+cpu", note, providers)


class SupertonicEngine:
    """A loaded Supertonic model: text -> 44.1 kHz speech with one of its preset styles or a style .json file."""

    def __init__(self, sessions: SupertonicSessions, config: SupertonicConfig, styles: dict[str, Style],
                 version: SupertonicVersion | str, device_report: DeviceReport | None = None,
                 runtime: str = ONNX) -> None:  # fmt: skip
        self.sessions = sessions
        self.runtime = runtime
        self.config = config
        self.styles = dict(styles)
        self.version = _version(version)
        self.device = device_report or DeviceReport()
        if config.indexer is None:
            raise ModelMissing(f"{self.version.label} needs its unicode indexer (onnx/unicode_indexer.json).")
        self.text = TextProcessor(config.indexer, self.version.languages)
        # what a voice style must look like for these graphs: read from them (or the presets), never assumed
        self.style_shapes: StyleShapes = model_style_shapes(sessions, self.styles)
        for name, preset in self.styles.items():
            preset.check_fits(self.style_shapes, f"{STYLES_DIR}/{name}.json", self.version.label, ModelMissing,
                              f"The model folder mixes files of different models; download {self.version.label} "
                              "again.")  # fmt: skip
        self._file_styles: dict[tuple[str, float], Style] = {}
        self.library: VoiceLibrary | None = None  # the user's voices for this version (set by the registry's loader)
        self.style_files = True  # a voice may also be a path to a style .json (not for hosted users: see for_user)
        self.model_dir: Path | None = None  # the folder it was loaded from (cloning converts the graphs to torch)
        self.torch_cache: Path | None = None  # where the graphs' torch conversions are kept (torch_model.py)
        # fine-tuned voices' graphs (a Supertonic fine-tune's result folder -> sessions), shared by for_user views
        self._tuned: dict[str, SupertonicSessions] = {}
        self.info = EngineInfo(
            name=engine_name(self.version, runtime),
            label=engine_label(self.version, runtime),
            sample_rate=config.sample_rate,
            languages=self.version.languages,
            default_language="en",
            supports_steps=True,
            min_steps=MIN_STEPS,
            max_steps=MAX_STEPS,
            default_steps=self.version.default_steps,
            gpu_default_steps=GPU_DEFAULT_STEPS,
            min_speed=MIN_SPEED,
            max_speed=MAX_SPEED,
            default_speed=self.version.default_speed,
            chunk_gap=SILENCE_SECONDS,
            model_version=config.tts_version or self.version.tts_version,
            license="OpenRAIL-M",
        )

    @classmethod
    def load(cls, model_dir: Path, device: str = "cpu", threads: int = 1,
             version: SupertonicVersion | str | None = None, runtime: str = ONNX,
             torch_cache: Path | None = None) -> SupertonicEngine:  # fmt: skip
        """Load a folder in the Hub layout: onnx/*.onnx, tts.json, unicode_indexer.json and voice_styles/*.json.
        `runtime`: "onnx" (ONNX Runtime sessions) or "torch" (the graphs as torch modules: torch_runtime.py)."""
        from studio.engines.onnx import create_session

        model_dir = Path(model_dir)
        config = SupertonicConfig.load(model_dir)
        ver = _version(version) if version is not None else _guess_version(config.tts_version)
        styles = {p.stem: Style.from_file(p) for p in sorted((model_dir / STYLES_DIR).glob("*.json"))}
        if not styles:
            raise ModelMissing(f"No voice styles in {model_dir / STYLES_DIR}; download {ver.label} again.")
        if runtime == TORCH:
            from studio.systems.supertonic.torch_runtime import load_torch_sessions

            sessions, report = load_torch_sessions(model_dir, device, cache_dir=torch_cache)
            for graph in GRAPHS:
                check_contract(graph, getattr(sessions, graph), model_dir / graph_file(graph))
        else:
            made: dict[str, object] = {}
            reports = []
            for graph in GRAPHS:
                path = model_dir / graph_file(graph)
                session, one = create_session(path, device, threads)
                check_contract(graph, session, path)
                made[graph] = session
                reports.append(one)
            sessions, report = SupertonicSessions(**made), _merge_reports(reports)
        log.info("%s loaded from %s (%s, %s)", ver.label, model_dir, runtime, report.note)
        engine = cls(sessions, config, styles, ver, report, runtime)
        engine.torch_cache = torch_cache
        engine.model_dir = model_dir
        return engine

    # ----------------------------------------------------------------- public API

    def voices(self) -> list[VoiceInfo]:
        def describe(vid: str) -> str:
            kind = {"F": "Female", "M": "Male"}.get(vid[:1], "")
            return f"{kind} voice {vid[1:]}" if kind and vid[1:].isdigit() else vid

        presets = [VoiceInfo(v, describe(v), self.version.languages, "preset") for v in self.styles]
        return presets + library_voices(self.library, self.version)

    def style(self, voice: str) -> Style:
        """The style of a preset, a library voice of this version, or a style .json path."""
        return self._style(voice)

    def raw_runner(self, text: str, voice: str, params: SynthParams) -> Callable[[], None]:
        """The bare session calls for `text` (see `raw_session_runner`), for the benchmark's overhead ratio."""
        return raw_session_runner(self, text, voice, params)

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        """The whole text: chunks joined with 0.3 s of silence."""
        parts = list(self.stream(text, voice, params))
        return self._joined(parts)

    def stream(self, text: str, voice: str, params: SynthParams | None = None) -> Iterator[AudioResult]:
        """One AudioResult per chunk (sentence-aware, at most 300 characters; 120 for Korean and Japanese)."""
        language, steps, speed, seed = self._resolve(params)
        style, sessions = self._voice(voice)
        for index, item in self._prepare(text, language):
            yield from self._render([item], style, steps, speed, seed, [index], sessions)

    def batch(self, texts: Sequence[str], voice: str, params: SynthParams | None = None) -> list[AudioResult]:
        """Several texts in batched inference; item i sounds as `synthesize(texts[i])` would with the same seed."""
        if isinstance(texts, str) or not texts:
            raise InvalidInput("batch() needs a non-empty list of texts.")
        language, steps, speed, seed = self._resolve(params)
        style, sessions = self._voice(voice)
        # every chunk of every text, shortest first so each batch pads little
        jobs = [(t, k, item) for t, text in enumerate(texts) for k, item in self._prepare(text, language)]
        jobs.sort(key=lambda job: len(job[2].text))
        parts: dict[int, dict[int, AudioResult]] = {t: {} for t in range(len(texts))}
        for start in range(0, len(jobs), MAX_BATCH):
            group = jobs[start : start + MAX_BATCH]
            results = self._render([j[2] for j in group], style, steps, speed, seed, [j[1] for j in group], sessions)
            for (t, k, _), result in zip(group, results, strict=True):
                parts[t][k] = result
        return [self._joined([chunks[k] for k in sorted(chunks)]) for chunks in parts.values()]

    def speak_style(self, text: str, style: Style, params: SynthParams | None = None) -> AudioResult:
        """Speak with a style that is not a saved voice (a cloning candidate, a mix being designed)."""
        language, steps, speed, seed = self._resolve(params)
        parts = []
        for index, item in self._prepare(text, language):
            parts.extend(self._render([item], style, steps, speed, seed, [index]))
        return self._joined(parts)

    def encode(self, texts: Sequence[str], voice: str, params: SynthParams | None = None) -> RawInputs:
        """The validated graph inputs for texts that each fit in one chunk (for benchmarks against `run_raw`)."""
        language, steps, speed, _ = self._resolve(params)
        style = self._style(voice)
        return self._raw_inputs([self.text.preprocess(t, language) for t in texts], style, steps, speed)

    # ----------------------------------------------------------------- internals

    def _resolve(self, params: SynthParams | None) -> tuple[str, int, float, int | None]:
        if params is None:
            params = SynthParams(speed=self.version.default_speed)
        language = params.language or self.info.default_language
        self.text.check_language(language)
        asked = default_steps(self.info, self.device.actual) if params.steps is None else params.steps
        steps = check_steps(asked, MIN_STEPS, MAX_STEPS)
        speed = check_speed(params.speed, MIN_SPEED, MAX_SPEED)
        seed = None if params.seed is None else int(params.seed) & 0xFFFF_FFFF_FFFF_FFFF
        return language, steps, speed, seed

    def _style(self, voice: str) -> Style:
        return self._lookup(voice)[0]

    def _voice(self, voice: str) -> tuple[Style, SupertonicSessions]:
        """A voice's style and the graphs it speaks with: the model's own, or, for a fine-tuned library voice
        (Fine-tune tab, Supertonic backend), the model's with that voice's trained graphs in place of the base ones;
        the library is read once."""
        style, entry = self._lookup(voice)
        if entry is None or "adapter" not in entry.payload:
            return style, self.sessions
        return style, self.tuned_sessions(entry.path("adapter"), f"{entry.name} (fine-tuned)")

    def _lookup(self, voice: str) -> tuple[Style, Voice | None]:
        """The style of a preset, a library voice (with its library entry) or a style file."""
        key = (voice or "").strip()
        if key in self.styles:
            return self.styles[key], None
        if key.upper() in self.styles:
            return self.styles[key.upper()], None
        if self.library is not None and key and "/" not in key and not key.lower().endswith(".json"):
            try:
                entry = self.library.get(key)
            except VoiceNotFound:
                entry = None
            if entry is not None:
                if entry.engine != self.version.name:
                    raise VoiceNotFound(
                        f"{entry.name} is a {entry.engine} voice; {self.version.label} cannot use voices made "
                        "for another model (their styles live in different spaces)."
                    )
                where = f"{entry.name} ({entry.path('style').name})"
                return self._file_style(entry.path("style"), where), entry
        path = Path(key).expanduser()
        if self.style_files and key and (key.lower().endswith(".json") or path.is_file()):
            if not path.is_file():
                raise VoiceNotFound(f"Voice style file not found: {path}. Give an existing Supertonic style .json.")
            return self._file_style(path), None
        raise VoiceNotFound(
            f"{self.version.label} has no voice '{voice}'. Choose one of: {', '.join(self.styles)}, "
            "or give the path to a Supertonic style .json file."
        )

    def tuned_sessions(self, folder: Path, where: str = "") -> SupertonicSessions:
        """This model's sessions with the graphs found in `folder` (onnx/<graph>.onnx, a fine-tune's result) loaded
        in place of its own, on this engine's runtime and device; loaded once per folder."""
        folder = Path(folder)
        key = str(folder.resolve())
        if key in self._tuned:
            return self._tuned[key]
        found = [g for g in GRAPHS if (folder / graph_file(g)).is_file()]
        if not found:
            raise VoiceNotFound(f"{where or folder}: its fine-tuned graphs are missing ({folder / 'onnx'}); "
                                "use the run's result as a voice again.")  # fmt: skip
        made = {g: getattr(self.sessions, g) for g in GRAPHS}
        device = self.device.actual or "cpu"
        if self.runtime == TORCH:
            from studio.systems.supertonic.torch_runtime import load_torch_sessions

            tuned, _ = load_torch_sessions(folder, device, cache_dir=self.torch_cache, graphs=found)
            made.update({g: getattr(tuned, g) for g in found})
        else:
            from studio.engines.onnx import create_session

            for graph in found:
                made[graph], _ = create_session(folder / graph_file(graph), device, 1)
        for graph in found:
            check_contract(graph, made[graph], folder / graph_file(graph))
        sessions = SupertonicSessions(**made)
        while len(self._tuned) >= MAX_TUNED:  # each holds a vector estimator (130-260 MB): the oldest goes
            self._tuned.pop(next(iter(self._tuned)))
        self._tuned[key] = sessions
        return sessions

    def with_graphs(self, folder: Path) -> SupertonicEngine:
        """This engine speaking with the graphs of `folder` (a fine-tune's result) in place of its own."""
        view = copy.copy(self)
        view.sessions = self.tuned_sessions(folder)
        return view

    def for_user(self, settings: Settings) -> SupertonicEngine:
        """This engine for one user: the same sessions and presets, that user's library voices; on a hosted server
        a voice is never a path on the server's disk."""
        view = copy.copy(self)
        view.library = VoiceLibrary(settings.voices_dir)
        view.style_files = not settings.hosted
        return view

    def _file_style(self, path: Path, where: str = "") -> Style:
        """A style file, checked against this model; `where` names it in messages (a library voice by its name)."""
        cache_key = (str(path.resolve()), path.stat().st_mtime)
        style = self._file_styles.get(cache_key) or Style.from_file(path, VoiceNotFound)
        if style.engine and style.engine != self.version.name:
            raise VoiceNotFound(f"'{path.name}' is a {style.engine} voice; {self.version.label} cannot use "
                                "styles of another Supertonic version; pick a voice made for it.")  # fmt: skip
        style.check_fits(self.style_shapes, where or path.name, self.version.label, VoiceNotFound,
                         f"It was made for another model; pick a voice made for {self.version.label}.")  # fmt: skip
        self._file_styles[cache_key] = style
        return style

    def _chunks(self, text: str, language: str) -> list[str]:
        if not text or not text.strip():
            raise InvalidInput("The text is empty: type or paste something to speak.")
        return [c for c in chunk_text(text, chunk_limit(language), language) if c.strip()]

    def _prepare(self, text: str, language: str) -> list[tuple[int, Preprocessed]]:
        """(chunk index, preprocessed chunk) for every chunk with something to say; warnings of skipped ones move on."""
        out: list[tuple[int, Preprocessed]] = []
        carried: list[str] = []
        for index, chunk in enumerate(self._chunks(text, language)):
            item = self.text.preprocess(chunk, language)
            if not any(ch.isalnum() for ch in item.body):  # only punctuation left (e.g. a line of emoji)
                carried.extend(item.warnings)
                continue
            if carried:
                item = replace(item, notes=(*item.notes, *carried))
                carried = []
            out.append((index, item))
        if not out:
            detail = f" ({' '.join(dict.fromkeys(carried))})" if carried else ""
            raise InvalidInput(f"Nothing to say: {self.version.label} cannot read any word of this text{detail}.")
        if carried:
            index, last = out[-1]
            out[-1] = (index, replace(last, notes=(*last.notes, *carried)))
        return out

    def _render(self, items: Sequence[Preprocessed], style: Style, steps: int, speed: float, seed: int | None,
                chunk_indices: Sequence[int],
                sessions: SupertonicSessions | None = None) -> list[AudioResult]:  # fmt: skip
        n = len(items)
        inputs = self._raw_inputs(items, style, steps, speed)
        if seed is None:
            rngs = [np.random.default_rng(s) for s in np.random.SeedSequence().spawn(n)]
        else:  # chunk k of any text uses (seed, k): a text sounds the same alone, streamed or inside a batch
            rngs = [np.random.default_rng([seed, int(k)]) for k in chunk_indices]
        wav, duration = run_raw(sessions or self.sessions, self.config, inputs, rngs)
        lengths = self.config.wav_lengths(duration)
        out = []
        for i, item in enumerate(items):
            samples: NDArray[np.float32] = np.clip(wav[i, : int(lengths[i])], -1.0, 1.0).astype(np.float32, copy=False)
            rate = self.config.sample_rate
            out.append(AudioResult(samples, rate, self.device.actual, self.device.note, item.warnings))
        return out

    def _raw_inputs(self, items: Sequence[Preprocessed], style: Style, steps: int, speed: float) -> RawInputs:
        batch = self.text.encode_items(items)
        ttl, dp = np.repeat(style.ttl, len(items), 0), np.repeat(style.dp, len(items), 0)
        return RawInputs(batch.text_ids, batch.text_mask, ttl, dp, steps, speed)

    def _joined(self, parts: list[AudioResult]) -> AudioResult:
        samples = join([p.samples for p in parts], self.config.sample_rate, SILENCE_SECONDS)
        warnings = tuple(dict.fromkeys(w for p in parts for w in p.warnings))
        return AudioResult(samples, self.config.sample_rate, self.device.actual, self.device.note, warnings)


def raw_session_runner(engine: Engine, text: str, voice: str, params: SynthParams | None = None) -> Callable[[], None]:
    """A no-argument callable doing only the bare ORT calls for `text` (each chunk, as `synthesize` would).

    Text processing, validation and style lookup happen once, here; timing the callable against
    `engine.synthesize(text, voice, params)` measures the overhead of Studio's synthesis path.
    """
    if not isinstance(engine, SupertonicEngine):
        raise InvalidInput(f"raw_session_runner needs a Supertonic engine, not {engine.info.label}.")
    language, steps, speed, seed = engine._resolve(params)
    style = engine._style(voice)
    jobs = [(k, engine._raw_inputs([item], style, steps, speed)) for k, item in engine._prepare(text, language)]
    base = 0 if seed is None else seed

    def run() -> None:
        for k, inputs in jobs:
            run_raw(engine.sessions, engine.config, inputs, [np.random.default_rng([base, k])])

    return run


def library_voices(library: VoiceLibrary | None, version: SupertonicVersion) -> list[VoiceInfo]:
    """The library's voices made for this version (styles of Supertonic 2 and 3 are different spaces)."""
    if library is None:
        return []
    return [
        VoiceInfo(v.id, v.name, version.languages, "library", v.source.get("kind", "library"))
        for v in library.all(version.name)
    ]
