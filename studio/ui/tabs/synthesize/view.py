"""The Synthesize tab's view of an engine: pickers' choices, which knobs show, the text count and Generate's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.config import MAX_STEPS, MIN_STEPS
from studio.engines.base import EngineInfo, default_steps
from studio.ui.context import AppContext


@dataclass(frozen=True)
class EngineView:
    """What the tab shows for one engine: pickers' choices and which knobs are visible."""

    info: EngineInfo
    available: bool
    message: str
    voices: list[tuple[str, str]]
    can_download: bool


def engine_choices(ctx: AppContext, missing: str = "not installed", voiced: bool = False) -> list[tuple[str, str]]:
    """(label, name) for every engine; engines that cannot run now say so in brackets (shared by the tabs).
    `voiced`: only engines that speak with a voice of their own (books and benchmarks have no place for a voice
    description: Qwen3-TTS VoiceDesign is left out there; keep a designed voice to use it)."""
    out = []
    for name in ctx.registry.names():
        info = ctx.registry.info(name)
        if voiced and info.instructions_required:
            continue
        label = info.label
        ok = ctx.registry.available(name).ok
        out.append((label if ok else f"{label} ({missing})", name))
    return out


def engine_view(ctx: AppContext, engine: str) -> EngineView:
    info = ctx.registry.info(engine)
    status = ctx.registry.available(engine)
    voices = [(v.name, v.id) for v in ctx.registry.voices(engine)] if status.ok else []
    return EngineView(info, status.ok, status.message, voices, ctx.registry.spec(engine).download is not None)


TO_BOOK = "Make an audiobook from this text"
LONG_TAKE = 5000  # characters (about five minutes of speech) past which the count suggests the audiobook way


def over_limit(ctx: AppContext, text: str | None) -> bool:
    """Whether the text is longer than one take may be here (a hosted server, or STUDIO_MAX_CHARS)."""
    limit = ctx.settings.char_limit
    return limit is not None and len((text or "").strip()) > limit


def char_count(ctx: AppContext, text: str | None) -> str:
    """The count under the text box; over a set limit it says why Generate is off and what to do instead."""
    n = len((text or "").strip())
    limit = ctx.settings.char_limit
    if limit is None:  # no limit here: any length streams sentence by sentence
        if n > LONG_TAKE:
            return (f"{n:,} characters — a long take: Generate speaks it all, sentence by sentence; "
                    f"“{TO_BOOK}” renders it in checked chunks that resume after a stop")  # fmt: skip
        return f"{n:,} characters"
    if n > limit:
        return (f"{n:,} / {limit:,} characters — over this server's limit for one take, so Generate is off: shorten "
                f"the text, or press “{TO_BOOK}” (any length, rendered chunk by chunk, resumable)")  # fmt: skip
    return f"{n:,} / {limit:,} characters"


# Gradio sliders have no tick marks: the use cases of the Audiopub GPU guide go under the label instead
STEPS_LABEL = "Inference steps (more = cleaner, slower)"
STEPS_MARKS = "real-time 2–5 · balanced 16 · high 32–64 · maximum 128"


def steps_default(info: EngineInfo, gpu: bool) -> int:
    """The slider's starting value: 16 on a GPU, the model's own default on a CPU (Supertonic), within the slider."""
    return min(max(default_steps(info, "cuda" if gpu else "cpu"), MIN_STEPS), MAX_STEPS)


def steps_info(info: EngineInfo) -> str:
    """The line under the steps slider: the use-case marks, and the defaults on each device."""
    cpu, gpu = steps_default(info, False), steps_default(info, True)
    where = f"default {cpu} on a CPU, {gpu} on a GPU" if cpu != gpu else f"default {cpu}"
    return f"{STEPS_MARKS} ({where})"


def on_engine_change(ctx: AppContext, engine: str, gpu: bool = False) -> tuple[Any, ...]:
    """Updates for: voice, language, steps, speed, engine status, download button."""
    view = engine_view(ctx, engine)
    info = view.info
    voice_value = view.voices[0][1] if view.voices else None
    status = "" if view.available else f"⚠️ {view.message}"
    return (
        gr.update(choices=view.voices, value=voice_value, interactive=view.available),
        gr.update(choices=list(info.languages), value=info.default_language),
        gr.update(
            visible=info.supports_steps,
            minimum=MIN_STEPS,
            # engines without steps declare max_steps 1: a hidden slider keeps a valid range (Gradio: minimum < maximum)
            maximum=min(info.max_steps, MAX_STEPS) if info.supports_steps else MAX_STEPS,
            value=steps_default(info, bool(gpu)),
            info=steps_info(info),
        ),
        gr.update(
            visible=info.supports_speed, minimum=info.min_speed, maximum=info.max_speed, value=info.default_speed
        ),
        gr.update(value=status, visible=bool(status)),
        gr.update(visible=view.can_download and not view.available),
    )


INSTRUCT_LABEL = "Instructions (how to speak)"
INSTRUCT_PLACEHOLDER = "e.g. Speak slowly and warmly, with a hint of a smile."


DESCRIBE_LABEL = "Voice description (the voice it speaks in)"


def instruct_state(ctx: AppContext, engine: str) -> Any:
    """The instructions box is shown only for an engine whose model follows them (Qwen3-TTS 1.7B CustomVoice); for
    one whose voice they describe (Qwen3-TTS VoiceDesign) it asks for a description."""
    info = ctx.registry.info(engine)
    label = DESCRIBE_LABEL if info.instructions_required else INSTRUCT_LABEL
    return gr.update(visible=info.supports_instructions, label=label)


LENGTH_LABEL = "Length in seconds (0 = automatic)"
LENGTH_INFO = "this model makes a take exactly this long; automatic follows the voice's own speaking rate"


def length_and_events_state(ctx: AppContext, engine: str) -> tuple[Any, Any]:
    """The length box for an engine whose output length is an input (smalltts) and the event-tag buttons for one
    that performs event tags; hidden for the others."""
    info = ctx.registry.info(engine)
    return gr.update(visible=info.supports_duration), gr.update(visible=info.supports_events)


def on_gpu_change(ctx: AppContext, engine: str, gpu: bool, steps: float | None) -> Any:
    """Ticking "Use GPU" moves the steps from the CPU default to the GPU default (and back); a number the user chose
    stays as it is."""
    info = ctx.registry.info(engine)
    if not info.supports_steps or steps is None or int(steps) != steps_default(info, not gpu):
        return gr.update()
    return gr.update(value=steps_default(info, bool(gpu)))


def generate_state(ctx: AppContext, engine: str, text: str | None = None) -> Any:
    """Generate is pressable only when the engine can run here (the status line beside it says why not) and the text
    is within the limit for one take (the count under the text says why not)."""
    return gr.update(interactive=ctx.registry.available(engine).ok and not over_limit(ctx, text))


def text_state(ctx: AppContext, text: str | None, engine: str) -> tuple[str, Any]:
    """As the text changes: the count under it, and whether Generate can take it."""
    return char_count(ctx, text), generate_state(ctx, engine, text)


def on_voice_change(ctx: AppContext, engine: str, voice: str | None, language: str | None) -> Any:
    """Voices that speak one language (Piper) move the language picker to it."""
    if not voice:
        return gr.update()
    for v in ctx.registry.voices(engine):
        if v.id == voice and len(v.languages) == 1:
            return gr.update(value=v.languages[0])
    return gr.update(value=language)
