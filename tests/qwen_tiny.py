"""A tiny Qwen3-TTS checkpoint folder, built from configs with random weights, laid out like a real one.

`build_tiny_qwen3_tts(folder)` writes what `Qwen3TTSModel.from_pretrained(folder)` (and Studio's `qwen3_tts` engine)
reads from a downloaded `Qwen/Qwen3-TTS-12Hz-*` snapshot:

    config.json, model.safetensors, generation_config.json      Qwen3TTSForConditionalGeneration (model_type qwen3_tts)
    vocab.json, merges.txt, tokenizer_config.json, ...          a Qwen2Tokenizer (byte-level BPE) + the processor
    speech_tokenizer/config.json, model.safetensors,            the 12 Hz speech tokenizer (qwen3_tts_tokenizer_12hz:
    speech_tokenizer/preprocessor_config.json                   a Mimi encoder + the Qwen code2wav decoder)

Everything is the real architecture, real classes, real code paths; only the sizes are tiny and the weights are
random (seeded: the same `seed` gives the same bytes of weights). Nothing is a stand-in:

- talker: 2 layers, hidden 64, 4 heads (2 KV heads, head_dim 16, M-RoPE sections [4, 2, 2], interleaved), 16 code
  groups; codec vocabulary = CODEBOOK (64) codes + 1024 control ids (the real layout: the last 1024 ids are control
  tokens, which generation suppresses except EOS), so vocab 1088; text embedding 512 x 32.
- code predictor: 1 layer, hidden 32 (so the real `small_to_mtp_projection` exists), 2 heads, 15 heads of 64 codes.
- speaker encoder (Base only): ECAPA-TDNN on the real 128-bin 24 kHz mel, channels [32, 32, 32, 32, 96], embedding 64
  (= talker hidden, as in the real models).
- text tokenizer: byte-level BPE over the 256 byte symbols plus merges that make "assistant" one token, and the
  special tokens <|endoftext|>, <|im_start|>, <|im_end|>, <tts_pad>, <tts_text_bos>, <tts_text_eod> (their ids are
  written into config.json, so the prompt layout `<|im_start|>assistant\\n ... <|im_end|>\\n<|im_start|>assistant\\n`
  is split exactly like the real tokenizer splits it).
- speech tokenizer (12 Hz, 16 of 32 codebooks used, 24 kHz in and out, 1920 samples per frame): Mimi encoder with
  4 filters, hidden 32, 1 transformer layer, the real strides [8, 6, 5, 4] (25 Hz, then /2 -> 12.5 Hz), 32
  quantizers of 64 codes; decoder: hidden 32, 1 sliding-window layer, the real upsampling (8, 5, 4, 3) x (2, 2),
  decoder_dim 32. Codebook vectors (encoder and decoder) are filled with random values (a fresh init leaves them
  zero, which would encode every frame to code 0 and decode every code to the same sound). The checkpoint is saved
  in the released (transformers 4, flat Mimi) key layout, so loading it exercises the same renaming as real weights.

`model_type="custom_voice"` builds a CustomVoice checkpoint instead (no speaker encoder; preset speakers TINY_SPEAKERS
with their own codec ids; `size="1b7"` declares the size whose CustomVoice follows instructions), and
`model_type="voice_design"` a VoiceDesign checkpoint (no speaker encoder, no speakers: the voice comes from a
description). Sizes: about 1.2 MB of weights for the model and 0.2 MB for the speech tokenizer; loading
and a short generation take well under a second on a CPU. The output is noise-like audio: tests may check lengths,
rates, dtypes, determinism and finiteness, never content.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

CODEBOOK = 64  # codes per codebook (real: 2048)
CODE_GROUPS = 16  # codebooks per 12 Hz frame (real: 16)
CONTROL_IDS = 1024  # talker ids after the codes (real layout: codebook + 1024)
TALKER_VOCAB = CODEBOOK + CONTROL_IDS
TALKER_HIDDEN = 64
TEXT_VOCAB = 512
TEXT_HIDDEN = 32
SAMPLE_RATE = 24_000
LANGUAGES = {"english": CODEBOOK + 50, "chinese": CODEBOOK + 51, "german": CODEBOOK + 52}
TINY_SPEAKERS = {"tiny_ryan": CODEBOOK + 100, "tiny_vivian": CODEBOOK + 101}
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>"]
MERGED_WORDS = ["assistant", "user", "the"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (the alphabet of byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


def _text_tokenizer_files(folder: Path) -> dict[str, int]:
    """vocab.json/merges.txt/tokenizer files of a tiny Qwen2 tokenizer in `folder`; returns the special token ids."""
    from transformers import AddedToken, Qwen2Tokenizer

    alphabet = _bytes_to_unicode()
    vocab: dict[str, int] = {}
    for b in range(256):
        vocab.setdefault(alphabet[b], len(vocab))
    merges: list[tuple[str, str]] = []
    for word in MERGED_WORDS:
        for end in range(2, len(word) + 1):
            left, right = word[: end - 1], word[end - 1]
            if word[:end] not in vocab:
                merges.append((left, right))
                vocab[word[:end]] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)  # type: ignore[arg-type]  # pairs, as tokenizers' BPE takes
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True) for t in SPECIAL_TOKENS[1:]]}
    )
    ids = {t: int(tokenizer.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS}  # type: ignore[arg-type]
    if max(ids.values()) >= TEXT_VOCAB:
        raise AssertionError(f"tiny text vocabulary overflows: {ids}")
    from qwen_tts.core.models import Qwen3TTSProcessor

    Qwen3TTSProcessor(tokenizer=tokenizer).save_pretrained(str(folder))
    return ids


def tiny_config(model_type: str = "base", token_ids: dict[str, int] | None = None, size: str = "0b6") -> dict[str, Any]:
    """config.json of the tiny Qwen3-TTS model (Base, CustomVoice or VoiceDesign); `size` is the `tts_model_size`
    it declares (qwen-tts reads it: a 0b6 CustomVoice drops instructions), never its real size."""
    ids = token_ids or {t: 300 + i for i, t in enumerate(SPECIAL_TOKENS)}
    control = CODEBOOK  # first control id; the real models use 2048+ in the same order
    talker: dict[str, Any] = {
        "vocab_size": TALKER_VOCAB,
        "hidden_size": TALKER_HIDDEN,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "rope_scaling": {"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True},
        "num_code_groups": CODE_GROUPS,
        "text_hidden_size": TEXT_HIDDEN,
        "text_vocab_size": TEXT_VOCAB,
        "codec_pad_id": control + 0,
        "codec_bos_id": control + 1,
        "codec_eos_token_id": control + 2,
        "codec_think_id": control + 4,
        "codec_nothink_id": control + 5,
        "codec_think_bos_id": control + 6,
        "codec_think_eos_id": control + 7,
        "codec_language_id": dict(LANGUAGES),
        "spk_id": dict(TINY_SPEAKERS) if model_type == "custom_voice" else {},
        "spk_is_dialect": {name: False for name in TINY_SPEAKERS} if model_type == "custom_voice" else {},
        "code_predictor_config": {
            "vocab_size": CODEBOOK,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 64,
            "rope_theta": 10000.0,
            "num_code_groups": CODE_GROUPS,
        },
    }
    return {
        "architectures": ["Qwen3TTSForConditionalGeneration"],
        "model_type": "qwen3_tts",
        "tokenizer_type": "qwen3_tts_tokenizer_12hz",
        "tts_model_size": size,
        "tts_model_type": model_type,
        "im_start_token_id": ids["<|im_start|>"],
        "im_end_token_id": ids["<|im_end|>"],
        "tts_pad_token_id": ids["<tts_pad>"],
        "tts_bos_token_id": ids["<tts_text_bos>"],
        "tts_eos_token_id": ids["<tts_text_eod>"],
        "talker_config": talker,
        "speaker_encoder_config": {
            "mel_dim": 128,
            "enc_dim": TALKER_HIDDEN,
            "enc_channels": [32, 32, 32, 32, 96],
            "enc_kernel_sizes": [5, 3, 3, 3, 1],
            "enc_dilations": [1, 2, 3, 4, 1],
            "enc_attention_channels": 16,
            "enc_res2net_scale": 8,
            "enc_se_channels": 16,
            "sample_rate": SAMPLE_RATE,
        },
    }


def tiny_speech_tokenizer_config() -> dict[str, Any]:
    """config.json of the tiny 12 Hz speech tokenizer (Mimi encoder + code2wav decoder)."""
    return {
        "architectures": ["Qwen3TTSTokenizerV2Model"],
        "model_type": "qwen3_tts_tokenizer_12hz",
        "encoder_valid_num_quantizers": CODE_GROUPS,
        "input_sample_rate": SAMPLE_RATE,
        "output_sample_rate": SAMPLE_RATE,
        "decode_upsample_rate": 1920,
        "encode_downsample_rate": 1920,
        "encoder_config": {
            "sampling_rate": SAMPLE_RATE,
            "frame_rate": 12.5,
            "audio_channels": 1,
            "hidden_size": 32,
            "num_filters": 4,
            "num_residual_layers": 1,
            "upsampling_ratios": [8, 6, 5, 4],
            "kernel_size": 7,
            "last_kernel_size": 3,
            "residual_kernel_size": 3,
            "dilation_growth_rate": 2,
            "use_causal_conv": True,
            "pad_mode": "constant",
            "compress": 2,
            "trim_right_ratio": 1.0,
            "codebook_size": CODEBOOK,
            "codebook_dim": 16,
            "num_quantizers": 32,
            "use_conv_shortcut": False,
            "vector_quantization_hidden_dimension": 16,
            "num_semantic_quantizers": 1,
            "upsample_groups": 32,
            "num_hidden_layers": 1,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "sliding_window": 250,
            "max_position_embeddings": 8000,
            "use_cache": False,
        },
        "decoder_config": {
            "codebook_size": CODEBOOK,
            "codebook_dim": 32,
            "hidden_size": 32,
            "latent_dim": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "sliding_window": 72,
            "max_position_embeddings": 8000,
            "num_quantizers": CODE_GROUPS,
            "upsample_rates": [8, 5, 4, 3],
            "upsampling_ratios": [2, 2],
            "decoder_dim": 32,
        },
    }


GENERATION_CONFIG = {
    "do_sample": True,
    "top_k": 50,
    "top_p": 1.0,
    "temperature": 0.9,
    "repetition_penalty": 1.05,
    "subtalker_dosample": True,
    "subtalker_top_k": 50,
    "subtalker_top_p": 1.0,
    "subtalker_temperature": 0.9,
    "max_new_tokens": 24,  # about 2 s of audio at 12.5 frames/s: keeps tests fast
}

FEATURE_EXTRACTOR = {
    "feature_extractor_type": "EncodecFeatureExtractor",
    "feature_size": 1,
    "sampling_rate": SAMPLE_RATE,
    "padding_side": "right",
    "padding_value": 0.0,
    "chunk_length_s": None,
    "overlap": None,
    "return_attention_mask": True,
}


def _fill_codebooks(model: Any) -> None:
    """Random codebook vectors in the encoder's and the decoder's quantizers (both start at zero, which would make
    every frame encode to code 0 and every code decode to the same sound)."""
    import torch

    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if name.endswith(("embedding_sum", "embed_sum")):
                tensor.normal_(0.0, 1.0)


def _amplify_decoder(model: Any, gain: float) -> None:
    """Scale the speech decoder's last convolution: the tiny random decoder's output is about 1e-8 (silent to any
    check of a recording); a designed voice's sample must pass the reference checks a real clip passes."""
    import torch

    with torch.no_grad():
        model.decoder.decoder[-1].conv.weight.mul_(gain)


