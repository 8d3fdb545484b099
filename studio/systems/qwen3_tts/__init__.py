"""Qwen3-TTS (torch codec language model): the engine, the `qwen_tts` compatibility layer, loading a tuned result
(`tuned`) and the training backend (`training/`, which imports the inference side, never the reverse)."""

from __future__ import annotations

from studio.engines.base import EngineSpec
from studio.systems import System


def _engines() -> list[EngineSpec]:
    from studio.systems.qwen3_tts.specs import design_spec, spec

    return [spec(), design_spec()]  # Base/CustomVoice, and VoiceDesign (a voice from a description)


SYSTEM = System(
    name="qwen3_tts",
    label="Qwen3-TTS",
    engines=_engines,
    training="studio.systems.qwen3_tts.training.backend:Qwen3Backend",
    training_label="Qwen3-TTS (12 Hz codec)",
    engine_for_training="qwen3_tts",
    clone="studio.systems.qwen3_tts.clone",
    clone_engines=("qwen3_tts",),  # VoiceDesign makes voices from words; the Base checkpoint keeps them
)
