"""The training settings by name: one table drives the Fine-tune form (a component per entry), the presets (their
values by name), the spec (where each value lives in a TrainSpec) and the CLI (`studio train --help` is generated
from it). Adding a setting is one entry here (plus its field in the spec's dataclass or the Qwen3-TTS options)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput
from studio.finetune.phases import PHASE_SETTINGS, parse_phases, phases_json, read_phases_file
from studio.finetune.spec import (
    BACKENDS,
    KNOWN_TARGET_MODULES,
    PRECISIONS,
    PRESETS,
    QWEN3_TARGET_MODULES,
    SCHEDULERS,
    LoraSettings,
    TrainerSettings,
    TrainSpec,
)

KINDS = ("int", "float", "bool", "choice", "multi", "phases")  # phases: a list of phases (studio.finetune.phases)
SECTIONS = ("lora", "trainer", "run", "qwen3", "supertonic")  # TrainSpec.lora, .trainer, the spec, its family options
FAMILY_SECTIONS = ("qwen3", "supertonic")  # options of one model family: a dict in the spec (TrainSpec.qwen3, ...)
QWEN3_DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
QWEN3_MODES = (("LoRA", "lora"), ("Full fine-tuning", "full"), ("Last layers only", "last_layers"))
BACKEND_LABELS = (("KaniTTS (LFM2 + NanoCodec)", "kani"), ("Qwen3-TTS (12 Hz codec)", "qwen3_tts"),
                  ("Supertonic (flow matching, exported to ONNX)", "supertonic"))
FAMILY_OF_SECTION = {"qwen3": "qwen3_tts", "supertonic": "supertonic"}


@dataclass(frozen=True)
class Setting:
    """One training setting. `section`/`field` say where it lives in a TrainSpec; `row` groups the form's
    components side by side; `backends` says which model families it applies to; `empty` is the value a blank
    number box means (None: a number is required)."""

    name: str
    section: str
    field: str
    label: str
    kind: str
    help: str
    default: Any = None  # None: the spec dataclass's own default
    choices: tuple[Any, ...] = ()  # values, or (label, value) pairs
    minimum: float | None = None
    maximum: float | None = None
    backends: tuple[str, ...] = BACKENDS
    row: str = ""
    empty: Any = None
    aliases: tuple[str, ...] = ()  # extra CLI flags

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def values(self) -> list[Any]:
        """The allowed values of a choice or multi setting (without their labels)."""
        return [c[1] if isinstance(c, tuple) else c for c in self.choices]

    @property
    def in_presets(self) -> bool:
        return self.section in ("lora", "trainer")

    def initial(self) -> Any:
        """The default value: the table's, else the spec dataclass's."""
        if self.default is not None or self.section in FAMILY_SECTIONS:
            return list(self.default) if isinstance(self.default, list) else self.default
        owner = {"lora": LoraSettings, "trainer": TrainerSettings, "run": TrainSpec}[self.section]
        f = next(f for f in fields(owner) if f.name == self.field)
        if f.default is MISSING and callable(f.default_factory):
            return f.default_factory()
        return f.default

    def convert(self, value: Any) -> Any:
        """A form or command-line value as the spec's type; InvalidInput names the setting when it cannot be."""
        if self.kind == "phases":
            # blank (or a spec's own empty list): one phase with the run's settings; a list given as text (the form,
            # the API) or read from a file (the CLI) must hold at least one phase
            if value is None or value == [] or (isinstance(value, str) and not value.strip()):
                return []
            return phases_json(parse_phases(value))
        if value is None or value == "":
            if self.empty is not None:
                return self.empty
            if self.kind in ("int", "float"):
                raise InvalidInput(f"{self.label} needs a number.")
        try:
            if self.kind == "int":
                number = float(value)
                if number != int(number):
                    raise ValueError(value)
                return int(number)
            if self.kind == "float":
                return float(value)
        except (TypeError, ValueError) as exc:
            whole = " whole" if self.kind == "int" else ""
            raise InvalidInput(f"{self.label} is not a{whole} number: {value!r}.") from exc
        if self.kind == "bool":
            return bool(value) and str(value).lower() not in ("false", "0", "no")
        if self.kind == "multi":
            return [str(v) for v in (value or [])]
        return str(value)


