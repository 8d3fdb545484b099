"""Benchmark tab: pick engines, voices, step counts, devices and texts; run with progress and Cancel; see both tables
and plots; download JSON/CSV; load an earlier result and compare side by side."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from studio.bench import report
from studio.bench.plan import BATCH_SIZES, STANDARD_TEXTS, BenchPlan, choose_texts, parse_int_list
from studio.bench.results import BenchResult
from studio.bench.runner import run_benchmark
from studio.config import MAX_STEPS, MIN_STEPS
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.synthesize.view import engine_choices
from studio.ui.users import per_user

JOB = "benchmark"
TEXT_CHOICES = [(f"{name} ({len(STANDARD_TEXTS[key])} chars)", key)
                for key, name in (("short", "Short"), ("mid", "Mid"), ("long", "Long"))]  # fmt: skip
MISSING = "not installed: will be skipped"
DEVICE_CHOICES = [("CPU", "cpu"), ("GPU (CUDA)", "cuda")]
POLL_SECONDS = 0.5
BATCH_LABEL = "Batch table: batch 1, 2, 4, 8 x outputs of 2, 5, 10 s (smalltts)"


def voice_choices(ctx: AppContext, engines: list[str] | None) -> tuple[list[tuple[str, str]], list[str]]:
    """Every voice of the chosen (installed) engines as 'engine:voice', and the default pick: each one's first."""
    choices: list[tuple[str, str]] = []
    default: list[str] = []
    for name in engines or []:
        if name not in ctx.registry.names() or not ctx.registry.available(name).ok:
            continue
        label = ctx.registry.info(name).label
        voices = ctx.registry.voices(name)
        choices.extend((f"{label}: {v.name}", f"{name}:{v.id}") for v in voices)
        if voices:
            default.append(f"{name}:{voices[0].id}")
    return choices, default


def on_engines_change(ctx: AppContext, engines: list[str] | None, voices: list[str] | None) -> Any:
    choices, default = voice_choices(ctx, engines)
    valid = {value for _, value in choices}
    kept = [v for v in voices or [] if v in valid]
    engines_kept = {v.split(":", 1)[0] for v in kept}
    kept += [d for d in default if d.split(":", 1)[0] not in engines_kept]  # a newly ticked engine gets its default
    return gr.update(choices=choices, value=kept)


def build_plan(
    ctx: AppContext,
    engines: list[str] | None,
    voices: list[str] | None,
    steps: str | None,
    devices: list[str] | None,
    texts: list[str] | None,
    custom: str | None,
    repeats: float | None,
    warmup: float | None,
    batch_table: bool = False,
) -> BenchPlan:
    """The tab's inputs as a plan, every mistake answered with a message (the plan validates the rest)."""
    chosen = tuple(engines or ())
    picked: dict[str, list[str]] = {}
    for item in voices or []:
        engine, _, voice = item.partition(":")
        if engine in chosen and voice:
            picked.setdefault(engine, []).append(voice)
    needs_steps = any(ctx.registry.info(e).supports_steps for e in chosen if e in ctx.registry.names())
    step_counts = tuple(parse_int_list(steps or "", "step counts"))
    if needs_steps:
        for s in step_counts:
            if not MIN_STEPS <= s <= MAX_STEPS:
                raise InvalidInput(f"Steps {s} is out of range; use {MIN_STEPS} to {MAX_STEPS}.")
    plan = BenchPlan(
        engines=chosen,
        voices={k: tuple(v) for k, v in picked.items()},
        steps=step_counts,
        devices=tuple(devices or ()),
        texts=choose_texts(texts or [], custom),
        repeats=int(repeats or 0),
        warmup=int(warmup if warmup is not None else 1),
        batch_sizes=BATCH_SIZES if batch_table else (),
    )
    plan.validate(ctx.registry)
    return plan


def _frame(table: report.Table) -> pd.DataFrame:
    return pd.DataFrame(table.rows, columns=table.headers)


