"""One decorator for every UI handler: StudioError becomes a gr.Error with the plain message, never a traceback."""

from __future__ import annotations

import functools
import inspect
import logging
import typing
import weakref
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


# ---------------------------------------------------------------------------------------------------------------------
# Errors where they happen. A Gradio event that raises marks every one of its outputs with a red "Error" badge: the
# last good take, the voice library, the engine picker. On the page, an action that fails instead leaves its outputs
# as they were and says why in the note beside it. An API client (gradio_client, the JS client, curl) still gets the
# error: the page says it is the page through a flag that only the page's own load event sets.
# ---------------------------------------------------------------------------------------------------------------------

ERROR_NOTE = "⚠️ {message}"
_PAGES: weakref.WeakKeyDictionary[gr.Blocks, gr.State] = weakref.WeakKeyDictionary()


def on_page(demo: gr.Blocks) -> gr.State:
    """A flag that is True for events fired from the page and False for API calls (an API client never runs the
    page's load events, so its session keeps the initial value). One per app; call inside `with demo:`."""
    flag = _PAGES.get(demo)
    if flag is None:
        flag = gr.State(False)
        demo.load(lambda: True, None, flag, queue=False, show_progress="hidden", api_visibility="private")
        _PAGES[demo] = flag
    return flag


def message_of(exc: BaseException) -> str:
    """What a user reads for an exception: a StudioError's or gr.Error's own words, anything else as unexpected."""
    if isinstance(exc, gr.Error):
        return str(exc.message)
    if isinstance(exc, StudioError):
        return str(exc)
    log.exception("unexpected error in a UI handler", exc_info=exc)
    return UNEXPECTED.format(kind=type(exc).__name__, detail=str(exc)[:200])


def _special_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The type hints by which Gradio fills parameters itself (the request, event data), kept on the wrapper."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # a hint only importable for type checking: such a parameter is an ordinary input
        return {}
    out = {}
    for name, hint in hints.items():
        options = typing.get_args(hint) or (hint,)
        if any(h is gr.Request or (inspect.isclass(h) and issubclass(h, gr.EventData)) for h in options):
            out[name] = hint
    return out


def in_place(fn: Callable[..., Any], outputs: int, note: int | None, single: bool = False) -> Callable[..., Any]:
    """`fn` with a first parameter, the page flag. On the page a failure keeps every output as it was and puts the
    message in output `note` (a warning toast where the event has no note); for an API call it raises as ever."""
    hints = _special_hints(fn)
    params = list(inspect.signature(fn).parameters.values())
    signature = inspect.Signature([inspect.Parameter("from_page", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params])

    def kept(exc: Exception, from_page: Any) -> Any:
        if from_page is not True:
            if isinstance(exc, gr.Error):
                raise exc
            raise _to_gr_error(exc) from exc
        message = message_of(exc)
        values: list[Any] = [gr.skip() for _ in range(outputs)]
        if note is None:
            gr.Warning(message)
        else:
            values[note] = gr.update(value=ERROR_NOTE.format(message=message), visible=True)
        return values[0] if single else tuple(values)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(from_page: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                yield kept(exc, from_page)

        wrapper: Any = gen
    else:

        @functools.wraps(fn)
        def plain(from_page: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                return kept(exc, from_page)

        wrapper = plain
    wrapper.__signature__ = signature
    wrapper.__annotations__ = hints
    wrapper.__dict__.pop("__wrapped__", None)
    return wrapper


def action(demo: gr.Blocks, event: Callable[..., Any], fn: Callable[..., Any], inputs: Any, outputs: Any,
           note: Any = None, **kwargs: Any) -> Any:  # fmt: skip
    """Wire `event(fn, inputs, outputs, **kwargs)` so a failure shows where it happened (see `in_place`): `note` is
    the output (a Markdown beside the action) that says what went wrong; without one a toast says it."""
    listed = list(inputs) if isinstance(inputs, (list, tuple)) else ([] if inputs is None else [inputs])
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    at = next((i for i, o in enumerate(outs) if o is note), None) if note is not None else None
    if note is not None and at is None:
        raise ValueError("the note must be one of the event's outputs")
    return event(in_place(fn, len(outs), at, single), [on_page(demo), *listed], outputs, **kwargs)
