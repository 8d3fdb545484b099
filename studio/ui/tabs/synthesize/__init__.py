"""Synthesize tab: text in, streamed speech out, with engine/voice/language pickers and the engine's own knobs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.config import MAX_STEPS, MIN_STEPS
from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.event_tags import event_row
from studio.ui.tabs.synthesize.models import (
    MODEL_INFO,
    MODEL_LABEL,
    choose_model,
    download_engine,
    download_model,
    download_piper_voice,
    load_piper_catalog,
    model_state,
)
from studio.ui.tabs.synthesize.take import FORMATS, cancel, generate
from studio.ui.tabs.synthesize.view import (
    INSTRUCT_LABEL,
    INSTRUCT_PLACEHOLDER,
    LENGTH_INFO,
    LENGTH_LABEL,
    STEPS_LABEL,
    TO_BOOK,
    char_count,
    engine_choices,
    engine_view,
    generate_state,
    instruct_state,
    length_and_events_state,
    on_engine_change,
    on_gpu_change,
    on_voice_change,
    steps_default,
    steps_info,
    text_state,
)
from studio.ui.users import per_user

SAMPLE_TEXT = (
    "Welcome to Studio. Type any text here, pick a voice, and press Generate. "
    "The first sentence plays while the rest is still being made."
)
WORDS_INFO = "a cue per word, timed by speech recognition hearing the take (a few seconds more)"


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
            subtitles = gr.File(label="Subtitles (SRT, WebVTT)", file_count="multiple", interactive=False,
                                elem_id="synth-subtitles")  # fmt: skip
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
            # a value: the API's `subtitle_words` is optional, so clients written before it keep working
            words = gr.Checkbox(False, label="Subtitles word by word", info=WORDS_INFO, elem_id="synth-subtitle-words")
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
        subtitle_words: bool,
        request: gr.Request,
    ) -> Iterator[tuple[Any, Any, str, Any]]:
        """Speak a text: the audio streams sentence by sentence, then the whole take is written to a file, with
        its subtitles (SRT and WebVTT, a cue per sentence where it is said, or per word).

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
            subtitle_words: subtitles with a cue per word, timed by speech recognition hearing the take (Whisper
                tiny.en for English, the multilingual Whisper base for other languages; a few seconds more).

        Returns:
            the streamed audio, the finished file, a status line (timings, device), and the subtitle files (.srt,
            .vtt).
        """
        yield from generate(u, text, engine, voice, language, steps, speed, gpu, normalize, file_format,
                            _session(request), instructions, duration, subtitle_words)  # fmt: skip

    action(
        demo,
        generate_btn.click,
        per_user(ctx, synthesize),
        [text, engine, voice, language, steps, speed, gpu, normalize, fmt, instruct, length, words],
        [audio, file, status, subtitles],
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
