"""Real benchmark runs: the bundled Piper voice, tiny Supertonic graphs, skips, cancel and bad input."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio.bench import report
from studio.bench.plan import STANDARD_TEXTS, BenchPlan, parse_int_list
from studio.bench.results import BenchResult
from studio.bench.runner import run_benchmark
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import InvalidInput
from studio.systems.supertonic.specs import user_model_dir
from studio.systems.supertonic.versions import SUPERTONIC2
from tests.tiny_onnx import make_supertonic_model_dir


def test_standard_texts_have_the_published_lengths() -> None:
    assert {k: len(v) for k, v in STANDARD_TEXTS.items()} == {"short": 59, "mid": 152, "long": 266}


def test_a_real_short_run_on_the_bundled_piper_voice_writes_a_well_formed_file(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    saves: list[int] = []
    progress: list[tuple[float, str]] = []
    plan = BenchPlan(
        engines=("piper", "supertonic2"),
        texts={"short": STANDARD_TEXTS["short"], "custom": "Two words."},
        repeats=2,
        warmup=1,
    )

    def save(result: BenchResult) -> None:
        result.save(out)
        saves.append(len(result.cases))

    result = run_benchmark(plan, settings, lambda f, m: progress.append((f, m)), on_case=save)
    result.save(out)
    assert saves == [1, 2]  # saved after every case: a crash keeps what was measured
    assert result.state == "finished"
    back = report.load_result(out)
    assert [(c.engine, c.text_key) for c in back.cases] == [("piper", "short"), ("piper", "custom")]
    short, custom = back.cases
    assert short.chars == 59 and custom.chars == 10
    for case in back.cases:
        assert case.device == "cpu" and case.device_requested == "cpu" and case.voice == "joe"
        assert "CPUExecutionProvider" in case.providers
        assert len(case.seconds) == len(case.audio_seconds) == len(case.first_audio_seconds) == 2
        assert case.raw_seconds is not None and len(case.raw_seconds) == 2
        assert all(0 < f <= s for f, s in zip(case.first_audio_seconds, case.seconds, strict=True))
        assert case.load_seconds > 0 and case.peak_rss_mb is not None and case.peak_rss_mb > 50
        ratio = report.overhead_ratio(case)
        assert ratio is not None and 0.3 < ratio < 5  # the same session calls plus Studio's text path
    assert 2.0 < min(short.audio_seconds) < 8.0  # 59 characters of speech
    assert min(custom.audio_seconds) < min(short.audio_seconds)
    assert short.load_seconds == custom.load_seconds  # one load, reported apart from the timings
    # the missing engine is a note, not a failure
    assert [(s["engine"], s["device"]) for s in back.skipped] == [("supertonic2", "cpu")]
    assert "not downloaded" in back.skipped[0]["reason"] and "python -m studio engines" in back.skipped[0]["reason"]
    machine = back.machine
    assert machine["cores"] and machine["cpu"] and machine["onnxruntime"] and machine["providers_available"]
    assert back.plan["repeats"] == 2 and back.plan["texts"]["custom"] == "Two words."
    # progress has an ETA and ends at 100 %
    assert any("left" in m for _, m in progress) and progress[-1][0] == 1.0
    rows = report.cps_table(back).rows
    assert rows[0][0] == "Piper · CPU" and float(rows[0][1].split()[0].replace(",", "")) > 0


def test_a_gpu_request_is_labelled_with_the_device_that_really_ran(settings: Settings) -> None:
    plan = BenchPlan(engines=("piper",), devices=("cpu", "cuda"), texts={"short": "Hello there."}, repeats=1,
                     warmup=0, overhead=False)  # fmt: skip
    result = run_benchmark(plan, settings)
    cpu, gpu = result.cases
    assert cpu.device == "cpu" and gpu.device_requested == "cuda"
    if "CUDAExecutionProvider" in gpu.providers:  # a machine with a working GPU
        assert gpu.device == "cuda"
    else:
        assert gpu.device == "cpu" and gpu.device_note.startswith("ran on CPU")
        assert report.device_label(gpu) == "CPU (CUDA requested, fell back)"
    assert gpu.raw_seconds is None  # overhead timing was switched off


def test_supertonic_rows_per_step_count(settings: Settings, shared_fixtures: Path, tmp_path: Path) -> None:
    built = make_supertonic_model_dir(tmp_path / "built", shared_fixtures / "supertonic2")
    target = user_model_dir(settings, SUPERTONIC2)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    plan = BenchPlan(engines=("supertonic2",), voices={"supertonic2": ("F1", "M1")}, steps=(2, 5),
                     texts={"short": STANDARD_TEXTS["short"]}, repeats=2, warmup=1)  # fmt: skip
    result = run_benchmark(plan, settings)
    assert [(c.voice, c.steps) for c in result.cases] == [("F1", 2), ("F1", 5), ("M1", 2), ("M1", 5)]
    assert all(c.raw_seconds and len(c.raw_seconds) == 2 for c in result.cases)
    assert all(c.audio_seconds[0] > 0 for c in result.cases)
    labels = [r[0] for r in report.cps_table(result).rows]
    assert labels == [
        "Supertonic 2 · F1 · 2 steps · CPU", "Supertonic 2 · F1 · 5 steps · CPU",
        "Supertonic 2 · M1 · 2 steps · CPU", "Supertonic 2 · M1 · 5 steps · CPU",
    ]  # fmt: skip
    assert {p["steps"] for p in report.steps_points(result)} == {2, 5}


def test_cancel_keeps_the_finished_cases(settings: Settings) -> None:
    cancel = threading.Event()
    plan = BenchPlan(engines=("piper",), texts={"a": "One.", "b": "Two.", "c": "Three."}, repeats=1, warmup=0)
    result = run_benchmark(plan, settings, cancel=cancel, on_case=lambda r: cancel.set())
    assert result.state == "cancelled" and len(result.cases) == 1
    assert "kept" in result.note


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (BenchPlan(engines=()), "at least one engine"),
        (BenchPlan(engines=("nope",)), "Unknown engine 'nope'"),
        (BenchPlan(repeats=0), "Repeats must be 1"),
        (BenchPlan(warmup=-1), "Warm-up runs must be 0"),
        (BenchPlan(devices=()), "at least one device"),
        (BenchPlan(engines=("supertonic2",), steps=()), "at least one step count"),
        (BenchPlan(engines=("supertonic2",), steps=(0,)), "Steps 0 is out of range"),
        (BenchPlan(engines=("supertonic2",), steps=(500,)), "Steps 500 is out of range"),
        (BenchPlan(texts={}), "at least one text"),
        (BenchPlan(texts={"custom": "   "}), "custom text is empty"),
        (BenchPlan(voices={"supertonic2": ("F1",)}), "not among the engines"),
    ],
)
def test_bad_plans_get_clear_messages(settings: Settings, plan: BenchPlan, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        plan.validate(Registry(settings))


def test_a_custom_text_over_a_set_limit_is_refused(settings: Settings) -> None:
    from dataclasses import replace

    plan = BenchPlan(texts={"custom": "x " * 3000})
    plan.validate(Registry(settings))  # no limit locally
    with pytest.raises(InvalidInput, match="custom text has 5,999 characters; the limit is 5,000"):
        plan.validate(Registry(replace(settings, max_chars=5000)))


def test_an_unknown_voice_is_refused_before_anything_is_timed(settings: Settings) -> None:
    plan = BenchPlan(engines=("piper",), voices={"piper": ("nobody",)}, repeats=1, warmup=0)
    with pytest.raises(InvalidInput, match="no voice 'nobody'"):
        run_benchmark(plan, settings)


def test_parse_int_list() -> None:
    assert parse_int_list("2, 5,16 5") == [2, 5, 16]
    assert parse_int_list("") == []
    with pytest.raises(InvalidInput, match="'x' is not a whole number"):
        parse_int_list("2,x", "step counts")


def test_the_python_api_runs_and_saves_a_benchmark(settings: Settings, tmp_path: Path) -> None:
    from studio.api import Studio

    studio = Studio(settings=settings)
    out = tmp_path / "api.json"
    result = studio.benchmark(engines=["piper"], texts=["short"], custom_text="An extra line.", repeats=1, warmup=0,
                              output=out)  # fmt: skip
    assert [(c.text_key, c.chars) for c in result.cases] == [("short", 59), ("custom", 14)]
    assert report.load_result(out).cases == result.cases
    assert "Piper · CPU" in report.cps_table(result).text()
    with pytest.raises(InvalidInput, match="Unknown text 'huge'"):
        studio.benchmark(texts=["huge"])
