"""Evaluate fine-tuned voices: speech-recognition WER and speaker similarity on fixed sentences, side by side."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from studio.audio.speaker import (  # noqa: F401 (callers of the evaluation use the encoder with it)
    ENCODER_RATE,
    MIN_SPEECH_SECONDS,
    SpeakerEncoder,
    is_silent,
    mean_profile,
)
from studio.audio.types import AudioResult
from studio.errors import InvalidInput
from studio.finetune.evalset import EVAL_SENTENCES, EvalLine, default_lines  # noqa: F401 (the evaluation's own)
from studio.fsutil import write_atomic

if TYPE_CHECKING:
    from studio.audio.asr import Transcriber

log = logging.getLogger(__name__)

BASE_NAME = "base"  # the untuned model's result: always the first row of a comparison
EVAL_FILE = "eval.json"
RESULTS_FILE = "results.jsonl"  # the results table: one row per sentence, beside eval.json
HUB_MARKER = "studio_eval.json"  # in a folder written by `write_hub_dataset`
EVAL_VERSION = 1

ProgressFn = Callable[[float, str], None]
# Dataset manifests name a clip's length under one of these keys (first match wins); its file: `data.AUDIO_KEYS`.
_DURATION_KEYS = ("duration", "seconds")
_DROPPED_STATUSES = {"rejected", "dropped", "excluded", "skipped"}


def _row_kept(row: dict[str, Any]) -> bool:
    # a saved manifest.jsonl lists kept clips only; rows of a draft (Clip fields) carry drop=True for the others
    if row.get("drop") or not row.get("kept", True):
        return False
    return str(row.get("status", "")).lower() not in _DROPPED_STATUSES


def _row_seconds(row: dict[str, Any], source: Path | bytes) -> float:
    for key in _DURATION_KEYS:
        value = row.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    from studio.finetune.data import audio_seconds

    return audio_seconds(source)  # the header alone gives the length: no decoding


def reference_profile(
    manifest_rows: list[dict[str, Any]], folder: Path, encoder: SpeakerEncoder, max_clips: int = 20
) -> NDArray[np.float32]:
    """A dataset's voice profile from up to `max_clips` kept clips, longest first (ties by path: deterministic).

    Rows are manifest.jsonl rows (studio.finetune.dataset): the file under "audio" (or "path", "file", "audio_path",
    "wav"), relative to `folder`, or an Audio column's bytes (a Hub or saved dataset, `data.audio_source`), and
    "duration" in seconds (read from the header when absent); rows with `drop: true`,
    `kept: false` or a status such as "rejected" are left out. Longer clips give steadier embeddings, and clips that
    cannot be read or hold too little speech are skipped with a warning rather than failing the whole profile.
    """
    from studio.finetune.data import audio_source, row_audio

    if max_clips < 1:
        raise InvalidInput(f"max_clips is {max_clips}; use 1 or more.")
    candidates: list[tuple[float, str, dict[str, Any]]] = []
    for n, row in enumerate(manifest_rows):
        source = audio_source(row, Path(folder))
        if source is not None and _row_kept(row):
            key = str(source) if isinstance(source, Path) else f"{row.get('id') or ''}#{n:09d}"
            candidates.append((_row_seconds(row, source), key, row))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    embeddings: list[NDArray[np.float32]] = []
    for _, key, row in candidates:
        if len(embeddings) >= max_clips:
            break
        try:
            samples, rate = row_audio(row, Path(folder))
            embeddings.append(encoder.embed(samples, rate))
        except InvalidInput as exc:
            log.warning("Voice profile: skipped %s (%s)", key, exc)
    if not embeddings:
        raise InvalidInput(
            f"No usable clips for a voice profile among {len(manifest_rows)} manifest rows in {folder}: "
            f"keep at least one readable clip with {MIN_SPEECH_SECONDS} s of speech or more."
        )
    return mean_profile(embeddings)


def speaker_profiles(
    manifest_rows: list[dict[str, Any]], folder: Path, encoder: SpeakerEncoder, max_clips: int = 20
) -> dict[str, NDArray[np.float32]]:
    """One voice profile per speaker (lower-case name) of a dataset whose rows name two or more; {} for a dataset of
    one speaker (its whole profile is `reference_profile`). A speaker without usable clips is left out."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in manifest_rows:
        name = row.get("speaker")
        if isinstance(name, str) and name.strip():
            groups.setdefault(name.strip().lower(), []).append(row)
    if len(groups) < 2:
        return {}
    profiles = {}
    for name, rows in sorted(groups.items()):
        try:
            profiles[name] = reference_profile(rows, folder, encoder, max_clips)
        except InvalidInput as exc:
            log.info("no voice profile for speaker %s: %s", name, exc)
    return profiles


