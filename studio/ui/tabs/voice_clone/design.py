"""The Voice Clone tab's "Design a voice" (Qwen3-TTS VoiceDesign): describe a voice in words, hear it say a sample
sentence, keep it as a library voice that the Base checkpoint speaks like any cloned voice."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.voice_clone.library import refresh
from studio.ui.users import per_user

DESIGNER = "qwen3_tts_design"  # the VoiceDesign engine (speaks the description)
KEEPER = "qwen3_tts"  # the Base checkpoint's engine (keeps the designed voice as a clone prompt)
SAMPLE_TEXT = (
    "Hello, it's lovely to meet you. I'll be reading for you today, so settle in, "
    "and let me know if I should slow down or speak up."
)  # the same default as studio.systems.qwen3_tts.design.SAMPLE_TEXT (the UI names no system)
DESCRIPTION_HINT = "e.g. A warm, low female voice in her fifties, calm and unhurried, with a slight British accent."


def design_note(ctx: AppContext) -> str:
    """What the section needs and what is missing, with the command that fetches it."""
    missing = []
    for engine in (DESIGNER, KEEPER):
        status = ctx.registry.available(engine)
        if not status.ok:
            missing.append(f"**{ctx.registry.info(engine).label}**: {status.message}")
    if missing:
        return "⚠️ " + " · ".join(missing)
    return ("Preview as often as you like: the same seed gives the same voice. **Keep** makes the sample into a clone "
            "prompt of the Base checkpoint: it then speaks every sentence in that one voice.")  # fmt: skip


def design_ready(ctx: AppContext) -> tuple[Any, Any]:
    """Preview needs the VoiceDesign checkpoint; Keep needs it and the Base checkpoint."""
    design = ctx.registry.available(DESIGNER).ok
    keep = design and ctx.registry.available(KEEPER).ok and ctx.registry.info(KEEPER).supports_clone
    return gr.update(interactive=design), gr.update(interactive=keep)


def design_preview(ctx: AppContext, description: str, text: str, seed: float | None) -> tuple[int, Any]:
    audio = ctx.voices.design_preview(description, text, None, int(seed or 0))
    return audio.sample_rate, (np.clip(audio.samples, -1, 1) * 32767).astype(np.int16)


def design_keep(ctx: AppContext, description: str, text: str, seed: float | None, name: str) -> tuple[Any, ...]:
    """Keep the designed voice; (note, library table, picker)."""
    voice = ctx.voices.design(description, name, text, None, int(seed or 0))
    message = (f"Saved **{voice.name}**, a designed voice. Pick it in the Synthesize tab under "
               f"{ctx.registry.info(KEEPER).label}.")  # fmt: skip
    return (message, *refresh(ctx, voice.id))


def build_design(ctx: AppContext, demo: gr.Blocks, table: Any, pick: Any) -> None:
    """Lay out the section and wire its two endpoints, `voice_design_preview` and `voice_design`."""
    gr.Markdown("### Design a voice (Qwen3-TTS VoiceDesign)")
    note = gr.Markdown(design_note(ctx), elem_id="vc-design-note")
    with gr.Row():
        with gr.Column(scale=3):
            description = gr.Textbox("", label="Describe the voice", placeholder=DESCRIPTION_HINT, lines=2,
                                     elem_id="vc-design-description")  # fmt: skip
            text = gr.Textbox(SAMPLE_TEXT, label="Sample sentence", lines=2, elem_id="vc-design-text")
        with gr.Column(scale=2):
            seed = gr.Number(0, label="Seed (the same seed, the same voice)", precision=0, elem_id="vc-design-seed")
            preview_btn = gr.Button("Preview", elem_id="vc-design-preview")
            audio = gr.Audio(label="Designed sample", interactive=False, elem_id="vc-design-audio")
    with gr.Row():
        name = gr.Textbox("", label="Name of the new voice", elem_id="vc-design-name")
        keep_btn = gr.Button("Keep as a library voice", variant="primary", elem_id="vc-design-keep")

    action(demo, demo.load, per_user(ctx, design_ready), None, [preview_btn, keep_btn], queue=False,
           api_visibility="private")  # fmt: skip
    action(demo, demo.load, per_user(ctx, design_note), None, note, note, queue=False, api_visibility="private")

    @ui_errors
    def voice_design_preview(u: AppContext, description: str, text: str, seed: float) -> tuple[Any, str]:
        """Hear a voice made from a description (Qwen3-TTS VoiceDesign) say a sample sentence.

        Args:
            description: the voice in words: age, tone, pace, accent ("a warm, low voice, calm and unhurried").
            text: the sample sentence it says (empty: a greeting of about ten seconds).
            seed: the same seed gives the same voice; voice_design with the same arguments keeps it.

        Returns:
            the sample's audio, and a status line.
        """
        rate, samples = design_preview(u, description, text, seed)
        note = f"A {len(samples) / rate:.1f} s sample, seed {int(seed or 0)}. Keep it, or try another seed."
        return (rate, samples), note

    action(demo, preview_btn.click, per_user(ctx, voice_design_preview), [description, text, seed], [audio, note],
           note, concurrency_id="preview", concurrency_limit=PREVIEWS, api_name="voice_design_preview")  # fmt: skip

    @ui_errors
    def voice_design(u: AppContext, description: str, text: str, seed: float, name: str) -> tuple[Any, ...]:
        """Design a voice from a description and keep it in the voice library ("Voice Design then Clone"): the
        VoiceDesign checkpoint speaks the sample, the Base checkpoint makes it a clone prompt, a qwen3_tts voice.

        Args:
            description: the voice in words (as voice_design_preview).
            text: the sample sentence (empty: the default greeting); it becomes the voice's reference.
            seed: the seed of the preview to keep.
            name: the new voice's name.

        Returns:
            a status line, the library table and picker.
        """
        return design_keep(u, description, text, seed, name)

    action(demo, keep_btn.click, per_user(ctx, voice_design), [description, text, seed, name], [note, table, pick],
           note, api_name="voice_design")  # fmt: skip
