"""Plain-text books decoded: the encoding detected (BOM, UTF-16, UTF-8, Windows-1252), binary refused."""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

from studio.errors import InvalidInput

log = logging.getLogger(__name__)

_BINARY_MAGIC = (
    (b"%PDF", "a PDF document; export the text as .txt or the book as EPUB"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"{\\rtf", "an RTF document; save it as plain text (.txt)"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document; save it as plain text (.txt)"),
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.01  # real text has practically none; binary decoded as Windows-1252 has plenty
_SNIFF_BYTES = 1 << 16


@dataclass
class Decoded:
    """Text from bytes, the encoding that produced it and a note for the user when it was a guess."""

    text: str
    encoding: str
    warning: str = ""


def _not_text(name: str, what: str) -> InvalidInput:
    return InvalidInput(
        f"'{name}' is not a text file (it is {what}). Choose a .txt file saved as plain text, or an .epub."
    )


def _sniff_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte order mark: mostly-ASCII text has a NUL in every other byte."""
    sample = data[: _SNIFF_BYTES - _SNIFF_BYTES % 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.3 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


def _bom_codec(data: bytes) -> tuple[str, int] | None:
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return codec, len(bom)
    return None


def decode_text(data: bytes, name: str) -> Decoded:
    """Detect the encoding (BOM, UTF-16 by NUL pattern, UTF-8, then Windows-1252/Latin-1) or reject binary data."""
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            raise _not_text(name, what)
    if data[60:68] == b"BOOKMOBI":
        raise _not_text(name, "a Kindle (MOBI/AZW) book; convert it to EPUB without DRM")
    bom = _bom_codec(data)
    codec = bom[0] if bom else _sniff_utf16(data)
    if codec is not None:
        try:
            decoded = Decoded(data[bom[1] if bom else 0 :].decode(codec), codec)
        except UnicodeDecodeError as exc:
            raise _not_text(name, f"binary data that is not valid {codec.upper()}") from exc
    elif b"\x00" in data:
        raise _not_text(name, "binary data: it contains NUL bytes")
    else:
        decoded = _decode_8bit(data, name)
    _reject_control_chars(decoded.text, name)
    return decoded


def _decode_8bit(data: bytes, name: str) -> Decoded:
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text, codec = data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:  # five byte values have no Windows-1252 character; Latin-1 maps every byte
        text, codec = data.decode("latin-1"), "Latin-1"
    warning = (
        f"'{name}' is not UTF-8; it was read as {codec} (Western European). If letters look wrong, "
        "save the file as UTF-8 and import it again."
    )
    log.info("%s decoded as %s", name, codec)
    return Decoded(text, codec, warning)


def _reject_control_chars(text: str, name: str) -> None:
    sample = text[: 4 * _SNIFF_BYTES]
    controls = len(_CONTROL.findall(sample))
    if sample and controls > _MAX_CONTROL_SHARE * len(sample):
        raise _not_text(name, f"binary data: {controls} control characters in its first {len(sample)} characters")