@dataclass
class SampleScore:
    """One evaluation sentence: what was said, what the recognizer heard, and how close the voice is."""

    sentence: str
    audio_path: str | None
    recognized: str
    wer: float
    similarity: float | None
    seconds: float
    speaker: str | None = None  # who said it (a multi-speaker run speaks each sentence with a given speaker)
    sentence_id: str = ""


@dataclass
class EvalResult:
    """One model's scores on the evaluation sentences (`name`: "base" or a run/experiment id); saved as eval.json."""

    name: str
    samples: list[SampleScore] = field(default_factory=list)
    mean_wer: float | None = None
    mean_similarity: float | None = None
    error: str | None = None
    version: int = EVAL_VERSION

    @classmethod
    def from_samples(cls, name: str, samples: list[SampleScore], error: str | None = None) -> EvalResult:
        wer, similarity = _means(samples)
        return cls(name=name, samples=samples, mean_wer=wer, mean_similarity=similarity, error=error)

    @property
    def speakers(self) -> dict[str, dict[str, Any]]:
        """Per speaker who said sentences (lower-case name, as training prefixes it): how many, the mean WER and the
        mean speaker similarity (against that speaker's own reference; None when none was scored)."""
        groups: dict[str, list[SampleScore]] = {}
        for sample in self.samples:
            if sample.speaker and sample.speaker.strip():
                groups.setdefault(sample.speaker.strip().lower(), []).append(sample)
        out = {}
        for name, said in sorted(groups.items()):
            wer, similarity = _means(said)
            out[name] = {"sentences": len(said), "wer": wer, "similarity": similarity}
        return out

    def summary(self) -> dict[str, Any]:
        """The scores in brief (status.json's `evaluation`): overall and per speaker, or the error."""
        return {"name": self.name, "sentences": len(self.samples), "mean_wer": self.mean_wer,
                "mean_similarity": self.mean_similarity, "speakers": self.speakers, "error": self.error}  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalResult:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise InvalidInput("An evaluation result must be a JSON object with a 'name'.")
        try:
            samples = [SampleScore(**s) for s in data.get("samples") or []]
            return cls(
                name=data["name"],
                samples=samples,
                mean_wer=_optional_float(data.get("mean_wer")),
                mean_similarity=_optional_float(data.get("mean_similarity")),
                error=data.get("error"),
                version=int(data.get("version", EVAL_VERSION)),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"Evaluation result {data['name']!r} is malformed ({exc}).") from exc

    def table(self) -> list[dict[str, Any]]:
        """The results table: per sentence its id, text, speaker, WER, speaker similarity, audio path and what the
        recognizer heard."""
        return [
            {"model": self.name, "sentence_id": s.sentence_id or f"s{i + 1}", "sentence": s.sentence,
             "speaker": s.speaker, "wer": s.wer, "similarity": s.similarity, "audio": s.audio_path,
             "recognized": s.recognized, "seconds": s.seconds}
            for i, s in enumerate(self.samples)
        ]  # fmt: skip

    def results_rows(self) -> list[dict[str, Any]]:
        """results.jsonl: a row per sentence (`row` "sentence"), then one per speaker (`row` "speaker": sentences,
        mean WER and similarity) and the model's overall row (`row` "overall")."""
        rows = [{"row": "sentence", **row} for row in self.table()]
        for name, scores in self.speakers.items():
            rows.append({"row": "speaker", "model": self.name, "speaker": name, **scores})
        rows.append({"row": "overall", "model": self.name, "speaker": None, "sentences": len(self.samples),
                     "wer": self.mean_wer, "similarity": self.mean_similarity})  # fmt: skip
        return rows

    def save(self, folder: Path) -> Path:
        """eval.json, and the results table as results.jsonl beside it."""
        path = Path(folder) / EVAL_FILE
        write_atomic(path, json.dumps(self.to_json(), indent=2))
        write_atomic(Path(folder) / RESULTS_FILE, "".join(json.dumps(row) + "\n" for row in self.results_rows()))
        return path

    @classmethod
    def load(cls, folder: Path) -> EvalResult:
        path = Path(folder) / EVAL_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InvalidInput(f"No evaluation in {folder}: evaluate the run first.") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); evaluate again.") from exc
        return cls.from_json(data)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _means(samples: Sequence[SampleScore]) -> tuple[float | None, float | None]:
    """(mean WER, mean speaker similarity over the scored sentences) of some sentences."""
    wers = [s.wer for s in samples]
    sims = [s.similarity for s in samples if s.similarity is not None]
    return (float(np.mean(wers)) if wers else None), (float(np.mean(sims)) if sims else None)


