"""Text normalization: turn written numbers, money, dates, units and abbreviations into the words a TTS says."""

from studio.text.normalize.pipeline import normalize_text, words_for_wer

__all__ = ["normalize_text", "words_for_wer"]
