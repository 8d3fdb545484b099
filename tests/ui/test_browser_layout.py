"""Every tab fits, on a desktop and on a phone (390x844): every tab is reachable from the tab bar, no label or button
is cut off, no table header is broken inside a word, the page never scrolls sideways; tables whose rows are fixed
offer no add-row, and an empty table says so in words. Screenshots are kept under test-artifacts/screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import error_badges, layout_problems, screenshot

pytestmark = pytest.mark.browser

TABS = ["Synthesize", "Audiobook", "Voice Clone", "Fine-tune", "Benchmark"]
ALICE = "books/alice-in-wonderland.epub"


@pytest.mark.parametrize(("size", "viewport"), [("desktop", (1400, 1000)), ("phone", (390, 844))])
def test_every_tab_fits(app_url: str, browser, shared_fixtures: Path, size: str, viewport: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(app_url)
    page.wait_for_selector("#synth-generate")
    # every tab is in the tab bar itself, not behind a "More tabs" menu
    bar = [t.inner_text().strip() for t in page.get_by_role("tab").all() if t.is_visible()]
    assert bar == TABS
    problems = {}
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(600)
        if tab == "Audiobook":  # the tab as a user sees it with a book open: the chapter table filled in
            page.locator("#book-upload input[type=file]").set_input_files(str(shared_fixtures / ALICE))
            page.click("#book-plan")
            page.wait_for_function("document.querySelector('#book-chapters').innerText.includes('Rabbit')",
                                   timeout=60_000)  # fmt: skip
            # the chapter rows are the book's: a clicked cell offers no menu to add rows or columns, and only Include
            # and Title take typing (the counted columns are locked)
            page.locator("#book-chapters [data-testid='cell-3-3']").click()
            assert page.locator("#book-chapters button[aria-label='Open cell menu']:visible").count() == 0
            assert page.locator("#book-chapters th [aria-label='Static column']").count() == 7
            page.keyboard.press("Escape")
            page.get_by_text("Chunks of a chapter").first.click()
            page.get_by_text("Flagged chunks").first.click()
            page.wait_for_timeout(600)
        screenshot(page, f"layout-{size}-{tab.lower().replace(' ', '-')}")
        found = layout_problems(page)
        if found:
            problems[tab] = found
    assert problems == {}
    assert error_badges(page) == []
    page.close()