def evaluate_audio(
    name: str,
    generated: Sequence[tuple[str | EvalLine, NDArray[np.float32], int]],
    out_dir: Path,
    transcriber: Transcriber,
    encoder: SpeakerEncoder | None = None,
    profile: NDArray[np.float32] | None = None,
    on_progress: ProgressFn | None = None,
    profiles: Mapping[str, NDArray[np.float32]] | None = None,
) -> EvalResult:
    """Score generated (sentence or EvalLine, samples, sample_rate) triples; each clip is kept in `out_dir` for
    listening. A line said by a speaker of `profiles` (lower-case names) is compared with that speaker's profile,
    any other with `profile`.

    A model that produced nothing (or silence) for a sentence scores WER 1.0 and no similarity: a bad result to show,
    not an error that would hide the other sentences.
    """
    from studio.audio.asr import word_error_rate
    from studio.audio.io import write_audio

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores: list[SampleScore] = []
    total = len(generated)
    for i, (said, raw, rate) in enumerate(generated):
        line = said if isinstance(said, EvalLine) else EvalLine(f"s{i + 1}", said)
        sentence = line.text
        voice = (profiles or {}).get((line.speaker or "").lower(), profile)
        samples = np.asarray(raw, dtype=np.float32).reshape(-1)
        seconds = len(samples) / rate if rate > 0 else 0.0
        audio_path: str | None = None
        if len(samples) and rate > 0:
            audio_path = str(write_audio(AudioResult(samples, rate), out / f"sample_{i + 1:02d}.wav"))
        recognized, wer, similarity = "", 1.0, None
        if rate > 0 and not is_silent(samples):
            recognized = transcriber.transcribe(samples, rate)
            wer = word_error_rate(sentence, recognized)
            if encoder is not None and voice is not None:
                try:
                    similarity = encoder.similarity(encoder.embed(samples, rate), voice)
                except InvalidInput as exc:  # too little speech to judge the voice: WER still counts
                    log.info("%s, sentence %d: no similarity (%s)", name, i + 1, exc)
        scores.append(SampleScore(sentence, audio_path, recognized, float(wer), similarity, round(seconds, 3),
                                  speaker=line.speaker, sentence_id=line.id))  # fmt: skip
        if on_progress is not None:
            on_progress((i + 1) / total, f"{name}: scored sentence {i + 1} of {total}")
    result = EvalResult.from_samples(name, scores)
    log.info("Evaluated %s: WER %s, similarity %s", name, result.mean_wer, result.mean_similarity)
    return result


COMPARISON_HEADERS: list[str] = ["Model", "WER", "Speaker similarity", "Samples", "Error"]


def _rank_key(result: EvalResult) -> tuple[float, float, str]:
    # lowest WER first; equal WERs go to the closer voice; then by name so the order never depends on input order
    wer = result.mean_wer if result.mean_wer is not None else math.inf
    sim = result.mean_similarity if result.mean_similarity is not None else -math.inf
    return (wer, -sim, result.name)


def comparison_rows(results: list[EvalResult]) -> list[list[Any]]:
    """Table rows under COMPARISON_HEADERS: the base model first, then the others from lowest WER up."""
    base = [r for r in results if r.name == BASE_NAME]
    others = sorted((r for r in results if r.name != BASE_NAME), key=_rank_key)
    return [
        [
            r.name,
            f"{r.mean_wer * 100:.1f}%" if r.mean_wer is not None else "—",
            f"{r.mean_similarity:.3f}" if r.mean_similarity is not None else "—",
            len(r.samples),
            r.error or "",
        ]
        for r in base + others
    ]


def best(results: list[EvalResult]) -> EvalResult | None:
    """The lowest-WER result (ties: the more similar voice); errored or unscored results never win."""
    usable = [r for r in results if r.error is None and r.mean_wer is not None]
    return min(usable, key=_rank_key) if usable else None


