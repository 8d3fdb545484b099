"""Fine-tune tab: build a dataset, train a LoRA in a separate process with live loss plots, stop/resume, run
experiments side by side, and turn the result into a voice.

One module a concern: `dataset` (step 1), `form` (the training settings, built from the table in
studio.finetune.settings), `runs` (run control, plots, experiments, results); this one lays the tab out and wires
the Train, Experiments and Result steps."""

from __future__ import annotations

from typing import Any

import gradio as gr

from studio.finetune import settings as table
from studio.finetune.runs import ACTIVE
from studio.finetune.spec import DEFAULT_BASE_MODEL, KNOWN_TARGET_MODULES, PRESETS
from studio.ui.context import AppContext
from studio.ui.errors import action, ui_errors
from studio.ui.tabs.finetune import dataset as dataset_step
from studio.ui.tabs.finetune.dataset import (
    JOB,
    apply_edits,
    build_dataset,
    dataset_summary,
    encode_dataset,
    play_clip,
    save_dataset,
)
from studio.ui.tabs.finetune.form import (
    BACKEND_CHOICES,
    QWEN3_DEFAULT_TARGETS,
    QWEN3_MODES,
    backend_updates,
    build_settings,
    component,
    dataset_choices,
    demo_paths,
    device_choices,
    family_rows,
    gpu_count,
    make_spec,
    phases_note,
    preset_values,
)
from studio.ui.tabs.finetune.runs import (
    PLOT_POINTS,
    add_experiment,
    batch_text,
    comparison,
    export_run,
    phase_label,
    phase_rules,
    plots,
    push_run,
    resume_run,
    run_batch,
    run_choices,
    show_run,
    start_run,
    status_text,
    stop_run,
    use_in_synthesize,
)
from studio.ui.users import per_user, user_context

__all__ = [
    "BACKEND_CHOICES",
    "JOB",
    "KNOWN_TARGET_MODULES",
    "PLOT_POINTS",
    "QWEN3_DEFAULT_TARGETS",
    "QWEN3_MODES",
    "add_experiment",
    "apply_edits",
    "backend_updates",
    "batch_text",
    "build",
    "build_dataset",
    "comparison",
    "dataset_choices",
    "dataset_summary",
    "demo_paths",
    "device_choices",
    "encode_dataset",
    "export_run",
    "family_rows",
    "gpu_count",
    "make_spec",
    "phase_label",
    "phase_rules",
    "phases_note",
    "play_clip",
    "plots",
    "preset_values",
    "push_run",
    "resume_run",
    "run_batch",
    "run_choices",
    "save_dataset",
    "show_run",
    "start_run",
    "status_text",
    "stop_run",
    "use_in_synthesize",
]  # fmt: skip

