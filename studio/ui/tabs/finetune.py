"""Fine-tune tab: build a dataset, train a LoRA in a separate process with live loss plots, stop/resume, run
experiments side by side, and turn the result into a voice."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from studio.clock import clock
from studio.errors import InvalidInput
from studio.finetune import dataset as ds
from studio.finetune.metrics import EVAL_LOSS, LR, TRAIN_LOSS, downsample
from studio.finetune.runs import RunInfo
from studio.finetune.service import COMPARISON_HEADERS
from studio.finetune.spec import (
    DEFAULT_BASE_MODEL,
    KNOWN_TARGET_MODULES,
    PRECISIONS,
    PRESETS,
    QWEN3_BASE_MODEL,
    QWEN3_TARGET_MODULES,
    SCHEDULERS,
    TrainSpec,
)
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.users import per_user

JOB = "dataset"
TICK_SECONDS = 1.0
PLOT_POINTS = 400

# Advanced settings, in the order of the handlers' arguments
ADVANCED = (
    "r",
    "alpha",
    "dropout",
    "targets",
    "rslora",
    "epochs",
    "batch",
    "accum",
    "lr",
    "scheduler",
    "warmup",
    "decay",
    "precision",
    "max_steps",
    "eval_steps",
    "save_steps",
    "keep",
    "seed",
    "max_audio",
    "backend",
    "qwen_mode",
    "qwen_last",
    "qwen_add",
    "qwen_cp",
    "qwen_reinit",
)
BACKEND_CHOICES = [("KaniTTS (LFM2 + NanoCodec)", "kani"), ("Qwen3-TTS (12 Hz codec)", "qwen3_tts")]
QWEN3_MODES = [("LoRA", "lora"), ("Full fine-tuning", "full"), ("Last layers only", "last_layers")]
QWEN3_DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def backend_updates(backend: str) -> tuple[Any, Any, Any]:
    """Switching the model family: its default base model, its LoRA target names, and its own options shown."""
    if backend == "qwen3_tts":
        return (gr.update(value=QWEN3_BASE_MODEL), gr.update(choices=list(QWEN3_TARGET_MODULES),
                value=QWEN3_DEFAULT_TARGETS), gr.update(visible=True))  # fmt: skip
    kani = PRESETS["balanced"].lora.target_modules
    return (gr.update(value=DEFAULT_BASE_MODEL), gr.update(choices=list(KNOWN_TARGET_MODULES), value=list(kani)),
            gr.update(visible=False))  # fmt: skip


# ---- dataset ----------------------------------------------------------------------------------------------------
def _paths(files: Any) -> list[Path]:
    out = []
    for f in files or []:
        path = f if isinstance(f, str) else getattr(f, "path", None) or getattr(f, "name", None)
        if path:
            out.append(Path(path))
    return out


def _stage_uploads(paths: list[Path], staging: Path) -> list[Path]:
    """Gradio keeps each uploaded file in a folder of its own; side by side again, `clip.txt` finds `clip.wav` and
    metadata.csv finds the files it names."""
    if not paths:
        return []
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for path in paths:
        target = staging / path.name
        n = 1
        while target.exists():  # two uploads with one name: keep both
            target = staging / f"{path.stem}-{n}{path.suffix}"
            n += 1
        shutil.copy2(path, target)
    return [staging]


def build_dataset(
    ctx: AppContext,
    files: Any,
    folder_text: str | None,
    name: str,
    speaker: str,
    check: bool,
    session: str,
    progress: gr.Progress | None = None,
) -> tuple[ds.DatasetDraft, list[list[Any]], str]:
    """Uploaded files / a ZIP / a local folder -> a draft dataset shown in the review table."""
    folder = ctx.finetune.dataset_folder(name or "my-voice")
    inputs = _stage_uploads(_paths(files), folder.parent / f".uploads-{folder.name}")
    if folder_text and folder_text.strip():
        if ctx.settings.hosted:
            raise InvalidInput("Pointing at a folder works only when Studio runs on your own computer; upload files.")
        local = Path(folder_text.strip()).expanduser()
        if not local.is_dir():
            raise InvalidInput(f"{local} is not a folder on this computer.")
        inputs.append(local)
    if not inputs:
        raise InvalidInput("Upload audio files or a ZIP (or give a folder) to build a dataset from.")
    flag = ctx.cancel_flag(session, JOB)

    def on_progress(done: int, total: int, message: str) -> None:
        if progress is not None:
            progress(done / max(total, 1), desc=message)

    try:
        draft = ds.build_dataset(
            inputs,
            folder,
            speaker=(speaker or "speaker").strip(),
            check_with_whisper=bool(check),
            on_progress=on_progress,
            cancel=flag,
        )
    finally:  # the uploads were copied side by side only for the build (Studio's own folder)
        shutil.rmtree(folder.parent / f".uploads-{folder.name}", ignore_errors=True)
    return draft, ds.review_rows(draft), dataset_summary(draft)


def dataset_summary(draft: ds.DatasetDraft, val_fraction: float = 0.1) -> str:
    text = ds.summarize(draft, val_fraction).text()
    if draft.problems:
        shown = "\n".join(f"- {p}" for p in draft.problems[:12])
        more = f"\n- … and {len(draft.problems) - 12} more" if len(draft.problems) > 12 else ""
        text += f"\n\n**Not used:**\n{shown}{more}"
    return text


def apply_edits(draft: ds.DatasetDraft | None, rows: Any, val_fraction: float) -> tuple[ds.DatasetDraft, str]:
    if draft is None:
        raise InvalidInput("Build a dataset first.")
    updated = ds.apply_review(draft, rows)
    return updated, dataset_summary(updated, val_fraction)


def save_dataset(
    ctx: AppContext, draft: ds.DatasetDraft | None, rows: Any, val_fraction: float
) -> tuple[ds.DatasetDraft, str, Any]:
    """Apply the table's edits, save manifest.jsonl, and say whether it still needs codec tokens."""
    if draft is None:
        raise InvalidInput("Build a dataset first.")
    if rows is not None:
        draft = ds.apply_review(draft, rows)
    manifest = ds.save_dataset(draft, val_fraction=float(val_fraction))
    from studio.systems.kani.engine import nemo_installed

    note = f"Saved **{manifest.parent.name}** ({manifest}). "
    note += (
        "Next, for KaniTTS: **Encode** it with NanoCodec, then train."
        if nemo_installed()
        else "KaniTTS training needs NanoCodec tokens: encoding needs NVIDIA NeMo (pip install 'studio-voice[nemo]'), "
        "or train on a dataset already tokenized with NanoCodec (nano_layer_1..4 columns)."
    )
    note += " Qwen3-TTS trains on it directly (its own speech tokenizer encodes it when the first run starts)."
    return draft, note, gr.update(choices=dataset_choices(ctx), value=str(manifest.parent))


