"""The voice library on disk: ids, fields, rename, delete, broken folders, unsafe names, ZIP export and import."""

from __future__ import annotations

import json
import os
import threading
import zipfile
from pathlib import Path

import pytest

from studio.errors import InvalidInput, VoiceNotFound
from studio.voices.library import VOICE_FILE, VoiceLibrary, slugify


@pytest.fixture
def payload_files(tmp_path: Path) -> dict[str, Path]:
    adapter = tmp_path / "src" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 16}')
    style = tmp_path / "src" / "style.json"
    style.write_text('{"style_ttl": {}}')
    return {"adapter": adapter, "style": style}


def test_add_list_get_rename_delete(tmp_path: Path, payload_files: dict[str, Path]) -> None:
    lib = VoiceLibrary(tmp_path / "voices")
    assert lib.all() == [] and lib.broken() == []  # no folder yet: nothing, no error
    voice = lib.add(
        " Anna   (calm) ",
        "kani",
        files=payload_files,
        payload={"base_model": "nineninesix/kani-tts-400m-0.3-pt"},
        source={"kind": "fine-tune", "run": "r-1"},
        model_version="kani-400m",
        transcript="Hello there.",
        consent=True,
        similarity=0.91,
        notes="first try",
    )
    assert voice.name == "Anna (calm)" and voice.engine == "kani"
    assert voice.id.startswith("anna-calm-") and len(voice.id) == len("anna-calm-") + 4
    assert voice.folder == tmp_path / "voices" / voice.id
    saved = json.loads((voice.folder / VOICE_FILE).read_text())
    for key, value in (("model_version", "kani-400m"), ("transcript", "Hello there."), ("consent", True),
                       ("similarity", 0.91), ("notes", "first try"), ("format", 1)):  # fmt: skip
        assert saved[key] == value
    assert voice.payload == {
        "base_model": "nineninesix/kani-tts-400m-0.3-pt",
        "adapter": "adapter",
        "style": "style.json",
    }
    assert (voice.path("adapter") / "adapter_config.json").read_text() == '{"r": 16}'
    with pytest.raises(VoiceNotFound, match="has no merged"):
        voice.path("merged")

    other = lib.add("Bob", "supertonic2")
    assert [v.id for v in lib.all()] == [voice.id, other.id]
    assert [v.id for v in lib.all("supertonic2")] == [other.id]
    renamed = lib.rename(voice.id, "Anna, warmer")
    assert renamed.id == voice.id and lib.get(voice.id).name == "Anna, warmer"
    with pytest.raises(InvalidInput, match="cannot be changed"):
        lib.update(voice.id, engine="piper")
    lib.delete(voice.id)
    assert [v.id for v in lib.all()] == [other.id] and payload_files["style"].is_file()
    with pytest.raises(VoiceNotFound, match="no voice"):
        lib.get(voice.id)


def test_names_become_safe_folder_names(tmp_path: Path) -> None:
    lib = VoiceLibrary(tmp_path)
    assert slugify("../../x") == "x" and slugify("CON") == "voice-con" and slugify("lpt1") == "voice-lpt1"
    assert slugify("Émilie ✨") == "milie" and slugify("!!!") == "voice"
    for name in ("../../x", "CON", "a/b\\c", "x" * 80):
        voice = lib.add(name, "supertonic2")
        assert voice.folder.parent == tmp_path and len(voice.id) <= 45
    with pytest.raises(InvalidInput, match="at most 80"):
        lib.add("x" * 300, "supertonic2")
    with pytest.raises(InvalidInput, match="Give the voice a name"):
        lib.add("   ", "supertonic2")
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(VoiceNotFound):
            lib.get(bad)


def test_two_saves_of_one_name_at_once_are_both_kept(tmp_path: Path) -> None:
    lib = VoiceLibrary(tmp_path)
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.append(lib.add("Same", "supertonic2").id)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 6 and len(lib.all()) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]  # no torn or temporary folders


