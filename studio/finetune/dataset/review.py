"""Fine-tune dataset review: the review table's rows, and its edits (text, drop) applied to a draft."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.finetune.dataset.flags import update_flags
from studio.finetune.dataset.model import REVIEW_COLUMNS, Clip, DatasetDraft
from studio.finetune.dataset.transcripts import clean_text


def review_rows(draft: DatasetDraft) -> list[list[Any]]:
    """One row per clip for the review table (columns REVIEW_COLUMNS)."""
    return [
        [c.id, round(c.duration, 1), c.text, c.recognized or "", ", ".join(c.flags), c.drop, c.reason]
        for c in draft.clips
    ]


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0", ""):
        return value.strip().lower() in ("true", "yes", "1")
    raise InvalidInput(f"{where}: the drop column must be true or false, not {value!r}.")


def apply_review(draft: DatasetDraft, rows: Any) -> DatasetDraft:
    """A new draft with the review table's edits (text, drop) applied; clips missing from `rows` stay as they were.

    `rows` is a list of rows as review_rows gives them, or the table's pandas DataFrame.
    """
    if hasattr(rows, "columns") and hasattr(rows, "values"):  # gr.Dataframe hands back a pandas DataFrame
        rows = rows.values.tolist()
    if not isinstance(rows, list | tuple):
        raise InvalidInput("The review table could not be read: reload the dataset and edit it again.")
    by_id = {c.id: c for c in draft.clips}
    clips = {c.id: replace(c, flags=list(c.flags)) for c in draft.clips}
    seen: set[str] = set()
    edited: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"Review table row {number}"
        if not isinstance(row, list | tuple) or len(row) != len(REVIEW_COLUMNS):
            raise InvalidInput(f"{where} does not have the {len(REVIEW_COLUMNS)} columns {', '.join(REVIEW_COLUMNS)}.")
        ident = _match_id(row[0], by_id)
        if ident is None:
            raise InvalidInput(f"{where} names clip {row[0]!r}, which is not in this dataset.")
        if ident in seen:
            raise InvalidInput(f"{where} repeats clip {ident}.")
        seen.add(ident)
        text = _cell_text(row[2])
        drop = _as_bool(row[5], where)
        clip, old = clips[ident], by_id[ident]
        if text != old.text:
            clip.text = text
            edited.add(ident)
        if not text:
            clip.drop, clip.reason = True, "empty transcript"
        elif drop and not old.drop:
            clip.drop, clip.reason = True, "dropped in review"
        elif not drop and old.drop:
            clip.drop, clip.reason = False, ""
        elif drop and old.drop and old.reason == "empty transcript":
            clip.reason = "dropped in review"  # the text was filled in but the clip is still unticked
    new = [clips[c.id] for c in draft.clips]
    update_flags(new, recheck=edited)
    return replace(draft, clips=new, problems=list(draft.problems))


def _cell_text(value: Any) -> str:
    if isinstance(value, str):
        return clean_text(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):  # an emptied DataFrame cell is NaN
        return ""
    return clean_text(str(value))


def _match_id(value: Any, by_id: dict[str, Clip]) -> str | None:
    ident = str(value).strip()
    if ident in by_id:
        return ident
    # a table that parsed "0012" as the number 12
    try:
        number = int(float(ident))
    except ValueError:
        return None
    return next((k for k in by_id if k.isdigit() and int(k) == number), None)
