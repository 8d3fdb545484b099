"""Text processing before synthesis: normalization to spoken words and sentence-aware chunking."""

from studio.text.chunking import chunk_text, split_paragraphs, split_sentences
from studio.text.normalize import normalize_text, words_for_wer

__all__ = ["chunk_text", "normalize_text", "split_paragraphs", "split_sentences", "words_for_wer"]
