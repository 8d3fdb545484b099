"""The Voice Clone tab's voice library: its table and picker, preview, rename, delete, export and import, and
voices mixed from others (Supertonic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.voices.service import LIBRARY_HEADERS, PREVIEW_TEXT


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
