"""The Qwen3-TTS registry entries (`EngineSpec`): availability with the fix, info without loading, loading, downloads,
cheap voice listing and the checkpoints to choose from, for the qwen3_tts engine (Base, CustomVoice) and
qwen3_tts_design (VoiceDesign)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import studio.systems.qwen3_tts.compat as qwen3_compat
from studio.config import Settings
from studio.engines.base import Availability, EngineInfo, EngineSpec, ModelChoice, VoiceInfo
from studio.errors import InvalidInput, ModelMissing
from studio.systems.qwen3_tts.engine import Qwen3TTSEngine
from studio.systems.qwen3_tts.info import KINDS, engine_info, list_voices
from studio.systems.qwen3_tts.model import (
    DEFAULT_MODEL,
    DESIGN_ENGINE,
    DESIGN_LABEL,
    DESIGN_MODEL,
    ENGINE,
    INSTALL_FIX,
    KNOWN_MODELS,
    LABEL,
    PLACED,
    SUPPORTED_TYPES,
    ModelCard,
    chosen_model,
    find_model_dir,
    missing_choice,
    missing_files,
    missing_packages,
    model_label,
    model_name,
    present_models,
    short_name,
    user_model_dir,
)
from studio.voices.library import VoiceLibrary

CHOOSE = f"`python -m studio model {ENGINE} NAME` (or the Checkpoint picker of the Synthesize tab)"


def _check(settings: Settings, engine: str = ENGINE) -> Availability:
    label, model = (DESIGN_LABEL, DESIGN_MODEL) if engine == DESIGN_ENGINE else (LABEL, DEFAULT_MODEL)
    missing = missing_packages()
    if "qwen-tts" in missing:
        return Availability(False, "qwen-tts is not installed", INSTALL_FIX)
    if missing:
        return Availability(False, f"{label} needs {', '.join(missing)}", f"Run: pip install {' '.join(missing)}")
    problem = qwen3_compat.transformers_problem()
    if problem is not None:  # outside the tested range: refused here, never a traceback mid-generation
        reason, _, fix = problem.partition(" Fix: ")
        return Availability(False, reason, fix)
    if engine != DESIGN_ENGINE:
        try:
            chosen = chosen_model(settings)
        except InvalidInput as exc:
            return Availability(False, str(exc))
        present = present_models(settings)
        if chosen is not None and chosen[0] not in present:
            return Availability(False, missing_choice(settings, chosen[0], present), f"Choose with {CHOOSE}.")
    if find_model_dir(settings, engine) is None:
        manual = user_model_dir(settings, engine)
        if manual.is_dir() and any(manual.iterdir()):
            return Availability(False, f"The {label} model in {manual} is incomplete",
                                f"Missing there: {', '.join(missing_files(manual))}.")  # fmt: skip
        return Availability(False, f"{label} weights are not downloaded",
                            f"Run `python -m studio download {engine}` (the {model} weights), or place a "
                            f"downloaded model folder in {manual}.")  # fmt: skip
    return Availability(True)


def _card(settings: Settings, engine: str = ENGINE) -> ModelCard | None:
    folder = find_model_dir(settings, engine)
    if folder is None:
        return None
    try:
        return ModelCard.read(folder)
    except ModelMissing:
        return None


def _info(settings: Settings, engine: str = ENGINE) -> EngineInfo:
    return engine_info(_card(settings, engine), engine=engine)


def _load(settings: Settings, device: str, engine: str = ENGINE) -> Qwen3TTSEngine:
    folder = find_model_dir(settings, engine)
    if folder is None:
        raise ModelMissing(_check(settings, engine).message)
    kinds = ("voice_design",) if engine == DESIGN_ENGINE else SUPPORTED_TYPES
    loaded = Qwen3TTSEngine.load(folder, device=device, cache_dir=settings.cache_dir,
                                 library=VoiceLibrary(settings.voices_dir), kinds=kinds)  # fmt: skip
    if folder.parent.name == "snapshots":  # a Hub snapshot: name the repository, not the revision hash
        loaded.model_id = folder.parent.parent.name.removeprefix("models--").replace("--", "/")
    return loaded


def _list_voices(settings: Settings, engine: str = ENGINE) -> list[VoiceInfo]:
    card = _card(settings, engine)
    return [] if card is None else list_voices(card, VoiceLibrary(settings.voices_dir))


def _download(settings: Settings, on_progress: Callable[[float, str], None] | None = None,
              engine: str = ENGINE, model: str | None = None) -> Path:  # fmt: skip
    """Fetch a checkpoint into the cache: `model` (a Hub id or short name, qwen3_tts only), else the chosen one, else
    the default (0.6B Base; VoiceDesign for qwen3_tts_design). Downloading does not choose it."""
    from studio.engines.hub import resolve_model

    if engine == DESIGN_ENGINE:
        if model and model != DESIGN_MODEL:
            raise InvalidInput(f"{DESIGN_LABEL} has one checkpoint, {DESIGN_MODEL}.")
        repo = DESIGN_MODEL
    elif model:
        repo = model_name(model)
        if repo == PLACED:
            raise InvalidInput(f"'{PLACED}' is a folder placed by hand in {user_model_dir(settings)}; nothing to "
                               "download. Name a Hub checkpoint, e.g. 1.7b-customvoice.")  # fmt: skip
    else:
        try:
            chosen = chosen_model(settings)
        except InvalidInput:
            chosen = None
        repo = chosen[0] if chosen is not None and chosen[0] != PLACED else DEFAULT_MODEL
    return resolve_model(repo, settings.cache_dir, on_progress, offline=settings.offline or None)


def _models(settings: Settings) -> list[ModelChoice]:
    """Every checkpoint the qwen3_tts engine can run: the folder placed by hand (when there is one) and the four
    known Hub checkpoints, each with whether it is here and whether it is the one that runs."""
    present = present_models(settings)
    running = find_model_dir(settings)
    out = []
    for name in ([PLACED] if PLACED in present else []) + list(KNOWN_MODELS):
        label = model_label(name)
        if name == PLACED:
            try:
                card = ModelCard.read(present[PLACED])
                label += f": {card.size.replace('b', '.').upper()}B {KINDS.get(card.model_type, card.model_type)}"
            except ModelMissing:
                pass
        here = present.get(name)
        out.append(ModelChoice(name, short_name(name), label, here is not None,
                               running is not None and here == running))  # fmt: skip
    return out


def spec() -> EngineSpec:
    """The registry entry of Base and CustomVoice checkpoints (cloned voices, preset speakers)."""
    return EngineSpec(
        name=ENGINE,
        label=LABEL,
        info=_info,
        check=_check,
        load=_load,
        download=_download,
        list_voices=_list_voices,
        models=_models,
        model_name=model_name,
    )


def design_spec() -> EngineSpec:
    """The registry entry of the VoiceDesign checkpoint: one voice, the one its instructions describe."""
    return EngineSpec(
        name=DESIGN_ENGINE,
        label=DESIGN_LABEL,
        info=partial(_info, engine=DESIGN_ENGINE),
        check=partial(_check, engine=DESIGN_ENGINE),
        load=partial(_load, engine=DESIGN_ENGINE),
        download=partial(_download, engine=DESIGN_ENGINE),
        list_voices=partial(_list_voices, engine=DESIGN_ENGINE),
    )
