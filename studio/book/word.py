"""Word books (.docx): word/document.xml read with lxml from a size-checked ZIP; paragraphs in order, headings
(by their style's outline level or name, resolved through word/styles.xml) open chapters, docProps/core.xml gives
the title and author."""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib

from lxml import etree

from studio.archive import MIB, ArchiveLimits, check_archive
from studio.book.figures import ImageFinder, place
from studio.book.headed import Block, block, headed_sections
from studio.book.model import Book
from studio.book.safety import XmlError, is_zip, parse_xml
from studio.book.sections import finish_sections
from studio.book.text_rules import clean_inline
from studio.book.txt import title_from_name, too_long
from studio.errors import InvalidInput
from studio.fsutil import ZipEntryTooLarge, zip_entry_chunks

log = logging.getLogger(__name__)

DOCUMENT = "word/document.xml"
# A long novel's document.xml is 5-20 MB and deflates about 5-10x; bombs reach 1000x.
DOCX = ArchiveLimits("a Word document", 5_000, 600 * MIB, encrypted_hint="Save the document again without a password.")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_SKIPPED = frozenset({f"{_W}delText", f"{_W}instrText", f"{_W}txbxContent", f"{_W}footnoteReference",
                      f"{_W}endnoteReference", f"{_W}commentReference", _MC_FALLBACK})  # fmt: skip
_A_BLIP = "{http://schemas.openxmlformats.org/drawingml/2006/main}blip"
_R_EMBED = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed"
_WP_DOCPR = "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}docPr"
_RELS = "word/_rels/document.xml.rels"
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
TITLE_LEVEL = -1  # the Title style: the book's title, not a chapter


def is_docx(data: bytes) -> bool:
    """A ZIP archive with word/document.xml (judged from the central directory only)."""
    if not is_zip(data):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return DOCUMENT in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _read(archive: zipfile.ZipFile, entry: str, name: str) -> bytes | None:
    try:
        info = archive.getinfo(entry)
    except KeyError:
        return None
    try:
        return b"".join(zip_entry_chunks(archive, info, 1 << 16))
    except ZipEntryTooLarge as exc:
        raise InvalidInput(f"'{name}': {exc}; the document is damaged or malicious.") from exc
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise InvalidInput(f"'{name}': '{entry}' cannot be unpacked ({exc}). Save the document again.") from exc


def _parse(data: bytes, name: str, entry: str) -> etree._Element:
    try:
        return parse_xml(data, recover=False)
    except XmlError as exc:
        raise InvalidInput(f"'{name}': '{entry}' is not valid XML ({exc}). Save the document again.") from exc


def style_levels(styles: etree._Element | None) -> dict[str, int]:
    """Style id -> heading level (1-9, or TITLE_LEVEL) from w:outlineLvl or the style's name ('heading 1', 'Title'),
    following w:basedOn, so a localized style id ('berschrift1') still counts."""
    if styles is None:
        return {}
    own: dict[str, int] = {}
    based: dict[str, str] = {}
    for style in styles.iter(f"{_W}style"):
        sid = style.get(f"{_W}styleId") or ""
        name = (_val(style.find(f"{_W}name")) or "").strip()
        outline = style.find(f"{_W}pPr/{_W}outlineLvl")
        match = _HEADING_NAME.match(name)
        if outline is not None and (_val(outline) or "").isdigit() and int(_val(outline) or 9) < 9:
            own[sid] = int(_val(outline) or 0) + 1
        elif match:
            own[sid] = int(match.group(1))
        elif name.lower() == "title":
            own[sid] = TITLE_LEVEL
        parent = _val(style.find(f"{_W}basedOn"))
        if parent:
            based[sid] = parent
    levels: dict[str, int] = {}
    for sid in set(own) | set(based):
        current, seen = sid, set()
        while current and current not in own and current not in seen:
            seen.add(current)
            current = based.get(current, "")
        if current in own:
            levels[sid] = own[current]
    return levels


def _val(el: etree._Element | None) -> str | None:
    return None if el is None else el.get(f"{_W}val")


def _fallback_level(style_id: str) -> int:
    """Without styles.xml: Word's built-in ids."""
    match = re.match(r"^Heading([1-9])$", style_id)
    return int(match.group(1)) if match else TITLE_LEVEL if style_id == "Title" else 0


def _paragraph_text(el: etree._Element, parts: list[str]) -> None:
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIPPED:
            continue
        if tag == f"{_W}t":
            parts.append(child.text or "")
        elif tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
            parts.append(" ")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
        else:
            _paragraph_text(child, parts)


def _optional_xml(data: bytes | None) -> etree._Element | None:
    """A part that may be missing or damaged without harm to the book (metadata, relationships): None then."""
    if not data:
        return None
    try:
        return parse_xml(data, recover=True)
    except XmlError:
        return None