def _s(name: str, section: str, label: str, kind: str, help: str, field: str | None = None, **kw: Any) -> Setting:
    return Setting(name, section, field or name, label, kind, help, **kw)


KANI, QWEN, SUPERTONIC = ("kani",), ("qwen3_tts",), ("supertonic",)
LORA_FAMILIES = ("kani", "qwen3_tts")  # Supertonic trains its weights themselves, no adapters

SETTINGS: tuple[Setting, ...] = (
    _s("backend", "run", "Model family", "choice", "what a run fine-tunes: KaniTTS or Qwen3-TTS",
       choices=BACKEND_LABELS, row="family"),
    _s("lora_r", "lora", "LoRA rank (r)", "int", "adapter rank (8-64 is typical)", field="r", minimum=1,
       maximum=512, row="lora", backends=LORA_FAMILIES),
    _s("lora_alpha", "lora", "LoRA alpha", "int", "adapter scale (often equal to the rank)", field="alpha",
       minimum=1, row="lora", backends=LORA_FAMILIES),
    _s("lora_dropout", "lora", "LoRA dropout", "float", "dropout on the adapters", field="dropout",
       minimum=0, maximum=0.9, row="lora", backends=LORA_FAMILIES),
    _s("use_rslora", "lora", "rsLoRA", "bool", "rank-stabilized LoRA scaling", row="lora",
       backends=LORA_FAMILIES),
    _s("target_modules", "lora", "Target modules", "multi", "projections that get adapters",
       choices=tuple(dict.fromkeys(KNOWN_TARGET_MODULES + QWEN3_TARGET_MODULES)), row="targets",
       backends=LORA_FAMILIES),
    _s("epochs", "trainer", "Epochs", "float", "passes over the dataset", minimum=0, maximum=1000, row="trainer"),
    _s("batch_size", "trainer", "Batch size", "int", "clips per step and device", minimum=1, maximum=256,
       row="trainer"),
    _s("grad_accum", "trainer", "Gradient accumulation", "int", "batches per optimizer step", minimum=1,
       maximum=1024, row="trainer"),
    _s("learning_rate", "trainer", "Learning rate", "float", "peak learning rate (1e-4 is typical for LoRA)",
       minimum=0, maximum=0.1, row="trainer", aliases=("--lr",)),
    _s("scheduler", "trainer", "Scheduler", "choice", "learning-rate schedule", choices=SCHEDULERS,
       row="optimizer"),
    _s("warmup_ratio", "trainer", "Warmup ratio", "float", "share of the steps spent warming up",
       minimum=0, maximum=0.5, row="optimizer"),
    _s("weight_decay", "trainer", "Weight decay", "float", "AdamW weight decay", minimum=0,
       maximum=0.1, row="optimizer"),
    _s("precision", "trainer", "Precision", "choice",
       "auto: bf16 on a GPU that supports it, else fp32; fp16 needs a GPU", choices=PRECISIONS, row="optimizer"),
    _s("max_steps", "trainer", "Max steps (0 = by epochs)", "int", "stop after this many optimizer steps",
       minimum=0, row="steps", empty=0),
    _s("eval_steps", "trainer", "Evaluate every (0 = auto)", "int", "steps between evaluations", minimum=0,
       row="steps", empty=0),
    _s("save_steps", "trainer", "Checkpoint every (0 = auto)", "int", "steps between checkpoints", minimum=0,
       row="steps", empty=0),
    _s("keep_checkpoints", "trainer", "Checkpoints kept", "int", "newest checkpoints kept besides the best",
       minimum=1, row="steps"),
    _s("seed", "trainer", "Seed", "int", "random seed", row="seed", empty=0),
    _s("max_audio_seconds", "trainer", "Skip clips longer than (s)", "float",
       "longer clips are skipped (memory grows with the square of the length)", minimum=1, row="seed"),
    _s("qwen_mode", "qwen3", "Qwen3-TTS: what to train", "choice", "which weights learn", field="mode",
       default="lora", choices=QWEN3_MODES, backends=QWEN, row="qwen3", empty="lora"),
    _s("qwen_last_layers", "qwen3", "Last layers to train (freeze the rest)", "int",
       "last_layers mode: how many of the last layers learn", field="last_layers", default=0, minimum=0,
       backends=QWEN, row="qwen3", empty=0),
    _s("qwen_add_layers", "qwen3", "New layers to add on top", "int", "last_layers mode: new layers appended",
       field="add_layers", default=0, minimum=0, backends=QWEN, row="qwen3", empty=0),
    _s("qwen_train_code_predictor", "qwen3", "Train the code predictor too", "bool",
       "full / last_layers: the code predictor learns too", field="train_code_predictor", default=True,
       backends=QWEN, row="qwen3"),
    _s("qwen_reinit_last", "qwen3", "Replace the last layers (start them afresh)", "bool",
       "last_layers mode: re-initialize the trained layers", field="reinit_last", default=False, backends=QWEN,
       row="qwen3"),
    _s("st_parts", "supertonic", "Supertonic: what learns", "multi",
       "the graphs (the vocoder stays frozen) and the speaker's style", field="parts",
       default=["vector_estimator", "duration_predictor", "style"],
       choices=(("Vector estimator (the flow's ConvNeXt blocks)", "vector_estimator"), ("Text encoder", "text_encoder"),
                ("Duration predictor", "duration_predictor"), ("Speaker style", "style")), backends=SUPERTONIC,
       row="supertonic"),
    _s("st_style_from", "supertonic", "Style starts from", "choice",
       "clone: the speaker's style cloned from their longest clip; or a preset voice", field="style_from",
       default="clone", choices=("clone", "F1", "F2", "F3", "F4", "F5", "M1", "M2", "M3", "M4", "M5"),
       backends=SUPERTONIC, row="supertonic", empty="clone"),
    _s("st_flow_steps", "supertonic", "Flow steps trained at", "int",
       "the step count N the flow learns (each example: a random step of N)", field="flow_steps", default=5,
       minimum=2, maximum=128, backends=SUPERTONIC, row="supertonic_targets", empty=5),
    _s("st_target_iterations", "supertonic", "Target iterations per clip", "int",
       "Adam steps inverting the vocoder toward each clip (cached with the dataset)", field="target_iterations",
       default=200, minimum=1, maximum=5000, backends=SUPERTONIC, row="supertonic_targets", empty=200),
    _s("st_clone_iterations", "supertonic", "Clone iterations", "int",
       "style search on the longest clip (style starts from clone)", field="clone_iterations", default=30,
       minimum=1, maximum=1000, backends=SUPERTONIC, row="supertonic_targets", empty=30),
    _s("st_duration_weight", "supertonic", "Duration loss weight", "float",
       "the duration predictor's loss beside the flow's", field="duration_weight", default=1.0, minimum=0,
       maximum=100, backends=SUPERTONIC, row="supertonic_targets", empty=1.0),
    _s("st_compile", "supertonic", "torch.compile", "bool", "compile the trained graphs (a one-off compile)",
       field="compile", default=False, backends=SUPERTONIC, row="supertonic_targets"),
    _s("phases", "run", "Phases (JSON)", "phases",
       "train in phases, each with its own settings and gates to advance (a JSON list of objects; blank: one phase "
       "with the settings above; the CLI reads a .json or .toml file)", row="phases"),
)  # fmt: skip
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
PRESET_SETTINGS = tuple(s.name for s in SETTINGS if s.in_presets)


