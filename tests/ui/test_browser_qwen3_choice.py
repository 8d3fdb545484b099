"""The Synthesize tab's checkpoint picker in a real browser: a home whose download cache holds two Qwen3-TTS
checkpoints (a tiny 0.6B Base and a tiny 1.7B CustomVoice); picking the CustomVoice brings its preset speakers and
the instructions box, a take is spoken with them, and the pick is remembered by the data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.config import Settings
from tests.browser import error_badges, launch_app, layout_problems, need_chromium, screenshot

pytestmark = pytest.mark.browser

if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def app_with_two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    need_chromium()
    from tests.engines.test_qwen3_choice import BASE, CV17, cache_checkpoint
    from tests.qwen_tiny import build_tiny_qwen3_tts

    root = tmp_path_factory.mktemp("qwen3-pick")
    home = root / "home"
    settings = Settings(home=home)
    settings.ensure_dirs()
    cache_checkpoint(settings.cache_dir, BASE, build_tiny_qwen3_tts(root / "base"))
    cache_checkpoint(settings.cache_dir, CV17, build_tiny_qwen3_tts(root / "cv17", model_type="custom_voice",
                                                                    size="1b7"))  # fmt: skip
    with launch_app(home) as url:
        yield url, home


def test_the_checkpoint_picker_changes_voices_and_instructions(app_with_two: tuple[str, Path], browser) -> None:  # type: ignore[no-untyped-def]
    url, home = app_with_two
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(url)
    page.locator("#synth-engine").wait_for(state="visible", timeout=20_000)
    assert not page.locator("#synth-model").is_visible()  # Piper has one model: no picker
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    picker = page.locator("#synth-model input").first
    picker.wait_for(state="visible", timeout=20_000)
    assert picker.input_value() == "0.6B Base (cloned voices)"  # nothing chosen: the first downloaded
    assert not page.locator("#synth-instruct").is_visible()  # a Base checkpoint takes no instructions
    picker.click()
    page.get_by_role("option", name="1.7B CustomVoice (preset speakers), follows instructions").click()
    box = page.locator("#synth-instruct textarea")
    box.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("document.querySelector('#synth-voice input').value === 'Tiny Ryan'", timeout=20_000)
    assert '"qwen3_tts": "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"' in (home / "models" / "chosen.json").read_text()
    box.fill("Speak slowly and warmly.")
    page.locator("#synth-text textarea").fill("Hello there.")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('RTF')", timeout=90_000)
    screenshot(page, "synthesize-qwen3-checkpoint")
    assert error_badges(page) == []
    assert layout_problems(page) == []

    # the text becomes an audiobook with the same instructions (the Audiobook tab's box shows them)
    page.click("#synth-to-book")
    book_box = page.locator("#book-instruct textarea")
    book_box.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("document.querySelector('#book-instruct textarea').value === 'Speak slowly and warmly.'",
                           timeout=20_000)  # fmt: skip
    assert error_badges(page) == []
    page.get_by_role("tab", name="Synthesize").click()

    page.reload()  # remembered: a new page opens on the chosen checkpoint
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    page.locator("#synth-instruct textarea").wait_for(state="visible", timeout=20_000)
    assert "CustomVoice" in page.locator("#synth-model input").first.input_value()


def test_the_audiobook_tab_offers_instructions_with_the_chosen_checkpoint(app_with_two: tuple[str, Path],
                                                                          browser) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """With the 1.7B CustomVoice chosen (as the test above does), the Audiobook tab's engine Qwen3-TTS shows the
    instructions box with its speakers; Piper hides it and empties it."""
    from tests.engines.test_qwen3_choice import CV17

    url, home = app_with_two
    Settings(home=home).save_model_choice("qwen3_tts", CV17)  # the choice, as the app remembers it
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(url)
    page.get_by_role("tab", name="Audiobook").click()
    page.locator("#book-engine").wait_for(state="visible", timeout=20_000)
    assert not page.locator("#book-instruct").is_visible()  # Piper, the default engine
    page.locator("#book-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    box = page.locator("#book-instruct textarea")
    box.wait_for(state="visible", timeout=20_000)
    page.wait_for_function("document.querySelector('#book-voice input').value === 'Tiny Ryan'", timeout=20_000)
    box.fill("Calm, warm narration.")
    screenshot(page, "audiobook-qwen3-instructions")
    assert error_badges(page) == []
    page.locator("#book-engine input").first.click()
    page.get_by_role("option", name="Piper").click()
    page.locator("#book-instruct").wait_for(state="hidden", timeout=20_000)
    page.locator("#book-engine input").first.click()
    page.get_by_role("option", name="Qwen3-TTS", exact=True).click()
    box.wait_for(state="visible", timeout=20_000)
    assert box.input_value() == ""  # a render with Piper would refuse them: they went with the box
