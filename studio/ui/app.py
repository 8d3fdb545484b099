"""Assemble the tabs into one gr.Blocks app and launch it with safe defaults."""

from __future__ import annotations

import logging

import gradio as gr

from studio import __version__
from studio.audio.io import ffmpeg_on_path
from studio.config import Settings
from studio.ui import api
from studio.ui.context import AppContext
from studio.ui.tables import empty_state_css
from studio.ui.tabs import audiobook, benchmark, finetune, synthesize, voice_clone
from studio.ui.users import per_user

log = logging.getLogger(__name__)

# hosted: uploads and results Gradio keeps in its own cache are deleted after a day (checked every hour)
DELETE_CACHE = (3600, 24 * 3600)

CSS = """
#synth-count { color: var(--body-text-color-subdued); font-size: 0.85em; margin-top: -0.5em; }
#synth-status { min-height: 1.5em; }
.studio-progress { display: flex; align-items: center; gap: 0.6em; }
.studio-progress progress { flex: 1; height: 1.1em; accent-color: var(--color-accent); }
/* a phone: a row of settings stacks rather than squeezing its labels */
@media (max-width: 640px) {
  .gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
  .form > .block, .row > .column, .row > .block { min-width: 100% !important; }
}
"""


def who_note(u: AppContext) -> str:
    """Whose work this page shows (hosted only): a signed-in account's, or this browser session's for a while."""
    if not u.settings.hosted:
        return ""
    if u.identity.signed_in:
        return f"Signed in as **{u.identity.name}**: your voices, datasets, runs and books are kept with your account."
    hours = u.settings.session_hours
    sign_in = " Sign in with Hugging Face to keep them, and to train." if u.settings.oauth else ""
    return (f"You are a guest: your voices, books and downloads live in this browser session and are deleted "
            f"{hours:g} hours after your last visit.{sign_in}")  # fmt: skip


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(title="Studio", delete_cache=DELETE_CACHE if ctx.settings.hosted else None) as demo:
        gr.Markdown(f"# Studio <small>v{__version__}</small>\nOpen-source voice studio: type, pick a voice, listen.")
        if ctx.settings.hosted:
            with gr.Row():
                who = gr.Markdown("", elem_id="studio-who")
                if ctx.settings.oauth:
                    gr.LoginButton(scale=0, elem_id="studio-login")
            demo.load(per_user(ctx, who_note), None, who, queue=False, api_name="who_am_i")
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # on a phone the tabs wrap onto a second line, all in view
            with gr.Tab("Synthesize", id="synthesize"):
                text_source = synthesize.build(ctx, demo)
            with gr.Tab("Audiobook", id="audiobook"):
                book_tab = audiobook.build(ctx, demo)
            with gr.Tab("Voice Clone", id="voice_clone"):
                voice_clone.build(ctx, demo)
            with gr.Tab("Fine-tune", id="finetune"):
                finetune.build(ctx, demo)
            with gr.Tab("Benchmark", id="benchmark"):
                benchmark.build(ctx, demo)
        # Synthesize's "Make an audiobook from this text" opens the book in the Audiobook tab
        audiobook.wire_book_from_text(ctx, demo, text_source, book_tab, tabs)
        api.register(ctx)  # the data endpoints (engines, voices, book jobs and progress): docs/api.md
    for fn in demo.fns.values():  # Gradio's own events (the login button's status check) are no part of the API
        if str(fn.api_name or "").startswith("_"):
            fn.api_visibility = "private"
    return demo


def launch_kwargs(
    settings: Settings, host: str | None = None, port: int | None = None, share: bool = False
) -> dict[str, object]:
    """Serve only the output folder (hosted: each user's downloads sit in a folder named by a random token, so no
    file URL can be guessed); block voices, runs, jobs, datasets, user areas and caches; cap uploads; bind locally
    by default."""
    home = settings.home
    blocked = [settings.voices_dir, settings.runs_dir, settings.jobs_dir, settings.cache_dir, settings.datasets_dir,
               home / "users", home / "sessions", home / "public", home / "models"]  # fmt: skip
    return {
        "server_name": host or settings.host,
        "server_port": port or settings.port,
        "share": bool(share),
        "allowed_paths": [str(settings.outputs_root)],
        "blocked_paths": [str(p) for p in dict.fromkeys(blocked)],
        "max_file_size": settings.max_upload,
        "css": CSS + empty_state_css(),
        "show_error": True,
    }


def launch(settings: Settings, host: str | None = None, port: int | None = None, share: bool = False) -> None:
    ctx = AppContext.create(settings)
    ffmpeg_on_path(settings.cache_dir / "bin")
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    demo.launch(prevent_thread_lock=True, **launch_kwargs(settings, host, port, share))  # type: ignore[arg-type]
    # the OpenAI-compatible speech API beside the web app (/v1/...), over the same application object; on a hosted
    # server that is the page's public area: it sees the shared voices only (an API client has no browser session
    # to find a user's library by)
    from studio.server import api_router

    demo.server_app.include_router(api_router(ctx.studio, settings.api_key))
    log.info("OpenAI-compatible speech API: %sv1", demo.local_url)
    demo.block_thread()
