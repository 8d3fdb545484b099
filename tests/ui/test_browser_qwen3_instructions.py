"""The Synthesize tab's instructions box in a real browser: hidden for Piper, shown for Qwen3-TTS with a checkpoint
that follows instructions (the tiny 1.7B CustomVoice placed by hand), and a take spoken with them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio.config import Settings
from tests.browser import error_badges, launch_app, layout_problems, need_chromium, screenshot

pytestmark = pytest.mark.browser

if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def app_with_custom_voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    from studio.systems.qwen3_tts.model import user_model_dir
    from tests.qwen_tiny import build_tiny_qwen3_tts

    home = tmp_path_factory.mktemp("instruct-home")
    build_tiny_qwen3_tts(user_model_dir(Settings(home=home)), model_type="custom_voice", size="1b7")
    with launch_app(home) as url:
        yield url


def test_the_instructions_box_follows_the_engine(app_with_custom_voice: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(app_with_custom_voice)
    page.locator("#synth-engine").wait_for(state="visible", timeout=20_000)
    assert not page.locator("#synth-instruct").is_visible()  # Piper takes no instructions: no box
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    box = page.locator("#synth-instruct textarea")
    box.wait_for(state="visible", timeout=20_000)
    box.fill("Speak slowly and warmly, with a hint of a smile.")
    page.locator("#synth-text textarea").fill("Hello there.")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('RTF')", timeout=90_000)
    assert "ran on CPU" in page.locator("#synth-status").inner_text()
    screenshot(page, "synthesize-qwen3-instructions")
    assert error_badges(page) == []
    assert layout_problems(page) == []
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Piper").click()
    page.locator("#synth-instruct").wait_for(state="hidden", timeout=20_000)
