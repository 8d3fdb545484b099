"""smalltts cloning: the reference recording encoded once by the codec encoder into latents, kept as a library voice
with its transcript and speaking rate, then measured like every clone (engines/cloning.py)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import studio.systems.smalltts.model as m
from studio.engines.base import SynthParams
from studio.engines.cloning import SIMILARITY_TEXT, CloneJob, CloneProgress, CloneResult
from studio.errors import InvalidInput
from studio.systems.smalltts.engine import speaking_rate
from studio.voices.library import Voice

METHOD = "latents"


def check(settings: Any, mode: str = "") -> None:
    if mode not in ("", METHOD, "icl"):  # "icl" is the service's default mode name; smalltts has one method
        raise InvalidInput(f"smalltts clones one way (the recording's codec latents); not {mode!r}.")


def clone_voice(job: CloneJob) -> tuple[Voice, CloneResult]:
    check(job.settings, job.mode)
    ref, encoder = job.reference, job.encoder
    loaded: Any = job.loaded  # a SmallTTSEngine
    if ref.sample_rate != m.SAMPLE_RATE:
        raise InvalidInput(f"smalltts needs the recording at {m.SAMPLE_RATE} Hz; it came at {ref.sample_rate} Hz.")
    started, cpu = time.monotonic(), time.process_time()
    if job.on_progress:
        job.on_progress(CloneProgress(0, 2, 0.0, 0.0, 0.0, "encoding the recording"))
    latents = m.encode_reference(loaded.sessions, ref.samples)
    rate = speaking_rate(ref.transcript, ref.seconds)
    with tempfile.TemporaryDirectory(prefix="smalltts-clone-") as tmp:
        path = Path(tmp) / "latents.npy"
        np.save(path, latents.astype(np.float32), allow_pickle=False)
        voice = job.library.add(
            job.name,
            m.ENGINE,
            files={"latents": path},
            source={
                "kind": "clone",
                "method": METHOD,
                "file": ref.source_name,
                "sha256": ref.sha256,
                "seconds": round(ref.seconds, 2),
                "frames": int(latents.shape[0]),
                **({"seconds_per_phone": round(rate, 4)} if rate is not None else {}),
            },
            model_version=loaded.info.model_version,
            transcript=ref.transcript.strip(),
            consent=True,
        )
    if job.on_progress:
        job.on_progress(CloneProgress(1, 2, 0.0, 0.0, time.monotonic() - started, "measuring the likeness"))
    try:
        spoken = loaded.synthesize(SIMILARITY_TEXT, voice.id, SynthParams(seed=0))
        similarity: float | None = encoder.similarity(encoder.embed(spoken.samples, spoken.sample_rate),
                                                      encoder.embed(ref.samples, ref.sample_rate))  # fmt: skip
        notes = "" if rate is not None else "No transcript: lengths are estimated at an average speaking rate."
    except InvalidInput as exc:
        similarity, notes = None, f"Similarity not measured: {exc}"
    voice = job.library.update(voice.id, similarity=None if similarity is None else round(similarity, 4),
                               notes=notes)  # fmt: skip
    seconds = time.monotonic() - started
    result = CloneResult(style=None, similarity=similarity if similarity is not None else float("nan"),
                         start_voice="", start_similarity=float("nan"), method=METHOD, iterations=1,
                         stopped="finished", seconds=seconds, cpu_seconds=time.process_time() - cpu)  # fmt: skip
    if job.on_progress:
        job.on_progress(CloneProgress(2, 2, result.similarity, result.similarity, seconds, "done"))
    return voice, result
