"""The Train form: its components are built from the table of training settings (studio.finetune.settings) and
registered by name; presets and the spec go through the same names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gradio as gr

from studio.errors import InvalidInput
from studio.finetune import settings as table
from studio.finetune.evalset import parse_text
from studio.finetune.phases import EXAMPLE, describe, parse_phases
from studio.finetune.settings import QWEN3_DEFAULT_TARGETS, Setting
from studio.finetune.spec import (
    DEFAULT_BASE_MODEL,
    KNOWN_TARGET_MODULES,
    PRESETS,
    QWEN3_BASE_MODEL,
    QWEN3_TARGET_MODULES,
    SUPERTONIC_BASE_MODEL,
    TrainSpec,
)
from studio.ui.context import AppContext

BACKEND_CHOICES = list(table.BACKEND_LABELS)
QWEN3_MODES = list(table.QWEN3_MODES)
# the form's other inputs
RUN_FIELDS = ("preset", "name", "dataset", "base_model", "device", "speaker", "eval_set", "datasets")


def target_choices(backend: str) -> list[str]:
    return list(QWEN3_TARGET_MODULES if backend == "qwen3_tts" else KNOWN_TARGET_MODULES)


BASE_MODELS = {"kani": DEFAULT_BASE_MODEL, "qwen3_tts": QWEN3_BASE_MODEL, "supertonic": SUPERTONIC_BASE_MODEL}


def family_rows() -> list[str]:
    """The form's rows whose settings apply to some model families only (shown for those: `backend_updates`)."""
    return [row for row, found in table.rows(n for n in table.BY_NAME if n != "backend")
            if row != "phases" and any(s.backends != table.BACKENDS for s in found)]  # fmt: skip


def backend_updates(backend: str) -> tuple[Any, ...]:
    """Switching the model family: its default base model, its LoRA target names, and the rows of settings that
    apply to it shown (the others hidden), in `family_rows` order."""
    if backend == "qwen3_tts":
        targets = gr.update(choices=target_choices(backend), value=QWEN3_DEFAULT_TARGETS)
    else:
        targets = gr.update(choices=target_choices(backend), value=list(PRESETS["balanced"].lora.target_modules))
    shown = []
    for row, found in table.rows(n for n in table.BY_NAME if n != "backend"):
        if row in family_rows():
            shown.append(gr.update(visible=any(backend in s.backends for s in found)))
    return (gr.update(value=BASE_MODELS.get(backend, DEFAULT_BASE_MODEL)), targets, *shown)


def preset_values(preset: str) -> dict[str, Any]:
    """The settings a preset sets, by name."""
    return table.preset_values(preset)


def demo_paths(ctx: AppContext) -> tuple[str, str]:
    """(dataset, base model) of the demo: synthetic codec tokens and a tiny LFM2 the trainer builds on first use."""
    dataset, model = ctx.finetune.demo_paths()
    return str(dataset), str(model)


def dataset_choices(ctx: AppContext) -> list[tuple[str, str]]:
    demo, _ = demo_paths(ctx)
    choices = [(d.label, str(d.folder)) for d in ctx.finetune.datasets() if str(d.folder) != demo]
    return [*choices, ("Demo: synthetic codec tokens (pairs with the demo model)", demo)]


