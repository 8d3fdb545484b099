"""Runs of the Fine-tune tab: the runs list, live status and loss plots, start/stop/resume, experiments queued one
after another and compared, and the result (a voice, an export, a push to the Hub)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from studio.clock import clock
from studio.errors import InvalidInput
from studio.finetune.experiments import COMPARISON_HEADERS
from studio.finetune.metrics import (
    EVAL_LOSS,
    LR,
    PHASE,
    PHASE_BEGINS,
    TRAIN_LOSS,
    downsample,
    evaluation_text,
    timing_text,
)
from studio.finetune.phases import parse_phases
from studio.finetune.runs import RunInfo
from studio.finetune.spec import TrainSpec
from studio.ui.context import AppContext

PLOT_POINTS = 400


# ---- runs, plots and progress -----------------------------------------------------------------------------------
def run_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(r.label(), r.run_id) for r in ctx.finetune.all()]


def plots(ctx: AppContext, run_id: str | None, names: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Loss (train + validation) and learning-rate frames from the run's metrics, read incrementally. A run in phases
    draws a vertical rule where each later phase began (`phase_rules`), named by `names` (the phases' names). The
    loss frame names every series the run can have, those with nothing to draw yet in a row without values."""
    loss = pd.DataFrame(columns=["step", "loss", "series"])
    lr = pd.DataFrame(columns=["step", "lr"])
    if not run_id:
        return loss, lr, 0
    reader = ctx.finetune.metrics(run_id)  # reads only what was appended since the last tick
    rows = reader.rows
    train = [(r["step"], r[TRAIN_LOSS], "train") for r in downsample(rows, TRAIN_LOSS, PLOT_POINTS)]
    val = [(r["step"], r[EVAL_LOSS], "validation") for r in downsample(rows, EVAL_LOSS, PLOT_POINTS)]
    values = [p[1] for p in train + val]
    drawn = train + val + (phase_rules(rows, names, min(values), max(values)) if values else [])
    # every series the run can draw is in the frame from the first tick (a row without values where there is nothing
    # yet): Gradio's LinePlot fixes its colours to the series of its first drawing, and a later one is never drawn
    present = {p[2] for p in drawn}
    later = [phase_label(n, names) for n in range(2, len(names) + 1)]
    loss = pd.DataFrame(drawn + [(None, None, name) for name in ("train", "validation", *later) if name not in present],
                        columns=["step", "loss", "series"])  # fmt: skip
    rates = [(r["step"], r[LR]) for r in downsample(rows, LR, PLOT_POINTS)]
    if rates:
        lr = pd.DataFrame(rates, columns=["step", "lr"])
    return loss, lr, len(rows) + reader.offset


def phase_label(number: int, names: Sequence[str]) -> str:
    """A phase as the plot's legend names it: "phase 2: fine" (its number alone when it has no name of its own)."""
    name = names[number - 1] if 0 < number <= len(names) else ""
    return f"phase {number}: {name}" if name and name != f"phase {number}" else f"phase {number}"


def phase_rules(rows: list[dict[str, float]], names: Sequence[str], low: float, high: float) -> list[tuple]:
    """Where each phase after the first began, as the loss plot's vertical rules: a series of its own per phase (two
    points at the step, from the lowest loss drawn to the highest), labelled with the phase's name. The step is the
    trainer's `phase/begins` row; a run logged before those rows existed gets the last row of the phase before."""
    begins = {int(r[PHASE_BEGINS]): r["step"] for r in rows if PHASE_BEGINS in r}
    last: dict[int, float] = {}
    for r in rows:
        if PHASE in r and PHASE_BEGINS not in r:
            last[int(r[PHASE])] = r["step"]
    for number in sorted(last):
        if number > 1 and number not in begins and number - 1 in last:
            begins[number] = last[number - 1]
    if high == low:  # one value so far: a rule still needs a height
        low, high = low - 0.5, high + 0.5
    out: list[tuple] = []
    for number, step in sorted(begins.items()):
        if number > 1:
            label = phase_label(number, names)
            out += [(step, low, label), (step, high, label)]
    return out


def phase_names(spec: TrainSpec | None) -> list[str]:
    """The names of a run's phases (none for a run in one phase, or a spec that cannot be read)."""
    if spec is None or not spec.phases:
        return []
    try:
        return [p.name for p in parse_phases(spec.phases)]
    except InvalidInput:
        return []


