"""Downloads from the Synthesize tab: an engine's weights, one of its checkpoints, Piper voices from the catalog."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.tabs.synthesize.view import engine_choices, engine_view, instruct_state, on_engine_change


def download_engine(ctx: AppContext, engine: str, progress: gr.Progress | None = None) -> tuple[Any, ...]:
    spec = ctx.registry.spec(engine)
    if spec.download is None:
        raise InvalidInput(f"{spec.label} has nothing to download.")

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    ctx.studio.download(engine, report)
    return (gr.update(choices=engine_choices(ctx), value=engine), *on_engine_change(ctx, engine))


MODEL_LABEL = "Checkpoint"
MODEL_INFO = "CustomVoice speaks its preset speakers (the 1.7B one follows instructions); Base, your cloned voices"


def model_state(ctx: AppContext, engine: str) -> tuple[Any, Any, Any]:
    """Updates for: the checkpoint picker (shown when an engine has more than one downloaded checkpoint to choose
    from: Qwen3-TTS), the "More checkpoints" accordion (shown for an engine with checkpoints) and its picker of the
    checkpoints to download (every known one, marked when downloaded). A checkpoint set by the server
    (STUDIO_QWEN3_MODEL, a hosted server) is not chosen here."""
    models = ctx.studio.models(engine)
    setting = ctx.settings.model_setting(engine)
    fixed = ctx.settings.hosted or (setting is not None and setting[1] != str(ctx.settings.choices_file))
    present = [(m.label, m.name) for m in models if m.present]
    running = next((m.name for m in models if m.running), None)
    pick = gr.update(choices=present, value=running, visible=len(present) > 1 and not fixed)
    offer = [(m.label + (" — downloaded" if m.present else ""), m.name) for m in models]
    first = next((name for (_label, name), m in zip(offer, models, strict=True) if not m.present), None)
    return (pick, gr.update(visible=bool(models) and not ctx.settings.hosted),
            gr.update(choices=offer, value=first))  # fmt: skip


def choose_model(ctx: AppContext, engine: str, model: str | None, gpu: bool = False) -> tuple[Any, ...]:
    """Run the picked checkpoint from now on (remembered): the voices, languages and instructions box follow it.
    Updates for: the engine's outputs (on_engine_change), the instructions box, the checkpoint note."""
    if not model:
        raise InvalidInput("Pick a checkpoint first.")
    running = next((m.name for m in ctx.studio.models(engine) if m.running), None)
    if model != running:
        ctx.studio.choose_model(engine, model)
    return (*on_engine_change(ctx, engine, gpu), instruct_state(ctx, engine), gr.update(value="", visible=False))


def download_model(ctx: AppContext, engine: str, model: str | None,
                   progress: gr.Progress | None = None) -> tuple[Any, ...]:  # fmt: skip
    """Download one checkpoint of an engine with several (it is not chosen: the picker offers it from then on).
    Updates for: the checkpoint picker, the accordion, its download picker, the note under it."""
    if not model:
        raise InvalidInput("Pick a checkpoint to download first.")

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    ctx.studio.download(engine, report, model=model)
    to_name = ctx.registry.spec(engine).model_name
    name = to_name(model) if to_name is not None else model
    label = next((m.label for m in ctx.studio.models(engine) if m.name == name), model)
    return (*model_state(ctx, engine), f"Downloaded {label}; choose it in “{MODEL_LABEL}” to run it.")


def load_piper_catalog(ctx: AppContext, progress: gr.Progress | None = None) -> Any:
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    voices = ctx.studio.catalog("piper", report)
    return gr.update(choices=[(v.label, v.key) for v in voices], value=None, visible=True)


def download_piper_voice(ctx: AppContext, key: str | None, progress: gr.Progress | None = None) -> tuple[Any, str]:
    if not key:
        raise InvalidInput("Pick a voice from the catalog first.")

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, desc=message)

    ctx.studio.install_voice(key, "piper", report)
    view = engine_view(ctx, "piper")
    return gr.update(choices=view.voices, value=key), f"Installed {key}."
