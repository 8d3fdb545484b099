"""The server's errors in OpenAI's shape, and Studio's own errors mapped onto them."""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

from studio.errors import EngineUnavailable, InvalidInput, StudioError

log = logging.getLogger(__name__)


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