def targets_text(report: Any) -> str:
    """A Supertonic run's latent targets, measured: the vocoder's audio of each against its clip."""
    if not isinstance(report, dict) or not report.get("clips"):
        return ""
    parts = [f"{report['clips']} clip(s) re-vocoded"]
    if isinstance(report.get("similarity"), (int, float)):
        parts.append(f"speaker similarity {report['similarity']:.3f}")
    if isinstance(report.get("wer"), (int, float)):
        parts.append(f"WER {report['wer'] * 100:.1f}%")
    if isinstance(report.get("loss"), (int, float)) and isinstance(report.get("start_loss"), (int, float)):
        parts.append(f"spectral distance {report['start_loss']:.3f} → {report['loss']:.3f}")
    if report.get("error"):
        parts.append(str(report["error"]))
    return ", ".join(parts)


def status_text(info: RunInfo, diverged: bool = False) -> str:
    st = info.status
    state = info.state
    parts = [f"**{state.capitalize()}** · {info.spec.name if info.spec else info.run_id}"]
    total, step = st.get("total_steps"), st.get("step") or 0
    if total:
        parts.append(f"step {step}/{total} ({step / total:.0%})")
    if st.get("epoch") is not None:
        parts.append(f"epoch {st['epoch']:.2f}")
    if st.get("phase") and st.get("phases"):
        name = f" ({st['phase_name']})" if st.get("phase_name") else ""
        parts.append(f"phase {st['phase']}/{st['phases']}{name}, its step {st.get('phase_step', 0)}")
    eta = st.get("eta_s")
    if state == "running" and isinstance(eta, (int, float)) and eta > 0:
        parts.append(f"ETA {clock(eta)}")
    if isinstance(st.get("elapsed"), (int, float)):
        parts.append(f"trained {clock(st['elapsed'])}")
    if isinstance(st.get("train_loss"), (int, float)):
        parts.append(f"loss {st['train_loss']:.4f}")
    if isinstance(st.get("best_eval"), (int, float)):
        parts.append(f"best val. {st['best_eval']:.4f} (step {st.get('best_step')})")
    text = " · ".join(parts)
    spent = timing_text(st.get("timing"))
    if spent:
        text += f"\n\nTime: {spent}"
    for label, line in (
        ("Evaluation", evaluation_text(st.get("evaluation"))),
        ("Base model (before training)", evaluation_text(st.get("evaluation_base"))),
        ("Latent targets", targets_text(st.get("targets"))),  # a Supertonic run's, measured
    ):
        if line:
            text += f"\n\n{label}: {line}"
    if st.get("message") and state not in ("failed",):
        text += f"\n\n{st['message']}"
    if diverged:
        text += "\n\n⚠️ **Loss diverged** (NaN or infinity): lower the learning rate or use fp32/bf16."
    if state == "failed":
        text += f"\n\n**Why it failed:** {st.get('error') or 'see the log below'}"
    if state == "interrupted":
        text += (
            "\n\nThe training process ended without a word (machine restart, kill). "
            "Resume continues from the last checkpoint."
        )
    return text


def show_run(ctx: AppContext, run_id: str | None, seen: int) -> tuple[Any, ...]:
    """(status, loss plot, lr plot, log, seen): plots are sent only when new metric rows arrived."""
    if not run_id:
        return "No run selected.", gr.update(), gr.update(), gr.update(visible=False), seen
    try:
        info = ctx.finetune.get(run_id)
    except InvalidInput:
        return "That run is gone (deleted?).", gr.update(), gr.update(), gr.update(visible=False), seen
    loss, lr, count = plots(ctx, run_id, phase_names(info.spec))
    reader = ctx.finetune.metrics_reader(run_id)  # the one `plots` just polled
    failed = info.state in ("failed", "interrupted")
    log = gr.update(value=info.files.log_tail(40), visible=failed)
    if count == seen:
        return status_text(info, reader.diverged), gr.update(), gr.update(), log, seen
    return status_text(info, reader.diverged), loss, lr, log, count


def start_run(ctx: AppContext, spec: TrainSpec) -> tuple[Any, str]:
    info = ctx.finetune.start(spec)
    return gr.update(choices=run_choices(ctx), value=info.run_id), f"Started **{spec.name}** ({info.run_id})."


def stop_run(ctx: AppContext, run_id: str | None) -> str:
    if not run_id:
        raise InvalidInput("Select the run to stop.")
    ctx.finetune.stop(run_id, wait=False)
    return "Stopping: the trainer saves a checkpoint, then exits (forced after a grace period)."


