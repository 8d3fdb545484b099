"""Hostile and broken EPUB archives are refused before ebooklib or any XML parser reads them."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from studio.book.importer import load_book
from studio.book.safety import (
    ZipLimits,
    check_epub_archive,
    parse_xml,
    reject_external_entities,
    safe_xml_parser,
    strip_doctype,
)
from studio.errors import InvalidInput
from tests.book.epub_factory import (
    Chap,
    EpubSpec,
    build_epub,
    minimal_entries,
    read_entry,
    set_declared_size,
    set_encrypted_flag,
    xhtml,
    zip_bytes,
)

FONT_ONLY = b"""<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>
    <enc:CipherData><enc:CipherReference URI="OEBPS/fonts/a.otf"/></enc:CipherData></enc:EncryptedData>
</encryption>"""
AES = FONT_ONLY.replace(b"http://www.idpf.org/2008/embedding", b"http://www.w3.org/2001/04/xmlenc#aes128-cbc")


def _refused(data: bytes, *words: str, limits: ZipLimits | None = None) -> str:
    with pytest.raises(InvalidInput) as info:
        check_epub_archive(data, "book.epub", limits or ZipLimits())
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def test_a_valid_epub_passes() -> None:
    report = check_epub_archive(build_epub(EpubSpec([Chap("One")])), "book.epub")
    assert "META-INF/container.xml" in report.names


def test_empty_file() -> None:
    _refused(b"", "'book.epub' is empty")


def test_text_is_not_an_epub() -> None:
    message = _refused(b"Just some text, renamed to .epub\n", "is not an EPUB (it is not a ZIP archive)")
    assert "Export it again as EPUB, or use a .txt file." in message


def test_zip_without_container() -> None:
    _refused(zip_bytes({"hello.txt": b"hi"}), "without META-INF/container.xml")


def test_word_document_is_named() -> None:
    _refused(zip_bytes({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<x/>"}), "Word document")


def test_damaged_zip() -> None:
    data = build_epub(EpubSpec([Chap("One")]))
    _refused(data[: len(data) // 2], "not an EPUB")


def test_zip_bomb_by_compression_ratio_is_refused_quickly() -> None:
    bomb = zip_bytes(minimal_entries(**{"OEBPS/bomb.xhtml": b"\0" * (8 * 2**20)}))
    assert len(bomb) < 100_000  # 8 MB of zeros deflate to a few KB
    start = time.perf_counter()
    _refused(bomb, "ZIP bomb", "bomb.xhtml")
    assert time.perf_counter() - start < 1.0


def test_total_unpacked_size_limit() -> None:
    _refused(build_epub(EpubSpec([Chap("One")])), "unpacks to more than", limits=ZipLimits(max_total_bytes=500))


def test_entry_count_limit() -> None:
    _refused(build_epub(EpubSpec([Chap("One"), Chap("Two")])), "holds 7 files", limits=ZipLimits(max_entries=5))


def test_archive_size_limit() -> None:
    _refused(build_epub(EpubSpec([Chap("One")])), "Studio accepts EPUBs up to", limits=ZipLimits(max_archive_bytes=500))


def test_manifest_listing_one_file_many_times_is_a_bomb() -> None:
    big = xhtml("<p>" + "word " * 40_000 + "</p>")  # 200 KB, stored once
    package = read_entry(build_epub(EpubSpec([Chap("One")])), "OEBPS/content.opf")
    items = "".join(f'<item id="d{i}" href="ch01.xhtml" media-type="application/xhtml+xml"/>' for i in range(50))
    hostile = package.replace(b"<manifest>", b"<manifest>" + items.encode())
    data = build_epub(EpubSpec([Chap("One")], raw={"OEBPS/ch01.xhtml": big, "OEBPS/content.opf": hostile}))
    _refused(data, "lists 53 files adding up to 10 MB", limits=ZipLimits(max_total_bytes=5 * 2**20))


def test_entry_larger_than_declared_stops() -> None:
    text = b"<p>" + b"word " * 50_000 + b"</p>"
    lying = set_declared_size(zip_bytes(minimal_entries(**{"OEBPS/big.xhtml": text})), "OEBPS/big.xhtml", 1000)
    _refused(lying, "big.xhtml")


@pytest.mark.parametrize("entry", ["../evil.xhtml", "OEBPS/../../evil", "/etc/passwd", "OEBPS\\x.xhtml", "C:/x.txt"])
def test_unsafe_entry_paths(entry: str) -> None:
    _refused(zip_bytes(minimal_entries(**{entry: b"x"})), "unsafe file path")


def test_encrypted_entry_flag() -> None:
    data = set_encrypted_flag(build_epub(EpubSpec([Chap("One")])), "OEBPS/ch01.xhtml")
    _refused(data, "password-protected or encrypted", "DRM-free")


def test_adobe_rights_file_is_drm() -> None:
    data = build_epub(EpubSpec([Chap("One")], extra={"META-INF/rights.xml": b"<rights/>"}))
    _refused(data, "protected by DRM (Adobe DRM)", "DRM-free copy")


def test_encryption_of_content_is_drm() -> None:
    _refused(build_epub(EpubSpec([Chap("One")], extra={"META-INF/encryption.xml": AES})), "DRM")


def test_font_obfuscation_alone_is_fine() -> None:
    check_epub_archive(build_epub(EpubSpec([Chap("One")], extra={"META-INF/encryption.xml": FONT_ONLY})), "b.epub")


def test_unsupported_compression_method() -> None:
    _refused(zip_bytes(minimal_entries(), method=zipfile.ZIP_BZIP2), "compression method")


XXE_DOCTYPE = '<!DOCTYPE html [<!ENTITY secret SYSTEM "file://{path}">]>'


def _xxe_chapter(secret: Path, doctype: str = XXE_DOCTYPE) -> bytes:
    return xhtml("<h2>One</h2><p>Leak: &secret;</p>", doctype=doctype.format(path=secret))


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-VALUE")
    return path


def test_external_entity_in_a_chapter_is_refused(secret: Path, tmp_path: Path) -> None:
    spec = EpubSpec([Chap("One")], raw={"OEBPS/ch01.xhtml": _xxe_chapter(secret)})
    book = tmp_path / "xxe.epub"
    book.write_bytes(build_epub(spec))
    with pytest.raises(InvalidInput, match="external XML entity"):
        load_book(book)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE x [<!ENTITY % remote PUBLIC "-//x//y" "http://127.0.0.1:9/evil.dtd"> %remote;]>',
        '<!DOCTYPE x [\n  <!ENTITY\n   secret\n   SYSTEM\n "file://{path}">\n]>',
    ],
)
def test_external_entity_variants_in_the_package(secret: Path, doctype: str) -> None:
    package = read_entry(build_epub(EpubSpec([Chap("One")])), "OEBPS/content.opf")
    hostile = package.replace(b"?>\n", b"?>\n" + doctype.format(path=secret).encode(), 1)
    _refused(build_epub(EpubSpec([Chap("One")], raw={"OEBPS/content.opf": hostile})), "external XML entity")


def test_external_entity_hidden_in_utf16_or_utf7(secret: Path) -> None:
    doc = _xxe_chapter(secret).decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    _refused(build_epub(EpubSpec([Chap("One")], raw={"OEBPS/ch01.xhtml": doc.encode("utf-16")})), "external XML")
    utf7 = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!ENTITY x SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-'
    _refused(build_epub(EpubSpec([Chap("One")], raw={"OEBPS/ch01.xhtml": utf7})), "external XML entity")


def test_the_parser_itself_never_reads_external_entities(secret: Path) -> None:
    """Second layer, should the scan ever miss one: no DOCTYPE survives, and the parser resolves nothing."""
    doc = _xxe_chapter(secret)
    stripped = etree.tostring(etree.fromstring(strip_doctype(doc), safe_xml_parser(recover=True)))
    unstripped = etree.tostring(etree.fromstring(doc, safe_xml_parser(recover=True)))
    assert b"TOP-SECRET" not in stripped
    assert b"TOP-SECRET" not in unstripped
    with pytest.raises(InvalidInput):
        parse_xml(doc)


def test_billion_laughs_is_not_expanded() -> None:
    lol = '<!DOCTYPE html [<!ENTITY a "lol">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    doc = xhtml("<p>Laugh: &j;</p><p>Plain text stays.</p>", doctype=lol + "]>")
    reject_external_entities(doc, "x")  # internal entities are not an XXE...
    start = time.perf_counter()
    root = parse_xml(doc, recover=True)  # ...and are never expanded
    assert time.perf_counter() - start < 1.0
    assert b"lollol" not in etree.tostring(root)


def test_ebcdic_xml_is_refused() -> None:
    with pytest.raises(InvalidInput, match="EBCDIC"):
        reject_external_entities(b"\x4c\x6f\xa7\x94 rest", "x.xml")
