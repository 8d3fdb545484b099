"""Long text in a real browser: locally any length keeps Generate on; over a set limit (a hosted Space's, or
STUDIO_MAX_CHARS) Generate is off and the count says why and what to do; "Make an audiobook from this text" turns
the text into an Audiobook job with the chosen voice and opens it; a text with nothing to read is refused beside
the button."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import error_badges, launch_app, need_chromium, screenshot

pytestmark = pytest.mark.browser

PARAGRAPH = ("The river ran quietly past the old mill, and the miller's daughter counted the boats as they went by. "
             "Some carried apples from the hills, and one carried nothing but a sleeping dog.")  # fmt: skip
LONG = "The Mill by the River\n\n" + "\n\n".join([PARAGRAPH] * 40)  # about 7,000 characters


def _count(page) -> str:  # type: ignore[no-untyped-def]
    return str(page.locator("#synth-count").inner_text())


def _make_book(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#synth-to-book")
    try:
        page.wait_for_function("(document.querySelector('#book-summary')?.innerText || '')"
                               ".includes('The Mill by the River')", timeout=60_000)  # fmt: skip
    finally:
        screenshot(page, "long-text-after-make-book")


def test_long_text_generates_locally_and_becomes_a_book(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#synth-to-book")
    page.fill("#synth-text textarea", LONG)
    page.wait_for_function(f"document.querySelector('#synth-count').innerText.includes('{len(LONG):,} characters')")
    assert "limit" not in _count(page)  # no limit locally
    assert page.locator("#synth-generate").is_enabled()
    screenshot(page, "long-text-local")

    _make_book(page)  # the page switches to the Audiobook tab with the book open
    assert page.get_by_role("tab", name="Audiobook").get_attribute("aria-selected") == "true"
    assert page.locator("#book-chapters").is_visible()
    assert "Render / resume" in page.locator("#book-note").inner_text()
    assert page.locator("#book-voice input").first.input_value().startswith("joe")
    screenshot(page, "long-text-book-opened")
    assert error_badges(page) == []

    # nothing to read: refused beside the button; the book stays open
    summary = page.locator("#book-summary").inner_text().split()
    page.get_by_role("tab", name="Synthesize").click()
    page.fill("#synth-text textarea", "🙂 🎉 …")
    page.click("#synth-to-book")
    page.wait_for_function("document.querySelector('#synth-book-note').innerText.includes('nothing to speak')",
                           timeout=20_000)  # fmt: skip
    screenshot(page, "long-text-nothing-to-read")
    assert error_badges(page) == []
    assert page.locator("#book-summary").inner_text().split() == summary
    page.close()


HOSTED = {"SPACE_ID": "studio-tests/studio", "SYSTEM": "spaces"}  # a hosted Space, a guest visiting it


def test_hosted_over_the_limit_generate_is_off_and_the_book_is_one_click(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    need_chromium()
    with launch_app(tmp_path, HOSTED) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#synth-to-book")
        page.wait_for_function("!document.querySelector('#synth-generate').disabled")
        assert "/ 5,000 characters" in _count(page)  # a hosted Space keeps its limit for one take
        page.fill("#synth-text textarea", LONG)
        page.wait_for_function("document.querySelector('#synth-count').innerText.includes('Generate is off')")
        count = _count(page)
        assert f"{len(LONG):,} / 5,000 characters" in count and "Make an audiobook from this text" in count
        page.wait_for_function("document.querySelector('#synth-generate').disabled")
        screenshot(page, "long-text-over-the-limit")
        page.fill("#synth-text textarea", PARAGRAPH)  # short again: Generate is back
        page.wait_for_function("!document.querySelector('#synth-generate').disabled")
        page.fill("#synth-text textarea", LONG)
        page.wait_for_function("document.querySelector('#synth-generate').disabled")
        _make_book(page)
        assert page.get_by_role("tab", name="Audiobook").get_attribute("aria-selected") == "true"
        assert error_badges(page) == []
        page.close()
    # the job is the guest's own, in this browser session's area
    jobs = [p for p in (tmp_path / "sessions").glob("*/jobs/*") if (p / "plan.json").is_file()]
    assert len(jobs) == 1 and "the-mill-by-the-river" in jobs[0].name
