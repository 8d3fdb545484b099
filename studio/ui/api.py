"""The public API's data endpoints: plain JSON in and out, for what the page shows as pickers and tables (engines
and their voices, book jobs and a render's progress). The tabs' own events cover the rest (synthesize, book_import,
voice_clone, train_start...); docs/api.md lists them all.

No `from __future__ import annotations` here: gr.api reads each function's type hints as objects to describe its
parameters and results on the API page."""

import math
from typing import Any

import gradio as gr

from studio.book.job import list_jobs
from studio.errors import InvalidInput
from studio.ui.context import AppContext
from studio.ui.errors import ui_errors
from studio.ui.users import user_context


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def engines(ctx: AppContext) -> list[dict[str, Any]]:
    out = []
    for name in ctx.registry.names():
        info = ctx.registry.info(name)
        status = ctx.registry.available(name)
        out.append({
            "name": name,
            "label": info.label,
            "available": status.ok,
            "message": status.message,
            "languages": list(info.languages),
            "default_language": info.default_language,
            "supports_steps": info.supports_steps,
            "default_steps": info.default_steps,
            "supports_speed": info.supports_speed,
            "speed_range": [info.min_speed, info.max_speed],
            "supports_instructions": info.supports_instructions,
            "supports_duration": info.supports_duration,
            "supports_events": info.supports_events,
            "license": info.license,
        })  # fmt: skip
    return out


def voices(ctx: AppContext, engine: str) -> list[dict[str, Any]]:
    if engine not in ctx.registry.names():
        raise InvalidInput(f"Unknown engine {engine!r}; choose one of: {', '.join(ctx.registry.names())}.")
    status = ctx.registry.available(engine)
    if not status.ok:
        raise InvalidInput(f"{ctx.registry.info(engine).label} cannot run here: {status.message}")
    return [{"id": v.id, "name": v.name, "languages": list(v.languages)} for v in ctx.registry.voices(engine)]


def models(ctx: AppContext, engine: str) -> list[dict[str, Any]]:
    if engine not in ctx.registry.names():
        raise InvalidInput(f"Unknown engine {engine!r}; choose one of: {', '.join(ctx.registry.names())}.")
    return [{"name": m.name, "short": m.short, "label": m.label, "downloaded": m.present, "running": m.running}
            for m in ctx.studio.models(engine)]  # fmt: skip


def books(ctx: AppContext, session: str) -> list[dict[str, Any]]:
    out = []
    for job in list_jobs(ctx.jobs_dir(session)):
        try:
            out.append({"job_id": job.id, "title": job.plan().title, "state": job.status().get("state", "planned")})
        except InvalidInput as exc:  # listed so it can be found; opening it says what is wrong
            out.append({"job_id": job.id, "title": "", "state": "broken", "error": str(exc)})
    return out


def book_progress(ctx: AppContext, job_id: str, session: str) -> dict[str, Any]:
    from studio.ui.tabs.audiobook import ACTIVE, _job, output_files

    job = _job(ctx, session, job_id)
    status = job.status()
    state = status.get("state", "planned")
    if state in ACTIVE and not ctx.runner.running(job.id):
        failed = ctx.runner.error(job.id)
        state = "failed" if failed else "interrupted"
        status = {**status, "error": failed or status.get("error")}
    done, total = int(status.get("done", 0)), int(status.get("total", 0) or 0)
    return {
        "job_id": job.id,
        "state": state,
        "message": status.get("message", ""),
        "error": status.get("error") or "",
        "done": done,
        "total": total,
        "progress": round(done / total, 4) if total else 0.0,
        "files": [p.rsplit("/", 1)[-1] for p in output_files(ctx, job, session)],
        "flagged": [
            {
                "chunk_id": f.chunk_id,
                "text": f.text,
                "heard": f.heard,
                "wer": "" if f.wer is None else f"{f.wer:.0%}",
                "sounds": "" if f.sounds is None else f"{f.sounds:.0%}",
            }
            for f in ctx.books.flagged(job)
        ],
    }


def _plain(value: Any) -> Any:
    """A status value as JSON (numbers that are not finite, like a diverged loss, as text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def run_summary(info: Any) -> dict[str, Any]:
    st = info.status
    keys = ("step", "total_steps", "epoch", "train_loss", "best_eval", "best_step", "eta_s", "elapsed", "message",
            "phase", "phases", "phase_name", "phase_step")  # fmt: skip
    return {
        "run_id": info.run_id,
        "name": info.spec.name if info.spec else "",
        "state": info.state,
        **{k: _plain(st.get(k)) for k in keys},
        "error": st.get("error") or "",
        **_timing(st.get("timing")),
        "evaluation": st.get("evaluation") if isinstance(st.get("evaluation"), dict) else {},
    }


def _timing(timing: Any) -> dict[str, Any]:
    """Where the run's time went: `timing` (seconds per part, total, GPU fields with CUDA) and the same in a line."""
    from studio.finetune.metrics import timing_text

    if not isinstance(timing, dict):
        return {"timing": {}, "timing_text": ""}
    return {"timing": {k: _plain(v) for k, v in timing.items()}, "timing_text": timing_text(timing)}


