"""Supertonic model pieces: the ONNX tensor contract, tts.json config, voice styles and the bare four-graph pipeline."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.errors import InvalidInput, ModelMissing, StudioError
from studio.systems.supertonic.text import length_to_mask

log = logging.getLogger(__name__)

GRAPHS = ("duration_predictor", "text_encoder", "vector_estimator", "vocoder")
CONFIG_FILE = "onnx/tts.json"
INDEXER_FILE = "onnx/unicode_indexer.json"
STYLES_DIR = "voice_styles"
PRESET_VOICES = ("F1", "F2", "F3", "F4", "F5", "M1", "M2", "M3", "M4", "M5")


def graph_file(graph: str) -> str:
    """Path of a graph inside a model folder (the Hugging Face repo layout)."""
    return f"onnx/{graph}.onnx"


MODEL_FILES: tuple[str, ...] = (
    *(graph_file(g) for g in GRAPHS),
    CONFIG_FILE,
    INDEXER_FILE,
    *(f"{STYLES_DIR}/{v}.json" for v in PRESET_VOICES),
)

# The published models' style shapes, for the contract below. A loaded model's own shapes are read from its graphs
# (or its preset style files), never assumed from these: `model_style_shapes`.
STYLE_TTL_SHAPE = (50, 256)  # per voice: 50 style tokens of 256 values for the text encoder and vector estimator
STYLE_DP_SHAPE = (8, 16)  # per voice: 8 style tokens of 16 values for the duration predictor
TEXT_EMB_DIM = 256


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type and shape (str = dynamic axis, int = fixed size)."""

    name: str
    dtype: str  # "int64" or "float32"
    shape: tuple[int | str, ...]


def _t(name: str, dtype: str, *shape: int | str) -> TensorSpec:
    return TensorSpec(name, dtype, tuple(shape))


# The contract of the published graphs, derived from the upstream reference pipeline (names, dtypes, ranks) and
# tts.json (latent channels = latent_dim 24 x chunk_compress_factor 6 = 144). Dynamic axis names are ours.
LATENT_CHANNELS = 144
CONTRACT: dict[str, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]] = {
    "duration_predictor": (
        (
            _t("text_ids", "int64", "batch", "text_len"),
            _t("style_dp", "float32", "batch", *STYLE_DP_SHAPE),
            _t("text_mask", "float32", "batch", 1, "text_len"),
        ),
        (_t("duration", "float32", "batch"),),  # seconds per item, at speed 1.0
    ),
    "text_encoder": (
        (
            _t("text_ids", "int64", "batch", "text_len"),
            _t("style_ttl", "float32", "batch", *STYLE_TTL_SHAPE),
            _t("text_mask", "float32", "batch", 1, "text_len"),
        ),
        (_t("text_emb", "float32", "batch", TEXT_EMB_DIM, "text_len"),),
    ),
    "vector_estimator": (
        (
            _t("noisy_latent", "float32", "batch", LATENT_CHANNELS, "latent_len"),
            _t("text_emb", "float32", "batch", TEXT_EMB_DIM, "text_len"),
            _t("style_ttl", "float32", "batch", *STYLE_TTL_SHAPE),
            _t("text_mask", "float32", "batch", 1, "text_len"),
            _t("latent_mask", "float32", "batch", 1, "latent_len"),
            _t("current_step", "float32", "batch"),
            _t("total_step", "float32", "batch"),
        ),
        (_t("denoised_latent", "float32", "batch", LATENT_CHANNELS, "latent_len"),),
    ),
    "vocoder": (
        (_t("latent", "float32", "batch", LATENT_CHANNELS, "latent_len"),),
        (_t("wav_tts", "float32", "batch", "wav_len"),),  # wav_len = latent_len * base_chunk_size * compress factor
    ),
}
_ORT_TYPES = {"tensor(int64)": "int64", "tensor(float)": "float32"}


