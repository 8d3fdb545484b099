"""The Fine-tune tab's dataset step: uploads (or a local folder) -> a draft dataset -> review edits -> saved
manifest -> NanoCodec tokens."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from studio.errors import InvalidInput
from studio.finetune.dataset import REVIEW_COLUMNS, DatasetDraft
from studio.finetune.service import FineTune
from studio.ui.context import AppContext
from studio.ui.tabs.finetune.form import dataset_choices, demo_paths

JOB = "dataset"


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
) -> tuple[DatasetDraft, list[list[Any]], str]:
    """Uploaded files / a ZIP / a local folder -> a draft dataset shown in the review table."""
    name = name or "my-voice"
    folder = ctx.finetune.dataset_folder(name)
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
        draft = ctx.finetune.build_dataset(
            inputs,
            name,
            speaker=(speaker or "speaker").strip(),
            check_with_whisper=bool(check),
            on_progress=on_progress,
            cancel=flag,
        )
    finally:  # the uploads were copied side by side only for the build (Studio's own folder)
        shutil.rmtree(folder.parent / f".uploads-{folder.name}", ignore_errors=True)
    return draft, FineTune.review_rows(draft), dataset_summary(draft)


def dataset_summary(draft: DatasetDraft, val_fraction: float = 0.1) -> str:
    return FineTune.dataset_summary(draft, val_fraction)


def apply_edits(draft: DatasetDraft | None, rows: Any, val_fraction: float) -> tuple[DatasetDraft, str]:
    if draft is None:
        raise InvalidInput("Build a dataset first.")
    updated = FineTune.apply_review(draft, rows)
    return updated, dataset_summary(updated, val_fraction)


def save_dataset(
    ctx: AppContext, draft: DatasetDraft | None, rows: Any, val_fraction: float
) -> tuple[DatasetDraft, str, Any]:
    """Apply the table's edits, save manifest.jsonl, and say whether it still needs codec tokens."""
    if draft is None:
        raise InvalidInput("Build a dataset first.")
    if rows is not None:
        draft = FineTune.apply_review(draft, rows)
    manifest, next_steps = ctx.finetune.save_dataset(draft, val_fraction=float(val_fraction))
    note = f"Saved **{manifest.parent.name}** ({manifest}). {next_steps}"
    return draft, note, gr.update(choices=dataset_choices(ctx), value=str(manifest.parent))


def encode_dataset(ctx: AppContext, dataset: str | None, device: str) -> str:
    if not dataset or dataset == demo_paths(ctx)[0]:
        raise InvalidInput("Choose a saved dataset to encode.")
    out = ctx.finetune.encode(Path(dataset), device=device)
    return f"{out}. The dataset is ready to train."


def play_clip(draft: DatasetDraft | None, evt: gr.SelectData) -> Any:
    """Clicking a row of the review table plays that clip (as samples: the dataset folder is not served)."""
    from studio.audio.io import read_audio

    if draft is None:
        return None
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if not isinstance(row, int) or not 0 <= row < len(draft.clips):
        return None
    samples, rate = read_audio(draft.folder / draft.clips[row].audio)
    return rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16)


