"""What a Qwen3-TTS checkpoint offers, known without loading it: its capabilities (`EngineInfo`), whether it follows
instructions, and the voices it lists (preset speakers, the library's clone voices of its model version, the one
voice of a VoiceDesign checkpoint). The engine and the registry entries (`specs`) both answer from here."""

from __future__ import annotations

from studio.engines.base import EngineInfo, VoiceInfo
from studio.errors import InvalidInput
from studio.systems.qwen3_tts.model import (
    CUSTOM_VOICE_MODEL,
    DESIGN_ENGINE,
    DESIGN_LABEL,
    ENGINE,
    LABEL,
    LANGUAGES,
    LICENSE,
    SAMPLE_RATE,
    ModelCard,
    download_command,
)
from studio.voices.library import VoiceLibrary

KINDS = {"base": "Base (voice cloning)", "custom_voice": "CustomVoice (preset speakers)",
         "voice_design": "VoiceDesign (a voice from a description)"}  # fmt: skip
DESIGNED = "designed"  # the one voice of a VoiceDesign checkpoint: the one its instructions describe
DESCRIBE = "Describe the voice in the instructions, e.g. 'a warm, low female voice, calm and unhurried'."

# CustomVoice preset speakers (the qwen-tts README): description, native language
SPEAKERS = {
    "vivian": ("Bright, slightly edgy young female voice", "zh"),
    "serena": ("Warm, gentle young female voice", "zh"),
    "uncle_fu": ("Seasoned male voice with a low, mellow timbre", "zh"),
    "dylan": ("Youthful Beijing male voice with a clear, natural timbre", "zh"),
    "eric": ("Lively Chengdu male voice with a slightly husky brightness", "zh"),
    "ryan": ("Dynamic male voice with strong rhythmic drive", "en"),
    "aiden": ("Sunny American male voice with a clear midrange", "en"),
    "ono_anna": ("Playful Japanese female voice with a light, nimble timbre", "ja"),
    "sohee": ("Warm Korean female voice with rich emotion", "ko"),
}


BASE_VERSION = "qwen3-tts-12hz-0b6-base-x1024"  # the default checkpoint's, before it is downloaded
DESIGN_VERSION = "qwen3-tts-12hz-1b7-voicedesign-x2048"


def takes_instructions(card: ModelCard | None) -> bool:
    """Whether a checkpoint follows instructions: VoiceDesign (they are the voice), CustomVoice except 0.6B
    (qwen-tts's generate_custom_voice drops them for tts_model_size 0b6, as the upstream README says: the 0.6B
    CustomVoice has no instruction control)."""
    if card is not None and card.model_type == "voice_design":
        return True
    return card is not None and card.model_type == "custom_voice" and card.size not in ("", "0b6")


def instructions_fix(card: ModelCard | None) -> str:
    if takes_instructions(card):
        return ""
    found = f"; the checkpoint found is {card.model_version}" if card else ""
    return (f"{LABEL} follows instructions with a 1.7B CustomVoice checkpoint ({CUSTOM_VOICE_MODEL}, preset "
            f"speakers: download it with {download_command(CUSTOM_VOICE_MODEL)} and choose it as the "
            f"checkpoint){found}.")  # fmt: skip


def check_instructions(info: EngineInfo, instruct: str | None) -> str:
    """The instructions to pass ("" for none), or InvalidInput when the checkpoint takes none."""
    instruct = " ".join((instruct or "").split())
    if instruct and not info.supports_instructions:
        raise InvalidInput(f"This {LABEL} checkpoint does not take instructions; leave them empty. "
                           f"{info.instructions_fix}")  # fmt: skip
    return instruct


def engine_info(card: ModelCard | None = None, sample_rate: int = SAMPLE_RATE, engine: str = ENGINE) -> EngineInfo:
    """What the engine can do with the checkpoint found (`engine`: qwen3_tts, or qwen3_tts_design for VoiceDesign,
    which takes instructions, needs them, and clones nothing)."""
    languages = card.languages if card else tuple(LANGUAGES)
    design = engine == DESIGN_ENGINE
    return EngineInfo(
        name=engine,
        label=DESIGN_LABEL if design else LABEL,
        sample_rate=sample_rate,
        languages=languages,
        default_language="en" if "en" in languages else languages[0],
        supports_speed=False,
        supports_clone=not design and (card is None or card.model_type == "base"),
        max_chars=5000,
        chunk_chars=200,
        model_version=card.model_version if card else (DESIGN_VERSION if design else BASE_VERSION),
        license=LICENSE,
        supports_instructions=design or takes_instructions(card),
        instructions_required=design,
        instructions_fix="" if design else instructions_fix(card),
    )


def list_voices(card: ModelCard, library: VoiceLibrary | None) -> list[VoiceInfo]:
    """Preset speakers (CustomVoice), the library's clone voices made for this model version (Base), or the one
    voice of a VoiceDesign checkpoint (the one its instructions describe)."""
    if card.model_type == "voice_design":
        return [VoiceInfo(DESIGNED, "Designed from the instructions", card.languages, "preset",
                          "the voice the instructions describe; keep one in Voice Clone → Design a voice")]  # fmt: skip
    voices = []
    for speaker in card.speakers:
        description, native = SPEAKERS.get(speaker, ("preset speaker", ""))
        label = speaker.replace("_", " ").title()
        voices.append(VoiceInfo(speaker, label, card.languages, "preset", f"{description} (native: {native or '?'})"))
    if library is not None and card.model_type == "base":
        version = card.model_version
        for v in library.all(ENGINE):
            if v.model_version == version:
                mode = v.source.get("mode", "clone")
                made = "designed" if v.source.get("kind") == "design" else "cloned"
                voices.append(VoiceInfo(v.id, v.name, card.languages, "library", f"{made} ({mode})"))
    return voices
