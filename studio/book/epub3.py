"""The read-along EPUB 3: the book's text, chapter by chapter, with Media Overlays (SMIL) that sync each sentence (and
each word, where speech recognition timed them) to the chapter's narration, which travels inside the package.

Built from the export's timeline (studio.book.timeline), so every clip is where the audio says it. The package
follows EPUB 3.3 with Media Overlays 3: `mimetype` first and stored, a navigation document, `media:duration` per
overlay and for the whole book, and `media:active-class` so reading systems highlight what is being read. XHTML is
built with lxml (the text is escaped as XML, never pasted into markup)."""

from __future__ import annotations

import datetime as _dt
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from studio.book.export_model import BookMeta
from studio.book.figures import MIME, TYPES
from studio.book.timeline import ChapterTimeline

XHTML = "http://www.w3.org/1999/xhtml"
OPS = "http://www.idpf.org/2007/ops"
SMIL = "http://www.w3.org/ns/SMIL"
ACTIVE_CLASS = "-epub-media-overlay-active"
CSS = f"""body {{ font-family: serif; line-height: 1.5; margin: 1em; }}
h1 {{ font-size: 1.4em; margin: 1em 0; }}
p {{ text-indent: 1.2em; margin: 0 0 0.4em 0; }}
figure {{ margin: 1em 0; text-align: center; }}
figure img {{ max-width: 100%; height: auto; }}
.{ACTIVE_CLASS} {{ background-color: #fde68a; color: inherit; }}
"""
CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/package.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""
COVER_TYPES = {b"\xff\xd8\xff": ("cover.jpg", "image/jpeg"), b"\x89PNG": ("cover.png", "image/png")}


@dataclass(frozen=True)
class EpubChapter:
    """A chapter of the package: its timeline and its narration (an MP3 file already made)."""

    timeline: ChapterTimeline
    audio: Path


