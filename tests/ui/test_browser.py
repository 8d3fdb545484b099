"""The app in a real browser: Debian's chromium driven by Playwright types text, clicks Generate, receives audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import (
    ARGS,
    CHROMIUM,
    REPO,
    _free_port,
    error_badges,
    launch_app,
    layout_problems,
    need_chromium,
    screenshot,
    serve,
)

__all__ = ["ARGS", "CHROMIUM", "REPO", "_free_port", "launch_app", "need_chromium", "serve"]

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("size", "viewport"), [("desktop", (1280, 1000)), ("phone", (390, 844))])
def test_type_generate_and_receive_audio(app_url: str, browser, tmp_path: Path, size: str,
                                         viewport: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """A newcomer's first take, on a desktop and on a phone: type, Generate, read the line, download the file."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(app_url)
    page.wait_for_selector("#synth-generate")
    box = page.locator("#synth-text textarea")
    box.fill("Hello from a real browser.")
    box.press_sequentially(" Studio speaks this text.", delay=10)  # typed like a person: the counter follows
    page.wait_for_function("document.querySelector('#synth-count').innerText.includes('51 characters')")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('chars/s')", timeout=90_000)
    status = page.locator("#synth-status").inner_text()
    assert "ran on CPU" in status and "RTF" in status
    link = page.locator("#synth-file a").first
    href = link.get_attribute("href")
    assert href and href.endswith(".wav")
    with page.expect_download() as dl:
        link.click()
    saved = tmp_path / "take.wav"
    dl.value.save_as(saved)
    from studio.audio.io import read_audio

    samples, rate = read_audio(saved)
    assert rate == 22050 and len(samples) / rate > 2.0
    # every download the page offers answers: the streamed player has no download icon of its own (Gradio joins a
    # stream with ffprobe, not shipped: it answered 500), and each link on the tab fetches
    assert page.locator("#synth-audio [aria-label*='ownload'], #synth-audio [title*='ownload']").count() == 0
    for a in page.locator("#synth-audio a[href], #synth-file a[href]").all():
        assert page.request.get(str(a.get_attribute("href"))).status == 200
    assert error_badges(page) == [] and layout_problems(page) == []
    screenshot(page, f"walk-{size}-synthesize")
    page.close()


def test_empty_text_shows_an_error_not_a_traceback(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(app_url)
    page.wait_for_selector("#synth-generate")
    page.locator("#synth-text textarea").fill("   ")
    page.click("#synth-generate")
    toast = page.get_by_text("The text is empty", exact=False).first
    toast.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    page.close()
