"""Checks an uploaded EPUB must pass before any EPUB or XML library sees it: ZIP bombs, paths, DRM, XML entities."""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

from lxml import etree

from studio.archive import EPUB, ArchiveLimits, check_archive
from studio.errors import InvalidInput
from studio.fsutil import ZipEntryTooLarge, zip_entry_chunks

log = logging.getLogger(__name__)

_MIB = 2**20
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty archive
CONTAINER = "META-INF/container.xml"
# Font obfuscation (IDPF and Adobe) scrambles embedded fonts only; the text stays readable, so it is not DRM.
FONT_OBFUSCATION = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})
# Files that only DRM schemes put into an EPUB: Adobe ADEPT rights, Apple FairPlay, Readium LCP.
DRM_FILES = {
    "META-INF/rights.xml": "Adobe DRM",
    "META-INF/sinf.xml": "Apple FairPlay DRM",
    "META-INF/license.lcpl": "Readium LCP DRM",
}
_READ_CHUNK = 64 * 1024
# An ENTITY declaration whose value comes from outside the document (XXE): <!ENTITY name SYSTEM "file:///...">,
# also as a parameter entity (<!ENTITY % name PUBLIC ...>). Entity names contain no whitespace, so this is linear.
_EXTERNAL_ENTITY = re.compile(rb"<!ENTITY\s+(?:%\s+)?\S+\s+(?:SYSTEM|PUBLIC)\b")
_SUBSET_END = re.compile(rb"\]\s*>")
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
# encodings in which "<!ENTITY ... SYSTEM" has the same bytes as in ASCII: the raw scan already covers them
_ASCII_SUPERSETS = frozenset(
    {"utf-8", "utf8", "ascii", "us-ascii", "iso-8859-1", "latin-1", "latin1", "cp1252", "windows-1252"}
)


@dataclass(frozen=True)
class ZipLimits:
    """How big an EPUB may be. Real books stay far below these; ZIP bombs and hostile uploads do not."""

    max_archive_bytes: int = 300 * _MIB  # the upload itself (illustrated books reach ~100 MB)
    max_entries: int = 10_000  # files in the archive (a long book has a few hundred)
    max_total_bytes: int = 600 * _MIB  # all files unpacked
    max_ratio: float = 100.0  # unpacked / packed per file; XHTML deflates 3-10x, ZIP bombs 1000x and more
    ratio_floor_bytes: int = _MIB  # the ratio is checked only above this size: small files cannot hurt

    def archive(self) -> ArchiveLimits:
        return replace(EPUB, max_entries=self.max_entries, max_total_bytes=self.max_total_bytes,
                       max_ratio=self.max_ratio, ratio_floor_bytes=self.ratio_floor_bytes)  # fmt: skip


DEFAULT_LIMITS = ZipLimits()


@dataclass
class ArchiveReport:
    """What the checks learned: the file names in the archive."""

    names: list[str] = field(default_factory=list)


def _fmt_bytes(n: int) -> str:
    return f"{n / _MIB:.0f} MB" if n >= _MIB else f"{n} bytes"


def not_an_epub(name: str, reason: str) -> InvalidInput:
    return InvalidInput(f"'{name}' is not an EPUB ({reason}). Export it again as EPUB, or use a .txt file.")


def is_zip(data: bytes) -> bool:
    return data[:4] in ZIP_MAGIC


