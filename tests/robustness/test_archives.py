"""Every ZIP Studio reads goes through one safety check with one message style: a voice ZIP that would unpack to
1.6 GB, many-small-file bombs, unsafe paths, links, encryption and odd compression are refused before anything is
written, for voices, dataset uploads and books alike."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from studio.book.safety import check_epub_archive
from studio.errors import InvalidInput
from studio.finetune.dataset import gather_sources
from studio.voices.library import VoiceLibrary


def _bomb(path: Path, size: int = 200 * 2**20, extra: dict[str, bytes] | None = None) -> Path:
    """A small ZIP whose one entry unpacks to `size` bytes of zeros (written in pieces: the test stays small)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry, data in (extra or {}).items():
            zf.writestr(entry, data)
        with zf.open("v/style.json", "w", force_zip64=True) as out:
            block = b"\0" * 2**20
            for _ in range(size // len(block)):
                out.write(block)
    return path


def _disk_use(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def test_a_voice_zip_bomb_is_refused_before_writing(tmp_path: Path) -> None:
    meta = json.dumps({"name": "Bomb", "engine": "supertonic2", "payload": {"style": "style.json"}}).encode()
    archive = _bomb(tmp_path / "bomb.zip", extra={"v/voice.json": meta})
    assert archive.stat().st_size < 2 * 2**20  # a few hundred KB that would write 200 MB
    library = VoiceLibrary(tmp_path / "voices")
    with pytest.raises(InvalidInput, match=r"'bomb\.zip': 'v/style\.json' unpacks \d+ times larger.*ZIP bomb"):
        library.import_zip(archive)
    assert _disk_use(tmp_path / "voices") == 0 and library.all() == []


def test_many_small_entries_are_judged_together(tmp_path: Path) -> None:
    archive = tmp_path / "spread.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(300):  # each under the per-file floor, 300 MB together
            zf.writestr(f"up/{i}.wav", b"\0" * (2**20 - 1))
    with pytest.raises(InvalidInput, match="all its files together unpacks"):
        gather_sources([archive], tmp_path / "work")
    assert not (tmp_path / "work").exists() or _disk_use(tmp_path / "work") == 0


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for entry, data in entries:
            zf.writestr(entry, data)
    return buf.getvalue()


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entry", "method", "message"),
    [
        ("../evil.txt", zipfile.ZIP_DEFLATED, "unsafe file path ('../evil.txt')"),
        ("C:/evil.txt", zipfile.ZIP_DEFLATED, "unsafe file path"),
        (_link("v/link.txt"), zipfile.ZIP_DEFLATED, "symbolic link ('v/link.txt')"),
        ("v/packed.txt", zipfile.ZIP_BZIP2, "compression method 12"),
    ],
)
def test_the_same_rules_and_words_for_every_kind_of_archive(
    tmp_path: Path, entry: zipfile.ZipInfo | str, method: int, message: str
) -> None:
    data = _zip([("v/voice.json", b"{}"), (entry, b"x")], method)
    archive = tmp_path / "upload.zip"
    archive.write_bytes(data)
    refusals = []
    for attempt in (
        lambda: VoiceLibrary(tmp_path / "voices").import_zip(archive),
        lambda: gather_sources([archive], tmp_path / "work"),
        lambda: check_epub_archive(data, "upload.zip"),
    ):
        with pytest.raises(InvalidInput) as refused:
            attempt()
        refusals.append(str(refused.value))
    for text in refusals:
        assert text.startswith("'upload.zip'") and message in text, refusals
    assert _disk_use(tmp_path / "voices") == 0 and _disk_use(tmp_path / "work") == 0
