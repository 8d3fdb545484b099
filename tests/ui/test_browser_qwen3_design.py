"""Voice Clone → Design a voice in a real browser: describe a voice, preview it, keep it (the tiny VoiceDesign and
Base checkpoints placed by hand), then find it in Synthesize under Qwen3-TTS and speak with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio.config import Settings
from tests.browser import error_badges, launch_app, layout_problems, need_chromium, screenshot

pytestmark = pytest.mark.browser

if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def app_with_design(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    from studio.systems.qwen3_tts.model import DESIGN_ENGINE, user_model_dir
    from tests.qwen_tiny import build_tiny_qwen3_tts

    home = tmp_path_factory.mktemp("design-home")
    settings = Settings(home=home)
    build_tiny_qwen3_tts(user_model_dir(settings))
    # an audible decoder: the designed sample is checked as a recording before it becomes a clone prompt
    design = user_model_dir(settings, DESIGN_ENGINE)
    build_tiny_qwen3_tts(design, model_type="voice_design", size="1b7", decoder_gain=5e6)
    with launch_app(home) as url:
        yield url


def test_design_preview_keep_then_speak(app_with_design: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_with_design)
    page.get_by_role("tab", name="Voice Clone").click()
    section = page.locator("#vc-design-preview")
    section.scroll_into_view_if_needed()
    page.click("#vc-design-preview")  # no description yet: the note says what to write
    page.wait_for_function("document.querySelector('#vc-design-note').innerText.includes('Describe the voice')",
                           timeout=30_000)  # fmt: skip
    page.locator("#vc-design-description textarea").fill("A warm, low female voice, calm and unhurried.")
    page.locator("#vc-design-seed input").fill("1")  # the tiny random talker speaks 1.84 s with seed 1
    page.click("#vc-design-preview")
    page.wait_for_function("document.querySelector('#vc-design-note').innerText.includes('s sample, seed 1')",
                           timeout=90_000)  # fmt: skip
    page.locator("#vc-design-name input, #vc-design-name textarea").first.fill("Ada")
    page.click("#vc-design-keep")
    page.wait_for_function("document.querySelector('#vc-design-note').innerText.includes('Saved')",
                           timeout=90_000)  # fmt: skip
    page.wait_for_function("document.querySelector('#vc-library').innerText.includes('designed: A warm')",
                           timeout=20_000)  # fmt: skip
    screenshot(page, "voice-clone-design")
    assert error_badges(page) == []
    assert layout_problems(page) == []

    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    page.locator("#synth-voice input").first.click()
    page.get_by_role("option", name="Ada").click()
    page.locator("#synth-text textarea").fill("Hello there.")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('ran on CPU')",
                           timeout=60_000)  # fmt: skip
    assert error_badges(page) == []
