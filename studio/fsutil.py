"""File and process helpers shared by the services (no Studio imports: any layer may use them)."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Temp file in the same folder, fsync, rename: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class NotStudios(FileExistsError):
    """The folder a result would replace was not written by Studio (it lacks Studio's marker file): left alone."""


def replace_dir(built: Path, final: Path, marker: str | None = None) -> Path:
    """Swap a fully built folder in as `final`: the old one is moved aside, the new one renamed in, and only then
    is the old one removed, so one complete version always exists (under `final`, or beside it while swapping).

    With `marker`, an existing `final` is replaced only when it holds that file (Studio wrote it); a folder of the
    user's by the same name raises NotStudios and stays as it is."""
    if marker and final.exists() and not (final / marker).is_file():
        raise NotStudios(f"{final} exists and was not written by Studio; move it away or choose another folder")
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if old.exists():
        shutil.rmtree(old)
    moved = False
    if final.is_symlink():
        final.unlink()  # a link: remove the link, never what it points to
    elif final.exists():
        os.replace(final, old)
        moved = True
    try:
        os.replace(built, final)
    except BaseException:
        if moved and not final.exists():
            os.replace(old, final)
        raise
    if moved:
        shutil.rmtree(old, ignore_errors=True)
    return final


def process_alive(pid: int | None) -> bool:
    """True if `pid` runs and is not a zombie (a finished child not yet reaped still has a /proc entry)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True  # not Linux: trust kill(0)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (VmHWM on Linux, ru_maxrss elsewhere); None when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    except (ImportError, OSError):
        return None


class ZipEntryTooLarge(ValueError):
    """A ZIP entry yielded more bytes than its directory entry declared (damaged or malicious archive)."""


def zip_entry_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The entry's bytes in chunks, stopped as soon as it yields more than it declared: callers check the declared
    sizes (bomb limits) up front, and this keeps an entry that lies about its size from getting past them."""
    size = 0
    with archive.open(info) as stream:
        while data := stream.read(chunk):
            size += len(data)
            if size > info.file_size:
                raise ZipEntryTooLarge(f"'{info.filename}' unpacks to more than its declared {info.file_size} bytes")
            yield data
