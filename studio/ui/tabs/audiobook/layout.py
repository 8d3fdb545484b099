"""The Audiobook tab's layout: every component, in the order the page shows them (the events are wired in
`events_plan`, `events_render` and `events_review`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.book.formats import BOOK_SUFFIXES, SHORT_LIST
from studio.ui.context import AppContext
from studio.ui.event_tags import event_row
from studio.ui.tables import edit_table
from studio.ui.tabs.audiobook.plan import (
    CHAPTER_HEADERS,
    CHUNK_HEADERS,
    job_choices,
)
from studio.ui.tabs.audiobook.review import (
    FLAG_HEADERS,
    FLAG_WIDTHS,
    NO_REVIEW,
)
from studio.ui.tabs.synthesize.view import INSTRUCT_LABEL, engine_choices, engine_view

FORMATS = ["m4b", "mp3", "wav", "flac", "epub3", "srt", "vtt"]
FORMATS_INFO = "epub3: a read-along book (its text highlighted as it is read); srt, vtt: subtitles"
BOOK_INSTRUCT_PLACEHOLDER = "e.g. Calm, warm narration, unhurried."


def progress_bar(percent: float) -> str:
    """The render's progress as a real progress bar (HTML <progress>, read out by screen readers), with its number."""
    value = min(100.0, max(0.0, float(percent or 0.0)))
    return (f'<div class="studio-progress"><progress max="100" value="{value:.1f}" aria-label="Render progress">'
            f"</progress> <span>{value:.0f}%</span></div>")  # fmt: skip


def session_of(request: gr.Request | None) -> str:
    """The browser session a request comes from ("local" for a caller without one)."""
    return getattr(request, "session_hash", None) or "local"


@dataclass
class Parts:
    """The tab's components, for the modules that wire their events."""

    job_id: Any
    last_state: Any
    summary: Any
    chapters: Any
    chapters_msg: Any
    save_chapters_btn: Any
    save_chunks_btn: Any
    save_lexicon_btn: Any
    status: Any
    progress: Any
    files: Any
    timer: Any
    export_trigger: Any
    chapter_pick: Any
    chunks: Any
    chunk_msg: Any
    lexicon: Any
    lexicon_msg: Any
    speed: Any
    steps: Any
    gpu: Any
    qa: Any
    formats: Any
    subtitle_words: Any
    sentence_gap: Any
    paragraph_gap: Any
    chapter_gap: Any
    render_btn: Any
    cancel_btn: Any
    flagged: Any
    review: Any
    chunk_audio: Any
    regen_msg: Any
    text_note: Any
    upload: Any
    instruct: Any
    as_new: Any
    plan_btn: Any
    book_note: Any
    jobs: Any
    open_btn: Any
    chunk_id: Any
    play_btn: Any
    regen_btn: Any
    accept_btn: Any
    engine: Any
    voice: Any
    dialogue: Any
    dialogue_voice: Any
    flag_text: Any
    flag_events: Any
    flag_rule: Any
    rule_btn: Any


