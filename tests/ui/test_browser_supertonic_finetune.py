"""Fine-tune tab, Supertonic family, in a real browser: the family shows its own settings and base model, a model that
is not downloaded is refused with what to do, and a real run on the voiced tiny graphs and five clips of a real
speaker finishes with its latent targets measured and both evaluations shown, then becomes a voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import Settings
from tests.browser import error_badges, launch_app, need_chromium, screenshot
from tests.finetune.test_supertonic_train import write_dataset
from tests.tiny_onnx import make_supertonic_model_dir

pytestmark = pytest.mark.browser
pytest.importorskip("onnx2torch")

FAMILY = "Supertonic (flow matching, exported to ONNX)"


def _fill(page, elem: str, value: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator(f"#{elem} input, #{elem} textarea").first
    box.fill(value)
    box.press("Enter") if elem == "ft-dataset" else box.blur()


def test_a_supertonic_run_from_the_tab(browser, tmp_path: Path, shared_fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    need_chromium()
    base = make_supertonic_model_dir(tmp_path, shared_fixtures / "supertonic2", voiced=True)
    dataset = write_dataset(tmp_path / "town", shared_fixtures)
    home = tmp_path / "home"
    Settings(home=home, threads=1).ensure_dirs()
    with launch_app(home) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(url)
        page.get_by_role("tab", name="Fine-tune").click()
        page.get_by_label(FAMILY).check()
        base_box = page.locator("#ft-base input, #ft-base textarea").first
        page.wait_for_function("document.querySelector('#ft-base textarea, #ft-base input').value === 'supertonic2'",
                               timeout=10_000)  # fmt: skip
        page.get_by_text("Advanced settings").click()
        page.locator("#ft-st-parts").wait_for(state="visible", timeout=10_000)
        assert not page.locator("#ft-lora-r").is_visible()  # no adapters: Supertonic trains its own weights
        parts = page.locator("#ft-st-parts").inner_text()
        assert "Vector estimator" in parts and "ocoder" not in parts
        _fill(page, "ft-dataset", str(dataset))
        page.click("#ft-start")  # bad input: the model is not downloaded in this home
        page.get_by_text("Supertonic 2 is not downloaded").first.wait_for(timeout=20_000)
        assert "studio download supertonic2" in page.locator("#ft-action").inner_text()

        base_box.fill(str(base))
        base_box.blur()
        page.locator("#ft-st-style-from").get_by_label("M1", exact=True).check()
        for elem, value in (
            ("ft-epochs", "8"),
            ("ft-learning-rate", "0.02"),
            ("ft-batch-size", "2"),
            ("ft-warmup-ratio", "0"),
            ("ft-eval-steps", "4"),
            ("ft-st-target-iterations", "25"),
        ):
            _fill(page, elem, value)  # fmt: skip
        page.click("#ft-start")
        page.wait_for_function("document.querySelector('#ft-action').innerText.includes('Started')", timeout=30_000)
        try:
            page.wait_for_function("document.querySelector('#ft-status').innerText.includes('Finished')",
                                   timeout=300_000)  # fmt: skip
        except Exception as exc:
            screenshot(page, "finetune-supertonic-failed")
            raise AssertionError(page.locator("#ft-status").inner_text()) from exc
        page.wait_for_timeout(1500)
        status = page.locator("#ft-status").inner_text()
        assert "Latent targets: 5 clip(s) re-vocoded" in status and "speaker similarity" in status
        assert "Evaluation:" in status and "Base model (before training):" in status
        page.locator("#ft-voice-name input, #ft-voice-name textarea").first.fill("Town tuned")
        page.click("#ft-use")
        page.wait_for_function("document.querySelector('#ft-result').innerText.includes('added')", timeout=30_000)
        screenshot(page, "finetune-supertonic")
        assert error_badges(page) == []
