"""KaniTTS (LFM2 over NanoCodec tokens): base model + LoRA adapter or a merged model; NeMo's NanoCodec makes audio."""

from __future__ import annotations

import copy
import importlib.util
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import join
from studio.audio.types import AudioResult
from studio.config import Settings
from studio.engines.base import Availability, DeviceReport, EngineInfo, EngineSpec, SynthParams, VoiceInfo
from studio.errors import EngineUnavailable, InvalidInput, ModelMissing, VoiceNotFound
from studio.hosting import gpu_function
from studio.systems.kani.layout import CODEC_MODEL, CODEC_SAMPLE_RATE, TokenLayout
from studio.text.chunking import split_sentences
from studio.voices.library import Voice, VoiceLibrary

log = logging.getLogger(__name__)

ENGINE = "kani"
NEMO_FIX = "Install the optional extra: pip install 'studio-voice[nemo]' (NVIDIA NeMo, Linux)."


def nemo_installed() -> bool:
    return importlib.util.find_spec("nemo") is not None


def kani_info() -> EngineInfo:
    return EngineInfo(
        name=ENGINE,
        label="KaniTTS (fine-tuned)",
        sample_rate=CODEC_SAMPLE_RATE,
        languages=("en",),
        default_language="en",
        supports_speed=False,
        max_chars=1000,
        chunk_chars=200,
        model_version="kani-tts-lora",
        license="KaniTTS base models: Apache-2.0; NanoCodec: NVIDIA Open Model License",
    )


@dataclass
class GenerationSettings:
    """Sampling as the KaniTTS pipeline's `config/inference_config.yaml` (docs/upstream.md)."""

    max_new_tokens: int = 1200
    temperature: float = 0.6
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    do_sample: bool = True


class KaniModel:
    """A loaded causal LM (base + adapter, or merged) with its tokenizer and layout; text -> NanoCodec codes."""

    def __init__(self, model: Any, tokenizer: Any, layout: TokenLayout, speaker: str | None = None) -> None:
        self.model, self.tokenizer, self.layout, self.speaker = model, tokenizer, layout, speaker
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        base_model: str | Path,
        adapter: str | Path | None = None,
        device: str = "cpu",
        speaker: str | None = None,
    ) -> KaniModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = Path(adapter) if adapter else Path(base_model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                str(source if (source / "tokenizer.json").is_file() else base_model)
            )
            model: Any = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
            if adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(adapter))
        except (OSError, ValueError) as exc:
            raise ModelMissing(
                f"The KaniTTS model {base_model} (adapter {adapter}) could not be loaded: {exc}"
            ) from exc
        model.eval()
        if device == "cuda" and torch.cuda.is_available():
            model.to("cuda")
        layout = TokenLayout.read(source, base_model)
        return cls(model, tokenizer, layout, speaker)

    def generate_tokens(
        self, text: str, settings: GenerationSettings | None = None, seed: int | None = None
    ) -> list[int]:
        import torch

        settings = settings or GenerationSettings()
        if not text.strip():
            raise InvalidInput("Type some text to speak.")
        text_ids = self.tokenizer.encode(self.layout.prompt_text(text, self.speaker), add_special_tokens=True)
        prompt = self.layout.prompt_ids(list(text_ids))
        device = next(self.model.parameters()).device
        ids = torch.tensor([prompt], dtype=torch.long, device=device)
        with self._lock, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=settings.max_new_tokens,
                do_sample=settings.do_sample,
                temperature=settings.temperature if settings.do_sample else None,
                top_p=settings.top_p if settings.do_sample else None,
                repetition_penalty=settings.repetition_penalty,
                eos_token_id=self.layout.end_of_speech,
                pad_token_id=self.layout.pad,
            )
        return [int(t) for t in out[0, len(prompt) :].tolist()]

    def generate_codes(
        self, text: str, settings: GenerationSettings | None = None, seed: int | None = None
    ) -> NDArray[np.int64]:
        """[4, frames] NanoCodec codes for `text` (empty when the model produced no audio tokens)."""
        return self.layout.tokens_to_codes(self.generate_tokens(text, settings, seed))


class NanoCodec:
    """NeMo's NanoCodec decoder (22.05 kHz, 12.5 frames/s): codes -> waveform. Needs the optional NeMo extra."""

    def __init__(self, model: Any, device: str) -> None:
        self.model, self.device = model, device

    @classmethod
    def load(cls, device: str = "cpu", name: str = CODEC_MODEL) -> NanoCodec:
        if not nemo_installed():
            raise EngineUnavailable(f"Turning KaniTTS tokens into audio needs NVIDIA NeMo's NanoCodec. {NEMO_FIX}")
        from nemo.collections.tts.models import AudioCodecModel

        model = AudioCodecModel.from_pretrained(name).eval()
        model.to(device)
        return cls(model, device)

    def decode(self, codes: NDArray[np.int64]) -> NDArray[np.float32]:
        import torch

        if codes.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        tokens = torch.from_numpy(codes).unsqueeze(0).to(self.device)
        length = torch.tensor([codes.shape[1]], device=self.device)
        with torch.inference_mode():
            audio, _ = self.model.decode(tokens=tokens, tokens_len=length)
        return np.asarray(audio.cpu().numpy().squeeze(), dtype=np.float32)

    def encode(self, samples: NDArray[np.float32]) -> NDArray[np.int64]:
        """22.05 kHz mono -> [4, frames] codes (for building training data)."""
        import torch

        audio = torch.from_numpy(np.asarray(samples, dtype=np.float32)).unsqueeze(0).to(self.device)
        length = torch.tensor([audio.shape[1]], device=self.device)
        with torch.inference_mode():
            tokens, tokens_len = self.model.encode(audio=audio, audio_len=length)
        return np.asarray(tokens[0, :, : int(tokens_len[0])].cpu().numpy(), dtype=np.int64)


