"""KaniTTS training: examples from codes, the LoRA backend, the tiny demo model, dataset encoding, the merge."""