TICK_SECONDS = 1.0


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def build(ctx: AppContext, demo: gr.Blocks) -> None:
    service = ctx.finetune
    runs = run_choices(ctx)
    wire_dataset = dataset_step.build(ctx, demo)

    gr.Markdown("### 2 · Train")
    with gr.Row():
        with gr.Column(scale=2):
            family = component(table.BY_NAME["backend"], "kani")
            with gr.Row():
                dataset = gr.Dropdown(dataset_choices(ctx), value=None, label="Dataset", allow_custom_value=True,
                                      elem_id="ft-dataset")  # fmt: skip
                base = gr.Textbox(DEFAULT_BASE_MODEL, label="Base model (Hub id or folder)", elem_id="ft-base")
            with gr.Row():
                run_name = gr.Textbox("my-voice", label="Run name", elem_id="ft-name")
                device = gr.Dropdown(device_choices(), value="cpu", label="Device", elem_id="ft-device")
                prefix = gr.Textbox("", label="Speaker prefix (multi-speaker base)", elem_id="ft-prefix")
            preset = gr.Radio([(p.name.capitalize(), p.name) for p in PRESETS.values()], value="balanced",
                              label="Preset", elem_id="ft-preset")  # fmt: skip
            preset_note = gr.Markdown(PRESETS["balanced"].description, elem_id="ft-preset-note")
            with gr.Accordion("Evaluation sentences", open=False):
                eval_text = gr.Textbox("", lines=4, label="Evaluation sentences (empty: the built-in five)",
                                       placeholder="One sentence a line; `speaker | sentence` for a given speaker.",
                                       elem_id="ft-eval-set")  # fmt: skip
            with gr.Accordion("Several datasets (KaniTTS)", open=False):
                mix_text = gr.Textbox("", lines=6, label="Datasets config: JSON, TOML or YAML (clear the Dataset box)",
                                      placeholder='[[datasets]]\npath = "anna"\nspeaker = "anna"\n\n[[datasets]]\n'
                                      'hub = "owner/name"\nspeaker = "bob"\nfilters = { speaker = "ex01" }\n'
                                      "max_seconds = 12\nmax_rows = 2000", elem_id="ft-datasets")  # fmt: skip
            with gr.Accordion("Advanced settings", open=False):
                fields, rows = build_settings({**table.defaults(), **preset_values("balanced")})
                with rows["phases"]:
                    phases_check = gr.Markdown(phases_note(""), elem_id="ft-phases-note")
            fields = {"backend": family, **fields}  # every setting of the table, by name
            with gr.Row():
                start_btn = gr.Button("Start", variant="primary", elem_id="ft-start")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="ft-stop")
                resume_btn = gr.Button("Resume", elem_id="ft-resume")
                demo_btn = gr.Button("Try the demo (tiny model, CPU, ~1 min)", elem_id="ft-demo")
            action_note = gr.Markdown("", elem_id="ft-action")
        with gr.Column(scale=3):
            with gr.Row():
                run_pick = gr.Dropdown(runs, value=runs[0][1] if runs else None, label="Runs", elem_id="ft-runs")
                refresh_btn = gr.Button("↻", scale=0, elem_id="ft-refresh")
            run_status = gr.Markdown("No run selected.", elem_id="ft-status")
            with gr.Row():
                loss_plot = gr.LinePlot(x="step", y="loss", color="series", title="Loss", x_title="Step",
                                        y_title="Loss", elem_id="ft-loss-plot")  # fmt: skip
                lr_plot = gr.LinePlot(x="step", y="lr", title="Learning rate", x_title="Step", y_title="LR",
                                      elem_id="ft-lr-plot")  # fmt: skip
            log_box = gr.Textbox(label="End of train.log", lines=10, visible=False, elem_id="ft-log")
    seen = gr.State(-1)
    timer = gr.Timer(TICK_SECONDS)
    wire_dataset(dataset, device)

    gr.Markdown("### 3 · Experiments: several configurations, one after another, compared")
    batch = gr.State([])
    with gr.Row():
        add_btn = gr.Button("Add the form to the batch", elem_id="ft-add")
        batch_btn = gr.Button("Run batch", variant="primary", elem_id="ft-batch")
    batch_view = gr.Markdown(batch_text([]), elem_id="ft-batch-view")
    ids = service.experiment_ids()
    with gr.Row():
        exp_pick = gr.Dropdown(ids, value=ids[0] if ids else None, label="Experiment batch", elem_id="ft-exp")
        compare_btn = gr.Button("Compare", scale=0, elem_id="ft-compare")
    compare_table = gr.Dataframe(comparison(ctx, ids[0] if ids else None), interactive=False,
                                 elem_id="ft-compare-table")  # fmt: skip

    gr.Markdown("### 4 · Result: use it as a voice, export, share")
    with gr.Row():
        voice_name = gr.Textbox("", label="Voice name", placeholder="My voice", elem_id="ft-voice-name")
        use_btn = gr.Button("Use in Synthesize", variant="primary", elem_id="ft-use")
    with gr.Row():
        merged = gr.Checkbox(False, label="Also merge into the base model (full-size model)", elem_id="ft-merged")
        export_btn = gr.Button("Export", elem_id="ft-export")
    with gr.Row():
        repo = gr.Textbox("", label="Hub repository (you/my-voice)", elem_id="ft-repo")
        token = gr.Textbox("", label="Hugging Face token (write)", type="password", elem_id="ft-token")
        push_eval = gr.Checkbox(False, label="Also push the evaluation as a dataset (same name)",
                                elem_id="ft-push-eval")  # fmt: skip
        push_btn = gr.Button("Push to Hub", elem_id="ft-push")
    result_note = gr.Markdown("", elem_id="ft-result")
    exported = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="ft-exported")

    # presets: the settings they set, by name (Qwen3-TTS keeps its own LoRA target names)
    preset_fields = [fields[name] for name in table.PRESET_SETTINGS]

    def _preset(preset: str, backend: str) -> dict[Any, Any]:
        values = preset_values(preset)
        if backend == "qwen3_tts":
            values.pop("target_modules")
        return {preset_note: PRESETS[preset].description, **{fields[k]: v for k, v in values.items()}}

    preset.change(_preset, [preset, family], [preset_note, *preset_fields], queue=False, api_visibility="private")
    action(demo, fields["phases"].change, phases_note, fields["phases"], phases_check, phases_check, queue=False,
           api_visibility="private")  # fmt: skip
    family_outputs = [base, fields["target_modules"], *(rows[r] for r in family_rows())]
    family.change(backend_updates, family, family_outputs, queue=False,
                  api_visibility="private")  # fmt: skip

    # runs: the form's run fields by position, its training settings by name
    run_inputs = [preset, run_name, dataset, base, device, prefix, eval_text, mix_text]

    @ui_errors
    def train_start(
        preset: str, name: str, dataset: str | None, base_model: str, device: str, speaker: str, eval_set: str,
        datasets: str, request: gr.Request, **settings: Any,
    ) -> tuple[Any, str, int]:  # fmt: skip
        """Start a fine-tuning run in its own process (one at a time per user; follow it with train_status).

        Args:
            preset: "quick", "balanced", "best", or a GPU preset "4gb", "4gb-safe", "4gb-clipped": the settings not
                given below come from it.
            name: the run's name.
            dataset: a saved dataset's folder (dataset_save), or a dataset with codec tokens.
            base_model: Hugging Face id or folder of the model to fine-tune (Supertonic: supertonic2, supertonic3
                or a model folder).
            device: "cpu", "cuda:0" or "cuda:0,1" (several GPUs).
            speaker: speaker prefix for multi-speaker base models (optional).
            eval_set: the evaluation sentences, one a line (`speaker | sentence` for a given speaker); empty: the
                built-in five.
            datasets: several datasets instead of `dataset` (KaniTTS): a JSON, TOML or YAML config listing each
                with its path or hub id, speaker, filters, max_seconds, max_tokens and max_rows.
            settings: the training settings by name (docs/api.md lists them: lora_r, epochs, learning_rate...).

        Returns:
            the runs picker (on the new run) and a note.
        """
        u = user_context(ctx, request)
        spec = make_spec(u, preset, name, dataset, base_model, device, speaker, settings, eval_set=eval_set,
                         datasets=datasets)  # fmt: skip
        pick, note = start_run(u, spec)
        return pick, note, -1

    # a failure says why beside the action and leaves every other output as it was (studio.ui.errors.action)
    action(demo, start_btn.click, train_start, run_inputs, [run_pick, action_note, seen], action_note,
           inputs_kwargs=fields, api_name="train_start")  # fmt: skip

    @ui_errors
    def train_demo(u: AppContext, device: str) -> tuple[Any, ...]:
        """Train the demo: a tiny model on synthetic codec tokens (about a minute on a CPU, nothing downloaded).

        Args:
            device: "cpu" or "cuda:0".
        """
        spec = u.finetune.demo_spec(name="demo", device=device)
        pick, note = start_run(u, spec)
        demo_dataset, demo_base = demo_paths(u)
        note += " The demo trains a tiny model on synthetic tokens."
        return gr.update(choices=dataset_choices(u), value=demo_dataset), demo_base, "demo", pick, note, -1

    action(demo, demo_btn.click, per_user(ctx, train_demo), device, [dataset, base, run_name, run_pick, action_note,
           seen], action_note, api_name="train_demo")  # fmt: skip

    @ui_errors
    def train_stop(u: AppContext, run_id: str | None) -> str:
        """Stop a run: the trainer saves a checkpoint, then exits (train_resume continues it).

        Args:
            run_id: the run's id (train_start's runs picker, or train_list).
        """
        return stop_run(u, run_id)

    action(demo, stop_btn.click, per_user(ctx, train_stop), run_pick, action_note, action_note, api_name="train_stop")

    @ui_errors
    def train_resume(u: AppContext, run_id: str | None) -> tuple[Any, str, int]:
        """Resume a stopped or interrupted run from its last checkpoint.

        Args:
            run_id: the run's id.
        """
        pick, note = resume_run(u, run_id)
        return pick, note, -1

    action(demo, resume_btn.click, per_user(ctx, train_resume), run_pick, [run_pick, action_note, seen], action_note,
           api_name="train_resume")  # fmt: skip

    def _runs(u: AppContext) -> Any:
        return gr.update(choices=run_choices(u))

    refresh_btn.click(per_user(ctx, _runs), None, run_pick, queue=False, api_visibility="private")

    def _unseen() -> tuple[int, Any]:
        # another run: the loss plot is hidden until the next tick shows it with that run's points, so that Gradio
        # draws it anew (its series and colours are fixed when it is first drawn)
        return -1, gr.update(visible=False)

    run_pick.change(_unseen, None, [seen, loss_plot], queue=False, api_visibility="private")

    @ui_errors
    def _tick(u: AppContext, run_id: str | None, seen: int, note: str) -> tuple[Any, ...]:
        # a "Stopping…" note is cleared once the run has stopped (it stayed on screen after the run ended)
        ended = bool(run_id and (note or "").startswith("Stopping") and u.finetune.get(run_id).state not in ACTIVE)
        status, loss, lr, log, count = show_run(u, run_id, seen)
        if count != seen:  # new points: shown (again, after another run was picked)
            loss = gr.update(value=loss, visible=True)
        return status, loss, lr, log, count, "" if ended else gr.update()

    action(demo, timer.tick, per_user(ctx, _tick), [run_pick, seen, action_note],
           [run_status, loss_plot, lr_plot, log_box, seen, action_note], run_status, show_progress="hidden",
           api_visibility="private")  # fmt: skip

    def _relabel(u: AppContext, listed: list[Any]) -> tuple[Any, list[Any]]:
        """Keep the runs list's states current (only sent when a state changed, so an open list is not reset)."""
        choices = run_choices(u)
        if choices == listed:
            return gr.update(), listed
        return gr.update(choices=choices), choices

    listed = gr.State(runs)
    timer.tick(per_user(ctx, _relabel), listed, [run_pick, listed], show_progress="hidden",
               api_visibility="private")  # fmt: skip

    def _mine(u: AppContext) -> tuple[Any, ...]:
        """This user's datasets, runs and experiments once the page is open (hosted: built with nobody's data)."""
        choices, experiments = run_choices(u), u.finetune.experiment_ids()
        return (
            gr.update(choices=dataset_choices(u)),
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            choices,
            gr.update(choices=experiments, value=experiments[0] if experiments else None),
        )

    demo.load(per_user(ctx, _mine), None, [dataset, run_pick, listed, exp_pick], queue=False,
              api_visibility="private")  # fmt: skip

    # experiments
    @ui_errors
    def train_batch_add(
        batch: list[dict[str, Any]], preset: str, name: str, dataset: str | None, base_model: str, device: str,
        speaker: str, eval_set: str, datasets: str, request: gr.Request, **settings: Any,
    ) -> Any:  # fmt: skip
        """Add a configuration to this session's experiment batch (the same inputs as train_start; names differ).

        Args:
            preset: "quick", "balanced" or "best".
            name: the configuration's name (unique in the batch).
            dataset: the dataset's folder.
            base_model: Hugging Face id or folder.
            device: "cpu", "cuda:0" or "cuda:0,1".
            speaker: speaker prefix (optional).
            eval_set: the evaluation sentences, one a line (optional).
            datasets: a datasets config instead of `dataset` (optional).
            settings: the training settings by name.
        """
        u = user_context(ctx, request)
        spec = make_spec(u, preset, name, dataset, base_model, device, speaker, settings, eval_set=eval_set,
                         datasets=datasets)  # fmt: skip
        return add_experiment(batch, spec)

    action(demo, add_btn.click, train_batch_add, [batch, *run_inputs], [batch, batch_view], inputs_kwargs=fields,
           api_name="train_batch_add")  # fmt: skip

    @ui_errors
    def train_batch_run(u: AppContext, batch: list[dict[str, Any]]) -> tuple[Any, ...]:
        """Queue this session's experiment batch: its runs train one after another (train_compare compares them)."""
        return run_batch(u, batch)

    action(demo, batch_btn.click, per_user(ctx, train_batch_run), batch, [batch, batch_view, exp_pick, run_pick],
           api_name="train_batch_run")  # fmt: skip

    @ui_errors
    def train_compare(u: AppContext, batch_id: str | None) -> Any:
        """Compare the runs of an experiment batch with the base model: steps, losses, and audio scores.

        Args:
            batch_id: the batch's id (train_batch_run gives it).
        """
        return comparison(u, batch_id)

    action(demo, compare_btn.click, per_user(ctx, train_compare), exp_pick, compare_table, api_name="train_compare")
    action(demo, exp_pick.change, per_user(ctx, comparison), exp_pick, compare_table, api_visibility="private")

    # result
    @ui_errors
    def train_use_as_voice(u: AppContext, run_id: str | None, name: str) -> str:
        """Turn a finished run into a library voice (KaniTTS (fine-tuned) in synthesize).

        Args:
            run_id: the finished run's id.
            name: the voice's name.
        """
        return use_in_synthesize(u, run_id, name)

    action(demo, use_btn.click, per_user(ctx, train_use_as_voice), [run_pick, voice_name], result_note, result_note,
           api_name="train_use_as_voice")  # fmt: skip

    @ui_errors
    def train_export(u: AppContext, run_id: str | None, merged: bool, request: gr.Request) -> tuple[str, list[str]]:
        """Export a finished run as ZIPs: the LoRA adapter, and with `merged` the full model merged with it.

        Args:
            run_id: the finished run's id.
            merged: also merge the adapter into the base model (a full-size model).
        """
        return export_run(u, run_id, merged, _session(request))

    action(demo, export_btn.click, per_user(ctx, train_export), [run_pick, merged], [result_note, exported],
           result_note, api_name="train_export")  # fmt: skip

    @ui_errors
    def train_push(
        u: AppContext, run_id: str | None, merged: bool, repo: str, token: str, evaluation: bool, request: gr.Request
    ) -> str:
        """Push a finished run's adapter (or merged model) to a Hugging Face Hub repository.

        Args:
            run_id: the finished run's id.
            merged: push the merged full model instead of the adapter.
            repo: the Hub repository, like "you/my-voice".
            token: a Hugging Face access token with write permission.
            evaluation: also push the run's evaluation (sentences, speakers, audio, WER, similarity) as a dataset
                repository of the same name.
        """
        return push_run(u, run_id, merged, repo, token, _session(request), evaluation=bool(evaluation))

    action(demo, push_btn.click, per_user(ctx, train_push), [run_pick, merged, repo, token, push_eval], result_note,
           result_note, api_name="train_push")  # fmt: skip
