"""An OpenAI-compatible speech API (`POST /v1/audio/speech`, `GET /v1/models`, `GET /v1/audio/voices`) over Studio."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import struct
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio.audio.dsp import resample, silence
from studio.audio.io import ffmpeg_exe
from studio.config import DEFAULT_ENGINE
from studio.errors import EngineUnavailable, InvalidInput, StudioError
from studio.synthesis import STREAM_GAP, SynthChunk

if TYPE_CHECKING:
    from studio.api import Studio

log = logging.getLogger(__name__)

# OpenAI's model names, so that clients written for OpenAI work unchanged: they all mean Studio's default engine
MODEL_ALIASES = {"tts-1": DEFAULT_ENGINE, "tts-1-hd": DEFAULT_ENGINE, "gpt-4o-mini-tts": DEFAULT_ENGINE}
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",  # Opus in an Ogg container, as OpenAI sends it
    "aac": "audio/aac",  # ADTS frames: playable and decodable while they arrive, unlike MP4
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
FORMATS = tuple(CONTENT_TYPES)
PCM_RATE = 24000  # OpenAI's `pcm` is 16-bit mono at 24 kHz whatever the model; clients rely on that rate
# ffmpeg output options per compressed format; the input is always s16le mono on stdin
ENCODERS: dict[str, list[str]] = {
    "mp3": ["-codec:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
    "opus": ["-codec:a", "libopus", "-b:a", "48k", "-ar", "48000", "-f", "ogg"],
    "aac": ["-codec:a", "aac", "-b:a", "96k", "-f", "adts"],
    "flac": ["-codec:a", "flac", "-f", "flac"],
}
# FLAC's header holds the length, and libsndfile (soundfile) cannot read a FLAC stream without it: ffmpeg writes
# these formats to a file it can seek back into, and the finished file is sent
WHOLE_FORMATS = frozenset({"flac"})
READ_SIZE = 64 * 1024
WAIT_STEP = 0.25  # seconds between checks that the client is still there while a whole-file format is encoded
LISTED_VOICES = 20  # an unknown-voice error names this many; GET /v1/audio/voices has them all


class ApiError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


def error_response(
    status: int, message: str, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> JSONResponse:
    return ApiError(status, message, kind, param, code).response()


def _internal_error(what: str, exc: BaseException | None = None) -> JSONResponse:
    # the exception text can name server paths: it goes to the log, the client gets a plain sentence
    log.error("%s failed", what, exc_info=exc or True)
    return error_response(500, f"{what} failed on the server; the server log has the details.", "server_error")


def _studio_error(exc: StudioError, param: str | None = None) -> ApiError:
    if isinstance(exc, EngineUnavailable):
        return ApiError(400, str(exc), param="model", code="model_not_available")
    if isinstance(exc, InvalidInput):
        return ApiError(400, str(exc), param=param)
    return ApiError(500, str(exc), "server_error")


def _check_key(request: Request, api_key: str | None) -> None:
    if api_key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # as bytes: compare_digest refuses non-ASCII str; headers arrive decoded as latin-1, so that gives the sent bytes
    sent = given.strip().encode("latin-1")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent, api_key.encode()):
        raise ApiError(
            401,
            "Missing or wrong API key: send the header 'Authorization: Bearer <key>' with the server's key.",
            "authentication_error",
            code="invalid_api_key",
        )


def _engine_name(studio: Studio, model: str, param: str = "model") -> str:
    name = MODEL_ALIASES.get(model, model)
    names = studio.registry.names()
    if name not in names:
        aliases = ", ".join(MODEL_ALIASES)
        raise ApiError(
            404,
            f"The model '{model}' does not exist. Models: {', '.join(names)} (and {aliases}, which mean "
            f"{DEFAULT_ENGINE}).",
            param=param,
            code="model_not_found",
        )
    return name


def _require_available(studio: Studio, name: str) -> None:
    status = studio.registry.available(name)
    if not status.ok:
        label = studio.registry.info(name).label
        raise ApiError(400, f"{label} is not available: {status.message}", param="model", code="model_not_available")


@dataclass(frozen=True)
class SpeechJob:
    """A checked speech request, ready to synthesize."""

    engine: str
    text: str
    voice: str
    fmt: str
    speed: float | None
    language: str | None
    steps: int | None
    seed: int | None


def _field(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str, required: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"'{name}' is required: {what}.", param=name, code="missing_required_parameter")
        return None
    # JSON true/false are Python ints too: never accept them as numbers
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ApiError(400, f"'{name}' must be {what}; got {json.dumps(value)[:80]}.", param=name, code="invalid_type")
    return value


def parse_speech(studio: Studio, body: Any, max_chars: int | None) -> SpeechJob:
    """Check a /v1/audio/speech body against the engine, before anything is synthesized (blocking: reads voices)."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_body")
    model = _field(body, "model", (str,), f"a model name such as '{DEFAULT_ENGINE}' (GET /v1/models)", required=True)
    text = _field(body, "input", (str,), "the text to speak", required=True)
    voice = body.get("voice")
    if isinstance(voice, dict):  # OpenAI's custom-voice form {"id": "..."}
        voice = voice.get("id")
    if voice is None or isinstance(voice, bool) or not isinstance(voice, str):
        shown = "missing" if voice is None else f"got {json.dumps(voice)[:80]}"
        raise ApiError(400, f"'voice' must be a voice id (GET /v1/audio/voices); {shown}.", param="voice")
    fmt = _field(body, "response_format", (str,), f"one of {', '.join(FORMATS)}") or "mp3"
    speed = _field(body, "speed", (int, float), "a number (1.0 = normal)")
    _field(body, "instructions", (str,), "text")  # Studio's engines take no style prompt: accepted and ignored
    stream_format = _field(body, "stream_format", (str,), "'audio'") or "audio"
    # Studio extensions (OpenAI has no such fields): the engine's language, denoising steps and seed
    language = _field(body, "language", (str,), "a language code of the model")
    steps = _field(body, "steps", (int,), "a whole number")
    seed = _field(body, "seed", (int,), "a whole number")

    engine = _engine_name(studio, model)
    _require_available(studio, engine)
    info = studio.registry.info(engine)
    text = text.strip()
    if not text:
        raise ApiError(400, "'input' is empty: give the text to speak.", param="input", code="empty_input")
    limit = min(max_chars or studio.settings.max_chars, studio.synthesizer.max_chars, info.max_chars)
    if len(text) > limit:
        raise ApiError(
            400,
            f"'input' has {len(text):,} characters; this server's limit is {limit:,}. Split the text into shorter "
            "requests.",
            param="input",
            code="input_too_long",
        )
    if fmt not in CONTENT_TYPES:
        raise ApiError(
            400,
            f"response_format '{fmt}' is not supported; use one of {', '.join(FORMATS)}.",
            param="response_format",
            code="unsupported_format",
        )
    if stream_format != "audio":
        raise ApiError(
            400,
            f"stream_format '{stream_format}' is not supported, use 'audio' (the audio itself streams as it is made).",
            param="stream_format",
            code="unsupported_stream_format",
        )
    if speed is not None:
        speed = float(speed)
        if not info.supports_speed and speed != info.default_speed:
            raise ApiError(400, f"{info.label} cannot change its speed; leave 'speed' out.", param="speed")
        if info.supports_speed and not info.min_speed <= speed <= info.max_speed:
            raise ApiError(
                400,
                f"speed {speed:g} is out of range: {info.label} accepts {info.min_speed:g} to {info.max_speed:g} "
                "(narrower than OpenAI's 0.25 to 4.0).",
                param="speed",
                code="speed_out_of_range",
            )
    known = [v.id for v in studio.voices(engine)]
    # only listed voices: the Python API also takes a file path as a voice, which must not reach the server's disk
    if voice not in known:
        shown = ", ".join(sorted(known)[:LISTED_VOICES]) or "none installed"
        more = f" and {len(known) - LISTED_VOICES} more" if len(known) > LISTED_VOICES else ""
        raise ApiError(
            400,
            f"{info.label} has no voice '{voice}'. Voices: {shown}{more} (GET /v1/audio/voices?model={engine}).",
            param="voice",
            code="voice_not_found",
        )
    return SpeechJob(engine, text, voice, fmt, speed, language, steps, seed)


