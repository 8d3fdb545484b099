"""Speech recognition in its own process: same transcripts, clear errors, memory handed back, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.audio.asr import word_error_rate
from studio.audio.asr_worker import WorkerTranscriber
from studio.book.qa import Checker
from studio.engines.base import SynthParams
from studio.errors import ModelMissing

REPO = Path(__file__).resolve().parents[2]
TEXT = "She opened the window and looked down at the green garden below."  # heard right in 6 of 6 takes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_the_worker_hears_real_speech_and_reports_its_peak_memory(piper_engine) -> None:  # type: ignore[no-untyped-def]
    audio = piper_engine.synthesize(TEXT, "joe", SynthParams(language="en-us"))
    worker = WorkerTranscriber(threads=1)
    try:
        heard = worker.transcribe(audio.samples, audio.sample_rate)  # 22.05 kHz in; the worker gets 16 kHz
        assert word_error_rate(TEXT, heard) <= 0.2, heard
        assert worker.transcribe(audio.samples[: audio.sample_rate // 10] * 0, audio.sample_rate) == ""  # silence
    finally:
        worker.close()
    assert worker.peak_rss_mb is not None and worker.peak_rss_mb > 50
    assert not _alive(worker.pid)


def test_the_worker_reports_when_each_word_was_said(piper_engine) -> None:  # type: ignore[no-untyped-def]
    audio = piper_engine.synthesize(TEXT, "joe", SynthParams(language="en-us"))
    worker = WorkerTranscriber(threads=1)
    try:
        heard = worker.hear(audio.samples, audio.sample_rate, [TEXT], 0.25, "en", words=True)
    finally:
        worker.close()
    assert word_error_rate(TEXT, heard.text) <= 0.2, heard
    assert [w for w, _, _ in heard.words][:3] == ["She", "opened", "the"], heard.words
    starts = [s for _, s, _ in heard.words]
    assert starts == sorted(starts) and all(s <= e for _, s, e in heard.words)
    assert heard.words[-1][2] <= audio.duration + 0.1
    assert heard.words[-1][2] > audio.duration * 0.7  # the last word ends near the end of the speech


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match=r"no-model-here has no model\.bin: give a CTranslate2 Whisper folder"):
        WorkerTranscriber(tmp_path / "no-model-here")


def test_renders_check_with_a_larger_model_when_one_is_placed_or_configured(
    tmp_path: Path,
    piper_engine,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from studio.audio.asr import bundled_whisper_dir
    from studio.book.render import Renderer
    from studio.config import Settings
    from studio.engines.registry import Registry

    home = tmp_path / "home"
    assert Settings(home=home).whisper_dir is None  # nothing placed: the bundled tiny.en
    placed = home / "models" / "whisper"
    placed.parent.mkdir(parents=True)
    bundled = bundled_whisper_dir()
    assert bundled is not None
    placed.symlink_to(bundled, target_is_directory=True)  # stands in for a larger CTranslate2 model
    settings = Settings(home=home, threads=1)
    assert settings.whisper_dir == placed
    checker = Renderer(Registry(settings)).checker
    audio = piper_engine.synthesize(TEXT, "joe", SynthParams(language="en-us"))
    with checker.session():
        assert checker.check(audio.samples, audio.sample_rate, TEXT).wer <= 0.2
        worker = checker.recognizer
        assert isinstance(worker, WorkerTranscriber)
        assert str(placed).encode() in Path(f"/proc/{worker.pid}/cmdline").read_bytes()
    monkeypatch.setenv("STUDIO_WHISPER_MODEL", str(tmp_path / "typo"))
    configured = Settings.load(home)
    assert configured.whisper_dir == tmp_path / "typo"  # the variable wins over a placed model
    bad = Renderer(Registry(configured)).checker
    with pytest.raises(ModelMissing, match="unset STUDIO_WHISPER_MODEL"), bad.session():
        bad.check(audio.samples, audio.sample_rate, TEXT)


def test_an_isolated_checker_ends_its_worker_after_each_session(piper_engine) -> None:  # type: ignore[no-untyped-def]
    audio = piper_engine.synthesize(TEXT, "joe", SynthParams(language="en-us"))
    checker = Checker(isolated=True)
    with checker.session():
        first = checker.check(audio.samples, audio.sample_rate, TEXT)
        worker = checker.recognizer
        assert isinstance(worker, WorkerTranscriber)
        with checker.session():  # a second user (a regenerate during a render) does not end it
            pass
        assert _alive(worker.pid)
    assert first.wer <= 0.2 and not _alive(worker.pid)
    assert checker.worker_peak_rss_mb is not None


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_worker_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "from studio.audio.asr_worker import WorkerTranscriber; import time\n"
         "w = WorkerTranscriber(); print(w.pid, flush=True); time.sleep(300)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert _alive(pid)
    os.kill(parent.pid, signal.SIGKILL)  # as `kill -9` of a render: the worker sees its input close and ends
    parent.wait(10)
    deadline = time.time() + 20
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
