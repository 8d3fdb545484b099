"""Qwen3-TTS clone prompts: ClonePrompt, its safetensors file, checking a reference, keeping one as a voice."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput, VoiceNotFound
from studio.systems.qwen3_tts.model import ENGINE, import_qwen_tts
from studio.voices.library import Voice, VoiceLibrary

if TYPE_CHECKING:
    from studio.systems.qwen3_tts.engine import Qwen3TTSEngine

PROMPT_FILE = "clone_prompt.safetensors"
PROMPT_FORMAT = "studio-qwen3-tts-clone-prompt"
PROMPT_VERSION = 1
MODES = ("icl", "xvector")
MIN_REFERENCE_SECONDS = 1.0
MAX_REFERENCE_SECONDS = 60.0


# ---- clone prompts --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClonePrompt:
    """A voice computed from one reference recording, reusable without the recording.

    `speaker_embedding` (D,) float32 is the x-vector of the reference; `ref_codes` (frames, 16) int64 are its speech
    codes (ICL mode only, None in x-vector mode) and `transcript` what it says (ICL mode only).
    """

    mode: str
    speaker_embedding: NDArray[np.float32]
    ref_codes: NDArray[np.int64] | None
    transcript: str | None
    model_version: str
    meta: dict[str, Any] = field(default_factory=dict)  # reference seconds, sample rate, audio hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClonePrompt):
            return NotImplemented
        mine, theirs = self.ref_codes, other.ref_codes
        codes_equal = (mine is None and theirs is None) or (
            mine is not None and theirs is not None and np.array_equal(mine, theirs)
        )
        return (
            self.mode == other.mode
            and self.transcript == other.transcript
            and self.model_version == other.model_version
            and self.meta == other.meta
            and self.speaker_embedding.dtype == other.speaker_embedding.dtype
            and np.array_equal(self.speaker_embedding, other.speaker_embedding)
            and codes_equal
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable


def save_clone_prompt(prompt: ClonePrompt, path: Path | str) -> Path:
    """Write a prompt as safetensors (tensors + a JSON "studio" metadata entry); atomic (temp file + rename)."""
    from safetensors.numpy import save_file

    path = Path(path)
    tensors: dict[str, NDArray[Any]] = {"speaker_embedding": np.ascontiguousarray(prompt.speaker_embedding)}
    if prompt.ref_codes is not None:
        tensors["ref_codes"] = np.ascontiguousarray(prompt.ref_codes)
    meta = {
        "format": PROMPT_FORMAT,
        "version": PROMPT_VERSION,
        "mode": prompt.mode,
        "transcript": prompt.transcript,
        "model_version": prompt.model_version,
        "meta": prompt.meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"studio": json.dumps(meta, ensure_ascii=False)})
    tmp.replace(path)
    return path


def load_clone_prompt(path: Path | str) -> ClonePrompt:
    """Read a prompt written by `save_clone_prompt`; InvalidInput naming what is wrong with a damaged file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise VoiceNotFound(f"The clone prompt {path.name} is missing from {path.parent}.")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("studio") or "{}")
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, ValueError) as exc:
        raise InvalidInput(f"{path.name} is not a readable clone prompt ({exc}).") from exc
    if not isinstance(meta, dict) or meta.get("format") != PROMPT_FORMAT:
        raise InvalidInput(f"{path.name} is not a Studio Qwen3-TTS clone prompt (no '{PROMPT_FORMAT}' metadata).")
    if int(meta.get("version") or 0) > PROMPT_VERSION:
        raise InvalidInput(f"{path.name} was written by a newer Studio (format {meta.get('version')}); update Studio.")
    mode = meta.get("mode")
    embedding = tensors.get("speaker_embedding")
    codes = tensors.get("ref_codes")
    if mode not in MODES or embedding is None or embedding.ndim != 1:
        shape = getattr(embedding, "shape", None)
        raise InvalidInput(f"{path.name} is damaged: mode {mode!r}, speaker embedding shape {shape}.")
    if mode == "icl" and (codes is None or codes.ndim != 2 or not meta.get("transcript")):
        raise InvalidInput(f"{path.name} is damaged: an ICL prompt needs reference codes and a transcript.")
    return ClonePrompt(
        mode=str(mode),
        speaker_embedding=np.asarray(embedding, dtype=np.float32),
        ref_codes=None if codes is None else np.asarray(codes, dtype=np.int64),
        transcript=meta.get("transcript"),
        model_version=str(meta.get("model_version") or ""),
        meta=dict(meta.get("meta") or {}),
    )