def check_epub_archive(data: bytes, name: str, limits: ZipLimits = DEFAULT_LIMITS) -> ArchiveReport:
    """Raise InvalidInput unless `data` is a ZIP that is safe to unpack and parse as an EPUB; read every file once."""
    if not data:
        raise InvalidInput(f"'{name}' is empty (0 bytes). Choose the book file again.")
    if len(data) > limits.max_archive_bytes:
        raise InvalidInput(
            f"'{name}' is {_fmt_bytes(len(data))}; Studio accepts EPUBs up to {_fmt_bytes(limits.max_archive_bytes)}. "
            "Remove large images from the book, or import it as a .txt file."
        )
    if not is_zip(data):
        raise not_an_epub(name, "it is not a ZIP archive")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise not_an_epub(name, f"the ZIP archive is damaged: {exc}") from exc
    with archive:
        infos = archive.infolist()
        _check_directory(infos, name, limits)
        names = [i.filename for i in infos]
        if CONTAINER not in names:
            raise not_an_epub(name, _missing_container_reason(names))
        _check_drm(archive, names, name)
        for info in infos:
            _check_entry_content(archive, info, name)
        _check_manifest(archive, {i.filename: i for i in infos}, name, limits)
    return ArchiveReport(names=names)


def _check_manifest(archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], name: str, limits: ZipLimits) -> None:
    """EPUB readers unpack every manifest entry separately: a package listing one big file 100,000 times is a bomb
    that the archive's own sizes do not show."""
    opf_path = _package_path(_read_entry(archive, infos[CONTAINER], name))
    if opf_path not in infos:
        return  # the EPUB reader reports a missing package with its own message
    try:
        package = parse_xml(_read_entry(archive, infos[opf_path], name), recover=True)
    except XmlError:
        return
    base = posixpath.dirname(opf_path)
    hrefs = [el.get("href") or "" for el in package.iter() if _localname(el) == "item"]
    total = 0
    for href in hrefs:
        info = infos.get(posixpath.normpath(posixpath.join(base, unquote(href))))
        total += info.file_size if info is not None else 0
    if len(hrefs) > limits.max_entries or total > limits.max_total_bytes:
        raise InvalidInput(
            f"'{name}' lists {len(hrefs)} files adding up to {_fmt_bytes(total)} to unpack; the limits are "
            f"{limits.max_entries} files and {_fmt_bytes(limits.max_total_bytes)}. Studio refuses it as a possible "
            "ZIP bomb."
        )


def _package_path(container: bytes) -> str:
    try:
        root = parse_xml(container, recover=True)
    except XmlError:
        return ""
    for el in root.iter():
        if _localname(el) == "rootfile" and el.get("media-type") == "application/oebps-package+xml":
            return posixpath.normpath(el.get("full-path") or "")
    return ""


