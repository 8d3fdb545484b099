"""Voice Clone tab: clone a reference recording, the voice library (preview, rename, delete, export, import) and
voice mixing for Supertonic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from studio.errors import InvalidInput
from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import ui_errors
from studio.ui.users import per_user
from studio.voices.service import (
    CLONABLE,
    CONSENT_NEEDED,
    LIBRARY_HEADERS,
    MIXABLE,
    PREVIEW_TEXT,
    CloneProgress,
    CloneSettings,
)

MIX_SLOTS = 3
CLONE_JOB = "clone"
METHODS = [("Gradient: best likeness (torch)", "gradient"), ("Blend search: ONNX Runtime only", "blend")]
QWEN3_METHODS = [
    ("With the transcript (ICL: closest likeness)", "icl"),
    ("Speaker embedding only (x-vector)", "xvector"),
]


def method_updates(engine: str) -> tuple[Any, Any, Any]:
    """Supertonic finds a style by optimization (method, iterations, pace); Qwen3-TTS makes a clone prompt (mode)."""
    if engine == "qwen3_tts":
        return gr.update(choices=QWEN3_METHODS, value="icl"), gr.update(visible=False), gr.update(visible=False)
    return gr.update(choices=METHODS, value="gradient"), gr.update(visible=True), gr.update(visible=True)


CURVE_COLUMNS = ["iteration", "similarity", "series"]


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
    voice = ctx.voices.rename(voice_id, name)
    return f"Renamed to **{voice.name}**."


def delete(ctx: AppContext, voice_id: str | None, confirm: bool) -> str:
    if not voice_id:
        raise InvalidInput("Choose a voice to delete.")
    if not confirm:
        raise InvalidInput("Tick “Yes, delete it” first: a deleted voice cannot be brought back.")
    ctx.voices.delete(voice_id)
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
    voice = ctx.voices.import_zip(Path(path))
    return f"Imported **{voice.name}** ({voice.engine})."


# ------------------------------------------------------------------------------------------------------ cloning


def _file_path(file: Any) -> str | None:
    if file is None or file == "":
        return None
    if isinstance(file, str):
        return file
    return getattr(file, "path", None) or getattr(file, "name", None)


def check_reference(ctx: AppContext, file: Any, engine: str) -> tuple[str, str]:
    """A new recording: validated, trimmed and normalized, its transcript from the bundled Whisper (editable)."""
    path = _file_path(file)
    if not path:
        return "", ""
    ref = ctx.voices.reference(Path(path), engine if ctx.registry.available(engine).ok else None)
    note = f"**Reference OK:** {ref.seconds:.1f} s of speech after trimming silence, loudness normalized."
    if ref.warnings:
        note += " " + " ".join(f"⚠ {w}" for w in ref.warnings)
    if not ref.transcript:
        note += " Speech recognition heard nothing: type what the recording says."
    return note, ref.transcript


def curve_frame(points: list[CloneProgress]) -> pd.DataFrame:
    rows = []
    for p in points:
        if p.iteration > 0 and np.isfinite(p.similarity):  # a Qwen3-TTS prompt is not an optimization: no curve
            rows += [[p.iteration, round(p.similarity, 4), "this step"], [p.iteration, round(p.best, 4), "best"]]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def progress_text(p: CloneProgress | None) -> str:
    if p is None:
        return "Starting: loading the model and the speaker encoder…"
    if p.iteration == 0:
        return f"{p.phase}: best so far {p.best:.3f}"
    return (
        f"Iteration {p.iteration}/{p.total} · similarity {p.similarity:.3f} · best {p.best:.3f} · "
        f"ETA {p.eta:.0f} s (it may stop earlier when the similarity stops improving)"
    )


def clone(
    ctx: AppContext,
    file: Any,
    transcript: str,
    engine: str,
    method: str,
    iterations: float,
    name: str,
    consent: bool,
    session: str,
    match_pace: bool = True,
) -> Iterator[tuple[Any, ...]]:
    """Run the cloning in a worker thread; yield (status, curve, audio, table, pick) as it goes."""
    path = _file_path(file)
    if not consent:
        raise InvalidInput(CONSENT_NEEDED)
    if not path:
        raise InvalidInput("Upload or record a reference first (3 to 30 seconds of one person speaking).")
    if not (name or "").strip():
        raise InvalidInput("Give the new voice a name.")
    qwen = engine == "qwen3_tts"
    mode = (method or "icl") if qwen else "icl"
    settings = CloneSettings(
        method="gradient" if qwen else (method or "gradient"), iterations=int(iterations or 60), match_pace=match_pace
    )
    settings.validate()
    flag = ctx.cancel_flag(session, CLONE_JOB)
    points: list[CloneProgress] = []
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = ctx.voices.clone(
                engine, Path(path), name, bool(consent), transcript, settings, on_progress=points.append, cancel=flag,
                mode=mode,
            )  # fmt: skip
        except Exception as exc:  # re-raised below, in the handler, where the UI shows it
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="voice-clone", daemon=True)
    worker.start()
    keep = gr.update()
    shown = -1
    while worker.is_alive():
        worker.join(timeout=0.5)
        if len(points) != shown:
            shown = len(points)
            yield progress_text(points[-1] if points else None), curve_frame(points), keep, keep, keep
    if "error" in outcome:
        raise outcome["error"]
    voice, result = outcome["value"]
    audio = preview(ctx, voice.id, PREVIEW_TEXT)
    how = {
        "cancelled": "stopped by Cancel (best style so far kept)",
        "converged": "stopped early: no more gain",
        "finished": "all iterations done",
    }[result.stopped]
    label = ctx.registry.info(engine).label
    if qwen:
        measured = f"similarity **{voice.similarity:.3f}**" if voice.similarity is not None else voice.notes
        mode_label = {"icl": "ICL, with the transcript", "xvector": "x-vector"}[mode]
        status = (
            f"Saved **{voice.name}**: a {label} clone prompt ({mode_label}), {measured}; "
            f"{result.seconds:.0f} s. Pick it in the Synthesize tab under {label}."
        )
    else:
        status = (
            f"Saved **{voice.name}**: similarity **{result.similarity:.3f}** to the reference (started from "
            f"{result.start_voice} at {result.start_similarity:.3f}); {result.iterations} iterations, {how}, "
            f"{result.seconds:.0f} s. Pick it in the Synthesize tab under {label}."
        )
    frame, dropdown = refresh(ctx, voice.id)
    yield status, curve_frame(points), audio, frame, dropdown


def build_clone(ctx: AppContext) -> dict[str, Any]:
    engines = [e for e in CLONABLE if e in ctx.registry.names()]
    ready = [e for e in engines if ctx.registry.available(e).ok]
    gr.Markdown("### Clone a voice")
    with gr.Row():
        with gr.Column():
            ref = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                elem_id="vc-ref",
                label="Reference recording: 3-30 s of one person speaking, little background noise",
            )
            ref_note = gr.Markdown("", elem_id="vc-ref-note")
            transcript = gr.Textbox(
                "",
                lines=2,
                elem_id="vc-transcript",
                label="What the recording says (filled in by speech recognition; fix it)",
            )
        with gr.Column():
            first = (ready or engines)[0] if engines else None
            engine = gr.Dropdown(
                [(ctx.registry.info(e).label, e) for e in engines],
                value=first,
                label="Model",
                elem_id="vc-clone-engine",
            )
            qwen = first == "qwen3_tts"  # the first ready model decides which methods are shown at start
            method = gr.Radio(QWEN3_METHODS if qwen else METHODS, value="icl" if qwen else "gradient", label="Method",
                              elem_id="vc-clone-method")  # fmt: skip
            iterations = gr.Slider(5, 300, value=60, step=5, label="Iterations (at most; stops early)",
                                   elem_id="vc-clone-iterations", visible=not qwen)  # fmt: skip
            pace = gr.Checkbox(True, label="Match the recording's pace (from its transcript)", visible=not qwen,
                               elem_id="vc-clone-pace")  # fmt: skip
            name = gr.Textbox("", label="Name of the new voice", elem_id="vc-clone-name")
            consent = gr.Checkbox(
                False, label="I have the speaker's permission to clone this voice", elem_id="vc-consent"
            )
            with gr.Row():
                start = gr.Button("Clone", variant="primary", elem_id="vc-clone")
                cancel = gr.Button("Cancel", variant="stop", elem_id="vc-clone-cancel")
    missing = "" if ready or not engines else engine_note(ctx, engines[0])
    status = gr.Markdown(missing, elem_id="vc-clone-status")
    with gr.Row():
        curve = gr.LinePlot(
            pd.DataFrame([], columns=CURVE_COLUMNS),
            x="iteration",
            y="similarity",
            color="series",
            title="Similarity to the reference",
            x_title="Iteration",
            y_title="Cosine",
            elem_id="vc-curve",
        )
        result = gr.Audio(label="The new voice", interactive=False, elem_id="vc-clone-audio")
    return {
        "ref": ref,
        "ref_note": ref_note,
        "transcript": transcript,
        "engine": engine,
        "method": method,
        "iterations": iterations,
        "pace": pace,
        "name": name,
        "consent": consent,
        "start": start,
        "cancel": cancel,
        "status": status,
        "curve": curve,
        "result": result,
    }


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
        mix_btn = gr.Button("Save mix", variant="primary", elem_id="vc-mix-save")

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    def _engine_change(u: AppContext, e: str) -> list[Any]:
        options = mix_choices(u, e)
        updates: list[Any] = [engine_note(u, e)]
        for i in range(MIX_SLOTS):
            default = options[i][1] if i < 2 and len(options) > i else None
            updates += [gr.update(choices=options, value=default), gr.update(value=0.5 if default else 0.0)]
        return updates

    engine.change(ui_errors(per_user(ctx, _engine_change)), engine, [mix_note, *slots], api_visibility="private")

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

    mix_btn.click(per_user(ctx, voice_mix), [engine, mix_name, mix_notes, *slots], [mix_note, table, pick, *slots],
                  api_name="voice_mix")  # fmt: skip

    def voice_list(u: AppContext, keep: str | None) -> tuple[pd.DataFrame, Any]:
        """The voice library: every saved voice (cloned, mixed, imported, fine-tuned) with its engine and id.

        Args:
            keep: a voice id to keep selected in the page's picker (optional).
        """
        return refresh(u, keep)

    refresh_btn.click(per_user(ctx, voice_list), pick, [table, pick], queue=False, api_name="voice_list")
    # this user's library and mixable voices once the page is open (hosted: the page is built with nobody's data)
    demo.load(per_user(ctx, refresh), pick, [table, pick], queue=False, api_visibility="private")
    demo.load(ui_errors(per_user(ctx, _engine_change)), engine, [mix_note, *slots], queue=False,
              api_visibility="private")  # fmt: skip

    @ui_errors
    def voice_preview(u: AppContext, voice_id: str | None, text: str) -> tuple[int, Any]:
        """Hear a library voice say a short text.

        Args:
            voice_id: the library voice's id (`voice_list`).
            text: what to say.
        """
        return preview(u, voice_id, text)

    preview_btn.click(per_user(ctx, voice_preview), [pick, text], audio, concurrency_id="preview",
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

    rename_btn.click(per_user(ctx, voice_rename), [pick, new_name], [note, table, pick], api_name="voice_rename")

    @ui_errors
    def voice_delete(u: AppContext, voice_id: str | None, confirm: bool) -> tuple[Any, ...]:
        """Delete a library voice.

        Args:
            voice_id: the voice's id.
            confirm: must be true: deleting cannot be undone.
        """
        message = delete(u, voice_id, confirm)
        return (message, *refresh(u), False)

    delete_btn.click(per_user(ctx, voice_delete), [pick, confirm], [note, table, pick, confirm],
                     api_name="voice_delete")  # fmt: skip

    @ui_errors
    def voice_export(u: AppContext, voice_id: str | None, request: gr.Request) -> tuple[str, str]:
        """Export a library voice as a ZIP file (voice_import takes it back, here or on another Studio).

        Args:
            voice_id: the voice's id.
        """
        return export(u, voice_id, _session(request))

    export_btn.click(per_user(ctx, voice_export), pick, [note, exported], api_name="voice_export")

    @ui_errors
    def voice_import(u: AppContext, voice_zip: Any) -> tuple[Any, ...]:
        """Add a voice from a ZIP made by voice_export.

        Args:
            voice_zip: the ZIP file.
        """
        message = import_zip(u, voice_zip)
        return (message, *refresh(u))

    import_btn.click(per_user(ctx, voice_import), upload, [note, table, pick], api_name="voice_import")

    parts["engine"].change(method_updates, parts["engine"], [parts["method"], parts["iterations"], parts["pace"]],
                           queue=False, api_visibility="private")  # fmt: skip
    # a new recording is checked and transcribed for the form (voice_clone checks it again)
    parts["ref"].change(
        ui_errors(per_user(ctx, check_reference)),
        [parts["ref"], parts["engine"]],
        [parts["ref_note"], parts["transcript"]],
        api_visibility="private",
    )

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

    parts["start"].click(
        per_user(ctx, voice_clone),
        [parts[k] for k in ("ref", "transcript", "engine", "method", "iterations", "name", "consent", "pace")],
        [parts["status"], parts["curve"], parts["result"], table, pick],
        api_name="voice_clone",
    )

    def _cancel(u: AppContext, request: gr.Request) -> str:
        if u.cancel(_session(request), CLONE_JOB):
            return "Cancelling: the best style so far will be saved…"
        return "Nothing to cancel."

    parts["cancel"].click(per_user(ctx, _cancel), None, parts["status"], queue=False, api_visibility="private")
