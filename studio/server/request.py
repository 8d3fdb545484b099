"""What the server accepts: the API key, model names, and a speech request's body checked into a SpeechJob."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from studio.config import DEFAULT_ENGINE
from studio.errors import InvalidInput
from studio.server.errors import ApiError
from studio.synthesis import check_instructions

if TYPE_CHECKING:
    from studio.api import Studio

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
LISTED_VOICES = 20  # an unknown-voice error names this many; GET /v1/audio/voices has them all


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
    instruct: str | None = None  # OpenAI's `instructions`: how to speak (engines that take them)
    duration: float | None = None  # Studio's `duration`: seconds the take lasts (engines whose length is an input)


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
    instructions = _field(body, "instructions", (str,), "text: how to speak, e.g. 'speak slowly and warmly'")
    stream_format = _field(body, "stream_format", (str,), "'audio'") or "audio"
    # Studio extensions (OpenAI has no such fields): the engine's language, denoising steps, seed and length
    language = _field(body, "language", (str,), "a language code of the model")
    steps = _field(body, "steps", (int,), "a whole number")
    seed = _field(body, "seed", (int,), "a whole number")
    duration = _field(body, "duration", (int, float), "a number of seconds")

    engine = _engine_name(studio, model)
    _require_available(studio, engine)
    info = studio.registry.info(engine)
    text = text.strip()
    if not text:
        raise ApiError(400, "'input' is empty: give the text to speak.", param="input", code="empty_input")
    # the router's own limit can only lower Studio's (none locally unless STUDIO_MAX_CHARS sets one; an engine's
    # per-call limit applies to each piece of a long text, not to the text)
    limits = [n for n in (max_chars, studio.synthesizer.max_chars) if n]
    limit = min(limits) if limits else None
    if limit is not None and len(text) > limit:
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
    instruct = None
    if instructions is not None and instructions.strip():  # OpenAI's field; empty means none
        try:
            instruct = check_instructions(instructions, info)
        except InvalidInput as exc:
            raise ApiError(400, str(exc), param="instructions", code="instructions_not_supported") from None
    if duration is not None:
        from studio.synthesis import check_duration

        try:
            duration = check_duration(duration, info, len(text))
        except InvalidInput as exc:
            raise ApiError(400, str(exc), param="duration", code="duration_not_supported") from None
    return SpeechJob(engine, text, voice, fmt, speed, language, steps, seed, instruct, duration)


async def _read_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
