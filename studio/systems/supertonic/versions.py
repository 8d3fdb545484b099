"""The published Supertonic models (Supertonic 2 and 3: repository, revision, languages, defaults) and the runtimes
they run on (ONNX Runtime, PyTorch), which together name an engine: supertonic2, supertonic3_torch."""

from __future__ import annotations

from dataclasses import dataclass

from studio.errors import InvalidInput
from studio.systems.supertonic.text import V2_LANGUAGES, V3_LANGUAGES

ONNX, TORCH = "onnx", "torch"  # the runtimes: ONNX Runtime (default), PyTorch (the graphs converted by onnx2torch)
RUNTIME_LABELS = {ONNX: "", TORCH: " (PyTorch)"}


@dataclass(frozen=True)
class SupertonicVersion:
    """One published Supertonic model: where its files live and how the reference runs it."""

    name: str
    label: str
    repo_id: str
    revision: str  # a Hub commit, so a download is reproducible
    folder: str  # settings.home / "models" / folder takes weights placed by hand
    languages: tuple[str, ...]
    default_steps: int
    default_speed: float
    tts_version: str  # tts.json's tts_version at `revision`
    download_mb: int
    sizes: tuple[tuple[str, int], ...] = ()  # bytes of the big files at `revision`, to weight download progress


SUPERTONIC2 = SupertonicVersion(
    "supertonic2", "Supertonic 2", "Supertone/supertonic-2", "75e6727618a02f323c720cba9478152d4bc16ca4",
    "supertonic-2", V2_LANGUAGES, default_steps=5, default_speed=1.05, tts_version="v1.6.0", download_mb=268,
    sizes=(("onnx/duration_predictor.onnx", 1_521_526), ("onnx/text_encoder.onnx", 27_431_318),
           ("onnx/vector_estimator.onnx", 132_471_364), ("onnx/vocoder.onnx", 101_405_066),
           ("onnx/unicode_indexer.json", 262_196)),
)  # fmt: skip
SUPERTONIC3 = SupertonicVersion(
    "supertonic3", "Supertonic 3", "Supertone/supertonic-3", "724fb5abbf5502583fb520898d45929e62f02c0b",
    "supertonic-3", V3_LANGUAGES, default_steps=8, default_speed=1.05, tts_version="v1.7.3", download_mb=400,
    sizes=(("onnx/duration_predictor.onnx", 3_700_147), ("onnx/text_encoder.onnx", 36_416_150),
           ("onnx/vector_estimator.onnx", 256_534_781), ("onnx/vocoder.onnx", 101_424_195),
           ("onnx/unicode_indexer.json", 277_676)),
)  # fmt: skip
VERSIONS = {v.name: v for v in (SUPERTONIC2, SUPERTONIC3)}


def _version(version: SupertonicVersion | str) -> SupertonicVersion:
    if isinstance(version, SupertonicVersion):
        return version
    try:
        return VERSIONS[version]
    except KeyError:
        raise InvalidInput(f"Unknown Supertonic version '{version}'. Known: {', '.join(VERSIONS)}.") from None


def _guess_version(tts_version: str) -> SupertonicVersion:
    """tts.json v1.6.x is Supertonic 2; v1.7 and later are Supertonic 3 (31 languages)."""
    try:
        major, minor = (int(p) for p in tts_version.lstrip("v").split(".")[:2])
    except ValueError:
        return SUPERTONIC3
    return SUPERTONIC2 if (major, minor) < (1, 7) else SUPERTONIC3


def engine_name(version: SupertonicVersion, runtime: str = ONNX) -> str:
    """supertonic2 on ONNX Runtime, supertonic2_torch on PyTorch: the same model, voices and text pipeline."""
    return version.name if runtime == ONNX else f"{version.name}_{runtime}"


def engine_label(version: SupertonicVersion, runtime: str = ONNX) -> str:
    return version.label + RUNTIME_LABELS[runtime]
