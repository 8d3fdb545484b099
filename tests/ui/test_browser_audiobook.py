"""Audiobook tab in a real browser: upload an EPUB, preview its plan, render one chapter, download the M4B."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.book.epub_factory import Chap, EpubSpec, write_epub
from tests.browser import error_badges, layout_problems, open_book_tab, screenshot

pytestmark = pytest.mark.browser


def _book(tmp_path: Path, title: str = "Harbour Tales") -> Path:
    spec = EpubSpec(
        chapters=[
            Chap("Copyright", ["Copyright 2024 by the author. All rights reserved."], epub_type="copyright-page"),
            Chap("The Harbour", ["The boats came home at dusk.", "Gulls followed them into the harbour."]),
        ],
        title=title,
        author="Ann Shore",
    )
    return write_epub(tmp_path / "harbour.epub", spec)


@pytest.mark.parametrize(("size", "viewport"), [("desktop", (1280, 1400)), ("phone", (390, 844))])
def test_upload_preview_render_download(app_url: str, browser, tmp_path: Path, size: str,
                                        viewport: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """A newcomer's first book, on a desktop and on a phone: upload, read the plan, render, download the M4B."""
    # a book of its own per screen size (the same file imported again would open its finished job)
    book = _book(tmp_path, f"Harbour Tales ({size})")
    page = open_book_tab(browser, app_url, book, "Harbour Tales", viewport)
    summary = page.locator("#book-summary").inner_text()
    assert "Ann Shore" in summary and "2 chapters, 1 ticked" in summary
    table = page.locator("#book-chapters").inner_text()
    assert "The Harbour" in table and "Copyright" in table
    page.click("#book-render")
    page.wait_for_function("document.querySelector('#book-status').innerText.includes('exported')", timeout=180_000)
    status = page.locator("#book-status").inner_text()
    assert "M4B" in status
    link = page.locator("#book-files a").first
    link.wait_for(timeout=10_000)
    with page.expect_download() as dl:
        link.click()
    saved = tmp_path / "book.m4b"
    dl.value.save_as(saved)
    from studio.audio.io import read_audio

    samples, rate = read_audio(saved)
    assert len(samples) / rate > 3.0
    for a in page.locator("#book-files a[href]").all():  # every finished file the page offers answers
        assert page.request.get(str(a.get_attribute("href"))).status == 200
    assert error_badges(page) == [] and layout_problems(page) == []
    screenshot(page, f"walk-{size}-audiobook")
    page.close()


def test_unticked_chapters_are_not_rendered_without_a_save_step(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A newcomer unticks a chapter and presses Render: the tick took effect when it was clicked ("saved" beside the
    table), and the render reads only the ticked chapter."""
    spec = EpubSpec(
        chapters=[
            Chap("The Bridge", ["The cart rolled over the old bridge."]),
            Chap("The Lane", ["Hedges lined the narrow lane."]),
        ],
        title="Two Walks",
        author="Ann Shore",
    )
    book = write_epub(tmp_path / "walks.epub", spec)
    page = open_book_tab(browser, app_url, book, "2 chapters, 2 ticked")
    boxes = page.locator("#book-chapters [role=gridcell] input[type=checkbox]")
    boxes.first.wait_for(timeout=10_000)
    assert boxes.count() == 2
    boxes.nth(0).click()  # untick "The Bridge"; no Save button exists to press
    page.wait_for_function("document.querySelector('#book-chapters-saved').innerText.includes('1 chapter(s) ticked')",
                           timeout=10_000)  # fmt: skip
    assert "2 chapters, 1 ticked" in page.locator("#book-summary").inner_text()
    page.screenshot(path=str(tmp_path / "unticked.png"), full_page=True)
    page.click("#book-render")
    page.wait_for_function("document.querySelector('#book-status').innerText.includes('exported')", timeout=180_000)
    # the chapter table, refreshed when the render ended: "Rendered" is 0/2 for the unticked chapter, 2/2 for the other
    page.wait_for_function("document.querySelector('#book-chapters [data-testid=cell-1-6]').innerText.includes('2/2')",
                           timeout=10_000)  # fmt: skip
    assert page.locator("#book-chapters [data-testid=cell-0-6]").inner_text().strip() == "0/2"
    page.close()