def views(result: BenchResult | None) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Chars/sec table, RTF table, details table, batch table, chars/sec-per-steps plot, RTF-per-length plot."""
    batches = report.batch_table(result) if result is not None else None
    batch_view = gr.update(value=_frame(batches), visible=True) if batches is not None else gr.update(visible=False)
    if result is None or not result.cases:
        empty = pd.DataFrame()
        return (
            empty,
            empty,
            empty,
            batch_view,
            pd.DataFrame(columns=["steps", "chars_per_sec", "series"]),
            pd.DataFrame(columns=["chars", "rtf", "series"]),
        )
    steps = pd.DataFrame(report.steps_points(result), columns=["steps", "chars_per_sec", "series"])
    lengths = pd.DataFrame(report.length_points(result), columns=["chars", "rtf", "series"])
    return (
        _frame(report.cps_table(result)),
        _frame(report.rtf_table(result)),
        _frame(report.details_table(result)),
        batch_view,
        steps,
        lengths,
    )


def _lines_or_points(frame: pd.DataFrame) -> tuple[Any, Any]:
    """A plot's two views: lines where every series has two points or more, else points (a line needs two points, so
    a series of one, e.g. one text length or one step count, would leave the line plot empty). Nothing to draw (no
    engine with steps was measured): both hidden rather than shown empty."""
    lines = not frame.empty and bool((frame.groupby("series").size() >= 2).all())
    points = not frame.empty and not lines
    return gr.update(value=frame, visible=lines), gr.update(value=frame, visible=points)


def _shown(frames: tuple[Any, Any, Any, Any, Any, Any]) -> tuple[Any, ...]:
    """The four tables, then the chars/sec-per-steps plot and the RTF-per-length plot as lines or points."""
    *tables, steps, lengths = frames
    return (*tables, *_lines_or_points(steps), *_lines_or_points(lengths))


def summary(result: BenchResult) -> str:
    lines = [f"**{result.state.capitalize()}**: {len(result.cases)} case(s) measured. {result.note}".strip()]
    lines.append(f"Machine: {report.machine_line(result)}")
    lines.extend(f"- {line}" for line in report.skipped_lines(result))
    if result.cases:
        lines.append(f"Tables: {report.repeats_note(result)}; warm-up excluded. Definitions: docs/benchmarks.md.")
    return "\n\n".join(lines)


def _files(ctx: AppContext, session: str) -> tuple[Path, Path]:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = ctx.output_dir(session)
    return folder / f"bench-{stamp}.json", folder / f"bench-{stamp}.csv"


def run(
    ctx: AppContext, plan: BenchPlan, session: str, progress: gr.Progress | None = None
) -> Iterator[tuple[Any, ...]]:
    """Run in a worker thread; yield (status, 5 views, files, result path) as it goes: tables fill in case by case."""
    json_path, csv_path = _files(ctx, session)
    flag = ctx.cancel_flag(session, JOB)
    state: dict[str, Any] = {"fraction": 0.0, "message": "Loading the engines…", "cases": 0}
    lock = threading.Lock()
    latest: list[BenchResult] = []
    outcome: dict[str, Any] = {}

    def on_progress(fraction: float, message: str) -> None:
        with lock:
            state["fraction"], state["message"] = fraction, message

    def on_case(result: BenchResult) -> None:
        result.save(json_path)  # every finished case is on disk: a crash or a cancel keeps it
        with lock:
            latest[:] = [result]

    def work() -> None:
        try:
            outcome["result"] = run_benchmark(plan, ctx.settings, on_progress, flag, on_case)
        except Exception as exc:  # shown to the user below; the thread must not die silently
            outcome["error"] = exc

    busy = " A book render is running at the same time: expect lower numbers." if ctx.runner.running() else ""
    worker = threading.Thread(target=work, name="studio-bench", daemon=True)
    worker.start()
    shown = -1
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        with lock:
            fraction, message = state["fraction"], state["message"]
            snapshot = latest[0] if latest else None
        if progress is not None:
            progress(fraction, desc=message)
        count = len(snapshot.cases) if snapshot else 0
        status = f"Running… {fraction:.0%} · {message}{busy}"
        if count != shown:
            shown = count
            yield (status, *_shown(views(snapshot)), gr.update(), None)
        else:
            yield (status, *(gr.update() for _ in range(8)), gr.update(), None)
    if "error" in outcome:
        raise outcome["error"]
    result: BenchResult = outcome["result"]
    result.save(json_path)
    csv_path.write_text(report.to_csv(result), encoding="utf-8")
    yield (summary(result), *_shown(views(result)), [str(json_path), str(csv_path)], str(json_path))


def cancel(ctx: AppContext, session: str) -> str:
    return (
        "Stopping after the current timing; finished cases are kept…"
        if ctx.cancel(session, JOB)
        else "Nothing is running."
    )


def _path(file: Any) -> str | None:
    if file is None:
        return None
    if isinstance(file, str):
        return file
    return getattr(file, "path", None) or getattr(file, "name", None)


def compare_view(earlier: Any, newer: Any, current: str | None) -> tuple[Any, str]:
    """A = the earlier file; B = the newer file, or this session's latest run when no newer file is given."""
    a_path = _path(earlier)
    if a_path is None:
        raise InvalidInput("Upload an earlier results file (JSON) to compare with.")
    b_path = _path(newer) or current
    if b_path is None:
        raise InvalidInput("Run a benchmark first, or upload a second results file to compare against.")
    a, b = report.load_result(a_path), report.load_result(b_path)
    table = report.compare(a, b)
    note = "Δ = (B − A) / A, matched by engine, voice, steps, device and text.\n\n"
    title = table.title.replace("\n", "\n\n")
    if not table.rows:
        note += "The two files have no cases in common."
    return _frame(table), note + title


