"""Qwen3-TTS fine-tuning alignment: where every input, label and hidden state sits in a training sequence.

Pure, small torch functions, so each alignment rule can be checked by hand on tiny tensors. The sequence is the one
`Qwen3TTSForConditionalGeneration.generate` builds in non-streaming mode (qwen-tts 0.1.1), with the audio appended:

```
pos    0..2  tags (3, or 4 with a language)  [speaker]  bos_text   text       tts_eos    codec_bos  frames   codec_eos
text   role  tts_pad                         tts_pad    tts_bos    t_1..t_n   tts_eos    tts_pad    tts_pad  tts_pad
codec  -     nothink, think_bos, think_eos   spk emb    codec_pad  codec_pad  codec_pad  codec_bos  c0..c15  codec_eos
```

A position's input embedding is `text_projection(text_embedding(text)) + codec_embedding(codec)`; at a frame position
the other 15 codebooks' embeddings (the code predictor's embedding tables) are added too, as in generation.

The rule everything here follows: the talker's output at position t (`h_t`) predicts codebook 0 of the frame at
t + 1 (`codec_head(h_t)`), and the code predictor ("sub-talker") predicts codebooks 1..15 of that same frame from
`[h_t, c0, c1, ..., c14]`. Every label in this module is already aligned with the logits it is compared with, so the
loss is a plain cross-entropy with no further shift anywhere (transformers' `ForCausalLMLoss`, which the model's
`loss_function` uses for both heads, shifts once more; that is where two of the upstream defects come from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported inside the functions: only the training process loads it
    from torch import Tensor, nn

IGNORE = -100  # cross-entropy's ignore_index
ROLE_TOKENS = 3  # "<|im_start|>assistant\n" opens the prompt
TRAILER_TOKENS = 5  # "<|im_end|>\n<|im_start|>assistant\n" closes it; generation drops it (input_id[:, 3:-5])
from studio.systems.qwen3_tts.tuned import SUB_TALKER_WEIGHT  # noqa: E402,F401


@dataclass(frozen=True)
class SpecialIds:
    """The special token ids of the text channel and of the codec channel (codebook 0's vocabulary)."""

    tts_pad: int
    tts_bos: int
    tts_eos: int
    codec_pad: int
    codec_bos: int
    codec_eos: int
    codec_nothink: int
    codec_think: int
    codec_think_bos: int
    codec_think_eos: int
    num_code_groups: int = 16

    @classmethod
    def from_config(cls, config: Any) -> SpecialIds:
        """From a `Qwen3TTSConfig` (or anything with the same attributes and a `talker_config`)."""
        talker = config.talker_config
        return cls(
            tts_pad=int(config.tts_pad_token_id),
            tts_bos=int(config.tts_bos_token_id),
            tts_eos=int(config.tts_eos_token_id),
            codec_pad=int(talker.codec_pad_id),
            codec_bos=int(talker.codec_bos_id),
            codec_eos=int(talker.codec_eos_token_id),
            codec_nothink=int(talker.codec_nothink_id),
            codec_think=int(talker.codec_think_id),
            codec_think_bos=int(talker.codec_think_bos_id),
            codec_think_eos=int(talker.codec_think_eos_id),
            num_code_groups=int(talker.num_code_groups),
        )


@dataclass
class SequenceLayout:
    """One training example laid out position by position (all tensors of length T, `codes` of shape (T, G))."""

    text_ids: Tensor  # text channel token (0 where `text_mask` is False)
    text_mask: Tensor  # bool: the text channel contributes at this position
    codec_ids: Tensor  # codec channel token: tags, pad, bos, codebook 0 of a frame, eos (0 where masked)
    codec_mask: Tensor  # bool: the codec channel contributes (False on the role and on the speaker slot)
    codes: Tensor  # (T, G): all codebooks of the frame at this position (0 elsewhere)
    frame_mask: Tensor  # bool: a frame of the recording sits at this position
    talker_labels: Tensor  # codebook 0 that the output at this position must predict (IGNORE elsewhere)
    speaker_pos: int  # the speaker embedding's position, -1 without one
    bos_pos: int  # codec_bos; the first frame follows it
    eos_pos: int  # codec_eos, after the last frame

    @property
    def length(self) -> int:
        return int(self.text_ids.shape[0])


def codec_tags(ids: SpecialIds, language_id: int | None = None) -> list[int]:
    """The codec channel's opening tags, as generation writes them: no language = "nothink", else think + language."""
    if language_id is None:
        return [ids.codec_nothink, ids.codec_think_bos, ids.codec_think_eos]
    return [ids.codec_think, ids.codec_think_bos, int(language_id), ids.codec_think_eos]


def build_sequence(
    role_ids: Sequence[int],
    text_ids: Sequence[int],
    codes: Tensor,
    ids: SpecialIds,
    *,
    speaker: bool = True,
    language_id: int | None = None,
) -> SequenceLayout:
    """Lay out one example: `role_ids` (the 3 role tokens), `text_ids` (the text's tokens), `codes` (frames, G)."""
    import torch

    if len(role_ids) != ROLE_TOKENS:
        raise ValueError(f"Expected {ROLE_TOKENS} role tokens (<|im_start|>assistant\\n), got {len(role_ids)}.")
    if codes.dim() != 2 or codes.shape[1] != ids.num_code_groups or codes.shape[0] < 1:
        raise ValueError(f"Codes must have shape (frames >= 1, {ids.num_code_groups}); got {tuple(codes.shape)}.")
    tags = codec_tags(ids, language_id)
    # (text channel, codec channel) per position; None = that channel is absent there
    rows: list[tuple[int | None, int | None]] = [(int(t), None) for t in role_ids]
    rows += [(ids.tts_pad, tag) for tag in tags]
    speaker_pos = -1
    if speaker:
        speaker_pos = len(rows)
        rows.append((ids.tts_pad, None))  # the codec channel here is the speaker embedding itself
    rows.append((ids.tts_bos, ids.codec_pad))
    rows += [(int(t), ids.codec_pad) for t in text_ids]
    rows.append((ids.tts_eos, ids.codec_pad))
    bos_pos = len(rows)
    rows.append((ids.tts_pad, ids.codec_bos))
    n_frames = int(codes.shape[0])
    rows += [(ids.tts_pad, int(c)) for c in codes[:, 0].tolist()]
    eos_pos = len(rows)
    rows.append((ids.tts_pad, ids.codec_eos))

    length = len(rows)
    text = torch.tensor([0 if t is None else t for t, _ in rows], dtype=torch.long)
    text_mask = torch.tensor([t is not None for t, _ in rows], dtype=torch.bool)
    codec = torch.tensor([0 if c is None else c for _, c in rows], dtype=torch.long)
    codec_mask = torch.tensor([c is not None for _, c in rows], dtype=torch.bool)
    full_codes = torch.zeros((length, ids.num_code_groups), dtype=torch.long)
    full_codes[bos_pos + 1 : eos_pos] = codes.to(torch.long)
    frame_mask = torch.zeros(length, dtype=torch.bool)
    frame_mask[bos_pos + 1 : bos_pos + 1 + n_frames] = True
    eos_mask = torch.zeros(length, dtype=torch.bool)
    eos_mask[eos_pos] = True
    labels = talker_labels(codec, frame_mask | eos_mask)
    return SequenceLayout(
        text, text_mask, codec, codec_mask, full_codes, frame_mask, labels, speaker_pos, bos_pos, eos_pos
    )


def collate(layouts: Sequence[SequenceLayout]) -> dict[str, Tensor]:
    """Right-pad a batch of layouts; padding is masked everywhere (attention, channels, labels)."""
    import torch

    if not layouts:
        raise ValueError("An empty batch cannot be collated.")
    width = max(lay.length for lay in layouts)
    groups = int(layouts[0].codes.shape[1])
    b = len(layouts)
    out = {
        "text_ids": torch.zeros((b, width), dtype=torch.long),
        "text_mask": torch.zeros((b, width), dtype=torch.bool),
        "codec_ids": torch.zeros((b, width), dtype=torch.long),
        "codec_mask": torch.zeros((b, width), dtype=torch.bool),
        "codes": torch.zeros((b, width, groups), dtype=torch.long),
        "frame_mask": torch.zeros((b, width), dtype=torch.bool),
        "talker_labels": torch.full((b, width), IGNORE, dtype=torch.long),
        "attention_mask": torch.zeros((b, width), dtype=torch.long),
        "speaker_pos": torch.tensor([lay.speaker_pos for lay in layouts], dtype=torch.long),
    }
    for i, lay in enumerate(layouts):
        n = lay.length
        out["text_ids"][i, :n] = lay.text_ids
        out["text_mask"][i, :n] = lay.text_mask
        out["codec_ids"][i, :n] = lay.codec_ids
        out["codec_mask"][i, :n] = lay.codec_mask
        out["codes"][i, :n] = lay.codes
        out["frame_mask"][i, :n] = lay.frame_mask
        out["talker_labels"][i, :n] = lay.talker_labels
        out["attention_mask"][i, :n] = 1
    return out


# ---- defect 1: text_projection ----------------------------------------------------------------------------------
def project_text_embeddings(
    text_embedding: nn.Module, text_projection: nn.Module, text_ids: Tensor, text_mask: Tensor
) -> Tensor:
    """Text channel input: `text_projection(text_embedding(ids))`, then masked. (B, T) -> (B, T, talker hidden).

    Upstream (QwenLM/Qwen3-TTS `finetuning/sft_12hz.py`, HEAD 022e286) computes
    `model.talker.model.text_embedding(input_text_ids) * text_embedding_mask` and adds it to the codec embedding,
    skipping `talker.text_projection` (a `Qwen3TTSTalkerResizeMLP`: Linear(text_hidden, text_hidden) -> act ->
    Linear(text_hidden, talker hidden), with biases) that every text embedding goes through in `generate()`.
    With the 0.6B model (text_hidden_size 2048, talker hidden_size 1024) the sum fails on the shape; with the 1.7B
    (both 2048) it runs but trains the talker on text vectors it never sees at inference.
    The mask is applied after the projection: the projection has biases, so a masked (zero) embedding projected
    would not be zero.
    """
    projected = text_projection(text_embedding(text_ids))
    return projected * text_mask.unsqueeze(-1).to(projected.dtype)


def talker_input_embeddings(
    text_embedding: nn.Module,
    text_projection: nn.Module,
    codec_embedding: nn.Module,
    higher_codebook_embeddings: Sequence[nn.Module],
    batch: dict[str, Tensor],
    speaker_embedding: Tensor | None = None,
) -> Tensor:
    """The talker's input (B, T, D): projected text + codec channel + codebooks 1..G-1 at frames + the speaker slot.

    `higher_codebook_embeddings[i - 1]` embeds codebook i (the code predictor's tables), as generation sums them.
    """
    import torch

    embeds = project_text_embeddings(text_embedding, text_projection, batch["text_ids"], batch["text_mask"])
    codec = codec_embedding(batch["codec_ids"]) * batch["codec_mask"].unsqueeze(-1).to(embeds.dtype)
    embeds = embeds + codec
    frames = batch["frame_mask"].unsqueeze(-1).to(embeds.dtype)
    codes = batch["codes"]
    for i, table in enumerate(higher_codebook_embeddings, start=1):
        embeds = embeds + table(codes[..., i]) * frames
    positions = batch.get("speaker_pos")
    if speaker_embedding is not None and positions is not None:
        rows = torch.nonzero(positions >= 0).flatten()
        if len(rows):
            slot = torch.zeros_like(embeds)
            slot[rows, positions[rows]] = speaker_embedding[rows].to(embeds.dtype)
            embeds = embeds + slot  # added, not assigned in place: keeps autograd simple
    return embeds


def talker_position_ids(attention_mask: Tensor) -> Tensor:
    """(3, B, T) rotary positions as the talker's own `get_rope_index` makes them (counting real tokens only)."""
    positions = attention_mask.long().cumsum(-1) - 1
    positions = positions.masked_fill(attention_mask == 0, 1)
    return positions.unsqueeze(0).expand(3, -1, -1)


# ---- defect 2: talker labels shifted once --------------------------------------------------------------------------
def talker_labels(codec_ids: Tensor, target_mask: Tensor) -> Tensor:
    """Codebook-0 labels shifted exactly once: `labels[t] = codec_ids[t + 1]` where position t + 1 is a target.

    The targets are the frames and the closing codec_eos; the output at codec_bos predicts the first frame, the
    output at the last frame predicts codec_eos. Compare `logits[:, t]` with `labels[:, t]` directly.

    Upstream: `finetuning/dataset.py` puts `codec_0_labels` at the frames' own positions (already the "input ids as
    labels" convention, where the loss must do the shift), then `sft_12hz.py` shifts by hand
    (`inputs_embeds=input_embeddings[:, :-1]`, `labels=codec_0_labels[:, 1:]`) and passes them to
    `model.talker(..., labels=...)`, whose `loss_function` is transformers' `ForCausalLMLoss`, which shifts again
    (`labels = pad(labels, (0, 1))[..., 1:]`). The output at position t is then trained on the frame at t + 2: the
    talker learns to skip a frame, so the generated speech gets faster every epoch.
    """
    import torch

    shifted = torch.full_like(codec_ids, IGNORE)
    nxt = codec_ids[..., 1:]
    shifted[..., :-1] = torch.where(target_mask[..., 1:], nxt, torch.full_like(nxt, IGNORE))
    return shifted


def talker_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of already aligned labels (no shift here: see `talker_labels`)."""
    import torch

    flat = logits.float().reshape(-1, logits.shape[-1])
    return torch.nn.functional.cross_entropy(flat, labels.reshape(-1), ignore_index=IGNORE)


# ---- defect 3: which talker hidden state the sub-talker reads -------------------------------------------------------
def sub_talker_hidden_mask(frame_mask: Tensor) -> Tensor:
    """Selects, for every frame at position q, the talker hidden state `h[q - 1]` (the one that produced its c0).

    `hidden[sub_talker_hidden_mask(frame_mask)]` lines up row by row with `codes[frame_mask]` (both row-major, one
    row per frame). In `generate()` codebook 0 of a frame is sampled from `codec_head(h[q - 1])` and the code
    predictor is then run on `[past_hidden = h[q - 1], embed(c0)]`: training must use the same hidden state.

    Upstream (`sft_12hz.py` HEAD 022e286, "fix finetuning bug") runs the talker on `input_embeddings[:, :-1]` and takes
    `hidden_states[codec_mask[:, :-1]]`, which is `h[q]`: the output at the frame's own position, whose input already
    holds the sum of all 16 codebooks of that frame (the answer), and which at inference is only available after the
    frame has been generated. (The initial commit d8146d5 had `codec_mask[:, 1:]`, i.e. `h[q - 1]`, right.)
    """
    import torch

    mask = torch.zeros_like(frame_mask)
    mask[..., :-1] = frame_mask[..., 1:]
    return mask


def select_sub_talker_inputs(hidden: Tensor, codes: Tensor, frame_mask: Tensor) -> tuple[Tensor, Tensor]:
    """(N, D) talker hidden states and their (N, G) frames (N = frames in the batch), paired row by row."""
    return hidden[sub_talker_hidden_mask(frame_mask)], codes[frame_mask]


# ---- defect 4: sub-talker labels shifted once -----------------------------------------------------------------------
def sub_talker_input_embeddings(
    talker_hidden: Tensor,
    frame_codes: Tensor,
    codec_embedding: nn.Module,
    higher_codebook_embeddings: Sequence[nn.Module],
) -> Tensor:
    """The code predictor's input (N, G, D): `[h, emb0(c0), emb1(c1), ..., emb_{G-2}(c_{G-2})]`.

    Position 0 is the talker hidden state, position i >= 1 holds codebook i - 1; the last codebook is only a target.
    """
    import torch

    groups = frame_codes.shape[1]
    parts = [talker_hidden.unsqueeze(1), codec_embedding(frame_codes[:, :1])]
    parts += [higher_codebook_embeddings[i - 1](frame_codes[:, i : i + 1]) for i in range(1, groups - 1)]
    return torch.cat(parts, dim=1)


def sub_talker_logit_positions(num_code_groups: int) -> list[int]:
    """Positions of the code predictor's output read by its heads: head j (predicting codebook j + 1) reads j + 1."""
    return list(range(1, num_code_groups))


def sub_talker_labels(frame_codes: Tensor) -> Tensor:
    """(N, G - 1) targets for the (N, G - 1) logits of heads 0..G-2: head j's target is codebook j + 1. No shift.

    Head j reads position j + 1, which has seen `[h, c0..c_j]`, so its target is `c_{j+1}` = `frame_codes[:, j + 1]`:
    logits and labels are aligned as produced. Upstream: `Qwen3TTSTalkerForConditionalGeneration.
    forward_sub_talker_finetune` (qwen_tts `modeling_qwen3_tts.py`) passes `labels=codec_ids[:, 1:]` to
    `code_predictor.forward_finetune`, which builds exactly these aligned logits (`lm_head[i-1](hidden[:, i])`) and
    then calls `self.loss_function` = `ForCausalLMLoss`, shifting once more: head j is trained on `c_{j+2}`, the last
    head on nothing (padding), and codebook 1 is never a target.
    """
    return frame_codes[:, 1:]


def sub_talker_cross_entropy(logits: Tensor, frame_codes: Tensor) -> Tensor:
    """Mean cross-entropy of the code predictor's (N, G - 1, V) logits against `sub_talker_labels` (no shift)."""
    import torch

    labels = sub_talker_labels(frame_codes)
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
