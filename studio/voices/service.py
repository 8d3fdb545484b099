"""The voice library as a service: list voices for the UI and CLI, mix Supertonic voices, preview, share."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio import systems
from studio.audio.asr import LazyTranscriber
from studio.engines.base import SynthParams
from studio.engines.cloning import CloneJob, CloneProgress, CloneResult  # noqa: F401 (callers read them here)
from studio.engines.registry import Registry
from studio.errors import InvalidInput, VoiceNotFound
from studio.systems.supertonic.clone import CloneSettings  # noqa: F401 (cloning by optimization: its options)
from studio.systems.supertonic.mixing import check_weights, mix_styles
from studio.systems.supertonic.model import Style
from studio.voices.library import Voice, VoiceLibrary, check_name
from studio.voices.reference import Reference, load_reference

MIXABLE = ("supertonic2", "supertonic3")
PREVIEW_TEXT = "Hello! This is how I sound when I read a few sentences out loud."
LIBRARY_HEADERS = ["Name", "Engine", "Made by", "Similarity", "Created", "Id"]
CLONABLE = tuple(systems.cloning_engines())  # from the systems table: Supertonic 2 and 3, Qwen3-TTS
CONSENT_NEEDED = "Tick “I have the speaker's permission” first: Studio clones only voices their owners agreed to lend."


def made_by(voice: Voice) -> str:
    """How a voice was made, in words, from its recipe (a recipe edited by hand says what it can, never fails)."""
    source = voice.source
    made = str(source.get("kind", ""))
    if made == "clone":
        how = source.get("method") or source.get("mode") or ""
        return f"clone ({how}) of {source.get('file', 'a recording')}"
    if made == "design":
        described = str(source.get("description") or "")
        return f"designed: {described[:60]}{'…' if len(described) > 60 else ''}"
    if made == "mix":
        parts = [p for p in source.get("parts") or [] if isinstance(p, dict)]
        try:
            return "mix of " + ", ".join(f"{p.get('voice', '?')} {float(p.get('weight', 0)):.0%}" for p in parts)
        except (TypeError, ValueError):
            return "mix"
    return made


@dataclass
class Voices:
    registry: Registry
    library: VoiceLibrary
    whisper: LazyTranscriber = field(default_factory=LazyTranscriber)  # transcripts of references, loaded on need
    _clone_cache: dict[str, Any] = field(default_factory=dict, repr=False)  # kept between clones (a torch copy)

    def rows(self) -> list[list[Any]]:
        """One row per voice for the library table (newest first); broken folders say why."""
        import time

        rows: list[list[Any]] = []
        voices, broken = self.library.scan()
        for v in reversed(voices):
            sim = "—" if v.similarity is None else f"{v.similarity:.3f}"
            rows.append([v.name, v.engine, made_by(v), sim, time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created)),
                         v.id])  # fmt: skip
        for b in broken:
            rows.append([f"(broken) {b.id}", "—", b.reason, "—", "—", b.id])
        return rows

    def mixable_choices(self, engine: str) -> list[tuple[str, str]]:
        """(label, voice) of every voice an engine can mix: its presets, then its library voices."""
        if engine not in MIXABLE:
            raise InvalidInput(f"Voice mixing works with Supertonic voices ({', '.join(MIXABLE)}), not {engine}.")
        return [(f"{v.name} ({v.source})", v.id) for v in self.registry.voices(engine)]

    def style_of(self, engine: str, voice: str) -> Style:
        loaded = self.registry.get(engine)
        resolve = getattr(loaded, "style", None)
        if resolve is None:
            raise InvalidInput(f"{engine} has no voice styles to mix.")
        style: Style = resolve(voice)
        return style

    def mix(self, engine: str, parts: list[tuple[str, float]], name: str, notes: str = "") -> Voice:
        """Blend the parts' styles (rows renormalized) and save the result as a library voice of `engine`."""
        if engine not in MIXABLE:
            raise InvalidInput(f"Voice mixing works with Supertonic voices ({', '.join(MIXABLE)}), not {engine}.")
        parts = [(v, w) for v, w in parts if v]
        if len(parts) < 1:
            raise InvalidInput("Choose at least one voice to mix.")
        weights = check_weights([w for _, w in parts])
        styles = [(self.style_of(engine, v), w) for v, w in parts]
        mixed = mix_styles(styles)
        info = self.registry.info(engine)
        recipe = [{"voice": v, "weight": round(w, 4)} for (v, _), w in zip(parts, weights, strict=True)]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "style.json"
            path.write_text(json.dumps(mixed.to_json(engine, {"mix": recipe})))
            voice = self.library.add(
                name,
                engine,
                files={"style": path},
                source={"kind": "mix", "parts": recipe},
                model_version=info.model_version,
                notes=notes,
            )
        self._changed(engine)  # nothing cached about voices goes stale
        return voice

    # ---- library actions: each refreshes the one engine whose voices changed -----------------------------------
    def rename(self, voice_id: str, name: str) -> Voice:
        voice = self.library.rename(voice_id, name)
        self._changed(voice.engine)
        return voice

    def delete(self, voice_id: str) -> None:
        engine = self.library.get(voice_id).engine
        self.library.delete(voice_id)
        self._changed(engine)

    def import_zip(self, archive: Path) -> Voice:
        voice = self.library.import_zip(archive)
        self._changed(voice.engine)
        return voice

    def _changed(self, engine: str) -> None:
        """An engine that lists voices when it loads (Piper) sees the library again; the others stay loaded. A hosted
        user's engines are views made afresh on each use, so nothing is unloaded there (other users' models stay)."""
        if self.registry.settings.area is None and engine in self.registry.names():
            self.registry.forget(engine)

    def preview(self, voice_id: str, text: str = PREVIEW_TEXT) -> Any:
        """Speak a short sentence with a library voice (its own engine)."""
        voice = self.library.get(voice_id)
        if voice.engine not in self.registry.names():
            raise VoiceNotFound(f"{voice.name} needs the {voice.engine} engine, which this Studio does not have.")
        status = self.registry.available(voice.engine)
        if not status.ok:
            raise InvalidInput(f"{voice.name} needs {self.registry.info(voice.engine).label}: {status.message}")
        engine = self.registry.get(voice.engine)  # at the engine's default speed (Supertonic 1.05), as Synthesize
        return engine.synthesize(text, voice.id, SynthParams(speed=engine.info.default_speed))

    # ------------------------------------------------------------------ designing (Qwen3-TTS VoiceDesign)

    def design_preview(self, description: str, text: str | None = None, language: str | None = None,
                       seed: int | None = 0, device: str = "cpu") -> Any:  # fmt: skip
        """A sample sentence (`text`, default `design.SAMPLE_TEXT`) spoken in the voice `description` asks for, by
        the Qwen3-TTS VoiceDesign checkpoint; `design` with the same arguments keeps that voice."""
        from studio.systems.qwen3_tts import design

        design.check_design(description, text)  # before any model loads
        self._ready(design.DESIGN_ENGINE)
        designer: Any = self.registry.get(design.DESIGN_ENGINE, device)  # a Qwen3TTSEngine of a VoiceDesign model
        return design.preview(designer, description, text, language, seed)

    def design(self, description: str, name: str, text: str | None = None, language: str | None = None,
               seed: int | None = 0, device: str = "cpu") -> Voice:  # fmt: skip
        """Design a voice and keep it ("Voice Design then Clone"): the sample `design_preview` speaks, made into a
        clone prompt by the Qwen3-TTS Base checkpoint, saved as a `qwen3_tts` library voice (Synthesize, books and
        the API speak it like any cloned voice, the same voice every sentence)."""
        from studio.systems.qwen3_tts import design

        name = check_name(name)
        design.check_design(description, text)
        self._ready(design.DESIGN_ENGINE)
        self._ready(design.ENGINE)
        if not self.registry.info(design.ENGINE).supports_clone:
            info = self.registry.info(design.ENGINE)
            raise InvalidInput(f"A designed voice is kept as a clone prompt of a Qwen3-TTS Base checkpoint; the one "
                               f"that runs is {info.model_version}. Choose a Base checkpoint (`python -m studio "
                               f"model {design.ENGINE} 0.6b-base`, or the Synthesize tab's Checkpoint), after "
                               f"`python -m studio download {design.ENGINE}` (the {design.DEFAULT_MODEL} weights) "
                               "if it is not downloaded.")  # fmt: skip
        designer: Any = self.registry.get(design.DESIGN_ENGINE, device)
        base: Any = self.registry.get(design.ENGINE, device)
        # Qwen3-TTS lists library voices as it is asked: nothing to reload afterwards
        return design.design_voice(self.library, designer, base, description, name, text, language, seed)

    def _ready(self, engine: str) -> None:
        status = self.registry.available(engine)
        if not status.ok:
            raise InvalidInput(f"{self.registry.info(engine).label} is not ready: {status.message}")

    # ------------------------------------------------------------------ cloning

    def clonable_engines(self) -> list[str]:
        return [e for e in CLONABLE if e in self.registry.names()]

    def reference(self, path: Path | str, engine: str | None = None, name: str | None = None,
                  transcribe: bool = True) -> Reference:  # fmt: skip
        """Check, trim and normalize a recording (at the engine's rate when given); transcript by Whisper."""
        rate = self.registry.info(engine).sample_rate if engine else None
        ref = load_reference(path, rate, name)
        if transcribe:
            whisper = self.whisper.get()
            if whisper is not None:
                from studio.voices.reference import transcribe as run_whisper

                run_whisper(ref, whisper)
            else:
                ref.warnings.append(f"Speech recognition is unavailable ({self.whisper.error}): type the transcript.")
        return ref

    def cloner(self, engine: str, device: str = "cpu") -> Any:
        """The Supertonic cloner that `clone` uses for `engine` (the same kept one)."""
        from studio.audio.speaker import SpeakerEncoder
        from studio.systems.supertonic.clone import kept_cloner

        return kept_cloner(self._clone_cache, engine, self.registry.get(engine, device), SpeakerEncoder.load())

    def clone(
        self,
        engine: str,
        reference: Path | str | Reference,
        name: str,
        consent: bool,
        transcript: str | None = None,
        settings: Any = None,
        on_progress: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
        device: str = "cpu",
        mode: str = "icl",
    ) -> tuple[Voice, Any]:
        """Clone a reference onto `engine` and save the voice with its measured similarity. Supertonic: a style found
        by optimization (`settings`; also saved when cancelled: the best so far). Qwen3-TTS: a clone prompt (`mode`
        icl: audio + transcript, or xvector: speaker embedding only).

        Everything a user can get wrong is checked before the long part: consent, the name, the engine, the
        recording."""
        if not consent:
            raise InvalidInput(CONSENT_NEEDED)
        name = check_name(name)
        method = systems.cloner(engine)  # the engine's system clones (the table), or a message naming who can
        status = self.registry.available(engine)
        if not status.ok:
            raise InvalidInput(f"{self.registry.info(engine).label} is not ready: {status.message}")
        method.check(settings, mode)
        if isinstance(reference, Reference):
            ref = reference
        else:
            ref = self.reference(reference, engine, transcribe=transcript is None)
        if transcript is not None:
            ref.transcript = " ".join(transcript.split())
        from studio.audio.speaker import SpeakerEncoder

        job = CloneJob(engine, self.registry.get(engine, device), ref, name, self.library, SpeakerEncoder.load(),
                       settings, mode, on_progress, cancel, self._clone_cache)  # fmt: skip
        voice, result = method.clone_voice(job)
        return voice, result
