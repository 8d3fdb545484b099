"""The voice library: a voice is a folder holding voice.json (engine, name, created, source) and its payload."""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, VoiceNotFound
from studio.fsutil import write_atomic

VOICE_FILE = "voice.json"


@dataclass
class Voice:
    id: str  # folder name
    name: str
    engine: str
    created: float
    source: dict[str, Any] = field(default_factory=dict)  # where it came from: a run, a recording, a download
    payload: dict[str, Any] = field(default_factory=dict)  # engine-specific: files in the folder, base model, ...
    folder: Path = Path()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("folder")
        return data

    def path(self, key: str) -> Path:
        """A payload file or folder (stored relative to the voice folder)."""
        value = self.payload.get(key)
        if not value:
            raise VoiceNotFound(f"Voice {self.name} has no {key}.")
        return self.folder / str(value)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:60] or "voice"


class VoiceLibrary:
    """Voices on disk under one folder (Settings.voices_dir); engines list theirs by `engine`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def all(self, engine: str | None = None) -> list[Voice]:
        voices: list[Voice] = []
        if not self.root.is_dir():
            return voices
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / VOICE_FILE).is_file():
                continue  # .tmp-* folders are adds in progress (or left by a crash): not voices
            try:
                voice = self._read(folder)
            except InvalidInput:
                continue  # a broken voice folder must not hide the others
            if engine is None or voice.engine == engine:
                voices.append(voice)
        return voices

    def get(self, voice_id: str) -> Voice:
        folder = self.root / voice_id
        if "/" in voice_id or voice_id.startswith(".") or not (folder / VOICE_FILE).is_file():
            names = ", ".join(v.id for v in self.all()) or "none yet"
            raise VoiceNotFound(f"There is no voice {voice_id!r} in the library (voices: {names}).")
        return self._read(folder)

    def _read(self, folder: Path) -> Voice:
        try:
            data = json.loads((folder / VOICE_FILE).read_text(encoding="utf-8"))
            return Voice(
                id=folder.name,
                name=str(data["name"]),
                engine=str(data["engine"]),
                created=float(data.get("created", 0.0)),
                source=dict(data.get("source") or {}),
                payload=dict(data.get("payload") or {}),
                folder=folder,
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{folder / VOICE_FILE} is damaged ({exc}).") from exc

    def add(
        self,
        name: str,
        engine: str,
        *,
        files: dict[str, Path] | None = None,
        payload: dict[str, Any] | None = None,
        source: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> Voice:
        """Copy `files` (payload key -> file or folder) into a new voice folder; written whole or not at all."""
        if not name.strip():
            raise InvalidInput("Give the voice a name.")
        voice_id = slugify(name)
        final = self.root / voice_id
        if final.exists() and not replace:
            raise InvalidInput(f"A voice named {voice_id!r} exists already; choose another name or replace it.")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{voice_id}-{int(time.time() * 1000)}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        stored = dict(payload or {})
        try:
            for key, src in (files or {}).items():
                target = tmp / src.name
                if src.is_dir():
                    shutil.copytree(src, target)
                else:
                    shutil.copy2(src, target)
                stored[key] = src.name
            voice = Voice(voice_id, name.strip(), engine, time.time(), dict(source or {}), stored, final)
            write_atomic(tmp / VOICE_FILE, json.dumps(voice.to_json(), indent=2))
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self._read(final)

    def delete(self, voice_id: str) -> None:
        shutil.rmtree(self.get(voice_id).folder)
