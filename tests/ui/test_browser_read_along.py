"""Read-along books and subtitles in a real browser: the Audiobook tab exports an EPUB 3 and subtitles beside the M4B,
and a Synthesize take comes with its SRT and WebVTT; every file the page offers downloads."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.book.epub_factory import PNG_1PX, Chap, EpubSpec, write_epub
from tests.browser import error_badges, layout_problems, open_book_tab, screenshot

pytestmark = pytest.mark.browser


def test_a_book_exports_a_read_along_epub_and_subtitles(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # the book's picture between its two paragraphs
    html = (
        '<h1>The Harbour</h1><p>The boats came home at dusk.</p><img src="images/boats.png" alt="Boats"/>'
        "<p>Gulls followed them into the harbour.</p>"
    )
    spec = EpubSpec(chapters=[Chap("The Harbour", html=html)], title="Harbour Read-Along", author="Ann Shore",
                    extra={"OEBPS/images/boats.png": PNG_1PX})  # fmt: skip
    book = write_epub(tmp_path / "harbour.epub", spec)
    page = open_book_tab(browser, app_url, book, "Harbour Read-Along")
    assert "1 picture (shown in the read-along EPUB 3)" in page.locator("#book-summary").inner_text()
    formats = page.locator("#book-formats")
    assert "read-along" in formats.inner_text()
    for name in ("epub3", "srt"):
        formats.get_by_label(name, exact=True).check()
    page.click("#book-render")
    page.wait_for_function("document.querySelector('#book-status').innerText.includes('exported')", timeout=180_000)
    links = [str(a.get_attribute("href")) for a in page.locator("#book-files a[href]").all()]
    # the book's SRT and its one chapter's
    assert sorted(Path(h).suffix for h in links) == [".epub", ".m4b", ".srt", ".srt"], links
    epub = next(h for h in links if h.endswith(".epub"))
    response = page.request.get(epub)
    assert response.status == 200
    saved = tmp_path / "book.epub"
    saved.write_bytes(response.body())
    with zipfile.ZipFile(saved) as z:
        assert "OEBPS/smil/ch001.smil" in z.namelist() and "OEBPS/audio/ch001.mp3" in z.namelist()
        assert z.read("OEBPS/images/img001.png") == PNG_1PX and b'alt="Boats"' in z.read("OEBPS/text/ch001.xhtml")
    for href in links:
        assert page.request.get(href).status == 200
    assert error_badges(page) == [] and layout_problems(page) == []
    screenshot(page, "read-along-audiobook")
    page.close()


def test_a_take_offers_its_subtitles(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#synth-generate")
    page.fill("#synth-text textarea", "The boats came home at dusk. Gulls followed them in.")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelectorAll('#synth-subtitles a[href]').length == 2", timeout=120_000)
    hrefs = [str(a.get_attribute("href")) for a in page.locator("#synth-subtitles a[href]").all()]
    texts = [page.request.get(h) for h in hrefs]
    assert all(r.status == 200 for r in texts)
    body = next(r.text() for r in texts if r.text().startswith("WEBVTT"))
    assert "The boats came home at dusk." in body and "Gulls followed them in." in body
    assert error_badges(page) == [] and layout_problems(page) == []
    screenshot(page, "read-along-synthesize")
    # word by word: a cue for each word, timed by speech recognition hearing the take
    page.get_by_label("Subtitles word by word").check()
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('Generating')", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#synth-subtitles a[href]').length == 2", timeout=120_000)
    hrefs = [str(a.get_attribute("href")) for a in page.locator("#synth-subtitles a[href]").all()]
    body = next(t for t in (page.request.get(h).text() for h in hrefs) if t.startswith("WEBVTT"))
    assert [line for line in body.splitlines() if line and "-->" not in line] == [
        "WEBVTT", "The", "boats", "came", "home", "at", "dusk.", "Gulls", "followed", "them", "in."]  # fmt: skip
    assert error_badges(page) == []
    screenshot(page, "read-along-synthesize-words")
    page.close()