def encode_dataset(ctx: AppContext, dataset: str | None, device: str) -> str:
    if not dataset or dataset == demo_paths(ctx)[0]:
        raise InvalidInput("Choose a saved dataset to encode.")
    out = ctx.finetune.encode(Path(dataset), device=device)
    return f"{out}. The dataset is ready to train."


def play_clip(draft: ds.DatasetDraft | None, evt: gr.SelectData) -> Any:
    """Clicking a row of the review table plays that clip (as samples: the dataset folder is not served)."""
    from studio.audio.io import read_audio

    if draft is None:
        return None
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if not isinstance(row, int) or not 0 <= row < len(draft.clips):
        return None
    samples, rate = read_audio(draft.folder / draft.clips[row].audio)
    return rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16)


# ---- training settings ------------------------------------------------------------------------------------------
def demo_paths(ctx: AppContext) -> tuple[str, str]:
    """(dataset, base model) of the demo: synthetic codec tokens and a tiny LFM2 the trainer builds on first use."""
    from studio.finetune.service import DEMO_DATASET, DEMO_MODEL

    return str(ctx.settings.datasets_dir / DEMO_DATASET), str(ctx.settings.cache_dir / DEMO_MODEL)


def dataset_choices(ctx: AppContext) -> list[tuple[str, str]]:
    demo, _ = demo_paths(ctx)
    choices = [(d.label, str(d.folder)) for d in ctx.finetune.datasets() if str(d.folder) != demo]
    return [*choices, ("Demo: synthetic codec tokens (pairs with the demo model)", demo)]