def clock(seconds: float) -> str:
    """A SMIL clock value, h:mm:ss.mmm."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def _name(n: int) -> str:
    return f"ch{n:03d}"


def _serialize(root: etree._Element, doctype: str | None = None) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", doctype=doctype, pretty_print=True)


def _xhtml(title: str, language: str) -> tuple[etree._Element, etree._Element]:
    html = etree.Element(f"{{{XHTML}}}html", nsmap={None: XHTML, "epub": OPS})
    html.set("{http://www.w3.org/XML/1998/namespace}lang", language)
    html.set("lang", language)
    head = etree.SubElement(html, f"{{{XHTML}}}head")
    etree.SubElement(head, f"{{{XHTML}}}meta", charset="utf-8")
    etree.SubElement(head, f"{{{XHTML}}}title").text = title
    etree.SubElement(head, f"{{{XHTML}}}link", rel="stylesheet", type="text/css", href="../style.css")
    body = etree.SubElement(html, f"{{{XHTML}}}body")
    return html, body


def package_images(chapters: Sequence[EpubChapter]) -> dict[Path, str]:
    """Each picture file the chapters show, by its name in the package (`images/<name>`): JPEG, PNG and GIF, named
    as the job names them (img001.png), a clash renamed; a file that is gone or of another type is left out."""
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for chapter in chapters:
        for _, figure in chapter.timeline.figures:
            if figure.path in names:
                continue
            try:
                with open(figure.path, "rb") as f:
                    head = f.read(16)
            except OSError:
                continue
            ext = next((e for magic, e in TYPES if head.startswith(magic)), "")
            if not ext:
                continue
            name = f"{Path(figure.path.name).stem}{ext}"
            if name in taken:
                name = f"img-{len(taken) + 1:04d}{ext}"
            names[figure.path] = name
            taken.add(name)
    return names


def _figure(parent: etree._Element, name: str, alt: str) -> None:
    figure = etree.SubElement(parent, f"{{{XHTML}}}figure")
    etree.SubElement(figure, f"{{{XHTML}}}img", src=f"../images/{name}", alt=alt)


def chapter_xhtml(n: int, timeline: ChapterTimeline, language: str, images: dict[Path, str] | None = None) -> bytes:
    """The chapter's text: its title (the first paragraph, when the narrator says it), then its paragraphs, with its
    pictures (`images`: their package names) between them where they stood; each sentence a span
    (id s<chapter>-<n>), each timed word a span inside it (id w<chapter>-<n>-<k>), the ids the chapter's SMIL points
    at."""
    html, body = _xhtml(timeline.title, language)
    section = etree.SubElement(body, f"{{{XHTML}}}section", id=f"c{n}")
    section.set(f"{{{OPS}}}type", "chapter")
    # a spoken title (the chapter's first paragraph says it) is the heading itself, highlighted as it is read
    first = timeline.paragraphs[0] if timeline.paragraphs else []
    spoken_title = bool(first) and " ".join(" ".join(timeline.cues[i].text for i in first).split()) == " ".join(
        timeline.title.split()
    )
    if not spoken_title:
        etree.SubElement(section, f"{{{XHTML}}}h1").text = timeline.title
    images = images or {}
    pictures: dict[int, list[tuple[str, str]]] = {}
    for at, figure in timeline.figures:
        if figure.path in images:
            pictures.setdefault(at, []).append((images[figure.path], figure.alt))
    for number, paragraph in enumerate(timeline.paragraphs):
        for name, alt in pictures.get(number, []):
            _figure(section, name, alt)
        p = etree.SubElement(section, f"{{{XHTML}}}h1" if spoken_title and number == 0 else f"{{{XHTML}}}p")
        last: etree._Element | None = None
        for index in paragraph:
            cue = timeline.cues[index]
            span = etree.Element(f"{{{XHTML}}}span", id=f"s{n}-{index + 1}")
            if cue.words:
                prev = None
                for k, word in enumerate(cue.words, start=1):
                    w = etree.SubElement(span, f"{{{XHTML}}}span", id=f"w{n}-{index + 1}-{k}")
                    w.text = word.word
                    if prev is not None:
                        prev.tail = " "
                    prev = w
            else:
                span.text = cue.text
            if last is not None:
                last.tail = " "
            p.append(span)
            last = span
    for at in sorted(a for a in pictures if a >= len(timeline.paragraphs)):
        for name, alt in pictures[at]:
            _figure(section, name, alt)
    return _serialize(html, "<!DOCTYPE html>")


def chapter_smil(n: int, timeline: ChapterTimeline, audio_name: str) -> bytes:
    """The chapter's overlay: one par per sentence (text id, audio clip), or a seq of one par per word."""
    smil = etree.Element(f"{{{SMIL}}}smil", nsmap={None: SMIL, "epub": OPS}, version="3.0")
    body = etree.SubElement(smil, f"{{{SMIL}}}body")
    seq = etree.SubElement(body, f"{{{SMIL}}}seq", id=f"seq{n}")
    seq.set(f"{{{OPS}}}textref", f"../text/{_name(n)}.xhtml#c{n}")  # the chapter's section
    seq.set(f"{{{OPS}}}type", "chapter")
    text_file = f"../text/{_name(n)}.xhtml"

    def par(parent: etree._Element, pid: str, target: str, start: float, end: float) -> None:
        node = etree.SubElement(parent, f"{{{SMIL}}}par", id=pid)
        etree.SubElement(node, f"{{{SMIL}}}text", src=f"{text_file}#{target}")
        etree.SubElement(node, f"{{{SMIL}}}audio", src=f"../audio/{audio_name}", clipBegin=clock(start),
                         clipEnd=clock(max(end, start + 0.001)))  # fmt: skip

    for index, cue in enumerate(timeline.cues):
        sid = f"s{n}-{index + 1}"
        if cue.words:
            inner = etree.SubElement(seq, f"{{{SMIL}}}seq", id=f"q{sid}")
            inner.set(f"{{{OPS}}}textref", f"{text_file}#{sid}")
            for k, word in enumerate(cue.words, start=1):
                par(inner, f"p{sid}-{k}", f"w{n}-{index + 1}-{k}", word.start, word.end)
        else:
            par(seq, f"p{sid}", sid, cue.start, cue.end)
    return _serialize(smil)


def nav_xhtml(chapters: Sequence[EpubChapter], title: str, language: str) -> bytes:
    html, body = _xhtml(title, language)
    html.find(f"{{{XHTML}}}head/{{{XHTML}}}link").set("href", "style.css")
    nav = etree.SubElement(body, f"{{{XHTML}}}nav", id="toc")
    nav.set(f"{{{OPS}}}type", "toc")
    etree.SubElement(nav, f"{{{XHTML}}}h1").text = "Contents"
    ol = etree.SubElement(nav, f"{{{XHTML}}}ol")
    for n, chapter in enumerate(chapters, start=1):
        li = etree.SubElement(ol, f"{{{XHTML}}}li")
        etree.SubElement(li, f"{{{XHTML}}}a", href=f"text/{_name(n)}.xhtml").text = chapter.timeline.title
    return _serialize(html, "<!DOCTYPE html>")


def _cover(meta: BookMeta) -> tuple[str, str] | None:
    data = meta.cover or b""
    return next((kind for magic, kind in COVER_TYPES.items() if data.startswith(magic)), None)


