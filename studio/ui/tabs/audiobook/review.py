"""Flag review in the Audiobook tab: the chunks speech recognition heard differently, one at a time. A click on a
flagged row selects and plays it; the panel sets what was written beside what was heard, the differing words
marked; the text is edited in place (saved as it is left) or a lexicon rule added; Regenerate makes a new take (a
fresh seed) and checks it; Accept keeps the take as it is. After an Accept, or a new take that passes, the next
flagged chunk comes up."""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

import numpy as np

from studio.book.job import BookJob, ChunkRecord
from studio.book.plan import format_lexicon
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.tabs.audiobook.plan import _job, saved_note

# what was heard first and narrow columns, so WER and Heard are on screen without scrolling sideways
FLAG_HEADERS = ["Chunk", "WER", "Heard", "Text"]
FLAG_WIDTHS: list[str | int] = ["96px", "64px", "40%", "40%"]
NO_REVIEW = '<div class="studio-review" id="book-review-empty">Click a flagged chunk to review it.</div>'

Review = tuple[str, str, str, Any, str]  # chunk id, panel, text, audio, note


def flagged_rows(ctx: AppContext, job: BookJob) -> list[list[Any]]:
    """The flagged chunks as the table shows them (a timer tick: the stored identity, nothing recomputed)."""
    return [[f.chunk_id, _percent(f.wer), f.heard, f.text] for f in ctx.books.flagged(job)]


def _percent(wer: float | None) -> str:
    return "" if wer is None else f"{wer:.0%}"


def scores(wer: float | None, sounds: float | None) -> str:
    """ "WER 40% · sounds 31% off": the words' error rate, and how far the heard words sound from the text where
    the words missed (a name heard with another spelling sounds right, and passes)."""
    said = f" · sounds {_percent(sounds)} off" if sounds is not None else ""
    return f"WER {_percent(wer)}{said}" if wer is not None else ""


def play_chunk(ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str) -> tuple[int, np.ndarray]:
    from studio.audio.io import read_audio

    job = _job(ctx, session, job_id)
    if not (chunk_id or "").strip():
        raise InvalidInput("Click a flagged chunk, or type a chunk id (like 001-00002), first.")
    samples, rate = read_audio(ctx.books.chunk_audio(job, (chunk_id or "").strip()))
    return rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16)