def relationships(data: bytes | None) -> dict[str, str]:
    """document.xml's relationship ids -> their targets (a picture's file, relative to word/; an external one is
    "external:", which `figures.resolve` leaves out)."""
    root = _optional_xml(data)
    if root is None:
        return {}
    return {el.get("Id", ""): el.get("Target", "") if el.get("TargetMode") != "External" else "external:"
            for el in root if isinstance(el.tag, str) and el.get("Id")}  # fmt: skip


def _pictures(p: etree._Element, links: dict[str, str], images: ImageFinder, in_paragraph: bool) -> None:
    """The paragraph's drawings (each picture's file through its relationship id), in order."""
    for blip in p.iter(_A_BLIP):
        if any(a.tag in _SKIPPED for a in blip.iterancestors()):
            continue
        target = links.get(blip.get(_R_EMBED) or "", "")
        drawing = next((a for a in blip.iterancestors() if a.tag == f"{_W}drawing"), None)
        described = drawing.find(f".//{_WP_DOCPR}") if drawing is not None else None
        alt = (described.get("descr") or "") if described is not None else ""
        if target:
            images.image(target, DOCUMENT, alt, in_paragraph)


def _blocks(document: etree._Element, levels: dict[str, int], links: dict[str, str] | None = None,
            images: ImageFinder | None = None) -> tuple[list[Block], str]:  # fmt: skip
    blocks: list[Block] = []
    title = ""
    for p in document.iter(f"{_W}p"):
        if any(a.tag in _SKIPPED for a in p.iterancestors()):
            continue  # text boxes and fallbacks repeat or decorate the text
        style = _val(p.find(f"{_W}pPr/{_W}pStyle")) or ""
        level = levels.get(style, 0) if levels else _fallback_level(style)
        outline = _val(p.find(f"{_W}pPr/{_W}outlineLvl"))
        if outline and outline.isdigit() and int(outline) < 9:
            level = int(outline) + 1
        parts: list[str] = []
        _paragraph_text(p, parts)
        text = clean_inline("".join(parts))
        if images is not None:
            _pictures(p, links or {}, images, bool(text))
        if level == TITLE_LEVEL:
            title = title or text
            if images is not None:
                images.no_paragraph()
            continue
        found = block(text, level)
        if found:
            blocks.append(found)
        if images is not None and found:
            images.paragraph(found.text)
        elif images is not None:
            images.no_paragraph()
    return blocks, title


def _core(archive: zipfile.ZipFile, name: str) -> dict[str, str]:
    root = _optional_xml(_read(archive, "docProps/core.xml", name))
    if root is None:
        return {}
    out = {}
    for field in ("title", "creator", "language"):
        el = root.find(f"{_DC}{field}")
        if el is not None and clean_inline(el.text or ""):
            out[field] = clean_inline(el.text or "")
    return out


def load_docx(data: bytes, name: str, max_chars: int = 20_000_000) -> Book:
    """A Book from a .docx: checked as an archive before anything is unpacked, then its paragraphs and headings."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput(f"'{name}' is not a Word document (the ZIP archive is damaged: {exc}). Save it again "
                           "as .docx.") from exc  # fmt: skip
    with archive:
        check_archive(archive.infolist(), name, DOCX)
        document = _read(archive, DOCUMENT, name)
        if document is None:
            raise InvalidInput(f"'{name}' is a ZIP archive without {DOCUMENT}, not a Word document. Save it again "
                               "as .docx.")  # fmt: skip
        styles_xml = _read(archive, "word/styles.xml", name)
        core = _core(archive, name)
        links = relationships(_read(archive, _RELS, name))
    levels = style_levels(_parse(styles_xml, name, "word/styles.xml") if styles_xml else None)
    images = ImageFinder()
    blocks, styled_title = _blocks(_parse(document, name, DOCUMENT), levels, links, images)
    chars = sum(len(b.text) for b in blocks)
    if chars > max_chars:
        raise too_long(name, chars, max_chars)
    if not blocks:
        raise InvalidInput(f"'{name}' contains no text to read (only images, tables of drawings or empty pages). "
                           "Choose the document that holds the book.")  # fmt: skip
    book = Book(title=core.get("title") or styled_title or title_from_name(name), author=core.get("creator", ""))
    book.language = core.get("language") or book.language
    sections, found_title = headed_sections(blocks, book.title, "docx")
    if found_title and not core.get("title") and not styled_title:
        book.title = found_title
    finish_sections(sections, book)
    if images.found:  # the pictures, read from the archive already checked above
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            place(book, images.found, archive)
    log.info("%s: %d chapters, %d characters", name, len(book.chapters), book.chars)
    return book
