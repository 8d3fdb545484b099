"""The voice library: a voice is a folder `<slug>-<short id>/` holding voice.json and the engine's payload.

Storage only (below the engines, which list their library voices from it): no engine, audio or UI imports here.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.archive import VOICE, ArchiveLimits, check_archive, unpack_error
from studio.errors import InvalidInput, VoiceNotFound, storage_error
from studio.fsutil import ZipEntryTooLarge, write_atomic, zip_entry_chunks
from studio.text.charset import MAX_NAME, clean_name

VOICE_FILE = "voice.json"
FORMAT = 1
SLUG_CHARS = 40
# names Windows refuses as file names, whatever the extension
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
MAX_ZIP_BYTES = VOICE.max_total_bytes
MAX_ZIP_FILES = VOICE.max_entries


@dataclass
class Voice:
    id: str  # folder name: slug + short id, unique
    name: str  # display name, free text (renaming changes only this)
    engine: str  # the engine that can speak it, e.g. "supertonic2", "kani"
    created: float
    model_version: str = ""  # the model version the payload was made for
    source: dict[str, Any] = field(default_factory=dict)  # how it was made: kind, parts, run, audio hash, ...
    transcript: str = ""  # of the reference recording, when there is one
    consent: bool = False  # the maker confirmed the speaker's permission (cloned voices)
    similarity: float | None = None  # measured speaker similarity to the reference, when there is one
    notes: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # engine-specific: files in the folder, base model, ...
    folder: Path = Path()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("folder")
        data["format"] = FORMAT
        return data

    def path(self, key: str) -> Path:
        """A payload file or folder, resolved and checked to stay inside the voice folder."""
        value = self.payload.get(key)
        if not value:
            raise VoiceNotFound(f"Voice {self.name} has no {key}.")
        target = (self.folder / str(value)).resolve()
        if not target.is_relative_to(self.folder.resolve()):
            raise InvalidInput(f"Voice {self.name}: its {key} points outside its folder ({value}); not used.")
        return target


@dataclass(frozen=True)
class BrokenVoice:
    """A folder that looks like a voice but cannot be used; listed so the user can delete it."""

    id: str
    folder: Path
    reason: str


ENGINE_NAME = re.compile(r"[a-z0-9_]{1,40}")
LATEST = 4102444800.0  # 2100-01-01: a later "created" is no time a voice was made


def voice_from_json(data: Any, folder: Path) -> Voice:
    """A voice.json's contents, every field checked (ValueError/TypeError/KeyError with what is wrong): a damaged or
    hostile file is refused here, on read, instead of failing later where the value is used."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    engine = data["engine"]
    if not isinstance(engine, str) or not ENGINE_NAME.fullmatch(engine):
        raise ValueError(f"engine {str(engine)[:40]!r} is not an engine name")
    name = data["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError(f"name must be 1 to {MAX_NAME} characters")
    created = data.get("created", 0.0)
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not 0 <= created <= LATEST:
        raise ValueError(f"created {str(created)[:40]!r} is not a time (seconds since 1970)")  # also NaN
    similarity = data.get("similarity")
    if similarity is not None and (
        isinstance(similarity, bool) or not isinstance(similarity, (int, float)) or not -1.0 <= similarity <= 1.0
    ):
        raise ValueError(f"similarity {str(similarity)[:40]!r} is not a cosine between -1 and 1")  # also NaN
    for key in ("source", "payload"):
        if not isinstance(data.get(key) or {}, dict):
            raise TypeError(f"{key} is not a JSON object")
    return Voice(
        id=folder.name,
        name=name,
        engine=engine,
        created=float(created),
        model_version=str(data.get("model_version") or ""),
        source=dict(data.get("source") or {}),
        transcript=str(data.get("transcript") or ""),
        consent=data.get("consent") is True,
        similarity=None if similarity is None else float(similarity),
        notes=str(data.get("notes") or ""),
        payload=dict(data.get("payload") or {}),
        folder=folder,
    )


def slugify(name: str) -> str:
    """A safe folder-name part: lower-case ASCII letters, digits and dashes; never a reserved device name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:SLUG_CHARS].strip("-") or "voice"
    return f"voice-{slug}" if slug in RESERVED else slug


def check_name(name: str) -> str:
    return clean_name(name, "voice")


class VoiceLibrary:
    """Voices on disk under one folder (Settings.voices_dir); engines list theirs by `engine`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ---- reading ----------------------------------------------------------------------------------------------
    def _candidates(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        # a leading dot marks unfinished writes (.tmp-...) and hidden files: never voices
        return [p for p in sorted(self.root.iterdir()) if not p.name.startswith(".") and (p / VOICE_FILE).exists()]

    def scan(self) -> tuple[list[Voice], list[BrokenVoice]]:
        """Every usable voice (oldest first) and every broken folder, from one read of each voice.json."""
        voices: list[Voice] = []
        broken: list[BrokenVoice] = []
        for folder in self._candidates():
            try:
                voices.append(self._read(folder))
            except InvalidInput as exc:  # a broken voice folder must not hide the others
                broken.append(BrokenVoice(folder.name, folder, str(exc)))
        voices.sort(key=lambda v: (v.created, v.id))
        return voices, broken

    def all(self, engine: str | None = None) -> list[Voice]:
        """Usable voices (of one engine), oldest first; broken folders are left out (see `broken()`)."""
        return [v for v in self.scan()[0] if engine is None or v.engine == engine]

    def broken(self) -> list[BrokenVoice]:
        return self.scan()[1]

    def get(self, voice_id: str) -> Voice:
        folder = self._folder(voice_id)
        if not (folder / VOICE_FILE).exists():
            names = ", ".join(v.id for v in self.all()) or "none yet"
            raise VoiceNotFound(f"There is no voice {voice_id!r} in the library (voices: {names}).")
        return self._read(folder)

    def _folder(self, voice_id: str) -> Path:
        if not voice_id or voice_id.startswith(".") or "/" in voice_id or "\\" in voice_id or "\0" in voice_id:
            raise VoiceNotFound(f"{voice_id!r} is not a voice id.")
        return self.root / voice_id

    def _read(self, folder: Path) -> Voice:
        root = self.root.resolve()
        if folder.is_symlink() or not folder.resolve().is_relative_to(root):
            raise InvalidInput(f"{folder.name} is a link out of the voice library; it is not used.")
        meta = folder / VOICE_FILE
        if meta.is_symlink() or not meta.resolve().is_relative_to(folder.resolve()):
            raise InvalidInput(f"{folder.name}/{VOICE_FILE} is a link out of its folder; it is not used.")
        try:
            return voice_from_json(json.loads(meta.read_text(encoding="utf-8")), folder)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{folder.name}/{VOICE_FILE} is damaged ({exc}).") from exc

    # ---- writing ----------------------------------------------------------------------------------------------
    def new_id(self, name: str) -> str:
        while True:  # a random tail: two saves of one name at once both get a folder of their own
            voice_id = f"{slugify(name)}-{secrets.token_hex(2)}"
            if not (self.root / voice_id).exists():
                return voice_id

    def add(
        self,
        name: str,
        engine: str,
        *,
        files: dict[str, Path] | None = None,
        payload: dict[str, Any] | None = None,
        source: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Voice:
        """Copy `files` (payload key -> file or folder) into a new voice folder; written whole or not at all.

        `fields` sets the other voice.json fields (model_version, transcript, consent, similarity, notes).
        """
        name = check_name(name)
        known = {"model_version", "transcript", "consent", "similarity", "notes"}
        unknown = set(fields) - known
        if unknown:
            raise TypeError(f"unknown voice fields {sorted(unknown)}")
        try:
            return self._add(name, engine, files, payload, source, fields)
        except OSError as exc:  # a full disk or a read-only library: nothing half-saved stays (see _add)
            raise storage_error(exc, f"the voice {name!r}") from exc

    def _add(
        self,
        name: str,
        engine: str,
        files: dict[str, Path] | None,
        payload: dict[str, Any] | None,
        source: dict[str, Any] | None,
        fields: dict[str, Any],
    ) -> Voice:
        self.root.mkdir(parents=True, exist_ok=True)
        voice_id = self.new_id(name)
        final = self.root / voice_id
        tmp = self.root / f".tmp-{voice_id}-{int(time.time() * 1000)}"
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
            voice = Voice(voice_id, name, engine, time.time(), payload=stored, source=dict(source or {}), folder=final)
            for key, value in fields.items():
                setattr(voice, key, value)
            write_atomic(tmp / VOICE_FILE, json.dumps(voice.to_json(), indent=2))
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self._read(final)

    def update(self, voice_id: str, **changes: Any) -> Voice:
        """Change voice.json fields (name, notes, similarity, ...); the folder and payload stay."""
        voice = self.get(voice_id)
        if "name" in changes:
            changes["name"] = check_name(changes["name"])
        for key, value in changes.items():
            if key in ("id", "folder", "engine", "created", "payload") or not hasattr(voice, key):
                raise InvalidInput(f"{key!r} cannot be changed.")
            setattr(voice, key, value)
        try:
            write_atomic(voice.folder / VOICE_FILE, json.dumps(voice.to_json(), indent=2))
        except OSError as exc:  # the old voice.json stays whole (written beside it, then renamed)
            raise storage_error(exc, f"the voice {voice.name!r}") from exc
        return self._read(voice.folder)

    def rename(self, voice_id: str, name: str) -> Voice:
        return self.update(voice_id, name=name)

    def delete(self, voice_id: str) -> None:
        folder = self._folder(voice_id)
        if not (folder / VOICE_FILE).exists() and not folder.is_symlink():
            raise VoiceNotFound(f"There is no voice {voice_id!r} in the library.")
        if folder.is_symlink():
            folder.unlink()  # a link out of the library: remove the link, never what it points to
            return
        shutil.rmtree(folder)

    # ---- sharing ----------------------------------------------------------------------------------------------
    def export_zip(self, voice_id: str, dest: Path) -> Path:
        """One voice as a ZIP (its folder's files under the voice id); imported elsewhere with `import_zip`."""
        voice = self.get(voice_id)
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{voice.id}.zip"
        tmp = target.with_name(f".{target.name}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(voice.folder.rglob("*")):
                if path.is_symlink():
                    continue
                if path.is_file():
                    zf.write(path, f"{voice.id}/{path.relative_to(voice.folder).as_posix()}")
        tmp.replace(target)
        return target

    def import_zip(self, archive: Path) -> Voice:
        """A voice ZIP (from `export_zip` or another Studio) -> a new library voice with a fresh id."""
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InvalidInput(f"{archive.name} is not a ZIP file ({exc}).") from exc
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            _check_zip(infos, archive.name)
            metas = [i for i in infos if i.filename.endswith(VOICE_FILE) and i.filename.count("/") <= 1]
            if len(metas) != 1:
                raise InvalidInput(
                    f"{archive.name} holds {len(metas)} {VOICE_FILE} files; a voice ZIP has exactly one."
                )
            prefix = metas[0].filename[: -len(VOICE_FILE)]
            try:
                data = json.loads(zf.read(metas[0]).decode("utf-8"))
                if isinstance(data, dict) and not data.get("created"):
                    data["created"] = time.time()
                name = check_name(voice_from_json(data, Path("imported")).name)  # every field, before any write
            except (KeyError, TypeError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error) as exc:
                raise InvalidInput(f"{archive.name}: its {VOICE_FILE} is damaged ({exc}). Nothing was "
                                   "imported.") from exc  # fmt: skip
            self.root.mkdir(parents=True, exist_ok=True)
            voice_id = self.new_id(name)
            tmp = self.root / f".tmp-{voice_id}-{int(time.time() * 1000)}"
            tmp.mkdir()
            try:
                for info in infos:
                    if not info.filename.startswith(prefix):
                        continue
                    target = (tmp / info.filename[len(prefix) :]).resolve()
                    if not target.is_relative_to(tmp.resolve()):
                        raise InvalidInput(f"{archive.name}: unsafe path {info.filename!r}; nothing was imported.")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as dst:
                        for chunk in zip_entry_chunks(zf, info):
                            dst.write(chunk)
                data["source"] = {**dict(data.get("source") or {}), "imported_from": archive.name}
                write_atomic(tmp / VOICE_FILE, json.dumps(data, indent=2))
                try:
                    voice = self._read(tmp)  # validates before it becomes visible
                except InvalidInput as exc:
                    reason = str(exc).split(" is damaged ", 1)[-1]
                    raise InvalidInput(f"{archive.name}: its {VOICE_FILE} is damaged {reason} Nothing was "
                                       "imported.") from exc  # fmt: skip
                for key in voice.payload:
                    voice.path(key)  # every payload path stays inside the voice
                tmp.rename(self.root / voice_id)
            except ZipEntryTooLarge as exc:
                raise InvalidInput(f"{archive.name}: {exc}; nothing was imported.") from exc
            except OSError as exc:
                raise unpack_error(exc, archive.name, "an entry") from exc
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
                raise InvalidInput(f"{archive.name} cannot be unpacked ({exc}); nothing was imported.") from exc
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return self._read(self.root / voice_id)


def _check_zip(infos: list[zipfile.ZipInfo], name: str) -> None:
    check_archive(infos, name, ArchiveLimits(VOICE.kind, MAX_ZIP_FILES, MAX_ZIP_BYTES))
