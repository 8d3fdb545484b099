"""One safety check for every ZIP Studio reads (EPUB books, dataset uploads, voice imports): unsafe paths, links,
encryption, unknown compression, entry count, total size and compression ratio, with one set of limits per kind of
archive and one message style. Everything is judged from the central directory before a byte is unpacked; while
unpacking, `fsutil.zip_entry_chunks` stops an entry that yields more than it declared."""

from __future__ import annotations

import errno
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass

from studio.errors import InvalidInput, StudioError, storage_error

MIB = 2**20
GIB = 2**30


@dataclass(frozen=True)
class ArchiveLimits:
    """How big one kind of archive may be. Real files stay far below these; ZIP bombs and hostile uploads do not."""

    kind: str  # what the archive is, in messages: "an EPUB", "a dataset ZIP", "a voice ZIP"
    max_entries: int
    max_total_bytes: int
    max_ratio: float = 100.0  # unpacked / packed, per entry and for the whole archive (bombs reach 1000x and more)
    ratio_floor_bytes: int = MIB  # ratios are judged only above this size: small files cannot hurt
    encrypted_hint: str = "Make the ZIP again without a password."


EPUB = ArchiveLimits("an EPUB", 10_000, 600 * MIB, encrypted_hint=(
    "Studio can only read EPUBs without DRM or encryption: use a DRM-free copy of the book."))  # fmt: skip
DATASET = ArchiveLimits("a dataset ZIP", 20_000, 2 * GIB)  # WAV and FLAC barely compress
VOICE = ArchiveLimits("a voice ZIP", 1_000, 2 * GIB)  # a style, a prompt or an adapter: a handful of files


def _size(n: int) -> str:
    return f"{n / GIB:.0f} GiB" if n >= GIB else f"{n / MIB:.0f} MB" if n >= MIB else f"{n} bytes"


def unsafe_path(entry: str) -> bool:
    """A name that could point outside a folder if anything unpacked it (zip-slip)."""
    return (
        not entry
        or entry.startswith(("/", "\\"))
        or "\\" in entry
        or "\x00" in entry
        or re.match(r"^[A-Za-z]:", entry) is not None
        or ".." in entry.split("/")
        or posixpath.normpath(entry) in (".", "")  # "." or "./": the folder itself, not a file in it
    )


def unpack_error(exc: OSError, name: str, entry: str) -> StudioError:
    """An OSError met while unpacking one entry: the disk's fault (full, read-only) or the archive's (a name that
    is a folder elsewhere in it, a name too long for this file system)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
        return storage_error(exc, f"the files of '{name}'")
    return InvalidInput(f"'{name}': '{entry}' cannot be unpacked ({exc.strerror or exc}); the archive is damaged or "
                        "made oddly. Nothing was unpacked.")  # fmt: skip


def check_archive(infos: list[zipfile.ZipInfo], name: str, limits: ArchiveLimits) -> None:
    """Raise InvalidInput (naming the archive and the entry) unless every entry is safe to unpack within `limits`."""
    if len(infos) > limits.max_entries:
        raise InvalidInput(f"'{name}' holds {len(infos)} files; at most {limits.max_entries} are accepted in "
                           f"{limits.kind}. Nothing was unpacked.")  # fmt: skip
    seen: set[str] = set()
    total = packed = 0
    for info in infos:
        entry = info.filename
        if unsafe_path(entry):
            raise InvalidInput(f"'{name}' contains an unsafe file path ({entry!r}) that points outside the archive; "
                               "it may be malicious. Nothing was unpacked.")  # fmt: skip
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InvalidInput(f"'{name}' contains a symbolic link ({entry!r}); put the real files in the archive. "
                               "Nothing was unpacked.")  # fmt: skip
        if entry in seen:
            raise InvalidInput(f"'{name}' contains '{entry}' twice; the archive has been tampered with.")
        seen.add(entry)
        if info.flag_bits & 0x1:
            raise InvalidInput(f"'{name}' is password-protected or encrypted ('{entry}'). {limits.encrypted_hint}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # bzip2 and LZMA also decompress without an output bound in zipfile: refused as everything else is
            raise InvalidInput(f"'{name}': '{entry}' uses ZIP compression method {info.compress_type}; Studio "
                               "unpacks stored and deflated files only. Make the archive again.")  # fmt: skip
        _check_ratio(name, entry, info.file_size, info.compress_size, limits)
        total += info.file_size
        packed += info.compress_size
        if total > limits.max_total_bytes:
            raise InvalidInput(f"'{name}' unpacks to more than {_size(limits.max_total_bytes)} ('{entry}' passes "
                               "the limit); Studio refuses it as a possible ZIP bomb.")  # fmt: skip
    _check_ratio(name, "all its files together", total, packed, limits)


def _check_ratio(name: str, what: str, size: int, stored: int, limits: ArchiveLimits) -> None:
    if size <= limits.ratio_floor_bytes:
        return
    ratio = size / max(stored, 1)
    if ratio > limits.max_ratio:
        shown = what if what == "all its files together" else f"'{what}'"
        raise InvalidInput(f"'{name}': {shown} unpacks {ratio:.0f} times larger than stored ({_size(stored)} -> "
                           f"{_size(size)}); the limit is {limits.max_ratio:.0f}. Studio refuses it as a possible "
                           "ZIP bomb.")  # fmt: skip
