"""Audiobook tab: import a book, preview and edit its plan, render in the background, check, export.

One module a concern: `plan` (jobs, import, the chapter and chunk tables and their edits, the lexicon), `render`
(render and cancel, the timer's poll, finished files), `review` (the flagged chunks: select and play, written
against heard, edit or a lexicon rule, regenerate as a new take, accept); this one lays the tab out and wires its
endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.book.formats import BOOK_SUFFIXES, SHORT_LIST
from studio.book.service import book_sentence_gap
from studio.ui.context import PREVIEWS, AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.event_tags import event_row
from studio.ui.tables import edit_table
from studio.ui.tabs.audiobook.plan import (
    CHAPTER_HEADERS,
    CHUNK_HEADERS,
    _job,
    autosave_chapters,
    autosave_chunks,
    autosave_lexicon,
    book_from_text,
    book_summary,
    chapter_choices,
    chapter_rows,
    chunk_rows,
    import_book,
    job_choices,
    open_job,
    save_chapters,
    save_chunks,
    save_lexicon,
)
from studio.ui.tabs.audiobook.render import (
    ACTIVE,
    CANCELLING,
    cancel_render,
    export_files,
    job_instruct,
    output_files,
    poll,
    start_render,
)
from studio.ui.tabs.audiobook.review import (
    FLAG_HEADERS,
    FLAG_WIDTHS,
    NO_REVIEW,
    accept_chunk,
    add_rule,
    flagged_rows,
    play_chunk,
    regenerate_chunk,
    review_chunk,
    save_chunk_text,
    select_flagged,
)
from studio.ui.users import per_user, user_context

if TYPE_CHECKING:
    from studio.ui.tabs.synthesize import TextSource

__all__ = [
    "ACTIVE", "CANCELLING", "CHAPTER_HEADERS", "CHUNK_HEADERS", "FLAG_HEADERS", "FORMATS", "BookTab", "_job",
    "accept_chunk", "add_rule", "autosave_chapters", "autosave_chunks", "autosave_lexicon", "book_from_text",
    "book_summary", "build", "cancel_render", "chapter_choices", "chapter_rows", "chunk_rows", "export_files",
    "flagged_rows", "import_book", "job_choices", "open_job", "output_files", "play_chunk", "poll", "progress_bar",
    "regenerate_chunk", "review_chunk", "save_chapters", "save_chunk_text", "save_chunks", "save_lexicon",
    "select_flagged", "start_render", "wire_book_from_text",
]  # fmt: skip

FORMATS = ["m4b", "mp3", "wav", "flac"]
BOOK_INSTRUCT_PLACEHOLDER = "e.g. Calm, warm narration, unhurried."


def progress_bar(percent: float) -> str:
    """The render's progress as a real progress bar (HTML <progress>, read out by screen readers), with its number."""
    value = min(100.0, max(0.0, float(percent or 0.0)))
    return (f'<div class="studio-progress"><progress max="100" value="{value:.1f}" aria-label="Render progress">'
            f"</progress> <span>{value:.0f}%</span></div>")  # fmt: skip


@dataclass(frozen=True)
class BookTab:
    """The components that show the open book, for events of other tabs that open one (`wire_book_from_text`)."""

    job_id: gr.State
    shown: list[Any]  # summary, chapters, chapter picker, chunks, lexicon, jobs: what book_import fills
    engine: gr.Dropdown
    voice: gr.Dropdown
    note: gr.Markdown
    instruct: gr.Textbox