def resume_run(ctx: AppContext, run_id: str | None) -> tuple[Any, str]:
    if not run_id:
        raise InvalidInput("Select the run to resume.")
    info = ctx.finetune.resume(run_id)
    return gr.update(choices=run_choices(ctx), value=info.run_id), f"Resumed {info.run_id}."


# ---- experiments --------------------------------------------------------------------------------------------------
def add_experiment(batch: list[dict[str, Any]] | None, spec: TrainSpec) -> tuple[list[dict[str, Any]], str]:
    batch = list(batch or [])
    if any(b["name"] == spec.name for b in batch):
        raise InvalidInput(f"The batch already has a configuration named {spec.name!r}; give this one another name.")
    batch.append(spec.to_json())
    return batch, batch_text(batch)


def batch_text(batch: list[dict[str, Any]]) -> str:
    if not batch:
        return "No configurations queued. Set the form, then **Add to batch**."
    lines = ["| # | Name | Rank | Targets | Epochs | LR |", "|---|---|---|---|---|---|"]
    for i, b in enumerate(batch, 1):
        lo, tr = b["lora"], b["trainer"]
        lines.append(
            f"| {i} | {b['name']} | {lo['r']} | {', '.join(lo['target_modules'])} | {tr['epochs']} | "
            f"{tr['learning_rate']:g} |"
        )
    return "\n".join(lines)


def run_batch(ctx: AppContext, batch: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], str, Any, Any]:
    specs = [TrainSpec.from_json(b) for b in batch or []]
    started = ctx.finetune.queue_experiments(specs)
    return (
        [],
        f"Batch **{started.id}**: {len(specs)} runs queued; they train one after another.",
        gr.update(choices=ctx.finetune.experiment_ids(), value=started.id),
        gr.update(choices=run_choices(ctx), value=started.run_ids[0]),
    )


def comparison(ctx: AppContext, batch_id: str | None) -> pd.DataFrame:
    headers, rows = ctx.finetune.comparison(batch_id) if batch_id else (COMPARISON_HEADERS, [])
    return pd.DataFrame(rows, columns=headers)


# ---- result -----------------------------------------------------------------------------------------------------
def use_in_synthesize(ctx: AppContext, run_id: str | None, name: str) -> str:
    if not run_id:
        raise InvalidInput("Select a finished run.")
    voice = ctx.finetune.use_as_voice(run_id, name.strip())
    engine = voice.engine  # the engine of the run's model family (KaniTTS, Qwen3-TTS, ...)
    ctx.registry.forget(engine)
    status = ctx.registry.available(engine)
    label = ctx.registry.info(engine).label
    where = f"Pick **{label}** in the Synthesize tab." if status.ok else f"{label}: {status.message}"
    return f"Voice **{voice.name}** added to the library ({voice.folder}). {where}"


def export_run(ctx: AppContext, run_id: str | None, merged: bool, session: str) -> tuple[str, list[str]]:
    """ZIPs of the adapter (and the merged model) in this user's output folder, ready to download."""
    if not run_id:
        raise InvalidInput("Select a finished run.")
    out = ctx.output_dir(session)
    folders = [ctx.finetune.export_adapter(run_id, out)]
    if merged:
        folders.append(ctx.finetune.export_merged(run_id, out))
    zips = [shutil.make_archive(str(f), "zip", root_dir=f) for f in folders]
    return "Exported: " + ", ".join(Path(z).name for z in zips), zips


def push_run(
    ctx: AppContext, run_id: str | None, merged: bool, repo: str, token: str, session: str, evaluation: bool = False
) -> str:
    """Push the adapter (or the merged model); with `evaluation`, the run's evaluation too, as a dataset of the same
    name (its sentences, speakers, audio and scores)."""
    if not run_id:
        raise InvalidInput("Select a finished run.")
    if not (token or "").strip():
        raise InvalidInput("Paste a Hugging Face access token with write permission to push.")
    out = ctx.output_dir(session)
    if evaluation:  # checked before anything is pushed: a run without a scored evaluation says so first
        ctx.finetune.evaluation_dataset(run_id, out)
    folder = ctx.finetune.export_merged(run_id, out) if merged else ctx.finetune.export_adapter(run_id, out)
    url = ctx.finetune.push_to_hub(folder, repo.strip(), token)
    if not evaluation:
        return f"Pushed to {url}"
    data = ctx.finetune.push_evaluation(run_id, out, repo.strip(), token)
    return f"Pushed to {url}; the evaluation to {data}"
