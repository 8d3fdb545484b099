"""The Synthesize tab's steps slider with Supertonic in a real browser on a phone (390 px): the use-case marks under
it, readable and whole, and the GPU box moving the default from the model's own (CPU) to 16."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.config import Settings
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from tests.browser import error_badges, launch_app, layout_problems, need_chromium, screenshot
from tests.tiny_onnx import make_supertonic_model_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_with_supertonic(tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path) -> Iterator[str]:
    need_chromium()
    home = tmp_path_factory.mktemp("steps-home")
    built = make_supertonic_model_dir(tmp_path_factory.mktemp("built"), shared_fixtures / "supertonic2")
    target = user_model_dir(Settings(home=home), SUPERTONIC2)
    target.parent.mkdir(parents=True)
    built.rename(target)
    with launch_app(home) as url:
        yield url


def _steps_value(page) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator("#synth-steps input[type=number]").first.input_value())


def test_the_steps_slider_on_a_phone(app_with_supertonic: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 1600})
    page.goto(app_with_supertonic)
    page.locator("#synth-engine input").first.click()
    page.get_by_role("option", name="Supertonic 2", exact=True).click()
    slider = page.locator("#synth-steps")
    slider.wait_for(state="visible", timeout=20_000)
    page.wait_for_function("document.querySelector('#synth-steps').innerText.includes('balanced 16')", timeout=20_000)
    text = slider.inner_text()
    for mark in ("real-time 2–5", "balanced 16", "high 32–64", "maximum 128", "default 5 on a CPU, 16 on a GPU"):
        assert mark in text
    assert _steps_value(page) == 5  # Supertonic 2's own default on a CPU
    page.locator("#synth-gpu input").first.check()
    page.wait_for_function("document.querySelector('#synth-steps input[type=number]').value === '16'", timeout=20_000)
    slider.scroll_into_view_if_needed()
    screenshot(page, "synthesize-steps-phone")
    assert layout_problems(page) == []
    assert error_badges(page) == []
    page.locator("#synth-gpu input").first.uncheck()
    page.wait_for_function("document.querySelector('#synth-steps input[type=number]').value === '5'", timeout=20_000)


def test_a_supertonic_book_pauses_0_3_s_between_chunks_by_default(app_with_supertonic: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 390, "height": 1600})
    page.goto(app_with_supertonic)
    page.get_by_role("tab", name="Audiobook").click()
    page.get_by_text("Silence between parts (seconds)").click()  # the accordion that holds the pauses
    gap = "document.querySelector('#book-sentence-gap input[type=number]').value"
    page.locator("#book-engine input").first.click()
    page.get_by_role("option", name="Supertonic 2", exact=True).click()
    page.wait_for_function(f"{gap} === '0.3'", timeout=20_000)
    # the book's steps follow the GPU tick as Synthesize's do: 5 on a CPU, 16 on a GPU
    steps = "document.querySelector('#book-steps input[type=number]').value"
    page.wait_for_function(f"{steps} === '5'", timeout=20_000)
    page.locator("#book-gpu input").first.check()
    page.wait_for_function(f"{steps} === '16'", timeout=20_000)
    page.locator("#book-gpu input").first.uncheck()
    page.wait_for_function(f"{steps} === '5'", timeout=20_000)
    page.locator("#book-engine input").first.click()
    page.get_by_role("option", name="Piper").click()
    page.wait_for_function(f"{gap} === '0.25'", timeout=20_000)
    assert error_badges(page) == []