def build_tiny_qwen3_tts(
    folder: Path, *, model_type: str = "base", seed: int = 0, size: str = "0b6", decoder_gain: float = 1.0
) -> Path:
    """Write a tiny Qwen3-TTS checkpoint (see the module docstring) into `folder` and return it.

    `model_type` is "base" (voice cloning; has the speaker encoder), "custom_voice" (preset speakers
    TINY_SPEAKERS) or "voice_design" (a voice from a description: no speakers, no speaker encoder). `size` is the
    declared `tts_model_size` ("1b7": a CustomVoice that follows instructions). `decoder_gain` scales the speech
    decoder's last layer (e.g. 5e6: audible output, for audio that is checked as a recording). Random weights from
    `seed`. Needs
    torch, transformers and qwen-tts (imported through studio.systems.qwen3_tts.compat, which adapts qwen-tts to
    transformers 5).
    """
    if model_type not in ("base", "custom_voice", "voice_design"):
        raise ValueError(f"model_type must be 'base', 'custom_voice' or 'voice_design', not {model_type!r}")
    import torch

    from studio.systems.qwen3_tts.compat import import_qwen_tts

    import_qwen_tts()
    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    token_ids = _text_tokenizer_files(folder)

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers 5 on qwen-tts's v4-style rope_scaling
        config = Qwen3TTSConfig(**tiny_config(model_type, token_ids, size))
    model = Qwen3TTSForConditionalGeneration(config).eval()
    model.save_pretrained(str(folder))
    (folder / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2), encoding="utf-8")

    speech = folder / "speech_tokenizer"
    speech.mkdir(exist_ok=True)
    torch.manual_seed(seed + 1)
    tokenizer_model = Qwen3TTSTokenizerV2Model(Qwen3TTSTokenizerV2Config(**tiny_speech_tokenizer_config())).eval()
    _fill_codebooks(tokenizer_model)
    if decoder_gain != 1.0:
        _amplify_decoder(tokenizer_model, decoder_gain)
    tokenizer_model.save_pretrained(str(speech))
    (speech / "preprocessor_config.json").write_text(json.dumps(FEATURE_EXTRACTOR, indent=2), encoding="utf-8")
    return folder
