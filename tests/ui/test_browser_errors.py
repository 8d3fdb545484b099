"""Errors where they happen, in a real browser: an action that fails says why in the note beside it, and every
other output keeps what it showed (the last good take, the voice library). No red "Error" badge covers a control.
An API client still gets the error itself (tests/ui/test_public_api.py)."""

from __future__ import annotations

import pytest

from tests.browser import error_badges, screenshot, table_cells

pytestmark = pytest.mark.browser


def test_a_failed_take_keeps_the_last_good_one(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.fill("#synth-text textarea", "A first good take.")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on')", timeout=60_000)
    page.wait_for_selector("#synth-file a", timeout=30_000)
    take = page.locator("#synth-file a").first.get_attribute("href")

    page.fill("#synth-text textarea", "")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('The text is empty')",
                           timeout=20_000)  # fmt: skip
    screenshot(page, "errors-synthesize-empty-text")
    assert error_badges(page) == []
    assert page.locator("#synth-file a").first.get_attribute("href") == take  # the take is still there
    assert page.locator("#synth-audio audio, #synth-audio [data-testid=waveform-controls]").count() > 0
    assert page.locator("#synth-engine input").first.is_enabled()

    # the next good take replaces the message
    page.fill("#synth-text textarea", "A second good take.")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on')", timeout=60_000)
    assert "⚠️" not in page.locator("#synth-status").inner_text()
    page.close()


def test_a_failed_import_keeps_the_open_book(app_url: str, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A file that is no book is refused beside the Import button; the book already open stays on screen."""
    good = tmp_path / "two-rooms.txt"
    good.write_text("Two Rooms\n\nChapter One\n\nThe hall was long and quiet.\n\nChapter Two\n\nThe garden smelled of "
                    "rain.\n", encoding="utf-8")  # fmt: skip
    bad = tmp_path / "empty.txt"
    bad.write_text("   \n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(app_url)
    page.get_by_role("tab", name="Audiobook").click()
    page.set_input_files("#book-upload input[type=file]", str(good))
    page.click("#book-plan")
    page.wait_for_function("document.querySelector('#book-chapters').innerText.includes('Chapter Two')",
                           timeout=60_000)  # fmt: skip
    summary = page.locator("#book-summary").inner_text()
    chapters = table_cells(page, "#book-chapters")
    assert any("Chapter Two" in cell for row in chapters for cell in row)

    page.locator("#book-upload button[aria-label='Clear']").first.click()  # a user clears the box, drops another
    page.set_input_files("#book-upload input[type=file]", str(bad))
    page.click("#book-plan")
    page.wait_for_function("document.querySelector('#book-note').innerText.includes('⚠️')", timeout=30_000)
    screenshot(page, "errors-audiobook-empty-file")
    assert error_badges(page) == []
    assert page.locator("#book-summary").inner_text() == summary
    assert table_cells(page, "#book-chapters") == chapters
    page.close()
