"""The OpenAI-compatible speech API, served by uvicorn and called with the official `openai` client (bundled voice)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
import uvicorn
from fastapi import FastAPI

from studio.api import Studio
from studio.audio.asr import word_error_rate
from studio.audio.io import read_audio
from studio.cli import main
from studio.server import api_router, create_api
from studio.server import audio as server_audio

REPO = Path(__file__).resolve().parents[1]
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SMALL_LIMIT = 50
SENTENCES = "Good morning, everyone. The weather is lovely today. We will walk to the park."


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    return Studio(home=tmp_path_factory.mktemp("api-home"))


@pytest.fixture(scope="module")
def base_url(studio: Studio) -> Iterator[str]:
    """One server: `create_api` at the root, and the bare router (no app-level handlers, a 50-character limit)
    included under /small, as another FastAPI app (the web app) would include it."""
    app = FastAPI()
    app.include_router(api_router(studio, KEY, max_chars=SMALL_LIMIT), prefix="/small")
    app.mount("/", create_api(studio, KEY))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="test-api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def small_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/small/v1", api_key=KEY, max_retries=0, timeout=120)


def test_speech_to_a_wav_file_is_heard(client: openai.OpenAI, tmp_path: Path, transcriber) -> None:  # type: ignore[no-untyped-def]
    text = "The quick brown fox jumps over the lazy dog."
    speech = client.audio.speech.create(model="piper", voice="joe", input=text, response_format="wav")
    assert speech.response.headers["content-type"] == "audio/wav"
    raw = speech.content
    # a streamed WAV: the sizes are unknown when the header leaves, as in OpenAI's streamed WAV
    assert raw[:4] == b"RIFF" and raw[4:8] == b"\xff\xff\xff\xff" and raw[8:12] == b"WAVE"
    path = tmp_path / "fox.wav"
    speech.write_to_file(path)
    samples, rate = read_audio(path)
    assert rate == 22050
    assert 1.5 < len(samples) / rate < 6
    heard = transcriber.transcribe(samples, rate)
    assert word_error_rate(text, heard) <= 0.2, heard


def test_pcm_streams_sentence_by_sentence(client: openai.OpenAI, transcriber) -> None:  # type: ignore[no-untyped-def]
    chunks: list[bytes] = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="joe", input=SENTENCES, response_format="pcm"
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        assert "content-length" not in response.headers  # chunked: sent while it is made
        chunks.extend(chunk for chunk in response.iter_bytes() if chunk)
    assert len(chunks) >= 2
    raw = b"".join(chunks)
    assert len(raw) % 2 == 0
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    seconds = len(samples) / 24000  # OpenAI's pcm: 16-bit mono at 24 kHz
    assert 3.0 < seconds < 12.0
    heard = transcriber.transcribe(samples, 24000)
    assert word_error_rate(SENTENCES, heard) <= 0.25, heard


def test_a_long_first_sentence_streams_its_opening_clause_first(client: openai.OpenAI, transcriber) -> None:  # type: ignore[no-untyped-def]
    """The response starts once the opening clause is made (`text.lead`); the whole take says every word, with no
    sentence pause where the clause meets the rest."""
    text = (
        "The old lighthouse keeper climbed the stairs at dusk, lit the lamp, and quietly watched the ships pass "
        "safely through the narrow channel below the rock."
    )
    with client.audio.speech.with_streaming_response.create(
        model="piper", voice="joe", input=text, response_format="pcm"
    ) as response:
        chunks = [chunk for chunk in response.iter_bytes() if chunk]
    samples = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
    assert 6.0 < len(samples) / 24000 < 10.5  # one sentence's length (about 8 s), no extra sentence pause
    heard = transcriber.transcribe(samples, 24000)
    assert word_error_rate(text, heard) <= 0.1, heard


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("mp3", "audio/mpeg"), ("flac", "audio/flac"), ("opus", "audio/ogg"), ("aac", "audio/aac")],
)
def test_compressed_formats_decode(client: openai.OpenAI, tmp_path: Path, fmt: str, content_type: str) -> None:
    speech = client.audio.speech.create(model="piper", voice="joe", input="Hello there, friend.", response_format=fmt)
    assert speech.response.headers["content-type"] == content_type
    if fmt == "flac":  # a complete FLAC, with its length in the header: plain soundfile reads it
        samples, rate = sf.read(io.BytesIO(speech.content), dtype="float32")
        assert rate == 22050
    else:
        path = tmp_path / f"hello.{fmt}"
        speech.write_to_file(path)
        samples, rate = read_audio(path)
    assert 0.6 < len(samples) / rate < 4.0
    assert float(np.max(np.abs(samples))) > 0.05  # speech, not silence


def test_speed_changes_the_duration(client: openai.OpenAI) -> None:
    def seconds(speed: float) -> float:
        raw = client.audio.speech.create(
            model="piper", voice="joe", input="One two three four five six.", response_format="pcm", speed=speed
        ).content
        return len(raw) / 2 / 24000

    assert seconds(1.5) < 0.85 * seconds(1.0)


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


def test_long_input_streams_locally(client: openai.OpenAI) -> None:
    """No limit on a local server unless one is set: an input longer than Piper takes in one call (5,000
    characters) is spoken piece by piece; the first piece arrives while the rest is still to be made."""
    long_text = " ".join(["The boats went down the river one by one, and she wrote each of them down."] * 80)
    assert len(long_text) > 5500
    with client.audio.speech.with_streaming_response.create(
        model="piper", voice="joe", input=long_text, response_format="pcm"
    ) as response:
        assert response.status_code == 200
        first = next(chunk for chunk in response.iter_bytes() if chunk)
    assert len(first) > 0  # leaving the block disconnects: the synthesis is cancelled


def test_a_router_limit_only_lowers_studios(tmp_path: Path) -> None:
    from dataclasses import replace

    from studio.server.errors import ApiError
    from studio.server.request import parse_speech

    local = Studio(home=tmp_path / "local")
    body = {"model": "piper", "voice": "joe", "input": "word " * 2000}  # 10,000 characters
    assert parse_speech(local, body, None).text.startswith("word")  # no limit locally
    hosted = Studio(settings=replace(local.settings, hosted=True))
    for router_limit in (None, 50_000):  # a router's larger limit does not raise the server's 5,000
        with pytest.raises(ApiError, match="limit is 5,000"):
            parse_speech(hosted, body, router_limit)
    with pytest.raises(ApiError, match="limit is 300"):
        parse_speech(local, body, 300)


def test_errors_through_the_openai_client(client: openai.OpenAI, small_client: openai.OpenAI) -> None:
    speech = client.audio.speech
    with pytest.raises(openai.BadRequestError) as bad_voice:
        speech.create(model="piper", voice="ghost", input="Hello.")
    assert "ghost" in bad_voice.value.message and "joe" in bad_voice.value.message
    assert _error(bad_voice.value)["param"] == "voice"

    with pytest.raises(openai.BadRequestError) as empty:
        speech.create(model="piper", voice="joe", input="   ")
    assert _error(empty.value)["param"] == "input"

    long_text = "This sentence is far too long for a fifty character limit."
    with pytest.raises(openai.BadRequestError) as too_long:
        small_client.audio.speech.create(model="piper", voice="joe", input=long_text)
    assert str(SMALL_LIMIT) in too_long.value.message and str(len(long_text)) in too_long.value.message

    with pytest.raises(openai.BadRequestError) as bad_format:
        speech.create(model="piper", voice="joe", input="Hello.", response_format="xyz")  # type: ignore[arg-type]
    assert "xyz" in bad_format.value.message and "mp3" in bad_format.value.message

    with pytest.raises(openai.BadRequestError) as fast:
        speech.create(model="piper", voice="joe", input="Hello.", speed=4.0)
    assert "speed" in fast.value.message and "2" in fast.value.message

    with pytest.raises(openai.NotFoundError) as unknown:
        speech.create(model="nope", voice="joe", input="Hello.")
    error = _error(unknown.value)
    assert error["code"] == "model_not_found" and "piper" in error["message"]

    # an engine that is installed but not downloaded: the message says how to get it
    with pytest.raises(openai.BadRequestError) as missing:
        speech.create(model="supertonic3", voice="M1", input="Hello.")
    assert "not available" in missing.value.message and "download supertonic3" in missing.value.message

    wrong = openai.OpenAI(base_url=client.base_url, api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.audio.speech.create(model="piper", voice="joe", input="Hello.")
    assert _error(denied.value)["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_raw_errors_have_the_openai_shape(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        denied = http.get("/v1/models")
        assert denied.status_code == 401
        assert denied.json() == {
            "error": {
                "message": denied.json()["error"]["message"],
                "type": "authentication_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert "Bearer" in denied.json()["error"]["message"] and denied.headers["www-authenticate"] == "Bearer"
        assert http.get("/v1/models", headers={"Authorization": "Bearer clé".encode()}).status_code == 401

        # the bare router (no app-level handlers): bad bodies are 400 in the same shape, never FastAPI's 422
        for body, param in [
            (b"{not json", None),
            (b"[1, 2]", None),
            (b'{"model": "piper", "voice": "joe"}', "input"),
            (b'{"model": "piper", "voice": "joe", "input": 5}', "input"),
            (b'{"model": "piper", "voice": "joe", "input": "Hi.", "speed": "fast"}', "speed"),
            (b'{"model": "piper", "voice": "joe", "input": "Hi.", "stream_format": "sse"}', "stream_format"),
            (b'{"model": "piper", "input": "Hi."}', "voice"),
            (b'{"model": "piper", "voice": "joe", "input": "Hi.", "language": "xx"}', None),
        ]:
            answer = http.post("/small/v1/audio/speech", content=body, headers=AUTH)
            assert answer.status_code == 400, (body, answer.text)
            error = answer.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["type"] == "invalid_request_error" and error["param"] == param, (body, error)

        lost = http.get("/v1/nothing-here", headers=AUTH)
        assert lost.status_code == 404 and lost.json()["error"]["code"] == "not_found"


def test_models_and_voices(client: openai.OpenAI, base_url: str) -> None:
    models = {m.id: m for m in client.models.list()}
    assert {"piper", "supertonic2", "supertonic3"} <= set(models)
    assert models["piper"].owned_by == "studio" and getattr(models["piper"], "available") is True  # noqa: B009
    assert getattr(models["supertonic3"], "available") is False  # noqa: B009
    assert client.models.retrieve("tts-1").id == "piper"

    with httpx.Client(base_url=base_url, headers=AUTH, timeout=60) as http:
        voices = http.get("/v1/audio/voices").json()
        assert voices["object"] == "list"
        joe = next(v for v in voices["data"] if v["id"] == "joe")
        assert joe["model"] == "piper" and joe["languages"] == ["en-us"] and joe["name"]
        assert http.get("/v1/voices", params={"model": "piper"}).json() == {
            "object": "list",
            "data": [v for v in voices["data"] if v["model"] == "piper"],
        }
        unknown = http.get("/v1/audio/voices", params={"model": "nope"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("fmt", ["mp3", "pcm"])
def test_a_client_that_goes_away_stops_the_synthesis(
    studio: Studio, base_url: str, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    calls: list[dict[str, Any]] = []
    original = studio.stream

    def watched(*args: Any, **kwargs: Any) -> Iterator[Any]:  # counts the sentences the server really makes
        call: dict[str, Any] = {"cancel": kwargs["cancel"], "made": 0}
        calls.append(call)
        for chunk in original(*args, **kwargs):
            call["made"] += 1
            yield chunk

    monkeypatch.setattr(studio, "stream", watched)
    encoders: list[subprocess.Popen[bytes]] = []

    def start_encoder(*args: Any) -> subprocess.Popen[bytes]:  # remembers the ffmpeg processes
        encoders.append(original_start(*args))
        return encoders[-1]

    original_start = server_audio.start_encoder
    monkeypatch.setattr(server_audio, "start_encoder", start_encoder)
    count = 40
    text = " ".join(f"This is sentence {i}." for i in range(1, count + 1))
    body = {"model": "piper", "voice": "joe", "input": text, "response_format": fmt}
    with httpx.stream("POST", f"{base_url}/v1/audio/speech", json=body, headers=AUTH, timeout=60) as response:
        assert response.status_code == 200
        assert next(response.iter_raw())  # the first audio, then hang up
    call = calls[-1]
    deadline = time.monotonic() + 20
    while not call["cancel"].is_set() or any(p.poll() is None for p in encoders):
        assert time.monotonic() < deadline, "the server kept going after the client left"
        time.sleep(0.05)
    made = call["made"]
    time.sleep(0.5)
    assert call["made"] <= made + 1  # at most the sentence in progress is finished
    assert call["made"] < count
    assert len(encoders) == (1 if fmt == "mp3" else 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert "STUDIO_API_KEY" in help_text and "127.0.0.1" in help_text

    port = _free_port()
    env = {**os.environ, "STUDIO_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "STUDIO_API_KEY": "cli-key"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/models"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "studio serve did not start"
            try:
                answer = httpx.get(url, headers={"Authorization": "Bearer cli-key"}, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.status_code == 200 and "piper" in {m["id"] for m in answer.json()["data"]}
        assert httpx.get(url, timeout=5).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/v1" in out