def check_contract(graph: str, session: Any, path: Path | None = None) -> None:
    """Raise ModelMissing when a loaded session lacks the inputs/outputs the pipeline feeds and reads."""
    inputs, outputs = CONTRACT[graph]
    have = {i.name: _ORT_TYPES.get(i.type, i.type) for i in session.get_inputs()}
    have_out = {o.name for o in session.get_outputs()}
    want = {s.name: s.dtype for s in inputs}
    label = path.name if path else f"{graph}.onnx"
    if have != want or not {s.name for s in outputs} <= have_out:
        raise ModelMissing(
            f"'{label}' is not a Supertonic {graph.replace('_', ' ')}: it takes {sorted(have.items())} and gives "
            f"{sorted(have_out)}; expected {sorted(want.items())} -> {[s.name for s in outputs]}. "
            "Delete the model folder and download it again."
        )


@dataclass(frozen=True)
class SupertonicConfig:
    """The numbers from tts.json the pipeline needs, plus the unicode indexer that ships beside it."""

    sample_rate: int
    base_chunk_size: int
    chunk_compress_factor: int
    latent_dim: int
    tts_version: str = ""
    indexer: NDArray[np.int64] | None = field(default=None, repr=False, compare=False)

    @property
    def chunk_size(self) -> int:
        """Audio samples per latent frame."""
        return self.base_chunk_size * self.chunk_compress_factor

    @property
    def latent_channels(self) -> int:
        return self.latent_dim * self.chunk_compress_factor

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], indexer: NDArray[np.int64] | None = None) -> SupertonicConfig:
        try:
            return cls(
                sample_rate=int(cfg["ae"]["sample_rate"]),
                base_chunk_size=int(cfg["ae"]["base_chunk_size"]),
                chunk_compress_factor=int(cfg["ttl"]["chunk_compress_factor"]),
                latent_dim=int(cfg["ttl"]["latent_dim"]),
                tts_version=str(cfg.get("tts_version", "")),
                indexer=indexer,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelMissing(f"tts.json lacks a needed setting ({exc}); download the model again.") from exc

    @classmethod
    def load(cls, model_dir: Path) -> SupertonicConfig:
        """Read onnx/tts.json and onnx/unicode_indexer.json from a model folder."""
        cfg = _read_json(model_dir / CONFIG_FILE, "model config")
        indexer = _read_json(model_dir / INDEXER_FILE, "unicode indexer")
        if not isinstance(cfg, dict) or not isinstance(indexer, list):
            raise ModelMissing(f"{model_dir / CONFIG_FILE} or its unicode indexer has the wrong shape; download again.")
        return cls.from_dict(cfg, np.asarray(indexer, dtype=np.int64))

    def wav_lengths(self, durations: NDArray[np.float32]) -> NDArray[np.int64]:
        """Samples kept per item, as the reference trims them: int(sample_rate * duration.item()), in float64.
        float32 arithmetic gives one sample more for about 3% of durations (0.7 s: 30870 instead of 30869)."""
        return (np.asarray(durations, dtype=np.float32).astype(np.float64) * self.sample_rate).astype(np.int64)

    def latent_lengths(self, durations: NDArray[np.float32]) -> NDArray[np.int64]:
        """Latent frames per item: the wav length rounded up to whole chunks. The reference sizes the latent mask
        from float32 arithmetic (`duration * sample_rate` on the float32 durations), so this does too."""
        wav = (np.asarray(durations, dtype=np.float32) * np.float32(self.sample_rate)).astype(np.int64)
        return (wav + self.chunk_size - 1) // self.chunk_size


StyleShapes = tuple[tuple[int, ...], tuple[int, ...]]  # (style_ttl, style_dp) of one voice, batch axis included


def declared_style_shape(session: Any, name: str) -> tuple[int, ...] | None:
    """The shape of one voice's style input as a graph declares it ([batch, 50, 256] -> (1, 50, 256)); None when an
    axis past the batch is left open, or the session cannot say (a stand-in with only `run`)."""
    try:
        inputs = session.get_inputs()
    except AttributeError:
        return None
    for tensor in inputs:
        if tensor.name == name:
            dims = list(tensor.shape)[1:]
            fixed = bool(dims) and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims)
            return (1, *dims) if fixed else None
    return None