HUB_README_HEADER = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
---
"""


def write_hub_dataset(results: Sequence[tuple[EvalResult, dict[str, Any]]], out: Path) -> Path:
    """The evaluation as a Hugging Face dataset folder, as `datasets.Dataset.push_to_hub` lays one out (the KaniTTS
    pipeline pushes its results so): `data/train-00000-of-00001.parquet`, one row per sentence with its audio
    embedded (an Audio column: the clip's bytes and `<model>/<sentence id>.wav`), the model (`experiment_id`), its
    `train_configuration` (JSON), the sentence id, text and speaker, and Studio's scores (WER, speaker similarity,
    what was recognized); README.md names the split (its YAML header) and tables the scores. A sentence without
    audio is listed in README.md only. It loads with `datasets.load_dataset(folder)` (and with pandas); an audio
    folder of loose clips would need torchcodec to load. Written whole (a temporary folder renamed in); an existing
    folder is replaced only when Studio wrote it."""
    import shutil

    from studio.fsutil import replace_dir

    if not results or not any(r.samples for r, _ in results):
        raise InvalidInput(
            "The run has no scored evaluation sentences to publish (it evaluates when NeMo is installed)."
        )
    try:
        import datasets
    except ImportError as exc:
        raise InvalidInput(
            "Publishing an evaluation needs the datasets package, part of the train extra: "
            "pip install 'studio-voice[train]'."
        ) from exc
    columns = ("sentence_id", "sentence", "speaker", "wer", "similarity", "recognized", "seconds")
    rows: dict[str, list[Any]] = {"audio": [], "experiment_id": [], "train_configuration": [],
                                  **{k: [] for k in columns}}  # fmt: skip
    missing = []
    for result, config in results:
        folder = re.sub(r"[^A-Za-z0-9._-]+", "-", result.name).strip("-") or "model"
        for row in result.table():
            source = Path(row["audio"]) if row["audio"] else None
            if source is None or not source.is_file():
                missing.append(f"{result.name} {row['sentence_id']}")
                continue
            rows["audio"].append({"bytes": source.read_bytes(), "path": f"{folder}/{row['sentence_id']}.wav"})
            rows["experiment_id"].append(result.name)
            rows["train_configuration"].append(json.dumps(config))
            for key in columns:
                rows[key].append(row[key])
    if not rows["audio"]:
        raise InvalidInput("The run's evaluation has no audio clips left to publish (its sentence clips are gone).")
    out = Path(out)
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    features = datasets.Features(
        {"audio": datasets.Audio(decode=False), "experiment_id": datasets.Value("string"),
         "train_configuration": datasets.Value("string"), "sentence_id": datasets.Value("string"),
         "sentence": datasets.Value("string"), "speaker": datasets.Value("string"), "wer": datasets.Value("float64"),
         "similarity": datasets.Value("float64"), "recognized": datasets.Value("string"),
         "seconds": datasets.Value("float64")}
    )  # fmt: skip
    # the audio column goes in as its stored form ({bytes, path}) and is cast, so nothing is decoded or re-encoded
    plain = datasets.Dataset.from_dict(rows, features=datasets.Features({**features, "audio": {
        "bytes": datasets.Value("binary"), "path": datasets.Value("string")}}))  # fmt: skip
    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a few rows: no progress bars on the command line
    try:
        plain.cast(features).to_parquet(str(tmp / "data" / "train-00000-of-00001.parquet"))
    finally:
        if shown:
            datasets.enable_progress_bars()
    lines = [
        "# Studio evaluation",
        "",
        "| Model | Sentence | Speaker | WER | Speaker similarity |",
        "|---|---|---|---|---|",
    ]
    for result, _ in results:
        for row in result.table():
            sim = "—" if row["similarity"] is None else f"{row['similarity']:.3f}"
            lines.append(f"| {result.name} | {row['sentence_id']} | {row['speaker'] or ''} | {row['wer'] * 100:.1f}% "
                         f"| {sim} |")  # fmt: skip
    if missing:
        lines += ["", f"No audio for: {', '.join(missing)}."]
    write_atomic(tmp / "README.md", HUB_README_HEADER + "\n".join(lines) + "\n")
    write_atomic(tmp / HUB_MARKER, json.dumps({"models": [r.name for r, _ in results], "rows": len(rows["audio"])}))
    return replace_dir(tmp, out, marker=HUB_MARKER)
