"""Small EPUB 2/3 books built with zipfile for the import tests, with switches that break them in chosen ways."""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

XHTML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
PNG_1PX = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Chap:
    """One chapter: its TOC title, its paragraphs (or raw body markup), and where it lives."""

    title: str
    paragraphs: list[str] = field(default_factory=lambda: ["Some text."])
    html: str | None = None  # raw markup for the chapter's part of <body>, instead of heading + paragraphs
    file: str = ""  # default chNN.xhtml; chapters sharing a file are split by fragment ids
    fragment: str = ""  # id of the chapter's <div>; TOC entries point at it when set
    heading: str | None = None  # printed heading; None = the title, "" = no heading
    in_toc: bool = True
    children: list[str] = field(default_factory=list)  # nested TOC entries (subtitles) under this one
    epub_type: str = ""


@dataclass
class EpubSpec:
    """Everything a test may want to vary; the defaults make a valid EPUB 3 with nav and NCX."""

    chapters: list[Chap]
    version: int = 3
    title: str = "A Test Book"
    author: str = "Ada Author"
    language: str = "en"
    nav: bool = True
    ncx: bool = True
    cover: bytes | None = None
    missing: set[str] = field(default_factory=set)  # chapter files listed but not stored
    raw: dict[str, bytes] = field(default_factory=dict)  # stored content replacing a generated file
    extra: dict[str, bytes] = field(default_factory=dict)  # more files in the archive
    toc_prefix: str = ""  # prepended to every TOC href ("missing/" points the TOC nowhere)
    guide: dict[str, str] = field(default_factory=dict)  # EPUB 2 guide: file -> type
    landmarks: dict[str, str] = field(default_factory=dict)  # EPUB 3 nav landmarks: file -> epub:type
    nonlinear: set[str] = field(default_factory=set)  # spine items marked linear="no"


def _files(spec: EpubSpec) -> dict[str, list[tuple[int, Chap]]]:
    files: dict[str, list[tuple[int, Chap]]] = {}
    for i, chap in enumerate(spec.chapters, 1):
        chap.file = chap.file or f"ch{i:02d}.xhtml"
        files.setdefault(chap.file, []).append((i, chap))
    return files


def _chapter_markup(chap: Chap) -> str:
    if chap.html is not None:
        inner = chap.html
    else:
        heading = chap.title if chap.heading is None else chap.heading
        inner = (f"<h2>{escape(heading)}</h2>\n" if heading else "") + "\n".join(
            f"<p>{escape(p)}</p>" for p in chap.paragraphs
        )
    attrs = f' id="{chap.fragment}"' if chap.fragment else ""
    attrs += f' epub:type="{chap.epub_type}"' if chap.epub_type else ""
    return f"<div{attrs}>\n{inner}\n</div>"


def xhtml(body: str, title: str = "Chapter", doctype: str = "") -> bytes:
    return (
        f'{XHTML_HEAD}{doctype}<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f"<head><title>{escape(title)}</title><style>p {{ color: red }}</style></head>\n<body>\n{body}\n</body></html>"
    ).encode()


def _href(spec: EpubSpec, chap: Chap) -> str:
    return spec.toc_prefix + chap.file + (f"#{chap.fragment}" if chap.fragment else "")


def _nav(spec: EpubSpec) -> bytes:
    items = []
    for chap in spec.chapters:
        if not chap.in_toc:
            continue
        sub = "".join(f'<li><a href="{_href(spec, chap)}">{escape(c)}</a></li>' for c in chap.children)
        sub = f"<ol>{sub}</ol>" if sub else ""
        items.append(f'<li><a href="{_href(spec, chap)}">{escape(chap.title)}</a>{sub}</li>')
    marks = "".join(f'<li><a epub:type="{t}" href="{f}">{t}</a></li>' for f, t in spec.landmarks.items())
    landmarks = f'<nav epub:type="landmarks"><ol>{marks}</ol></nav>' if marks else ""
    toc = f'<nav epub:type="toc" id="toc"><h1>Contents</h1><ol>{"".join(items)}</ol></nav>'
    return xhtml(landmarks + toc, "Contents")


def _ncx(spec: EpubSpec) -> bytes:
    points = []
    n = 0
    for chap in spec.chapters:
        if not chap.in_toc:
            continue
        n += 1
        sub = ""
        for child in chap.children:
            n += 1
            sub += (
                f'<navPoint id="np{n}" playOrder="{n}"><navLabel><text>{escape(child)}</text></navLabel>'
                f'<content src="{_href(spec, chap)}"/></navPoint>'
            )
        points.append(
            f'<navPoint id="np{n}" playOrder="{n}"><navLabel><text>{escape(chap.title)}</text></navLabel>'
            f'<content src="{_href(spec, chap)}"/>{sub}</navPoint>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">'
        f'<head><meta name="dtb:uid" content="test"/></head><docTitle><text>{escape(spec.title)}</text></docTitle>'
        f"<navMap>{''.join(points)}</navMap></ncx>"
    ).encode()


