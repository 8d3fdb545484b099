"""Offline is told in about a second: a download that cannot reach the Hub fails with one line saying so and what to
do, instead of huggingface_hub's retries (23.5 s measured) and a raw exception. The Hub is never contacted here:
the endpoint is pointed at this machine (a closed port, or a listening one), or the lookup is made to hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from huggingface_hub import constants

from studio.config import Settings
from studio.engines import hub
from studio.errors import ModelMissing, Offline
from studio.systems.piper import catalog as piper_catalog


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode off (the suite turns it on everywhere), no proxy in the way."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dead_hub(monkeypatch: pytest.MonkeyPatch, online: None) -> None:
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")


@pytest.fixture
def hanging_lookup(monkeypatch: pytest.MonkeyPatch, online: None) -> Iterator[None]:
    """A machine whose name lookups hang (no network, a resolver that never answers)."""

    def hang(*args: object, **kwargs: object) -> socket.socket:
        time.sleep(30)
        raise socket.gaierror("never answered")

    monkeypatch.setattr(socket, "create_connection", hang)
    yield


def test_a_listening_endpoint_is_reachable(monkeypatch: pytest.MonkeyPatch, online: None) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub.hub_unreachable() == ""


def test_a_refused_connection_is_told_at_once(dead_hub: None) -> None:
    started = time.monotonic()
    reason = hub.hub_unreachable()
    assert time.monotonic() - started < 1.0
    assert "127.0.0.1 could not be reached" in reason


def test_a_hanging_lookup_is_told_within_the_probe_time(hanging_lookup: None) -> None:
    started = time.monotonic()
    reason = hub.hub_unreachable()
    assert time.monotonic() - started < hub.PROBE_SECONDS + 1.5
    assert "did not answer within" in reason


def test_a_download_offline_fails_in_about_a_second_in_one_line(hanging_lookup: None, settings: Settings) -> None:
    started = time.monotonic()
    with pytest.raises(Offline) as err:
        hub.download_files("owner/model", ["model.onnx", "config.json"], "v1", settings.cache_dir,
                           manual_dir=settings.home / "models" / "x")  # fmt: skip
    assert time.monotonic() - started < hub.PROBE_SECONDS + 1.5
    message = str(err.value)
    assert message.startswith("No internet connection: ") and "\n" not in message
    assert "Connect to the internet and try again" in message
    assert str(settings.home / "models" / "x") in message and "model.onnx, config.json" in message
    assert isinstance(err.value, ModelMissing)  # everything that handles a missing model handles this too


def test_the_piper_catalog_offline_names_the_voice_library(dead_hub: None, settings: Settings) -> None:
    started = time.monotonic()
    with pytest.raises(Offline, match=r"cannot load the Piper voice catalog.*NAME\.onnx") as err:
        piper_catalog.load_catalog(settings)
    assert time.monotonic() - started < 1.5
    assert str(settings.voices_dir) in str(err.value)


def test_a_cached_download_needs_no_network(hanging_lookup: None, settings: Settings) -> None:
    """Files already in the cache are served at once: the probe only runs when something must be fetched."""
    from tests.engines.test_piper_catalog import _fill_hub_cache

    _fill_hub_cache(settings)
    started = time.monotonic()
    voices = piper_catalog.load_catalog(settings)
    assert time.monotonic() - started < 1.0
    assert [v.key for v in voices] == ["en_US-joe-medium"]


def test_a_hub_model_offline_fails_in_one_line(hanging_lookup: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with pytest.raises(Offline, match="cannot download the model nineninesix/kani-tts-400m"):
        hub.resolve_model("nineninesix/kani-tts-400m-0.3-pt", tmp_path)
    assert time.monotonic() - started < hub.PROBE_SECONDS + 1.5


def test_the_download_button_says_offline_in_about_a_second(hanging_lookup: None, settings: Settings) -> None:
    """The Synthesize tab's "Download model weights", as the button calls it: one line, no traceback, no wait."""
    import gradio as gr

    from studio.ui.context import AppContext
    from studio.ui.errors import ui_errors
    from studio.ui.tabs import synthesize as tab

    ctx = AppContext.create(settings)  # settings.offline is False: only HF_HUB_OFFLINE (off here) could say so
    started = time.monotonic()
    with pytest.raises(gr.Error) as err:
        ui_errors(tab.download_engine)(ctx, "supertonic2")
    assert time.monotonic() - started < hub.PROBE_SECONDS + 1.5
    assert err.value.message.startswith("No internet connection:") and "Supertone/supertonic-2" in err.value.message


def test_the_cli_says_offline_in_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy")}
    env.update(STUDIO_HOME=str(tmp_path), HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    proc = subprocess.run([sys.executable, "-m", "studio", "download", "supertonic2"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No internet connection: 127.0.0.1 could not be reached" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