def _localname(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _missing_container_reason(names: list[str]) -> str:
    if "word/document.xml" in names:
        return "it is a Word document; save it as EPUB or plain text"
    return f"it is a ZIP archive without {CONTAINER}"


def _check_directory(infos: list[zipfile.ZipInfo], name: str, limits: ZipLimits) -> None:
    """Everything the central directory declares, before a single byte is unpacked (Studio's one archive check)."""
    check_archive(infos, name, limits.archive())


def _check_drm(archive: zipfile.ZipFile, names: list[str], name: str) -> None:
    for path, scheme in DRM_FILES.items():
        if path in names:
            raise _drm_error(name, scheme)
    if "META-INF/encryption.xml" in names:
        algorithms = _encryption_algorithms(_read_entry(archive, archive.getinfo("META-INF/encryption.xml"), name))
        if algorithms is None or not algorithms <= FONT_OBFUSCATION:
            raise _drm_error(name, "encrypted content")


def _drm_error(name: str, scheme: str) -> InvalidInput:
    return InvalidInput(
        f"'{name}' is protected by DRM ({scheme}); its text cannot be read. "
        "Use a DRM-free copy of the book (for example from the publisher or Project Gutenberg)."
    )


def _encryption_algorithms(data: bytes) -> set[str] | None:
    """The algorithms META-INF/encryption.xml names, or None when the file cannot be understood."""
    try:
        root = parse_xml(data, recover=False)
    except XmlError:
        return None
    found = set()
    for el in root.iter():
        if _localname(el) == "EncryptionMethod":
            found.add((el.get("Algorithm") or "").strip())
    return found


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """Unpack one file, stopping as soon as it yields more bytes than the directory declared."""
    try:
        chunks = list(zip_entry_chunks(archive, info, _READ_CHUNK))
    except ZipEntryTooLarge as exc:
        raise InvalidInput(f"'{name}': {exc}; the archive is damaged or malicious.") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise not_an_epub(name, f"'{info.filename}' cannot be unpacked: {exc}") from exc
    return b"".join(chunks)


def _check_entry_content(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    """Unpack (bounded) and look for external XML entities in every file: any of them may be parsed as XML."""
    if info.is_dir():
        return
    data = _read_entry(archive, info, name)
    reject_external_entities(data, f"{name}: {info.filename}")


class XmlError(ValueError):
    """An XML document that cannot be parsed (even leniently)."""


def _declared_encoding(data: bytes) -> str | None:
    match = _XML_DECLARATION.search(data[:256])  # after a BOM or stray whitespace too
    return match.group(1).decode("ascii").lower() if match else None


def _scan_views(data: bytes, where: str) -> list[bytes]:
    """The document as UTF-8 bytes, whatever its encoding: an entity hidden in UTF-16 or UTF-7 must still show."""
    views = [data]
    head = data[:4]
    codec = None
    if head.startswith((b"\xff\xfe\x00\x00", b"<\x00\x00\x00")):
        codec = "utf-32-le"
    elif head.startswith((b"\x00\x00\xfe\xff", b"\x00\x00\x00<")):
        codec = "utf-32-be"
    elif head.startswith((b"\xff\xfe", b"<\x00")):
        codec = "utf-16-le"
    elif head.startswith((b"\xfe\xff", b"\x00<")):
        codec = "utf-16-be"
    else:
        codec = _declared_encoding(data)
    if codec and codec.replace("_", "-") not in _ASCII_SUPERSETS:
        try:
            views.append(data.decode(codec, errors="replace").encode("utf-8"))
        except LookupError as exc:
            raise InvalidInput(
                f"'{where}' declares the character encoding {codec!r}, which Studio does not read. "
                "Export the book again (EPUBs use UTF-8)."
            ) from exc
    return views


def reject_external_entities(data: bytes, where: str) -> None:
    """Raise InvalidInput if an XML document declares an entity read from a file or URL (an XXE attack)."""
    if data[:4] == b"\x4c\x6f\xa7\x94":  # "<?xm" in EBCDIC, which libxml2 would decode and we could not scan
        raise InvalidInput(f"'{where}' is XML in EBCDIC, which Studio does not read. Export the book again as UTF-8.")
    for view in _scan_views(data, where):
        if _EXTERNAL_ENTITY.search(view):
            raise InvalidInput(
                f"'{where}' declares an external XML entity (a way to make a reader open other files or URLs). "
                "Studio refuses such books; export the book again from a trusted tool."
            )


def strip_doctype(data: bytes) -> bytes:
    """Remove the DOCTYPE and its internal subset (where entities are declared): our own parsing never needs it."""
    start = data.find(b"<!DOCTYPE")
    if start < 0:
        return data
    close = data.find(b">", start)
    bracket = data.find(b"[", start, close if close >= 0 else len(data))
    if bracket >= 0:
        subset_end = _SUBSET_END.search(data, bracket)
        close = subset_end.end() - 1 if subset_end else -1
    if close < 0:
        return data[:start]
    return data[:start] + data[close + 1 :]


def safe_xml_parser(recover: bool = False) -> etree.XMLParser:
    """An lxml parser that never expands entities, loads DTDs or touches the network, and keeps default depth limits."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
    )


def parse_xml(data: bytes, recover: bool = False) -> etree._Element:
    """Parse XML safely (no DOCTYPE, no entity expansion, no network); raise XmlError if it cannot be read."""
    reject_external_entities(data, "XML document")
    try:
        root = etree.fromstring(strip_doctype(data), parser=safe_xml_parser(recover))
    except etree.XMLSyntaxError as exc:
        raise XmlError(str(exc)) from exc
    if root is None:
        raise XmlError("the document is empty")
    return root
