"""Fine-tuning fixtures: a tiny LFM2 with the real KaniTTS token layout (built once) and its synthetic dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio.config import Settings
from studio.finetune.service import FineTune
from studio.finetune.spec import TrainSpec, spec_from_preset
from studio.systems.kani.training.demo import build_tiny_model, write_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-lfm2"))


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic-ds")
    write_synthetic_dataset(folder)
    return folder


@pytest.fixture
def finetune(settings: Settings):  # type: ignore[no-untyped-def]
    service = FineTune(settings)
    yield service
    service.runner.stop_all(grace=10)  # a failing test must not leave a trainer behind


def tiny_spec(base: Path, dataset: Path, name: str = "tiny", **trainer: object) -> TrainSpec:
    """The demo's settings (learning rate high enough for a visible drop in a few dozen CPU steps)."""
    settings: dict[str, object] = {
        "epochs": 4,
        "learning_rate": 2e-3,
        "batch_size": 2,
        "grad_accum": 1,
        "warmup_ratio": 0.0,
    }
    settings.update(trainer)
    return spec_from_preset(
        "quick",
        name=name,
        dataset=str(dataset),
        base_model=str(base),
        lora={"r": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj", "in_proj", "out_proj", "w1", "w2", "w3"]},
        trainer=settings,
    )


# ---- a Hub dataset in this machine's datasets cache, as an online `load_dataset` leaves it ------------------------
HUB_ID = "someone/voices"  # never on the network: tests run with HF_HUB_OFFLINE=1 and find it in the cache


def halves(path: Path) -> tuple[tuple[Any, int], tuple[Any, int]]:
    """A real recording cut in two: one half for a dataset, the other as a voice said in an evaluation."""
    from studio.audio.io import read_audio

    samples, rate = read_audio(path)
    middle = len(samples) // 2
    return (samples[:middle], rate), (samples[middle:], rate)


def wav_bytes(samples: Any, rate: int) -> bytes:
    import io

    import soundfile as sf

    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def nano_codes(i: int, frames: int) -> dict[str, list[int]]:
    return {f"nano_layer_{k + 1}": [(i * 7 + k + f) % 4000 for f in range(frames)] for k in range(4)}


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_fixtures: Path) -> dict[str, Any]:
    """`someone/voices` (configuration "en", split "train") in a datasets cache of its own, in the layout an online
    `datasets.load_dataset` writes (`<cache>/someone___voices/en/0.0.0/<hash>/`), so that offline (HF_HUB_OFFLINE=1)
    `load_dataset("someone/voices", "en")` takes the real path of a user's cached Hub dataset. Its rows are those of
    the KaniTTS pipeline's datasets: real speech embedded as an Audio column (FLAC/WAV bytes, as the Hub stores it),
    transcript, speaker, style and NanoCodec columns (`nano_layer_1..4`, `encoded_len`). ex01 is the first half of
    country.flac, ex02 both halves of town.flac. The trainer's processes find the cache through HF_DATASETS_CACHE."""
    import datasets
    from datasets.data_files import DataFilesDict
    from datasets.packaged_modules.parquet.parquet import Parquet

    voices = shared_fixtures / "voices"
    (country, _), town = halves(voices / "country.flac"), halves(voices / "town.flac")
    clips = [("ex01", "calm", country, "The sun was shining brightly."),
             ("ex02", "loud", town[0], "The difference in the rainbow depends considerably."),
             ("ex02", "calm", town[1], "The width of the colored band increases.")]  # fmt: skip
    rows: dict[str, list[Any]] = {"audio": [], "transcript": [], "speaker": [], "style": [], "encoded_len": []}
    for i, (speaker, style, (samples, rate), text) in enumerate(clips):
        rows["audio"].append({"bytes": wav_bytes(samples, rate), "path": f"clip_{i}.wav"})
        rows["transcript"].append(text)
        rows["speaker"].append(speaker)
        rows["style"].append(style)
        rows["encoded_len"].append(6 + i)
        for name, codes in nano_codes(i, 8 + i).items():
            rows.setdefault(name, []).append(codes)
    repo = tmp_path / "hub-repo"
    (repo / "data").mkdir(parents=True)
    data = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    data.to_parquet(str(repo / "data" / "train-00000-of-00001.parquet"))
    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)  # this process (datasets read it on import)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))  # the trainer's processes
    # what `load_dataset(HUB_ID, "en")` prepares online: the parquet builder of that repository, its arrow files
    builder = Parquet(cache_dir=str(cache), repo_id=HUB_ID, dataset_name="voices", config_name="en", hash="0123abcd")
    builder.config.data_files = DataFilesDict.from_patterns({"train": ["data/train-*.parquet"]}, base_path=str(repo))
    builder.download_and_prepare()
    return {"id": HUB_ID, "config": "en", "cache": cache, "clips": clips}
