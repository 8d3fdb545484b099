"""DOCX, Markdown, HTML and Kindle import: books made from the fixture books' real text, and files that go wrong
(ZIP bombs, external entities, a converter that is missing, fails or hangs)."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import docx
import pytest
from lxml import etree

from studio.book.importer import load_book
from studio.book.kindle import load_kindle
from studio.book.model import Book
from studio.errors import InvalidInput
from tests.book.epub_factory import Chap, EpubSpec, build_epub

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@pytest.fixture(scope="module")
def frankenstein(shared_fixtures: Path) -> Book:
    return load_book(shared_fixtures / "books" / "frankenstein.epub")


@pytest.fixture(scope="module")
def letters(frankenstein: Book) -> list[tuple[str, list[str]]]:
    """Walton's four letters: (title, paragraphs without the heading, each on one line)."""
    body = [c for c in frankenstein.chapters if c.included][:4]
    assert [c.title for c in body] == ["Letter 1", "Letter 2", "Letter 3", "Letter 4"]
    return [(c.title, [" ".join(p.split()) for p in c.text.split("\n\n")[1:]]) for c in body]


def _body(book: Book) -> list[str]:
    return [c.title for c in book.chapters if c.included]


def _paragraphs(book: Book, title: str) -> list[str]:
    return next(c for c in book.chapters if c.title == title).text.split("\n\n")[1:]


# --- DOCX ----------------------------------------------------------------------------------------------------------


