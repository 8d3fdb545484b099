"""The row of event-tag buttons ("[laughter]", "[sigh]", ...) beside a text box: a click puts the tag where the
cursor is (or ends the selection with it), in the browser, without a round trip; the box's own change events then
save or count the text as if it had been typed. Shown only for engines that perform events (smalltts)."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from studio.text.events import COMMON, EVENTS

HINT = ("Event tags are performed by smalltts (other engines leave them out): click one to put it at the cursor, or "
        "type any of " + ", ".join(f"[{e}]" for e in EVENTS) + ".")  # fmt: skip


def insert_js(target: str, label: str) -> str:
    """JavaScript for a button: insert `[label]` at the cursor of the textarea inside `#target`, spaced from the words
    around it, and tell Gradio the text changed."""
    tag = json.dumps(f"[{label}]")
    box = json.dumps(f"#{target} textarea")
    return f"""() => {{
  const ta = document.querySelector({box});
  if (!ta) return;
  const start = ta.selectionStart ?? ta.value.length, end = ta.selectionEnd ?? start;
  const before = ta.value.slice(0, start), after = ta.value.slice(end);
  const left = before && !/\\s$/.test(before) ? ' ' : '', right = after && !/^\\s/.test(after) ? ' ' : '';
  const piece = left + {tag} + right;
  ta.value = before + piece + after;
  const caret = before.length + piece.length;
  ta.setSelectionRange(caret, caret);
  ta.dispatchEvent(new Event('input', {{bubbles: true}}));
  ta.focus();
}}"""


def event_row(target: str, visible: bool, elem_id: str) -> tuple[Any, list[gr.Button]]:
    """The buttons (in a Row, shown when `visible`) for the text box whose elem_id is `target`; returns the row
    (whose visibility follows the engine) and its buttons, already wired."""
    with gr.Column(visible=visible, elem_id=elem_id, elem_classes=["studio-events"]) as row:
        with gr.Row():
            buttons = [gr.Button(f"[{label}]", size="sm", min_width=60, elem_classes=["studio-event"])
                       for label in COMMON]  # fmt: skip
        gr.Markdown(HINT, elem_classes=["studio-events-hint"])
    for label, button in zip(COMMON, buttons, strict=True):
        button.click(None, None, None, js=insert_js(target, label), queue=False, api_visibility="private")
    return row, buttons