def check_reference(samples: Any, sample_rate: int, transcript: str | None, mode: str) -> NDArray[np.float32]:
    """Mono float32 samples of a usable reference, or InvalidInput saying what to change."""
    if mode not in MODES:
        raise InvalidInput(f"Clone mode must be 'icl' (reference audio + its transcript) or 'xvector' (speaker "
                           f"embedding only), not {mode!r}.")  # fmt: skip
    if mode == "icl" and not (transcript or "").strip():
        raise InvalidInput("ICL cloning needs the transcript of the reference recording: type exactly what is said, "
                           "or use mode 'xvector', which needs none.")  # fmt: skip
    if not isinstance(sample_rate, int | np.integer) or sample_rate < 8000:
        raise InvalidInput(f"The reference sample rate is {sample_rate!r}; give the recording's rate (8000 Hz or "
                           "more).")  # fmt: skip
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:  # (frames, channels), as soundfile reads it
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0).astype(np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise InvalidInput("The reference recording is empty; give 3 to 30 s of clean speech.")
    if not np.isfinite(audio).all():
        raise InvalidInput("The reference recording holds invalid samples (NaN or infinity); export it again.")
    seconds = audio.size / float(sample_rate)
    if seconds < MIN_REFERENCE_SECONDS:
        raise InvalidInput(f"The reference recording is {seconds:.2f} s; use 3 to 30 s of clean speech.")
    if seconds > MAX_REFERENCE_SECONDS:
        raise InvalidInput(f"The reference recording is {seconds:.0f} s; use 3 to 30 s of clean speech "
                           f"(at most {MAX_REFERENCE_SECONDS:.0f} s).")  # fmt: skip
    if float(np.max(np.abs(audio))) < 1e-4:
        raise InvalidInput("The reference recording is silent; give 3 to 30 s of clean speech.")
    return audio


def prompt_item(prompt: ClonePrompt, speaker_dim: int) -> Any:
    """A clone prompt as qwen-tts's VoiceClonePromptItem, checked against the checkpoint's speaker dimension."""
    import torch

    qwen_tts = import_qwen_tts()
    if speaker_dim and prompt.speaker_embedding.shape[0] != speaker_dim:
        raise InvalidInput(f"This clone prompt has a {prompt.speaker_embedding.shape[0]}-value speaker embedding; "
                           f"the loaded checkpoint uses {speaker_dim}. Clone the voice again with it.")  # fmt: skip
    codes = None if prompt.ref_codes is None else torch.from_numpy(prompt.ref_codes.astype(np.int64))
    return qwen_tts.VoiceClonePromptItem(
        ref_code=codes,
        ref_spk_embedding=torch.from_numpy(prompt.speaker_embedding.astype(np.float32)),
        x_vector_only_mode=prompt.mode == "xvector",
        icl_mode=prompt.mode == "icl",
        ref_text=prompt.transcript,
    )


def xvector_prompt(speaker: Any, speaker_dim: int) -> ClonePrompt:
    """An x-vector prompt from a speaker embedding (a fine-tuned voice's); zeros (no conditioning) when None."""
    if speaker is None:
        embedding = np.zeros(speaker_dim, dtype=np.float32)
    else:
        embedding = np.asarray(speaker.detach().cpu() if hasattr(speaker, "detach") else speaker, np.float32)
    return ClonePrompt("xvector", embedding.reshape(-1), None, None, "", {})


def create_clone_voice(
    library: VoiceLibrary,
    engine: Qwen3TTSEngine,
    reference_samples: Any,
    sample_rate: int,
    transcript: str | None,
    mode: str,
    name: str,
    consent: bool,
    *,
    notes: str = "",
    source: dict[str, Any] | None = None,
    files: dict[str, Path] | None = None,
) -> Voice:
    """Compute a clone prompt from a reference recording and keep it as a library voice of this model version
    (`files`: more payload files kept with it, e.g. a designed voice's sample)."""
    if not consent:
        raise InvalidInput("Confirm that you have the speaker's permission to clone this voice.")
    from studio.voices.library import check_name

    check_name(name)  # before the (slow) prompt computation
    prompt = engine.clone_prompt(reference_samples, sample_rate, transcript, mode)
    with tempfile.TemporaryDirectory(prefix="qwen3-clone-") as tmp:
        path = save_clone_prompt(prompt, Path(tmp) / PROMPT_FILE)
        return library.add(
            name,
            ENGINE,
            files={"prompt": path, **(files or {})},
            source={
                "kind": "clone",
                "mode": mode,
                "model": engine.model_id,
                "sha256": prompt.meta.get("audio_sha256", ""),
                "seconds": prompt.meta.get("seconds"),
                **(source or {}),
            },
            model_version=engine.info.model_version,
            transcript=(transcript or "").strip(),
            consent=True,
            notes=notes,
        )
