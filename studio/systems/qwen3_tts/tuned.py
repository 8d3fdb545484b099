"""A Qwen3-TTS model with a run's trained weights: the training modes (LoRA, full, last layers: which weights exist
and learn), reading a checkpoint or a run's result onto a freshly loaded base model, and its speaker embedding.

The inference side of fine-tuning: the engine loads tuned voices with this; `training/` writes what it reads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput

if TYPE_CHECKING:
    from torch import Tensor

SUB_TALKER_WEIGHT = 0.3  # loss = talker CE + 0.3 x sub-talker CE (the upstream weighting)
# the projections of the talker's and the code predictor's decoder layers (attention, then the SwiGLU feed-forward)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_PARTS = ("talker", "code_predictor")
MODES = ("lora", "full", "last_layers")
OPTIONS_FILE = "qwen3_finetune.json"
TRAINABLE_FILE = "trainable.safetensors"
COMPLETE_MARKER = "COMPLETE"  # the same marker studio.finetune.runs uses for a finished checkpoint folder
RESULT_INFO = "studio_adapter.json"  # a run's result says what it is (the shared loop writes it)
MERGED_INFO = "studio_merged.json"  # the same, for its CustomVoice export (training/export.py)
AUTO_LANGUAGE = "auto"  # no language: generation writes the three "nothink" codec tags instead of think + language


@dataclass
class Qwen3Options:
    """What is trained. `lora`: adapters on the decoder projections; `full`: every talker weight; `last_layers`:
    the original layers frozen except the last `last_layers` (re-initialized when `reinit_last`), plus
    `add_layers` new layers appended (they start as identity: output projections zeroed)."""

    mode: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    lora_parts: list[str] = field(default_factory=lambda: list(LORA_PARTS))
    use_rslora: bool = False
    last_layers: int = 0
    add_layers: int = 0
    reinit_last: bool = False
    train_code_predictor: bool = True  # full / last_layers: the code predictor learns too
    sub_talker_weight: float = SUB_TALKER_WEIGHT

    def validate(self) -> Qwen3Options:
        if self.mode not in MODES:
            raise InvalidInput(f"Training mode {self.mode!r} is unknown; choose one of {', '.join(MODES)}.")
        if self.mode == "lora":
            if not 1 <= self.lora_r <= 512:
                raise InvalidInput(f"LoRA rank is {self.lora_r}; use 1 to 512 (8-64 is typical).")
            bad = [m for m in self.target_modules if m not in LORA_TARGETS]
            if not self.target_modules or bad:
                raise InvalidInput(f"LoRA targets {bad or '(none)'} are not Qwen3-TTS projections; use {LORA_TARGETS}.")
            parts = [p for p in self.lora_parts if p not in LORA_PARTS]
            if not self.lora_parts or parts:
                raise InvalidInput(f"LoRA parts {parts or '(none)'} are unknown; use {LORA_PARTS}.")
        if self.last_layers < 0 or self.add_layers < 0:
            raise InvalidInput("Layer counts cannot be negative.")
        if self.mode == "last_layers" and self.last_layers + self.add_layers == 0:
            raise InvalidInput("Mode last_layers trains nothing: set last layers (to train) or add layers above 0.")
        if self.sub_talker_weight < 0:
            raise InvalidInput(f"The sub-talker loss weight is {self.sub_talker_weight}; use 0 or more (0.3).")
        return self


# ---- the model ------------------------------------------------------------------------------------------------
def base_model(model: Any) -> Any:
    """The Qwen3TTSForConditionalGeneration (or talker) under peft's and DDP's wrappers."""
    while True:
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif type(model).__name__ == "DistributedDataParallel":
            model = model.module
        else:
            return model


def talker_of(model: Any) -> Any:
    inner = base_model(model)
    return inner.talker if hasattr(inner, "talker") else inner


# ---- training modes -------------------------------------------------------------------------------------------
def lora_target_names(model: Any, options: Qwen3Options) -> list[str]:
    """Full names of the projections LoRA wraps: only inside the decoder layers of the chosen parts."""
    inner = base_model(model)
    prefix = "talker." if hasattr(inner, "talker") else ""
    roots = {
        "talker": f"{prefix}model.layers.",
        "code_predictor": f"{prefix}code_predictor.model.layers.",
    }
    wanted = [roots[p] for p in options.lora_parts]
    names = []
    for name, _ in inner.named_modules():
        last = name.rsplit(".", 1)[-1]
        if last in options.target_modules and any(name.startswith(r) for r in wanted):
            names.append(name)
    missing = [t for t in options.target_modules if not any(n.endswith("." + t) for n in names)]
    if missing:
        raise InvalidInput(f"LoRA target module(s) {missing} do not exist in this model's {options.lora_parts}.")
    return names


def apply_mode(model: Any, options: Qwen3Options) -> Any:
    """Freeze/unfreeze or wrap `model` for training; returns the model to train (a PeftModel in LoRA mode)."""
    options.validate()
    for param in model.parameters():
        param.requires_grad_(False)
    talker = talker_of(model)
    if options.mode == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=options.lora_r,
            lora_alpha=options.lora_alpha,
            lora_dropout=options.lora_dropout,
            target_modules=lora_target_names(model, options),
            use_rslora=options.use_rslora,
            bias="none",
        )
        return get_peft_model(model, config)
    if options.mode == "full":
        for param in talker.parameters():
            param.requires_grad_(True)
        if not options.train_code_predictor:
            for param in talker.code_predictor.parameters():
                param.requires_grad_(False)
        _add_layers(talker, options.add_layers)
        return model
    layers = talker.model.layers
    if options.last_layers > len(layers):
        raise InvalidInput(f"The talker has {len(layers)} layers; cannot train the last {options.last_layers}.")
    for layer in list(layers)[len(layers) - options.last_layers :]:
        if options.reinit_last:
            layer.apply(talker._init_weights)
        for param in layer.parameters():
            param.requires_grad_(True)
    _add_layers(talker, options.add_layers)
    if options.last_layers or options.add_layers:
        for param in talker.model.norm.parameters():  # the final norm follows the (changed) last layer
            param.requires_grad_(True)
    if options.train_code_predictor:
        for param in talker.code_predictor.parameters():
            param.requires_grad_(True)
    return model


def _add_layers(talker: Any, count: int) -> None:
    """Append `count` talker layers, copies of the last one with their output projections zeroed: each starts as
    the identity (its residual branches add nothing), so training starts from the base model's behaviour."""
    import torch

    layers = talker.model.layers
    for _ in range(count):
        layer = copy.deepcopy(layers[-1])
        layer.self_attn.layer_idx = len(layers)  # its own slot in the KV cache
        with torch.no_grad():
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        for param in layer.parameters():
            param.requires_grad_(True)
        layers.append(layer)
    if count:
        talker.config.num_hidden_layers = len(layers)