def test_broken_folders_are_listed_apart_and_the_rest_still_works(tmp_path: Path) -> None:
    lib = VoiceLibrary(tmp_path / "voices")
    good = lib.add("Good", "supertonic2")
    root = tmp_path / "voices"
    for name, content in (("corrupt", b"{not json"), ("no-engine", b'{"name": "x"}'), ("binary", b"\xff\xfe")):
        (root / name).mkdir()
        (root / name / VOICE_FILE).write_bytes(content)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / VOICE_FILE).write_text(json.dumps({"name": "Evil", "engine": "supertonic2"}))
    os.symlink(outside, root / "escape")
    (root / "piper-catalog").mkdir()  # Piper's own folders (no voice.json) are not voices and not broken
    assert [v.id for v in lib.all()] == [good.id]
    broken = {b.id: b.reason for b in lib.broken()}
    assert set(broken) == {"corrupt", "no-engine", "binary", "escape"}
    assert "link out of the voice library" in broken["escape"]
    lib.delete("escape")  # removes the link only
    assert (outside / VOICE_FILE).is_file() and not (root / "escape").exists()


def test_a_payload_path_cannot_leave_its_folder(tmp_path: Path) -> None:
    lib = VoiceLibrary(tmp_path)
    voice = lib.add("Sneaky", "supertonic2", payload={"style": "../../etc/passwd"})
    with pytest.raises(InvalidInput, match="outside its folder"):
        voice.path("style")


def test_export_and_import_round_trip(tmp_path: Path, payload_files: dict[str, Path]) -> None:
    lib = VoiceLibrary(tmp_path / "a")
    voice = lib.add("Anna", "supertonic2", files={"style": payload_files["style"]}, consent=True, similarity=0.8)
    archive = lib.export_zip(voice.id, tmp_path / "out")
    assert archive.name == f"{voice.id}.zip"
    other = VoiceLibrary(tmp_path / "b")
    imported = other.import_zip(archive)
    assert imported.name == "Anna" and imported.engine == "supertonic2" and imported.similarity == 0.8
    assert imported.path("style").read_text() == payload_files["style"].read_text()
    assert imported.source["imported_from"] == archive.name
    again = other.import_zip(archive)  # importing twice keeps both
    assert again.id != imported.id and len(other.all()) == 2


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"../evil/voice.json": b"{}"}, "unsafe file path"),
        ({"/abs/voice.json": b"{}"}, "unsafe file path"),
        ({"a/voice.json": b"{not json"}, "damaged"),
        ({"a/readme.txt": b"hi"}, "holds 0 voice.json"),
        ({"a/voice.json": json.dumps({"name": "A", "engine": "x", "payload": {"s": "../../x"}}).encode()}, "outside"),
    ],
)
def test_bad_voice_zips_import_nothing(tmp_path: Path, entries: dict[str, bytes], message: str) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    lib = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(InvalidInput, match=message):
        lib.import_zip(archive)
    assert (
        lib.all() == [] and not [p for p in (tmp_path / "voices").glob("*")] if (tmp_path / "voices").exists() else True
    )
    not_zip = tmp_path / "voice.zip"
    not_zip.write_text("hello")
    with pytest.raises(InvalidInput, match="not a ZIP"):
        lib.import_zip(not_zip)


def test_an_entry_that_lies_about_its_size_is_stopped(tmp_path: Path) -> None:
    """The bomb limit reads the declared sizes; an entry that unpacks to more is stopped while unpacking."""
    import io

    from tests.book.epub_factory import set_declared_size

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("v/voice.json", json.dumps({"name": "Big", "engine": "supertonic2", "payload": {"s": "s.bin"}}))
        zf.writestr("v/s.bin", b"\0" * 1_000_000)
    archive = tmp_path / "lying.zip"
    archive.write_bytes(set_declared_size(buf.getvalue(), "v/s.bin", 100))
    lib = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(InvalidInput, match="nothing was imported"):  # stopped by the size or the CRC check
        lib.import_zip(archive)
    assert lib.all() == [] and not list((tmp_path / "voices").glob(".tmp-*"))
