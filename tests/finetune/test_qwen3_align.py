"""Qwen3-TTS fine-tuning alignment: one test per upstream defect, on hand-made tensors with hand-computed indices.

Each defect also has a test that re-implements the upstream behaviour (QwenLM/Qwen3-TTS `finetuning/`, HEAD 022e286,
and qwen-tts 0.1.1's `forward_sub_talker_finetune`) and shows it differs, using transformers' own `ForCausalLMLoss`
where the second shift comes from.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import Tensor, nn  # noqa: E402
from transformers.loss.loss_utils import ForCausalLMLoss  # noqa: E402

from studio.systems.qwen3_tts.training import align  # noqa: E402

IDS = align.SpecialIds(
    tts_pad=90,
    tts_bos=91,
    tts_eos=92,
    codec_pad=50,
    codec_bos=51,
    codec_eos=52,
    codec_nothink=55,
    codec_think=54,
    codec_think_bos=56,
    codec_think_eos=57,
    num_code_groups=4,
)
ROLE = [1, 2, 3]
TEXT = [10, 11]
CODES = torch.tensor([[20, 30, 40, 45], [21, 31, 41, 46], [22, 32, 42, 47]])  # 3 frames x 4 codebooks
X = align.IGNORE

# The example laid out by hand (see align.py's table): role 0-2, tags 3-5, speaker 6, tts_bos 7, text 8-9,
# tts_eos 10, codec_bos 11, frames 12-14, codec_eos 15.
HAND_TEXT = [1, 2, 3, 90, 90, 90, 90, 91, 10, 11, 92, 90, 90, 90, 90, 90]
HAND_CODEC = [0, 0, 0, 55, 56, 57, 0, 50, 50, 50, 50, 51, 20, 21, 22, 52]
HAND_CODEC_MASK = [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
FRAMES = [12, 13, 14]
# the output at t predicts codebook 0 at t + 1: bos -> frame 0, frame 0 -> frame 1, ..., last frame -> eos
HAND_LABELS = [X] * 11 + [20, 21, 22, 52] + [X]


def example() -> align.SequenceLayout:
    return align.build_sequence(ROLE, TEXT, CODES, IDS, speaker=True)


def test_layout_by_hand() -> None:
    lay = example()
    assert lay.text_ids.tolist() == HAND_TEXT
    assert lay.codec_ids.tolist() == HAND_CODEC
    assert lay.codec_mask.int().tolist() == HAND_CODEC_MASK
    assert lay.text_mask.all()
    assert torch.nonzero(lay.frame_mask).flatten().tolist() == FRAMES
    assert (lay.speaker_pos, lay.bos_pos, lay.eos_pos) == (6, 11, 15)
    assert lay.codes[FRAMES].tolist() == CODES.tolist()
    # upstream dataset.py's own index formulas (L = text_ids_len after dropping the 5 closing tokens = 3 + 2):
    # codec_bos at 8+L-2, frames from 8+L-1, codec_eos at 8+L-1+N, speaker slot 6: the layout itself agrees
    length, n = len(ROLE) + len(TEXT), CODES.shape[0]
    assert (lay.bos_pos, FRAMES[0], lay.eos_pos) == (8 + length - 2, 8 + length - 1, 8 + length - 1 + n)


def test_layout_with_a_language_tag_shifts_everything_by_one() -> None:
    lay = align.build_sequence(ROLE, TEXT, CODES, IDS, speaker=True, language_id=77)
    assert lay.codec_ids[3:7].tolist() == [54, 56, 77, 57]  # think, think_bos, language, think_eos (as generate)
    assert (lay.speaker_pos, lay.bos_pos) == (7, 12)
    no_speaker = align.build_sequence(ROLE, TEXT, CODES, IDS, speaker=False)
    assert no_speaker.speaker_pos == -1 and no_speaker.bos_pos == 10


# ---- defect 1: text_projection ------------------------------------------------------------------------------------
class ResizeMLP(nn.Module):
    """Same shape as qwen-tts' Qwen3TTSTalkerResizeMLP: Linear(in, in) -> SiLU -> Linear(in, out), with biases."""

    def __init__(self, size_in: int, size_out: int) -> None:
        super().__init__()
        self.linear_fc1 = nn.Linear(size_in, size_in)
        self.linear_fc2 = nn.Linear(size_in, size_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_fc2(nn.functional.silu(self.linear_fc1(x)))


def upstream_text_embeddings(text_embedding: nn.Module, ids: Tensor, mask: Tensor) -> Tensor:
    """sft_12hz.py: `model.talker.model.text_embedding(input_text_ids) * text_embedding_mask` (no projection)."""
    return text_embedding(ids) * mask.unsqueeze(-1)


def test_defect1_text_projection_maps_text_hidden_to_talker_hidden() -> None:
    torch.manual_seed(0)
    text_embedding = nn.Embedding(100, 6)  # text hidden 6 (0.6B: 2048)
    projection = ResizeMLP(6, 4)  # -> talker hidden 4 (0.6B: 1024)
    codec_embedding = nn.Embedding(60, 4)
    batch = align.collate([example()])
    batch["text_mask"][0, 5] = False  # one masked position, to check the mask comes after the projection
    ours = align.project_text_embeddings(text_embedding, projection, batch["text_ids"], batch["text_mask"])
    assert ours.shape == (1, 16, 4)
    expected = projection(text_embedding(batch["text_ids"]))
    assert torch.allclose(ours[0, :5], expected[0, :5]) and torch.allclose(ours[0, 6:], expected[0, 6:])
    assert torch.count_nonzero(ours[0, 5]) == 0
    # masking before the projection would leave the biases there: not a zero contribution
    assert torch.count_nonzero(projection(text_embedding(batch["text_ids"]) * 0)[0, 5]) > 0
    # ours adds to the codec channel; upstream's 6-wide text vectors cannot
    assert (ours + codec_embedding(batch["codec_ids"])).shape == (1, 16, 4)
    upstream = upstream_text_embeddings(text_embedding, batch["text_ids"], batch["text_mask"])
    with pytest.raises(RuntimeError, match="size of tensor"):
        _ = upstream + codec_embedding(batch["codec_ids"])


def test_defect1_same_sizes_run_upstream_but_differ_from_generation() -> None:
    """1.7B-like (text hidden == talker hidden): upstream runs, yet gives vectors generate() never produces."""
    torch.manual_seed(0)
    text_embedding, projection = nn.Embedding(100, 4), ResizeMLP(4, 4)
    batch = align.collate([example()])
    ours = align.project_text_embeddings(text_embedding, projection, batch["text_ids"], batch["text_mask"])
    generation = projection(text_embedding(batch["text_ids"]))  # generate(): text_projection(get_text_embeddings())
    upstream = upstream_text_embeddings(text_embedding, batch["text_ids"], batch["text_mask"])
    assert torch.allclose(ours, generation)
    assert not torch.allclose(upstream, generation)


def test_talker_input_sums_all_codebooks_at_frames_and_fills_the_speaker_slot() -> None:
    """Value-coded 1-wide embeddings: codebook k's table maps code c to 1000 * k + c; text adds 0."""

    def coded(offset: int, size: int = 100) -> nn.Embedding:
        table = nn.Embedding(size, 1)
        table.weight.data = (torch.arange(size, dtype=torch.float32) + offset).unsqueeze(1)
        return table

    zero_text, identity = nn.Embedding(100, 1), nn.Identity()
    zero_text.weight.data.zero_()
    higher = [coded(1000 * k) for k in range(1, 4)]
    batch = align.collate([example()])
    embeds = align.talker_input_embeddings(
        zero_text, identity, coded(0), higher, batch, speaker_embedding=torch.tensor([[7.5]])
    )[0, :, 0]
    # frame 0 (position 12): c0 + (1000 + c1) + (2000 + c2) + (3000 + c3)
    assert embeds[12].item() == 20 + 1030 + 2040 + 3045
    assert embeds[11].item() == 51  # codec_bos alone
    assert embeds[6].item() == 7.5  # the speaker slot holds the speaker embedding only
    assert embeds[0].item() == 0  # the role has no codec channel


# ---- defect 2: talker labels --------------------------------------------------------------------------------------
def upstream_codec_0_labels(lay: align.SequenceLayout) -> Tensor:
    """dataset.py's `codec_0_labels`: codebook 0 at the frames' own positions and codec_eos at its own."""
    labels = torch.full_like(lay.codec_ids, X)
    labels[lay.frame_mask] = lay.codec_ids[lay.frame_mask]
    labels[lay.eos_pos] = lay.codec_ids[lay.eos_pos]
    return labels


def upstream_effective_talker_targets(codec_0_labels: Tensor) -> Tensor:
    """What the output at position t is trained on upstream: sft_12hz.py feeds `inputs[:, :-1]` with
    `labels=codec_0_labels[:, 1:]`, then the talker's ForCausalLMLoss pads and shifts once more."""
    hand_shifted = codec_0_labels[..., 1:]
    return nn.functional.pad(hand_shifted, (0, 1), value=X)[..., 1:]  # ForCausalLMLoss' own shift


def test_defect2_talker_labels_are_shifted_once() -> None:
    lay = example()
    assert lay.talker_labels.tolist() == HAND_LABELS
    # the output at codec_bos (11) predicts frame 0; the output at the last frame (14) predicts codec_eos
    assert lay.talker_labels[lay.bos_pos].item() == CODES[0, 0].item()
    assert lay.talker_labels[FRAMES[-1]].item() == IDS.codec_eos


def test_defect2_upstream_trains_two_frames_ahead() -> None:
    lay = example()
    upstream = upstream_effective_talker_targets(upstream_codec_0_labels(lay))
    # by hand: output t is trained on codec_0_labels[t + 2]: bos (11) -> frame 1 (21), frame 0 (12) -> frame 2 (22)
    assert upstream.tolist() == [X] * 10 + [20, 21, 22, 52] + [X]
    assert upstream[lay.bos_pos].item() == CODES[1, 0].item()
    assert upstream.tolist() != lay.talker_labels[:-1].tolist()


def test_defect2_perfect_predictor_is_penalized_by_the_upstream_loss() -> None:
    """Logits that predict exactly the right next frame: ~0 loss with our labels, large with upstream's, computed
    by transformers' own ForCausalLMLoss (what `talker.loss_function` is)."""
    lay = example()
    vocab = 64
    logits = torch.full((1, lay.length, vocab), -20.0)
    for t, label in enumerate(lay.talker_labels.tolist()):
        if label != X:
            logits[0, t, label] = 20.0
    ours = align.talker_cross_entropy(logits, lay.talker_labels.unsqueeze(0))
    upstream_labels = upstream_codec_0_labels(lay).unsqueeze(0)
    upstream = ForCausalLMLoss(logits[:, :-1], upstream_labels[:, 1:], vocab_size=vocab)
    assert ours.item() < 1e-6
    assert upstream.item() > 10


# ---- defect 3: which hidden state the sub-talker reads ----------------------------------------------------------
def upstream_sub_talker_hidden_positions(lay: align.SequenceLayout) -> list[int]:
    """sft_12hz.py HEAD: `hidden_states` of `inputs[:, :-1]` (positions 0..T-2), `hidden_states[codec_mask[:, :-1]]`
    with dataset.py's codec_mask = the frames' positions."""
    positions = torch.arange(lay.length)[:-1]
    return positions[lay.frame_mask[:-1]].tolist()


def test_defect3_sub_talker_reads_the_hidden_state_that_produced_codebook_0() -> None:
    lay = example()
    mask = align.sub_talker_hidden_mask(lay.frame_mask)
    assert torch.nonzero(mask).flatten().tolist() == [11, 12, 13]  # by hand: each frame's position - 1
    # the same hidden state whose codec_head output is trained on the frame's codebook 0 (as in generate())
    assert lay.talker_labels[mask].tolist() == CODES[:, 0].tolist()
    hidden = torch.arange(lay.length, dtype=torch.float32).view(1, -1, 1)  # h[t] = t
    batch = align.collate([lay])
    selected, frames = align.select_sub_talker_inputs(hidden, batch["codes"], batch["frame_mask"])
    assert selected.flatten().tolist() == [11.0, 12.0, 13.0]
    assert frames.tolist() == CODES.tolist()


def test_defect3_upstream_reads_the_frames_own_position() -> None:
    lay = example()
    upstream = upstream_sub_talker_hidden_positions(lay)
    assert upstream == FRAMES  # h[q]: the output at the frame's own position...
    assert lay.frame_mask[upstream].all()  # ...whose input already holds that frame's 16 codebooks
    ours = torch.nonzero(align.sub_talker_hidden_mask(lay.frame_mask)).flatten().tolist()
    assert ours != upstream
    assert all(p < q for p, q in zip(ours, FRAMES, strict=True))  # ours never sees the frame it predicts


def test_defect3_alignment_holds_across_a_padded_batch() -> None:
    short = align.build_sequence(ROLE, [10], CODES[:2], IDS)
    long = example()
    batch = align.collate([short, long])
    hidden = torch.arange(2 * long.length, dtype=torch.float32).view(2, -1, 1)  # h[b, t] = b * T + t
    selected, frames = align.select_sub_talker_inputs(hidden, batch["codes"], batch["frame_mask"])
    assert frames.tolist() == CODES[:2].tolist() + CODES.tolist()
    t = long.length
    assert selected.flatten().tolist() == [10.0, 11.0, t + 11.0, t + 12.0, t + 13.0]
    # every selected hidden state is the one labelled with its frame's codebook 0
    labels = batch["talker_labels"][align.sub_talker_hidden_mask(batch["frame_mask"])]
    assert labels.tolist() == frames[:, 0].tolist()


# ---- defect 4: sub-talker labels ----------------------------------------------------------------------------------
def coded_tables(dim: int = 1) -> tuple[nn.Embedding, list[nn.Embedding]]:
    """Codebook 0 -> code value; codebook k -> 1000 * k + code value (1-wide, to read what sits where)."""
    tables = []
    for k in range(4):
        table = nn.Embedding(100, dim)
        table.weight.data = (torch.arange(100, dtype=torch.float32) + 1000 * k).unsqueeze(1).repeat(1, dim)
        tables.append(table)
    return tables[0], tables[1:]


def test_defect4_sub_talker_inputs_and_labels_by_hand() -> None:
    frame = CODES[:1]  # [[20, 30, 40, 45]]
    codec0, higher = coded_tables()
    inputs = align.sub_talker_input_embeddings(torch.tensor([[-1.0]]), frame, codec0, higher)
    assert inputs[0, :, 0].tolist() == [-1.0, 20.0, 1030.0, 2040.0]  # [h, c0, c1, c2]; c3 is only a target
    assert align.sub_talker_logit_positions(4) == [1, 2, 3]
    # head j reads position j + 1 (it has seen h, c0..c_j) and is trained on c_{j+1}
    assert align.sub_talker_labels(frame).tolist() == [[30, 40, 45]]


def test_defect4_upstream_sub_talker_labels_are_shifted_twice() -> None:
    frame = CODES[:1]
    labels = frame[:, 1:]  # forward_sub_talker_finetune: labels=codec_ids[:, 1:]
    effective = nn.functional.pad(labels, (0, 1), value=X)[..., 1:]  # ForCausalLMLoss shifts again
    assert effective.tolist() == [[40, 45, X]]  # head 0 on c2, head 1 on c3, head 2 on nothing; c1 never
    assert effective.tolist() != align.sub_talker_labels(frame).tolist()


def test_defect4_perfect_code_predictor_is_penalized_by_the_upstream_loss() -> None:
    frames = CODES
    vocab = 64
    logits = torch.full((frames.shape[0], 3, vocab), -20.0)  # heads 0..2 of each frame
    for n in range(frames.shape[0]):
        for j in range(3):
            logits[n, j, frames[n, j + 1]] = 20.0  # head j predicts c_{j+1} exactly
    ours = align.sub_talker_cross_entropy(logits, frames)
    upstream = ForCausalLMLoss(logits, frames[:, 1:], vocab_size=vocab)  # code_predictor.loss_function
    assert ours.item() < 1e-6
    assert upstream.item() > 10


def test_talker_position_ids_count_real_tokens() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    positions = align.talker_position_ids(mask)
    assert positions.shape == (3, 2, 4)
    assert positions[0].tolist() == [[0, 1, 2, 1], [0, 1, 2, 3]]


def test_build_sequence_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="role tokens"):
        align.build_sequence([1, 2], TEXT, CODES, IDS)
    with pytest.raises(ValueError, match="shape"):
        align.build_sequence(ROLE, TEXT, CODES[:, :3], IDS)
