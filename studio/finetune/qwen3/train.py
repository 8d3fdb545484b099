"""Qwen3-TTS fine-tuning: the loss (talker + 0.3 x sub-talker), training modes (LoRA, full, last layers), validation
and atomic best/last checkpoints. The alignment of every input and label is in align.py.

The Studio trainer (`studio/finetune/train.py`) owns the run folder, metrics and resume; these are the pieces a
`backend: "qwen3_tts"` needs: `apply_mode` once after loading, `qwen3_loss` (or `training_module`) per batch,
`evaluate` for the validation loss, `save_checkpoint`/`load_checkpoint` for the weights. `fit` is a small
self-contained loop over the same pieces (tests, scripts).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput
from studio.finetune.qwen3.align import SUB_TALKER_WEIGHT
from studio.fsutil import replace_dir, write_atomic

if TYPE_CHECKING:
    from torch import Tensor, nn

log = logging.getLogger(__name__)

# the projections of the talker's and the code predictor's decoder layers (attention, then the SwiGLU feed-forward)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_PARTS = ("talker", "code_predictor")
MODES = ("lora", "full", "last_layers")
OPTIONS_FILE = "qwen3_finetune.json"
TRAINABLE_FILE = "trainable.safetensors"
COMPLETE_MARKER = "COMPLETE"  # the same marker studio.finetune.runs uses for a finished checkpoint folder


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


def qwen3_loss(
    model: Any, batch: dict[str, Tensor], sub_talker_weight: float = SUB_TALKER_WEIGHT
) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, talker loss, sub-talker loss) of a collated batch (align.collate) on a Qwen3-TTS model.

    loss = talker CE (codebook 0, labels shifted once) + `sub_talker_weight` x code-predictor CE (codebooks 1..15,
    read from the talker hidden state that produced the frame's codebook 0). An optional `speaker_embedding` (B, D)
    in the batch fills each sequence's speaker slot. No model `labels=` argument is used anywhere: the model's
    `loss_function` would shift the labels a second time (see align.talker_labels / align.sub_talker_labels).
    """
    import torch

    from studio.finetune.qwen3 import align

    talker = talker_of(model)
    device = talker.codec_head.weight.device
    batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    inner, predictor = talker.model, talker.code_predictor
    higher = list(predictor.get_input_embeddings())  # codebooks 1..G-1
    embeds = align.talker_input_embeddings(
        inner.text_embedding,
        talker.text_projection,
        inner.codec_embedding,
        higher,
        batch,
        batch.get("speaker_embedding"),
    )
    mask = batch["attention_mask"]
    out = inner(
        inputs_embeds=embeds, attention_mask=mask, position_ids=align.talker_position_ids(mask), use_cache=False
    )
    hidden = out.last_hidden_state
    talker_loss = align.talker_cross_entropy(talker.codec_head(hidden), batch["talker_labels"])

    talker_hidden, frame_codes = align.select_sub_talker_inputs(hidden, batch["codes"], batch["frame_mask"])
    sub_inputs = align.sub_talker_input_embeddings(talker_hidden, frame_codes, inner.codec_embedding, higher)
    sub_hidden = predictor.model(
        inputs_embeds=predictor.small_to_mtp_projection(sub_inputs), use_cache=False
    ).last_hidden_state
    positions = align.sub_talker_logit_positions(frame_codes.shape[1])
    sub_logits = torch.stack([predictor.lm_head[j](sub_hidden[:, p]) for j, p in enumerate(positions)], dim=1)
    sub_loss = align.sub_talker_cross_entropy(sub_logits, frame_codes)
    return talker_loss + sub_talker_weight * sub_loss, talker_loss, sub_loss


def speaker_embedding(model: Any, wave: Any, sample_rate: int) -> Tensor:
    """The Base model's speaker embedding (D,) of a mono float32 recording, for the batch's `speaker_embedding`.

    The model's own `extract_speaker_embedding` (128-bin mel at 24 kHz, ECAPA-TDNN encoder); other rates are
    resampled first. Upstream conditions every example on one speaker embedding; a per-clip one (or the mean of a
    speaker's clips, as the exported custom voice stores) comes from here.
    """
    import numpy as np

    inner = base_model(model)
    if getattr(inner, "speaker_encoder", None) is None:
        raise InvalidInput("This Qwen3-TTS model has no speaker encoder (only the Base models have one).")
    samples = np.asarray(wave, dtype=np.float32)
    if sample_rate != 24_000:
        from studio.audio.dsp import resample

        samples = resample(samples, sample_rate, 24_000)
    return inner.extract_speaker_embedding(samples, 24_000).detach().clone()  # clone: out of inference mode


def training_module(model: Any, sub_talker_weight: float = SUB_TALKER_WEIGHT) -> nn.Module:
    """`model` inside a module whose forward(batch) is `qwen3_loss`: what to hand to `accelerator.prepare`, so that
    under several processes DDP sees (and synchronizes) the call that computes the loss."""
    import torch

    class Qwen3LossModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
            return qwen3_loss(self.model, batch, sub_talker_weight)

    return Qwen3LossModule()


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


def trainable_parameters(model: Any) -> list[Any]:
    return [p for p in model.parameters() if p.requires_grad]


