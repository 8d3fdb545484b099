"""The Python API: everything the UI does, callable from scripts (`from studio.api import Studio`)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio import systems
from studio.audio.io import write_audio
from studio.audio.types import AudioResult
from studio.bench.results import BenchResult
from studio.config import Settings
from studio.engines.base import EngineInfo, ModelChoice, VoiceInfo
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.synthesis import SynthChunk, Synthesizer, SynthOutcome, SynthRequest, SynthStats
from studio.take_subtitles import write_subtitles, write_subtitles_check

if TYPE_CHECKING:
    from studio.book.job import BookJob
    from studio.book.runner import RenderRunner
    from studio.book.service import Audiobooks
    from studio.finetune.service import FineTune
    from studio.voices.service import Voices


@dataclass(frozen=True)
class EngineStatus:
    """One engine as `studio engines` and the UI list it."""

    name: str
    label: str
    available: bool
    message: str
    info: EngineInfo
    voices: tuple[VoiceInfo, ...]


class Studio:
    """The application: settings, the engine registry and every service (synthesis, audiobooks, the voice library,
    fine-tuning, benchmarks). The web UI (`ui/context.py`), the CLI and the OpenAI-compatible server all wrap one.
    `Studio().synthesize("Hello")` speaks with the bundled offline voice."""

    def __init__(
        self, home: Path | str | None = None, settings: Settings | None = None, registry: Registry | None = None
    ) -> None:
        self.settings = settings or Settings.load(home)
        self.settings.ensure_dirs()
        self.registry = registry or Registry(self.settings)
        self.synthesizer = Synthesizer(self.registry)

    @cached_property
    def books(self) -> Audiobooks:
        """Audiobooks, as the Audiobook tab and `studio book` use them: `load()`, `plan()`, `create_job()`,
        `job()`, `jobs()`, `render()`, `export()`; flag review: `flagged()`, `regenerate()` (a new take, its seed
        recorded; `seed=` makes one again), `accept()`, `edit_chunk()`, `add_lexicon_rule()`."""
        from studio.book.service import Audiobooks

        return Audiobooks(self.registry)

    @cached_property
    def renders(self) -> RenderRunner:
        """Book renders in the background (one at a time, cancellable), for a UI that must not wait on them."""
        from studio.book.runner import RenderRunner

        return RenderRunner(self.books)

    @cached_property
    def finetune(self) -> FineTune:
        """Fine-tuning, as the Fine-tune tab does it: `spec()`/`demo_spec()`, `start()`, `stop()`, `resume()`,
        `metrics()`, `queue_experiments()`, `comparison()`, `export_adapter()`, `use_as_voice()`."""
        from studio.finetune.service import FineTune

        return FineTune(self.settings)

    @cached_property
    def library(self) -> Voices:
        """The voice library, as the Voice Clone tab uses it: `rows()`, `mix()`, `preview()`, and `library` (`all()`,
        `rename()`, `delete()`, `export_zip()`, `import_zip()`)."""
        from studio.voices.library import VoiceLibrary
        from studio.voices.service import Voices

        return Voices(self.registry, VoiceLibrary(self.settings.voices_dir))

    def engines(self) -> list[EngineStatus]:
        out = []
        for name in self.registry.names():
            status = self.registry.available(name)
            info = self.registry.info(name)
            voices = tuple(self.registry.voices(name)) if status.ok else ()
            out.append(EngineStatus(name, info.label, status.ok, status.message, info, voices))
        return out

    def voices(self, engine: str = "piper") -> list[VoiceInfo]:
        return self.registry.voices(engine)

    def synthesize(
        self,
        text: str,
        engine: str = "piper",
        voice: str | None = None,
        *,
        language: str | None = None,
        steps: int | None = None,
        speed: float | None = None,
        gpu: bool = False,
        normalize: bool = True,
        seed: int | None = None,
        instruct: str | None = None,
        duration: float | None = None,
        cancel: threading.Event | None = None,
    ) -> SynthOutcome:
        """Speak `text` and return the whole take. `instruct`: how to speak, in words ("speak slowly and warmly"),
        for engines that take instructions (`EngineInfo.supports_instructions`: Qwen3-TTS 1.7B CustomVoice); any
        other engine refuses them with a message. `duration`: seconds the take should last, for engines whose
        length is an input (`EngineInfo.supports_duration`: smalltts); None lets the engine estimate it."""
        req = SynthRequest(text, engine, voice, language, steps, speed, gpu, normalize, seed, instruct, duration)
        return self.synthesizer.synthesize(req, cancel)

    def synthesize_to_file(
        self,
        text: str,
        path: Path | str,
        engine: str = "piper",
        voice: str | None = None,
        *,
        language: str | None = None,
        steps: int | None = None,
        speed: float | None = None,
        gpu: bool = False,
        normalize: bool = True,
        seed: int | None = None,
        instruct: str | None = None,
        duration: float | None = None,
        cancel: threading.Event | None = None,
        subtitles: Sequence[str] = (),
        subtitle_words: bool = False,
    ) -> tuple[Path, SynthStats, tuple[str, ...]]:
        """Speak `text` of any length into `path` (.wav, .flac or .mp3), written sentence by sentence as it is made
        (the memory of one sentence, not of the whole take). `subtitles` ("srt", "vtt"): also write the take's
        sentences, timed, beside it (`<path>.srt`, `<path>.vtt`); `subtitle_words`: a cue per word instead, timed by
        speech recognition hearing the take (Whisper tiny.en for English, the multilingual Whisper base for other
        languages; without one for the language, sentence cues and a warning). Returns the file, the statistics
        and any warnings."""
        req = SynthRequest(text, engine, voice, language, steps, speed, gpu, normalize, seed, instruct, duration)
        if subtitles or subtitle_words:  # a bad format is refused before anything is spoken
            write_subtitles_check(subtitles, subtitle_words)
        path, stats, warnings = self.synthesizer.synthesize_to_file(req, path, cancel)
        if subtitles and stats.partial:  # a stopped take ends before the text does: its sentences cannot be placed
            warnings = (*warnings, "Stopped part way: no subtitles were written (the take ends before the text does).")
        elif subtitles:
            language = language or self.registry.info(engine).default_language
            checker = self.books.renderer.checker if subtitle_words else None
            _, more = write_subtitles(path, text, language, subtitles, words=checker, cancel=cancel)
            warnings = (*warnings, *more)
        return path, stats, warnings

    def book_from_text(
        self,
        text: str,
        engine: str = "piper",
        voice: str | None = None,
        *,
        title: str | None = None,
        new: bool = False,
        instruct: str | None = None,
    ) -> BookJob:
        """An audiobook job of a text (pasted, or of any length): chapters at headings, titled by `title`, else the
        first line when it is short, else "Pasted text". Render it with `books.render(job)` (resumable: finished
        chunks are kept; checked by speech recognition) and `books.export(job)`, or in the background with
        `renders.start(job)`. The same text again opens its earlier job unless `new`. `instruct`: how the narrator
        speaks (engines that take instructions; the others refuse them), kept in a new job's render settings."""
        return self.books.job_from_text(text, engine, voice, title, reuse=not new, instruct=instruct)

    def stream(
        self,
        text: str,
        engine: str = "piper",
        voice: str | None = None,
        *,
        language: str | None = None,
        steps: int | None = None,
        speed: float | None = None,
        gpu: bool = False,
        normalize: bool = True,
        seed: int | None = None,
        instruct: str | None = None,
        duration: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[SynthChunk]:
        req = SynthRequest(text, engine, voice, language, steps, speed, gpu, normalize, seed, instruct, duration)
        return self.synthesizer.stream(req, cancel)

    def download(
        self, engine: str, on_progress: Callable[[float, str], None] | None = None, *, model: str | None = None
    ) -> None:
        """Fetch an engine's weights from the Hugging Face Hub into Studio's cache. `model`: which checkpoint, for an
        engine with several (`models(engine)`: Qwen3-TTS, e.g. "1.7b-customvoice"); default the chosen one, else the
        engine's default. Downloading does not choose it (`choose_model`)."""
        spec = self.registry.spec(engine)
        if model is not None and spec.models is None:
            raise InvalidInput(f"{spec.label} has one checkpoint; download it without naming a model.")
        if spec.download is None:
            return
        if model is not None:
            spec.download(self.settings, on_progress, model=model)
        else:
            spec.download(self.settings, on_progress)
        self.registry.forget(engine)

    def models(self, engine: str) -> list[ModelChoice]:
        """The checkpoints an engine can run (Qwen3-TTS: 0.6B/1.7B Base and CustomVoice, and a folder placed by
        hand): whether each is downloaded, and which one runs. An engine with one model lists none."""
        spec = self.registry.spec(engine)
        return [] if spec.models is None else spec.models(self.settings)

    def choose_model(self, engine: str, model: str) -> ModelChoice:
        """Run `model` (a Hub id, a short name such as "1.7b-customvoice", or "placed") from now on, remembered in
        the data folder (`Settings.choices_file`) for the app, the CLI and the API. It must be downloaded; otherwise
        InvalidInput names those that are and the command that downloads it. STUDIO_QWEN3_MODEL, when set, decides
        instead (choosing refuses then), as does a hosted server's setting."""
        spec = self.registry.spec(engine)
        if spec.models is None or spec.model_name is None:
            raise InvalidInput(f"{spec.label} has one model; there is no checkpoint to choose.")
        name = spec.model_name(model)
        setting = self.settings.model_setting(engine)
        if setting is not None and setting[1] != str(self.settings.choices_file):  # the environment's
            raise InvalidInput(f"{setting[1]}={setting[0]} sets the {spec.label} checkpoint here; unset it to choose "
                               "another.")  # fmt: skip
        if self.settings.hosted:
            raise InvalidInput(f"On a hosted server the {spec.label} checkpoint is the server's setting "
                               "(STUDIO_QWEN3_MODEL); it is the same for every visitor.")  # fmt: skip
        choices = {c.name: c for c in spec.models(self.settings)}
        if not choices[name].present:
            here = ", ".join(c.short for c in choices.values() if c.present) or "none"
            raise InvalidInput(f"{choices[name].label} ({name}) is not downloaded, so it cannot be chosen. Checkpoints "
                               f"here: {here}. Download it with `python -m studio download {engine} --model "
                               f"{choices[name].short}`.")  # fmt: skip
        self.settings.save_model_choice(engine, name)
        self.registry.forget(engine)
        return next(c for c in spec.models(self.settings) if c.name == name)

    def catalog(self, system: str = "piper", on_progress: Callable[[float, str], None] | None = None) -> list[Any]:
        """The voices a system offers for download (Piper's public catalogue: `key`, `label`, language, quality)."""
        return self._catalog(system).load_catalog(self.settings, on_progress)

    def install_voice(
        self, key: str, system: str = "piper", on_progress: Callable[[float, str], None] | None = None
    ) -> Path:
        """Download one catalogue voice into the voice library; the system's engines list it from then on."""
        path: Path = self._catalog(system).download_voice(self.settings, key, on_progress)
        for spec in systems.system(system).engines():
            self.registry.forget(spec.name)
        return path

    @staticmethod
    def _catalog(system: str) -> Any:
        path = systems.system(system).catalog
        if path is None:
            raise InvalidInput(f"{systems.system(system).label} has no voice catalogue to download from.")
        return importlib.import_module(path)

    @staticmethod
    def save(audio: AudioResult, path: Path | str) -> Path:
        return write_audio(audio, path)

    def benchmark(
        self,
        engines: tuple[str, ...] | list[str] = ("piper",),
        steps: tuple[int, ...] | list[int] = (2, 5),
        gpu: bool = False,
        texts: tuple[str, ...] | list[str] = ("short", "mid", "long"),
        custom_text: str | None = None,
        repeats: int = 5,
        warmup: int = 1,
        voices: dict[str, tuple[str, ...]] | None = None,
        output: Path | str | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> BenchResult:
        """Chars/sec, real-time factor and the rest (docs/benchmarks.md); `studio.bench.report` makes the tables.
        With `output`, the results file is written after every case."""
        from studio.bench.plan import BenchPlan, choose_texts, expand_engines
        from studio.bench.runner import run_benchmark

        plan = BenchPlan(
            engines=expand_engines(list(engines), self.registry),
            voices=dict(voices or {}),
            steps=tuple(steps),
            devices=("cpu", "cuda") if gpu else ("cpu",),
            texts=choose_texts(texts, custom_text),
            repeats=repeats,
            warmup=warmup,
        )
        out = Path(output) if output is not None else None
        result = run_benchmark(
            plan, self.settings, on_progress, cancel, on_case=(lambda r: r.save(out)) if out is not None else None
        )
        if out is not None:
            result.save(out)
        return result
