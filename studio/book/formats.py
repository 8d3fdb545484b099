"""The book formats Studio imports: file suffixes for upload fields and help texts, and how content names a format."""

from __future__ import annotations

EPUB_SUFFIXES = (".epub",)
PDF_SUFFIXES = (".pdf",)
DOCX_SUFFIXES = (".docx",)
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
KINDLE_SUFFIXES = (".mobi", ".azw", ".azw3")
TEXT_SUFFIXES = (".txt", ".text")
BOOK_SUFFIXES = (*EPUB_SUFFIXES, *PDF_SUFFIXES, *DOCX_SUFFIXES, *MARKDOWN_SUFFIXES, *HTML_SUFFIXES, *KINDLE_SUFFIXES,
                 *TEXT_SUFFIXES)  # fmt: skip
SHORT_LIST = ".epub, .pdf, .docx, .md, .html, .mobi/.azw3 or .txt"
FORMATS_NOTE = (
    "Studio imports EPUB (.epub), PDF with a text layer (.pdf), Word (.docx), Markdown (.md), HTML (.html), "
    "plain text (.txt) and, with Calibre installed, Kindle books without DRM (.mobi, .azw, .azw3)."
)
HTML_STARTS = (b"<!doctype html", b"<html")


def looks_like_html(data: bytes) -> bool:
    """An HTML document by its first bytes (after a BOM, blank space or an XML declaration)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2 :].lstrip()
    return head.startswith(HTML_STARTS)


def is_kindle(data: bytes) -> bool:
    """A MOBI/AZW book: a Palm database whose type is BOOKMOBI (or the older TEXtREAd)."""
    return data[60:68] in (b"BOOKMOBI", b"TEXtREAd")
