"""Cloning in the Voice Clone tab: the form, the reference check, and the clone run with its progress and
similarity curve."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.tabs.voice_clone.library import preview, refresh
from studio.voices.service import CLONABLE, CONSENT_NEEDED, PREVIEW_TEXT, CloneProgress, CloneSettings

CLONE_JOB = "clone"
METHODS = [("Gradient: best likeness (torch)", "gradient"), ("Blend search: ONNX Runtime only", "blend")]
QWEN3_METHODS = [
    ("With the transcript (ICL: closest likeness)", "icl"),
    ("Speaker embedding only (x-vector)", "xvector"),
]
# smalltts keeps the recording itself (its codec latents): one method, no iterations; the transcript sets its pace
SMALLTTS_METHODS = [("The recording's codec latents (the transcript sets the speaking rate)", "latents")]


def methods_of(engine: str | None) -> tuple[list[tuple[str, str]], str, bool]:
    """(method choices, the default, whether the optimization's iterations and pace apply) of a cloning model."""
    if engine == "qwen3_tts":
        return QWEN3_METHODS, "icl", False
    if engine == "smalltts":
        return SMALLTTS_METHODS, "latents", False
    return METHODS, "gradient", True


def method_updates(engine: str) -> tuple[Any, Any, Any]:
    """Supertonic finds a style by optimization (method, iterations, pace); Qwen3-TTS makes a clone prompt (mode);
    smalltts encodes the recording (one method)."""
    choices, value, optimizes = methods_of(engine)
    return gr.update(choices=choices, value=value), gr.update(visible=optimizes), gr.update(visible=optimizes)


def engine_state(ctx: AppContext, engine: str | None) -> tuple[Any, Any, Any]:
    """The picked model drives the form: (status note, Clone button, Download button). A model that cannot run here
    says why, by its own name; Clone waits for it; Download is offered where fetching the weights is the fix."""
    if not engine:
        return "", gr.update(interactive=False), gr.update(visible=False)
    status = ctx.registry.available(engine)
    if status.ok:
        return "", gr.update(interactive=True), gr.update(visible=False)
    label = ctx.registry.info(engine).label
    can_download = ctx.registry.spec(engine).download is not None
    note = f"**{label} is not available here:** {status.message}"
    return (note, gr.update(interactive=False),
            gr.update(visible=can_download, value=f"Download {label} model weights"))  # fmt: skip


def download_model(ctx: AppContext, engine: str, progress: gr.Progress | None = None) -> tuple[Any, Any, Any]:
    """Fetch the picked model's weights with progress, then show the form's new state (an error says what failed)."""

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    ctx.studio.download(engine, report)
    return engine_state(ctx, engine)


CURVE_COLUMNS = ["iteration", "similarity", "series"]


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
    qwen, small = engine == "qwen3_tts", engine == "smalltts"
    mode = (method or "icl") if qwen else ("latents" if small else "icl")
    settings = CloneSettings(
        method="gradient" if (qwen or small) else (method or "gradient"),
        iterations=int(iterations or 60),
        match_pace=match_pace,
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
    elif small:
        measured = f"similarity **{voice.similarity:.3f}**" if voice.similarity is not None else voice.notes
        rate = voice.source.get("seconds_per_phone")
        pace = (f"speaking rate {rate:.3f} s a phone, from the transcript" if isinstance(rate, (int, float))
                else "an average speaking rate (no usable transcript)")  # fmt: skip
        status = (
            f"Saved **{voice.name}**: a {label} voice from the recording's codec latents, {measured}, {pace}; "
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
            # the first ready model decides which methods are shown at start
            choices, chosen, optimizes = methods_of(first)
            method = gr.Radio(choices, value=chosen, label="Method", elem_id="vc-clone-method")
            iterations = gr.Slider(5, 300, value=60, step=5, label="Iterations (at most; stops early)",
                                   elem_id="vc-clone-iterations", visible=optimizes)  # fmt: skip
            pace = gr.Checkbox(True, label="Match the recording's pace (from its transcript)", visible=optimizes,
                               elem_id="vc-clone-pace")  # fmt: skip
            name = gr.Textbox("", label="Name of the new voice", elem_id="vc-clone-name")
            consent = gr.Checkbox(
                False, label="I have the speaker's permission to clone this voice", elem_id="vc-consent"
            )
            note, start_state, download_state = engine_state(ctx, first)
            with gr.Row():
                start = gr.Button("Clone", variant="primary", elem_id="vc-clone",
                                  interactive=start_state["interactive"])  # fmt: skip
                cancel = gr.Button("Cancel", variant="stop", elem_id="vc-clone-cancel")
            download = gr.Button(download_state.get("value", "Download model weights"),
                                 visible=download_state["visible"], elem_id="vc-clone-download")  # fmt: skip
    status = gr.Markdown(note, elem_id="vc-clone-status")
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
        "download": download,
        "status": status,
        "curve": curve,
        "result": result,
    }
