"""Synthesize tab: text in, streamed speech out, with engine/voice/language pickers and the engine's own knobs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from studio.audio.dsp import silence
from studio.config import MAX_STEPS, MIN_STEPS
from studio.engines.base import EngineInfo, default_steps
from studio.errors import Cancelled, InvalidInput
from studio.synthesis import SynthChunk, SynthRequest, TakeWriter, output_path
from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.event_tags import event_row
from studio.ui.users import per_user

JOB = "synthesize"
FORMATS = {"WAV": "wav", "MP3": "mp3"}
SAMPLE_TEXT = (
    "Welcome to Studio. Type any text here, pick a voice, and press Generate. "
    "The first sentence plays while the rest is still being made."
)


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


def _chunk_audio(chunk: SynthChunk) -> tuple[int, np.ndarray]:
    """A sentence for the player, after the pause its engine puts between sentences (the downloaded take has it
    too), so that what plays and what is saved sound the same."""
    samples = chunk.audio.samples
    if chunk.index > 0:
        samples = np.concatenate([silence(chunk.gap, chunk.audio.sample_rate), samples])
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
    return chunk.audio.sample_rate, pcm


def generate(
    ctx: AppContext,
    text: str,
    engine: str,
    voice: str | None,
    language: str | None,
    steps: float | None,
    speed: float | None,
    gpu: bool,
    normalize: bool,
    fmt: str,
    session: str,
    instruct: str | None = None,
    duration: float | None = None,
) -> Iterator[tuple[Any, Any, str]]:
    """Stream sentences to the player, then write the whole take for download. Yields (audio, file, status).
    `instruct` counts only for an engine that takes instructions, `duration` (seconds, 0 for automatic) only for one
    whose length is an input (their boxes are hidden for the others)."""
    info = ctx.registry.info(engine)
    req = SynthRequest(
        text=text or "",
        engine=engine,
        voice=voice or None,
        language=language or None,
        steps=int(steps) if (steps is not None and info.supports_steps) else None,
        speed=float(speed) if (speed is not None and info.supports_speed) else None,
        gpu=bool(gpu),
        normalize=bool(normalize),
        instruct=(instruct or None) if info.supports_instructions else None,
        duration=float(duration) if (duration and info.supports_duration) else None,
    )
    ctx.synthesizer.prepare(req)  # every input error surfaces before a model loads
    flag = ctx.cancel_flag(session, JOB)
    # the take goes to its file as it is made (a long text is never one array in memory); the player gets each
    # sentence as it comes
    take = TakeWriter(output_path(ctx.output_dir(session), text, FORMATS.get(fmt, "wav")))
    made = 0
    cancelled = False
    warned: set[str] = set()
    yield gr.update(value=None), gr.update(value=None), "Loading the voice…"
    try:
        for chunk in ctx.synthesizer.stream(req, flag):
            take.add(chunk)
            made += 1
            for warning in chunk.audio.warnings:
                if warning not in warned:
                    warned.add(warning)
                    gr.Warning(warning)
            if made == 1 and chunk.audio.device_note.startswith("ran on CPU:") and gpu:
                gr.Warning(chunk.audio.device_note)
            yield _chunk_audio(chunk), gr.update(), f"Generating… sentence {made} · {chunk.stats.device_note}"
    except Cancelled:
        cancelled = True
    except BaseException:
        take.abort()
        raise
    if not made:
        yield gr.update(), gr.update(), "Stopped before any audio was made."
        return
    path, stats = take.finish(cancelled)
    prefix = "Stopped — kept what was made. " if cancelled else ""
    yield gr.update(), gr.update(value=str(path)), prefix + stats.summary()


def cancel(ctx: AppContext, session: str) -> str:
    return "Stopping after the current sentence…" if ctx.cancel(session, JOB) else "Nothing is running."


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


@dataclass(frozen=True)
class TextSource:
    """The components another tab reads to take this tab's text (the Audiobook tab's "book from text")."""

    text: gr.Textbox
    engine: gr.Dropdown
    voice: gr.Dropdown
    instruct: gr.Textbox
    button: gr.Button
    note: gr.Markdown


def build(ctx: AppContext, demo: gr.Blocks) -> TextSource:
    """Lay out the tab and wire its events (handlers above stay plain functions for tests); returns what the
    Audiobook tab wires "Make an audiobook from this text" to."""
    names = ctx.registry.names()
    default_engine = "piper" if "piper" in names else names[0]
    view = engine_view(ctx, default_engine)
    info = view.info
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", value=SAMPLE_TEXT, lines=8, elem_id="synth-text")
            count = gr.Markdown(char_count(ctx, SAMPLE_TEXT), elem_id="synth-count")
            events_row, _ = event_row("synth-text", info.supports_events, "synth-events")
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="synth-generate")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="synth-cancel")
                # any length, one click: the text becomes an Audiobook job (resumable, checked chunk by chunk)
                to_book_btn = gr.Button(TO_BOOK, elem_id="synth-to-book")
            book_note = gr.Markdown("", elem_id="synth-book-note")  # why the text could not become a book
            # no download icon on the streamed player: Gradio joins a stream's pieces with ffprobe, which Studio does
            # not ship (the icon answered HTTP 500); the Download box below holds the take in the chosen format
            audio = gr.Audio(label="Result", streaming=True, autoplay=True, interactive=False, elem_id="synth-audio",
                             buttons=[])  # fmt: skip
            file = gr.File(label="Download", interactive=False, elem_id="synth-file")
            status = gr.Markdown("", elem_id="synth-status")
        with gr.Column(scale=2):
            engine = gr.Dropdown(engine_choices(ctx), value=default_engine, label="Engine", elem_id="synth-engine")
            engine_status = gr.Markdown("", visible=False, elem_id="synth-engine-status")
            download_btn = gr.Button("Download model weights", visible=False, elem_id="synth-download")
            # which downloaded checkpoint the engine runs (Qwen3-TTS), shown when there are two or more
            # any name an API client gives (a short name, a Hub id) is the engine's to judge, not the picker's list
            model_pick = gr.Dropdown([], label=MODEL_LABEL, info=MODEL_INFO, visible=False, allow_custom_value=True,
                                     elem_id="synth-model")  # fmt: skip
            model_note = gr.Markdown("", visible=False, elem_id="synth-model-note")
            voice = gr.Dropdown(
                view.voices, value=view.voices[0][1] if view.voices else None, label="Voice", elem_id="synth-voice"
            )
            instruct = gr.Textbox(
                "",  # a value: the API's `instructions` is optional, so clients written before it keep working
                label=INSTRUCT_LABEL,
                placeholder=INSTRUCT_PLACEHOLDER,
                info="emotion, tone, pace in words; this model follows them",
                lines=2,
                visible=info.supports_instructions,
                elem_id="synth-instruct",
            )
            language = gr.Dropdown(
                list(info.languages), value=info.default_language, label="Language", elem_id="synth-language"
            )
            steps = gr.Slider(
                MIN_STEPS,
                min(info.max_steps, MAX_STEPS) if info.supports_steps else MAX_STEPS,
                step=1,
                value=steps_default(info, False),
                label=STEPS_LABEL,
                info=steps_info(info),
                visible=info.supports_steps,
                elem_id="synth-steps",
            )
            speed = gr.Slider(
                info.min_speed,
                info.max_speed,
                step=0.05,
                value=info.default_speed,
                label="Speed",
                visible=info.supports_speed,
                elem_id="synth-speed",
            )
            length = gr.Number(
                0,  # a value: the API's `duration` is optional, so clients written before it keep working
                label=LENGTH_LABEL,
                info=LENGTH_INFO,
                minimum=0,
                maximum=600,
                visible=info.supports_duration,
                elem_id="synth-length",
            )
            gpu = gr.Checkbox(False, label="Use GPU (CUDA)", elem_id="synth-gpu")
            normalize = gr.Checkbox(True, label="Read numbers, dates and abbreviations as words", elem_id="synth-norm")
            fmt = gr.Radio(list(FORMATS), value="WAV", label="Download format", elem_id="synth-format")
            with gr.Accordion("More checkpoints (needs internet)", open=False, visible=False,
                              elem_id="synth-more-models") as more_models:  # fmt: skip
                offered = gr.Dropdown([], label="Checkpoint to download", allow_custom_value=True,
                                      elem_id="synth-model-offer")  # fmt: skip
                fetch_btn = gr.Button("Download this checkpoint", elem_id="synth-model-download")
                fetch_note = gr.Markdown("", elem_id="synth-model-download-note")
            with gr.Accordion("More Piper voices (needs internet)", open=False):
                catalog_btn = gr.Button("Load the Piper voice catalog")
                catalog = gr.Dropdown([], label="Catalog voice", visible=False)
                install_btn = gr.Button("Download and add this voice")
                catalog_status = gr.Markdown("")

    engine_outputs = [voice, language, steps, speed, engine_status, download_btn]

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    text.change(per_user(ctx, text_state), [text, engine], [count, generate_btn], queue=False,
                show_progress="hidden", api_visibility="private")  # fmt: skip
    # a failure says why beside the action and leaves every other output as it was (studio.ui.errors.action)
    action(demo, engine.change, per_user(ctx, on_engine_change), [engine, gpu], engine_outputs, engine_status,
           queue=False, api_visibility="private")  # fmt: skip
    action(demo, gpu.change, per_user(ctx, on_gpu_change), [engine, gpu, steps], steps, queue=False,
           api_visibility="private")  # fmt: skip
    action(demo, voice.change, per_user(ctx, on_voice_change), [engine, voice, language], language, queue=False,
           api_visibility="private")  # fmt: skip
    # the voice list of the signed-in user (or of this browser session) once the page is open
    action(demo, demo.load, per_user(ctx, on_engine_change), [engine, gpu], engine_outputs, engine_status,
           queue=False, api_visibility="private")  # fmt: skip
    model_outputs = [model_pick, more_models, offered]
    for event in (engine.change, demo.load):
        event(per_user(ctx, generate_state), [engine, text], generate_btn, queue=False, api_visibility="private")
        action(demo, event, per_user(ctx, instruct_state), engine, instruct, queue=False, api_visibility="private")
        action(demo, event, per_user(ctx, length_and_events_state), engine, [length, events_row], queue=False,
               api_visibility="private")  # fmt: skip
        action(demo, event, per_user(ctx, model_state), engine, model_outputs, queue=False,
               api_visibility="private")  # fmt: skip

    @ui_errors
    def engine_choose_model(u: AppContext, engine: str, model: str, gpu: bool) -> tuple[Any, ...]:
        """Choose the checkpoint an engine runs from now on (remembered), among the downloaded ones
        (`engine_models`); the voices follow it (Qwen3-TTS CustomVoice: preset speakers; Base: cloned voices).

        Args:
            engine: engine name, e.g. "qwen3_tts".
            model: the checkpoint: a Hub id (e.g. "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"), a short name
                ("1.7b-customvoice") or "placed" (a folder placed by hand).
            gpu: whether the page's "Use GPU" is ticked (the steps' default follows it).
        """
        return choose_model(u, engine, model, gpu)

    action(demo, model_pick.input, per_user(ctx, engine_choose_model), [engine, model_pick, gpu],
           [*engine_outputs, instruct, model_note], model_note, concurrency_id="long_jobs", concurrency_limit=1,
           api_name="engine_choose_model").then(
        per_user(ctx, generate_state), [engine, text], generate_btn, queue=False, api_visibility="private")  # fmt: skip

    @ui_errors
    def engine_download_model(u: AppContext, engine: str, model: str,
                              progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008  # fmt: skip
        """Download one checkpoint of an engine that has several (Qwen3-TTS: 0.6b-base, 1.7b-base, 0.6b-customvoice,
        1.7b-customvoice) from the Hugging Face Hub (needs internet); it is not chosen (`engine_choose_model`).

        Args:
            engine: engine name, e.g. "qwen3_tts".
            model: a Hub id or a short name such as "1.7b-customvoice".
        """
        return download_model(u, engine, model, progress)

    action(demo, fetch_btn.click, per_user(ctx, engine_download_model), [engine, offered],
           [*model_outputs, fetch_note], fetch_note, concurrency_id="long_jobs", concurrency_limit=1,
           api_name="engine_download_model")  # fmt: skip

    @ui_errors
    def synthesize(
        u: AppContext,
        text: str,
        engine: str,
        voice: str | None,
        language: str | None,
        steps: float | None,
        speed: float | None,
        gpu: bool,
        normalize: bool,
        file_format: str,
        instructions: str,
        duration: float | None,
        request: gr.Request,
    ) -> Iterator[tuple[Any, Any, str]]:
        """Speak a text: the audio streams sentence by sentence, then the whole take is written to a file.

        Args:
            text: what to say (at most the server's character limit).
            engine: engine name, as `list_engines` gives it (e.g. "piper", "supertonic", "kokoro").
            voice: voice id of that engine (`list_voices`); empty for the engine's default voice.
            language: language code the engine speaks (e.g. "en"); empty for the voice's own.
            steps: inference steps (engines that have them, e.g. Supertonic); ignored by the others.
            speed: speaking rate, 1.0 = normal; ignored by engines without a speed control.
            gpu: run on the GPU (CUDA) when there is one; falls back to the CPU with a warning.
            normalize: read numbers, dates and abbreviations as words.
            file_format: "WAV" or "MP3", the format of the downloadable file.
            instructions: how to speak, in words ("speak slowly and warmly"), for engines that take them (Qwen3-TTS
                with a 1.7B CustomVoice checkpoint); ignored by the others. Empty for none.
            duration: seconds the take should last, for engines whose length is an input (smalltts); 0 or empty
                lets the engine estimate it; ignored by the others.

        Returns:
            the streamed audio, the finished file, and a status line (timings, device).
        """
        yield from generate(u, text, engine, voice, language, steps, speed, gpu, normalize, file_format,
                            _session(request), instructions, duration)  # fmt: skip

    action(
        demo,
        generate_btn.click,
        per_user(ctx, synthesize),
        [text, engine, voice, language, steps, speed, gpu, normalize, fmt, instruct, length],
        [audio, file, status],
        status,
        concurrency_id="preview",
        concurrency_limit=PREVIEWS,
        api_name="synthesize",
    )

    def _cancel(u: AppContext, request: gr.Request) -> str:
        return cancel(u, _session(request))

    cancel_btn.click(per_user(ctx, _cancel), None, status, queue=False, api_visibility="private")

    @ui_errors
    def engine_download(u: AppContext, engine: str, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Download an engine's model weights from the Hugging Face Hub into Studio's cache (needs internet).

        Args:
            engine: engine name, as `list_engines` gives it.
        """
        return download_engine(u, engine, progress)

    downloaded = action(demo, download_btn.click, per_user(ctx, engine_download), engine, [engine, *engine_outputs],
                        engine_status, concurrency_id="long_jobs", concurrency_limit=1,
                        api_name="engine_download").then(
        per_user(ctx, generate_state), [engine, text], generate_btn, queue=False, api_visibility="private")  # fmt: skip
    action(demo, downloaded.then, per_user(ctx, model_state), engine, model_outputs, queue=False,
           api_visibility="private")  # fmt: skip

    @ui_errors
    def _catalog(u: AppContext, progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:  # noqa: B008
        return load_piper_catalog(u, progress), ""

    @ui_errors
    def _install(u: AppContext, key: str | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:  # noqa: B008
        return download_piper_voice(u, key, progress)

    # the Piper catalog is a picker of this page (its choices land in a dropdown): UI plumbing, not an endpoint
    action(demo, catalog_btn.click, per_user(ctx, _catalog), None, [catalog, catalog_status], catalog_status,
           concurrency_id="long_jobs", concurrency_limit=1, api_visibility="private")  # fmt: skip
    action(demo, install_btn.click, per_user(ctx, _install), catalog, [voice, catalog_status], catalog_status,
           concurrency_id="long_jobs", concurrency_limit=1, api_visibility="private")  # fmt: skip
    return TextSource(text, engine, voice, instruct, to_book_btn, book_note)
