"""Benchmark tab handlers on the real app context: plan building, a real run, files, cancel and compare."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio.bench import report
from studio.config import Settings
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.tabs import benchmark as tab


def _ctx(settings: Settings) -> AppContext:
    return AppContext.create(settings)


def test_voices_follow_the_ticked_engines(settings: Settings) -> None:
    ctx = _ctx(settings)
    choices, default = tab.voice_choices(ctx, ["piper", "supertonic2"])
    assert default == ["piper:joe"]  # Supertonic is not installed: no voices to pick
    assert ("Piper: joe (bundled, English US)", "piper:joe") in choices
    assert tab.on_engines_change(ctx, [], ["piper:joe"])["value"] == []
    labels = dict((v, k) for k, v in tab.engine_choices(ctx, tab.MISSING))
    assert labels["supertonic2"] == "Supertonic 2 (not installed: will be skipped)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (dict(engines=[]), "at least one engine"),
        (dict(steps="2, five"), "'five' is not a whole number"),
        (dict(engines=["piper", "supertonic2"], steps="1"), "Steps 1 is out of range; use 2 to 128"),
        (dict(devices=[]), "at least one device"),
        (dict(texts=[], custom="  "), "at least one text"),
        (dict(repeats=0), "Repeats must be 1"),
    ],
)
def test_bad_input_is_refused_with_a_message(settings: Settings, args: dict, message: str) -> None:  # type: ignore[type-arg]
    values = dict(engines=["piper"], voices=["piper:joe"], steps="2, 5", devices=["cpu"], texts=["short"], custom="",
                  repeats=2, warmup=1) | args  # fmt: skip
    with pytest.raises(InvalidInput, match=message):
        tab.build_plan(_ctx(settings), **values)  # type: ignore[arg-type]


def test_run_fills_tables_and_writes_json_and_csv(settings: Settings) -> None:
    ctx = _ctx(settings)
    plan = tab.build_plan(ctx, ["piper"], ["piper:joe"], "2", ["cpu"], ["short"], "A custom line.", 2, 0)
    updates = list(tab.run(ctx, plan, "local"))
    status, cps, rtf, details, batches, steps_plot, steps_dots, length_plot, length_dots, files, path = updates[-1]
    assert status.startswith("**Finished**: 2 case(s) measured.")
    assert batches["visible"] is False  # no batch table asked for
    assert list(cps.columns) == ["Engine · voice · steps · device", "Short (59)", "Custom (14)"]
    assert cps.iloc[0, 0] == "Piper · CPU" and rtf.iloc[0, 0] == "Piper · CPU"
    assert len(details) == 2 and len(length_plot["value"]) == 2 and length_plot["visible"]
    assert length_dots["visible"] is False  # its one series has two points: drawn as a line
    assert steps_plot["value"].empty and steps_plot["visible"] is False  # Piper has no steps: the plot is hidden
    assert steps_dots["visible"] is False
    json_path, csv_path = (Path(f) for f in files)
    assert json_path.parent == ctx.output_dir("local") and path == str(json_path)
    assert report.load_result(json_path).state == "finished"
    assert csv_path.read_text().count("\n") == 3
    assert any(u[0].startswith("Running…") for u in updates[:-1])


def test_a_series_of_one_point_is_drawn_as_a_point(settings: Settings) -> None:
    """A line needs two points: one text length (or one step count) per series would draw an empty plot, so those
    plots show points instead, every series in its colour."""
    ctx = _ctx(settings)
    plan = tab.build_plan(ctx, ["piper"], ["piper:joe"], "2", ["cpu"], ["short"], "", 1, 0)
    *_, steps_plot, steps_dots, length_plot, length_dots, _files, _path = list(tab.run(ctx, plan, "local"))[-1]
    assert length_plot["visible"] is False and length_dots["visible"] is True
    assert list(length_dots["value"]["series"]) == ["Piper · CPU"] and list(length_dots["value"]["chars"]) == [59]
    assert steps_plot["visible"] is False and steps_dots["visible"] is False


def test_cancel_from_another_thread_keeps_finished_cases(settings: Settings) -> None:
    ctx = _ctx(settings)
    plan = tab.build_plan(ctx, ["piper"], ["piper:joe"], "", ["cpu"], ["short", "mid", "long"], "", 3, 0)
    updates = []
    for update in tab.run(ctx, plan, "s1"):
        updates.append(update)
        if len(updates) == 3:
            threading.Thread(target=tab.cancel, args=(ctx, "s1")).start()
    status = updates[-1][0]
    assert status.startswith("**Cancelled**") and "kept" in status
    assert report.load_result(updates[-1][-1]).state == "cancelled"


def test_compare_two_files_and_the_current_run(settings: Settings, tmp_path: Path) -> None:
    ctx = _ctx(settings)
    plan = tab.build_plan(ctx, ["piper"], ["piper:joe"], "", ["cpu"], ["short"], "", 1, 0)
    first = list(tab.run(ctx, plan, "a"))[-1][-1]
    second = list(tab.run(ctx, plan, "b"))[-1][-1]
    frame, note = tab.compare_view(first, None, second)
    assert list(frame.columns) == report.COMPARE_HEADERS
    assert frame.iloc[0, 0] == "Piper · CPU" and frame.iloc[0, 4].endswith("%")
    assert "A: " in note and "B: " in note
    with pytest.raises(InvalidInput, match="Upload an earlier results file"):
        tab.compare_view(None, None, second)
    with pytest.raises(InvalidInput, match="Run a benchmark first"):
        tab.compare_view(first, None, None)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="not a Studio benchmark result"):
        tab.compare_view(str(bad), None, second)
