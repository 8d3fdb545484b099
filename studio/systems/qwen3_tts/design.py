"""Qwen3-TTS "Voice Design then Clone" (the qwen-tts README): the VoiceDesign checkpoint speaks a sample sentence in
the voice a description asks for, then the Base checkpoint makes an ICL clone prompt of that clip and its text, kept
as a library voice: from then on the Base model speaks it like any cloned voice, the same voice every sentence."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from studio.errors import InvalidInput
from studio.systems.qwen3_tts.model import DEFAULT_MODEL, DESIGN_ENGINE, ENGINE
from studio.systems.qwen3_tts.prompts import create_clone_voice
from studio.voices.library import Voice, VoiceLibrary, check_name

if TYPE_CHECKING:
    from studio.audio.types import AudioResult
    from studio.systems.qwen3_tts.engine import Qwen3TTSEngine

# what a designed voice says for its sample (and its clone prompt): about ten seconds of plain, varied speech; the
# upstream example designs and clones with one sentence of its own (a reference of 3 to 30 s clones best)
SAMPLE_TEXT = (
    "Hello, it's lovely to meet you. I'll be reading for you today, so settle in, "
    "and let me know if I should slow down or speak up."
)
__all__ = ["DEFAULT_MODEL", "DESIGN_ENGINE", "ENGINE", "SAMPLE_TEXT", "check_design", "design_voice", "preview"]
MAX_DESCRIPTION = 1000  # characters
MAX_SAMPLE = 400


def check_design(description: str | None, text: str | None) -> tuple[str, str]:
    """The description and sample sentence, cleaned; InvalidInput saying what to write when one is unusable."""
    description = " ".join((description or "").split())
    text = " ".join((text or "").split()) or SAMPLE_TEXT
    if not description:
        raise InvalidInput("Describe the voice first, in words: e.g. 'a warm, low female voice, calm and unhurried, "
                           "with a slight British accent'.")  # fmt: skip
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"The description has {len(description):,} characters; keep it under {MAX_DESCRIPTION:,} "
                           "(a sentence or two about the voice: age, tone, pace, accent).")  # fmt: skip
    if len(text) > MAX_SAMPLE:
        raise InvalidInput(f"The sample sentence has {len(text):,} characters; keep it under {MAX_SAMPLE} (it is "
                           "spoken in one go and becomes the voice's reference).")  # fmt: skip
    return description, text


def preview(designer: Qwen3TTSEngine, description: str, text: str | None = None, language: str | None = None,
            seed: int | None = 0) -> AudioResult:  # fmt: skip
    """The sample sentence in the described voice (the same seed gives the same clip, the one `design_voice` keeps)."""
    description, text = check_design(description, text)
    return designer.design_clip(text, description, language, seed)


def design_voice(
    library: VoiceLibrary,
    designer: Qwen3TTSEngine,
    base: Qwen3TTSEngine,
    description: str,
    name: str,
    text: str | None = None,
    language: str | None = None,
    seed: int | None = 0,
) -> Voice:
    """Design a voice and keep it: the sample clip (`preview` with the same arguments), then an ICL clone prompt of
    it made with the Base checkpoint `base`, saved as a `qwen3_tts` library voice (the clip kept beside it)."""
    import soundfile as sf

    name = check_name(name)
    description, text = check_design(description, text)
    if base.card.model_type != "base":
        raise InvalidInput(f"A designed voice is kept as a clone prompt of a Qwen3-TTS Base checkpoint; the one "
                           f"that runs is {base.info.model_version}. Choose a Base checkpoint (`python -m studio model "
                           f"{ENGINE} 0.6b-base`), after `python -m studio download {ENGINE}` (the {DEFAULT_MODEL} "
                           "weights) if it is not downloaded.")  # fmt: skip
    clip = designer.design_clip(text, description, language, seed)
    source = {"kind": "design", "description": description, "designed_with": designer.model_id, "seed": seed,
              "language": language or "auto", "file": "sample.wav"}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="qwen3-design-") as tmp:
        sample = Path(tmp) / "sample.wav"
        sf.write(str(sample), clip.samples, clip.sample_rate, subtype="PCM_16")
        try:
            return create_clone_voice(library, base, clip.samples, clip.sample_rate, text, "icl", name, True,
                                      source=source, files={"sample": sample},
                                      notes=f"Designed: {description}")  # fmt: skip
        except InvalidInput as exc:  # the clip came out unusable (too short, silent): say so in design terms
            raise InvalidInput(
                f"The designed sample could not become a voice: {exc} Try another seed, a longer "
                "sample sentence or another description."
            ) from exc