def preset_values(preset: str) -> list[Any]:
    """The advanced panel's values for a preset (ADVANCED's order, up to the model family's own options)."""
    p = PRESETS[preset]
    lo, tr = p.lora, p.trainer
    return [
        lo.r,
        lo.alpha,
        lo.dropout,
        list(lo.target_modules),
        lo.use_rslora,
        tr.epochs,
        tr.batch_size,
        tr.grad_accum,
        tr.learning_rate,
        tr.scheduler,
        tr.warmup_ratio,
        tr.weight_decay,
        tr.precision,
        tr.max_steps,
        tr.eval_steps,
        tr.save_steps,
        tr.keep_checkpoints,
        tr.seed,
        tr.max_audio_seconds,
    ]


def make_spec(
    ctx: AppContext,
    preset: str,
    name: str,
    dataset: str | None,
    base_model: str,
    device: str,
    speaker: str,
    *advanced: Any,
) -> TrainSpec:
    """The form as a validated spec; the demo dataset/model pair gets the demo's own settings."""
    if len(advanced) > len(ADVANCED):
        raise InvalidInput(f"The form sent {len(advanced)} settings; expected at most {len(ADVANCED)}.")
    values = dict(zip(ADVANCED, advanced, strict=False))  # the model family's own options may be left out
    if not dataset:
        raise InvalidInput("Choose a dataset (build one above, or pick the demo).")
    demo_dataset, demo_base = demo_paths(ctx)
    if (dataset == demo_dataset) != (base_model.strip() == demo_base):
        raise InvalidInput(
            "The demo dataset has synthetic tokens for the demo model only: choose both (Try the demo), or neither."
        )
    if dataset == demo_dataset:
        spec = ctx.finetune.demo_spec(name=name.strip() or "demo", device=device)
    else:
        backend = str(values.get("backend") or "kani")
        qwen3: dict[str, Any] = {}
        if backend == "qwen3_tts":
            try:
                qwen3 = {
                    "mode": str(values["qwen_mode"] or "lora"),
                    "last_layers": int(values["qwen_last"] or 0),
                    "add_layers": int(values["qwen_add"] or 0),
                    "train_code_predictor": bool(values["qwen_cp"]),
                    "reinit_last": bool(values.get("qwen_reinit")),
                }
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"A Qwen3-TTS layer count is not a whole number: {exc}.") from exc
        spec = ctx.finetune.spec(
            preset, name, dataset, base_model, device=device, speaker=(speaker or "").strip() or None,
            backend=backend, qwen3=qwen3,
        )  # fmt: skip
        lo, tr = spec.lora, spec.trainer
        try:
            lo.r, lo.alpha, lo.dropout = int(values["r"]), int(values["alpha"]), float(values["dropout"])
            lo.target_modules, lo.use_rslora = list(values["targets"] or []), bool(values["rslora"])
            tr.epochs, tr.batch_size, tr.grad_accum = (
                float(values["epochs"]),
                int(values["batch"]),
                int(values["accum"]),
            )
            tr.learning_rate, tr.scheduler = float(values["lr"]), str(values["scheduler"])
            tr.warmup_ratio, tr.weight_decay = float(values["warmup"]), float(values["decay"])
            tr.precision, tr.max_steps = str(values["precision"]), int(values["max_steps"] or 0)
            tr.eval_steps, tr.save_steps = int(values["eval_steps"] or 0), int(values["save_steps"] or 0)
            tr.keep_checkpoints, tr.seed = int(values["keep"]), int(values["seed"] or 0)
            tr.max_audio_seconds = float(values["max_audio"])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"A setting is not a number: {exc}.") from exc
    return spec.validate()


