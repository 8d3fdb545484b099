"""smalltts in a real browser, on the tiny graphs placed where a user places the weights: clone a real recording in
the Voice Clone tab, then speak with it in Synthesize with an event tag put in by its button and a length in
seconds; the smalltts-only controls are hidden for Piper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf

from studio.config import Settings
from studio.systems.smalltts.engine import user_model_dir
from tests.browser import error_badges, launch_app, layout_problems, need_chromium, screenshot
from tests.tiny_smalltts import make_smalltts_model_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_with_smalltts(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> Iterator[str]:
    need_chromium()
    home = tmp_path_factory.mktemp("smalltts-home")
    target = user_model_dir(Settings(home=home))
    target.parent.mkdir(parents=True)
    make_smalltts_model_dir(target)
    with launch_app(home) as url:
        yield url


def _pick(page, box: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"{box} input").first.click()
    page.get_by_role("option", name=option).first.click()


def test_clone_then_speak_with_an_event_and_a_length(app_with_smalltts: str, browser, shared_fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_with_smalltts)
    # Piper first: no length box, no event buttons
    assert not page.locator("#synth-length").is_visible()
    assert not page.locator("#synth-events").is_visible()

    page.get_by_role("tab", name="Voice Clone").click()
    _pick(page, "#vc-clone-engine", "smalltts")
    page.wait_for_function("document.querySelector('#vc-clone-method').innerText.includes('codec latents')",
                           timeout=20_000)  # fmt: skip
    assert not page.locator("#vc-clone-iterations").is_visible()
    page.locator("#vc-ref input[type=file]").set_input_files(str(shared_fixtures / "voices" / "town.flac"))
    page.wait_for_function("document.querySelector('#vc-ref-note').innerText.includes('Reference OK')",
                           timeout=60_000)  # fmt: skip
    page.wait_for_function("document.querySelector('#vc-transcript textarea').value.length > 5", timeout=30_000)
    page.locator("#vc-clone-name input, #vc-clone-name textarea").first.fill("Town small")
    page.locator("#vc-consent input").first.check()
    page.click("#vc-clone")
    page.wait_for_function("document.querySelector('#vc-clone-status').innerText.includes('Saved')",
                           timeout=120_000)  # fmt: skip
    status = page.locator("#vc-clone-status").inner_text()
    assert "Town small" in status and "codec latents" in status and "s a phone" in status
    screenshot(page, "smalltts-clone")
    assert error_badges(page) == []

    page.get_by_role("tab", name="Synthesize").click()
    _pick(page, "#synth-engine", "smalltts")
    page.locator("#synth-events").wait_for(state="visible", timeout=20_000)
    assert page.locator("#synth-length").is_visible()
    page.wait_for_function("document.querySelector('#synth-voice').innerText.includes('Town small') || "
                           "document.querySelector('#synth-voice input').value.includes('Town small')",
                           timeout=20_000)  # fmt: skip
    box = page.locator("#synth-text textarea").first
    box.fill("Well that was funny. Anyway, let us go.")
    box.evaluate("ta => ta.setSelectionRange(20, 20)")  # the cursor after "funny."
    page.locator("#synth-events button", has_text="[laughter]").first.click()
    assert box.input_value() == "Well that was funny. [laughter] Anyway, let us go."
    length = page.locator("#synth-length input").first
    length.fill("3")
    length.press("Tab")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on')", timeout=60_000)
    link = page.locator("#synth-file a").first
    href = link.get_attribute("href")
    assert href
    with page.expect_download() as dl:
        link.click()
    path = dl.value.path()
    info = sf.info(str(path))
    assert info.samplerate == 24_000 and info.frames == 3 * 24_000  # the length asked for, exactly
    screenshot(page, "smalltts-synthesize")
    assert error_badges(page) == []
    assert layout_problems(page) == []

    # the Audiobook tab's chunk text box has the same buttons for a smalltts book
    page.get_by_role("tab", name="Audiobook").click()
    page.locator("#book-flagged-box").click()
    assert not page.locator("#book-flag-events").is_visible()
    _pick(page, "#book-engine", "smalltts")
    page.locator("#book-flag-events").wait_for(state="visible", timeout=20_000)
    chunk = page.locator("#book-flag-text textarea").first
    chunk.fill("He stopped.")
    chunk.evaluate("ta => ta.setSelectionRange(11, 11)")
    page.locator("#book-flag-events button", has_text="[sigh]").first.click()
    assert chunk.input_value() == "He stopped. [sigh]"
    screenshot(page, "smalltts-audiobook-events")
    page.close()
