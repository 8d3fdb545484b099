"""Voice Clone tab: the voice library (preview, rename, delete, export, import) and voice mixing for Supertonic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.voices.service import LIBRARY_HEADERS, MIXABLE, PREVIEW_TEXT

MIX_SLOTS = 3


def library_frame(ctx: AppContext) -> pd.DataFrame:
    return pd.DataFrame(ctx.voices.rows(), columns=LIBRARY_HEADERS)


def voice_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(f"{v.name} · {v.engine} · {v.id}", v.id) for v in reversed(ctx.voices.library.all())]


def refresh(ctx: AppContext, keep: str | None = None) -> tuple[pd.DataFrame, Any]:
    choices = voice_choices(ctx)
    ids = [value for _, value in choices]
    return library_frame(ctx), gr.update(choices=choices, value=keep if keep in ids else (ids[0] if ids else None))


def mix_choices(ctx: AppContext, engine: str) -> list[tuple[str, str]]:
    """The voices an engine can mix; empty (with the reason shown elsewhere) when its weights are missing."""
    if not ctx.registry.available(engine).ok:
        return []
    return ctx.voices.mixable_choices(engine)


def engine_note(ctx: AppContext, engine: str) -> str:
    status = ctx.registry.available(engine)
    if status.ok:
        return "Blend up to three voices; weights are shares of their sum. Every style row is renormalized."
    return f"**{ctx.registry.info(engine).label} is not available:** {status.message}"


def save_mix(ctx: AppContext, engine: str, name: str, notes: str, *slots: Any) -> str:
    parts = []
    for i in range(0, len(slots), 2):
        voice, weight = slots[i], slots[i + 1]
        if voice:
            parts.append((str(voice), float(weight or 0)))
    if not parts:
        raise InvalidInput("Pick at least one voice to mix.")
    voice = ctx.voices.mix(engine, parts, name, notes)
    recipe = ", ".join(f"{p['voice']} {p['weight']:.0%}" for p in voice.source["parts"])
    label = ctx.registry.info(engine).label
    return f"Saved **{voice.name}** ({recipe}). Pick it in the Synthesize tab under {label}."


def preview(ctx: AppContext, voice_id: str | None, text: str) -> tuple[int, Any]:
    if not voice_id:
        raise InvalidInput("Choose a voice to preview.")
    audio = ctx.voices.preview(voice_id, (text or "").strip() or PREVIEW_TEXT)
    return audio.sample_rate, (np.clip(audio.samples, -1, 1) * 32767).astype(np.int16)


def rename(ctx: AppContext, voice_id: str | None, name: str) -> str:
    if not voice_id:
        raise InvalidInput("Choose a voice to rename.")
    voice = ctx.voices.library.rename(voice_id, name)
    return f"Renamed to **{voice.name}**."


def delete(ctx: AppContext, voice_id: str | None, confirm: bool) -> str:
    if not voice_id:
        raise InvalidInput("Choose a voice to delete.")
    if not confirm:
        raise InvalidInput("Tick “Yes, delete it” first: a deleted voice cannot be brought back.")
    ctx.voices.library.delete(voice_id)
    ctx.registry.forget()
    return f"Deleted {voice_id}."


def export(ctx: AppContext, voice_id: str | None, session: str) -> tuple[str, str]:
    if not voice_id:
        raise InvalidInput("Choose a voice to export.")
    path = ctx.voices.library.export_zip(voice_id, ctx.output_dir(session))
    return f"Exported {path.name}.", str(path)


def import_zip(ctx: AppContext, file: Any) -> str:
    path = file if isinstance(file, str) else getattr(file, "path", None) or getattr(file, "name", None)
    if not path:
        raise InvalidInput("Upload a voice ZIP (made with Export) first.")
    voice = ctx.voices.library.import_zip(Path(path))
    ctx.registry.forget()
    return f"Imported **{voice.name}** ({voice.engine})."


def build(ctx: AppContext) -> None:
    gr.Markdown("### Voice library")
    table = gr.Dataframe(library_frame(ctx), interactive=False, elem_id="vc-library")
    choices = voice_choices(ctx)
    with gr.Row():
        pick = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Voice", elem_id="vc-pick")
        refresh_btn = gr.Button("↻", scale=0, elem_id="vc-refresh")
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(PREVIEW_TEXT, label="Preview text", elem_id="vc-preview-text")
            preview_btn = gr.Button("Preview", elem_id="vc-preview")
            audio = gr.Audio(label="Preview", interactive=False, elem_id="vc-audio")
        with gr.Column():
            new_name = gr.Textbox("", label="New name", elem_id="vc-new-name")
            rename_btn = gr.Button("Rename", elem_id="vc-rename")
            confirm = gr.Checkbox(False, label="Yes, delete it", elem_id="vc-confirm")
            delete_btn = gr.Button("Delete", variant="stop", elem_id="vc-delete")
        with gr.Column():
            export_btn = gr.Button("Export as ZIP", elem_id="vc-export")
            exported = gr.File(label="Exported voice", interactive=False, elem_id="vc-exported")
            upload = gr.File(label="Import a voice ZIP", file_types=[".zip"], elem_id="vc-import-file")
            import_btn = gr.Button("Import", elem_id="vc-import")
    note = gr.Markdown("", elem_id="vc-note")

    gr.Markdown("### Mix voices (Supertonic)")
    engine = gr.Radio([(ctx.registry.info(e).label, e) for e in MIXABLE], value=MIXABLE[0], label="Model",
                      elem_id="vc-mix-engine")  # fmt: skip
    mix_note = gr.Markdown(engine_note(ctx, MIXABLE[0]), elem_id="vc-mix-note")
    first = mix_choices(ctx, MIXABLE[0])
    slots: list[Any] = []
    with gr.Row():
        for i in range(MIX_SLOTS):
            with gr.Column():
                default = first[i][1] if i < 2 and len(first) > i else None
                voice = gr.Dropdown(first, value=default, label=f"Voice {i + 1}", elem_id=f"vc-mix-voice-{i}")
                weight = gr.Slider(0, 1, value=0.5 if default else 0.0, step=0.05, label="Weight",
                                   elem_id=f"vc-mix-weight-{i}")  # fmt: skip
                slots += [voice, weight]
    with gr.Row():
        mix_name = gr.Textbox("", label="Name of the new voice", elem_id="vc-mix-name")
        mix_notes = gr.Textbox("", label="Notes (optional)", elem_id="vc-mix-notes")
        mix_btn = gr.Button("Save mix", variant="primary", elem_id="vc-mix-save")

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    def _engine_change(e: str) -> list[Any]:
        options = mix_choices(ctx, e)
        updates: list[Any] = [engine_note(ctx, e)]
        for i in range(MIX_SLOTS):
            default = options[i][1] if i < 2 and len(options) > i else None
            updates += [gr.update(choices=options, value=default), gr.update(value=0.5 if default else 0.0)]
        return updates

    engine.change(ui_errors(_engine_change), engine, [mix_note, *slots])

    @ui_errors
    def _mix(e: str, n: str, nt: str, *s: Any) -> tuple[Any, ...]:
        message = save_mix(ctx, e, n, nt, *s)
        frame, dropdown = refresh(ctx)
        return message, frame, dropdown, *_engine_change(e)[1:]

    mix_btn.click(_mix, [engine, mix_name, mix_notes, *slots], [mix_note, table, pick, *slots])
    refresh_btn.click(lambda p: refresh(ctx, p), pick, [table, pick], queue=False)
    preview_btn.click(ui_errors(lambda v, t: preview(ctx, v, t)), [pick, text], audio)

    @ui_errors
    def _rename(v: str | None, n: str) -> tuple[Any, ...]:
        message = rename(ctx, v, n)
        return (message, *refresh(ctx, v))

    rename_btn.click(_rename, [pick, new_name], [note, table, pick])

    @ui_errors
    def _delete(v: str | None, c: bool) -> tuple[Any, ...]:
        message = delete(ctx, v, c)
        return (message, *refresh(ctx), False)

    delete_btn.click(_delete, [pick, confirm], [note, table, pick, confirm])

    @ui_errors
    def _export(v: str | None, request: gr.Request) -> tuple[str, str]:
        return export(ctx, v, _session(request))

    export_btn.click(_export, pick, [note, exported])

    @ui_errors
    def _import(f: Any) -> tuple[Any, ...]:
        message = import_zip(ctx, f)
        return (message, *refresh(ctx))

    import_btn.click(_import, upload, [note, table, pick])
