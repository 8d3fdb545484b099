"""Voice Clone tab in a real browser: clone a real recording and mix two Supertonic voices, then find the new voices
in Synthesize and speak with them (Supertonic on the voiced tiny graphs with the real config, indexer and styles,
placed by hand like a user would)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.config import Settings
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from tests.browser import error_badges, launch_app, need_chromium, screenshot
from tests.tiny_onnx import make_supertonic_model_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_with_supertonic(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> Iterator[str]:
    need_chromium()
    home = tmp_path_factory.mktemp("voice-clone-home")
    built = make_supertonic_model_dir(tmp_path_factory.mktemp("built"), shared_fixtures / "supertonic2", voiced=True)
    target = user_model_dir(Settings(home=home), SUPERTONIC2)
    target.parent.mkdir(parents=True)
    built.rename(target)
    with launch_app(home) as url:
        yield url


def test_mix_then_speak_with_it_in_synthesize(app_with_supertonic: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(app_with_supertonic)
    page.get_by_role("tab", name="Voice Clone").click()
    page.click("#vc-mix-save")
    page.get_by_text("Give the voice a name").first.wait_for(timeout=20_000)  # bad input first: no name
    page.locator("#vc-mix-name input, #vc-mix-name textarea").first.fill("Browser blend")
    page.click("#vc-mix-save")
    page.wait_for_function("document.querySelector('#vc-mix-note').innerText.includes('Saved')", timeout=30_000)
    assert "F1 50%, F2 50%" in page.locator("#vc-mix-note").inner_text()
    page.wait_for_function("document.querySelector('#vc-library').innerText.includes('Browser blend')", timeout=20_000)
    page.click("#vc-preview")
    page.wait_for_selector("#vc-audio [data-testid='download-link']", timeout=30_000)  # the preview arrived
    page.screenshot(path=str(tmp_path / "voice-clone.png"), full_page=True)

    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Supertonic 2", exact=True).click()
    page.locator("#synth-voice input").first.click()
    page.get_by_role("option", name="Browser blend").click()
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on')", timeout=60_000)
    status = page.locator("#synth-status").inner_text()
    assert "ran on CPU" in status


def test_clone_a_recording_then_speak_with_it(app_with_supertonic: str, browser, shared_fixtures: Path,  # type: ignore[no-untyped-def]
                                              tmp_path: Path) -> None:  # fmt: skip
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_with_supertonic)
    page.get_by_role("tab", name="Voice Clone").click()
    page.locator("#vc-ref input[type=file]").set_input_files(str(shared_fixtures / "voices" / "basic_ref_en.wav"))
    page.wait_for_function("document.querySelector('#vc-ref-note').innerText.includes('Reference OK')",
                           timeout=60_000)  # fmt: skip
    transcript = page.locator("#vc-transcript textarea").first
    page.wait_for_function("document.querySelector('#vc-transcript textarea').value.length > 5", timeout=30_000)
    assert "nature" in transcript.input_value().lower()  # the bundled Whisper heard it
    number = page.locator("#vc-clone-iterations input[type=number]").first
    number.fill("5")
    number.press("Enter")
    page.locator("#vc-clone-name input, #vc-clone-name textarea").first.fill("Browser clone")
    page.click("#vc-clone")
    page.get_by_text("permission").first.wait_for(timeout=20_000)  # no consent: refused, nothing saved
    page.locator("#vc-consent input").first.check()
    page.click("#vc-clone")
    page.wait_for_function("document.querySelector('#vc-clone-status').innerText.includes('Saved')",
                           timeout=120_000)  # fmt: skip
    status = page.locator("#vc-clone-status").inner_text()
    assert "Browser clone" in status and "similarity" in status and "5 iterations" in status
    page.wait_for_selector("#vc-clone-audio [data-testid='download-link']", timeout=30_000)
    page.wait_for_function("document.querySelector('#vc-library').innerText.includes('Browser clone')",
                           timeout=20_000)  # fmt: skip
    assert page.locator("#vc-curve canvas, #vc-curve svg").count() > 0  # the similarity curve is drawn
    page.screenshot(path=str(tmp_path / "voice-clone-done.png"), full_page=True)

    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Supertonic 2", exact=True).click()
    page.locator("#synth-voice input").first.click()
    page.get_by_role("option", name="Browser clone").click()
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on')", timeout=60_000)
    assert "ran on CPU" in page.locator("#synth-status").inner_text()


@pytest.fixture(scope="module")
def app_with_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    if __import__("importlib").util.find_spec("qwen_tts") is None:
        pytest.skip("qwen-tts is not installed")
    from studio.systems.qwen3_tts.model import user_model_dir as qwen_dir
    from tests.qwen_tiny import build_tiny_qwen3_tts

    home = tmp_path_factory.mktemp("qwen3-home")
    target = qwen_dir(Settings(home=home))
    target.parent.mkdir(parents=True)
    build_tiny_qwen3_tts(target)  # the tiny real checkpoint, placed where a downloaded one goes
    with launch_app(home) as url:
        yield url


def test_qwen3_clone_then_speak_with_it(app_with_qwen3: str, browser, shared_fixtures: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(app_with_qwen3)
    page.get_by_role("tab", name="Voice Clone").click()
    # the only ready model is Qwen3-TTS: its own methods are offered from the start, no iterations
    assert page.locator("#vc-clone-method").get_by_text("x-vector").count() == 1
    assert not page.locator("#vc-clone-iterations").is_visible()
    page.locator("#vc-ref input[type=file]").set_input_files(str(shared_fixtures / "voices" / "basic_ref_en.wav"))
    page.wait_for_function("document.querySelector('#vc-ref-note').innerText.includes('Reference OK')",
                           timeout=60_000)  # fmt: skip
    page.locator("#vc-clone-name input, #vc-clone-name textarea").first.fill("Qwen clone")
    page.locator("#vc-consent input").first.check()
    page.click("#vc-clone")
    page.wait_for_function("document.querySelector('#vc-clone-status').innerText.includes('Saved')",
                           timeout=120_000)  # fmt: skip
    assert "clone prompt (ICL, with the transcript)" in page.locator("#vc-clone-status").inner_text()
    page.wait_for_function("document.querySelector('#vc-library').innerText.includes('clone (icl)')",
                           timeout=20_000)  # fmt: skip

    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    page.locator("#synth-voice input").first.click()  # an engine without steps: its controls update cleanly
    page.get_by_role("option", name="Qwen clone").click()
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on CPU')",
                           timeout=60_000)  # fmt: skip
    page.screenshot(path=str(tmp_path / "qwen3-synth.png"), full_page=True)


def test_a_failed_library_action_keeps_the_library(app_with_supertonic: str, browser) -> None:  # type: ignore[no-untyped-def]
    """Deleting without ticking "Yes, delete it" says so beside the buttons; the library stays on screen as it was
    (it was wiped, with red "Error" badges over the table, the picker and the note)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(app_with_supertonic)
    page.get_by_role("tab", name="Voice Clone").click()
    page.locator("#vc-mix-name input, #vc-mix-name textarea").first.fill("Kept voice")
    page.click("#vc-mix-save")
    page.wait_for_function("document.querySelector('#vc-library').innerText.includes('Kept voice')", timeout=30_000)
    library = page.locator("#vc-library")
    before = library.inner_text()
    page.locator("#vc-pick input").first.click()
    page.get_by_role("option", name="Kept voice").first.click()
    page.click("#vc-delete")  # without ticking "Yes, delete it"
    page.wait_for_function("document.querySelector('#vc-note').innerText.includes('⚠️')", timeout=20_000)
    screenshot(page, "errors-voice-clone-delete-unconfirmed")
    assert "delete" in page.locator("#vc-note").inner_text().lower()
    assert error_badges(page) == []
    assert library.inner_text() == before
    assert page.locator("#vc-pick input").first.input_value().startswith("Kept voice")
    page.close()


def test_actions_that_cannot_run_are_greyed_out(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A fresh home: the library is empty and Supertonic is not installed. The library's actions and Save mix are
    greyed out, and the page says why in words (the empty library, the model that is missing)."""
    need_chromium()
    with launch_app(tmp_path) as url:
        _greyed_out(browser, url)


def _greyed_out(browser, url: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(url)
    page.get_by_role("tab", name="Voice Clone").click()
    page.wait_for_selector("#vc-mix-save")
    page.wait_for_timeout(800)  # the page's load events have filled the library and the mix pickers
    for button in ("#vc-preview", "#vc-rename", "#vc-delete", "#vc-export", "#vc-mix-save"):
        assert page.locator(button).is_disabled(), button
    assert "No voices yet" in page.evaluate(
        "getComputedStyle(document.querySelector('#vc-library .table-container'), '::after').content"
    )
    assert "is not available" in page.locator("#vc-mix-note").inner_text()
    assert error_badges(page) == []
    page.close()
