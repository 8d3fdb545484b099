"""Tables that fit: a table a user edits in place has fixed rows (no add-row, no row menu), only its editable
columns open for typing, columns sized in pixels and wrapped. On a narrow screen the table scrolls inside its own
box; the page does not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr


def edit_table(headers: Sequence[str], widths: Sequence[int], editable: Sequence[int], **kwargs: Any) -> gr.Dataframe:
    """An editable table whose rows come from Studio (chapters, chunks, clips): `editable` are the column indices a
    user may type in, `widths` each column's width in pixels."""
    if len(widths) != len(headers):
        raise ValueError("one width per column")
    table = gr.Dataframe(
        headers=list(headers),
        interactive=True,
        static_columns=[i for i in range(len(headers)) if i not in editable],
        column_widths=[f"{w}px" for w in widths],
        wrap=True,
        elem_classes=["studio-fixed"],
        **kwargs,
    )
    # rows and columns are fixed: the page offers no "add row" or "add column" (Gradio 6's page reads the mode from
    # the counts' second item; passing tuples to the constructor works too but adds deprecation warnings)
    table.row_count = (table.row_count[0], "fixed")
    table.column_count = table.col_count = (len(headers), "fixed")
    return table


# Empty states in words: what a table, a file box, a plot or a player will show, and how to get it there. Gradio
# marks an empty table (`.no-rows`) and an empty output box (`.empty`); the words replace its bare headers or icon,
# whatever event last emptied it.
EMPTY_STATES = {
    "book-chapters": "No book open: import one above, or open an earlier job.",
    "book-chunks": "Pick a chapter above to see its chunks.",
    "book-flagged": "Nothing flagged: every chunk checked so far was heard as written.",
    "book-files": "The finished book's files appear here when a render is exported.",
    "book-chunk-audio": "Click a flagged chunk to hear it.",
    "vc-library": "No voices yet: clone one above, mix presets below, or import a voice ZIP.",
    "vc-curve": "The similarity to the reference is drawn here while a voice is cloned.",
    "vc-clone-audio": "The new voice speaks here when cloning ends.",
    "vc-audio": "Press Preview to hear the picked voice.",
    "vc-exported": "Press Export as ZIP to get the picked voice as a file.",
    "vc-design-audio": "Describe a voice and press Preview to hear it.",
    "synth-audio": "Type a text and press Generate.",
    "synth-file": "The take to download appears here.",
    "synth-subtitles": "Its subtitles (SRT and WebVTT) appear here with the take.",
    "ft-review": "Build a dataset above to review its clips here.",
    "ft-clip": "Click a clip in the table to hear it.",
    "ft-loss-plot": "Start a run, or pick one, to see its loss.",
    "ft-lr-plot": "Start a run, or pick one, to see its learning rate.",
    "ft-compare-table": "No runs to compare yet: start a run or a batch.",
    "ft-exported": "Exported adapters and models appear here.",
    "bench-cps": "Characters per second appear here as the benchmark runs.",
    "bench-rtf": "Real-time factors appear here as the benchmark runs.",
    "bench-details": "Every case's details appear here as the benchmark runs.",
    "bench-files": "The results (JSON and CSV) appear here after a run.",
    "bench-compared": "Pick a results file and press Compare.",
}


def empty_state_css() -> str:
    rules = []
    for elem_id, words in EMPTY_STATES.items():
        quoted = words.replace("\\", "\\\\").replace('"', '\\"')
        rules.append(
            f"#{elem_id} .table-container.no-rows [role=grid], #{elem_id} .empty .icon {{ display: none; }}\n"
            f"#{elem_id} .empty {{ min-height: 0 !important; height: auto !important; }}\n"
            f'#{elem_id} .table-container.no-rows::after, #{elem_id} .empty::after {{ content: "{quoted}"; }}'
        )
    shared = (
        # a fixed table's cell menu would only open empty (no rows or columns to add)
        ".studio-fixed .cell-menu-button { display: none !important; }\n"
        ".table-container.no-rows::after, .empty::after { display: block; padding: 0.6em 0.9em; "
        "color: var(--body-text-color-subdued); font-size: var(--text-md); }"
    )
    return "\n".join([shared, *rules]) + "\n"
