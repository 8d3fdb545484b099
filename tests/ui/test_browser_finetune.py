"""Fine-tune tab in a real browser: build a dataset from real speech, train the demo with live plots, stop, resume,
and turn the result into a voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.audio.io import write_audio
from studio.config import Settings
from studio.finetune.service import FineTune
from tests.browser import error_badges, launch_app, layout_problems, need_chromium, screenshot

pytestmark = pytest.mark.browser


def _status(page) -> str:  # type: ignore[no-untyped-def]
    return str(page.locator("#ft-status").inner_text())


def test_dataset_review_and_too_little_audio(app_url: str, browser, piper_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # long enough to stay above the 2 s minimum clip whatever Piper's sampled timing does
    sentences = [
        "The morning train was late again today, so we waited on the cold platform.",
        "She kept all of the old letters in a small wooden box under her bed.",
    ]
    paths = []
    for i, text in enumerate(sentences):
        wav = tmp_path / f"clip{i}.wav"
        write_audio(piper_engine.synthesize(text, "joe"), wav)
        (tmp_path / f"clip{i}.txt").write_text(text)
        paths += [str(wav), str(tmp_path / f"clip{i}.txt")]
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_text("1 · Dataset").click()
    page.click("#ft-build")
    page.get_by_text("Upload audio files or a ZIP").first.wait_for(timeout=20_000)  # bad input: nothing uploaded
    page.locator("#ft-files input[type=file]").set_input_files(paths)
    page.wait_for_timeout(1000)
    page.click("#ft-build")
    page.wait_for_function("document.querySelector('#ft-review').innerText.includes('wooden box')", timeout=60_000)
    review = page.locator("#ft-review").inner_text()
    assert "morning train" in review and "wooden box" in review
    summary = page.locator("#ft-ds-summary").inner_text()
    assert "2 clips kept" in summary and "Not used" not in summary  # each .txt found its .wav
    page.locator('#ft-review [data-testid="cell-1-0"]').click()  # a row click plays that clip
    page.wait_for_function(
        "document.querySelector('#ft-clip audio, #ft-clip [data-testid=\"waveform-Clip\"]') !== null", timeout=20_000
    )
    page.keyboard.press("Escape")
    page.click("#ft-save")
    page.get_by_text("minutes of usable audio").first.wait_for(timeout=20_000)  # two clips are far too little
    page.screenshot(path=str(tmp_path / "dataset.png"), full_page=True)


def test_the_phases_editor_checks_what_is_typed(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_text("Advanced settings").click()
    page.get_by_text("Advanced: phases").click()
    note = page.locator("#ft-phases-note")
    assert "One phase" in note.inner_text()
    box = page.locator("#ft-phases textarea")
    for typed, expected in (
        ("[]", "The phase list is empty"),
        ('[{"name": "warm-up", "lr": 1}]', "has unknown setting(s) ['lr']"),
        ('[{"min_steps": 4, "loss_below": "low"}]', "loss_below is 'low'; give a number"),
        ('[{"name": "warm-up", "freeze_layers": 2, "min_steps": 4}, {"name": "fine", "learning_rate": 2e-5}]',
         "2 phase(s)"),
    ):  # fmt: skip
        box.fill(typed)
        box.blur()
        page.wait_for_function(f"document.querySelector('#ft-phases-note').innerText.includes({expected!r})",
                               timeout=10_000)  # fmt: skip
    assert "advances after 4 steps" in note.inner_text()
    screenshot(page, "finetune-phases")
    assert error_badges(page) == [] and layout_problems(page) == []


def test_demo_trains_with_live_plots_stops_resumes_and_becomes_a_voice(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.click("#ft-start")
    page.get_by_text("Choose a dataset").first.wait_for(timeout=20_000)  # bad input: no dataset chosen

    page.click("#ft-demo")
    page.wait_for_function(
        "/step ([3-9]|1[0-9])\\/28/.test(document.querySelector('#ft-status').innerText)", timeout=120_000
    )
    page.click("#ft-stop")
    page.wait_for_function("document.querySelector('#ft-status').innerText.includes('Stopped')", timeout=90_000)
    stopped = _status(page)
    assert "/28" in stopped and "resume continues" in stopped
    page.click("#ft-resume")
    page.wait_for_function("document.querySelector('#ft-action').innerText.includes('Resumed')", timeout=90_000)
    try:
        page.wait_for_function("document.querySelector('#ft-status').innerText.includes('Finished')", timeout=420_000)
    except Exception as exc:  # say what the page showed, not only that it timed out
        raise AssertionError(f"{_status(page)!r} / {page.locator('#ft-action').inner_text()!r}") from exc
    status = _status(page)
    assert "step 28/28" in status and "best val." in status
    assert "Time: data" in status and "forward/backward" in status  # where the run's time went
    # the loss plot has drawn its two series (train, validation)
    page.wait_for_function("document.querySelector('#ft-loss-plot').innerText.includes('validation')", timeout=20_000)
    page.screenshot(path=str(tmp_path / "finetune.png"), full_page=True)

    page.locator("#ft-voice-name input, #ft-voice-name textarea").first.fill("Browser Voice")
    page.click("#ft-use")
    page.wait_for_function("document.querySelector('#ft-result').innerText.includes('added')", timeout=30_000)
    assert "Browser Voice" in page.locator("#ft-result").inner_text()


# a vertical line among the plot's lines (Vega draws each series as one SVG path: "M x,y1 L x,y2" with one x)
RULE_DRAWN = """() => [...document.querySelectorAll('#ft-loss-plot .mark-line path')]
  .some(p => /^M([-\\d.]+),[-\\d.]+L\\1,[-\\d.]+$/.test(p.getAttribute('d') || ''))"""

LINE_DRAWN = """() => [...document.querySelectorAll('#ft-loss-plot .mark-line path')]
  .some(p => (p.getAttribute('d') || '').includes('L'))"""


def test_the_loss_plot_marks_where_a_phase_began(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A real run in two phases on the demo's tiny model, followed live: the loss plot draws a vertical rule where
    phase 2 began, named in its legend."""
    need_chromium()
    home = tmp_path / "home"
    settings = Settings(home=home, threads=1)
    settings.ensure_dirs()
    service = FineTune(settings)
    with launch_app(home) as url:
        try:
            spec = service.demo_spec(name="phased", eval_steps=2, save_steps=100)
            spec.evaluate = False
            # phase 1 long enough (14 steps, several seconds) that the page is open and drawing before it ends, on a
            # quiet machine too (with 3 steps the run was in phase 2 before the first drawing)
            spec.phases = [{"name": "warm-up", "min_steps": 14},
                           {"name": "fine", "learning_rate": 5e-4, "max_steps": 4}]  # fmt: skip
            service.start(spec)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url)
            page.get_by_role("tab", name="Fine-tune").click()  # the page opens on the newest run: this one
            page.wait_for_function(LINE_DRAWN, timeout=180_000)
            first = _status(page)
            assert "phase 1/2 (warm-up)" in first  # drawn first in phase 1: the rule comes live, as phase 2 begins
            try:  # drawn while the run trains: a line of the plot from the bottom to the top at one step
                page.wait_for_function(RULE_DRAWN, timeout=180_000)
            except Exception as exc:  # say what the page showed, not only that it timed out
                screenshot(page, "finetune-phase-rule-failed")
                raise AssertionError(f"{_status(page)!r} / {page.locator('#ft-loss-plot').inner_text()!r}") from exc
            page.wait_for_function("document.querySelector('#ft-status').innerText.includes('Finished')",
                                   timeout=180_000)  # fmt: skip
            assert "step 18/18" in _status(page) and "phase 2/2 (fine)" in _status(page)
            page.wait_for_timeout(1500)  # the last tick's points drawn
            plot = page.locator("#ft-loss-plot")
            legend = plot.inner_text()
            assert "train" in legend and "validation" in legend and "phase 2: fine" in legend
            assert "phase 1" not in legend  # the first phase begins at step 0: no rule
            assert page.evaluate(RULE_DRAWN)
            path = screenshot(page, "finetune-phase-rule")
            plot.screenshot(path=str(path.with_name("finetune-phase-rule-plot.png")))
            assert error_badges(page) == []
        finally:
            service.runner.stop_all(grace=10)
