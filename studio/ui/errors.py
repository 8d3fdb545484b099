"""One decorator for every UI handler: StudioError becomes a gr.Error with the plain message, never a traceback."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from studio.errors import StudioError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

UNEXPECTED = "Something went wrong ({kind}: {detail}). Your text and settings are kept; try again."


def _to_gr_error(exc: Exception) -> gr.Error:
    if isinstance(exc, StudioError):
        return gr.Error(str(exc), print_exception=False)
    log.exception("unexpected error in a UI handler")
    return gr.Error(UNEXPECTED.format(kind=type(exc).__name__, detail=str(exc)[:200]), print_exception=False)


def ui_errors(fn: F) -> F:
    """Wrap a handler (plain function or generator) so users see clear messages."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                raise _to_gr_error(exc) from exc

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            raise _to_gr_error(exc) from exc

    return wrapper  # type: ignore[return-value]