class KaniEngine:
    """Voices from the library (fine-tuned adapters or merged models), each loaded on first use."""

    def __init__(self, library: VoiceLibrary, device: str = "cpu", codec: NanoCodec | None = None) -> None:
        self.library, self.info = library, kani_info()
        self.device = DeviceReport(requested=device, actual=device)
        self._codec = codec
        self._models: dict[str, KaniModel] = {}
        self._lock = threading.Lock()
        # one sentence's torch work as a ZeroGPU task on a ZeroGPU Space (plain-data arguments and result)
        self._run_sentence = gpu_function(self._sentence)

    @classmethod
    def load(cls, settings: Settings, device: str = "cpu") -> KaniEngine:
        import torch

        actual = "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"
        engine = cls(VoiceLibrary(settings.voices_dir), actual)
        if actual != device:
            engine.device = DeviceReport(device, actual, "no CUDA device is visible to PyTorch")
        return engine

    def voices(self) -> list[VoiceInfo]:
        return [_voice_info(v) for v in self.library.all(ENGINE)]

    def for_user(self, settings: Settings) -> KaniEngine:
        """This engine for one user: that user's fine-tuned voices, sharing the models already loaded."""
        view = copy.copy(self)
        view.library = VoiceLibrary(settings.voices_dir)
        return view

    def model(self, voice: str) -> KaniModel:
        entry = self.library.get(voice)  # always through this user's library
        if entry.engine != ENGINE:
            raise VoiceNotFound(f"Voice {voice} belongs to {entry.engine}, not KaniTTS.")
        return self._model_of(entry)

    def _model_of(self, entry: Voice) -> KaniModel:
        key = str(entry.folder)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_voice_model(entry, self.device.actual)
            return self._models[key]

    def codec(self) -> NanoCodec:
        with self._lock:
            if self._codec is None:
                self._codec = NanoCodec.load(self.device.actual)
            return self._codec

    def stream(self, text: str, voice: str, params: SynthParams | None = None) -> Iterator[AudioResult]:
        params = params or SynthParams()
        entry = self.library.get(voice)  # checked and loaded here, before any GPU task
        if entry.engine != ENGINE:
            raise VoiceNotFound(f"Voice {voice} belongs to {entry.engine}, not KaniTTS.")
        self._model_of(entry)
        self.codec()
        for sentence in split_sentences(text) or [text]:
            yield AudioResult(self._run_sentence(str(entry.folder), sentence, params.seed), CODEC_SAMPLE_RATE)

    def _sentence(self, folder: str, sentence: str, seed: int | None) -> Any:
        """The torch work of one sentence (inside spaces.GPU on ZeroGPU): tokens, then NanoCodec audio."""
        path = Path(folder)
        model = self._model_of(VoiceLibrary(path.parent).get(path.name))
        return self.codec().decode(model.generate_codes(sentence, seed=seed))

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        parts = [r.samples for r in self.stream(text, voice, params)]
        return AudioResult(join(parts, CODEC_SAMPLE_RATE, gap=0.15), CODEC_SAMPLE_RATE)


def load_voice_model(voice: Voice, device: str = "cpu") -> KaniModel:
    """A library voice: {"model": merged folder} or {"base_model": id or folder, "adapter": folder}."""
    speaker = voice.payload.get("speaker") or None
    if voice.payload.get("model"):
        return KaniModel.load(voice.path("model"), None, device, speaker)
    local = voice.payload.get("base_model_path")
    base = local if local and Path(local).is_dir() else str(voice.payload["base_model"])
    return KaniModel.load(base, voice.path("adapter"), device, speaker)


def _voice_info(voice: Voice) -> VoiceInfo:
    kind = "merged model" if voice.payload.get("model") else "LoRA adapter"
    return VoiceInfo(
        voice.id, voice.name, ("en",), "library", f"fine-tuned ({kind}) from run {voice.source.get('run', '?')}"
    )


def _check(settings: Settings) -> Availability:
    for module, package in (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft")):
        if importlib.util.find_spec(module) is None:
            return Availability(False, f"{package} is not installed.", f"Run: pip install {package}")
    if not VoiceLibrary(settings.voices_dir).all(ENGINE):
        return Availability(
            False, "No fine-tuned KaniTTS voices yet.", "Train one in the Fine-tune tab and press Use in Synthesize."
        )
    if not nemo_installed():
        return Availability(False, "KaniTTS voices need NVIDIA NeMo's NanoCodec to make audio.", NEMO_FIX)
    return Availability(True)


SPEC = EngineSpec(
    name=ENGINE,
    label="KaniTTS (fine-tuned)",
    info=lambda settings: kani_info(),
    check=_check,
    load=KaniEngine.load,
    list_voices=lambda settings: [_voice_info(v) for v in VoiceLibrary(settings.voices_dir).all(ENGINE)],
)
