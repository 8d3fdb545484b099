"""Qwen3-TTS generation helpers: the frame cap for a piece of text, and speaking with a model being trained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.systems.qwen3_tts.model import FRAME_RATE, ModelCard, import_qwen_tts
from studio.systems.qwen3_tts.prompts import prompt_item, xvector_prompt


def max_new_tokens_for(text: str, ceiling: int) -> int:
    """A cap on codec frames for one piece of text: generous speech time (3 s + 0.3 s a character), never more
    than the checkpoint's own limit, so a model that fails to stop cannot run for minutes."""
    return max(1, min(ceiling, int(FRAME_RATE * (3.0 + 0.3 * len(text)))))


def speak_with_model(model: Any, folder: str | Path, text: str, speaker: Any = None, seed: int = 0,
                     max_new_tokens: int = 2048, language: str = "auto",
                     ) -> tuple[NDArray[np.float32], int]:  # fmt: skip
    """Speak `text` with a Qwen3TTSForConditionalGeneration being trained (its processor read from `folder`), as
    an x-vector clone of `speaker` (D,) (zeros: none), in the non-streaming layout it trains on (training/align.py)
    and with `language` (the language tags of its training sequences). For the training run's audio evaluation."""
    import torch

    qwen_tts = import_qwen_tts()
    from qwen_tts.core.models import Qwen3TTSProcessor

    card = ModelCard.read(Path(folder))
    processor = Qwen3TTSProcessor.from_pretrained(str(folder))
    wrapper = qwen_tts.Qwen3TTSModel(model=model, processor=processor,
                                     generate_defaults=getattr(model, "generate_config", None))  # fmt: skip
    item = prompt_item(xvector_prompt(speaker, card.speaker_dim), card.speaker_dim)
    with torch.inference_mode():
        torch.manual_seed(int(seed))
        wavs, rate = wrapper.generate_voice_clone(text=text, language=language, voice_clone_prompt=[item],
                                                  non_streaming_mode=True,
                                                  max_new_tokens=max_new_tokens_for(text, max_new_tokens))  # fmt: skip
    samples = np.clip(np.nan_to_num(np.asarray(wavs[0], dtype=np.float32)), -1.0, 1.0)
    return samples.astype(np.float32), int(rate)