def build(ctx: AppContext, demo: gr.Blocks) -> None:
    names = ctx.registry.names()
    default_engines = [n for n in names if ctx.registry.available(n).ok][:1] or names[:1]
    voices, default_voices = voice_choices(ctx, default_engines)
    with gr.Row():
        with gr.Column(scale=2):
            engines = gr.CheckboxGroup(
                engine_choices(ctx, MISSING, voiced=True),
                value=default_engines,
                label="Engines",
                elem_id="bench-engines",
            )
            voice = gr.Dropdown(voices, value=default_voices, multiselect=True, label="Voices", elem_id="bench-voices")
            steps = gr.Textbox(
                "2, 5",
                label=f"Inference steps (engines that have them; {MIN_STEPS}-{MAX_STEPS}, comma-separated)",
                elem_id="bench-steps",
            )
            devices = gr.CheckboxGroup(DEVICE_CHOICES, value=["cpu"], label="Devices", elem_id="bench-devices")
            texts = gr.CheckboxGroup(TEXT_CHOICES, value=["short", "mid", "long"], label="Texts", elem_id="bench-texts")
            custom = gr.Textbox("", lines=2, label="Your own text (optional)", elem_id="bench-custom")
            batch = gr.Checkbox(False, label=BATCH_LABEL, elem_id="bench-batch")
            with gr.Row():
                repeats = gr.Slider(1, 20, value=5, step=1, label="Repeats", elem_id="bench-repeats")
                warmup = gr.Slider(0, 5, value=1, step=1, label="Warm-up runs (not timed)", elem_id="bench-warmup")
            with gr.Row():
                run_btn = gr.Button("Run benchmark", variant="primary", elem_id="bench-run")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="bench-cancel")
        with gr.Column(scale=3):
            status = gr.Markdown("Pick what to measure and press Run.", elem_id="bench-status")
            cps = gr.Dataframe(label="Characters per second (higher is better)", interactive=False, elem_id="bench-cps")
            rtf = gr.Dataframe(label="Real-time factor (lower is better)", interactive=False, elem_id="bench-rtf")
            # each plot twice: lines, or points where a series has a single point (see _lines_or_points)
            steps_args = dict(x="steps", y="chars_per_sec", color="series", title="Chars/sec per step count",
                              x_title="Inference steps", y_title="Characters per second", visible=False)  # fmt: skip
            steps_plot = gr.LinePlot(**steps_args, elem_id="bench-steps-plot")  # type: ignore[arg-type]
            steps_dots = gr.ScatterPlot(**steps_args, elem_id="bench-steps-dots")  # type: ignore[arg-type]
            length_args = dict(x="chars", y="rtf", color="series", title="Real-time factor per text length",
                               x_title="Characters", y_title="Real-time factor", x_axis_format="d",
                               visible=False)  # fmt: skip
            length_plot = gr.LinePlot(**length_args, elem_id="bench-length-plot")  # type: ignore[arg-type]
            length_dots = gr.ScatterPlot(**length_args, elem_id="bench-length-dots")  # type: ignore[arg-type]
            batches = gr.Dataframe(label="Batched generation (smalltts's table)", interactive=False, visible=False,
                                   elem_id="bench-batches")  # fmt: skip
            with gr.Accordion("Every case: first audio, peak memory, load time, overhead ratio", open=False):
                details = gr.Dataframe(interactive=False, elem_id="bench-details")
            files = gr.File(
                label="Results (JSON, CSV)", file_count="multiple", interactive=False, elem_id="bench-files"
            )
            with gr.Accordion("Compare with an earlier result", open=False):
                with gr.Row():
                    earlier = gr.File(label="A: earlier results (JSON)", file_types=[".json"], elem_id="bench-earlier")
                    newer = gr.File(label="B: newer results (JSON; empty = this run)", file_types=[".json"],
                                    elem_id="bench-newer")  # fmt: skip
                compare_btn = gr.Button("Compare", elem_id="bench-compare")
                compare_note = gr.Markdown("", elem_id="bench-compare-note")
                compared = gr.Dataframe(interactive=False, elem_id="bench-compared")
    current = gr.State(None)

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    # a failure says why beside the action and leaves every other output as it was (studio.ui.errors.action)
    action(demo, engines.change, per_user(ctx, on_engines_change), [engines, voice], voice, queue=False,
           api_visibility="private")  # fmt: skip

    @ui_errors
    def benchmark_run(
        u: AppContext, engines: list[str], voices: list[str], steps: str, devices: list[str], texts: list[str],
        custom_text: str, repeats: float, warmup: float, batch_table: bool,
        request: gr.Request, progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> Iterator[tuple[Any, ...]]:  # fmt: skip
        """Measure engines: characters per second, real-time factor, time to first audio, memory (docs/benchmarks.md).
        The tables fill in case by case; the results are written as JSON and CSV.

        Args:
            engines: engine names to measure (`list_engines`).
            voices: "engine:voice" pairs to measure (empty: each engine's default voice).
            steps: comma-separated inference step counts, e.g. "2, 5" (engines that have steps).
            devices: any of "cpu", "cuda".
            texts: any of "short", "mid", "long" (built-in texts).
            custom_text: a text of your own, measured too (optional).
            repeats: timed runs per case.
            warmup: untimed runs before them.
            batch_table: also time batched generation, batch 1, 2, 4, 8 x outputs of 2, 5, 10 s (engines whose
                length is an input: smalltts).

        Returns:
            a summary, the chars/sec, RTF and details tables, the chars/sec-per-steps and RTF-per-length plots (each
            as lines and as points: a series of one point is drawn as points), and the results files.
        """
        plan = build_plan(u, engines, voices, steps, devices, texts, custom_text, repeats, warmup, bool(batch_table))
        for update in run(u, plan, _session(request), progress):
            *shown, path = update
            yield (*shown, path if path is not None else gr.update())

    action(
        demo,
        run_btn.click,
        per_user(ctx, benchmark_run),
        [engines, voice, steps, devices, texts, custom, repeats, warmup, batch],
        [status, cps, rtf, details, batches, steps_plot, steps_dots, length_plot, length_dots, files, current],
        status,
        show_progress_on=[status],  # the progress bar sits on the status line; the tables stay readable as they fill
        concurrency_id="long_jobs",
        concurrency_limit=1,
        api_name="benchmark_run",
    )

    def _cancel(u: AppContext, request: gr.Request) -> str:
        return cancel(u, _session(request))

    cancel_btn.click(per_user(ctx, _cancel), None, status, queue=False, api_visibility="private")

    @ui_errors
    def benchmark_compare(earlier: Any, newer: Any, current: str | None) -> tuple[Any, str]:
        """Compare two benchmark results files case by case (Δ = (B − A) / A).

        Args:
            earlier: A, the earlier results file (JSON, as benchmark_run writes it).
            newer: B, the newer results file; empty for this session's latest benchmark_run.
        """
        return compare_view(earlier, newer, current)

    action(demo, compare_btn.click, benchmark_compare, [earlier, newer, current], [compared, compare_note],
           compare_note, api_name="benchmark_compare")  # fmt: skip
