"""Training spec: what a run trains (base model, dataset, LoRA and trainer settings), presets, validation, JSON."""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput
from studio.fsutil import write_atomic
from studio.systems import trainable

DEFAULT_BASE_MODEL = "nineninesix/kani-tts-400m-0.3-pt"
# LFM2's modules: attention q/k/v/out_proj, short convolution in_proj/out_proj, feed-forward w1/w2/w3
KNOWN_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3")
# Qwen3-TTS's talker and code predictor: attention q/k/v/o_proj, SwiGLU feed-forward gate/up/down_proj
QWEN3_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QWEN3_BASE_MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
SUPERTONIC_BASE_MODEL = "supertonic2"  # a version name (its downloaded model) or a model folder
# what a run fine-tunes: every system with a training backend in the systems table (KaniTTS, Qwen3-TTS)
BACKENDS = tuple(s.name for s in trainable())
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: bf16 on a GPU that supports it, else fp32 (resolve_precision)
SPEC_VERSION = 1
OBJECT_LISTS = ("eval_set", "datasets")  # spec fields that hold a list of JSON objects


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "w1", "w2"])  # the "balanced" preset's
    use_rslora: bool = True


@dataclass
class TrainerSettings:
    epochs: float = 2.0
    batch_size: int = 1
    grad_accum: int = 4
    learning_rate: float = 5e-5
    scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.02
    max_grad_norm: float = 1.0
    precision: str = "auto"  # the KaniTTS pipeline trains in bf16; "auto" does where the GPU has it
    max_steps: int = 0  # optimizer steps; 0 = as many as `epochs` make
    logging_steps: int = 1
    eval_steps: int = 0  # 0 = about ten evaluations per run
    save_steps: int = 0  # 0 = about five checkpoints per run
    keep_checkpoints: int = 2  # newest kept besides the best one
    seed: int = 0
    max_audio_seconds: float = 20.0  # longer clips are skipped (memory grows with the square of the length)