def _docx(path: Path, letters: list[tuple[str, list[str]]], title_style: bool = True) -> Path:
    document = docx.Document()
    document.core_properties.title = "Frankenstein"
    document.core_properties.author = "Mary Wollstonecraft Shelley"
    if title_style:
        document.add_heading("Frankenstein; or, the Modern Prometheus", 0)
    for title, paragraphs in letters:
        document.add_heading(title, 1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def _rewrite(path: Path, edit: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path) as archive:
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    entries.update(edit)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def test_docx_headings_become_chapters(letters: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    book = load_book(_docx(tmp_path / "frankenstein.docx", letters))
    assert (book.title, book.author) == ("Frankenstein", "Mary Wollstonecraft Shelley")
    assert _body(book) == ["Letter 1", "Letter 2", "Letter 3", "Letter 4"]
    for title, paragraphs in letters:
        assert _paragraphs(book, title) == paragraphs
    assert "Modern Prometheus" not in " ".join(c.text for c in book.chapters)  # the Title style names the book
    assert book.warnings == []


def test_docx_localized_style_ids_and_outline_levels(letters: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    path = _docx(tmp_path / "lokal.docx", letters, title_style=False)
    with zipfile.ZipFile(path) as archive:
        styles, document = archive.read("word/styles.xml"), archive.read("word/document.xml")
    # a German Word: the style id is 'berschrift1', its name still 'heading 1'
    styles = styles.replace(b'w:styleId="Heading1"', b'w:styleId="berschrift1"')
    document = document.replace(b'w:val="Heading1"', b'w:val="berschrift1"', 2)
    # and the last two letters use a custom style that is a heading only by its outline level
    root = etree.fromstring(styles)
    custom = etree.SubElement(root, f"{W}style", {f"{W}type": "paragraph", f"{W}styleId": "Briefkopf"})
    etree.SubElement(custom, f"{W}name", {f"{W}val": "Briefkopf"})
    etree.SubElement(etree.SubElement(custom, f"{W}pPr"), f"{W}outlineLvl", {f"{W}val": "0"})
    document = document.replace(b'w:val="Heading1"', b'w:val="Briefkopf"')
    _rewrite(path, {"word/styles.xml": etree.tostring(root), "word/document.xml": document})
    assert b"Heading1" not in document
    book = load_book(path)
    assert _body(book) == ["Letter 1", "Letter 2", "Letter 3", "Letter 4"]


def test_docx_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:document>" + b" " * (64 * 2**20) + b"</w:document>")
    path = tmp_path / "bomb.docx"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 2**20
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"'bomb.docx': 'word/document.xml' unpacks \d+ times larger.*ZIP bomb"):
        load_book(path)
    assert time.perf_counter() - start < 1.0  # judged from the directory, not by unpacking 64 MB


def test_docx_external_entity_is_refused(letters: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET PASSWORD")
    path = _docx(tmp_path / "xxe.docx", letters[:1])
    with zipfile.ZipFile(path) as archive:
        document = archive.read("word/document.xml")
    doctype = f'<!DOCTYPE w:document [<!ENTITY leak SYSTEM "file://{secret}">]>'.encode()
    head, rest = document.split(b"?>", 1)
    document = head + b"?>" + doctype + rest.replace(b"<w:t>", b"<w:t>&leak;", 1)
    _rewrite(path, {"word/document.xml": document})
    with pytest.raises(InvalidInput, match="external XML entity"):
        load_book(path)


def test_docx_and_epub_with_each_others_names(letters: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    book = load_book(_docx(tmp_path / "letters.epub", letters))
    assert book.warnings[0] == "'letters.epub' is a Word document despite its name; it was read as one."
    assert _body(book)[0] == "Letter 1"
    path = tmp_path / "story.docx"
    path.write_bytes(build_epub(EpubSpec([Chap("One", ["It was a dark night."]), Chap("Two", ["Then came day."])])))
    book = load_book(path)
    assert book.warnings[0] == "'story.docx' is an EPUB despite its name; it was read as one."
    assert _body(book) == ["One", "Two"]


def test_damaged_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"not a zip at all, just words " * 20)
    with pytest.raises(InvalidInput, match=r"'broken.docx' is not a Word document .*Studio imports EPUB"):
        load_book(path)
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))  # a Word 97 file renamed
    with pytest.raises(InvalidInput, match=r"old Microsoft Office document \(\.doc\).*save it as \.docx"):
        load_book(path)


# --- Markdown and HTML ---------------------------------------------------------------------------------------------


def test_markdown_chapters_and_plain_spoken_text(letters: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    parts = ["---", "title: Frankenstein", "author: Mary Shelley", "tags: [gothic, letters]", "---", "",
             "# Frankenstein", "", "![The frontispiece: a creature](frontispiece.png)", ""]  # fmt: skip
    for title, paragraphs in letters:
        parts += [f"## {title}", ""]
        for k, paragraph in enumerate(paragraphs):
            marked = paragraph.replace("Petersburgh", "*Petersburgh*").replace("England", "[England](https://x.org)")
            parts += [f"**{marked}**" if k == 1 else marked, ""]
        parts += ["```", "print('not read')", "```", "", "Run `make` now.", ""]
    path = tmp_path / "frankenstein.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    book = load_book(path)
    assert (book.title, book.author) == ("Frankenstein", "Mary Shelley")
    assert _body(book) == ["Letter 1", "Letter 2", "Letter 3", "Letter 4"]
    for title, paragraphs in letters:
        assert _paragraphs(book, title) == [*paragraphs, "Run make now."]
    text = " ".join(c.text for c in book.chapters)
    for gone in ("*", "](", "https://", "frontispiece", "not read", "gothic", "---", "`"):
        assert gone not in text


def test_markdown_with_one_heading_level(tmp_path: Path) -> None:
    path = tmp_path / "notes.markdown"
    path.write_text("Some opening words.\n\n# First\n\nOne _two_ three.\n\n# Second\n\nFour five.\n", encoding="utf-8")
    book = load_book(path)
    assert [(c.title, c.text) for c in book.chapters if c.included][-2:] == [
        ("First", "First\n\nOne two three."),
        ("Second", "Second\n\nFour five."),
    ]


def test_html_chapters_without_scripts_styles_or_navigation(
    letters: list[tuple[str, list[str]]], tmp_path: Path
) -> None:
    from html import escape

    chapters = [(escape(title), [escape(p) for p in paragraphs]) for title, paragraphs in letters]
    body = "".join(f"<h2>{t}</h2>" + "".join(f"<p>{p}</p>" for p in ps) for t, ps in chapters)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Frankenstein</title>'
        '<meta name="author" content="Mary Shelley"><style>p { color: red }</style>'
        "<script>var spoiler = 'SCRIPT TEXT';</script></head><body>"
        '<nav><a href="#l1">Letter 1</a> <a href="#l2">NAVIGATION TEXT</a></nav><h1>Frankenstein</h1>'
        f'<img src="cover.png" alt="ALT TEXT">{body}<noscript>NOSCRIPT TEXT</noscript></body></html>'
    )
    path = tmp_path / "frankenstein.htm"
    path.write_text(page, encoding="utf-8")
    book = load_book(path)
    assert (book.title, book.author, book.language) == ("Frankenstein", "Mary Shelley", "en")
    assert _body(book) == ["Letter 1", "Letter 2", "Letter 3", "Letter 4"]
    for title, paragraphs in letters:
        assert _paragraphs(book, title) == paragraphs
    text = " ".join(c.text for c in book.chapters)
    for gone in ("SCRIPT", "NAVIGATION", "ALT TEXT", "NOSCRIPT", "color"):
        assert gone not in text


# --- Kindle --------------------------------------------------------------------------------------------------------


def _mobi(encryption: int = 0) -> bytes:
    header = bytearray(b"Some book".ljust(32, b"\x00") + bytes(28) + b"BOOKMOBI" + bytes(10) + b"\x00\x00\x00\x58")
    record = bytearray(16)
    record[12:14] = encryption.to_bytes(2, "big")
    return bytes(header.ljust(0x58, b"\x00") + record + b"compressed text" * 10)


def _fake_converter(folder: Path, script: str) -> None:
    folder.mkdir(exist_ok=True)
    converter = folder / "ebook-convert"
    converter.write_text("#!/bin/sh\n" + script)
    converter.chmod(0o755)


def test_kindle_without_calibre(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "book.azw3"
    path.write_bytes(_mobi())
    with pytest.raises(InvalidInput, match=r"Calibre's `ebook-convert`.*apt install calibre.*calibre-ebook.com.*DRM"):
        load_book(path)


def test_kindle_with_drm_is_refused_before_converting(tmp_path: Path) -> None:
    path = tmp_path / "bought.mobi"
    path.write_bytes(_mobi(encryption=2))
    with pytest.raises(InvalidInput, match=r"'bought.mobi' is protected by DRM"):
        load_book(path)


def test_kindle_converted_by_ebook_convert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    epub = tmp_path / "made.epub"
    epub.write_bytes(build_epub(EpubSpec([Chap("One", ["It was a dark night."]), Chap("Two", ["Then day."])])))
    bin_dir = tmp_path / "bin"
    _fake_converter(bin_dir, f'test "$#" = 2 || exit 3\ncp "{epub}" "$2"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "novel.mobi"
    path.write_bytes(_mobi())
    book = load_book(path)
    assert _body(book) == ["One", "Two"]
    assert "converted from Kindle format to EPUB with Calibre's ebook-convert" in book.warnings[0]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ('echo "calibre.ebooks.DRMError: This book is locked by DRM" >&2\nexit 1\n', r"protected by DRM"),
        ('echo "Conversion error: bad header" >&2\nexit 2\n', r"could not convert 'novel.mobi' \(exit status 2: "
         r"Conversion error: bad header\)"),
        ("exit 0\n", r"could not convert"),  # says it worked, wrote nothing
    ],
)  # fmt: skip
def test_kindle_conversion_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, message: str) -> None:
    _fake_converter(tmp_path / "bin", script)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "novel.mobi"
    path.write_bytes(_mobi())
    with pytest.raises(InvalidInput, match=message):
        load_book(path)


def test_kindle_conversion_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_converter(tmp_path / "bin", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    start = time.perf_counter()
    with pytest.raises(InvalidInput, match=r"took longer than 1 s and was stopped"):
        load_kindle(_mobi(), "slow.mobi", timeout_s=1.0)
    assert time.perf_counter() - start < 10


def test_unknown_format_lists_what_studio_imports(tmp_path: Path) -> None:
    path = tmp_path / "song.xyz"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(InvalidInput, match=r"Studio imports EPUB \(\.epub\), PDF .*Word \(\.docx\), Markdown.*HTML"):
        load_book(path)
