"""Assemble the tabs into one gr.Blocks app and launch it with safe defaults."""

from __future__ import annotations

import logging

import gradio as gr

from studio import __version__
from studio.audio.io import ffmpeg_on_path
from studio.config import Settings
from studio.ui.context import AppContext
from studio.ui.tabs import audiobook, benchmark, finetune, synthesize, voice_clone

log = logging.getLogger(__name__)

CSS = """
#synth-count { color: var(--body-text-color-subdued); font-size: 0.85em; margin-top: -0.5em; }
#synth-status { min-height: 1.5em; }
"""


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(title="Studio") as demo:
        gr.Markdown(f"# Studio <small>v{__version__}</small>\nOpen-source voice studio: type, pick a voice, listen.")
        with gr.Tabs():
            with gr.Tab("Synthesize", id="synthesize"):
                synthesize.build(ctx)
            with gr.Tab("Audiobook", id="audiobook"):
                audiobook.build(ctx)
            with gr.Tab("Voice Clone", id="voice_clone"):
                voice_clone.build(ctx)
            with gr.Tab("Fine-tune", id="finetune"):
                finetune.build(ctx)
            with gr.Tab("Benchmark", id="benchmark"):
                benchmark.build(ctx)
    return demo


def launch_kwargs(
    settings: Settings, host: str | None = None, port: int | None = None, share: bool = False
) -> dict[str, object]:
    """Serve only the output folder; block voices, runs, jobs and caches; cap uploads; bind locally by default."""
    return {
        "server_name": host or settings.host,
        "server_port": port or settings.port,
        "share": bool(share),
        "allowed_paths": [str(settings.outputs_dir)],
        "blocked_paths": [
            str(settings.voices_dir),
            str(settings.runs_dir),
            str(settings.jobs_dir),
            str(settings.cache_dir),
            str(settings.datasets_dir),
        ],
        "max_file_size": settings.max_upload,
        "css": CSS,
        "show_error": True,
    }


def launch(settings: Settings, host: str | None = None, port: int | None = None, share: bool = False) -> None:
    ctx = AppContext.create(settings)
    ffmpeg_on_path(settings.cache_dir / "bin")
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=1)
    demo.launch(**launch_kwargs(settings, host, port, share))  # type: ignore[arg-type]