def _opf(spec: EpubSpec, files: list[str]) -> bytes:
    manifest = [f'<item id="f{i}" href="{f}" media-type="application/xhtml+xml"/>' for i, f in enumerate(files)]
    if spec.nav:
        manifest.append('<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>')
    if spec.ncx:
        manifest.append('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>')
    meta_cover = ""
    if spec.cover is not None:
        props = ' properties="cover-image"' if spec.version == 3 else ""
        manifest.append(f'<item id="cover-img" href="images/cover.png" media-type="image/png"{props}/>')
        meta_cover = '<meta name="cover" content="cover-img"/>'
    linear = {f: ' linear="no"' if f in spec.nonlinear else "" for f in files}
    spine = "".join(f'<itemref idref="f{i}"{linear[f]}/>' for i, f in enumerate(files))
    toc_attr = ' toc="ncx"' if spec.ncx else ""
    guide = "".join(f'<reference type="{t}" href="{f}" title="{t}"/>' for f, t in spec.guide.items())
    role = ' opf:role="aut"' if spec.version == 2 else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<package xmlns="http://www.idpf.org/2007/opf" version="{spec.version}.0" unique-identifier="uid">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">'
        f'<dc:identifier id="uid">urn:test</dc:identifier><dc:title>{escape(spec.title)}</dc:title>'
        f"<dc:creator{role}>{escape(spec.author)}</dc:creator><dc:language>{spec.language}</dc:language>"
        f"{meta_cover}</metadata><manifest>{''.join(manifest)}</manifest><spine{toc_attr}>{spine}</spine>"
        f"{f'<guide>{guide}</guide>' if guide else ''}</package>"
    ).encode()


CONTAINER_XML = (
    b'<?xml version="1.0"?>\n<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    b'<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
    b"</container>"
)


def build_epub(spec: EpubSpec) -> bytes:
    files = _files(spec)
    stored: dict[str, bytes] = {"META-INF/container.xml": CONTAINER_XML}
    for name, chaps in files.items():
        stored[f"OEBPS/{name}"] = xhtml("\n".join(_chapter_markup(c) for _, c in chaps), chaps[0][1].title)
    stored["OEBPS/content.opf"] = _opf(spec, list(files))
    if spec.nav:
        stored["OEBPS/nav.xhtml"] = _nav(spec)
    if spec.ncx:
        stored["OEBPS/toc.ncx"] = _ncx(spec)
    if spec.cover is not None:
        stored["OEBPS/images/cover.png"] = spec.cover
    for name in spec.missing:
        stored.pop(f"OEBPS/{name}", None)
    stored.update(spec.raw)
    stored.update(spec.extra)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip")  # stored, first: as the spec asks
        for name, data in stored.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def write_epub(path: Path, spec: EpubSpec) -> Path:
    path.write_bytes(build_epub(spec))
    return path


def read_entry(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(name)


def zip_bytes(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A plain ZIP of the given files (for archives that are broken before they are EPUBs)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def minimal_entries(**extra: bytes) -> dict[str, bytes]:
    """The files of a valid one-chapter EPUB 3, plus any extra ones (name -> bytes)."""
    with zipfile.ZipFile(io.BytesIO(build_epub(EpubSpec([Chap("One", ["Hello there."])])))) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    entries.update(extra)
    return entries


def _central_directory(data: bytes) -> list[tuple[int, str]]:
    """(offset, name) of every central directory record."""
    end = data.rfind(b"PK\x05\x06")
    count, _size, offset = struct.unpack_from("<HII", data, end + 10)
    records = []
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        records.append((offset, data[offset + 46 : offset + 46 + name_len].decode()))
        offset += 46 + name_len + extra_len + comment_len
    return records


def set_encrypted_flag(data: bytes, name: str) -> bytes:
    """Mark one entry as encrypted (general purpose bit 0) in its local header and central directory record."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        local = zf.getinfo(name).header_offset
    buf[local + 6] |= 0x01
    for offset, entry in _central_directory(data):
        if entry == name:
            buf[offset + 8] |= 0x01
    return bytes(buf)


def set_declared_size(data: bytes, name: str, size: int) -> bytes:
    """Make the central directory claim a different unpacked size for one entry (a lying ZIP)."""
    buf = bytearray(data)
    for offset, entry in _central_directory(data):
        if entry == name:
            struct.pack_into("<I", buf, offset + 24, size)
    return bytes(buf)
