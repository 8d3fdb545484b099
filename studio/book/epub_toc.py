"""EPUB tables of contents: nav (EPUB 3) or NCX (EPUB 2), parsed safely, and guide/landmark hints."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from ebooklib import epub
from lxml import etree

from studio.book.epub_markup import SEMANTIC_KINDS, epub_types, local_name, parse_xhtml, semantic_kind
from studio.book.epub_package import Package, raw
from studio.book.safety import XmlError, parse_xml
from studio.book.sections import is_chapter_title
from studio.book.text_rules import clean_inline, tidy_title
from studio.errors import InvalidInput


@dataclass
class _TocNode:
    title: str
    href: str
    children: list[_TocNode] = field(default_factory=list)


@dataclass
class TocEntry:
    """One place the table of contents names: a file in the archive and an optional fragment id inside it."""

    title: str
    path: str
    fragment: str = ""


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if local_name(c) == name]


def _text_of(el: etree._Element | None) -> str:
    return clean_inline("".join(el.itertext())) if el is not None else ""


def _ncx_nodes(parent: etree._Element) -> list[_TocNode]:
    nodes = []
    for point in _children(parent, "navpoint"):
        label = next(iter(_children(point, "navlabel")), None)
        content = next(iter(_children(point, "content")), None)
        title = _text_of(label)
        nodes.append(_TocNode(title, (content.get("src") or "") if content is not None else "", _ncx_nodes(point)))
    return nodes


def _parse_ncx(data: bytes) -> list[_TocNode]:
    root = parse_xml(data)
    nav_map = next((el for el in root.iter() if local_name(el) == "navmap"), None)
    return _ncx_nodes(nav_map) if nav_map is not None else []


def _nav_nodes(ol: etree._Element) -> list[_TocNode]:
    nodes = []
    for li in _children(ol, "li"):
        label = next((c for c in li if local_name(c) in ("a", "span")), None)
        sub = next(iter(_children(li, "ol")), None)
        href = (label.get("href") or "") if label is not None and local_name(label) == "a" else ""
        nodes.append(_TocNode(_text_of(label), href, _nav_nodes(sub) if sub is not None else []))
    return nodes


def _parse_nav(data: bytes) -> tuple[list[_TocNode], dict[str, str]]:
    """The toc nav as a tree, and the landmarks as {href: kind}."""
    root = parse_xhtml(data)
    navs = [el for el in root.iter() if local_name(el) == "nav"]
    toc = next((n for n in navs if "toc" in epub_types(n) or n.get("role") == "doc-toc"), None)
    if toc is None:  # an unlabelled nav is the table of contents unless it says it is something else
        toc = next((n for n in navs if not epub_types(n) & {"landmarks", "page-list"}), None)
    nodes = []
    if toc is not None:
        ol = next((el for el in toc.iter() if local_name(el) == "ol"), None)
        nodes = _nav_nodes(ol) if ol is not None else []
    landmarks: dict[str, str] = {}
    for nav in navs:
        if "landmarks" in epub_types(nav):
            for a in nav.iter():
                kind = semantic_kind(a)
                if local_name(a) == "a" and a.get("href") and kind:
                    landmarks[a.get("href") or ""] = kind
    return nodes, landmarks


def _flatten(nodes: list[_TocNode]) -> Iterator[_TocNode]:
    """Reading order. A lone child that is no chapter ('ETYMOLOGY' > '(Supplied by a Late Consumptive Usher...)')
    is a subtitle inside its parent's text, not a chapter of its own; several children are a real list (parts)."""
    for node in nodes:
        yield node
        lone_subtitle = len(node.children) == 1 and not _is_chapterish(node.children[0].title)
        if not lone_subtitle:
            yield from _flatten(node.children)


def _is_chapterish(title: str) -> bool:
    return is_chapter_title(tidy_title(title))


def _resolve(href: str, base_dir: str) -> tuple[str, str]:
    path, _, fragment = href.partition("#")
    full = posixpath.normpath(posixpath.join(base_dir, unquote(path))) if path else ""
    return full, unquote(fragment)


def _toc_entries(nodes: list[_TocNode], base_dir: str, spine_paths: set[str]) -> tuple[list[TocEntry], int]:
    """Entries that point into the spine (first one per place wins), and how many pointed nowhere."""
    entries: list[TocEntry] = []
    seen: set[tuple[str, str]] = set()
    lost = 0
    for node in _flatten(nodes):
        if not node.href:
            continue
        path, fragment = _resolve(node.href, base_dir)
        if path not in spine_paths:
            lost += 1
            continue
        if (path, fragment) not in seen:
            seen.add((path, fragment))
            entries.append(TocEntry(tidy_title(node.title), path, fragment))
    return entries, lost


@dataclass
class Toc:
    entries: list[TocEntry]
    hints: dict[str, str]  # file path -> kind, from the guide and landmarks


def read_toc(pkg: Package, spine_paths: set[str], warnings: list[str]) -> Toc:
    """Prefer the EPUB 3 nav, then the NCX; if neither leads anywhere the spine alone gives the chapters."""
    hints = _guide_hints(pkg)
    candidates: list[tuple[str, epub.EpubItem]] = []
    for item in pkg.book.get_items():
        if isinstance(item, epub.EpubNav):
            candidates.insert(0, ("nav", item))
        elif isinstance(item, epub.EpubNcx) or (pkg.toc_id and item.id == pkg.toc_id):
            candidates.append(("ncx", item))
    problems: list[str] = []
    for kind, item in candidates:
        path = pkg.path(item)
        content = raw(item)
        if path in pkg.missing or not content:
            problems.append(f"its {kind.upper()} file is missing")
            continue
        try:
            if kind == "nav":
                nodes, landmarks = _parse_nav(content)
                hints.update({_resolve(h, posixpath.dirname(path))[0]: k for h, k in landmarks.items()})
            else:
                nodes = _parse_ncx(content)
            entries, lost = _toc_entries(nodes, posixpath.dirname(path), spine_paths)
        except (XmlError, InvalidInput, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            problems.append(f"its {kind.upper()} cannot be read ({exc})")
            continue
        if entries:
            if lost:
                warnings.append(f"{lost} table-of-contents entries point to files the book does not have.")
            return Toc(entries, hints)
        problems.append(f"its {kind.upper()} points to no chapter file")
    if problems:
        warnings.append(
            "The table of contents is unusable (" + "; ".join(problems) + "); chapters follow the reading order and "
            "are titled from their headings."
        )
    return Toc([], hints)


def _guide_hints(pkg: Package) -> dict[str, str]:
    hints: dict[str, str] = {}
    for ref in getattr(pkg.book, "guide", None) or []:
        kind = SEMANTIC_KINDS.get((ref.get("type") or "").lower(), "")
        if kind and ref.get("href"):
            hints[_resolve(ref["href"], pkg.opf_dir)[0]] = kind
    return hints
