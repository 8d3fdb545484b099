"""Qwen3-TTS (the `qwen-tts` package, 12 Hz speech tokenizer): preset speakers and voice cloning from a recording.

A Base checkpoint speaks only with a clone prompt: ICL (the reference's speech codes and its transcript, closest to
the reference) or x-vector only (its speaker embedding: no transcript needed, looser likeness). A prompt is computed
once from a recording and kept as a library voice (`clone_prompt.safetensors`: tensors + JSON metadata), listed only
for checkpoints of the same model version. A CustomVoice checkpoint speaks with its preset speakers; the 1.7B ones
also follow instructions (`SynthParams.instruct`: emotion, tone, pace in words; qwen-tts drops them for 0.6B).

torch, transformers and qwen-tts load inside functions only (through `qwen3_compat`, which adapts qwen-tts 0.1.1 to
transformers 5); the clone-prompt files are read and written with numpy alone.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import studio.systems.qwen3_tts.compat as qwen3_compat
from studio.audio.dsp import join, resample
from studio.audio.types import AudioResult
from studio.config import Settings
from studio.engines.base import (
    Availability,
    DeviceReport,
    EngineInfo,
    EngineSpec,
    ModelChoice,
    SynthParams,
    VoiceInfo,
)
from studio.errors import EngineUnavailable, InvalidInput, ModelMissing, VoiceNotFound
from studio.hosting import gpu_function
from studio.systems.qwen3_tts.generate import max_new_tokens_for
from studio.systems.qwen3_tts.model import (
    CUSTOM_VOICE_MODEL,
    DEFAULT_MODEL,
    DESIGN_ENGINE,
    DESIGN_LABEL,
    DESIGN_MODEL,
    ENGINE,
    INSTALL_FIX,
    KNOWN_MODELS,
    LABEL,
    LANGUAGES,
    LICENSE,
    PLACED,
    SAMPLE_RATE,
    SUPPORTED_TYPES,
    ModelCard,
    chosen_model,
    download_command,
    find_model_dir,
    import_qwen_tts,
    language_name,
    missing_choice,
    missing_files,
    missing_packages,
    model_label,
    model_name,
    present_models,
    short_name,
    user_model_dir,
)
from studio.systems.qwen3_tts.prompts import (
    ClonePrompt,
    check_reference,
    load_clone_prompt,
    prompt_item,
    xvector_prompt,
)
from studio.systems.qwen3_tts.tuned import merged_speakers, read_trained_languages, speaking_language
from studio.text.chunking import chunk_text, split_sentences
from studio.voices.library import Voice, VoiceLibrary

log = logging.getLogger(__name__)

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


# ---- the engine -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PieceJob:
    """One piece of text to speak, as plain data (it crosses into spaces' GPU worker on ZeroGPU)."""

    text: str
    language: str
    frames: int
    seed: int | None
    speaker: str  # a preset speaker, or "" for a library voice
    voice_folder: str | None = None  # the library voice's folder
    non_streaming: bool = False  # the whole text before the first frame (the layout fine-tuned voices train on)
    instruct: str = ""  # how to speak, in words (a preset speaker of a checkpoint that takes instructions)
    design: bool = False  # a VoiceDesign checkpoint: the voice is `instruct`, a description


class Qwen3TTSEngine:
    """A loaded Qwen3-TTS checkpoint (qwen_tts.Qwen3TTSModel) with the voice library's clone prompts."""

    def __init__(
        self,
        model: Any,
        card: ModelCard,
        *,
        model_id: str,
        library: VoiceLibrary | None = None,
        device: DeviceReport | None = None,
    ) -> None:
        self.model, self.card, self.model_id, self.library = model, card, model_id, library
        self.device = device or DeviceReport()
        sample_rate = SAMPLE_RATE
        tokenizer = getattr(model.model, "speech_tokenizer", None)
        if tokenizer is not None:
            sample_rate = int(tokenizer.get_output_sample_rate())
        self.info = engine_info(card, sample_rate, DESIGN_ENGINE if card.model_type == "voice_design" else ENGINE)
        defaults = dict(getattr(model, "generate_defaults", None) or {})
        self.max_new_tokens = int(defaults.get("max_new_tokens") or 2048)
        self._lock = threading.Lock()  # one generation at a time (the global torch RNG is seeded per piece)
        self._prompts: dict[str, tuple[float, ClonePrompt]] = {}
        self.folder: Path | None = None  # the checkpoint folder (fine-tuned voices load their weights over a copy)
        self._tuned: dict[str, tuple[Any, Any]] = {}  # voice folder -> (model wrapper with its weights, prompt item)
        self.tuned_speakers: dict[str, list[str]] = {}  # a Studio CustomVoice export: its speaker's trained languages
        # the torch work of one piece and of one clone prompt, as ZeroGPU tasks on a ZeroGPU Space (made here, after
        # the model is loaded, so spaces' forked worker has it; their arguments and results are plain data)
        self._run_piece = gpu_function(self._piece)
        self._run_reference = gpu_function(self._reference_features)

    @classmethod
    def load(
        cls,
        model: str | Path = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        cache_dir: Path | None = None,
        library: VoiceLibrary | None = None,
        offline: bool | None = True,
        on_progress: Callable[[float, str], None] | None = None,
        kinds: tuple[str, ...] = SUPPORTED_TYPES,
    ) -> Qwen3TTSEngine:
        """Load a Hub id (from the cache in `cache_dir`; fetched only with offline=False) or a model folder whose
        checkpoint is one of `kinds` (`tts_model_type`: base, custom_voice, voice_design)."""
        qwen_tts = import_qwen_tts()
        import torch
        from huggingface_hub import constants

        from studio.engines.hub import resolve_model

        folder = resolve_model(model, cache_dir or Path(constants.HF_HUB_CACHE), on_progress, offline=offline)
        gone = missing_files(folder)
        if gone:
            raise ModelMissing(f"The Qwen3-TTS model folder {folder} is incomplete: {', '.join(gone)} missing.")
        card = ModelCard.read(folder)
        if card.model_type not in kinds:
            wanted = " or ".join(KINDS.get(kind, kind) for kind in kinds)
            raise EngineUnavailable(f"{folder.name} is a Qwen3-TTS '{card.model_type}' checkpoint; this engine runs "
                                    f"{wanted} checkpoints.")  # fmt: skip
        actual, reason = "cpu", ""
        if device in ("cuda", "gpu"):
            if torch.cuda.is_available():
                actual = "cuda"
            else:
                reason = "no CUDA device is visible to PyTorch"
        dtype = torch.bfloat16 if actual == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # transformers 5 on qwen-tts's v4-style configs
                loaded = qwen_tts.Qwen3TTSModel.from_pretrained(
                    str(folder), dtype=dtype, device_map="cuda:0" if actual == "cuda" else "cpu"
                )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelMissing(f"The Qwen3-TTS model in {folder} could not be loaded: {exc}") from exc
        loaded.model.eval()
        # qwen-tts drives `generate` with inputs_embeds only (by design): transformers' note about the repetition
        # penalty skipping the prompt would be repeated for every sentence
        warnings.filterwarnings("ignore", "Passing `repetition_penalty` with `inputs_embeds`", UserWarning)
        report = DeviceReport("cuda" if device in ("cuda", "gpu") else "cpu", actual, reason)
        engine = cls(loaded, card, model_id=str(model), library=library, device=report)
        engine.folder = folder
        engine.tuned_speakers = merged_speakers(folder)
        return engine

    # ---- voices ----
    def voices(self) -> list[VoiceInfo]:
        return list_voices(self.card, self.library)

    def for_user(self, settings: Settings) -> Qwen3TTSEngine:
        """This checkpoint for one user: the same loaded model, that user's clone voices."""
        view = copy.copy(self)
        view.library = VoiceLibrary(settings.voices_dir)
        return view

    def _library_voice(self, voice: str) -> Voice | None:
        if self.library is None or voice in self.card.speakers:
            return None
        try:
            entry = self.library.get(voice)
        except VoiceNotFound:
            return None
        if entry.engine != ENGINE:
            raise VoiceNotFound(f"Voice {entry.name} belongs to {entry.engine}, not {LABEL}.")
        if entry.model_version != self.info.model_version:
            raise VoiceNotFound(f"Voice {entry.name} was made for {entry.model_version or 'another model'}; the "
                                f"loaded {LABEL} checkpoint is {self.info.model_version}. Clone it again with this "
                                "checkpoint.")  # fmt: skip
        return entry

    def prompt_for(self, voice: Voice) -> ClonePrompt:
        """The voice's saved clone prompt (read once; read again if the file changed)."""
        path = voice.path("prompt")
        stamp = path.stat().st_mtime if path.is_file() else -1.0
        cached = self._prompts.get(str(path))  # by file: one user's voice id never reaches another's prompt
        if cached is not None and cached[0] == stamp:
            return cached[1]
        prompt = load_clone_prompt(path)
        if prompt.model_version and prompt.model_version != self.info.model_version:
            raise VoiceNotFound(f"Voice {voice.name}'s prompt was made for {prompt.model_version}, not "
                                f"{self.info.model_version}.")  # fmt: skip
        self._prompts[str(path)] = (stamp, prompt)
        return prompt

    def warm_up(self, voice: str) -> None:
        entry = self._library_voice(voice)
        if entry is not None:
            self.prompt_for(entry)

    # ---- clone prompts ----
    def clone_prompt(
        self, samples: Any, sample_rate: int, transcript: str | None = None, mode: str = "icl"
    ) -> ClonePrompt:
        """Compute a clone prompt from a reference recording (mono or (frames, channels) samples at `sample_rate`).

        mode "icl": reference codes + transcript (needs the transcript); "xvector": speaker embedding only.
        """
        if self.card.model_type != "base":
            kind = KINDS.get(self.card.model_type, self.card.model_type).split(" (")[0]
            raise InvalidInput(f"Only Base checkpoints clone voices; {self.model_id} is a {kind} checkpoint "
                               f"(choose a Base one: `python -m studio model {ENGINE} 0.6b-base`, after "
                               f"{download_command(DEFAULT_MODEL)} if it is not downloaded).")  # fmt: skip
        audio = check_reference(samples, int(sample_rate), transcript, mode)
        rate = int(self.model.model.speaker_encoder_sample_rate)
        if int(sample_rate) != rate:
            audio = resample(audio, int(sample_rate), rate)
        text = (transcript or "").strip() or None
        with self._lock:
            embedding, codes = self._run_reference(audio, rate, text if mode == "icl" else None, mode == "xvector")
        meta = {
            "seconds": round(audio.size / rate, 3),
            "sample_rate": rate,
            "audio_sha256": hashlib.sha256(audio.tobytes()).hexdigest(),
            "model": self.model_id,
        }
        return ClonePrompt(mode, embedding, codes, text if mode == "icl" else None, self.info.model_version, meta)

    def _reference_features(
        self, audio: NDArray[np.float32], rate: int, text: str | None, xvector_only: bool
    ) -> tuple[NDArray[np.float32], NDArray[np.int64] | None]:
        """The torch work of a clone prompt (inside spaces.GPU on ZeroGPU): speaker embedding and reference codes."""
        items = self.model.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=text,
                                                     x_vector_only_mode=xvector_only)  # fmt: skip
        item = items[0]
        embedding = item.ref_spk_embedding.detach().float().cpu().numpy().astype(np.float32)
        codes = None if item.ref_code is None else item.ref_code.detach().cpu().numpy().astype(np.int64)
        return embedding, codes

    def _prompt_item(self, prompt: ClonePrompt) -> Any:
        return prompt_item(prompt, self.card.speaker_dim)

    def _tuned_model(self, voice: Voice) -> tuple[Any, Any]:
        """A fine-tuned voice (Fine-tune tab, Qwen3-TTS backend): a second copy of the loaded checkpoint with the
        run's trained weights (LoRA merged in), conditioned on the mean speaker embedding of its training clips."""
        key = str(voice.folder)  # by folder: one user's voice id never reaches another's weights
        if key in self._tuned:
            return self._tuned[key]

        qwen_tts = import_qwen_tts()
        from studio.systems.qwen3_tts.tuned import load_tuned, read_speaker

        if self.folder is None:
            raise VoiceNotFound(f"{voice.name} is fine-tuned; load {LABEL} from a model folder to speak with it.")
        adapter = voice.path("adapter")
        dtype = next(self.model.model.parameters()).dtype
        device = "cuda:0" if self.device.actual == "cuda" else "cpu"
        wrapper = qwen_tts.Qwen3TTSModel.from_pretrained(str(self.folder), dtype=dtype, device_map=device)
        wrapper.model = load_tuned(wrapper.model, adapter).eval()
        item = self._prompt_item(xvector_prompt(read_speaker(adapter), self.card.speaker_dim))
        self._tuned[key] = (wrapper, item)
        return wrapper, item

    # ---- synthesis ----
    def _pieces(self, text: str, language: str | None) -> list[str]:
        base = (language or "en").lower().replace("_", "-").split("-")[0]
        pieces: list[str] = []
        for sentence in split_sentences(text, base) or [text]:
            pieces.extend(chunk_text(sentence, self.info.chunk_chars, base) or [sentence])
        return [p for p in pieces if p.strip()]

    def _generator(
        self, voice: str, language: str, instruct: str | None = None
    ) -> Callable[[str, int | None], NDArray[np.float32]]:
        """(text, seed) -> samples for `voice` (a preset speaker or a library clone voice), checked here; `instruct`
        (how to speak) only where the checkpoint takes instructions (`check_instructions`).

        A fine-tuned voice (a library voice with the run's weights, or the speaker of a CustomVoice export) is
        spoken exactly as it was trained: in the non-streaming layout (training/align.py) and with the language
        tags of its training sequences (`tuned.speaking_language`; a Studio dataset has no language: "auto")."""
        instruct = check_instructions(self.info, instruct)
        if self.card.model_type == "voice_design":
            return self._designer(voice, language, instruct)
        speaker = voice.lower()
        folder: str | None = None
        non_streaming = True  # generate_custom_voice's own default (upstream pairs it with its fine-tuning layout)
        if speaker in self.tuned_speakers:
            language = speaking_language(language, self.tuned_speakers[speaker])
        elif speaker not in self.card.speakers:
            entry = self._library_voice(voice)
            if entry is None:
                raise VoiceNotFound(_unknown_voice_message(voice, self.voices()))
            if self.card.model_type != "base":
                raise VoiceNotFound(f"Voice {entry.name} is a clone; the loaded CustomVoice checkpoint speaks only "
                                    "its preset speakers.")  # fmt: skip
            self._clone_inputs(entry)  # loads its prompt (or fine-tuned weights) here, once, not inside the GPU task
            speaker, folder = "", str(entry.folder)
            non_streaming = "adapter" in entry.payload  # a clone prompt: generate_voice_clone's default, streaming
            if non_streaming:
                language = speaking_language(language, read_trained_languages(entry.path("adapter")))

        def generate(piece: str, seed: int | None) -> NDArray[np.float32]:
            frames = max_new_tokens_for(piece, self.max_new_tokens)
            return self._run_piece(PieceJob(piece, language, frames, seed, speaker, folder, non_streaming, instruct))

        return generate

    def _designer(
        self, voice: str, language: str, description: str
    ) -> Callable[[str, int | None], NDArray[np.float32]]:
        """(text, seed) -> samples of a VoiceDesign checkpoint: its one voice, made from the description."""
        if voice != DESIGNED:
            raise VoiceNotFound(f"{DESIGN_LABEL} has one voice, {DESIGNED!r}: the one the instructions describe "
                                f"(not {voice!r}). Keep a designed voice in Voice Clone → Design a voice.")  # fmt: skip
        if not description:
            raise InvalidInput(f"{DESIGN_LABEL} needs a description of the voice. {DESCRIBE}")

        def generate(piece: str, seed: int | None) -> NDArray[np.float32]:
            frames = max_new_tokens_for(piece, self.max_new_tokens)
            # generate_voice_design's own default layout: non-streaming (the whole text before the first frame)
            return self._run_piece(PieceJob(piece, language, frames, seed, "", None, True, description, True))

        return generate

    def design_clip(self, text: str, description: str, language: str | None = None,
                    seed: int | None = 0) -> AudioResult:  # fmt: skip
        """`text` spoken whole (one piece, one voice) in the voice `description` describes: a designed voice's
        sample, and the reference its clone prompt is made from (`design.design_voice`)."""
        if self.card.model_type != "voice_design":
            raise InvalidInput(f"{self.model_id} is not a VoiceDesign checkpoint ({DESIGN_MODEL} is).")
        if not text.strip():
            raise InvalidInput("Type a sample sentence for the designed voice to say.")
        generate = self._designer(DESIGNED, language_name(language, self.card), " ".join(description.split()))
        with self._lock:
            samples = generate(" ".join(text.split()), seed)
        samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).astype(np.float32)
        return AudioResult(samples, self.info.sample_rate, self.device.actual, self.device.note)

    def _clone_inputs(self, entry: Voice) -> tuple[Any, Any]:
        """The model and qwen-tts prompt item a clone voice speaks with (a fine-tuned voice: its own weights)."""
        if "adapter" in entry.payload:
            return self._tuned_model(entry)
        return self.model, self._prompt_item(self.prompt_for(entry))

    def _piece(self, job: PieceJob) -> NDArray[np.float32]:
        """The torch work of one piece of text (inside spaces.GPU on ZeroGPU)."""
        import torch

        with torch.inference_mode():
            if job.seed is not None:
                torch.manual_seed(job.seed)
            if job.design:
                wavs, _ = self.model.generate_voice_design(text=job.text, instruct=job.instruct, language=job.language,
                                                           non_streaming_mode=True,
                                                           max_new_tokens=job.frames)  # fmt: skip
            elif job.speaker:
                wavs, _ = self.model.generate_custom_voice(text=job.text, speaker=job.speaker, language=job.language,
                                                           instruct=job.instruct or None,
                                                           non_streaming_mode=job.non_streaming,
                                                           max_new_tokens=job.frames)  # fmt: skip
            else:
                folder = Path(job.voice_folder or "")
                model, item = self._clone_inputs(VoiceLibrary(folder.parent).get(folder.name))
                wavs, _ = model.generate_voice_clone(text=job.text, language=job.language, voice_clone_prompt=[item],
                                                     non_streaming_mode=job.non_streaming,
                                                     max_new_tokens=job.frames)  # fmt: skip
        return np.asarray(wavs[0], dtype=np.float32)

    def stream(self, text: str, voice: str, params: SynthParams | None = None) -> Iterator[AudioResult]:
        """One AudioResult per sentence (long sentences in pieces of at most `chunk_chars`). qwen-tts 0.1.1 makes a
        piece's audio in one go, so a sentence is the streaming unit. `params.seed` makes each piece reproducible."""

        params = params or SynthParams()
        if not text.strip():
            raise InvalidInput("Type some text to speak.")
        language = language_name(params.language, self.card)
        generate = self._generator(voice, language, params.instruct)
        rate = self.info.sample_rate
        for index, piece in enumerate(self._pieces(text, params.language)):
            with self._lock:
                samples = generate(piece, None if params.seed is None else int(params.seed) + index)
            samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).astype(np.float32)
            yield AudioResult(samples, rate, self.device.actual, self.device.note)

    def raw_runner(self, text: str, voice: str, params: SynthParams) -> Callable[[], object]:
        """The bare model calls for `text` (voice, language and pieces prepared here, outside any timing)."""

        generate = self._generator(voice, language_name(params.language, self.card), params.instruct)
        pieces = self._pieces(text, params.language)

        def run() -> object:
            with self._lock:
                seed = None if params.seed is None else int(params.seed)
                return [generate(piece, seed) for piece in pieces]

        return run

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        parts = [r.samples for r in self.stream(text, voice, params)]
        rate = self.info.sample_rate
        return AudioResult(join(parts, rate, gap=0.15), rate, self.device.actual, self.device.note)


def _unknown_voice_message(voice: str, known: list[VoiceInfo]) -> str:
    names = ", ".join(v.id for v in known) or "none yet: clone one from a reference recording"
    return f"{LABEL} has no voice {voice!r} for this checkpoint (voices: {names})."


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


# ---- registry ---------------------------------------------------------------------------------------------------


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