# ---- reading results ------------------------------------------------------------------------------------------
def read_checkpoint_info(folder: Path) -> tuple[Qwen3Options, dict[str, Any]]:
    folder = Path(folder)
    if not (folder / COMPLETE_MARKER).is_file():
        raise InvalidInput(f"{folder} is not a complete Qwen3-TTS checkpoint.")
    info = json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8"))
    return Qwen3Options(**info["options"]), dict(info.get("state") or {})


def load_checkpoint(model: Any, folder: Path, *, prepared: bool = False) -> tuple[Any, dict[str, Any]]:
    """(trainable model, state) from `folder` onto a freshly loaded base `model`.

    With `prepared=True`, `model` already went through `apply_mode` with the same options (a resume): only the
    weights are loaded. Otherwise the mode is applied first (so added layers and adapters exist).
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    options, state = read_checkpoint_info(folder)
    if not prepared:
        model = apply_mode(model, options)
    if options.mode == "lora":
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
        wrong = list(getattr(result, "unexpected_keys", []) or [])
        wrong += [k for k in getattr(result, "missing_keys", []) or [] if "lora_" in k]
        if wrong:
            raise InvalidInput(f"The adapter in {folder} does not fit this model ({wrong[:3]} ...).")
    else:
        tensors = load_file(str(folder / TRAINABLE_FILE))
        params = dict(model.named_parameters())
        unknown = [n for n in tensors if n not in params]
        if unknown:
            raise InvalidInput(f"The checkpoint {folder} does not fit this model ({unknown[:3]} ...).")
        import torch

        with torch.no_grad():
            for name, value in tensors.items():
                params[name].copy_(value.to(params[name].dtype))
    return model, state


SPEAKER_FILE = "speaker.safetensors"  # a run's result: the mean speaker embedding of its training clips


def load_tuned(model: Any, folder: Path) -> Any:
    """A freshly loaded base model with a run's trained weights (a checkpoint or the run's adapter folder), LoRA
    merged into the weights so it generates like a plain model."""
    tuned, _ = load_checkpoint(model, folder)
    return tuned.merge_and_unload() if hasattr(tuned, "merge_and_unload") else tuned


def read_speaker(folder: Path) -> Tensor | None:
    """The speaker embedding (D,) saved with a run's result; None when it trained without recordings."""
    path = Path(folder) / SPEAKER_FILE
    if not path.is_file():
        return None
    from safetensors.torch import load_file

    return load_file(str(path))["speaker_embedding"].float().reshape(-1)


# ---- the language tags a tuned voice was trained with --------------------------------------------------------
def trained_languages(info: dict[str, Any]) -> list[str]:
    """The language tags a run's training sequences were laid out with (`languages` in its studio_adapter.json,
    carried into studio_merged.json by the export): "auto" (no language) or the model's language names. A result
    written before Studio recorded them trained on a Studio dataset, whose clips carry no language: ["auto"]."""
    found = [str(name).lower() for name in info.get("languages") or []]
    return found or [AUTO_LANGUAGE]


def read_trained_languages(folder: Path) -> list[str]:
    """`trained_languages` of a run's result folder (or a voice's copy of it)."""
    path = Path(folder) / RESULT_INFO
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return trained_languages(info)


def merged_speakers(folder: Path) -> dict[str, list[str]]:
    """{speaker: trained languages} of a CustomVoice checkpoint exported by Studio; {} for any other folder."""
    path = Path(folder) / MERGED_INFO
    if not path.is_file():
        return {}
    info = json.loads(path.read_text(encoding="utf-8"))
    return {str(info["speaker"]): trained_languages(info)} if info.get("speaker") else {}


def speaking_language(requested: str, trained: Sequence[str]) -> str:
    """The language a tuned voice is spoken in, so generation writes the codec tags its training sequences had: the
    requested one when the run trained with it, else "auto" when it trained without a language (every Studio
    dataset), else the language it trained with (the first, when several)."""
    wanted = (requested or AUTO_LANGUAGE).lower()
    known = [name.lower() for name in trained] or [AUTO_LANGUAGE]
    if wanted in known:
        return wanted
    return AUTO_LANGUAGE if AUTO_LANGUAGE in known else known[0]
