"""Fine-tune dataset sources: the files of uploads, folders and ZIPs (unpacked safely)."""

from __future__ import annotations

import shutil
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from studio.archive import DATASET, ArchiveLimits, check_archive, unpack_error
from studio.errors import InvalidInput
from studio.fsutil import ZipEntryTooLarge, zip_entry_chunks

# ZIP limits: a few hours of WAV at CD quality is ~1-2 GiB; ZIP bombs and hostile uploads go far beyond either cap.
MAX_UNPACKED_BYTES = DATASET.max_total_bytes
MAX_ZIP_FILES = DATASET.max_entries
_COPY_CHUNK = 1 << 20


def gather_sources(inputs: Sequence[Path | str], work: Path) -> list[Path]:
    """Every file in `inputs` (files, folders searched recursively, ZIPs unpacked safely into `work`), in order."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)

    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and not _hidden(found.relative_to(path)):
                    for f in _expand(found, work):
                        add(f)
        elif path.is_file():
            for f in _expand(path, work):
                add(f)
        else:
            raise InvalidInput(f"'{path}' does not exist: upload the files again or check the folder path.")
    return out


def _hidden(rel: Path) -> bool:
    # macOS puts resource forks (._name, __MACOSX/) and .DS_Store into the ZIPs it makes: not the user's files
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _expand(path: Path, work: Path) -> list[Path]:
    if path.suffix.lower() != ".zip":
        return [path]
    dest = _extract_zip(path, work)
    return [f for f in sorted(dest.rglob("*")) if f.is_file()]


def _extract_zip(archive: Path, work: Path) -> Path:
    """Unpack `archive` into a new folder under `work` after checking every entry; on any problem, nothing stays."""
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput(f"'{name}' is not a readable ZIP archive ({exc}). Make the ZIP again.") from exc
    with zf:
        infos = zf.infolist()
        check_archive(infos, name, ArchiveLimits(DATASET.kind, MAX_ZIP_FILES, MAX_UNPACKED_BYTES))
        dest = _unique_dir(work, name)
        try:
            for info in infos:
                if info.is_dir() or _hidden(Path(info.filename)):
                    continue
                _unpack_entry(zf, info, dest, name)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return dest


def _unique_dir(work: Path, name: str) -> Path:
    # The folder carries the archive's name so problems read "upload.zip/notes.pdf"
    work.mkdir(parents=True, exist_ok=True)
    dest = work / name
    n = 2
    while dest.exists():
        dest = work / f"{Path(name).stem} ({n}){Path(name).suffix}"
        n += 1
    dest.mkdir()
    return dest


def _unpack_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, name: str) -> None:
    target = dest / info.filename
    if not target.resolve().is_relative_to(dest.resolve()):  # belt and braces after check_archive
        raise InvalidInput(f"'{name}' contains an unsafe file path ({info.filename!r}); nothing was unpacked.")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as dst:
            for chunk in zip_entry_chunks(zf, info, _COPY_CHUNK):
                dst.write(chunk)
    except ZipEntryTooLarge as exc:
        raise InvalidInput(f"'{name}': {exc}; the archive is damaged or malicious, nothing was unpacked.") from exc
    except OSError as exc:
        raise unpack_error(exc, name, info.filename) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InvalidInput(f"'{name}': '{info.filename}' cannot be unpacked ({exc}). Make the ZIP again.") from exc
