"""Fine-tune dataset flags: clips whose text Whisper disputes, or whose speaking rate is implausible."""

from __future__ import annotations

import numpy as np

from studio.finetune.dataset.model import Clip

MISMATCH_WER = 0.35
MIN_CPS, MAX_CPS = 4.0, 30.0  # characters per second outside these are implausible for read speech in any dataset
MIN_CLIPS_FOR_STATS = 5  # median and MAD of fewer clips say nothing about what is normal for this speaker


def _mismatch(clip: Clip) -> bool:
    from studio.audio.asr import word_error_rate

    if clip.recognized is None or clip.transcript_from == "whisper" or not clip.text.strip():
        return False
    return word_error_rate(clip.text, clip.recognized) > MISMATCH_WER


def update_flags(clips: list[Clip], recheck: set[str] | None = None) -> None:
    """Set flags and the kept clips' reasons. `recheck`: ids whose mismatch flag must be recomputed (None: all)."""
    for clip in clips:
        if recheck is None or clip.id in recheck:
            others = [f for f in clip.flags if f != "mismatch"]
            clip.flags = (["mismatch"] if _mismatch(clip) else []) + others
    rates = [c.chars_per_sec for c in clips if not c.drop and c.text.strip()]
    low, high = MIN_CPS, MAX_CPS
    if len(rates) >= MIN_CLIPS_FOR_STATS:
        median = float(np.median(rates))
        # 1.4826 * MAD estimates the standard deviation robustly; the floor keeps a very even dataset (TTS, one
        # careful reader) from flagging clips that are only slightly off its tight middle
        band = max(3.0 * 1.4826 * float(np.median(np.abs(np.asarray(rates) - median))), 0.2 * median)
        low, high = max(low, median - band), min(high, median + band)
    for clip in clips:
        rate_flags = []
        if clip.text.strip():
            if clip.chars_per_sec > high:
                rate_flags.append("fast")
            elif clip.chars_per_sec < low:
                rate_flags.append("slow")
        clip.flags = [f for f in clip.flags if f == "mismatch"] + rate_flags
        if not clip.drop:
            clip.reason = _describe(clip)


def _describe(clip: Clip) -> str:
    notes = []
    if "mismatch" in clip.flags:
        notes.append("Whisper heard something else: check the text")
    if "fast" in clip.flags:
        notes.append(f"unusually fast ({clip.chars_per_sec:.0f} characters/s): check the text covers only this clip")
    if "slow" in clip.flags:
        notes.append(f"unusually slow ({clip.chars_per_sec:.0f} characters/s): words may be missing from the text")
    return "; ".join(notes)
