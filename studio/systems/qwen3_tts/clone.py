"""Qwen3-TTS voice cloning: a clone prompt from the reference (ICL: its audio and transcript; x-vector: the speaker
embedding alone), saved as a library voice, then measured like every clone (engines/cloning.py)."""

from __future__ import annotations

import time
from typing import Any

from studio.engines.base import SynthParams
from studio.engines.cloning import SIMILARITY_TEXT, CloneJob, CloneProgress, CloneResult
from studio.errors import InvalidInput
from studio.systems.qwen3_tts.prompts import create_clone_voice
from studio.voices.library import Voice

MODES = ("icl", "xvector")  # with the transcript (closer likeness) or from the speaker embedding alone


def check(settings: Any, mode: str = "icl") -> None:
    if mode not in MODES:
        raise InvalidInput(f"Qwen3-TTS clones in mode icl (with the transcript) or xvector; not {mode!r}.")


def clone_voice(job: CloneJob) -> tuple[Voice, CloneResult]:
    """The clone prompt, saved as a voice, then the reference against SIMILARITY_TEXT spoken with it."""
    check(job.settings, job.mode)
    ref, encoder = job.reference, job.encoder
    loaded: Any = job.loaded  # a Qwen3TTSEngine (the table sends only its engines here)
    if job.mode == "icl" and not ref.transcript.strip():
        raise InvalidInput("ICL cloning needs what the recording says: fill in the transcript (or use x-vector).")
    started, cpu = time.monotonic(), time.process_time()
    if job.on_progress:
        job.on_progress(CloneProgress(0, 1, 0.0, 0.0, 0.0, "computing the clone prompt"))
    voice = create_clone_voice(job.library, loaded, ref.samples, ref.sample_rate, ref.transcript, job.mode, job.name,
                               True, source={"file": ref.source_name, "sha256": ref.sha256})  # fmt: skip
    try:
        spoken = loaded.synthesize(SIMILARITY_TEXT, voice.id, SynthParams(seed=0))
        heard = encoder.embed(spoken.samples, spoken.sample_rate)
        similarity: float | None = encoder.similarity(heard, encoder.embed(ref.samples, ref.sample_rate))
        notes = ""
    except InvalidInput as exc:  # too short or silent to measure (a tiny test model, a failed generation)
        similarity, notes = None, f"Similarity not measured: {exc}"
    voice = job.library.update(voice.id, similarity=None if similarity is None else round(similarity, 4),
                               notes=notes)  # fmt: skip
    result = CloneResult(style=None, similarity=similarity if similarity is not None else float("nan"),
                         start_voice="", start_similarity=float("nan"), method=job.mode, iterations=1,
                         stopped="finished", seconds=time.monotonic() - started,
                         cpu_seconds=time.process_time() - cpu)  # fmt: skip
    if job.on_progress:
        job.on_progress(CloneProgress(1, 1, result.similarity, result.similarity, result.seconds, "done"))
    return voice, result