def run_status(ctx: AppContext, run_id: str) -> dict[str, Any]:
    from studio.finetune import settings as table

    if not run_id:
        raise InvalidInput("Give a run id (train_start or train_list gives it).")
    info = ctx.finetune.get(run_id)
    out = run_summary(info)
    st = info.status
    out["precision"], out["trained_on"] = st.get("precision") or "", st.get("trained_on") or ""
    for key in ("evaluation_base", "targets"):  # the base model's scores; a Supertonic run's latent targets, measured
        out[key] = st.get(key) if isinstance(st.get(key), dict) else {}
    out["settings"] = table.from_spec(info.spec) if info.spec else {}
    out["adapter"] = info.files.adapter.name if info.state == "finished" else ""
    return out


def register(ctx: AppContext) -> None:
    """Add the data endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""

    @ui_errors
    def engine_list(request: gr.Request) -> list[dict]:
        """Every engine Studio knows: whether it can run here (and why not), its languages, steps and speed range.

        Returns:
            one object per engine: name, label, available, message, languages, default_language, supports_steps,
            default_steps, supports_speed, speed_range, supports_instructions (synthesize's `instructions`),
            supports_duration (synthesize's `duration`), supports_events (event tags such as [laughter] are
            performed), license (of the weights).
        """
        return engines(user_context(ctx, request))

    @ui_errors
    def engine_voices(engine: str, request: gr.Request) -> list[dict]:
        """The voices one engine can speak with (built-in and, for the caller, the library's voices of that engine).

        Args:
            engine: engine name, as engine_list gives it (e.g. "piper").

        Returns:
            one object per voice: id (what synthesize takes), name, languages.
        """
        return voices(user_context(ctx, request), engine)

    @ui_errors
    def engine_models(engine: str, request: gr.Request) -> list[dict]:
        """The checkpoints an engine can run (Qwen3-TTS: 0.6B/1.7B Base and CustomVoice, and a folder placed by
        hand); empty for an engine with one model. engine_choose_model picks among the downloaded ones,
        engine_download_model fetches another.

        Args:
            engine: engine name, as engine_list gives it (e.g. "qwen3_tts").

        Returns:
            one object per checkpoint: name (a Hub id, or "placed"), short (e.g. "1.7b-customvoice"), label,
            downloaded, running (the one the engine runs now).
        """
        return models(user_context(ctx, request), engine)

    @ui_errors
    def book_list(request: gr.Request) -> list[dict]:
        """The caller's book jobs, newest first.

        Returns:
            one object per job: job_id, title, state (planned, queued, rendering, exporting, done, failed...).
        """
        return books(user_context(ctx, request), _session(request))

    @ui_errors
    def book_status(job_id: str, request: gr.Request) -> dict:
        """Where a book's render stands: state, chunks done of total, the exported files, the flagged chunks.

        Args:
            job_id: the job's id (book_import or book_list gives it).

        Returns:
            job_id, state, message, error, done, total, progress (0-1), files (book_export fetches them), flagged.
        """
        return book_progress(user_context(ctx, request), job_id, _session(request))

    @ui_errors
    def book_flagged(job_id: str, request: gr.Request) -> list[dict]:
        """The chunks of a book that speech recognition heard differently, in book order, to review one by one
        (book_play_chunk plays one, book_regenerate_chunk makes a new take, book_accept_chunk keeps it as it is).

        Args:
            job_id: the job's id (book_import or book_list gives it).

        Returns:
            one object per flagged chunk: chunk_id, chapter, text (written), spoken (after the lexicon), heard, wer
            (0-1), tries (takes made) and seed (of a regenerated take; null for the render's own).
        """
        u = user_context(ctx, request)
        from studio.ui.tabs.audiobook import _job

        return [f.as_dict() for f in u.books.flagged(_job(u, _session(request), job_id))]

    @ui_errors
    def train_list(request: gr.Request) -> list[dict]:
        """The caller's fine-tuning runs, newest first.

        Returns:
            one object per run: run_id, name, state, step, total_steps, epoch, train_loss, best_eval, ..., error, and
            evaluation (once the run is evaluated: mean_wer, mean_similarity, sentences, speakers: per speaker its
            sentences, wer and similarity; or error).
        """
        return [run_summary(info) for info in user_context(ctx, request).finetune.all()]

    @ui_errors
    def train_status(run_id: str, request: gr.Request) -> dict:
        """Where a fine-tuning run stands: state (starting, running, finished, stopped, failed...), step of total, the
        losses, the time left, the phase of a run in phases (phase, phases, phase_name, phase_step; null otherwise),
        where the time went (timing: seconds of data loading, forward/backward, evaluation,
        checkpoints, the total, and GPU utilization and memory on a GPU; timing_text: the same as shares in a line),
        the evaluation's scores once it has them (evaluation: mean_wer, mean_similarity, and per speaker of a run of
        several speakers its sentences, wer and similarity against that speaker's own clips; evaluation_base: the
        base model's, where the run scored it), the precision it trains in and where (precision, trained_on), a
        Supertonic run's latent targets as measured (targets: clips, similarity, wer, loss, start_loss), and the
        training settings it runs with (by name, as train_start takes them).

        Args:
            run_id: the run's id (train_start or train_list gives it).
        """
        return run_status(user_context(ctx, request), run_id)

    for fn in (
        engine_list,
        engine_voices,
        engine_models,
        book_list,
        book_status,
        book_flagged,
        train_list,
        train_status,
    ):
        gr.api(fn, api_name=fn.__name__, queue=False)
