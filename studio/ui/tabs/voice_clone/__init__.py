"""Voice Clone tab: clone a reference recording, the voice library (preview, rename, delete, export, import), voice
mixing for Supertonic and voice design for Qwen3-TTS.

One module a concern: `cloning` (the clone form, the reference check and the clone run), `library` (the library's
table, preview, rename, delete, export, import, and mixes), `design` (a voice from a description, kept); this one
lays the tab out and wires its endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr
import pandas as pd

from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.voice_clone.cloning import (
    CLONE_JOB,
    CURVE_COLUMNS,
    METHODS,
    QWEN3_METHODS,
    build_clone,
    check_reference,
    clone,
    curve_frame,
    download_model,
    engine_state,
    method_updates,
    progress_text,
)
from studio.ui.tabs.voice_clone.design import build_design, design_keep, design_note, design_preview, design_ready
from studio.ui.tabs.voice_clone.library import (
    delete,
    engine_note,
    export,
    import_zip,
    library_frame,
    mix_choices,
    preview,
    refresh,
    rename,
    save_mix,
    voice_choices,
)
from studio.ui.users import per_user
from studio.voices.service import MIXABLE, PREVIEW_TEXT

__all__ = [
    "CLONE_JOB", "CURVE_COLUMNS", "METHODS", "MIX_SLOTS", "QWEN3_METHODS", "build", "build_clone", "build_design",
    "check_reference", "clone", "curve_frame", "delete", "design_keep", "design_note", "design_preview",
    "design_ready", "download_model", "engine_note", "engine_state", "export", "import_zip", "library_frame",
    "method_updates", "mix_choices", "preview", "progress_text", "refresh", "rename", "save_mix", "voice_choices",
]  # fmt: skip

MIX_SLOTS = 3


def build(ctx: AppContext, demo: gr.Blocks) -> None:
    parts = build_clone(ctx)
    gr.Markdown("### Voice library")
    table = gr.Dataframe(library_frame(ctx), interactive=False, elem_id="vc-library")
    choices = voice_choices(ctx)
    with gr.Row():
        pick = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Voice", elem_id="vc-pick")
        refresh_btn = gr.Button("↻", scale=0, elem_id="vc-refresh")
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(PREVIEW_TEXT, label="Preview text", elem_id="vc-preview-text")
            preview_btn = gr.Button("Preview", interactive=bool(choices), elem_id="vc-preview")
            audio = gr.Audio(label="Preview", interactive=False, elem_id="vc-audio")
        with gr.Column():
            new_name = gr.Textbox("", label="New name", elem_id="vc-new-name")
            rename_btn = gr.Button("Rename", interactive=bool(choices), elem_id="vc-rename")
            confirm = gr.Checkbox(False, label="Yes, delete it", elem_id="vc-confirm")
            delete_btn = gr.Button("Delete", variant="stop", interactive=bool(choices), elem_id="vc-delete")
        with gr.Column():
            export_btn = gr.Button("Export as ZIP", interactive=bool(choices), elem_id="vc-export")
            exported = gr.File(label="Exported voice", interactive=False, elem_id="vc-exported")
            upload = gr.File(label="Import a voice ZIP", file_types=[".zip"], elem_id="vc-import-file")
            import_btn = gr.Button("Import", elem_id="vc-import")
    note = gr.Markdown("", elem_id="vc-note")

    gr.Markdown("### Mix voices (Supertonic)")
    engine = gr.Radio(
        [(ctx.registry.info(e).label, e) for e in MIXABLE], value=MIXABLE[0], label="Model", elem_id="vc-mix-engine"
    )
    mix_note = gr.Markdown(engine_note(ctx, MIXABLE[0]), elem_id="vc-mix-note")
    first = mix_choices(ctx, MIXABLE[0])
    slots: list[Any] = []
    with gr.Row():
        for i in range(MIX_SLOTS):
            with gr.Column():
                default = first[i][1] if i < 2 and len(first) > i else None
                voice = gr.Dropdown(first, value=default, label=f"Voice {i + 1}", elem_id=f"vc-mix-voice-{i}")
                weight = gr.Slider(
                    0, 1, value=0.5 if default else 0.0, step=0.05, label="Weight", elem_id=f"vc-mix-weight-{i}"
                )
                slots += [voice, weight]
    with gr.Row():
        mix_name = gr.Textbox("", label="Name of the new voice", elem_id="vc-mix-name")
        mix_notes = gr.Textbox("", label="Notes (optional)", elem_id="vc-mix-notes")
        mix_btn = gr.Button("Save mix", variant="primary", interactive=ctx.registry.available(MIXABLE[0]).ok,
                            elem_id="vc-mix-save")  # fmt: skip

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    def _engine_change(u: AppContext, e: str) -> list[Any]:
        options = mix_choices(u, e)
        updates: list[Any] = [engine_note(u, e)]
        for i in range(MIX_SLOTS):
            default = options[i][1] if i < 2 and len(options) > i else None
            updates += [gr.update(choices=options, value=default), gr.update(value=0.5 if default else 0.0)]
        return updates

    action(demo, engine.change, per_user(ctx, _engine_change), engine, [mix_note, *slots], mix_note,
           api_visibility="private")  # fmt: skip

    # what cannot run is greyed out, and the page says why: Save mix while the model is missing (the note names it),
    # the library's actions while no voice is picked (the empty library says so)
    voice_actions = [preview_btn, rename_btn, delete_btn, export_btn]

    def _mix_ready(u: AppContext, e: str) -> Any:
        return gr.update(interactive=u.registry.available(e).ok)

    def _picked(voice_id: str | None) -> list[Any]:
        return [gr.update(interactive=bool(voice_id))] * len(voice_actions)

    for trigger in (engine.change, demo.load):
        trigger(per_user(ctx, _mix_ready), engine, mix_btn, queue=False, show_progress="hidden",
                api_visibility="private")  # fmt: skip
    pick.change(_picked, pick, voice_actions, queue=False, show_progress="hidden", api_visibility="private")

    @ui_errors
    def voice_mix(
        u: AppContext, engine: str, name: str, notes: str, voice_1: str | None, weight_1: float,
        voice_2: str | None, weight_2: float, voice_3: str | None, weight_3: float,
    ) -> tuple[Any, ...]:  # fmt: skip
        """Save a new voice mixed from up to three voices of one engine (Supertonic), weighted.

        Args:
            engine: the engine whose voices are mixed ("supertonic").
            name: the new voice's name.
            notes: free notes kept with the voice (optional).
            voice_1: first voice id (a built-in style or a library voice of that engine).
            weight_1: its weight, 0 to 1 (weights are normalized to sum to 1).
            voice_2: second voice id (optional).
            weight_2: its weight.
            voice_3: third voice id (optional).
            weight_3: its weight.
        """
        message = save_mix(u, engine, name, notes, voice_1, weight_1, voice_2, weight_2, voice_3, weight_3)
        frame, dropdown = refresh(u)
        return message, frame, dropdown, *_engine_change(u, engine)[1:]

    action(demo, mix_btn.click, per_user(ctx, voice_mix), [engine, mix_name, mix_notes, *slots],
           [mix_note, table, pick, *slots], mix_note, api_name="voice_mix")  # fmt: skip

    def voice_list(u: AppContext, keep: str | None) -> tuple[pd.DataFrame, Any]:
        """The voice library: every saved voice (cloned, mixed, imported, fine-tuned) with its engine and id.

        Args:
            keep: a voice id to keep selected in the page's picker (optional).
        """
        return refresh(u, keep)

    action(demo, refresh_btn.click, per_user(ctx, voice_list), pick, [table, pick], queue=False, api_name="voice_list")
    # this user's library and mixable voices once the page is open (hosted: the page is built with nobody's data)
    action(demo, demo.load, per_user(ctx, refresh), pick, [table, pick], queue=False, api_visibility="private")
    action(demo, demo.load, per_user(ctx, _engine_change), engine, [mix_note, *slots], mix_note, queue=False,
           api_visibility="private")  # fmt: skip

    @ui_errors
    def voice_preview(u: AppContext, voice_id: str | None, text: str) -> tuple[int, Any]:
        """Hear a library voice say a short text.

        Args:
            voice_id: the library voice's id (`voice_list`).
            text: what to say.
        """
        return preview(u, voice_id, text)

    action(demo, preview_btn.click, per_user(ctx, voice_preview), [pick, text], audio, concurrency_id="preview",
           concurrency_limit=PREVIEWS, api_name="voice_preview")  # fmt: skip

    @ui_errors
    def voice_rename(u: AppContext, voice_id: str | None, name: str) -> tuple[Any, ...]:
        """Rename a library voice.

        Args:
            voice_id: the voice's id.
            name: its new name.
        """
        message = rename(u, voice_id, name)
        return (message, *refresh(u, voice_id))

    action(demo, rename_btn.click, per_user(ctx, voice_rename), [pick, new_name], [note, table, pick], note,
           api_name="voice_rename")  # fmt: skip

    @ui_errors
    def voice_delete(u: AppContext, voice_id: str | None, confirm: bool) -> tuple[Any, ...]:
        """Delete a library voice.

        Args:
            voice_id: the voice's id.
            confirm: must be true: deleting cannot be undone.
        """
        message = delete(u, voice_id, confirm)
        return (message, *refresh(u), False)

    action(demo, delete_btn.click, per_user(ctx, voice_delete), [pick, confirm], [note, table, pick, confirm], note,
           api_name="voice_delete")  # fmt: skip

    @ui_errors
    def voice_export(u: AppContext, voice_id: str | None, request: gr.Request) -> tuple[str, str]:
        """Export a library voice as a ZIP file (voice_import takes it back, here or on another Studio).

        Args:
            voice_id: the voice's id.
        """
        return export(u, voice_id, _session(request))

    action(demo, export_btn.click, per_user(ctx, voice_export), pick, [note, exported], note, api_name="voice_export")

    @ui_errors
    def voice_import(u: AppContext, voice_zip: Any) -> tuple[Any, ...]:
        """Add a voice from a ZIP made by voice_export.

        Args:
            voice_zip: the ZIP file.
        """
        message = import_zip(u, voice_zip)
        return (message, *refresh(u))

    action(demo, import_btn.click, per_user(ctx, voice_import), upload, [note, table, pick], note,
           api_name="voice_import")  # fmt: skip

    parts["engine"].change(method_updates, parts["engine"], [parts["method"], parts["iterations"], parts["pace"]],
                           queue=False, api_visibility="private")  # fmt: skip
    # the picked model's own state: its name in the note, Clone only when it can run, Download where that fixes it
    form_state = [parts["status"], parts["start"], parts["download"]]
    for event in (parts["engine"].change, demo.load):
        action(demo, event, per_user(ctx, engine_state), parts["engine"], form_state, parts["status"], queue=False,
               api_visibility="private")  # fmt: skip

    @ui_errors
    def _download(u: AppContext, engine: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, Any]:  # noqa: B008
        return download_model(u, engine, progress)

    action(demo, parts["download"].click, per_user(ctx, _download), parts["engine"], form_state, parts["status"],
           concurrency_id="long_jobs", concurrency_limit=1, api_visibility="private")  # fmt: skip
    # a new recording is checked and transcribed for the form (voice_clone checks it again)
    action(demo, parts["ref"].change, per_user(ctx, check_reference), [parts["ref"], parts["engine"]],
           [parts["ref_note"], parts["transcript"]], parts["ref_note"], api_visibility="private")  # fmt: skip

    @ui_errors
    def voice_clone(
        u: AppContext, reference: Any, transcript: str, engine: str, method: str, iterations: float, name: str,
        consent: bool, match_pace: bool, request: gr.Request,
    ) -> Iterator[Any]:  # fmt: skip
        """Clone a voice from a recording and save it to the voice library. Progress streams as it goes.

        Args:
            reference: the recording: 3-30 s of one person speaking, little background noise.
            transcript: what the recording says (improves the likeness; Qwen3-TTS "icl" needs it).
            engine: "supertonic" (a style found by optimization) or "qwen3_tts" (when installed).
            method: Supertonic: "gradient" or "blend"; Qwen3-TTS: "icl" (with the transcript) or "xvector".
            iterations: Supertonic: at most this many optimization steps (it stops early).
            name: the new voice's name.
            consent: must be true: you have the speaker's permission to clone this voice.
            match_pace: Supertonic: match the recording's speaking pace (from its transcript).

        Returns:
            a status line, the similarity curve, a sample of the new voice, the library table and picker.
        """
        yield from clone(u, reference, transcript, engine, method, iterations, name, consent, _session(request),
                         bool(match_pace))  # fmt: skip

    action(
        demo,
        parts["start"].click,
        per_user(ctx, voice_clone),
        [parts[k] for k in ("ref", "transcript", "engine", "method", "iterations", "name", "consent", "pace")],
        [parts["status"], parts["curve"], parts["result"], table, pick],
        parts["status"],
        api_name="voice_clone",
    )

    def _cancel(u: AppContext, request: gr.Request) -> str:
        if u.cancel(_session(request), CLONE_JOB):
            return "Cancelling: the best style so far will be saved…"
        return "Nothing to cancel."

    parts["cancel"].click(per_user(ctx, _cancel), None, parts["status"], queue=False, api_visibility="private")

    build_design(ctx, demo, table, pick)  # a voice from a description (Qwen3-TTS VoiceDesign), kept in the library