def pcm16(samples: NDArray[np.float32]) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (RIFF and data sizes 0xFFFFFFFF, as OpenAI sends)."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " + fmt + b"data" + struct.pack("<I", unknown)


def _samples(first: SynthChunk, rest: Iterator[SynthChunk], rate: int) -> Iterator[NDArray[np.float32]]:
    """Every sentence at `rate`, with the pause that `Studio.synthesize` puts between streamed sentences."""
    for index, chunk in enumerate(_chain(first, rest)):
        audio = resample(chunk.audio.samples, chunk.audio.sample_rate, rate)
        yield audio if index == 0 else np.concatenate([silence(STREAM_GAP, rate), audio])


def _chain(first: SynthChunk, rest: Iterator[SynthChunk]) -> Iterator[SynthChunk]:
    yield first
    yield from rest


def _close(chunks: Iterator[SynthChunk]) -> None:
    close = getattr(chunks, "close", None)
    if callable(close):
        close()


def raw_body(first: SynthChunk, rest: Iterator[SynthChunk], fmt: str) -> Generator[bytes, None, None]:
    """`pcm` (24 kHz) or `wav` (the engine's rate) bytes, one piece per sentence."""
    rate = PCM_RATE if fmt == "pcm" else first.audio.sample_rate
    try:
        if fmt == "wav":
            yield wav_header(rate)
        for samples in _samples(first, rest, rate):
            yield pcm16(samples)
    finally:
        _close(rest)


