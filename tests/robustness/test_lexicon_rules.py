"""Lexicon rules a user types can neither freeze Studio nor crash it: a catastrophically backtracking rule and a bad
replacement are refused with a message naming the rule, before anything is saved (UI, CLI, service)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from studio.book.plan import LexiconEntry, apply_lexicon, check_lexicon, parse_lexicon
from studio.config import Settings
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.tabs import audiobook as tab
from tests.robustness.bounded import run_bounded

S = "sess"
EXPONENTIAL = r"/^(\w|\w\w)*$/ = x"  # backtracks exponentially on a long word followed by punctuation
REPORTED = r"/(\w+\s?)+!/ = x"  # the rule from the report


def _run(fn, limit: float = 10.0):  # type: ignore[no-untyped-def]
    """Run `fn` in a thread; fail (not hang the suite) if it takes longer than `limit`."""
    out = run_bounded(fn, limit)
    return out, out["seconds"]


def test_a_slow_rule_is_stopped_and_named() -> None:
    text = "a" * 60 + "!"
    out, took = _run(lambda: apply_lexicon(text, parse_lexicon(EXPONENTIAL)))
    assert isinstance(out.get("error"), InvalidInput) and "^(\\w|\\w\\w)*$" in str(out["error"]), out
    assert took < 5


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (r"/(a)/ = \2", "replacement"),
        (r"/(?P<x>a)/ = \g<y>", "replacement"),
        (r"/(a)/ = \q", "replacement"),
        (r"/([a-z/ = x", "not a valid regular expression"),
    ],
)
def test_a_bad_replacement_or_pattern_is_refused_at_once(rule: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_lexicon(rule)


def test_good_rules_still_work() -> None:
    rules = parse_lexicon("Hermione = Her-my-oh-nee\n/(\\d+)kph/ = \\1 kilometres per hour\n/(?P<w>colour)/ = \\g<w>ed")
    assert apply_lexicon("Hermione drove 30kph in colour.", rules) == (
        "Her-my-oh-nee drove 30 kilometres per hour in coloured."
    )
    check_lexicon(rules, ["Some prose.", "Hermione."])  # nothing to say


def test_check_lexicon_names_the_slow_rule() -> None:
    rules = [LexiconEntry("fine", "ok"), *parse_lexicon(EXPONENTIAL)]
    with pytest.raises(InvalidInput, match=r"too long"):
        check_lexicon(rules, ["short words.", "a" * 60 + "!"])


def _job(ctx: AppContext, tmp_path: Path) -> str:
    book = tmp_path / "words.txt"
    book.write_text("Words\n\nChapter 1\n\n" + "a" * 60 + "! More words here.\n", encoding="utf-8")
    out = ui_errors(tab.import_book)(ctx, str(book), "piper", "joe", False, S)
    return str(out[0])


def test_the_tab_refuses_a_slow_rule_before_saving_it(settings: Settings, tmp_path: Path) -> None:
    ctx = AppContext.create(settings)
    job_id = _job(ctx, tmp_path)
    assert "will render again" in ui_errors(tab.save_lexicon)(ctx, job_id, "words = verbs", S)
    out, _ = _run(lambda: ui_errors(tab.save_lexicon)(ctx, job_id, f"words = verbs\n{EXPONENTIAL}", S))
    assert isinstance(out.get("error"), gr.Error) and "too long" in str(out["error"]), out
    job = tab._job(ctx, S, job_id)
    assert [e.pattern for e in job.plan().lexicon] == ["words"]  # the earlier lexicon is kept, the slow one not saved
    out, _ = _run(lambda: ui_errors(tab.save_lexicon)(ctx, job_id, REPORTED, S))  # the reported rule: fine now
    assert "error" not in out, out
    out, _ = _run(lambda: ui_errors(tab.save_lexicon)(ctx, job_id, r"/(w)ords/ = \2", S))
    assert isinstance(out.get("error"), gr.Error) and "replacement" in str(out["error"])


def test_the_cli_refuses_a_slow_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    book = tmp_path / "words.txt"
    book.write_text("Words\n\nChapter 1\n\n" + "a" * 60 + "! More words here.\n", encoding="utf-8")
    rules = tmp_path / "rules.txt"
    rules.write_text(EXPONENTIAL + "\n", encoding="utf-8")
    out, _ = _run(lambda: main(["--home", str(tmp_path / "home"), "book", "render", str(book), "--out",
                                str(tmp_path / "out"), "--lexicon", str(rules), "--no-qa"]), limit=60)  # fmt: skip
    assert out.get("value") == 2, out
    assert "too long" in capsys.readouterr().err
    assert not (tmp_path / "out" / "words.m4b").exists()