# ---- layout and events -------------------------------------------------------------------------------------------
def build(ctx: AppContext, demo: gr.Blocks) -> Callable[[Any, Any], None]:
    """Step 1 of the tab. Returns the function that wires its events once the Train form exists: a saved dataset
    becomes the form's dataset (`train_dataset`), encoded on the form's `device`."""
    from studio.ui.errors import action, ui_errors
    from studio.ui.tables import edit_table
    from studio.ui.users import per_user

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
        review = edit_table(  # the transcript and the drop tick are typed in (studio.ui.tables)
            REVIEW_COLUMNS, widths=[130, 76, 380, 300, 120, 60, 180], editable=[2, 5],
            datatype=["str", "number", "str", "str", "str", "bool", "str"],
            label="Review: edit transcripts, tick drop; click a row to listen",
            elem_id="ft-review",
        )  # fmt: skip
        clip_audio = gr.Audio(label="Clip", interactive=False, elem_id="ft-clip")
        with gr.Row():
            val = gr.Slider(0.0, 0.3, value=0.1, step=0.05, label="Validation share", elem_id="ft-val")
            apply_btn = gr.Button("Apply edits", elem_id="ft-apply")
            save_btn = gr.Button("Save dataset", variant="primary", elem_id="ft-save")
            encode_btn = gr.Button("Encode (NanoCodec)", elem_id="ft-encode")
        ds_note = gr.Markdown("", elem_id="ft-ds-note")
    draft = gr.State(None)

    def wire(train_dataset: Any, device: Any) -> None:

        def _session(request: gr.Request | None) -> str:
            return getattr(request, "session_hash", None) or "local"

        @ui_errors
        def dataset_build(
            u: AppContext, files: Any, folder: str, name: str, speaker: str, check: bool, request: gr.Request,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> tuple[Any, ...]:  # fmt: skip
            """Build a draft training dataset: recordings cut at pauses into 2-12 s clips, with their transcripts. The
            draft is this session's (dataset_apply_edits and dataset_save act on it).

            Args:
                files: audio files, a ZIP, a metadata.csv (`file|text`) or .txt transcripts beside the audio.
                folder: a folder on the server's computer instead (local Studio only).
                name: the dataset's name.
                speaker: the speaker's name.
                check: check the transcripts with speech recognition.

            Returns:
                the review table (clip, seconds, text, ...) and a summary.
            """
            return build_dataset(u, files, folder, name, speaker, check, _session(request), progress)

        # a failure says why beside the action and leaves every other output as it was (studio.ui.errors.action)
        action(demo, build_btn.click, per_user(ctx, dataset_build), [files, folder, ds_name, speaker, check],
               [draft, review, ds_summary], ds_summary, concurrency_id="dataset", concurrency_limit=1,
               api_name="dataset_build")  # fmt: skip

        def _cancel(u: AppContext, request: gr.Request) -> str:
            if u.cancel(_session(request), JOB):
                return "Cancelling after the current file…"
            return "Nothing is being built."

        cancel_btn.click(per_user(ctx, _cancel), None, ds_note, queue=False, api_visibility="private")

        @ui_errors
        def dataset_apply_edits(draft: DatasetDraft | None, review: Any, val_fraction: float) -> tuple[Any, str]:
            """Apply edits to this session's draft dataset (transcripts changed, clips dropped) and summarize it again.

            Args:
                review: the review table as dataset_build returned it, edited.
                val_fraction: share of the clips kept for validation (0 to 0.3).
            """
            return apply_edits(draft, review, val_fraction)

        action(demo, apply_btn.click, dataset_apply_edits, [draft, review, val], [draft, ds_summary], ds_summary,
               api_name="dataset_apply_edits")  # fmt: skip

        @ui_errors
        def dataset_save(
            u: AppContext, draft: DatasetDraft | None, review: Any, val_fraction: float
        ) -> tuple[Any, ...]:
            """Save this session's draft dataset (with the review table's edits) as a manifest, ready to train on.

            Args:
                review: the review table, edited or as it was built.
                val_fraction: share of the clips kept for validation (0 to 0.3).
            """
            return save_dataset(u, draft, review, val_fraction)

        # the Train form's dataset list changes only when the save succeeded (a failure leaves it as it was)
        action(demo, save_btn.click, per_user(ctx, dataset_save), [draft, review, val], [draft, ds_note, train_dataset],
               ds_note, api_name="dataset_save")  # fmt: skip

        @ui_errors
        def dataset_encode(u: AppContext, dataset: str | None, device: str) -> str:
            """Add NanoCodec tokens to a saved dataset (KaniTTS trains on them; needs NVIDIA NeMo).

            Args:
                dataset: the saved dataset's folder (dataset_save says it).
                device: "cpu" or "cuda:0".
            """
            return encode_dataset(u, dataset, device)

        action(demo, encode_btn.click, per_user(ctx, dataset_encode), [train_dataset, device], ds_note, ds_note,
               api_name="dataset_encode")  # fmt: skip
        action(demo, review.select, play_clip, [draft], clip_audio, api_visibility="private")

    return wire