def start_encoder(cmd: list[str], stdout: int, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start an encoder fed on stdin (no shell)."""
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr)


def encoded_body(
    first: SynthChunk, rest: Iterator[SynthChunk], fmt: str, cancel: threading.Event
) -> Generator[bytes, None, None]:
    """Compressed audio from ffmpeg: a writer thread synthesizes and feeds PCM on stdin while this reads ffmpeg's
    output as it comes (FLAC: the finished file, see WHOLE_FORMATS). Yields b"" while there is nothing to send yet."""
    rate = first.audio.sample_rate
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1"]
    cmd += ["-i", "pipe:0", *ENCODERS[fmt]]
    with tempfile.TemporaryDirectory(prefix="studio-api-") as tmp:
        target = Path(tmp, f"speech.{fmt}") if fmt in WHOLE_FORMATS else None
        cmd += ["-y", str(target)] if target is not None else ["-flush_packets", "1", "pipe:1"]
        # stderr into a file, not a pipe: nobody reads it while ffmpeg runs, so it must never fill up
        log_path = Path(tmp, "ffmpeg.log")
        with open(log_path, "wb") as errors:
            out = subprocess.PIPE if target is None else subprocess.DEVNULL
            proc = start_encoder(cmd, out, errors)
        assert proc.stdin is not None
        stdin = proc.stdin
        failures: list[BaseException] = []

        def feed() -> None:
            try:
                for samples in _samples(first, rest, rate):
                    stdin.write(pcm16(samples))
            except (OSError, ValueError):  # ffmpeg was killed (client gone) or failed: its exit code tells which
                pass
            except StudioError as exc:  # includes Cancelled once the client is gone
                if not cancel.is_set():
                    failures.append(exc)
            except Exception as exc:
                failures.append(exc)
            finally:
                _close(rest)
                with contextlib.suppress(OSError):
                    stdin.close()  # end of input: ffmpeg flushes and exits

        writer = threading.Thread(target=feed, name=f"studio-api-{fmt}", daemon=True)
        writer.start()
        try:
            if proc.stdout is not None:
                while data := os.read(proc.stdout.fileno(), READ_SIZE):
                    yield data
            else:
                while True:
                    try:
                        proc.wait(timeout=WAIT_STEP)
                        break
                    except subprocess.TimeoutExpired:
                        yield b""  # gives a client that went away the chance to stop the synthesis
            writer.join()
            code = proc.wait()
            if code != 0:
                detail = log_path.read_text(errors="replace")[-500:]
                raise RuntimeError(f"ffmpeg could not encode {fmt} (exit code {code}): {detail}")
            if failures:
                raise failures[0]
            if target is not None:
                with open(target, "rb") as whole:
                    while data := whole.read(READ_SIZE):
                        yield data
        finally:
            cancel.set()  # stops the writer's synthesis before its next sentence
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


async def drive(body: Generator[bytes, None, None], cancel: threading.Event) -> AsyncIterator[bytes]:
    """Run a blocking body generator in the thread pool; when the client goes away, cancel and close it."""
    finished = False
    try:
        while True:
            # the thread pool finishes a step even when the request is cancelled, so `body` is idle in `finally`
            data = await run_in_threadpool(next, body, None)
            if data is None:
                finished = True
                return
            if data:
                yield data
    finally:
        if not finished:
            log.info("speech: the client went away or the stream failed; stopping the synthesis")
        cancel.set()
        body.close()  # its own cleanup: stops synthesis, kills ffmpeg


async def _read_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None


def api_router(studio: Studio, api_key: str | None = None, max_chars: int | None = None) -> APIRouter:
    """The OpenAI-compatible routes under /v1, for `create_api` or to include in another FastAPI app (errors are
    answered by the routes themselves, in OpenAI's shape, so no app-level handler is needed).

    `model` is a Studio engine name (GET /v1/models); OpenAI's `tts-1`, `tts-1-hd` and `gpt-4o-mini-tts` mean
    the default engine. `voice` is one of that engine's voices (GET /v1/audio/voices), library voices included.
    `api_key`: when set, every route wants `Authorization: Bearer <api_key>`. `max_chars` can only lower
    Studio's own limit (`settings.max_chars` and the engine's)."""
    router = APIRouter(prefix="/v1")

    @router.post("/audio/speech")
    async def create_speech(request: Request) -> Response:
        try:
            _check_key(request, api_key)
            body = await _read_body(request)
            job = await run_in_threadpool(parse_speech, studio, body, max_chars)
            cancel = threading.Event()
            chunks = studio.stream(
                job.text,
                job.engine,
                job.voice,
                language=job.language,
                steps=job.steps,
                speed=job.speed,
                seed=job.seed,
                cancel=cancel,
            )
            # the first sentence is made before the response starts: any error up to here (validation, loading the
            # model) is still a JSON answer, and what follows is a stream that already has audio
            first = await run_in_threadpool(next, chunks, None)
        except ApiError as exc:
            return exc.response()
        except StudioError as exc:
            return _studio_error(exc).response()
        except Exception:
            return _internal_error("Speech synthesis")
        if first is None:
            return error_response(400, "No audio was produced: the input has nothing to speak.", param="input")
        for warning in first.audio.warnings:
            log.warning("speech %s/%s: %s", job.engine, job.voice, warning)
        log.info("speech: %s/%s, %s, %d characters", job.engine, job.voice, job.fmt, len(job.text))
        if job.fmt in ENCODERS:
            body_bytes = encoded_body(first, chunks, job.fmt, cancel)
        else:
            body_bytes = raw_body(first, chunks, job.fmt)
        return StreamingResponse(drive(body_bytes, cancel), media_type=CONTENT_TYPES[job.fmt])

    @router.get("/models")
    def list_models(request: Request) -> Response:
        try:
            _check_key(request, api_key)
            return JSONResponse({"object": "list", "data": [_model(studio, name) for name in studio.registry.names()]})
        except ApiError as exc:
            return exc.response()
        except Exception:
            return _internal_error("Listing the models")

    @router.get("/models/{model}")
    def retrieve_model(request: Request, model: str) -> Response:
        try:
            _check_key(request, api_key)
            return JSONResponse(_model(studio, _engine_name(studio, model)))
        except ApiError as exc:
            return exc.response()
        except Exception:
            return _internal_error("Describing the model")

    def list_voices(request: Request) -> Response:
        try:
            _check_key(request, api_key)
            wanted = request.query_params.get("model")
            if wanted:
                name = _engine_name(studio, wanted)
                _require_available(studio, name)
                names = [name]
            else:
                names = [n for n in studio.registry.names() if studio.registry.available(n).ok]
            data = []
            for name in names:
                try:
                    listed = studio.voices(name)
                except StudioError as exc:  # one engine that fails to list must not hide the others
                    if wanted:
                        raise _studio_error(exc) from exc
                    log.warning("listing the voices of %s failed: %s", name, exc)
                    continue
                data += [{"id": v.id, "name": v.name, "model": name, "languages": list(v.languages)} for v in listed]
            return JSONResponse({"object": "list", "data": data})
        except ApiError as exc:
            return exc.response()
        except Exception:
            return _internal_error("Listing the voices")

    router.add_api_route("/audio/voices", list_voices, methods=["GET"])
    router.add_api_route("/voices", list_voices, methods=["GET"])  # the same list, at a shorter path
    return router


def _model(studio: Studio, name: str) -> dict[str, Any]:
    # from the registry, not Studio.engines(): that lists every engine's voices and can load models to do it
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "studio",
        "available": studio.registry.available(name).ok,
        "label": studio.registry.info(name).label,
    }


def create_api(studio: Studio, api_key: str | None = None, max_chars: int | None = None) -> FastAPI:
    """A FastAPI app serving `api_router`; whatever the routes do not answer (unknown paths, wrong methods) also
    comes back in OpenAI's error shape."""
    from studio import __version__

    # no /docs or /openapi.json: they would be the only pages open without the key, and describe no request bodies
    app = FastAPI(title="Studio speech API", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(api_router(studio, api_key, max_chars))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            message = f"Not found: {request.method} {request.url.path}. The routes are under /v1."
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message, code=_http_code(exc.status_code))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, f"Invalid request: {exc.errors()}", code="invalid_request")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        return _internal_error(f"{request.method} {request.url.path}", exc)

    return app


def _http_code(status: int) -> str | None:
    return {404: "not_found", 405: "method_not_allowed"}.get(status)
