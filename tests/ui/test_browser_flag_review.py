"""Flag review in a real browser: a book whose two chunks the recognizer hears wrong; a click selects and plays a
flagged chunk, Written and Heard are on screen side by side at desktop width, the text is edited in place, a new
take is made, Accept keeps one and the next comes up, until no flagged chunk is left."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.book.test_flag_review import NONSENSE, PLAIN, write_book
from tests.browser import error_badges, screenshot

pytestmark = pytest.mark.browser


def _note_has(page, text: str, selector: str = "#book-review-note", timeout: int = 120_000) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
        arg=[selector, text],
        timeout=timeout,
    )


def test_review_flagged_chunks_one_after_another(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.get_by_role("tab", name="Audiobook").click()
    page.locator("#book-upload input[type=file]").set_input_files(str(write_book(tmp_path)))
    page.wait_for_timeout(500)
    page.click("#book-plan")
    page.wait_for_function("document.querySelector('#book-summary').innerText.includes('1 chapter')",
                           timeout=60_000)  # fmt: skip
    page.click("#book-render")
    page.wait_for_function("document.querySelector('#book-status').innerText.includes('exported')", timeout=240_000)
    page.locator("#book-flagged-box").get_by_text("Flagged chunks").first.click()  # open the accordion
    first_cell = page.locator("#book-flagged [data-testid=cell-0-0]")
    first_cell.wait_for(timeout=10_000)
    assert page.locator("#book-flagged [data-testid=cell-1-0]").inner_text().strip() == "001-00002"

    # Heard and WER are on screen at desktop width: no sideways scrolling
    table = page.locator("#book-flagged")
    for header in ("WER", "Heard"):
        box = table.get_by_role("columnheader", name=header).first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1400, (header, box)

    page.locator("#book-flagged [data-testid=cell-0-2]").click()  # a click anywhere on the row selects it
    page.wait_for_function("document.querySelector('#book-review').innerText.includes('Chunk 001-00001')",
                           timeout=30_000)  # fmt: skip
    assert page.locator("#book-chunk-id input, #book-chunk-id textarea").first.input_value() == "001-00001"
    review = page.locator("#book-review")
    assert "Written" in review.inner_text() and "Heard" in review.inner_text()
    assert review.locator("mark.studio-diff").count() > 0
    written = review.locator(".studio-written").bounding_box()
    heard = review.locator(".studio-heard").bounding_box()
    assert written and heard and abs(written["y"] - heard["y"]) < 2 and heard["x"] + heard["width"] <= 1400
    # the take is in the player (which plays it: autoplay), and its file answers
    link = page.locator("#book-chunk-audio a[data-testid=download-link]")
    link.wait_for(timeout=20_000)
    assert page.locator("#book-chunk-audio audio[autoplay]").count() >= 1
    href = str(link.get_attribute("href"))
    assert href.endswith(".wav") and page.request.get(href).status == 200
    review.scroll_into_view_if_needed()
    shot = screenshot(page, "audiobook-flag-review")
    assert shot.is_file()

    # the text, edited in place: saved when the box is left; the chapter's chunk table, open above, shows it too (a
    # stale row there would put the old text back with the next edit made in that table)
    page.get_by_text("Chunks of a chapter").first.click()
    page.wait_for_function("document.querySelector('#book-chunks').innerText.includes('001-00001')", timeout=20_000)
    box = page.locator("#book-flag-text textarea")
    box.fill(PLAIN)
    page.locator("#book-review").click()
    _note_has(page, "saved", "#book-flag-text-saved", 20_000)
    _note_has(page, "no take for this text yet", "#book-review", 20_000)
    _note_has(page, PLAIN, "#book-chunks", 20_000)

    # Accept with no take for the new text: said beside the action, nothing else touched
    page.click("#book-accept")
    _note_has(page, "no take yet", timeout=20_000)

    page.click("#book-regenerate")
    _note_has(page, "Regenerated 001-00001: a new take (seed")
    if "still flagged" in page.locator("#book-review-note").inner_text():
        page.click("#book-accept")  # that take was heard wrong too: keep it as it is
        _note_has(page, "Accepted 001-00001")
    _note_has(page, "Next: 001-00002", timeout=20_000)
    page.wait_for_function("document.querySelector('#book-review').innerText.includes('Chunk 001-00002')",
                           timeout=20_000)  # fmt: skip
    assert page.locator("#book-flag-text textarea").input_value() == NONSENSE

    page.click("#book-accept")
    _note_has(page, "No flagged chunks left", timeout=20_000)
    page.wait_for_function("!document.querySelector('#book-flagged [data-testid=cell-0-0]')", timeout=20_000)
    assert error_badges(page) == []
    screenshot(page, "audiobook-flag-review-done")
    page.close()
