"""Instructions for audiobooks ("calm, warm narration"): a book rendered with Qwen3-TTS on a tiny 1.7B CustomVoice
checkpoint (tests/qwen_tiny.py, through qwen-tts's own generate_custom_voice) carries them in its render settings;
they reach the model for every chunk, are part of every chunk's cache key (new instructions render the book again,
the old ones find their chunks again), and an engine that cannot follow them refuses them with the checkpoint that
would: through the Python API, the CLI and the Audiobook tab's handlers."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.api import Studio
from studio.book.job import BookJob, RenderSettings
from studio.config import Settings
from studio.errors import InvalidInput
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine
from studio.systems.qwen3_tts.model import user_model_dir
from tests.qwen_tiny import build_tiny_qwen3_tts

TEXT = "A Quiet Evening\n\nThe lamp was lit. The rain had stopped."
CALM = "Calm, warm narration, unhurried."


@pytest.fixture(scope="module")
def cv17_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A STUDIO_HOME with a tiny 1.7B CustomVoice placed by hand (home/models/qwen3_tts)."""
    settings = Settings(home=tmp_path_factory.mktemp("book-instruct"), threads=1)
    settings.ensure_dirs()
    build_tiny_qwen3_tts(user_model_dir(settings), model_type="custom_voice", size="1b7")
    return settings


@pytest.fixture(scope="module")
def studio(cv17_home: Settings) -> Studio:
    return Studio(settings=cv17_home)


