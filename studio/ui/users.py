"""Who a request comes from, and handlers that run in that user's own AppContext (one per user when hosted)."""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable
from typing import Any

import gradio as gr

from studio.hosting import LOCAL, Identity
from studio.ui.context import AppContext


def identity(ctx: AppContext, request: gr.Request | None) -> Identity:
    """Locally: the one local user. Hosted: the Hugging Face account signed in through OAuth (gradio keeps it in the
    signed session cookie), else the browser session (anonymous: its area expires)."""
    if not ctx.settings.hosted:
        return LOCAL
    if request is not None and ctx.settings.oauth:
        info = _session(request).get("oauth_info")  # the Starlette session gradio's LoginButton fills
        if isinstance(info, dict) and float(info.get("expires_at") or 0) > time.time():
            name = (info.get("userinfo") or {}).get("preferred_username")
            if isinstance(name, str) and name.strip():
                return Identity("user", name.strip())
    session = getattr(request, "session_hash", None)
    if not session:
        raise gr.Error("This request has no browser session; reload the page.", print_exception=False)
    return Identity("session", str(session))


def _session(request: gr.Request) -> Any:
    """The signed session cookie's contents (gradio's own way: from the request scope, so a missing session
    middleware is no error), {} when there is none."""
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    if isinstance(scope, dict):
        return scope.get("session") or {}
    try:
        session = getattr(underlying, "session", None)
    except AssertionError:  # Starlette without SessionMiddleware: sign-in is off
        return {}
    return session if isinstance(session, dict) else {}


def _special(hint: Any) -> bool:
    options = typing.get_args(hint) or (hint,)
    return any(h is gr.Request or (inspect.isclass(h) and issubclass(h, gr.EventData)) for h in options)


def user_context(ctx: AppContext, request: gr.Request | None) -> AppContext:
    return ctx.workspace(identity(ctx, request))


def per_user(ctx: AppContext, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A Gradio handler from `fn(user_ctx, *inputs)`: the same inputs, plus the request that says whose context to
    use. Keeps `fn`'s own request or gr.Progress parameters where they are (Gradio fills them by signature)."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # a hint only importable for type checking: such a parameter is an ordinary input
        hints = {}
    # what Gradio fills in by type (it reads the wrapper's __annotations__): the request and event data
    special = {p.name: hints[p.name] for p in params if p.name in hints and _special(hints[p.name])}
    at = next((i for i, p in enumerate(params) if special.get(p.name) in (gr.Request, gr.Request | None)), None)
    added = at is None
    if at is None:  # before the first parameter with a default (a gr.Progress) or *inputs, as Python requires
        at = next((i for i, p in enumerate(params)
                   if p.default is not inspect.Parameter.empty or p.kind == inspect.Parameter.VAR_POSITIONAL),
                  len(params))  # fmt: skip
        params.insert(at, inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
        special["request"] = gr.Request

    def split(args: tuple[Any, ...]) -> tuple[AppContext, tuple[Any, ...]]:
        user = user_context(ctx, args[at] if at < len(args) else None)
        return user, (args[:at] + args[at + 1 :]) if added else args

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args: Any) -> Any:
            user, rest = split(args)
            yield from fn(user, *rest)

        wrapper: Any = gen
    else:

        @functools.wraps(fn)
        def plain(*args: Any) -> Any:
            user, rest = split(args)
            return fn(user, *rest)

        wrapper = plain
    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = special
    del wrapper.__wrapped__  # Gradio reads the signature above, not fn's
    return wrapper
