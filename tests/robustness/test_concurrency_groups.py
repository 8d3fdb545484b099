"""Quick previews never queue behind long work: Gradio runs a concurrency group at the smallest limit any of its
events declares, so a slow event in the previews' group (a book import did) made every Generate wait for it."""

from __future__ import annotations

from collections import defaultdict

from studio.config import Settings
from studio.ui.app import build_app
from studio.ui.context import AppContext

QUICK = {"synthesize", "voice_preview", "voice_design_preview", "book_play_chunk"}  # what may share the previews' group


def test_every_group_has_one_limit_and_previews_share_theirs_with_nothing_slow(settings: Settings) -> None:
    demo = build_app(AppContext.create(settings))
    demo.queue(default_concurrency_limit=1)
    groups: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for fn in demo.fns.values():
        groups[str(fn.concurrency_id)].append((str(fn.api_name), fn.concurrency_limit))
    preview = groups["preview"]
    assert {name for name, _ in preview} == QUICK, preview
    for group, members in groups.items():
        assert len({limit for _, limit in members}) == 1, (group, members)  # no event lowers its group's limit
    assert preview[0][1] not in (None, 1)  # previews run side by side
