"""Speaker similarity: resemblyzer's speaker encoder (d-vectors) behind one thread-safe, once-per-process object,
and voice profiles (the mean of a speaker's clips). Used by training evaluation, voice cloning and the library."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from studio.audio.dsp import resample
from studio.errors import EngineUnavailable, InvalidInput

log = logging.getLogger(__name__)

ENCODER_RATE = 16000  # resemblyzer's speaker encoder was trained on 16 kHz audio
MIN_SPEECH_SECONDS = 0.5  # below this the encoder sees less than a third of one 1.6 s window: unreliable
SILENCE_PEAK = 10 ** (-60 / 20)  # a clip whose loudest sample is under -60 dBFS holds no speech


def is_silent(samples: NDArray[np.float32]) -> bool:
    return len(samples) == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK


def _import_resemblyzer() -> Any:
    """resemblyzer, importable even where setuptools no longer ships pkg_resources.

    webrtcvad 2.0.10 (resemblyzer's voice-activity detector) reads only its own version through
    `pkg_resources.get_distribution`, which setuptools 81+ removed; a stand-in answers that one call during the import
    and is taken out of sys.modules again, so no other package mistakes it for the real pkg_resources.
    """
    import importlib.util
    import warnings

    if importlib.util.find_spec("pkg_resources") is None and "webrtcvad" not in sys.modules:
        import importlib.metadata
        import types

        stub = types.ModuleType("pkg_resources")
        stub.get_distribution = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
            version=importlib.metadata.version(name)
        )
        sys.modules["pkg_resources"] = stub
        try:
            import webrtcvad  # noqa: F401
        except ImportError as exc:
            raise EngineUnavailable(f"Speaker similarity needs webrtcvad, which failed to import ({exc}).") from exc
        finally:
            if sys.modules.get("pkg_resources") is stub:
                del sys.modules["pkg_resources"]
    try:
        with warnings.catch_warnings():
            # resemblyzer 0.1.4 imports scipy.ndimage.morphology, deprecated but still working in SciPy 1.x
            warnings.simplefilter("ignore", DeprecationWarning)
            import resemblyzer
            import resemblyzer.audio
    except ImportError as exc:
        raise EngineUnavailable(
            f"Speaker similarity needs the resemblyzer package ({exc}); install it with `pip install resemblyzer`."
        ) from exc
    return resemblyzer


@dataclass
class SpeakerEncoder:
    """resemblyzer's bundled speaker encoder (a 3-layer LSTM, d-vectors of 256 values) on the CPU; thread-safe.

    Every forward pass runs on one worker thread of its own, which serializes callers and lets that thread use a
    single OpenMP thread: the LSTM steps through 160 frames with a barrier at each, so on a busy machine (Piper,
    Whisper or a training run next to it) two spinning threads made a 0.03 s embedding take 1 to 4 s.
    """

    model: Any
    _worker: ThreadPoolExecutor = field(init=False, repr=False)

    _shared: ClassVar[dict[str, SpeakerEncoder]] = {}
    _load_lock: ClassVar[threading.Lock] = threading.Lock()

    def __post_init__(self) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speaker-encoder")
        self._worker.submit(self._prepare_worker).result()

    def _prepare_worker(self) -> None:
        # The first pass initializes torch's per-thread OpenMP setting (which would undo a limit set before it) and
        # compiles librosa's numba kernels, so the first real embedding is not seconds slower than the rest.
        noise = np.random.default_rng(0).standard_normal(ENCODER_RATE * 2).astype(np.float32) * 0.01
        self.model.embed_utterance(noise)  # not zeros: an all-zero embedding divides by its norm of 0
        try:
            from threadpoolctl import threadpool_limits  # comes with resemblyzer (librosa -> scikit-learn)
        except ImportError:
            log.debug("threadpoolctl is missing: the speaker encoder uses torch's default thread count")
            return
        # omp_set_num_threads applies to the calling thread only: other torch users in the process keep theirs
        threadpool_limits(limits=1, user_api="openmp")

    @classmethod
    def load(cls, device: str = "cpu") -> SpeakerEncoder:
        """The one encoder per device: the weights are read once per process, however many evaluations run."""
        with cls._load_lock:
            if device not in cls._shared:
                resemblyzer = _import_resemblyzer()
                try:
                    model = resemblyzer.VoiceEncoder(device=device, verbose=False)
                except Exception as exc:  # missing pretrained.pt, an unknown device: say what to do
                    raise EngineUnavailable(
                        f"resemblyzer's speaker encoder could not load on {device!r} ({exc}); "
                        "reinstall resemblyzer (it ships pretrained.pt) or use device='cpu'."
                    ) from exc
                model.eval()
                cls._shared[device] = cls(model)
                log.info("Loaded the resemblyzer speaker encoder on %s", device)
            return cls._shared[device]

    def embed(self, samples: NDArray[np.float32], sample_rate: int) -> NDArray[np.float32]:
        """One utterance's speaker embedding (L2-normalized, 256 values)."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if sample_rate <= 0:
            raise InvalidInput(f"Sample rate is {sample_rate}; give the audio's real rate in Hz (e.g. 22050).")
        seconds = len(audio) / sample_rate
        if is_silent(audio):
            raise InvalidInput(
                f"The audio ({seconds:.2f} s) is silent; speaker similarity needs at least "
                f"{MIN_SPEECH_SECONDS} s of speech."
            )
        if seconds < MIN_SPEECH_SECONDS:
            raise InvalidInput(
                f"The audio is {seconds:.2f} s long; speaker similarity needs at least "
                f"{MIN_SPEECH_SECONDS} s of speech."
            )
        from resemblyzer import audio as rz_audio

        wav = resample(audio, sample_rate, ENCODER_RATE)
        # resemblyzer's preprocess_wav, split up: its volume boost can push peaks past full scale, and its VAD turns
        # samples into int16 without clipping, so overflowing samples would wrap around into loud clicks.
        wav = rz_audio.normalize_volume(wav, rz_audio.audio_norm_target_dBFS, increase_only=True)
        wav = np.clip(wav, -1.0, 1.0).astype(np.float32)
        speech = rz_audio.trim_long_silences(wav)
        speech_seconds = len(speech) / ENCODER_RATE
        if speech_seconds < MIN_SPEECH_SECONDS:
            raise InvalidInput(
                f"Only {speech_seconds:.2f} s of speech found in {seconds:.2f} s of audio; speaker similarity needs at "
                f"least {MIN_SPEECH_SECONDS} s of speech."
            )
        embedding = self._worker.submit(self.model.embed_utterance, speech).result()
        return np.asarray(embedding, dtype=np.float32)

    def embed_many(self, clips: Sequence[tuple[NDArray[np.float32], int]]) -> NDArray[np.float32]:
        """A voice profile: the mean of the clips' embeddings, L2-normalized."""
        if not clips:
            raise InvalidInput("No audio clips given; a voice profile needs at least one clip of speech.")
        return mean_profile([self.embed(samples, rate) for samples, rate in clips])

    @staticmethod
    def similarity(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
        """Cosine similarity of two embeddings (resemblyzer's are non-negative, so 0 to 1 in practice)."""
        va, vb = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
        if va.shape != vb.shape:
            raise InvalidInput(f"Embeddings differ in size ({va.size} and {vb.size}); compare ones from one encoder.")
        norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(np.dot(va, vb) / norm) if norm > 0 else 0.0


def mean_profile(embeddings: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
    """The L2-normalized mean of utterance embeddings (resemblyzer's embed_speaker does the same)."""
    if not embeddings:
        raise InvalidInput("No embeddings given; a voice profile needs at least one clip of speech.")
    mean = np.mean(np.stack([np.asarray(e, dtype=np.float32) for e in embeddings]), axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)
