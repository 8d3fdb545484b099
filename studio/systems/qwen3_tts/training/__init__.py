"""Qwen3-TTS training: sequence alignment, data preparation, the objective and modes, the backend, the export."""