def lay_out(ctx: AppContext) -> Parts:
    """Lay the tab out (inside the Blocks); the components come back for the events to be wired to them."""
    names = ctx.registry.names()
    default_engine = "piper" if "piper" in names else names[0]
    view = engine_view(ctx, default_engine)
    voice_value = view.voices[0][1] if view.voices else None
    job_id = gr.State(None)
    last_state = gr.State("")

    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(
                label=f"Book ({SHORT_LIST})", file_types=list(BOOK_SUFFIXES), type="filepath", elem_id="book-upload"
            )
            with gr.Row():
                engine = gr.Dropdown(engine_choices(ctx, voiced=True), value=default_engine, label="Engine",
                                     elem_id="book-engine")  # fmt: skip
                # a voice the page has not caught up with (the engine and voice set together by "Make an audiobook
                # from this text": the engine's change event can carry the previous engine's voice) reaches the
                # handler, which picks the engine's own, instead of failing in Gradio's check of the choices
                voice = gr.Dropdown(view.voices, value=voice_value, label="Narrator voice", allow_custom_value=True,
                                    elem_id="book-voice")  # fmt: skip
            with gr.Row():
                dialogue = gr.Checkbox(False, label="Second voice for dialogue in quotes")
                dialogue_voice = gr.Dropdown(view.voices, value=None, label="Dialogue voice", allow_custom_value=True)
            # shown only for an engine whose model follows instructions (Qwen3-TTS 1.7B CustomVoice)
            instruct = gr.Textbox("", label=INSTRUCT_LABEL, placeholder=BOOK_INSTRUCT_PLACEHOLDER, lines=2,
                                  info="how the narrator speaks, in words; new instructions render the book again",
                                  visible=view.info.supports_instructions, elem_id="book-instruct")  # fmt: skip
            as_new = gr.Checkbox(False, label="Import as a new job (otherwise a book imported before opens its job)",
                                 elem_id="book-as-new")  # fmt: skip
            plan_btn = gr.Button("Import and plan", variant="primary", elem_id="book-plan")
            book_note = gr.Markdown("", elem_id="book-note")  # what went wrong with an import or an open
        with gr.Column(scale=1):
            jobs = gr.Dropdown(
                job_choices(ctx, "local") if not ctx.settings.hosted else [], label="Earlier jobs", elem_id="book-jobs"
            )
            open_btn = gr.Button("Open job")
    summary = gr.Markdown("", elem_id="book-summary")
    # Include and Title are typed in; the rest is what Studio counts (fixed rows, sized columns: studio.ui.tables)
    chapters = edit_table(
        CHAPTER_HEADERS, widths=[112, 48, 330, 124, 92, 114, 106, 64, 98], editable=[0, 2],
        datatype=["bool", "number", "str", "number", "number", "str", "str", "str", "str"],
        label="Chapters (untick what you do not want; titles are editable; every change is saved as you make it)",
        elem_id="book-chapters",
    )  # fmt: skip
    chapters_msg = gr.Markdown("", elem_id="book-chapters-saved")
    with gr.Accordion("Chunks of a chapter (edits are saved as you make them)", open=False):
        chapter_pick = gr.Dropdown([], label="Chapter", elem_id="book-chapter-pick")
        chunks = edit_table(CHUNK_HEADERS, widths=[100, 480, 110, 84, 60, 300], editable=[1], elem_id="book-chunks")
        chunk_msg = gr.Markdown("", elem_id="book-chunks-saved")
    with gr.Accordion("Pronunciation lexicon", open=False):
        lexicon = gr.Textbox(
            lines=4,
            label="One rule per line: word = how to say it  (or /regex/ = replacement); saved when you leave the box",
            placeholder="Hermione = Her-my-oh-nee",
            elem_id="book-lexicon",
        )
        lexicon_msg = gr.Markdown("", elem_id="book-lexicon-saved")
    # the save endpoints of the API (book_save_chapters, book_save_chunks, book_save_lexicon); the page itself saves
    # each edit as it is made (below), so there is no Save button a user could forget
    save_chapters_btn, save_chunks_btn, save_lexicon_btn = (gr.Button(visible=False) for _ in range(3))
    with gr.Row():
        speed = gr.Slider(
            view.info.min_speed, view.info.max_speed, value=view.info.default_speed, step=0.05, label="Speed"
        )
        steps = gr.Slider(2, 128, value=8, step=1, label="Steps (Supertonic)", visible=view.info.supports_steps,
                          elem_id="book-steps")  # fmt: skip
        gpu = gr.Checkbox(False, label="Use GPU (CUDA)", elem_id="book-gpu")
        qa = gr.Checkbox(True, label="Check every chunk by speech recognition", elem_id="book-qa")
        formats = gr.CheckboxGroup(FORMATS, value=["m4b"], label="Export", info=FORMATS_INFO, elem_id="book-formats")
        subtitle_words = gr.Checkbox(False, label="Subtitles word by word (needs the check)",
                                     elem_id="book-subtitle-words")  # fmt: skip
    with gr.Accordion("Silence between parts (seconds)", open=False), gr.Row():
        sentence_gap = gr.Slider(0, 3, value=0.25, step=0.05, label="Between chunks", elem_id="book-sentence-gap")
        paragraph_gap = gr.Slider(0, 5, value=0.6, step=0.05, label="After a paragraph")
        chapter_gap = gr.Slider(0, 10, value=1.5, step=0.1, label="After a chapter")
    with gr.Row():
        render_btn = gr.Button("Render / resume", variant="primary", elem_id="book-render")
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="book-cancel")
    status = gr.Markdown("", elem_id="book-status")
    progress = gr.HTML(progress_bar(0.0), elem_id="book-progress")  # a bar, not a slider a user could drag
    files = gr.File(label="Finished files", file_count="multiple", interactive=False, elem_id="book-files")
    with gr.Accordion("Flagged chunks (speech recognition heard something else): click one to review it", open=False,
                      elem_id="book-flagged-box"):  # fmt: skip
        flagged = gr.Dataframe(headers=FLAG_HEADERS, interactive=False, wrap=True, elem_id="book-flagged",
                               column_widths=FLAG_WIDTHS, max_height=300)  # fmt: skip
        review = gr.HTML(NO_REVIEW, elem_id="book-review")  # written beside heard, the differing words marked
        chunk_audio = gr.Audio(label="Chunk", interactive=False, autoplay=True, elem_id="book-chunk-audio")
        with gr.Row(equal_height=True):
            chunk_id = gr.Textbox(label="Chunk id (click a row, or type one and press Enter)", placeholder="001-00002",
                                  elem_id="book-chunk-id", scale=2)  # fmt: skip
            play_btn = gr.Button("Play", elem_id="book-play", scale=1)
            regen_btn = gr.Button("Regenerate (a new take)", elem_id="book-regenerate", scale=1)
            accept_btn = gr.Button("Accept as it is", elem_id="book-accept", scale=1)
        regen_msg = gr.Markdown("", elem_id="book-review-note")
        with gr.Row():
            with gr.Column(scale=3):
                flag_text = gr.Textbox(label="Text of this chunk (saved when you leave the box)", lines=2,
                                       elem_id="book-flag-text")  # fmt: skip
                # event tags for an engine that performs them (smalltts), put in at the cursor
                flag_events, _ = event_row("book-flag-text", view.info.supports_events, "book-flag-events")
            with gr.Column(scale=2):
                flag_rule = gr.Textbox(label="Add a lexicon rule (word = how to say it; Enter adds it)",
                                       placeholder="Zorblax = Zor blacks", elem_id="book-flag-rule")  # fmt: skip
                rule_btn = gr.Button("Add rule", elem_id="book-add-rule")
        text_note = gr.Markdown("", elem_id="book-flag-text-saved")
    timer = gr.Timer(1.0)
    export_trigger = gr.Button(visible=False)  # the book_export endpoint's (the page shows the files as they come)
    return Parts(
        job_id=job_id,
        last_state=last_state,
        summary=summary,
        chapters=chapters,
        chapters_msg=chapters_msg,
        save_chapters_btn=save_chapters_btn,
        save_chunks_btn=save_chunks_btn,
        save_lexicon_btn=save_lexicon_btn,
        status=status,
        progress=progress,
        files=files,
        timer=timer,
        export_trigger=export_trigger,
        chapter_pick=chapter_pick,
        chunks=chunks,
        chunk_msg=chunk_msg,
        lexicon=lexicon,
        lexicon_msg=lexicon_msg,
        speed=speed,
        steps=steps,
        gpu=gpu,
        qa=qa,
        formats=formats,
        subtitle_words=subtitle_words,
        sentence_gap=sentence_gap,
        paragraph_gap=paragraph_gap,
        chapter_gap=chapter_gap,
        render_btn=render_btn,
        cancel_btn=cancel_btn,
        flagged=flagged,
        review=review,
        chunk_audio=chunk_audio,
        regen_msg=regen_msg,
        text_note=text_note,
        upload=upload,
        instruct=instruct,
        as_new=as_new,
        plan_btn=plan_btn,
        book_note=book_note,
        jobs=jobs,
        open_btn=open_btn,
        chunk_id=chunk_id,
        play_btn=play_btn,
        regen_btn=regen_btn,
        accept_btn=accept_btn,
        engine=engine,
        voice=voice,
        dialogue=dialogue,
        dialogue_voice=dialogue_voice,
        flag_text=flag_text,
        flag_events=flag_events,
        flag_rule=flag_rule,
        rule_btn=rule_btn,
    )
