"""Kindle books (.mobi, .azw, .azw3): converted to EPUB by Calibre's ebook-convert when it is installed, then read
as an EPUB; books with DRM cannot be converted and are refused with a message."""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from studio.book.epub import load_epub
from studio.book.model import Book
from studio.errors import InvalidInput

log = logging.getLogger(__name__)

CONVERT_TIMEOUT_S = 600.0  # Calibre converts a long novel in well under a minute
CONVERTER = "ebook-convert"
_DRM_NOTE = "Kindle books bought with DRM cannot be read by Studio (or converted): use a DRM-free copy."


def drm_scheme(data: bytes) -> int:
    """The encryption field of a MOBI's first record (0: none; 1 or 2: Mobipocket DRM); 0 when it cannot be found."""
    try:
        (first,) = struct.unpack_from(">I", data, 78)
        (encryption,) = struct.unpack_from(">H", data, first + 12)
    except struct.error:
        return 0
    return int(encryption)


def _not_installed(name: str) -> InvalidInput:
    return InvalidInput(f"'{name}' is a Kindle book (MOBI/AZW). Studio converts these with Calibre's "
                        f"`{CONVERTER}`, which is not installed: install Calibre (`apt install calibre`, or from "
                        f"https://calibre-ebook.com) and import it again, or convert it to EPUB yourself. "
                        f"{_DRM_NOTE}")  # fmt: skip


def load_kindle(data: bytes, name: str, max_chars: int = 20_000_000, timeout_s: float = CONVERT_TIMEOUT_S) -> Book:
    """Convert with ebook-convert (no shell, in a temporary folder, with a timeout) and read the EPUB it writes."""
    if drm_scheme(data) in (1, 2):
        raise InvalidInput(f"'{name}' is protected by DRM (Mobipocket encryption); its text cannot be read. "
                           f"{_DRM_NOTE}")  # fmt: skip
    converter = shutil.which(CONVERTER)
    if converter is None:
        raise _not_installed(name)
    suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in (".mobi", ".azw", ".azw3") else ".mobi"
    with tempfile.TemporaryDirectory(prefix="studio-kindle-") as tmp:
        source, target = Path(tmp) / f"book{suffix}", Path(tmp) / "book.epub"
        source.write_bytes(data)
        try:
            done = subprocess.run([converter, str(source), str(target)], cwd=tmp, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout_s, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise InvalidInput(f"Converting '{name}' with {CONVERTER} took longer than {timeout_s:.0f} s and was "
                               "stopped. Convert it to EPUB in Calibre and import the EPUB.") from exc  # fmt: skip
        except OSError as exc:
            raise InvalidInput(f"{CONVERTER} could not be started ({exc.strerror or exc}). Check the Calibre "
                               "installation, or convert the book to EPUB yourself.") from exc  # fmt: skip
        output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
        if done.returncode != 0 or not target.is_file():
            log.info("%s: %s failed (%s): %s", name, CONVERTER, done.returncode, output[-2000:])
            if "drm" in output.lower():
                raise InvalidInput(f"'{name}' is protected by DRM; {CONVERTER} cannot convert it. {_DRM_NOTE}")
            last = next((x.strip() for x in reversed(output.splitlines()) if x.strip()), "no message")
            raise InvalidInput(f"{CONVERTER} could not convert '{name}' (exit status {done.returncode}: {last[:300]}). "
                               f"The file may be damaged. {_DRM_NOTE}")  # fmt: skip
        epub = target.read_bytes()
    book = load_epub(epub, name, max_chars)
    book.warnings.insert(0, f"'{name}' was converted from Kindle format to EPUB with Calibre's {CONVERTER}.")
    return book