def defaults() -> dict[str, Any]:
    return {s.name: s.initial() for s in SETTINGS}


def preset_values(preset: str) -> dict[str, Any]:
    """What a preset sets, by name (LoRA and trainer settings; the model family's own options are left alone)."""
    if preset not in PRESETS:
        raise InvalidInput(f"Preset {preset!r} is unknown; choose one of {', '.join(PRESETS)}.")
    p = PRESETS[preset]
    owners = {"lora": p.lora, "trainer": p.trainer}
    out = {}
    for name in PRESET_SETTINGS:
        s = BY_NAME[name]
        value = getattr(owners[s.section], s.field)
        out[name] = list(value) if isinstance(value, list) else value
    return out


def from_spec(spec: TrainSpec) -> dict[str, Any]:
    """Every setting's value in a spec, by name."""
    out: dict[str, Any] = {}
    for s in SETTINGS:
        if s.section in FAMILY_SECTIONS:
            value = getattr(spec, s.section).get(s.field, s.initial())
        else:
            value = getattr({"lora": spec.lora, "trainer": spec.trainer, "run": spec}[s.section], s.field)
        out[s.name] = list(value) if isinstance(value, list) else value
    return out


def apply(spec: TrainSpec, values: Mapping[str, Any]) -> TrainSpec:
    """Set the named settings on a spec (converted to their types; unknown names refused). The Qwen3-TTS options are
    kept for a Qwen3-TTS run only (every one of them, with its default where not given)."""
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise InvalidInput(f"Unknown training setting(s) {unknown}; known: {sorted(BY_NAME)}.")
    family: dict[str, dict[str, Any]] = {section: dict(getattr(spec, section)) for section in FAMILY_SECTIONS}
    for name, raw in values.items():
        s = BY_NAME[name]
        value = s.convert(raw)
        if s.kind == "choice" and s.choices and value not in s.values and s.section == "run":
            raise InvalidInput(f"{s.label} {value!r} is unknown; choose one of {', '.join(map(str, s.values))}.")
        if s.section in FAMILY_SECTIONS:
            family[s.section][s.field] = value
        else:
            setattr({"lora": spec.lora, "trainer": spec.trainer, "run": spec}[s.section], s.field, value)
    for section, owner in FAMILY_OF_SECTION.items():
        chosen = family[section]
        kept = {s.field: chosen.get(s.field, s.initial()) for s in SETTINGS if s.section == section}
        setattr(spec, section, kept if spec.backend == owner else {})
    return spec


