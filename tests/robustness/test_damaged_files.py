"""Anything read from disk is checked on read: a damaged or hostile plan.json, status.json, settings.json, book.json,
spec.json, status of a run, metrics.jsonl or benchmark results file is shown as broken with the reason, and never
stops the app, a tab or a listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.config import Settings
from studio.ui.app import build_app
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import audiobook, finetune

S = "s"
HOSTILE = ["{not json", "[]", '"a string"', "null", '{"chapters": 7}', '{"state": {"x": 1}, "done": "many"}', ""]


def _book_job(ctx: AppContext, tmp_path: Path) -> str:
    source = tmp_path / "book.txt"
    source.write_text("Title\n\nChapter 1\n\nA sentence to read.\n", encoding="utf-8")
    return str(ui_errors(audiobook.import_book)(ctx, str(source), "piper", "joe", False, S)[0])


@pytest.mark.parametrize("name", ["plan.json", "status.json", "settings.json", "book.json"])
@pytest.mark.parametrize("content", HOSTILE)
def test_a_damaged_job_file_is_listed_as_broken(settings: Settings, tmp_path: Path, name: str, content: str) -> None:
    ctx = AppContext.create(settings)
    good = _book_job(ctx, tmp_path)
    bad = _book_job(ctx, tmp_path)
    (ctx.jobs_dir(S) / bad / name).write_text(content, encoding="utf-8")
    choices = audiobook.job_choices(ctx, S)  # the jobs list: it used to raise
    assert good in [value for _, value in choices]
    labels = {value: label for label, value in choices}
    line, *_ = audiobook.poll(ctx, bad, S, "")  # the timer never fails
    if name == "status.json":  # the job itself is whole: it opens, reads as interrupted and says why
        ui_errors(audiobook.open_job)(ctx, bad, S)
        if not content.startswith("{") or content == "{not json":  # unreadable: it says so
            assert "interrupted" in labels[bad] and "damaged" in line, line
    else:
        if name == "plan.json":  # the list reads the plan (title): the job is listed as broken
            assert "broken" in labels[bad] and "damaged" in labels[bad], labels[bad]
        unreadable = not content.startswith("{") or content == "{not json"
        if unreadable or name == "plan.json":
            with pytest.raises(Exception) as opened:  # opening it says what is wrong, as a message
                ui_errors(audiobook.open_job)(ctx, bad, S)
            assert f"{name} is damaged" in str(opened.value), str(opened.value)
        else:  # an object with unknown keys: read leniently, the defaults apply
            ui_errors(audiobook.open_job)(ctx, bad, S)
    build_app(ctx)


@pytest.mark.parametrize("name", ["spec.json", "status.json", "metrics.jsonl"])
@pytest.mark.parametrize("content", HOSTILE)
def test_a_damaged_run_file_never_stops_the_runs_list(settings: Settings, name: str, content: str) -> None:
    ctx = AppContext.create(settings)
    spec = ctx.finetune.demo_spec(device="cpu")
    folder = settings.runs_dir / spec.run_id
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(spec.to_json()), encoding="utf-8")
    (folder / name).write_text(content, encoding="utf-8")
    choices = finetune.run_choices(ctx)
    assert [value for _, value in choices] == [spec.run_id]
    out = finetune.show_run(ctx, spec.run_id, -1)  # the run's view: status line, plots, log
    assert out is not None
    build_app(ctx)


@pytest.mark.parametrize("content", [*HOSTILE, '{"cases": [{"engine": 1}]}'])
def test_a_damaged_results_file_is_a_message(tmp_path: Path, content: str) -> None:
    from studio.bench import report
    from studio.errors import InvalidInput

    path = tmp_path / "results.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput):
        report.load_result(path)
