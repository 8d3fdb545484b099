"""The Hugging Face Space build, reproduced: a new virtualenv from requirements.txt alone (plus the front matter's
Gradio), the repository's files copied as they are (no `pip install -e .`), SPACE_ID set, `python launch.py`; the page
is served and the default voice speaks through gradio_client.

Marked `space` (it builds a second environment): `make test` runs it after the main suite, `make test-space` alone.
Like the Space's own build, the install asks the package registry (PyPI) for the pinned versions: it is the one test
step that uses the network (the packages themselves mostly come from uv's cache, filled by `make install` from the
same lock); the app then runs offline (HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import _free_port, serve
from tests.test_install import front_matter, uv

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.space


def repository_files(dest: Path) -> None:
    """What a Space receives: the committed files (the working tree's versions), nothing ignored."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=False)  # fmt: skip
    names = listed.stdout.splitlines() if listed.returncode == 0 else []
    if not names:
        pytest.skip("not a git checkout: cannot tell which files a Space would receive")
    for name in names:
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.fixture(scope="module")
def space_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("space")
    app, venv, home = root / "app", root / "venv", root / "home"
    repository_files(app)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    python = str(venv / "bin" / "python")
    steps = [
        [uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [uv(), "pip", "install", "--quiet", "--python", python, "-r", str(app / "requirements.txt")],
        # what the Space adds from the front matter (sdk: gradio, sdk_version, hf_oauth -> the oauth extra)
        [uv(), "pip", "install", "--quiet", "--python", python, f"gradio[oauth]=={front_matter()['sdk_version']}"],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{' '.join(step[:3])} failed:\n{done.stderr[-3000:]}"
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import studio"], cwd=root, capture_output=True)
    assert check.returncode != 0  # Studio itself is not installed: the Space runs the files in its folder

    port = _free_port()
    space_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))},
        "SPACE_ID": "studio-tests/studio",
        "SYSTEM": "spaces",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "STUDIO_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    with serve([str(venv / "bin" / "python"), "launch.py"], app, space_env, root / "space.log", port, 180) as url:
        yield url


def test_the_space_serves_the_page(space_url: str) -> None:
    page = urllib.request.urlopen(space_url, timeout=30).read().decode("utf-8", "replace")
    assert "<title>Studio</title>" in page or "Studio" in page


def test_the_space_speaks_with_the_default_voice(space_url: str, transcriber, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import soundfile as sf
    from gradio_client import Client

    client = Client(space_url, verbose=False, download_files=str(tmp_path))
    assert "guest" in client.predict(api_name="/who_am_i")
    text = "The studio on the Space speaks."
    _audio, file, status, _subtitles = client.predict(text, "piper", "joe", "en-us", 8, 1.0, False, True, "WAV",
                                                      api_name="/synthesize")  # fmt: skip
    assert "ran on CPU" in status, status
    if isinstance(file, dict):  # a file component's update: its value is the downloaded file
        file = file.get("value", file)
    path = Path(file["path"] if isinstance(file, dict) else file)
    samples, rate = sf.read(str(path), dtype="float32")
    assert 1.0 < len(samples) / rate < 6.0
    heard = transcriber.transcribe(samples, rate).lower()
    assert "studio" in heard and "space" in heard, heard
