"""Qwen3-TTS fine-tuning: the loss (talker + 0.3 x sub-talker), validation and atomic checkpoints. The alignment of
every input and label is in align.py.

The shared loop (`studio/finetune/loop.py`) owns the run folder, metrics and resume; the backend (`backend.py`)
uses these: `apply_mode` once after loading (from `tuned.py`, the inference side), `training_module` per batch,
`evaluate` for the validation loss, `save_checkpoint` for the weights (read back by `tuned.load_checkpoint`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput
from studio.fsutil import replace_dir, write_atomic
from studio.systems.qwen3_tts.tuned import (  # noqa: F401 (the modes and readers, with the writers, for callers)
    COMPLETE_MARKER,
    LORA_PARTS,
    LORA_TARGETS,
    MODES,
    OPTIONS_FILE,
    SPEAKER_FILE,
    SUB_TALKER_WEIGHT,
    TRAINABLE_FILE,
    Qwen3Options,
    apply_mode,
    base_model,
    load_checkpoint,
    load_tuned,
    lora_target_names,
    read_checkpoint_info,
    read_speaker,
    talker_of,
)

if TYPE_CHECKING:
    from torch import Tensor, nn

log = logging.getLogger(__name__)




# ---- the model ------------------------------------------------------------------------------------------------
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

    from studio.systems.qwen3_tts.training import align

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



