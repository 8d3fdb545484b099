"""The app in a real browser: Debian's chromium driven by Playwright types text, clicks Generate, receives audio."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(cmd: list[str], cwd: Path, env: dict[str, str], log_path: Path, port: int,
          timeout: float = 120) -> Iterator[str]:  # fmt: skip
    """Start a web app process, wait until it serves its page (fail with the end of its log if it exits or takes
    longer than `timeout`), yield its URL, stop it on exit."""
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{cmd[1]} exited: {log_path.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"{cmd[1]} did not serve its page within {timeout:.0f} s")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def launch_app(home: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The real app (`launch.py`) on a free local port with STUDIO_HOME=home; stopped on exit."""
    port = _free_port()
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           **(extra_env or {})}  # fmt: skip
    with serve([sys.executable, "launch.py", "--port", str(port)], REPO, env, home / "app.log", port) as url:
        yield url


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it: apt-get install chromium)")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    with launch_app(tmp_path_factory.mktemp("browser-home")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_type_generate_and_receive_audio(app_url: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("#synth-generate")
    box = page.locator("#synth-text textarea")
    box.fill("Hello from a real browser.")
    box.press_sequentially(" Studio speaks this text.", delay=10)  # typed like a person: the counter follows
    page.wait_for_function("document.querySelector('#synth-count').innerText.includes('51 / 5,000')")
    page.click("#synth-generate")
    page.wait_for_function("document.querySelector('#synth-status').innerText.includes('chars/s')", timeout=90_000)
    status = page.locator("#synth-status").inner_text()
    assert "ran on CPU" in status and "RTF" in status
    link = page.locator("#synth-file a").first
    href = link.get_attribute("href")
    assert href and href.endswith(".wav")
    with page.expect_download() as dl:
        link.click()
    saved = tmp_path / "take.wav"
    dl.value.save_as(saved)
    from studio.audio.io import read_audio

    samples, rate = read_audio(saved)
    assert rate == 22050 and len(samples) / rate > 2.0
    page.screenshot(path=str(tmp_path / "synthesize.png"), full_page=True)
    page.close()


def test_empty_text_shows_an_error_not_a_traceback(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(app_url)
    page.wait_for_selector("#synth-generate")
    page.locator("#synth-text textarea").fill("   ")
    page.click("#synth-generate")
    toast = page.get_by_text("The text is empty", exact=False).first
    toast.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    page.close()