# --- the panel: written against heard --------------------------------------------------------------------------
def _key(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def marked_words(written: str, heard: str) -> tuple[str, str]:
    """Both texts as HTML with the words that differ marked (compared without case and punctuation)."""
    left, right = written.split(), heard.split()
    matcher = difflib.SequenceMatcher(a=[_key(w) for w in left], b=[_key(w) for w in right], autojunk=False)
    out_left: list[str] = []
    out_right: list[str] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        for words, lo, hi, out in ((left, a0, a1, out_left), (right, b0, b1, out_right)):
            for word in words[lo:hi]:
                text = html.escape(word)
                out.append(text if op == "equal" else f'<mark class="studio-diff">{text}</mark>')
    return " ".join(out_left), " ".join(out_right)


def review_panel(chunk_id: str, text: str, spoken: str, record: ChunkRecord | None) -> str:
    """The selected chunk: its take (WER, take number, seed) and Written beside Heard, differing words marked."""
    if record is None:
        state = "no take for this text yet: press <b>Regenerate</b> to make one"
        heard = ""
    else:
        seed = f"seed {record.seed}" if record.seed is not None else "the render's take"
        verdict = ("accepted" if record.accepted else "flagged" if record.flagged
                   else "passed" if record.checked else "not checked")  # fmt: skip
        wer = f"{scores(record.wer, record.sounds)} · " if record.wer is not None else ""
        state = f"{wer}{verdict} · take {record.tries} ({seed})"
        heard = record.transcript
    written_html, heard_html = marked_words(text, heard)
    said = ""
    if spoken.strip() != text.strip():
        said = f'<p class="studio-said">Said as (after the lexicon): {html.escape(spoken)}</p>'
    return (
        f'<div class="studio-review" id="book-review-{html.escape(chunk_id)}">'
        f"<p><b>Chunk {html.escape(chunk_id)}</b> · {state}</p>"
        '<table class="studio-review-table" style="width:100%;table-layout:fixed">'
        '<colgroup><col style="width:50%"><col style="width:50%"></colgroup>'
        "<thead><tr><th>Written</th><th>Heard</th></tr></thead>"
        f'<tbody><tr><td class="studio-written">{written_html}</td>'
        f'<td class="studio-heard">{heard_html or "<i>(nothing yet)</i>"}</td></tr></tbody></table>{said}</div>'
    )


def review_chunk(ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str, note: str = "") -> Review:
    """Select a chunk for review: (its id, the panel, its text for editing, its audio, a note)."""
    chunk_id = (chunk_id or "").strip()
    if not chunk_id:
        return "", NO_REVIEW, "", None, note
    job = _job(ctx, session, job_id)
    chunk = ctx.books.identity(job, check_facts=False).chunk(chunk_id)
    record = job.record(chunk.key)
    audio = play_chunk(ctx, job_id, chunk_id, session) if record is not None else None
    return chunk_id, review_panel(chunk_id, chunk.text, chunk.spoken, record), chunk.text, audio, note


def select_flagged(ctx: AppContext, job_id: str | None, row: list[Any] | None, session: str) -> Review:
    """A click on a row of the flagged table: that chunk, selected and played."""
    chunk_id = str(row[0]) if row else ""
    if not chunk_id:
        raise InvalidInput("That row has no chunk: click a flagged chunk.")
    return review_chunk(ctx, job_id, chunk_id, session)


def _ready(ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str, what: str) -> tuple[BookJob, str]:
    job = _job(ctx, session, job_id)
    if ctx.runner.running(job.id):
        raise InvalidInput(f"Wait for the render to finish (or cancel it) before {what} a chunk.")
    chunk_id = (chunk_id or "").strip()
    if not chunk_id:
        raise InvalidInput(f"Click a flagged chunk (or type its id) before {what} it.")
    return job, chunk_id


def _next(ctx: AppContext, job: BookJob, job_id: str | None, after: str, session: str, note: str) -> tuple[Any, ...]:
    """The table, and the next flagged chunk selected (or none left)."""
    following = ctx.books.next_flagged(job, after)
    if following is None:
        note += " No flagged chunks left." + _export_again(job)
        return (flagged_rows(ctx, job), *review_chunk(ctx, job_id, None, session, note))
    note += f" Next: {following.chunk_id}."
    return flagged_rows(ctx, job), *review_chunk(ctx, job_id, following.chunk_id, session, note)


def _export_again(job: BookJob) -> str:
    """Said once the review is done on a book exported before it: the files on disk hold the earlier takes."""
    if job.status().get("state") != "exported":
        return ""
    return " The exported files hold the earlier takes: press Render / resume to export the book again."


def regenerate_chunk(ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str) -> tuple[Any, ...]:
    """A new take (a fresh seed) of the selected chunk, checked again. A take that passes brings the next flagged
    chunk up; one still flagged stays selected with its new audio. Returns (table, chunk id, panel, text, audio,
    note)."""
    job, chunk_id = _ready(ctx, job_id, chunk_id, session, "regenerating")
    record = ctx.books.regenerate(job, chunk_id)
    heard = f"heard “{record.transcript}” ({scores(record.wer, record.sounds)})" if record.checked else "not checked"
    note = f"Regenerated {chunk_id}: a new take (seed {record.seed}), {heard}"
    if record.checked and not record.flagged:
        return _next(ctx, job, job_id, chunk_id, session, f"✓ {note} · passed.")
    advice = " · still flagged: regenerate again, edit its text, add a lexicon rule, or accept it."
    return flagged_rows(ctx, job), *review_chunk(ctx, job_id, chunk_id, session, note + (advice if record.flagged
                                                                                           else "."))  # fmt: skip


def accept_chunk(ctx: AppContext, job_id: str | None, chunk_id: str | None, session: str) -> tuple[Any, ...]:
    """Keep the selected flagged chunk's take as it is; the next flagged chunk comes up. Returns (table, chunk id,
    panel, text, audio, note)."""
    job, chunk_id = _ready(ctx, job_id, chunk_id, session, "accepting")
    ctx.books.accept(job, chunk_id)
    return _next(ctx, job, job_id, chunk_id, session, f"✓ Accepted {chunk_id} as it is.")


def save_chunk_text(
    ctx: AppContext, job_id: str | None, chunk_id: str | None, text: str, session: str
) -> tuple[Any, str]:
    """The selected chunk's text, edited in the review panel: saved when the box is left. Returns (panel, note)."""
    from gradio import skip

    if not job_id or not (chunk_id or "").strip():
        return skip(), ""
    job, chunk_id = _ready(ctx, job_id, chunk_id, session, "editing")
    if not ctx.books.edit_chunk(job, chunk_id, text or ""):
        return skip(), ""
    panel = review_chunk(ctx, job_id, chunk_id, session)[1]
    return panel, saved_note(f"Chunk {chunk_id}: text changed; press Regenerate to hear it")


def add_rule(
    ctx: AppContext, job_id: str | None, chunk_id: str | None, rule: str, session: str
) -> tuple[Any, Any, str, str]:
    """A lexicon rule added from the review panel. Returns (the lexicon box, the panel, the rule box, a note)."""
    from gradio import skip

    job = _job(ctx, session, job_id)
    if ctx.runner.running(job.id):
        raise InvalidInput("Wait for the render to finish (or cancel it) before adding a lexicon rule.")
    rules, changed = ctx.books.add_lexicon_rule(job, rule or "")
    panel = review_chunk(ctx, job_id, chunk_id, session)[1] if (chunk_id or "").strip() else skip()
    note = saved_note(f"Lexicon rule added ({rules} rules): {changed} chunk(s) render again; press Regenerate")
    return format_lexicon(job.plan().lexicon), panel, "", note