@dataclass
class TrainSpec:
    """Everything one training run needs; written as runs/<id>/spec.json and read by the trainer process."""

    run_id: str
    name: str
    base_model: str
    dataset: str
    lora: LoraSettings = field(default_factory=LoraSettings)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    speaker: str | None = None  # `speaker: text` prompt prefix (multi-speaker base models)
    device: str = "cpu"  # "cpu", "cuda" or "cuda:0,1" (several GPUs -> accelerate launch)
    preset: str = "custom"
    experiment: str | None = None  # batch id when queued with others
    val_fraction: float = 0.1  # for datasets without a split column
    cache_dir: str | None = None  # where Hub models are cached (Studio's cache; None: huggingface_hub's default)
    evaluate: bool = True  # after training: speak the evaluation sentences, score WER and speaker similarity
    demo: bool = False  # base_model is a folder the trainer fills with a tiny LFM2 built from a config if empty
    backend: str = "kani"  # one of BACKENDS
    # Qwen3-TTS only: mode (lora | full | last_layers), last_layers, add_layers, reinit_last, train_code_predictor,
    # lora_parts (talker, code_predictor), sub_talker_weight; LoRA rank/alpha/dropout/targets come from `lora`
    qwen3: dict[str, Any] = field(default_factory=dict)
    # Supertonic only (studio.systems.supertonic.training.options.SupertonicOptions): parts, style_from,
    # clone_iterations, target_iterations, target_learning_rate, flow_steps, duration_weight, compile
    supertonic: dict[str, Any] = field(default_factory=dict)
    # the evaluation sentences ({"id", "text", "speaker"} each; studio.finetune.evalset); empty: the built-in five
    eval_set: list[dict[str, Any]] = field(default_factory=list)
    # several datasets (studio.finetune.mix: path or hub, speaker, filters, max_seconds, max_tokens, max_rows); when
    # given, the run trains on them and `dataset` only names the mix
    datasets: list[dict[str, Any]] = field(default_factory=list)
    # training in phases (studio.finetune.phases): a list of objects of phase settings by name; empty: one phase with
    # the settings above
    phases: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    version: int = SPEC_VERSION

    @property
    def gpu_ids(self) -> list[int]:
        if not self.device.startswith("cuda"):
            return []
        _, _, ids = self.device.partition(":")
        return [int(i) for i in ids.split(",") if i.strip()] if ids else [0]

    @property
    def num_processes(self) -> int:
        return max(1, len(self.gpu_ids))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainSpec:
        if not isinstance(data, dict):
            raise InvalidInput("A training spec must be a JSON object.")
        lora = _build(LoraSettings, data.get("lora") or {}, "lora")
        trainer = _build(TrainerSettings, data.get("trainer") or {}, "trainer")
        top = {k: v for k, v in data.items() if k not in ("lora", "trainer")}
        if top.get("datasets"):
            top.setdefault("dataset", "")  # a run of several datasets needs no single one
        needed = (
            ("run_id", "name", "base_model") if top.get("datasets") else ("run_id", "name", "base_model", "dataset")
        )
        missing = [k for k in needed if not top.get(k)]
        if missing:
            raise InvalidInput(f"The training spec lacks {', '.join(missing)}.")
        spec = _build(cls, top, "spec")
        spec.lora, spec.trainer = lora, trainer
        return spec

    def save(self, path: Path) -> Path:
        write_atomic(path, json.dumps(self.to_json(), indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> TrainSpec:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InvalidInput(f"No training spec at {path}.") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
        except (OSError, UnicodeDecodeError) as exc:  # a folder, unreadable, or not text
            raise InvalidInput(f"The training spec {path} cannot be read ({exc}).") from exc
        return cls.from_json(data)

    def validate(self) -> TrainSpec:
        """Raise InvalidInput naming the first bad setting; return self for chaining."""
        wrong = _wrong_types(self)
        _check(not wrong, f"Settings of the wrong type: {'; '.join(wrong)}.")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}", self.run_id):
            raise InvalidInput(f"Run id {self.run_id!r} may use letters, digits, '.', '_' and '-' (81 at most).")
        lo, tr = self.lora, self.trainer
        _check(1 <= lo.r <= 512, f"LoRA rank is {lo.r}; use 1 to 512 (8-64 is typical).")
        _check(lo.alpha >= 1, f"LoRA alpha is {lo.alpha}; use 1 or more (often equal to the rank).")
        _check(0 <= lo.dropout < 1, f"LoRA dropout is {lo.dropout}; use 0 to 0.9.")
        _check(bool(lo.target_modules), "Choose at least one target module for LoRA (q_proj and v_proj are typical).")
        bad = [m for m in lo.target_modules if not re.fullmatch(r"[A-Za-z0-9_.]+", m)]
        _check(not bad, f"Target module names {bad} are not valid module names.")
        _check(tr.epochs > 0 or tr.max_steps > 0, "Set epochs above 0 or a step limit.")
        _check(tr.epochs <= 1000, f"Epochs is {tr.epochs}; use at most 1000.")
        _check(1 <= tr.batch_size <= 256, f"Batch size is {tr.batch_size}; use 1 to 256.")
        _check(1 <= tr.grad_accum <= 1024, f"Gradient accumulation is {tr.grad_accum}; use 1 to 1024.")
        _check(0 < tr.learning_rate <= 0.1, f"Learning rate is {tr.learning_rate}; use a small positive number (1e-4).")
        _check(tr.scheduler in SCHEDULERS, f"Scheduler {tr.scheduler!r} is unknown; choose one of {SCHEDULERS}.")
        _check(0 <= tr.warmup_ratio < 1, f"Warmup ratio is {tr.warmup_ratio}; use 0 to 0.5.")
        _check(0 <= tr.weight_decay < 1, f"Weight decay is {tr.weight_decay}; use 0 to 0.1.")
        _check(tr.precision in PRECISIONS, f"Precision {tr.precision!r} is unknown; choose one of {PRECISIONS}.")
        _check(tr.max_steps >= 0 and tr.eval_steps >= 0 and tr.save_steps >= 0, "Step counts cannot be negative.")
        _check(tr.logging_steps >= 1, "Log at least every step count of 1 or more.")
        _check(tr.keep_checkpoints >= 1, "Keep at least one checkpoint.")
        _check(0 <= self.val_fraction < 0.5, f"Validation fraction is {self.val_fraction}; use 0 to 0.4.")
        _check(
            self.device == "cpu" or re.fullmatch(r"cuda(:\d+(,\d+)*)?", self.device) is not None,
            f"Device {self.device!r} is unknown; use cpu, cuda or cuda:0,1.",
        )
        _check(
            not (self.device == "cpu" and tr.precision == "fp16"),
            "fp16 training needs a GPU; use fp32 (or bf16) on the CPU.",
        )
        _check(self.backend in BACKENDS, f"Backend {self.backend!r} is unknown; choose one of {BACKENDS}.")
        if self.datasets:
            from studio.finetune.mix import entries

            _check(self.backend == "kani", "Several datasets in one run are for KaniTTS runs; give Qwen3-TTS one.")
            entries(self.datasets)  # raises naming the bad entry
        if self.backend == "qwen3_tts":
            self.qwen3_options()  # raises on a bad mode, layer count or LoRA target
        if self.backend == "supertonic":
            from studio.systems.supertonic.training.options import SupertonicOptions

            SupertonicOptions.from_json(self.supertonic)  # raises naming the bad setting
        if self.eval_set:
            from studio.finetune.evalset import from_spec

            from_spec(self.eval_set)  # raises naming the bad sentence
        if self.phases:
            from studio.finetune.phases import parse_phases

            parse_phases(self.phases)  # raises naming the phase and the setting
        return self

    def qwen3_options(self) -> Any:
        """The Qwen3-TTS training options (studio.systems.qwen3_tts.training.objective.Qwen3Options), validated."""
        from studio.systems.qwen3_tts.tuned import Qwen3Options

        from_lora = {"lora_r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora"}
        known = {f.name for f in fields(Qwen3Options)} - from_lora
        unknown = sorted(set(self.qwen3) - known)
        _check(not unknown, f"Unknown Qwen3-TTS setting(s) {unknown}; known: {sorted(known)}.")
        lo = self.lora
        lora: dict[str, Any] = {"lora_r": lo.r, "lora_alpha": lo.alpha, "lora_dropout": lo.dropout,
                "target_modules": list(lo.target_modules), "use_rslora": lo.use_rslora}  # fmt: skip
        try:
            options = Qwen3Options(**lora, **self.qwen3)
        except TypeError as exc:
            raise InvalidInput(f"Bad Qwen3-TTS settings: {exc}.") from exc
        return options.validate()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidInput(message)


def _wrong_types(spec: TrainSpec) -> list[str]:
    """`name = value (expected kind)` for each setting whose type differs from its default's (a hand-edited spec)."""
    wrong = []
    for obj, prefix in ((spec, ""), (spec.lora, "lora."), (spec.trainer, "trainer.")):
        for f in fields(obj):
            if obj is spec and f.name in ("lora", "trainer"):
                continue
            if obj is spec and f.name == "phases":
                if not isinstance(spec.phases, list):
                    wrong.append(f"phases = {spec.phases!r} (expected a list of phases)")
                continue  # each phase is checked by parse_phases
            value = getattr(obj, f.name)
            default = f.default if f.default is not MISSING else None
            if default is None and f.default_factory is not MISSING:
                default = f.default_factory()
            if f.default is MISSING and f.default_factory is MISSING:
                default = ""  # run_id, name, base_model, dataset: text
            if isinstance(default, dict):
                ok, kind = isinstance(value, dict), "an object"
            elif isinstance(default, bool):
                ok, kind = isinstance(value, bool), "true or false"
            elif isinstance(default, (int, float)):
                ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
            elif isinstance(default, list) and f.name in OBJECT_LISTS:
                ok, kind = isinstance(value, list) and all(isinstance(v, dict) for v in value), "a list of objects"
            elif isinstance(default, list):
                ok, kind = isinstance(value, list) and all(isinstance(v, str) for v in value), "a list of names"
            else:  # text, or None for optional text
                ok, kind = isinstance(value, str) or (default is None and value is None), "text"
            if not ok:
                wrong.append(f"{prefix}{f.name} = {value!r} (expected {kind})")
    return wrong


def _build(cls: Any, data: dict[str, Any], what: str) -> Any:
    if not isinstance(data, dict):
        raise InvalidInput(f"The {what} settings must be a JSON object, not {data!r}.")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidInput(f"Unknown {what} setting(s) {unknown}; known: {sorted(names)}.")
    try:
        return cls(**data)
    except TypeError as exc:
        raise InvalidInput(f"Bad {what} settings: {exc}.") from exc


def new_run_id(name: str = "run") -> str:
    """Sortable and unique: time, then a slug of the name, then a random tail."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    lora: LoraSettings
    trainer: TrainerSettings
    gpu: bool = False  # sized for a GPU's memory: refused on the CPU before a run starts


# The KaniTTS fine-tuning pipeline's experiment grid (nineninesix-ai/KaniTTS-Finetune-pipeline at fa72cf4): "balanced"
# and "best" are the two experiments of its config/experiments.yaml, "quick" the README's conservative example; every
# one with its shared trainer arguments (batch 1, accumulation 4, cosine, warmup 0.1, weight decay 0.02, clip 1.0).
PRESETS: dict[str, Preset] = {
    "quick": Preset(
        "quick",
        "One epoch, rank 8 on the attention's q/v projections at 2e-5 (the KaniTTS pipeline's conservative example).",
        LoraSettings(r=8, alpha=8, dropout=0.1, target_modules=["q_proj", "v_proj"]),
        TrainerSettings(epochs=1, learning_rate=2e-5),
    ),
    "balanced": Preset(
        "balanced",
        "Two epochs, rank 16 on q_proj, w1 and w2 at 5e-5 (the KaniTTS pipeline's first experiment).",
        LoraSettings(r=16, alpha=16, dropout=0.1, target_modules=["q_proj", "w1", "w2"]),
        TrainerSettings(epochs=2, learning_rate=5e-5),
    ),
    "best": Preset(
        "best",
        "One epoch, rank 32 on every attention, convolution and feed-forward projection at 2e-5 (the KaniTTS "
        "pipeline's second experiment).",
        LoraSettings(r=32, alpha=32, dropout=0.1, target_modules=list(KNOWN_TARGET_MODULES)),
        TrainerSettings(epochs=1, learning_rate=2e-5),
    ),
    # the Supertonic training guide's low-VRAM presets for a 4 GB card (any model family; Supertonic's full-weight
    # training is what they were written for): batch x accumulation, and clipping for the third
    "4gb": Preset(
        "4gb",
        "A 4 GB GPU: batch 4 x accumulation 6 (24 clips a step), 1e-4, clipping 1.0 (the Supertonic training "
        "guide's low-VRAM preset).",
        LoraSettings(),
        TrainerSettings(epochs=10, batch_size=4, grad_accum=6, learning_rate=1e-4, max_audio_seconds=12.0),
        gpu=True,
    ),
    "4gb-safe": Preset(
        "4gb-safe",
        "A 4 GB GPU, conservative: batch 2 x accumulation 10 (20 clips a step), 1e-4 (the guide's safe preset).",
        LoraSettings(),
        TrainerSettings(epochs=10, batch_size=2, grad_accum=10, learning_rate=1e-4, max_audio_seconds=12.0),
        gpu=True,
    ),
    "4gb-clipped": Preset(
        "4gb-clipped",
        "A 4 GB GPU: batch 3 x accumulation 8 (24 clips a step), 1e-4, clipping 0.5 for steadier steps (the guide's "
        "third preset).",
        LoraSettings(),
        TrainerSettings(epochs=10, batch_size=3, grad_accum=8, learning_rate=1e-4, max_grad_norm=0.5,
                        max_audio_seconds=12.0),
        gpu=True,
    ),
}


def resolve_precision(precision: str, device: str, bf16_supported: bool) -> str:
    """The precision a run trains in: "auto" is bf16 on a GPU that supports it (as the KaniTTS pipeline trains),
    else fp32 (a CPU, or an older GPU); the others as chosen."""
    if precision != "auto":
        return precision
    return "bf16" if device != "cpu" and bf16_supported else "fp32"


def spec_from_preset(
    preset: str, *, name: str, dataset: str, base_model: str = DEFAULT_BASE_MODEL, **overrides: Any
) -> TrainSpec:
    """A spec from a preset; `overrides` may set top-level fields, `lora={...}` or `trainer={...}` updates."""
    if preset not in PRESETS:
        raise InvalidInput(f"Preset {preset!r} is unknown; choose one of {', '.join(PRESETS)}.")
    chosen = copy.deepcopy(PRESETS[preset])  # the presets' lists must not be shared with (and edited by) a spec
    try:
        lora = replace(chosen.lora, **(overrides.pop("lora", None) or {}))
        trainer = replace(chosen.trainer, **(overrides.pop("trainer", None) or {}))
    except TypeError as exc:
        raise InvalidInput(f"Unknown setting: {exc}.") from exc
    run_id = overrides.pop("run_id", None) or new_run_id(name)
    return TrainSpec(
        run_id=run_id,
        name=name,
        base_model=base_model,
        dataset=dataset,
        lora=lora,
        trainer=trainer,
        preset=preset,
        **overrides,
    )
