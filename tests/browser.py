"""The real app and a real browser for the browser tests: Debian's chromium driven by Playwright (no browser download).

`app_url` and `browser` are session fixtures (tests/conftest.py offers them to every test): one app and one browser
for the whole run, since each start costs seconds. Tests that need an app with their own home or settings start one
with `launch_app`."""

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
REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    with launch_app(tmp_path_factory.mktemp("browser-home")) as url:
        yield url


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def open_book_tab(browser, app_url: str, book: Path, shown: str, viewport: tuple[int, int] = (1280, 1400)):  # type: ignore[no-untyped-def]
    """A new page on the Audiobook tab with `book` imported and planned: returned once the summary shows `shown`."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(app_url)
    page.get_by_role("tab", name="Audiobook").click()
    page.locator("#book-upload input[type=file]").set_input_files(str(book))
    page.wait_for_timeout(500)
    page.click("#book-plan")
    page.wait_for_function(f"document.querySelector('#book-summary').innerText.includes({shown!r})", timeout=60_000)
    return page


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Keep a full-page screenshot as a test artifact (test-artifacts/screenshots/<name>.png, ignored by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def error_badges(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The red "Error" badges Gradio paints over an event's outputs when the event raised (not the toasts)."""
    where = "e => (e.closest('[id]') || {}).id"  # the component it covers, so a failure says which
    badges = page.locator("span.error:not(.toast-title)").all()
    return [f"{e.inner_text()} on #{e.evaluate(where)}" for e in badges if e.is_visible()]


def table_cells(page, selector: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The text of each row of a Dataframe's cells: what the table holds, without the progress timer that Gradio may
    paint over it ("0.1s") while an event or the page's clock is updating it."""
    return page.locator(selector).evaluate(
        "root => [...root.querySelectorAll('.virtual-row')]"
        ".map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))"
    )


# what a user would call "does not fit": the page scrolls sideways, a label or button cut off, a table header broken
# inside a word ("Incl ude"). Only what is on screen counts (hidden tabs and closed accordions are skipped).
_LAYOUT_JS = """(width) => {
  const shown = e => e.offsetParent !== null && e.getClientRects().length > 0;
  const text = e => (e.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
  const out = [];
  if (document.documentElement.scrollWidth > width + 1)
    out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px wide for a ${width}px screen`);
  for (const e of document.querySelectorAll('[data-testid=block-info], label span, button, [role=tab]')) {
    if (!shown(e) || !text(e) || e.closest('table, [role=grid], .overflow-dropdown')) continue;
    if (e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflow !== 'visible')
      out.push(`cut off: "${text(e)}" (${e.scrollWidth}px in ${e.clientWidth}px)`);
  }
  for (const box of document.querySelectorAll('.table-container.no-rows, .empty')) {
    if (!shown(box)) continue;
    const words = getComputedStyle(box, '::after').content;
    const id = (box.closest('[id]') || {}).id;
    const kind = box.matches('.empty') ? 'box' : 'table';
    if (!words || words === 'none' || words === 'normal') out.push(`an empty ${kind} says nothing: #${id}`);
  }
  for (const grid of document.querySelectorAll('[role=grid]')) {
    const heads = Array.from(grid.querySelectorAll('thead th')).map(text);
    if (shown(grid) && heads.length && heads.every((h, i) => h === String(i + 1)))
      out.push(`a table headed ${heads.join(' | ')}: #${(grid.closest('[id]') || {}).id}`);
  }
  for (const th of document.querySelectorAll('[role=grid] thead th, [role=grid] [role=columnheader]')) {
    if (!shown(th)) continue;
    const label = th.querySelector('span.header, span.text') || th;  // the header's text, not its tick-all box
    for (const w of text(label).split(' ').filter(w => w.length > 1)) {
      const probe = document.createElement('span');
      probe.textContent = w;
      probe.style.cssText = 'position:absolute;visibility:hidden;white-space:nowrap;font:inherit';
      label.appendChild(probe);
      const need = probe.getBoundingClientRect().width; probe.remove();
      if (need > label.getBoundingClientRect().width + 1) out.push(`table header broken: "${w}"`);
    }
  }
  return out;
}"""


def layout_problems(page) -> list[str]:  # type: ignore[no-untyped-def]
    """What does not fit on the page as it is now (see _LAYOUT_JS)."""
    return list(page.evaluate(_LAYOUT_JS, page.viewport_size["width"]))
