"""EPUB markup: XHTML parsed safely, and what an element's name and EPUB semantics say."""

from __future__ import annotations

import html.entities
import re

import lxml.html
from lxml import etree

from studio.book.safety import XmlError, parse_xml, reject_external_entities, strip_doctype
from studio.book.sections import BACK, BODY, FRONT, TOC

OPS_TYPE = "{http://www.idpf.org/2007/ops}type"
# What EPUB semantics (epub:type, EPUB 2 guide types, landmarks) say about a file.
SEMANTIC_KINDS = {
    "cover": FRONT, "titlepage": FRONT, "title-page": FRONT, "halftitlepage": FRONT, "copyright-page": FRONT,
    "dedication": FRONT, "epigraph": FRONT, "frontmatter": FRONT, "imprint": FRONT, "seriespage": FRONT,
    "toc": TOC, "loi": TOC, "lot": TOC,
    "bodymatter": BODY, "text": BODY, "chapter": BODY, "part": BODY, "prologue": BODY, "epilogue": BODY,
    "preface": BODY, "foreword": BODY, "introduction": BODY, "afterword": BODY,
    "backmatter": BACK, "colophon": BACK, "index": BACK, "bibliography": BACK, "glossary": BACK, "endnotes": BACK,
    "rearnotes": BACK,
}  # fmt: skip
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


def local_name(el: etree._Element) -> str:
    return etree.QName(el).localname.lower() if isinstance(el.tag, str) else ""


def tokens(el: etree._Element, attribute: str) -> set[str]:
    return set((el.get(attribute) or "").lower().split())


def epub_types(el: etree._Element) -> set[str]:
    return tokens(el, OPS_TYPE) | tokens(el, "epub:type")


def semantic_kind(el: etree._Element) -> str:
    return next((SEMANTIC_KINDS[t] for t in sorted(epub_types(el)) if t in SEMANTIC_KINDS), "")


def _numeric_entity(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name in _XML_ENTITIES:
        return match.group(0)
    value = html.entities.html5.get(name.decode("ascii") + ";")
    if value is None:
        return match.group(0)
    return "".join(f"&#{ord(ch)};" for ch in value).encode("ascii")


def parse_xhtml(data: bytes) -> etree._Element:
    """XHTML through the safe XML parser (HTML named entities made numeric first); tag soup through lxml's HTML
    parser. Never any DOCTYPE, entity expansion or network access."""
    reject_external_entities(data, "XHTML document")
    data = strip_doctype(data)
    try:
        return parse_xml(_NAMED_ENTITY.sub(_numeric_entity, data))
    except XmlError:
        pass
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "windows-1252"
    parser = lxml.html.HTMLParser(
        encoding=encoding, recover=True, no_network=True, remove_comments=True, remove_pis=True
    )
    try:
        return lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise XmlError(str(exc)) from exc