def gpu_count() -> int:
    """NVIDIA GPUs the driver lists (no torch import in the app)."""
    root = Path("/proc/driver/nvidia/gpus")
    return len(list(root.iterdir())) if root.is_dir() else 0


def device_choices() -> list[tuple[str, str]]:
    n = gpu_count()
    choices = [("CPU", "cpu")]
    if n:
        choices.append(("GPU 0", "cuda:0"))
    if n > 1:
        choices.append((f"All {n} GPUs (accelerate launch)", "cuda:" + ",".join(str(i) for i in range(n))))
    return choices


# ---- runs, plots and progress -----------------------------------------------------------------------------------
def run_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(r.label(), r.run_id) for r in ctx.finetune.all()]


def plots(ctx: AppContext, run_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Loss (train + validation) and learning-rate frames from the run's metrics, read incrementally."""
    loss = pd.DataFrame(columns=["step", "loss", "series"])
    lr = pd.DataFrame(columns=["step", "lr"])
    if not run_id:
        return loss, lr, 0
    reader = ctx.finetune.metrics(run_id)  # reads only what was appended since the last tick
    rows = reader.rows
    train = [(r["step"], r[TRAIN_LOSS], "train") for r in downsample(rows, TRAIN_LOSS, PLOT_POINTS)]
    val = [(r["step"], r[EVAL_LOSS], "validation") for r in downsample(rows, EVAL_LOSS, PLOT_POINTS)]
    if train or val:
        loss = pd.DataFrame(train + val, columns=["step", "loss", "series"])
    rates = [(r["step"], r[LR]) for r in downsample(rows, LR, PLOT_POINTS)]
    if rates:
        lr = pd.DataFrame(rates, columns=["step", "lr"])
    return loss, lr, len(rows) + reader.offset


def status_text(info: RunInfo, diverged: bool = False) -> str:
    st = info.status
    state = info.state
    parts = [f"**{state.capitalize()}** · {info.spec.name if info.spec else info.run_id}"]
    total, step = st.get("total_steps"), st.get("step") or 0
    if total:
        parts.append(f"step {step}/{total} ({step / total:.0%})")
    if st.get("epoch") is not None:
        parts.append(f"epoch {st['epoch']:.2f}")
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
    loss, lr, count = plots(ctx, run_id)
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
    ctx.registry.forget("kani")
    status = ctx.registry.available("kani")
    where = "Pick **KaniTTS (fine-tuned)** in the Synthesize tab." if status.ok else f"Note: {status.message}"
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


def push_run(ctx: AppContext, run_id: str | None, merged: bool, repo: str, token: str, session: str) -> str:
    if not run_id:
        raise InvalidInput("Select a finished run.")
    if not (token or "").strip():
        raise InvalidInput("Paste a Hugging Face access token with write permission to push.")
    out = ctx.output_dir(session)
    folder = ctx.finetune.export_merged(run_id, out) if merged else ctx.finetune.export_adapter(run_id, out)
    url = ctx.finetune.push_to_hub(folder, repo.strip(), token)
    return f"Pushed to {url}"


# ---- layout ---------------------------------------------------------------------------------------------------------
def build(ctx: AppContext, demo: gr.Blocks) -> None:
    service = ctx.finetune
    runs = run_choices(ctx)
    with gr.Accordion("1 · Dataset: your recordings and their transcripts", open=False):
        gr.Markdown(
            "Upload audio files or a ZIP. Transcripts come from a `metadata.csv` (`file|text`), `.txt` files beside "
            "the audio, or automatic transcription. Long recordings are cut at pauses into 2-12 s clips."
        )
        with gr.Row():
            with gr.Column(scale=2):
                files = gr.File(label="Audio files, ZIP, metadata.csv, .txt", file_count="multiple",
                                elem_id="ft-files")  # fmt: skip
                folder = gr.Textbox(label="…or a folder on this computer", visible=not ctx.settings.hosted,
                                    elem_id="ft-folder")  # fmt: skip
            with gr.Column(scale=1):
                ds_name = gr.Textbox("my-voice", label="Dataset name", elem_id="ft-ds-name")
                speaker = gr.Textbox("speaker", label="Speaker name", elem_id="ft-speaker")
                check = gr.Checkbox(False, label="Check transcripts with speech recognition", elem_id="ft-check")
                with gr.Row():
                    build_btn = gr.Button("Build dataset", variant="primary", elem_id="ft-build")
                    cancel_btn = gr.Button("Cancel", variant="stop", elem_id="ft-build-cancel")
        ds_summary = gr.Markdown("", elem_id="ft-ds-summary")
        review = gr.Dataframe(
            headers=ds.REVIEW_COLUMNS,
            datatype=["str", "number", "str", "str", "str", "bool", "str"],
            interactive=True,
            label="Review: edit transcripts, tick drop; click a row to listen",
            elem_id="ft-review",
        )
        clip_audio = gr.Audio(label="Clip", interactive=False, elem_id="ft-clip")
        with gr.Row():
            val = gr.Slider(0.0, 0.3, value=0.1, step=0.05, label="Validation share", elem_id="ft-val")
            apply_btn = gr.Button("Apply edits", elem_id="ft-apply")
            save_btn = gr.Button("Save dataset", variant="primary", elem_id="ft-save")
            encode_btn = gr.Button("Encode (NanoCodec)", elem_id="ft-encode")
        ds_note = gr.Markdown("", elem_id="ft-ds-note")
    draft = gr.State(None)

    gr.Markdown("### 2 · Train")
    with gr.Row():
        with gr.Column(scale=2):
            family = gr.Radio(BACKEND_CHOICES, value="kani", label="Model family", elem_id="ft-backend")
            with gr.Row():
                dataset = gr.Dropdown(dataset_choices(ctx), value=None, label="Dataset", allow_custom_value=True,
                                      elem_id="ft-dataset")  # fmt: skip
                base = gr.Textbox(DEFAULT_BASE_MODEL, label="Base model (Hub id or folder)", elem_id="ft-base")
            with gr.Row():
                run_name = gr.Textbox("my-voice", label="Run name", elem_id="ft-name")
                device = gr.Dropdown(device_choices(), value="cpu", label="Device", elem_id="ft-device")
                prefix = gr.Textbox("", label="Speaker prefix (multi-speaker base)", elem_id="ft-prefix")
            preset = gr.Radio([(p.name.capitalize(), p.name) for p in PRESETS.values()], value="balanced",
                              label="Preset", elem_id="ft-preset")  # fmt: skip
            preset_note = gr.Markdown(PRESETS["balanced"].description, elem_id="ft-preset-note")
            values = preset_values("balanced")
            with gr.Accordion("Advanced settings", open=False):
                with gr.Row():
                    r = gr.Number(values[0], label="LoRA rank (r)", precision=0)
                    alpha = gr.Number(values[1], label="LoRA alpha", precision=0)
                    dropout = gr.Number(values[2], label="LoRA dropout")
                    rslora = gr.Checkbox(values[4], label="rsLoRA")
                targets = gr.CheckboxGroup(list(KNOWN_TARGET_MODULES), value=values[3], label="Target modules")
                with gr.Row():
                    epochs = gr.Number(values[5], label="Epochs")
                    batch_size = gr.Number(values[6], label="Batch size", precision=0)
                    accum = gr.Number(values[7], label="Gradient accumulation", precision=0)
                    lr = gr.Number(values[8], label="Learning rate")
                with gr.Row():
                    scheduler = gr.Dropdown(list(SCHEDULERS), value=values[9], label="Scheduler")
                    warmup = gr.Number(values[10], label="Warmup ratio")
                    decay = gr.Number(values[11], label="Weight decay")
                    precision = gr.Dropdown(list(PRECISIONS), value=values[12], label="Precision")
                with gr.Row():
                    max_steps = gr.Number(values[13], label="Max steps (0 = by epochs)", precision=0)
                    eval_steps = gr.Number(values[14], label="Evaluate every (0 = auto)", precision=0)
                    save_steps = gr.Number(values[15], label="Checkpoint every (0 = auto)", precision=0)
                    keep = gr.Number(values[16], label="Checkpoints kept", precision=0)
                with gr.Row():
                    seed = gr.Number(values[17], label="Seed", precision=0)
                    max_audio = gr.Number(values[18], label="Skip clips longer than (s)")
                with gr.Row(visible=False) as qwen_row:
                    qwen_mode = gr.Radio(QWEN3_MODES, value="lora", label="Qwen3-TTS: what to train",
                                         elem_id="ft-qwen-mode")  # fmt: skip
                    qwen_last = gr.Number(0, label="Last layers to train (freeze the rest)", precision=0)
                    qwen_add = gr.Number(0, label="New layers to add on top", precision=0)
                    qwen_cp = gr.Checkbox(True, label="Train the code predictor too")
                    qwen_reinit = gr.Checkbox(False, label="Replace the last layers (start them afresh)")
            advanced = [r, alpha, dropout, targets, rslora, epochs, batch_size, accum, lr, scheduler, warmup, decay,
                        precision, max_steps, eval_steps, save_steps, keep, seed, max_audio, family, qwen_mode,
                        qwen_last, qwen_add, qwen_cp, qwen_reinit]  # fmt: skip
            with gr.Row():
                start_btn = gr.Button("Start", variant="primary", elem_id="ft-start")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="ft-stop")
                resume_btn = gr.Button("Resume", elem_id="ft-resume")
                demo_btn = gr.Button("Try the demo (tiny model, CPU, ~1 min)", elem_id="ft-demo")
            action_note = gr.Markdown("", elem_id="ft-action")
        with gr.Column(scale=3):
            with gr.Row():
                run_pick = gr.Dropdown(runs, value=runs[0][1] if runs else None, label="Runs", elem_id="ft-runs")
                refresh_btn = gr.Button("↻", scale=0, elem_id="ft-refresh")
            run_status = gr.Markdown("No run selected.", elem_id="ft-status")
            with gr.Row():
                loss_plot = gr.LinePlot(x="step", y="loss", color="series", title="Loss", x_title="Step",
                                        y_title="Loss", elem_id="ft-loss-plot")  # fmt: skip
                lr_plot = gr.LinePlot(x="step", y="lr", title="Learning rate", x_title="Step", y_title="LR",
                                      elem_id="ft-lr-plot")  # fmt: skip
            log_box = gr.Textbox(label="End of train.log", lines=10, visible=False, elem_id="ft-log")
    seen = gr.State(-1)
    timer = gr.Timer(TICK_SECONDS)

    gr.Markdown("### 3 · Experiments: several configurations, one after another, compared")
    batch = gr.State([])
    with gr.Row():
        add_btn = gr.Button("Add the form to the batch", elem_id="ft-add")
        batch_btn = gr.Button("Run batch", variant="primary", elem_id="ft-batch")
    batch_view = gr.Markdown(batch_text([]), elem_id="ft-batch-view")
    ids = service.experiment_ids()
    with gr.Row():
        exp_pick = gr.Dropdown(ids, value=ids[0] if ids else None, label="Experiment batch", elem_id="ft-exp")
        compare_btn = gr.Button("Compare", scale=0, elem_id="ft-compare")
    compare_table = gr.Dataframe(comparison(ctx, ids[0] if ids else None), interactive=False,
                                 elem_id="ft-compare-table")  # fmt: skip

    gr.Markdown("### 4 · Result: use it as a voice, export, share")
    with gr.Row():
        voice_name = gr.Textbox("", label="Voice name", placeholder="My voice", elem_id="ft-voice-name")
        use_btn = gr.Button("Use in Synthesize", variant="primary", elem_id="ft-use")
    with gr.Row():
        merged = gr.Checkbox(False, label="Also merge into the base model (full-size model)", elem_id="ft-merged")
        export_btn = gr.Button("Export", elem_id="ft-export")
    with gr.Row():
        repo = gr.Textbox("", label="Hub repository (you/my-voice)", elem_id="ft-repo")
        token = gr.Textbox("", label="Hugging Face token (write)", type="password", elem_id="ft-token")
        push_btn = gr.Button("Push to Hub", elem_id="ft-push")
    result_note = gr.Markdown("", elem_id="ft-result")
    exported = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="ft-exported")

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    # dataset
    @ui_errors
    def _build(u: AppContext, f: Any, fo: str, n: str, sp: str, c: bool, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008  # fmt: skip
        return build_dataset(u, f, fo, n, sp, c, _session(request), progress)

    build_btn.click(per_user(ctx, _build), [files, folder, ds_name, speaker, check], [draft, review, ds_summary],
                    concurrency_id="dataset", concurrency_limit=1)  # fmt: skip

    def _cancel(u: AppContext, request: gr.Request) -> str:
        if u.cancel(_session(request), JOB):
            return "Cancelling after the current file…"
        return "Nothing is being built."

    cancel_btn.click(per_user(ctx, _cancel), None, ds_note, queue=False)
    apply_btn.click(ui_errors(apply_edits), [draft, review, val], [draft, ds_summary])
    saved = gr.State(None)

    @ui_errors
    def _save(u: AppContext, d: ds.DatasetDraft | None, rows: Any, v: float) -> tuple[Any, str, str]:
        updated, note, pick = save_dataset(u, d, rows, v)
        return updated, note, pick["value"]

    # the dataset list changes only after a successful save (a failed save leaves the Train form untouched)
    save_btn.click(per_user(ctx, _save), [draft, review, val], [draft, ds_note, saved]).success(
        per_user(ctx, lambda u, folder: gr.update(choices=dataset_choices(u), value=folder)), saved, dataset
    )
    encode_btn.click(ui_errors(per_user(ctx, encode_dataset)), [dataset, device], ds_note)
    review.select(ui_errors(play_clip), [draft], clip_audio)

    # presets
    def _preset(p: str, fam: str) -> list[Any]:
        values = preset_values(p)
        if fam == "qwen3_tts":
            values[3] = gr.update()  # the family's own LoRA target names stay
        return [PRESETS[p].description, *values]

    preset.change(_preset, [preset, family], [preset_note, *advanced[: len(preset_values("quick"))]], queue=False)
    family.change(backend_updates, family, [base, targets, qwen_row], queue=False)

    # runs
    form = [preset, run_name, dataset, base, device, prefix, *advanced]

    @ui_errors
    def _start(u: AppContext, p: str, n: str, d: str, b: str, dev: str, sp: str, *adv: Any) -> tuple[Any, str, int]:
        pick, note = start_run(u, make_spec(u, p, n, d, b, dev, sp, *adv))
        return pick, note, -1

    start_btn.click(per_user(ctx, _start), form, [run_pick, action_note, seen], api_name="train_start")

    @ui_errors
    def _demo(u: AppContext, dev: str) -> tuple[Any, ...]:
        spec = u.finetune.demo_spec(name="demo", device=dev)
        pick, note = start_run(u, spec)
        demo_dataset, demo_base = demo_paths(u)
        note += " The demo trains a tiny model on synthetic tokens."
        return gr.update(choices=dataset_choices(u), value=demo_dataset), demo_base, "demo", pick, note, -1

    demo_btn.click(per_user(ctx, _demo), device, [dataset, base, run_name, run_pick, action_note, seen],
                   api_name="train_demo")  # fmt: skip
    stop_btn.click(ui_errors(per_user(ctx, stop_run)), run_pick, action_note, api_name="train_stop")

    @ui_errors
    def _resume(u: AppContext, rid: str | None) -> tuple[Any, str, int]:
        pick, note = resume_run(u, rid)
        return pick, note, -1

    resume_btn.click(per_user(ctx, _resume), run_pick, [run_pick, action_note, seen], api_name="train_resume")
    refresh_btn.click(per_user(ctx, lambda u: gr.update(choices=run_choices(u))), None, run_pick, queue=False,
                      api_name="runs")  # fmt: skip
    run_pick.change(lambda: -1, None, seen, queue=False)

    @ui_errors
    def _tick(u: AppContext, rid: str | None, s: int) -> tuple[Any, ...]:
        return show_run(u, rid, s)

    timer.tick(per_user(ctx, _tick), [run_pick, seen], [run_status, loss_plot, lr_plot, log_box, seen],
               show_progress="hidden")  # fmt: skip

    def _relabel(u: AppContext, listed: list[Any]) -> tuple[Any, list[Any]]:
        """Keep the runs list's states current (only sent when a state changed, so an open list is not reset)."""
        choices = run_choices(u)
        if choices == listed:
            return gr.update(), listed
        return gr.update(choices=choices), choices

    listed = gr.State(runs)
    timer.tick(per_user(ctx, _relabel), listed, [run_pick, listed], show_progress="hidden")

    def _mine(u: AppContext) -> tuple[Any, ...]:
        """This user's datasets, runs and experiments once the page is open (hosted: built with nobody's data)."""
        choices, experiments = run_choices(u), u.finetune.experiment_ids()
        return (
            gr.update(choices=dataset_choices(u)),
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            choices,
            gr.update(choices=experiments, value=experiments[0] if experiments else None),
        )

    demo.load(per_user(ctx, _mine), None, [dataset, run_pick, listed, exp_pick], queue=False,
              api_visibility="private")  # fmt: skip

    # experiments
    @ui_errors
    def _add(u: AppContext, b: list[dict[str, Any]], p: str, n: str, d: str, ba: str, dev: str, sp: str,
             *adv: Any) -> Any:  # fmt: skip
        return add_experiment(b, make_spec(u, p, n, d, ba, dev, sp, *adv))

    add_btn.click(per_user(ctx, _add), [batch, *form], [batch, batch_view])
    batch_btn.click(ui_errors(per_user(ctx, run_batch)), batch, [batch, batch_view, exp_pick, run_pick])
    compare_btn.click(ui_errors(per_user(ctx, comparison)), exp_pick, compare_table)
    exp_pick.change(ui_errors(per_user(ctx, comparison)), exp_pick, compare_table)

    # result
    use_btn.click(ui_errors(per_user(ctx, use_in_synthesize)), [run_pick, voice_name], result_note,
                  api_name="train_use_as_voice")  # fmt: skip

    @ui_errors
    def _export(u: AppContext, rid: str | None, m: bool, request: gr.Request) -> tuple[str, list[str]]:
        return export_run(u, rid, m, _session(request))

    export_btn.click(per_user(ctx, _export), [run_pick, merged], [result_note, exported], api_name="train_export")

    @ui_errors
    def _push(u: AppContext, rid: str | None, m: bool, rp: str, tk: str, request: gr.Request) -> str:
        return push_run(u, rid, m, rp, tk, _session(request))

    push_btn.click(per_user(ctx, _push), [run_pick, merged, repo, token], result_note)