def prefills(engine: Qwen3TTSEngine, run: Callable[[], Any]) -> tuple[list[int], Any]:
    """The length of every prompt the talker is given whole (one per sentence spoken) while `run()` runs."""
    seen: list[int] = []

    def record(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        embeds = kwargs.get("inputs_embeds")
        if embeds is not None and int(embeds.shape[1]) > 1:  # a prefill; the frames after it come one at a time
            seen.append(int(embeds.shape[1]))

    handle = engine.model.model.talker.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        result = run()
    finally:
        handle.remove()
    return seen, result


def instruction_tokens(engine: Qwen3TTSEngine, instruct: str) -> int:
    model = engine.model
    return int(model._tokenize_texts([model._build_instruct_text(instruct)])[0].shape[1])


def new_job(studio: Studio, folder: Path | None = None, **settings: Any) -> BookJob:
    book = studio.books.text_book(TEXT)
    plan = studio.books.plan(book, "qwen3_tts")
    render = RenderSettings(engine="qwen3_tts", voice="tiny_ryan", qa=False, formats=("wav",), **settings)
    return studio.books.create_job(book, plan, render, folder=folder)


def test_a_book_renders_with_instructions_and_they_key_its_chunks(studio: Studio) -> None:
    job = new_job(studio)
    engine = studio.registry.get("qwen3_tts")
    assert isinstance(engine, Qwen3TTSEngine)
    plain, report = prefills(engine, lambda: studio.books.render(job))
    assert report.rendered == report.total >= 2 and report.reused == 0
    assert len(plain) >= report.total  # a piece per sentence: the engine speaks a chunk sentence by sentence
    plain_keys = set(studio.books.identity(job).keys().values())

    settings = studio.books.update_settings(job, instruct="  Calm,  warm narration,\nunhurried. ")
    assert settings.instruct == CALM and job.settings().instruct == CALM  # stored cleaned
    calm_keys = set(studio.books.identity(job).keys().values())
    assert calm_keys.isdisjoint(plain_keys)  # every chunk's key names the instructions
    spoken, report = prefills(engine, lambda: studio.books.render(job))
    assert report.rendered == report.total and report.reused == 0  # rendered again, with them
    extra = instruction_tokens(engine, CALM)
    assert [b - a for a, b in zip(plain, spoken, strict=True)] == [extra] * len(plain)  # they reach every chunk

    again, report = prefills(engine, lambda: studio.books.render(job))
    assert again == [] and report.reused == report.total  # unchanged: nothing is spoken again
    studio.books.update_settings(job, instruct="")  # none again: the first render's chunks are found again
    assert job.settings().instruct is None
    assert set(studio.books.identity(job).keys().values()) == plain_keys
    _none, report = prefills(engine, lambda: studio.books.render(job))
    assert report.reused == report.total
    studio.books.update_settings(job, instruct=CALM)
    result = studio.books.export(job)
    assert result.files["wav"] and all(Path(p).is_file() for p in result.files["wav"])


def test_an_engine_without_instructions_refuses_them(studio: Studio) -> None:
    book = studio.books.text_book(TEXT)
    piper = RenderSettings(engine="piper", voice="joe", qa=False, instruct=CALM)
    with pytest.raises(InvalidInput, match=r"Piper does not take instructions \(how to speak, in words\)"):
        studio.books.create_job(book, studio.books.plan(book, "piper"), piper)
    job = studio.books.create_job(book, studio.books.plan(book, "piper"), RenderSettings(qa=False))
    with pytest.raises(InvalidInput, match="Piper does not take instructions"):
        studio.books.update_settings(job, instruct=CALM)
    assert job.settings().instruct is None  # nothing was saved
    with pytest.raises(InvalidInput, match="keep them under 1,000"):
        new_job(studio, instruct="slowly " * 300)
    assert new_job(studio, instruct=" \n ").settings().instruct is None  # blank: none


def test_a_checkpoint_without_instructions_refuses_them_when_saved_and_when_rendered(
    cv17_home: Settings, tmp_path: Path
) -> None:
    """A 0.6B CustomVoice takes none (qwen-tts would drop them): refused when the job is made, and when the
    checkpoint changed under a job that has them, at the start of its render, never silently dropped."""
    settings = Settings(home=tmp_path / "home", threads=1)
    settings.ensure_dirs()
    placed = user_model_dir(settings)
    placed.parent.mkdir(parents=True, exist_ok=True)
    placed.symlink_to(user_model_dir(cv17_home), target_is_directory=True)
    studio = Studio(settings=settings)
    job = new_job(studio, instruct=CALM)
    assert job.settings().instruct == CALM

    cv06 = build_tiny_qwen3_tts(tmp_path / "cv06", model_type="custom_voice")  # the 0.6B size
    placed.unlink()
    placed.symlink_to(cv06, target_is_directory=True)
    studio.registry.forget()
    assert not studio.registry.info("qwen3_tts").supports_instructions
    fix = r"does not take instructions.*Qwen/Qwen3-TTS-12Hz-1\.7B-CustomVoice"
    with pytest.raises(InvalidInput, match=fix):
        studio.books.render(job)
    assert not studio.books.chunk_records(job) or not any(studio.books.chunk_records(job).values())
    with pytest.raises(InvalidInput, match=fix):
        new_job(studio, instruct=CALM)
    studio.books.update_settings(job, instruct=None)  # the way on: without them
    assert studio.books.render(job).rendered == 2


def test_a_text_becomes_a_book_with_its_instructions(studio: Studio, cv17_home: Settings) -> None:
    """Synthesize's "Make an audiobook from this text" (Studio.book_from_text and the tab's handler) keeps the
    instructions in the new job; an engine that takes none refuses them."""
    from studio.ui.context import AppContext
    from studio.ui.tabs.audiobook import book_from_text

    job = studio.book_from_text("Night Train\n\nThe carriage rocked gently.", "qwen3_tts", "tiny_ryan",
                                instruct=" Calm,  warm narration, unhurried. ")  # fmt: skip
    assert job.settings().instruct == CALM and job.settings().voice == "tiny_ryan"
    with pytest.raises(InvalidInput, match="Piper does not take instructions"):
        studio.book_from_text("Night Train\n\nThe carriage rocked.", "piper", "joe", instruct=CALM, new=True)
    ctx = AppContext.create(cv17_home)
    opened = book_from_text(ctx, "Morning\n\nThe sun rose.", "qwen3_tts", "tiny_ryan", "s", CALM)
    assert ctx.books.job(opened[0], ctx.jobs_dir("s")).settings().instruct == CALM


def test_the_cli_renders_a_book_with_instruct(cv17_home: Settings, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from studio.book.service import CLI_JOB_FOLDER
    from studio.cli import main

    with pytest.raises(SystemExit):
        main(["book", "render", "--help"])
    assert "--instruct" in capsys.readouterr().out
    text = tmp_path / "evening.txt"
    text.write_text(TEXT, encoding="utf-8")
    home = ["--home", str(cv17_home.home)]
    out = tmp_path / "out"
    code = main([*home, "book", "render", "--text-file", str(text), "--engine", "qwen3_tts", "--voice", "tiny_ryan",
                 "--instruct", CALM, "--no-qa", "--format", "wav", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    saved = json.loads((out / CLI_JOB_FOLDER / "settings.json").read_text(encoding="utf-8"))
    assert saved["instruct"] == CALM and list(out.rglob("*.wav"))
    code = main([*home, "book", "render", "--text-file", str(text), "--instruct", CALM, "--no-qa",
                 "--out", str(tmp_path / "piper")])  # fmt: skip
    assert code == 2 and "Piper does not take instructions" in capsys.readouterr().err


def test_the_audiobook_tab_saves_and_shows_them(cv17_home: Settings) -> None:
    from studio.ui.context import AppContext
    from studio.ui.tabs.audiobook import render as tab

    ctx = AppContext.create(cv17_home)
    job = new_job(ctx.studio, ctx.jobs_dir("s") / "evening")  # this page session's jobs
    note = tab.start_render(ctx, job.id, "qwen3_tts", "tiny_ryan", None, None, None, False, False, ["wav"], "s",
                            instruct=CALM)  # fmt: skip
    assert "Rendering started" in note
    ctx.runner.wait(job.id, timeout=120)
    assert job.status()["state"] == "exported", job.status()
    assert job.settings().instruct == CALM
    assert tab.job_instruct(ctx, job.id, "s", "qwen3_tts")["value"] == CALM  # an opened job shows its instructions
    assert tab.job_instruct(ctx, job.id, "s", "piper")["value"] == ""  # hidden with Piper: none to refuse
    assert tab.job_instruct(ctx, None, "s", "qwen3_tts") == {"__type__": "update"}
    with pytest.raises(InvalidInput, match="Piper does not take instructions"):
        tab.start_render(ctx, job.id, "piper", "joe", None, None, None, False, False, ["wav"], "s", instruct=CALM)