def model_style_shapes(sessions: Any, presets: dict[str, Style]) -> StyleShapes:
    """The shapes a voice style must have for these graphs: what the text encoder and the duration predictor declare,
    else the shapes of the model's first preset style file (the reference reads them from the file the same way)."""
    first = next(iter(presets.values()), None)
    ttl = declared_style_shape(sessions.text_encoder, "style_ttl") or (tuple(first.ttl.shape) if first else None)
    dp = declared_style_shape(sessions.duration_predictor, "style_dp") or (tuple(first.dp.shape) if first else None)
    if ttl is None or dp is None:
        raise ModelMissing("The Supertonic graphs do not say what shape a voice style has, and no preset style was "
                           "found to read it from; download the model again.")  # fmt: skip
    return ttl, dp


@dataclass(frozen=True, eq=False)
class Style:
    """One voice: style_ttl and style_dp, float32, in the shapes its file declares (the published models: [1, 50,
    256] and [1, 8, 16]); `check_fits` says whether they fit a model."""

    ttl: NDArray[np.float32]
    dp: NDArray[np.float32]
    engine: str = ""  # the model the style belongs to, when the file says so

    @classmethod
    def from_file(cls, path: Path, error: type[StudioError] = ModelMissing) -> Style:
        """Read a style file in the reference's layout; its tensors take the shapes its `dims` declare."""
        data = _read_json(path, "voice style", error)
        try:
            ttl = np.asarray(data["style_ttl"]["data"], dtype=np.float32).reshape(data["style_ttl"]["dims"])
            dp = np.asarray(data["style_dp"]["data"], dtype=np.float32).reshape(data["style_dp"]["dims"])
        except (KeyError, TypeError, ValueError) as exc:
            raise error(f"'{path.name}' is not a Supertonic voice style ({exc}); it needs style_ttl/style_dp.") from exc
        if not (np.isfinite(ttl).all() and np.isfinite(dp).all()):
            raise error(f"'{path.name}' contains NaN or infinite style values.")
        engine = data.get("engine", "") if isinstance(data, dict) else ""
        return cls(ttl, dp, str(engine))

    def check_fits(self, shapes: StyleShapes, where: str, model: str, error: type[StudioError], hint: str) -> None:
        """Raise `error` naming the file, the shapes it has and the shapes the model expects, unless they match."""
        wrong = [
            f"{name} is {tuple(have.shape)}, expected {tuple(want)}"
            for name, have, want in (("style_ttl", self.ttl, shapes[0]), ("style_dp", self.dp, shapes[1]))
            if tuple(have.shape) != tuple(want)
        ]
        if wrong:
            raise error(f"'{where}' does not fit {model}: its {'; its '.join(wrong)}. {hint}")

    def to_json(self, engine: str = "", metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """The reference's style file layout (dims, nested data, type), tagged with the engine it belongs to."""

        def tensor(x: NDArray[np.float32]) -> dict[str, Any]:
            return {"data": np.asarray(x, dtype=np.float32).tolist(), "dims": list(x.shape), "type": "float32"}

        out: dict[str, Any] = {"style_ttl": tensor(self.ttl), "style_dp": tensor(self.dp)}
        if engine or self.engine:
            out["engine"] = engine or self.engine
        if metadata:
            out["metadata"] = metadata
        return out


def _read_json(path: Path, what: str, error: type[StudioError] = ModelMissing) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"Supertonic {what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise error(f"'{path.name}' is not a valid {what} file ({exc}). Replace it (download it again).") from exc


@dataclass(frozen=True)
class SupertonicSessions:
    """The four ONNX Runtime sessions (or anything with the same `run`)."""

    duration_predictor: Any
    text_encoder: Any
    vector_estimator: Any
    vocoder: Any


@dataclass(frozen=True)
class RawInputs:
    """Everything the four graphs need for one batch, already validated and encoded."""

    text_ids: NDArray[np.int64]  # [B, T]
    text_mask: NDArray[np.float32]  # [B, 1, T]
    style_ttl: NDArray[np.float32]  # [B, 50, 256]
    style_dp: NDArray[np.float32]  # [B, 8, 16]
    steps: int
    speed: float


def noise_latent(
    rng: np.random.Generator | Sequence[np.random.Generator], channels: int, latent_lengths: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Gaussian noise [B, C, max len], zero beyond each item's length.

    One generator draws the whole batch at once, like the reference; one generator per item draws each item's own
    [C, len] block, so an item gets the same noise alone or in any batch (same seed, same audio).
    """
    width = int(latent_lengths.max()) if len(latent_lengths) else 0
    if isinstance(rng, np.random.Generator):
        out = rng.standard_normal((len(latent_lengths), channels, width), dtype=np.float32)
    else:
        out = np.zeros((len(latent_lengths), channels, width), dtype=np.float32)
        for i, (gen, n) in enumerate(zip(rng, latent_lengths, strict=True)):
            out[i, :, : int(n)] = gen.standard_normal((channels, int(n)), dtype=np.float32)
    return out


def predict_durations(sessions: SupertonicSessions, config: SupertonicConfig, inputs: RawInputs) -> NDArray[np.float32]:
    """Seconds per batch item at the asked speed (at least one latent frame)."""
    batch = len(inputs.text_ids)
    (duration,) = sessions.duration_predictor.run(
        ["duration"], {"text_ids": inputs.text_ids, "style_dp": inputs.style_dp, "text_mask": inputs.text_mask}
    )
    duration = np.asarray(duration, dtype=np.float32).reshape(batch) / np.float32(inputs.speed)
    if not np.isfinite(duration).all():
        raise StudioError(f"The duration predictor returned {duration.tolist()}; the model files may be damaged.")
    # A non-positive duration would give an empty latent; one latent frame is the shortest sound the vocoder makes.
    return np.maximum(duration, np.float32(config.chunk_size / config.sample_rate))


def run_raw(
    sessions: SupertonicSessions,
    config: SupertonicConfig,
    inputs: RawInputs,
    rng: np.random.Generator | Sequence[np.random.Generator] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The bare pipeline: the same four kinds of ORT calls the engine makes; returns (wav [B, N], seconds [B]).

    Also the baseline for measuring the engine's own overhead: `run_raw(engine.sessions, engine.config,
    engine.encode([text], voice, params))` against `engine.synthesize(text, voice, params)`.
    """
    rng = np.random.default_rng() if rng is None else rng
    batch = len(inputs.text_ids)
    duration = predict_durations(sessions, config, inputs)
    (text_emb,) = sessions.text_encoder.run(
        ["text_emb"], {"text_ids": inputs.text_ids, "style_ttl": inputs.style_ttl, "text_mask": inputs.text_mask}
    )
    latent_lengths = config.latent_lengths(duration)
    latent_mask = length_to_mask(latent_lengths)
    xt = noise_latent(rng, config.latent_channels, latent_lengths) * latent_mask
    total_step = np.full(batch, inputs.steps, dtype=np.float32)
    for step in range(inputs.steps):
        (xt,) = sessions.vector_estimator.run(
            ["denoised_latent"],
            {
                "noisy_latent": xt,
                "text_emb": text_emb,
                "style_ttl": inputs.style_ttl,
                "text_mask": inputs.text_mask,
                "latent_mask": latent_mask,
                "current_step": np.full(batch, step, dtype=np.float32),
                "total_step": total_step,
            },
        )
    (wav,) = sessions.vocoder.run(["wav_tts"], {"latent": xt})
    return np.asarray(wav, dtype=np.float32).reshape(batch, -1), duration


def check_speed(speed: float, low: float, high: float) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise InvalidInput(f"Speed must be a number between {low} and {high}; got {speed!r}.")
    if not low <= speed <= high:
        raise InvalidInput(f"Speed {speed} is out of range; use {low} to {high} (1.0 is normal pace).")
    return float(speed)


def check_steps(steps: int | float, low: int, high: int) -> int:
    if isinstance(steps, float) and steps.is_integer():  # sliders hand over 8.0
        steps = int(steps)
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise InvalidInput(f"Steps must be a whole number between {low} and {high}; got {steps!r}.")
    if not low <= steps <= high:
        raise InvalidInput(f"Steps {steps} is out of range; use {low} to {high} (more steps: cleaner, slower).")
    return int(steps)
