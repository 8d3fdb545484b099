"""Qwen3-TTS fine-tuning backend: sequence alignment (align), data preparation (data), loss and training (train)."""
