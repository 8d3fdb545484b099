"""A damaged or hostile voice.json (in the library or inside an imported ZIP) is listed as broken with the reason,
and never stops the app, a tab or the library listing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from studio.config import Settings
from studio.errors import InvalidInput
from studio.ui.app import build_app
from studio.ui.context import AppContext
from studio.voices.library import VoiceLibrary

BAD_FIELDS: list[tuple[str, Any, str]] = [
    ("created", 1e20, "created"),
    ("created", float("nan"), "created"),
    ("created", -5.0, "created"),
    ("created", "yesterday", "created"),
    ("similarity", float("nan"), "similarity"),
    ("similarity", 7.5, "similarity"),
    ("engine", "../../x", "engine"),
    ("engine", "", "engine"),
    ("name", "", "name"),
    ("name", "x" * 5000, "name"),
    ("source", "a string", "source"),
    ("payload", ["style.json"], "payload"),
]


def _voice(library: VoiceLibrary, shared_fixtures: Path) -> str:
    style = shared_fixtures / "supertonic2" / "voice_styles" / "F1.json"
    return library.add("Good voice", "supertonic2", files={"style": style}).id


def _damage(folder: Path, key: str, value: Any) -> None:
    meta = folder / "voice.json"
    data = json.loads(meta.read_text())
    data[key] = value
    meta.write_text(json.dumps(data))  # NaN is written as NaN, as a careless editor would


@pytest.mark.parametrize(("key", "value", "named"), BAD_FIELDS)
def test_a_damaged_field_marks_the_voice_broken(
    settings: Settings, shared_fixtures: Path, key: str, value: Any, named: str
) -> None:
    library = VoiceLibrary(settings.voices_dir)
    good = _voice(library, shared_fixtures)
    bad = _voice(library, shared_fixtures)
    _damage(settings.voices_dir / bad, key, value)
    voices, broken = library.scan()
    assert [v.id for v in voices] == [good]
    assert [b.id for b in broken] == [bad] and named in broken[0].reason
    ctx = AppContext.create(settings)
    rows = ctx.voices.rows()  # the library table: it used to raise OverflowError on created=1e20
    assert any(r[-1] == good for r in rows) and any(r[-1] == bad and "broken" in r[0] for r in rows)
    with pytest.raises(InvalidInput):
        library.get(bad)


def test_the_app_builds_with_a_hostile_library(settings: Settings, shared_fixtures: Path) -> None:
    library = VoiceLibrary(settings.voices_dir)
    for key, value, _ in BAD_FIELDS:
        _damage(settings.voices_dir / _voice(library, shared_fixtures), key, value)
    mix = _voice(library, shared_fixtures)
    _damage(settings.voices_dir / mix, "source", {"kind": "mix", "parts": ["not a part", {"voice": 3}]})
    build_app(AppContext.create(settings))  # the app starts: a broken voice never stops it


@pytest.mark.parametrize(("key", "value", "named"), BAD_FIELDS[:7])
def test_a_hostile_voice_zip_is_refused_on_import(
    settings: Settings, shared_fixtures: Path, tmp_path: Path, key: str, value: Any, named: str
) -> None:
    library = VoiceLibrary(settings.voices_dir)
    source = VoiceLibrary(tmp_path / "elsewhere")
    vid = _voice(source, shared_fixtures)
    _damage(source.root / vid, key, value)
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (source.root / vid).iterdir():
            zf.write(path, f"{vid}/{path.name}")
    with pytest.raises(InvalidInput, match=named):
        library.import_zip(archive)
    assert library.all() == [] and library.broken() == []  # nothing half-imported
