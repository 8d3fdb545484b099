"""Benchmark tab in a real browser: run a short benchmark, read the tables, download the JSON, compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser import screenshot

pytestmark = pytest.mark.browser


def test_run_read_tables_download_and_compare(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(app_url)
    page.get_by_role("tab", name="Benchmark").click()
    page.wait_for_selector("#bench-run")
    # bad input first: a step count that is not a number is refused with a message, nothing runs
    page.locator("#bench-engines label", has_text=re.compile(r"^\s*Supertonic 2(?! \(PyTorch)")).click()
    steps = page.locator("#bench-steps textarea, #bench-steps input").first
    steps.fill("2, lots")
    page.click("#bench-run")
    page.get_by_text("'lots' is not a whole number").first.wait_for(timeout=20_000)
    steps.fill("2")
    # short text only, one repeat, no warm-up: a quick real run on the bundled voice
    page.locator("#bench-texts label", has_text="Mid").click()
    page.locator("#bench-texts label", has_text="Long").click()
    for slider, value in (("#bench-repeats", "2"), ("#bench-warmup", "0")):
        box = page.locator(f"{slider} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.click("#bench-run")
    page.wait_for_function("document.querySelector('#bench-status').innerText.includes('measured')", timeout=120_000)
    status = page.locator("#bench-status").inner_text()
    assert "1 case(s) measured" in status and "Supertonic 2 on CPU: skipped" in status
    cps = page.locator("#bench-cps").inner_text()
    assert "Piper · CPU" in cps and "Short (59)" in cps and "Mid" not in cps
    assert "Piper · CPU" in page.locator("#bench-rtf").inner_text()
    # one text length: the RTF plot draws its one point as a point (a line plot would be empty); no steps plot
    page.locator("#bench-length-dots").wait_for(state="visible", timeout=10_000)
    assert page.locator("#bench-length-plot").is_hidden() and page.locator("#bench-steps-dots").is_hidden()
    page.locator("#bench-length-dots canvas, #bench-length-dots svg").first.wait_for(timeout=10_000)
    screenshot(page, "benchmark-finished")
    assert (
        "bench-" in page.locator("#bench-files").inner_text() and ".json" in page.locator("#bench-files").inner_text()
    )
    link = page.locator("#bench-files a").first  # the JSON file comes first
    link.wait_for(timeout=10_000)
    with page.expect_download() as dl:
        link.click()
    saved = tmp_path / "earlier.json"
    dl.value.save_as(saved)
    data = json.loads(saved.read_text())
    assert data["format"] == "studio-bench" and len(data["cases"]) == 1 and len(data["cases"][0]["seconds"]) == 2
    # compare the downloaded file with this session's run: the same case, side by side
    page.get_by_text("Compare with an earlier result").click()
    page.locator("#bench-earlier input[type=file]").set_input_files(str(saved))
    page.wait_for_timeout(500)
    page.click("#bench-compare")
    page.wait_for_function("document.querySelector('#bench-compared').innerText.includes('%')", timeout=30_000)
    compared = page.locator("#bench-compared").inner_text()
    assert "Piper · CPU" in compared and "+0.0%" in compared
    page.screenshot(path=str(tmp_path / "benchmark-compare.png"), full_page=True)
    page.close()


def test_cancel_keeps_finished_cases(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(app_url)
    page.get_by_role("tab", name="Benchmark").click()
    page.wait_for_selector("#bench-run")
    box = page.locator("#bench-repeats input[type=number]")
    box.fill("20")
    box.press("Enter")
    page.click("#bench-run")
    # progress with an ETA while it runs; the first finished case shows up in the table before the end
    page.wait_for_function("document.querySelector('#bench-status').innerText.includes('left')", timeout=60_000)
    page.wait_for_function("document.querySelector('#bench-cps').innerText.includes('Short (59)')", timeout=120_000)
    assert "Running" in page.locator("#bench-status").inner_text()  # the table filled in while the run goes on
    page.screenshot(path=str(tmp_path / "benchmark-running.png"), full_page=True)
    page.click("#bench-cancel")
    page.wait_for_function("document.querySelector('#bench-status').innerText.includes('Cancelled')", timeout=60_000)
    status = page.locator("#bench-status").inner_text()
    assert "kept" in status
    assert "Piper · CPU" in page.locator("#bench-cps").inner_text()  # the finished case stays on screen
    assert ".json" in page.locator("#bench-files").inner_text()
    page.close()
