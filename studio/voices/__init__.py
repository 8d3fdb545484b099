"""The voice library: voices saved on disk (fine-tuned adapters now, cloned voices later)."""