# ---- evaluation ------------------------------------------------------------------------------------------------
def evaluate(model: Any, batches: Sequence[dict[str, Tensor]], sub_talker_weight: float = SUB_TALKER_WEIGHT) -> dict:
    """Validation losses over `batches`: talker CE per label, sub-talker CE per frame, and their weighted sum."""
    import torch

    if not batches:
        return {}
    was_training = model.training
    model.eval()
    talker_sum = sub_sum = 0.0
    labels = frames = 0
    with torch.no_grad():
        for batch in batches:
            _, talker_loss, sub_loss = qwen3_loss(model, batch, sub_talker_weight)
            n_labels = int((batch["talker_labels"] != -100).sum())
            n_frames = int(batch["frame_mask"].sum())
            talker_sum += float(talker_loss) * n_labels
            sub_sum += float(sub_loss) * n_frames
            labels += n_labels
            frames += n_frames
    model.train(was_training)
    talker_mean, sub_mean = talker_sum / max(labels, 1), sub_sum / max(frames, 1)
    return {"loss": talker_mean + sub_talker_weight * sub_mean, "talker_loss": talker_mean, "sub_loss": sub_mean}


# ---- checkpoints -----------------------------------------------------------------------------------------------
def save_checkpoint(model: Any, folder: Path, options: Qwen3Options, state: dict[str, Any] | None = None) -> Path:
    """Write the trained weights to `folder` atomically (temp folder, COMPLETE marker, rename).

    LoRA: peft's `adapter_model.safetensors` + `adapter_config.json`; other modes: the trainable tensors only.
    `qwen3_finetune.json` holds the options (to rebuild added layers) and `state` (step, losses...).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if options.mode == "lora":
        model.save_pretrained(str(tmp))
    else:
        tensors = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(tensors, str(tmp / TRAINABLE_FILE))
    info = {"options": asdict(options), "state": state or {}}
    write_atomic(tmp / OPTIONS_FILE, json.dumps(info, indent=1))
    with open(tmp / COMPLETE_MARKER, "w") as fh:
        fh.write("1")
        fh.flush()
        os.fsync(fh.fileno())
    return replace_dir(tmp, folder)


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


# ---- a small loop ----------------------------------------------------------------------------------------------
@dataclass
class FitSettings:
    epochs: int = 1
    max_steps: int = 0  # 0 = as many as `epochs` make
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    grad_accum: int = 1
    eval_every: int = 0  # optimizer steps; 0 = once per epoch
    seed: int = 0


@dataclass
class FitResult:
    steps: int
    history: list[dict[str, float]]  # one row per step (train losses) or evaluation (eval losses)
    best_step: int | None
    best_eval: float | None
    best: Path | None  # checkpoint folder with the lowest validation loss
    last: Path


def fit(
    model: Any,
    train_batches: Sequence[dict[str, Tensor]],
    val_batches: Sequence[dict[str, Tensor]],
    out: Path,
    options: Qwen3Options,
    settings: FitSettings | None = None,
    on_row: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train a model that went through `apply_mode`: AdamW, gradient clipping, evaluation, `best/` and `last/`."""
    import torch

    settings = settings or FitSettings()
    if not train_batches:
        raise InvalidInput("No training batches: the dataset is empty after the validation split.")
    params = trainable_parameters(model)
    if not params:
        raise InvalidInput("Nothing to train: every weight is frozen.")
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(train_batches) / settings.grad_accum)
    total = settings.max_steps or settings.epochs * steps_per_epoch
    eval_every = settings.eval_every or steps_per_epoch
    history: list[dict[str, float]] = []
    best_step: int | None = None
    best_eval: float | None = None
    out = Path(out)

    def record(row: dict[str, float]) -> None:
        history.append(row)
        if on_row is not None:
            on_row(row)

    base = evaluate(model, val_batches, options.sub_talker_weight)
    if base:
        record({"step": 0, **{f"eval/{k}": v for k, v in base.items()}})
    model.train()
    step, epoch = 0, 0
    while step < total:
        order = list(range(len(train_batches)))
        random.Random(settings.seed * 1000 + epoch).shuffle(order)  # the order depends only on (seed, epoch)
        for start in range(0, len(order), settings.grad_accum):
            if step >= total:
                break
            group = [train_batches[i] for i in order[start : start + settings.grad_accum]]
            sums = [0.0, 0.0, 0.0]
            for batch in group:
                loss, talker_loss, sub_loss = qwen3_loss(model, batch, options.sub_talker_weight)
                (loss / len(group)).backward()
                for i, value in enumerate((loss, talker_loss, sub_loss)):
                    sums[i] += float(value.detach()) / len(group)
            if not math.isfinite(sums[0]):
                raise InvalidInput(f"The loss diverged ({sums[0]}) at step {step + 1}: lower the learning rate.")
            if settings.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            record({"step": step, "train/loss": sums[0], "train/talker_loss": sums[1], "train/sub_loss": sums[2]})
            if val_batches and (step % eval_every == 0 or step == total):
                scores = evaluate(model, val_batches, options.sub_talker_weight)
                record({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
                if best_eval is None or scores["loss"] < best_eval:
                    best_eval, best_step = scores["loss"], step
                    save_checkpoint(model, out / "best", options, {"step": step, **scores})
        epoch += 1
    last = save_checkpoint(model, out / "last", options, {"step": step, "epoch": epoch})
    return FitResult(step, history, best_step, best_eval, out / "best" if best_step is not None else None, last)