def package_opf(chapters: Sequence[EpubChapter], meta: BookMeta, narrator: str, identifier: str,
                images: dict[Path, str] | None = None) -> bytes:  # fmt: skip
    opf = "http://www.idpf.org/2007/opf"
    dc = "http://purl.org/dc/elements/1.1/"
    root = etree.Element(f"{{{opf}}}package", nsmap={None: opf}, version="3.0")
    root.set("unique-identifier", "bookid")
    root.set("{http://www.w3.org/XML/1998/namespace}lang", meta.language or "en")
    md = etree.SubElement(root, f"{{{opf}}}metadata", nsmap={"dc": dc})
    etree.SubElement(md, f"{{{dc}}}identifier", id="bookid").text = identifier
    etree.SubElement(md, f"{{{dc}}}title").text = meta.title or "Audiobook"
    etree.SubElement(md, f"{{{dc}}}language").text = meta.language or "en"
    if meta.author:
        etree.SubElement(md, f"{{{dc}}}creator").text = meta.author
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    etree.SubElement(md, f"{{{opf}}}meta", property="dcterms:modified").text = now
    total = 0.0
    for n, chapter in enumerate(chapters, start=1):
        total += chapter.timeline.duration
        meta_el = etree.SubElement(md, f"{{{opf}}}meta", property="media:duration", refines=f"#smil{n}")
        meta_el.text = clock(chapter.timeline.duration)
    etree.SubElement(md, f"{{{opf}}}meta", property="media:duration").text = clock(total)
    etree.SubElement(md, f"{{{opf}}}meta", property="media:narrator").text = narrator
    etree.SubElement(md, f"{{{opf}}}meta", property="media:active-class").text = ACTIVE_CLASS
    manifest = etree.SubElement(root, f"{{{opf}}}manifest")

    def item(iid: str, href: str, media: str, **extra: str) -> None:
        etree.SubElement(manifest, f"{{{opf}}}item", id=iid, href=href, **{"media-type": media}, **extra)

    item("nav", "nav.xhtml", "application/xhtml+xml", properties="nav")
    item("css", "style.css", "text/css")
    cover = _cover(meta)
    if cover is not None:
        item("cover", cover[0], cover[1], properties="cover-image")
    for k, name in enumerate((images or {}).values(), start=1):
        item(f"img{k}", f"images/{name}", MIME[Path(name).suffix])
    spine = etree.SubElement(root, f"{{{opf}}}spine")
    for n, _chapter in enumerate(chapters, start=1):
        item(_name(n), f"text/{_name(n)}.xhtml", "application/xhtml+xml", **{"media-overlay": f"smil{n}"})
        item(f"smil{n}", f"smil/{_name(n)}.smil", "application/smil+xml")
        item(f"audio{n}", f"audio/{_name(n)}.mp3", "audio/mpeg")
        etree.SubElement(spine, f"{{{opf}}}itemref", idref=_name(n))
    return _serialize(root)


def write_epub(path: Path, chapters: Sequence[EpubChapter], meta: BookMeta, narrator: str = "Studio") -> None:
    """Write the package to `path`: `mimetype` first and stored (as EPUB asks), audio stored (MP3 does not
    deflate), text deflated."""
    identifier = f"urn:uuid:{uuid.uuid4()}"
    language = meta.language or "en"
    images = package_images(chapters)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        deflate = zipfile.ZIP_DEFLATED
        z.writestr("META-INF/container.xml", CONTAINER, compress_type=deflate)
        z.writestr("OEBPS/package.opf", package_opf(chapters, meta, narrator, identifier, images),
                   compress_type=deflate)  # fmt: skip
        z.writestr("OEBPS/nav.xhtml", nav_xhtml(chapters, meta.title or "Audiobook", language), compress_type=deflate)
        z.writestr("OEBPS/style.css", CSS, compress_type=deflate)
        cover = _cover(meta)
        if cover is not None and meta.cover is not None:
            z.writestr(f"OEBPS/{cover[0]}", meta.cover, compress_type=zipfile.ZIP_STORED)
        for n, chapter in enumerate(chapters, start=1):
            name = _name(n)
            z.writestr(f"OEBPS/text/{name}.xhtml", chapter_xhtml(n, chapter.timeline, language, images),
                       compress_type=deflate)  # fmt: skip
            z.writestr(f"OEBPS/smil/{name}.smil", chapter_smil(n, chapter.timeline, f"{name}.mp3"),
                       compress_type=deflate)  # fmt: skip
            z.write(chapter.audio, f"OEBPS/audio/{name}.mp3", compress_type=zipfile.ZIP_STORED)
        for path, name in images.items():  # pictures are compressed already
            z.write(path, f"OEBPS/images/{name}", compress_type=zipfile.ZIP_STORED)