def build(ctx: AppContext, demo: gr.Blocks) -> BookTab:
    """Lay out the tab; every handler it wires is a plain function in `plan` or `render` (tests call them directly)."""
    from studio.ui.tabs.synthesize import (
        INSTRUCT_LABEL,
        engine_choices,
        engine_view,
        on_gpu_change,
        steps_default,
    )

    names = ctx.registry.names()
    default_engine = "piper" if "piper" in names else names[0]
    view = engine_view(ctx, default_engine)
    voice_value = view.voices[0][1] if view.voices else None
    job_id = gr.State(None)
    last_state = gr.State("")

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

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
        formats = gr.CheckboxGroup(FORMATS, value=["m4b"], label="Export", elem_id="book-formats")
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

    def _refresh_jobs(request: gr.Request) -> Any:
        return gr.update(choices=job_choices(user_context(ctx, request), _session(request)))

    def _voices(u: AppContext, e: str, current: str | None, on_gpu: bool) -> tuple[Any, ...]:
        v = engine_view(u, e)
        ids = [vid for _, vid in v.voices]
        # a voice set together with the engine (a book made from Synthesize's text) stays; else the first
        first = current if current in ids else (ids[0] if ids else None)
        return (
            gr.update(choices=v.voices, value=first),
            gr.update(choices=v.voices, value=None),
            gr.update(visible=v.info.supports_steps, value=steps_default(v.info, bool(on_gpu))),
            gr.update(minimum=v.info.min_speed, maximum=v.info.max_speed, value=v.info.default_speed,
                      visible=v.info.supports_speed),  # Qwen3-TTS has no speed control
            gr.update(value=book_sentence_gap(v.info)),  # Supertonic pauses 0.3 s between sentences, as its reference
            # an engine without instructions: the box goes, and so does its text (a render would refuse it)
            gr.update(visible=True) if v.info.supports_instructions else gr.update(visible=False, value=""),
        )

    # a failure says why beside the action and leaves every other output as it was (studio.ui.errors.action)
    for event in (engine.change, demo.load):  # and this user's voices once the page is open (hosted: the page is
        # built with nobody's data)
        action(demo, event, per_user(ctx, _voices), [engine, voice, gpu],
               [voice, dialogue_voice, steps, speed, sentence_gap, instruct], queue=False,
               api_visibility="private")  # fmt: skip
        action(demo, event, per_user(ctx, lambda u, e: gr.update(visible=u.registry.info(e).supports_events)),
               engine, flag_events, queue=False, api_visibility="private")  # fmt: skip
    demo.load(_refresh_jobs, None, jobs, queue=False, api_visibility="private")
    # ticking "Use GPU" moves untouched steps to the GPU default and back, as in Synthesize
    action(demo, gpu.change, per_user(ctx, on_gpu_change), [engine, gpu, steps], steps, queue=False,
           api_visibility="private")  # fmt: skip

    @ui_errors
    def book_import(
        book_file: str | None, engine: str, voice: str | None, dialogue: bool, as_new: bool, request: gr.Request
    ) -> tuple[Any, ...]:
        """Import a book (EPUB, PDF, DOCX, Markdown, HTML, Kindle, TXT) and plan it: chapters, chunks and the audio's
        length. The new job becomes this session's open book (book_render, book_cancel, book_export act on it). The
        same file imported again opens its earlier job instead, unless `as_new`.

        Args:
            book_file: the book file (.epub, .pdf, .docx, .md, .html, .mobi/.azw3 or .txt).
            engine: engine that will read it (`list_engines`).
            voice: narrator voice id (`list_voices`); empty for the engine's default.
            dialogue: plan a second voice for dialogue in quotes.
            as_new: make a new job even if this file was imported before.

        Returns:
            the job id, the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon,
            the jobs list and a note (empty when all went well).
        """
        u = user_context(ctx, request)
        return (*import_book(u, book_file, engine, voice, dialogue, _session(request), as_new), "")

    imported = action(
        demo,
        plan_btn.click,
        book_import,
        [upload, engine, voice, dialogue, as_new],
        [job_id, summary, chapters, chapter_pick, chunks, lexicon, jobs, book_note],
        book_note,
        concurrency_id="book_import",  # never the previews' group: a long import would hold every Generate
        concurrency_limit=2,
        api_name="book_import",
    )

    @ui_errors
    def book_open(job_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Open an earlier book job (its id from book_import or book_list); it becomes this session's open book.

        Args:
            job_id: the job's id.

        Returns:
            the job id, the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon
            and a note (empty when all went well).
        """
        return (*open_job(user_context(ctx, request), job_id, _session(request)), "")

    opened = action(demo, open_btn.click, book_open, jobs,
                    [job_id, summary, chapters, chapter_pick, chunks, lexicon, book_note], book_note,
                    api_name="book_open")  # fmt: skip

    def _job_instruct(job: str | None, e: str, request: gr.Request) -> Any:
        return job_instruct(user_context(ctx, request), job, _session(request), e)

    for done in (imported, opened):  # the box shows the instructions the opened job renders with
        action(demo, done.then, _job_instruct, [job_id, engine], instruct, queue=False, api_visibility="private")

    # this session's jobs, fresh each time the list opens
    jobs.focus(_refresh_jobs, None, jobs, queue=False, api_visibility="private")

    @ui_errors
    def book_save_chapters(job: str | None, chapters: Any, request: gr.Request) -> tuple[Any, ...]:
        """Choose the chapters of the open book to render (the Include column) and edit their titles.

        Args:
            chapters: the chapter table as book_open returns it, with Include ticks and titles changed.
        """
        return save_chapters(user_context(ctx, request), job, chapters, _session(request))

    save_chapters_btn.click(book_save_chapters, [job_id, chapters], [chapters, summary],
                            api_name="book_save_chapters")  # fmt: skip

    @ui_errors
    def book_chunks(job: str | None, chapter: int | None, request: gr.Request) -> Any:
        """The chunks of one chapter of the open book: text, voice, render state and what speech recognition heard.

        Args:
            chapter: the chapter's number (the # column of the chapter table).
        """
        if not (job and chapter):
            return gr.update()
        u = user_context(ctx, request)
        return chunk_rows(u, _job(u, _session(request), job), int(chapter))

    action(demo, chapter_pick.change, book_chunks, [job_id, chapter_pick], chunks, api_name="book_chunks")

    @ui_errors
    def book_save_chunks(job: str | None, chapter: int | None, chunks: Any, request: gr.Request) -> tuple[Any, ...]:
        """Edit the text of a chapter's chunks; an edited chunk renders again, the others are kept.

        Args:
            chapter: the chapter's number.
            chunks: that chapter's chunk table (as book_chunks returns it) with the Text column edited.
        """
        return save_chunks(user_context(ctx, request), job, chapter, chunks, _session(request))

    save_chunks_btn.click(book_save_chunks, [job_id, chapter_pick, chunks], [chunks, chunk_msg],
                          api_name="book_save_chunks")  # fmt: skip

    @ui_errors
    def book_save_lexicon(job: str | None, lexicon: str, request: gr.Request) -> str:
        """Set the open book's pronunciation lexicon; chunks whose spoken text changes render again.

        Args:
            lexicon: one rule per line, `word = how to say it` or `/regex/ = replacement`.
        """
        return save_lexicon(user_context(ctx, request), job, lexicon, _session(request))

    save_lexicon_btn.click(book_save_lexicon, [job_id, lexicon], lexicon_msg, api_name="book_save_lexicon")

    # what is on screen is what runs: each edit takes effect as it is made, with its "saved" note beside it; these
    # run outside the queue, so a Render pressed right after an edit finds it saved
    def _chapters_edited(job: str | None, rows: Any, request: gr.Request) -> tuple[Any, str]:
        return autosave_chapters(user_context(ctx, request), job, rows, _session(request))

    chapters.input(_chapters_edited, [job_id, chapters], [summary, chapters_msg], queue=False, show_progress="hidden",
                   api_visibility="private")  # fmt: skip

    def _chunks_edited(job: str | None, chapter: int | None, rows: Any, request: gr.Request) -> str:
        return autosave_chunks(user_context(ctx, request), job, chapter, rows, _session(request))

    chunks.input(_chunks_edited, [job_id, chapter_pick, chunks], chunk_msg, queue=False, show_progress="hidden",
                 api_visibility="private")  # fmt: skip

    def _lexicon_left(job: str | None, text: str, request: gr.Request) -> Any:
        return autosave_lexicon(user_context(ctx, request), job, text, _session(request))

    lexicon.blur(_lexicon_left, [job_id, lexicon], lexicon_msg, queue=False, show_progress="hidden",
                 api_visibility="private")  # fmt: skip

    @ui_errors
    def book_render(
        job: str | None,
        engine: str,
        voice: str | None,
        dialogue_voice: str | None,
        speed: float,
        steps: float,
        gpu: bool,
        check_speech: bool,
        formats: list[str],
        dialogue: bool,
        sentence_gap: float,
        paragraph_gap: float,
        chapter_gap: float,
        instructions: str,
        request: gr.Request,
    ) -> str:
        """Render the open book in the background (or resume it: finished chunks are kept), then export it. The
        render goes on without the caller; follow it with book_status, fetch the files with book_export.

        Args:
            engine: engine name (`list_engines`).
            voice: narrator voice id; empty for the engine's default.
            dialogue_voice: voice id for dialogue in quotes (used when `dialogue` is true).
            speed: speaking rate, 1.0 = normal (engines with a speed control).
            steps: inference steps (engines that have them).
            gpu: render on the GPU (CUDA).
            check_speech: check every chunk by speech recognition, flag the ones heard differently (English).
            formats: export formats, any of "m4b", "mp3", "wav", "flac".
            dialogue: read dialogue in quotes with `dialogue_voice`.
            sentence_gap: seconds of silence between chunks.
            paragraph_gap: seconds of silence after a paragraph.
            chapter_gap: seconds of silence after a chapter.
            instructions: how the narrator speaks, in words ("calm, warm narration"), for engines that take them
                (Qwen3-TTS with the 1.7B CustomVoice checkpoint); any other engine refuses them. Empty for none.
                Part of every chunk's key: new instructions render the book again.
        """
        gaps = (sentence_gap, paragraph_gap, chapter_gap)
        u = user_context(ctx, request)
        return start_render(u, job, engine, voice, dialogue_voice if dialogue else None, speed, steps, gpu,
                            check_speech, formats, _session(request), gaps, instructions)  # fmt: skip

    action(
        demo,
        render_btn.click,
        book_render,
        [
            job_id,
            engine,
            voice,
            dialogue_voice,
            speed,
            steps,
            gpu,
            qa,
            formats,
            dialogue,
            sentence_gap,
            paragraph_gap,
            chapter_gap,
            instruct,
        ],
        status,
        status,
        concurrency_id="long_jobs",
        concurrency_limit=1,
        api_name="book_render",
    )

    @ui_errors
    def book_cancel(job: str | None, request: gr.Request) -> str:
        """Stop the open book's render after the current chunk (what is rendered is kept; book_render resumes)."""
        return cancel_render(user_context(ctx, request), job, _session(request))

    action(demo, cancel_btn.click, book_cancel, job_id, status, status, queue=False, api_name="book_cancel")

    shown_flagged = gr.State(None)  # how many flagged chunks the page shows (a review changes it: poll redraws)

    def _poll(j: str | None, last: str, shown: int | None, request: gr.Request) -> tuple[Any, ...]:
        u, session = user_context(ctx, request), _session(request)
        out = poll(u, j, session, last, shown)
        count = len(out[3]) if isinstance(out[3], list) else shown
        # Render is pressable only when nothing renders (a second press used to answer confusingly), and the list of
        # jobs follows a job's state as it changes (it said "planned" of a book rendering)
        jobs_now = gr.update(choices=job_choices(u, session)) if out[4] != last else gr.update()
        return (out[0], progress_bar(out[1]), *out[2:], gr.update(interactive=out[4] not in ACTIVE), jobs_now, count)

    # the page's own clock (book_status is the endpoint that reports a render)
    action(
        demo,
        timer.tick,
        _poll,
        [job_id, last_state, shown_flagged],
        [status, progress, files, flagged, last_state, chapters, render_btn, jobs, shown_flagged],
        status,
        show_progress="hidden",
        queue=False,
        api_visibility="private",
    )

    @ui_errors
    def book_export(job: str | None, request: gr.Request) -> list[str]:
        """The open book's exported files (the formats book_render was asked for), once its render has finished."""
        return export_files(user_context(ctx, request), job, _session(request))

    export_trigger.click(book_export, job_id, files, api_name="book_export")

    @ui_errors
    def book_play_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> Any:
        """The audio of one rendered chunk of the open book.

        Args:
            chunk_id: the chunk's id, like "001-00002" (chapter-chunk).
        """
        return play_chunk(user_context(ctx, request), job, chunk_id, _session(request))

    action(demo, play_btn.click, book_play_chunk, [job_id, chunk_id], chunk_audio, api_name="book_play_chunk",
           concurrency_id="preview", concurrency_limit=PREVIEWS)  # fmt: skip

    # the chunk whose panel and text box are shown (the id box may hold another id typed since, not yet reviewed):
    # the text box's edits go to this one
    reviewing = gr.State("")
    reviewed = [flagged, chunk_id, review, flag_text, chunk_audio, regen_msg, reviewing]

    @ui_errors
    def book_regenerate_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Make a new take of one chunk of the open book (a fresh seed, recorded with the chunk) and check it again
        by speech recognition; the earlier take is kept until the new one exists. A take that passes brings the next
        flagged chunk up.

        Args:
            chunk_id: the chunk's id, like "001-00002".

        Returns:
            the flagged table, the chunk now selected, its review panel (HTML), its text, its audio and a note
            (the new take's seed, what was heard and its WER).
        """
        out = regenerate_chunk(user_context(ctx, request), job, chunk_id, _session(request))
        return (*out, out[1])

    action(demo, regen_btn.click, book_regenerate_chunk, [job_id, chunk_id], reviewed, regen_msg,
           concurrency_id="long_jobs", concurrency_limit=1, api_name="book_regenerate_chunk")  # fmt: skip

    @ui_errors
    def book_accept_chunk(job: str | None, chunk_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Accept a flagged chunk of the open book as it is: it is no longer flagged, and stays so (reopened,
        resumed, exported) until its text changes. The next flagged chunk comes up.

        Args:
            chunk_id: the flagged chunk's id, like "001-00002".

        Returns:
            the flagged table, the chunk now selected (the next flagged one, or none), its review panel (HTML), its
            text, its audio and a note.
        """
        out = accept_chunk(user_context(ctx, request), job, chunk_id, _session(request))
        return (*out, out[1])

    action(demo, accept_btn.click, book_accept_chunk, [job_id, chunk_id], reviewed, regen_msg,
           api_name="book_accept_chunk")  # fmt: skip

    # the page's own review steps: a click on a flagged row selects and plays it, a typed id is reviewed on Enter,
    # the text is saved when its box is left, a rule added from the panel goes into the lexicon
    def _flag_clicked(job: str | None, event: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        out = select_flagged(user_context(ctx, request), job, event.row_value, _session(request))
        return (*out, out[0])

    action(demo, flagged.select, _flag_clicked, [job_id], reviewed[1:], regen_msg, api_visibility="private",
           concurrency_limit=2)  # fmt: skip

    def _typed(job: str | None, chunk: str | None, request: gr.Request) -> tuple[Any, ...]:
        out = review_chunk(user_context(ctx, request), job, chunk, _session(request))
        return (*out, out[0])

    action(demo, chunk_id.submit, _typed, [job_id, chunk_id], reviewed[1:], regen_msg, api_visibility="private",
           concurrency_limit=2)  # fmt: skip

    def _another_book(_job: str | None) -> tuple[Any, ...]:
        """Another book opened: nothing of the last one stays selected (its text must never be saved into this one)."""
        return "", NO_REVIEW, "", None, "", ""

    job_id.change(_another_book, job_id, reviewed[1:], queue=False, show_progress="hidden", api_visibility="private")

    # the "saved" note under the text box is of the chunk it was said for: another chunk reviewed clears it
    reviewing.change(lambda _chunk: "", reviewing, text_note, queue=False, show_progress="hidden",
                     api_visibility="private")  # fmt: skip

    def _text_left(job: str | None, chunk: str | None, text: str, shown_chapter: int | None,
                   request: gr.Request) -> tuple[Any, ...]:  # fmt: skip
        u, session = user_context(ctx, request), _session(request)
        panel, note = save_chunk_text(u, job, chunk, text, session)
        # the chunk table, when it shows this chunk's chapter, shows the new text too: a stale row there would put
        # the old text back with the next edit made in that table
        chapter = int(chunk.split("-")[0]) if chunk and chunk.split("-")[0].isdigit() else None
        if note and chapter is not None and shown_chapter is not None and int(shown_chapter) == chapter:
            return panel, note, chunk_rows(u, _job(u, session, job), chapter)
        return panel, note, gr.skip()

    action(demo, flag_text.blur, _text_left, [job_id, reviewing, flag_text, chapter_pick], [review, text_note, chunks],
           text_note, queue=False, show_progress="hidden", api_visibility="private")  # fmt: skip

    def _rule(job: str | None, chunk: str | None, rule: str, request: gr.Request) -> tuple[Any, ...]:
        return add_rule(user_context(ctx, request), job, chunk, rule, _session(request))

    for event in (rule_btn.click, flag_rule.submit):
        action(demo, event, _rule, [job_id, reviewing, flag_rule], [lexicon, review, flag_rule, text_note], text_note,
               api_visibility="private")  # fmt: skip

    return BookTab(job_id, [summary, chapters, chapter_pick, chunks, lexicon, jobs], engine, voice, book_note,
                   instruct)  # fmt: skip


def wire_book_from_text(ctx: AppContext, demo: gr.Blocks, source: TextSource, book: BookTab, tabs: gr.Tabs) -> None:
    """Synthesize's "Make an audiobook from this text": the text becomes a job with that tab's engine and voice,
    opened in the Audiobook tab, which the page switches to. A failure says why beside the button."""
    from studio.ui.tabs.synthesize import engine_view

    def _session(request: gr.Request | None) -> str:
        return getattr(request, "session_hash", None) or "local"

    @ui_errors
    def book_from_text_(text: str, engine: str, voice: str | None, instructions: str,
                        request: gr.Request) -> tuple[Any, ...]:  # fmt: skip
        """Make an audiobook job of a text of any length (chapters at headings; titled by its first line when that
        is short, else "Pasted text"), read by `engine` and `voice`. The job becomes this session's open book
        (book_render, book_cancel, book_export act on it); the same text again opens its earlier job.

        Args:
            text: the text to read.
            engine: engine that will read it (`list_engines`).
            voice: voice id (`list_voices`); empty for the engine's default.
            instructions: how the narrator speaks, for engines that take them (Qwen3-TTS 1.7B CustomVoice; the
                Synthesize tab's box); ignored by the others, as on that tab. Empty for none.

        Returns:
            the summary, the chapter table, the chapter picker, the first chapter's chunks, the lexicon, the jobs
            list (its value: the job's id), the Audiobook tab's note, its engine, voice and instructions, and a
            note (empty when all went well).
        """
        u = user_context(ctx, request)
        takes = u.registry.info(engine).supports_instructions
        instruct = (instructions or "").strip() if takes else ""
        opened = book_from_text(u, text, engine, voice, _session(request), instruct or None)
        job = _job(u, _session(request), opened[0])
        voices = engine_view(u, engine).voices
        # the box shows what Render will use: these instructions (an earlier job of the same text keeps its own
        # settings until Render saves the box), or the job's own when none were typed
        shown = instruct or (job.settings().instruct or "" if takes else "")
        return (*opened, gr.update(value=engine), gr.update(choices=voices, value=voice or job.settings().voice),
                gr.update(value=shown), gr.Tabs(selected="audiobook"), "")  # fmt: skip

    action(
        demo,
        source.button.click,
        book_from_text_,
        [source.text, source.engine, source.voice, source.instruct],
        [book.job_id, *book.shown, book.note, book.engine, book.voice, book.instruct, tabs, source.note],
        source.note,
        concurrency_id="book_import",  # as book_import: never the previews' group
        concurrency_limit=2,
        api_name="book_from_text",
    )
