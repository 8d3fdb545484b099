"""A tiny KaniTTS-shaped model (LFM2 from a config, a small tokenizer) and a synthetic codec dataset: no downloads."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from studio.fsutil import write_atomic
from studio.systems.kani.layout import LAYOUT_FILE, TokenLayout

log = logging.getLogger(__name__)


DEMO_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A small boat drifted slowly across the quiet lake.",
    "Please call me back when you have a free minute.",
    "The library opens at nine and closes at six.",
    "She painted the fence a bright shade of green.",
    "Rain is expected to fall all through the night.",
    "He found an old map hidden inside the book.",
    "Our train leaves from the second platform today.",
    "Fresh bread smells wonderful early in the morning.",
    "The children laughed at the clever little puppet.",
    "Turn left at the bakery and walk two blocks.",
    "Every winter the birds fly south for warmth.",
    "The museum shows paintings from many countries.",
    "Keep your ticket until the end of the journey.",
    "A gentle wind moved the tall grass by the road.",
    "We will meet again next week at the same place.",
)


def build_tiny_model(folder: Path, layout: TokenLayout | None = None, seed: int = 0) -> Path:
    """Write an LFM2 causal LM (random weights, the real module names) and a byte-level BPE tokenizer to `folder`.

    The vocabulary has the real KaniTTS layout (text ids below 64,400, the special block, 4 x 4,032 codec ids), so the
    data pipeline, training, adapters and generation run exactly as they do for the real 400M model.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import Lfm2Config, Lfm2ForCausalLM, PreTrainedTokenizerFast

    layout = layout or TokenLayout()
    folder.mkdir(parents=True, exist_ok=True)
    # ids 0-2 as in LFM2's tokenizer: pad, start of text (BOS, added before every text), end of text
    specials = ["<|pad|>", "<|startoftext|>", "<|endoftext|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([s.lower() for s in DEMO_SENTENCES] + list(DEMO_SENTENCES), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A", special_tokens=[("<|startoftext|>", layout.start_of_text)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|pad|>"
    )
    fast.save_pretrained(str(folder))

    torch.manual_seed(seed)
    config = Lfm2Config(
        vocab_size=layout.vocab_size,
        hidden_size=64,
        intermediate_size=128,
        block_auto_adjust_ff_dim=False,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        layer_types=["conv", "full_attention", "conv", "full_attention"],
        max_position_embeddings=4096,
        pad_token_id=0,
        bos_token_id=layout.start_of_text,
        eos_token_id=layout.end_of_speech,
        tie_word_embeddings=True,
        # Trained models have embeddings large enough for confident logits; at the usual 0.02 the frozen, tied
        # embeddings of a random model cap any logit near 1, and no adapter could lower the loss much.
        initializer_range=0.25,
    )
    model = Lfm2ForCausalLM(config)
    model.save_pretrained(str(folder))
    write_atomic(folder / LAYOUT_FILE, json.dumps(layout.to_json(), indent=2))
    log.info("tiny LFM2 model written to %s (%d parameters)", folder, model.num_parameters())
    return folder


def synthetic_codes(text: str, layout: TokenLayout | None = None) -> list[list[int]]:
    """Learnable stand-in codec tokens: one frame per character, derived from it (no audio needed).

    Codes come from a small part of each codebook, as real speech uses some codes far more than others, so a few dozen
    LoRA steps visibly lower the loss.
    """
    layout = layout or TokenLayout()
    frames: list[list[int]] = []
    for ch in text.lower():
        base = ord(ch)
        frames.append([(base * (k + 3)) % 64 + 64 * k for k in range(layout.num_codebooks)])
    return np.asarray(frames, dtype=np.int64).T.tolist()


def write_synthetic_dataset(folder: Path, layout: TokenLayout | None = None, speaker: str = "demo") -> Path:
    """A Studio dataset folder (manifest.jsonl with codec tokens, no audio) of DEMO_SENTENCES; 2 for validation."""
    layout = layout or TokenLayout()
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(DEMO_SENTENCES):
        codes = synthetic_codes(text, layout)
        row = {
            "id": f"demo-{i:03d}",
            "audio": None,
            "text": text,
            "speaker": speaker,
            "duration": round(len(codes[0]) / layout.frames_per_second, 2),
            "split": "validation" if i in (3, 11) else "train",
            "codes": codes,
        }
        lines.append(json.dumps(row))
    write_atomic(folder / "manifest.jsonl", "\n".join(lines) + "\n")
    write_atomic(
        folder / "dataset.json",
        json.dumps({"speaker": speaker, "synthetic": True, "clips": len(lines), "sample_rate": layout.sample_rate}),
    )
    return folder / "manifest.jsonl"
