"""An export's files on disk: safe file names, moving finished files into place (with the record of what Studio
wrote), and disk-space and file-system errors."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import unicodedata
from pathlib import Path

from studio.book.export_encoder import _Encoder
from studio.book.export_model import EXTENSIONS, DiskFull, ExportFailed
from studio.errors import StudioError
from studio.fsutil import write_atomic

_MIB = 2**20


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_filename(name: str, fallback: str = "Untitled", max_bytes: int = 120) -> str:
    """A file name that is valid on Windows, macOS and Linux: 'Chapter 1: A/B?*' -> 'Chapter 1 - A-B'."""
    text = unicodedata.normalize("NFC", name)
    text = text.replace(":", " - ").replace("/", "-").replace("\\", "-")
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)  # controls, newlines, tabs
    text = re.sub(r'[<>"|?*]', "", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(?: - ){2,}", " - ", text).strip(" .-")
    # 255 bytes is the usual limit per name; keep room for "NN - " and the suffix, never cut a UTF-8 sequence
    encoded = text.encode("utf-8")[:max_bytes]
    text = encoded.decode("utf-8", errors="ignore").rstrip(" .-")
    if not text or text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"{fallback} {text}".strip() if text else fallback
    return text


# ----------------------------------------------------------------------------------------- finishing and errors


def _finish(encoders: list[_Encoder]) -> dict[str, list[Path]]:
    """Close the book-wide encoders (MP3 encoders closed per chapter) and list what is staged per format."""
    for enc in encoders:
        if enc.book_wide:
            enc.finish()
    staged: dict[str, list[Path]] = {}
    for enc in encoders:
        if not enc.publish:
            continue
        fmt = enc.output.suffix.lstrip(".")
        staged.setdefault(fmt, []).append(enc.output)
    return staged


# the file names Studio wrote: in mp3/<book>/, its last export of that book's chapters; in the output folder, the
# book files (m4b, wav, flac) its exports wrote there
MP3_RECORD = ".studio-export.json"


# per-chapter outputs and the folder (under the output folder, then the book's name) they go to
CHAPTER_FOLDERS = {"mp3": "mp3", "srt-chapters": "srt", "vtt-chapters": "vtt"}


def _publish(staged: dict[str, list[Path]], out: Path, base: str, warnings: list[str]) -> dict[str, list[Path]]:
    """Move finished files from the work folder into place: plain renames on the same file system. Chapters go to
    mp3/<book>/ (their subtitles to srt/<book>/ and vtt/<book>/); only files an earlier export of this book wrote
    (named in its record) are replaced or removed, so a user's own files and other books' chapters stay."""
    files: dict[str, list[Path]] = {}
    for fmt, paths in staged.items():
        key = fmt.split("-")[0]
        if fmt in CHAPTER_FOLDERS:
            target_dir = out / CHAPTER_FOLDERS[fmt] / base
            target_dir.mkdir(parents=True, exist_ok=True)
            record = target_dir / MP3_RECORD
            written = _studio_wrote(target_dir)
            for p in paths:
                os.chmod(p, 0o644)
                os.replace(p, target_dir / p.name)
            names = [p.name for p in paths]
            for stale in written:
                if stale not in names:  # _studio_wrote keeps plain file names only
                    (target_dir / stale).unlink(missing_ok=True)
            write_atomic(record, json.dumps({"files": names}, ensure_ascii=False, indent=2))
            files.setdefault(key, []).extend(target_dir / name for name in names)
        else:
            target = _own_name(out, base, EXTENSIONS.get(fmt, fmt), warnings)
            os.chmod(paths[0], 0o644)
            os.replace(paths[0], target)
            _remember(out, target.name)
            files.setdefault(key, []).insert(0, target)
    return files


def _studio_wrote(folder: Path) -> list[str]:
    """The file names an export record in `folder` lists (what Studio wrote there)."""
    try:
        names = json.loads((folder / MP3_RECORD).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str) and Path(n).name == n] if isinstance(names, list) else []


def _remember(folder: Path, name: str) -> None:
    names = _studio_wrote(folder)
    if name not in names:
        write_atomic(folder / MP3_RECORD, json.dumps({"files": [*names, name]}, ensure_ascii=False, indent=2))


def _own_name(out: Path, base: str, fmt: str, warnings: list[str]) -> Path:
    """`<book>.<fmt>`, unless a file by that name is not one Studio wrote (the user's own): then the first free
    `<book> (N).<fmt>`, and a warning says so. Studio's own earlier export is replaced."""
    target = out / f"{base}.{fmt}"
    if (not target.exists() and not target.is_symlink()) or target.name in _studio_wrote(out):
        return target
    n = 2
    while True:
        free = out / f"{base} ({n}).{fmt}"
        if (not free.exists() and not free.is_symlink()) or free.name in _studio_wrote(out):
            break
        n += 1
    warnings.append(f"{target.name} in {out} is not a file Studio wrote, so it was kept; the export is {free.name}.")
    return free


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _nearly_full(path: Path) -> bool:
    free = _free_bytes(path)
    return free is not None and free < _MIB


def _check_free_space(out: Path, estimate: int) -> None:
    free = _free_bytes(out)
    if free is not None and free < estimate * 1.05:
        need = math.ceil((estimate * 1.05 - free) / _MIB)
        raise DiskFull(
            f"Not enough disk space in {out}: the export needs about {math.ceil(estimate / _MIB)} MB and "
            f"{free // _MIB} MB are free. Free {need} MB and export again; the rendered chunks are kept."
        )


def _disk_full(target: str, out: Path, estimate: int) -> DiskFull:
    free = _free_bytes(out) or 0
    short = estimate * 1.05 - free
    if short <= 0:  # our estimate was too low (or someone else filled the disk): ask for a quarter more
        short = estimate * 0.25
    need = max(1, math.ceil(short / _MIB))
    return DiskFull(
        f"The disk is full while writing '{target}' in {out}: free {need} MB and export again; "
        "the rendered chunks are kept."
    )


def _os_error(exc: OSError, target: str, out: Path, estimate: int) -> StudioError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return _disk_full(target, out, estimate)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportFailed(f"Cannot write to {out} ({exc.strerror}); choose another folder for the export.")
    return ExportFailed(f"Writing '{target}' in {out} failed: {exc}. The rendered chunks are kept.")
