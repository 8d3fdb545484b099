"""The voice library as a service: list voices for the UI and CLI, mix Supertonic voices, preview, share."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.engines.base import SynthParams
from studio.engines.registry import Registry
from studio.engines.supertonic_model import Style
from studio.errors import InvalidInput, VoiceNotFound
from studio.voices.library import Voice, VoiceLibrary
from studio.voices.mixing import check_weights, mix_styles

MIXABLE = ("supertonic2", "supertonic3")
PREVIEW_TEXT = "Hello! This is how I sound when I read a few sentences out loud."
LIBRARY_HEADERS = ["Name", "Engine", "Made by", "Similarity", "Created", "Id"]


@dataclass
class Voices:
    registry: Registry
    library: VoiceLibrary

    def rows(self) -> list[list[Any]]:
        """One row per voice for the library table (newest first); broken folders say why."""
        import time

        rows: list[list[Any]] = []
        voices, broken = self.library.scan()
        for v in reversed(voices):
            made = v.source.get("kind", "")
            if made == "mix":
                made = "mix of " + ", ".join(f"{p['voice']} {p['weight']:.0%}" for p in v.source.get("parts", []))
            sim = "—" if v.similarity is None else f"{v.similarity:.3f}"
            rows.append([v.name, v.engine, made, sim, time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created)), v.id])
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
        self.registry.forget(engine)  # nothing cached about voices goes stale
        return voice

    def preview(self, voice_id: str, text: str = PREVIEW_TEXT) -> Any:
        """Speak a short sentence with a library voice (its own engine)."""
        voice = self.library.get(voice_id)
        if voice.engine not in self.registry.names():
            raise VoiceNotFound(f"{voice.name} needs the {voice.engine} engine, which this Studio does not have.")
        status = self.registry.available(voice.engine)
        if not status.ok:
            raise InvalidInput(f"{voice.name} needs {self.registry.info(voice.engine).label}: {status.message}")
        return self.registry.get(voice.engine).synthesize(text, voice.id, SynthParams())
