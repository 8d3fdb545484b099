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
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import join, resample
from studio.audio.types import AudioResult
from studio.config import Settings
from studio.engines.base import DeviceReport, SynthParams, VoiceInfo
from studio.errors import EngineUnavailable, InvalidInput, ModelMissing, VoiceNotFound
from studio.hosting import gpu_function
from studio.systems.qwen3_tts.generate import max_new_tokens_for
from studio.systems.qwen3_tts.info import DESCRIBE, DESIGNED, KINDS, check_instructions, engine_info, list_voices
from studio.systems.qwen3_tts.model import (
    DEFAULT_MODEL,
    DESIGN_ENGINE,
    DESIGN_LABEL,
    DESIGN_MODEL,
    ENGINE,
    LABEL,
    SAMPLE_RATE,
    SUPPORTED_TYPES,
    ModelCard,
    download_command,
    import_qwen_tts,
    language_name,
    missing_files,
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
