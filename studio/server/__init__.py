"""An OpenAI-compatible speech API (`POST /v1/audio/speech`, `GET /v1/models`, `GET /v1/audio/voices`) over Studio."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio.errors import StudioError
from studio.server.audio import ENCODERS, drive, encoded_body, raw_body
from studio.server.errors import ApiError, _internal_error, _studio_error, error_response
from studio.server.request import CONTENT_TYPES, _check_key, _engine_name, _read_body, _require_available, parse_speech

if TYPE_CHECKING:
    from studio.api import Studio

log = logging.getLogger(__name__)


def api_router(studio: Studio, api_key: str | None = None, max_chars: int | None = None) -> APIRouter:
    """The OpenAI-compatible routes under /v1, for `create_api` or to include in another FastAPI app (errors are
    answered by the routes themselves, in OpenAI's shape, so no app-level handler is needed).

    `model` is a Studio engine name (GET /v1/models); OpenAI's `tts-1`, `tts-1-hd` and `gpt-4o-mini-tts` mean
    the default engine. `voice` is one of that engine's voices (GET /v1/audio/voices), library voices included.
    `api_key`: when set, every route wants `Authorization: Bearer <api_key>`. `max_chars` can only lower
    Studio's own limit (`Settings.char_limit`: none locally unless STUDIO_MAX_CHARS sets one)."""
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
                instruct=job.instruct,
                duration=job.duration,
                cancel=cancel,
            )
            # the first piece (a long first sentence's opening clause) is made before the response starts: any error up
            # to here (validation, loading the model) is still a JSON answer, and what follows is a stream with audio
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
