"""Qwen3-TTS fine-tuning on the tiny model (tests/qwen_tiny.py): the loss falls, text_projection makes text hidden !=
talker hidden work, LoRA finds its targets, checkpoints round-trip, and data preparation writes the trainer's JSONL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
if __import__("importlib").util.find_spec("qwen_tts") is None:
    pytest.skip("qwen-tts is not installed", allow_module_level=True)

from studio.errors import InvalidInput  # noqa: E402
from studio.systems.qwen3_tts.training import align, data  # noqa: E402
from studio.systems.qwen3_tts.training import objective as train  # noqa: E402
from tests.qwen_tiny import CODEBOOK, build_tiny_qwen3_tts  # noqa: E402

TEXTS = ["the cat", "a dog ran", "the sun", "user said hi", "the end"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen3_tts(tmp_path_factory.mktemp("qwen3-tiny"))


def load_model(folder: Path) -> Any:
    from studio.systems.qwen3_tts.compat import import_qwen_tts

    import_qwen_tts()  # qwen-tts needs the transformers-5 shims before its first import
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

    torch.manual_seed(0)
    return Qwen3TTSForConditionalGeneration.from_pretrained(str(folder)).float()


@pytest.fixture(scope="module")
def tokenizer(tiny_folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_folder))


def synthetic_examples(count: int = len(TEXTS)) -> list[data.Qwen3Example]:
    """Learnable codes: each clip is a rising pattern over a few codes (no audio needed)."""
    rng = np.random.default_rng(0)
    examples = []
    for i in range(count):
        frames = 6 + i
        base = (np.arange(frames)[:, None] + np.arange(16)[None, :] + 3 * i) % 8
        codes = (base + rng.integers(0, 2, size=base.shape)).astype(np.int64) % CODEBOOK
        examples.append(data.Qwen3Example(text=TEXTS[i % len(TEXTS)], codes=codes))
    return examples


def batches(model: Any, tokenizer: Any, examples: list[data.Qwen3Example], size: int = 2) -> list[dict]:
    ids = align.SpecialIds.from_config(model.config)
    layouts = [data.to_layout(ex, tokenizer, ids) for ex in examples]
    return [align.collate(layouts[s : s + size]) for s in range(0, len(layouts), size)]


def total_loss(model: Any, batch_list: list[dict]) -> float:
    return train.evaluate(model, batch_list)["loss"]


def optimize(model: Any, batch_list: list[dict], learning_rate: float, epochs: int = 1) -> list[float]:
    """Plain AdamW steps on the objective, one per batch (the run loop itself is tested in the training process):
    the training loss of every step."""
    params = train.trainable_parameters(model)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    losses = []
    model.train()
    for _ in range(epochs):
        for batch in batch_list:
            loss, _, _ = train.qwen3_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize(
    ("options", "learning_rate"),
    [
        (train.Qwen3Options(mode="lora", lora_r=8, lora_alpha=16, lora_dropout=0.0), 1e-2),
        (train.Qwen3Options(mode="full"), 3e-3),
        (train.Qwen3Options(mode="last_layers", last_layers=1, add_layers=1), 3e-3),
    ],
    ids=["lora", "full", "last-layers"],
)
def test_a_few_steps_reduce_the_loss(
    tiny_folder: Path, tokenizer: Any, tmp_path: Path, options: Any, learning_rate: float
) -> None:
    model = train.apply_mode(load_model(tiny_folder), options)
    train_batches = batches(model, tokenizer, synthetic_examples(), size=5)
    before = train.evaluate(model, train_batches)
    torch.manual_seed(1)
    losses = optimize(model, train_batches, learning_rate, epochs=8)
    after = train.evaluate(model, train_batches)
    assert len(losses) == 8
    assert after["loss"] < before["loss"] - 0.3, (before, after)
    assert after["talker_loss"] < before["talker_loss"] and after["sub_loss"] < before["sub_loss"]
    assert losses[-1] < losses[0]


def test_loss_is_talker_plus_0_3_sub_talker(tiny_folder: Path, tokenizer: Any) -> None:
    model = load_model(tiny_folder).eval()
    batch = batches(model, tokenizer, synthetic_examples(2))[0]
    loss, talker_loss, sub_loss = train.qwen3_loss(model, batch)
    assert torch.isclose(loss, talker_loss + 0.3 * sub_loss)
    # an untrained model is near chance on both heads
    assert abs(talker_loss.item() - np.log(model.config.talker_config.vocab_size)) < 1.0
    assert abs(sub_loss.item() - np.log(CODEBOOK)) < 1.0
    wrapped = train.training_module(model)
    assert torch.isclose(wrapped(batch)[0], loss)


def test_text_projection_makes_text_hidden_unlike_talker_hidden_work(tiny_folder: Path, tokenizer: Any) -> None:
    """The tiny config is 0.6B-like: text hidden 32, talker hidden 64 (0.6B: 2048 vs 1024)."""
    model = load_model(tiny_folder).eval()
    talker = model.talker
    assert talker.config.text_hidden_size != talker.config.hidden_size
    batch = batches(model, tokenizer, synthetic_examples(2))[0]
    loss, _, _ = train.qwen3_loss(model, batch)
    assert torch.isfinite(loss)
    # upstream sft_12hz.py's text channel (no text_projection) cannot be added to the codec channel
    text = talker.model.text_embedding(batch["text_ids"]) * batch["text_mask"].unsqueeze(-1)
    with pytest.raises(RuntimeError):
        _ = text + talker.model.codec_embedding(batch["codec_ids"])


def test_speaker_embedding_fills_the_speaker_slot(tiny_folder: Path, tokenizer: Any) -> None:
    model = load_model(tiny_folder).eval()
    wave = (np.sin(np.arange(24_000) / 20.0) * 0.3).astype(np.float32)
    embedding = train.speaker_embedding(model, wave, 24_000)
    assert embedding.shape == (model.config.talker_config.hidden_size,)
    batch = batches(model, tokenizer, synthetic_examples(2))[0]
    plain, _, _ = train.qwen3_loss(model, batch)
    batch["speaker_embedding"] = embedding.unsqueeze(0).repeat(2, 1)
    with_speaker, _, _ = train.qwen3_loss(model, batch)
    assert torch.isfinite(with_speaker) and not torch.isclose(plain, with_speaker)


def test_lora_targets_exist_in_talker_and_code_predictor(tiny_folder: Path) -> None:
    model = load_model(tiny_folder)
    options = train.Qwen3Options()
    names = train.lora_target_names(model, options)
    for target in train.LORA_TARGETS:
        assert any(n.startswith("talker.model.layers.") and n.endswith("." + target) for n in names), target
        assert any(n.startswith("talker.code_predictor.model.layers.") and n.endswith("." + target) for n in names)
    peft_model = train.apply_mode(model, options)
    wrapped = {n for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert len(wrapped) == len(names) == 7 * (2 + 1)  # 2 talker layers + 1 code predictor layer
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    only_talker = train.lora_target_names(load_model(tiny_folder), train.Qwen3Options(lora_parts=["talker"]))
    assert all(".code_predictor." not in n for n in only_talker)
    with pytest.raises(InvalidInput, match="not Qwen3-TTS projections"):
        train.Qwen3Options(target_modules=["q_proj", "w1"]).validate()


def test_lora_checkpoint_round_trip(tiny_folder: Path, tokenizer: Any, tmp_path: Path) -> None:
    options = train.Qwen3Options(mode="lora", lora_r=4, lora_alpha=8, lora_dropout=0.0)
    model = train.apply_mode(load_model(tiny_folder), options)
    train_batches = batches(model, tokenizer, synthetic_examples(4))
    optimize(model, train_batches, 5e-3)
    trained = total_loss(model, train_batches)
    folder = train.save_checkpoint(model, tmp_path / "ckpt", options, {"step": 2})
    assert (folder / "COMPLETE").is_file() and (folder / "adapter_model.safetensors").is_file()
    assert not list(tmp_path.glob(".tmp-*"))
    fresh = load_model(tiny_folder)
    base = total_loss(fresh, train_batches)
    restored, state = train.load_checkpoint(fresh, folder)
    assert state == {"step": 2}
    assert abs(total_loss(restored, train_batches) - trained) < 1e-5
    assert abs(base - trained) > 1e-3  # the adapter really changed something


def test_added_layers_checkpoint_round_trip(tiny_folder: Path, tokenizer: Any, tmp_path: Path) -> None:
    options = train.Qwen3Options(mode="last_layers", last_layers=1, add_layers=1, reinit_last=False)
    base_model = load_model(tiny_folder)
    train_batches = batches(base_model, tokenizer, synthetic_examples(4))
    base = total_loss(base_model, train_batches)
    model = train.apply_mode(base_model, options)
    assert len(model.talker.model.layers) == 3 and model.config.talker_config.num_hidden_layers == 3
    assert abs(total_loss(model, train_batches) - base) < 1e-5  # an added layer starts as the identity
    frozen = model.talker.model.layers[0].self_attn.q_proj.weight.clone()
    optimize(model, train_batches, 3e-3)
    assert torch.equal(model.talker.model.layers[0].self_attn.q_proj.weight, frozen)  # originals stay frozen
    trained = total_loss(model, train_batches)
    folder = train.save_checkpoint(model, tmp_path / "ckpt", options)
    restored, _ = train.load_checkpoint(load_model(tiny_folder), folder)
    assert len(restored.talker.model.layers) == 3
    assert abs(total_loss(restored, train_batches) - trained) < 1e-5


def test_prepare_jsonl_with_the_tiny_speech_tokenizer(tiny_folder: Path, tokenizer: Any, tmp_path: Path) -> None:
    import soundfile as sf

    rows = []
    for i, seconds in enumerate((1.0, 1.5)):
        wave = (np.sin(np.arange(int(16_000 * seconds)) * (0.05 + i / 100)) * 0.3).astype(np.float32)
        sf.write(str(tmp_path / f"clip{i}.wav"), wave, 16_000)  # not 24 kHz: prepare resamples
        rows.append({"audio": f"clip{i}.wav", "text": TEXTS[i], "language": "english"})
    codec = data.QwenSpeechCodec.load(tiny_folder)
    out = tmp_path / "train.jsonl"
    progress: list[float] = []
    assert data.prepare_jsonl(rows, codec, out, base_dir=tmp_path, on_progress=lambda f, m: progress.append(f)) == 2
    assert progress[-1] == 1.0
    first = json.loads(out.read_text().splitlines()[0])
    assert first["text"] == TEXTS[0] and first["language"] == "english"
    examples = data.read_jsonl(out, codebook_size=CODEBOOK)
    assert [ex.codes.shape for ex in examples] == [(13, 16), (19, 16)]  # 12.5 frames per second, rounded up
    model = load_model(tiny_folder)
    ids = align.SpecialIds.from_config(model.config)
    layout = data.to_layout(examples[0], tokenizer, ids, language_ids=model.config.talker_config.codec_language_id)
    assert layout.codec_ids[3:7].tolist()[2] == model.config.talker_config.codec_language_id["english"]
    assert int(layout.frame_mask.sum()) == 13


def test_read_jsonl_reports_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "hi", "audio_codes": [[1, 2, 3]]}) + "\n")
    with pytest.raises(InvalidInput, match=r"line 1.*shape"):
        data.read_jsonl(path)
    path.write_text(json.dumps({"text": "", "audio_codes": [[0] * 16]}) + "\n")
    with pytest.raises(InvalidInput, match="empty"):
        data.read_jsonl(path)
    path.write_text(json.dumps({"text": "hi", "audio_codes": [[99] * 16]}) + "\n")
    with pytest.raises(InvalidInput, match="outside"):
        data.read_jsonl(path, codebook_size=64)