def make_spec(
    ctx: AppContext,
    preset: str,
    name: str,
    dataset: str | None,
    base_model: str,
    device: str,
    speaker: str,
    settings: Mapping[str, Any] | None = None,
    eval_set: str = "",
    datasets: str = "",
) -> TrainSpec:
    """The form as a validated spec: the preset, then the named settings over it (any left out keep the preset's or
    the table's default); the demo dataset/model pair gets the demo's own settings. `eval_set`: the evaluation
    sentences, one a line (`speaker | sentence`), empty for the built-in ones; `datasets`: a datasets config (JSON,
    TOML or YAML) instead of one dataset."""
    values = dict(settings or {})
    lines = [line.to_json() for line in parse_text(eval_set)] if (eval_set or "").strip() else []
    unknown = sorted(set(values) - set(table.BY_NAME))
    if unknown:
        raise InvalidInput(f"Unknown training setting(s) {unknown}; known: {sorted(table.BY_NAME)}.")
    if (datasets or "").strip():
        if dataset:
            raise InvalidInput(
                "Give one dataset or a datasets config, not both: clear the Dataset box to use the config."
            )
        mix, max_seconds = ctx.finetune.datasets_config((datasets or "").strip())
        if max_seconds is not None:
            values.setdefault("max_audio_seconds", max_seconds)
        spec = ctx.finetune.spec(preset, name, "", base_model, device=device, speaker=(speaker or "").strip() or None,
                                 eval_set=lines, datasets=mix)  # fmt: skip
        return table.apply(spec, values).validate()
    if not dataset:
        raise InvalidInput("Choose a dataset (build one above, or pick the demo).")
    demo_dataset, demo_base = demo_paths(ctx)
    if (dataset == demo_dataset) != ((base_model or "").strip() == demo_base):
        raise InvalidInput(
            "The demo dataset has synthetic tokens for the demo model only: choose both (Try the demo), or neither."
        )
    if dataset == demo_dataset:
        demo = ctx.finetune.demo_spec(name=(name or "").strip() or "demo", device=device)
        demo.eval_set = lines
        return demo.validate()
    backend = table.BY_NAME["backend"].convert(values.pop("backend", None) or "kani")
    spec = ctx.finetune.spec(preset, name, dataset, base_model, device=device,
                             speaker=(speaker or "").strip() or None, backend=backend, eval_set=lines)  # fmt: skip
    return table.apply(spec, values).validate()


def gpu_count() -> int:
    """NVIDIA GPUs the driver lists (no torch import in the app)."""
    root = Path("/proc/driver/nvidia/gpus")
    return len(list(root.iterdir())) if root.is_dir() else 0


def device_choices() -> list[tuple[str, str]]:
    n = gpu_count()
    choices = [("CPU", "cpu")]
    if n:
        choices.append(("GPU 0", "cuda:0"))
    if n > 1:
        choices.append((f"All {n} GPUs (accelerate launch)", "cuda:" + ",".join(str(i) for i in range(n))))
    return choices


# ---- components -------------------------------------------------------------------------------------------------
def component(s: Setting, value: Any, backend: str = "kani") -> Any:
    """The form component of one setting (its label is the table's; the element id is ft-<name>)."""
    elem_id = f"ft-{s.name.replace('_', '-')}"
    if s.kind == "phases":  # a list of phases as JSON text, checked as it is typed (phases_note)
        text = value if isinstance(value, str) else (json.dumps(value, indent=1) if value else "")
        return gr.Textbox(text, label=s.label, lines=6, max_lines=30, placeholder=EXAMPLE, elem_id=elem_id,
                          info=s.help)  # fmt: skip
    if s.kind == "bool":
        return gr.Checkbox(value, label=s.label, elem_id=elem_id)
    if s.kind == "multi":
        choices = target_choices(backend) if s.name == "target_modules" else list(s.choices)
        return gr.CheckboxGroup(choices, value=value, label=s.label, elem_id=elem_id)
    if s.kind == "choice":
        if s.row == "family" or s.section in table.FAMILY_SECTIONS:  # few choices: radio buttons
            return gr.Radio(list(s.choices), value=value, label=s.label, elem_id=elem_id)
        return gr.Dropdown(list(s.choices), value=value, label=s.label, elem_id=elem_id)
    return gr.Number(value, label=s.label, precision=0 if s.kind == "int" else None, elem_id=elem_id)


def build_settings(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every setting of the table but the model family (shown above the form) as a component, row by row; rows whose
    settings apply to another model family than the default start hidden. Returns (components, rows) by name."""
    components: dict[str, Any] = {}
    rows: dict[str, Any] = {}
    for row, settings in table.rows(n for n in table.BY_NAME if n != "backend"):
        visible = any("kani" in s.backends for s in settings)
        # the phases editor has an accordion of its own (phases_note adds its check under the box)
        box = gr.Accordion("Advanced: phases", open=False, elem_id="ft-phases-box") if row == "phases" else None
        with box or gr.Row(visible=visible) as container:
            for s in settings:
                components[s.name] = component(s, values.get(s.name, s.initial()))
        rows[row] = container
    return components, rows


def phases_note(text: str | None) -> str:
    """The phases box checked as it is typed: each phase in a line, or what is wrong with them."""
    if not (text or "").strip():
        return "One phase with the settings above. Give a JSON list of phases to train in phases."
    try:
        phases = parse_phases(text)
    except InvalidInput as exc:
        return f"⚠️ {exc}"
    return f"{len(phases)} phase(s):\n\n" + describe(phases)