def rows(names: Iterable[str] | None = None) -> list[tuple[str, list[Setting]]]:
    """The settings grouped by form row, in the table's order."""
    chosen = set(names) if names is not None else set(BY_NAME)
    out: dict[str, list[Setting]] = {}
    for s in SETTINGS:
        if s.name in chosen:
            out.setdefault(s.row or s.name, []).append(s)
    return list(out.items())


# ---- command line ---------------------------------------------------------------------------------------------
def _range(s: Setting) -> str:
    if s.kind in ("choice", "multi") and s.choices:
        return f"; one of {', '.join(map(str, s.values))}" if s.kind == "choice" else ""
    if s.minimum is not None and s.maximum is not None:
        return f"; {s.minimum:g} to {s.maximum:g}"
    if s.minimum is not None:
        return f"; {s.minimum:g} or more"
    return ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (every default None: only what is given overrides the preset)."""
    group = parser.add_argument_group("training settings (override the preset; the Fine-tune form has the same)")
    for s in SETTINGS:
        families = "" if s.backends == BACKENDS else f" [{', '.join(s.backends)}]"
        help_text = f"{s.label}: {s.help}{_range(s)}{families} (default {s.initial()!r})".replace("%", "%%")
        flags = [s.flag, *s.aliases]
        if s.kind == "bool":
            group.add_argument(*flags, dest=s.name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)  # fmt: skip
        elif s.kind == "multi":
            group.add_argument(*flags, dest=s.name, nargs="+", default=None, metavar="NAME", help=help_text)
        elif s.kind == "choice":
            group.add_argument(*flags, dest=s.name, choices=s.values, default=None, help=help_text)
        elif s.kind == "phases":
            names = ", ".join(p.name for p in PHASE_SETTINGS)
            group.add_argument(*flags, dest=s.name, type=_phases_file, default=None, metavar="FILE",
                               help=f"{s.label}: a .json file (a list of objects) or .toml file ([[phases]] tables) "
                               f"of phases, each with settings by name: {names} (default: one phase)")  # fmt: skip
        else:
            number = int if s.kind == "int" else float
            group.add_argument(*flags, dest=s.name, type=number, default=None, help=help_text)


def _phases_file(path: str) -> list[dict[str, Any]]:
    try:
        return read_phases_file(Path(path))
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by name."""
    return {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name, None) is not None}
