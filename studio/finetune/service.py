"""The Fine-tune service: specs from presets, the demo, runs, experiment batches (`experiments.py`), export and push
(`sharing.py`) and "use as a voice"."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.config import Settings
from studio.errors import EngineUnavailable, InvalidInput, StudioError
from studio.finetune import experiments, sharing
from studio.finetune.experiments import Batch
from studio.finetune.metrics import MetricsReader
from studio.finetune.runner import TrainingRunner
from studio.finetune.runs import RunFiles, RunInfo, RunStore
from studio.finetune.spec import DEFAULT_BASE_MODEL, TrainSpec, new_run_id, spec_from_preset
from studio.systems.kani.training.demo import write_synthetic_dataset
from studio.text.charset import clean_name
from studio.voices.library import Voice, VoiceLibrary, slugify

if TYPE_CHECKING:
    from studio.finetune.dataset import DatasetDraft

log = logging.getLogger(__name__)

DEMO_DATASET = "demo-synthetic"
DEMO_MODEL = "kani-demo-model"


@dataclass
class DatasetInfo:
    name: str
    folder: Path
    clips: int
    encoded: int
    minutes: float
    modified: float

    @classmethod
    def read(cls, folder: Path) -> DatasetInfo:
        import json

        clips = encoded = 0
        seconds = 0.0
        for line in (folder / "manifest.jsonl").read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            clips += 1
            encoded += bool(row.get("codes"))
            seconds += float(row.get("duration") or 0.0)
        return cls(folder.name, folder, clips, encoded, seconds / 60, (folder / "manifest.jsonl").stat().st_mtime)

    @property
    def label(self) -> str:
        codes = "encoded" if self.encoded == self.clips else f"{self.encoded}/{self.clips} encoded"
        return f"{self.name} · {self.clips} clips · {self.minutes:.1f} min · {codes}"


SIGN_IN_TO_TRAIN = (
    "Training on this Space is for signed-in users: press “Sign in with Hugging Face” at the top, then start again "
    "(your runs are then kept with your account)."
)


class FineTune:
    """What the Fine-tune tab and `python -m studio train/runs` do; no gradio, no torch in this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runs = RunStore(settings.runs_dir)
        self.runner = TrainingRunner(self.runs)
        self.library = VoiceLibrary(settings.voices_dir)
        self.batches: dict[str, Batch] = {}
        self._readers: dict[str, MetricsReader] = {}
        self._lock = threading.Lock()

    # ---- specs ------------------------------------------------------------------------------------------------
    def demo_spec(self, name: str = "demo", device: str = "cpu", **trainer: Any) -> TrainSpec:
        """A tiny LFM2 (built from a config by the trainer on first use) on a synthetic codec dataset: ~30 steps."""
        dataset = self.settings.datasets_dir / DEMO_DATASET
        write_synthetic_dataset(dataset)
        settings = {"epochs": 4, "learning_rate": 2e-3, "batch_size": 2, "grad_accum": 1, "warmup_ratio": 0.0}
        settings.update(trainer)
        return spec_from_preset(
            "quick",
            name=name,
            dataset=str(dataset),
            base_model=str(self.settings.cache_dir / DEMO_MODEL),
            device=device,
            demo=True,
            cache_dir=str(self.settings.cache_dir),
            lora={
                "r": 16,
                "alpha": 32,
                "target_modules": ["q_proj", "v_proj", "in_proj", "out_proj", "w1", "w2", "w3"],
            },
            trainer=settings,
        )

    def spec(self, preset: str, name: str, dataset: str, base_model: str, **overrides: Any) -> TrainSpec:
        name = clean_name(name, "run")
        if not dataset and not overrides.get("datasets"):
            raise InvalidInput("Choose a dataset: build one above, or give a dataset folder (or a datasets config).")
        if not base_model.strip():
            raise InvalidInput("Give a base model: a Hugging Face id or a local folder.")
        overrides.setdefault("cache_dir", str(self.settings.cache_dir))
        return spec_from_preset(preset, name=name, dataset=dataset, base_model=base_model.strip(), **overrides)

    # ---- datasets ---------------------------------------------------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        """Saved datasets (folders with a manifest under the datasets folder), newest first."""
        found = []
        root = self.settings.datasets_dir
        for folder in root.iterdir() if root.is_dir() else []:
            manifest = folder / "manifest.jsonl"
            if folder.is_dir() and manifest.is_file():
                found.append(DatasetInfo.read(folder))
        found.sort(key=lambda d: d.modified, reverse=True)
        return found

    def dataset_folder(self, name: str) -> Path:
        return self.settings.datasets_dir / slugify(clean_name(name, "dataset"))

    # ---- datasets: build, review, save (the Fine-tune tab's step 1) ------------------------------------------
    def build_dataset(
        self,
        inputs: list[Path],
        name: str,
        speaker: str = "speaker",
        check_with_whisper: bool = True,
        on_progress: Callable[[int, int, str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> DatasetDraft:
        """Recordings (files, ZIPs, folders) -> a draft beside the saved dataset `name`, to review before saving."""
        from studio.finetune import dataset as ds

        folder = self.dataset_folder(name)
        whisper = check_with_whisper
        return ds.build_dataset(
            inputs, folder, speaker=speaker, check_with_whisper=whisper, on_progress=on_progress, cancel=cancel
        )

    @staticmethod
    def review_rows(draft: DatasetDraft) -> list[list[Any]]:
        from studio.finetune import dataset as ds

        return ds.review_rows(draft)

    @staticmethod
    def apply_review(draft: DatasetDraft, rows: Any) -> DatasetDraft:
        """The review table's edits (text, drop) onto the draft; a malformed table is a message."""
        from studio.finetune import dataset as ds

        return ds.apply_review(draft, rows)

    @staticmethod
    def dataset_summary(draft: DatasetDraft, val_fraction: float = 0.1) -> str:
        """What the dataset holds (clips, minutes, flags, the validation part) and what was not used, as Markdown."""
        from studio.finetune import dataset as ds

        text = ds.summarize(draft, val_fraction).text()
        if draft.problems:
            shown = "\n".join(f"- {p}" for p in draft.problems[:12])
            more = f"\n- … and {len(draft.problems) - 12} more" if len(draft.problems) > 12 else ""
            text += f"\n\n**Not used:**\n{shown}{more}"
        return text

    def save_dataset(self, draft: DatasetDraft, val_fraction: float = 0.1) -> tuple[Path, str]:
        """Save the draft (it replaces the saved dataset only once whole); returns the manifest and what comes next
        for each model family."""
        from studio.finetune import dataset as ds
        from studio.finetune.backend import backend_class
        from studio.systems import trainable

        manifest = ds.save_dataset(draft, val_fraction=float(val_fraction))
        # what each model family needs before it trains on a saved dataset, in the table's order
        notes = [backend_class(s.name).dataset_next_step() for s in trainable()]
        note = " ".join(n for n in notes if n)
        return manifest, note

    def demo_paths(self) -> tuple[Path, Path]:
        """(dataset, base model) of the demo: synthetic codec tokens and a tiny LFM2 the trainer builds on first use."""
        return self.settings.datasets_dir / DEMO_DATASET, self.settings.cache_dir / DEMO_MODEL

    def encode(self, folder: Path, device: str = "cpu", timeout: float = 24 * 3600) -> str:
        """Add NanoCodec tokens to a dataset (a separate process: NeMo and torch stay out of the app)."""
        from studio.systems.kani.engine import nemo_installed
        from studio.systems.kani.training.data import NEMO_HINT

        if not (folder / "manifest.jsonl").is_file():
            raise InvalidInput(f"{folder.name} has no manifest.jsonl: save the dataset first.")
        if not nemo_installed():
            raise EngineUnavailable(NEMO_HINT)
        proc = subprocess.run(
            [sys.executable, "-m", "studio.systems.kani.training.encode", str(folder), "--device", device],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise StudioError("Encoding failed: " + "\n".join(proc.stderr.strip().splitlines()[-5:]))
        return proc.stdout.strip()

    # ---- runs -------------------------------------------------------------------------------------------------
    def start(self, spec: TrainSpec) -> RunInfo:
        if self.settings.hosted:
            if self.settings.guest:
                raise InvalidInput(SIGN_IN_TO_TRAIN)
            live = self.runs.active()
            if live:
                name = live[0].spec.name if live[0].spec else live[0].run_id
                raise InvalidInput(f"{name} is still training. On this Space each user trains one run at a time: "
                                   "stop it or wait for it to finish.")  # fmt: skip
            self._check_own_paths(spec)
        from studio.finetune.backend import backend_class
        from studio.finetune.data import dataset_source

        backend_class(spec.backend).before_start(spec, self.settings)  # the family's own checks, no torch here
        if spec.datasets:  # several: each local one is checked here (a Hub one when the trainer downloads it)
            from studio.finetune.mix import entries

            for n, item in enumerate(entries(spec.datasets), 1):
                if item.path and not Path(item.path).expanduser().exists():
                    raise InvalidInput(f"Dataset {n} ({item.path}) does not exist: build and save it, or fix the path.")
                if item.path:
                    dataset_source(item.path)
        elif not spec.demo and not Path(spec.dataset).expanduser().exists():
            raise InvalidInput(f"The dataset {spec.dataset} does not exist: build and save one, or pick another.")
        elif not spec.demo:
            dataset_source(spec.dataset)  # not a dataset (a folder of recordings, say): said here, no run is made
        return self.runner.start(spec)

    def datasets_config(self, text: str = "", path: str | Path | None = None) -> tuple[list[dict[str, Any]], Any]:
        """A datasets config (the Fine-tune form's box, or a file) as a spec's `datasets` and the longest clip in
        seconds it sets for all (None: the run's own). A local entry may name a saved dataset by its name."""
        from studio.finetune.mix import parse_config, read_config

        found, max_seconds = read_config(path) if path else parse_config(text)
        for item in found:
            if item.path and "/" not in item.path and not Path(item.path).expanduser().exists():
                saved = self.dataset_folder(item.path)
                if (saved / "manifest.jsonl").is_file():  # "anna": the saved dataset of that name
                    item.path = str(saved)
        return [item.to_json() for item in found], max_seconds

    def _check_own_paths(self, spec: TrainSpec) -> None:
        """On a hosted server a run reads only this user's files (datasets, earlier runs) and shared downloads:
        a typed path to somebody else's folder, or anywhere else on the server, is refused."""
        own = (self.settings.user_root.resolve(), self.settings.cache_dir.resolve())
        from studio.finetune.mix import entries

        local = [e.path for e in entries(spec.datasets) if e.path] if spec.datasets else [spec.dataset]
        paths = [Path(p).expanduser().resolve() for p in local]
        if not spec.demo and not all(any(p.is_relative_to(root) for root in own) for p in paths):
            raise InvalidInput("On this Space a run trains on one of your own datasets: build and save one above, "
                               "then pick it in the list.")  # fmt: skip
        base = Path(spec.base_model).expanduser()
        if (base.is_absolute() or base.exists()) and not any(base.resolve().is_relative_to(r) for r in own):
            raise InvalidInput(f"On this Space the base model is a Hugging Face model id ({DEFAULT_BASE_MODEL}, say); "
                               f"{spec.base_model!r} is a folder on the server.")  # fmt: skip

    def stop(self, run_id: str, wait: bool = False) -> RunInfo:
        for batch in self.batches.values():
            if run_id in batch.run_ids and batch.running:
                batch.cancel.set()  # stopping an experiment stops its queue too
        return self.runner.stop(run_id, wait=wait)

    def resume(self, run_id: str) -> RunInfo:
        info = self.runs.get(run_id)
        if info.state == "queued" and info.spec is not None:
            return self.runner.start(info.spec, resume=False)
        return self.runner.resume(run_id)

    def all(self) -> list[RunInfo]:
        return self.runs.all()

    def get(self, run_id: str) -> RunInfo:
        return self.runs.get(run_id)

    def metrics_reader(self, run_id: str) -> MetricsReader:
        """The run's reader as last polled (no new read)."""
        with self._lock:
            reader = self._readers.get(run_id)
        return reader if reader is not None else self.metrics(run_id)

    def metrics(self, run_id: str) -> MetricsReader:
        """The run's metrics, read incrementally: each call reads only what the trainer appended since the last."""
        with self._lock:
            reader = self._readers.get(run_id)
            if reader is None:
                reader = self._readers[run_id] = MetricsReader(RunFiles(self.runs.folder(run_id)).metrics)
        reader.poll()
        return reader

    # ---- experiments ------------------------------------------------------------------------------------------
    def queue_experiments(self, specs: list[TrainSpec], on_done: Callable[[str], None] | None = None) -> Batch:
        """Write every spec now (visible as queued in the runs list), then train them one after another."""
        if not specs:
            raise InvalidInput("Add at least one configuration to the experiment batch.")
        devices = {s.device for s in specs}
        for device in devices:
            busy = self.runner.device_busy(device)
            if busy is not None:
                raise InvalidInput(f"{busy.run_id} is training on {device}; wait for it or stop it first.")
        batch_id = new_run_id("experiments")
        for spec in specs:
            spec.experiment = batch_id
            spec.validate()
        for spec in specs:
            folder = self.runs.folder(spec.run_id)
            folder.mkdir(parents=True, exist_ok=False)
            spec.save(RunFiles(folder).spec)
            RunFiles(folder).write_launch(state="queued", message=f"Queued in {batch_id}")
        batch = Batch(batch_id, [s.run_id for s in specs])
        batch.thread = threading.Thread(
            target=experiments.run_batch, args=(self.runs, self.runner, batch, on_done), daemon=True, name=batch_id
        )
        self.batches[batch_id] = batch
        batch.thread.start()
        return batch

    def experiment_runs(self, batch_id: str) -> list[RunInfo]:
        return [r for r in self.all() if r.spec is not None and r.spec.experiment == batch_id]

    def experiment_ids(self) -> list[str]:
        seen: list[str] = []
        for run in self.all():
            if run.spec is not None and run.spec.experiment and run.spec.experiment not in seen:
                seen.append(run.spec.experiment)
        return seen

    def comparison(self, batch_id: str) -> tuple[list[str], list[list[Any]]]:
        """One row per experiment plus the base model (its validation loss before training: step 0)."""
        return experiments.comparison(self.experiment_runs(batch_id), self.metrics)

    # ---- results ----------------------------------------------------------------------------------------------
    def adapter(self, run_id: str) -> Path:
        """The run's result folder: written whole by every training backend (LoRA adapter, full or last-layer
        weights), always with `studio_adapter.json` saying what it holds."""
        info = self.runs.get(run_id)
        if info.state != "finished":
            raise InvalidInput(f"Run {run_id} has no result yet: it is {info.state}.")
        if not (info.files.adapter / "studio_adapter.json").is_file():
            raise InvalidInput(f"Run {run_id} finished without a result in {info.files.adapter}; resume it.")
        return info.files.adapter

    def export_adapter(self, run_id: str, dest: Path) -> Path:
        """A copy of the run's adapter folder (the small file set to share or load with peft)."""
        return sharing.copy_adapter(self.adapter(run_id), run_id, dest)

    def export_merged(self, run_id: str, dest: Path, timeout: float = 3600) -> Path:
        """Base + adapter merged into one model folder, in its own process (the app never loads torch)."""
        return sharing.merge(self.adapter(run_id), run_id, dest, timeout)

    def evaluation_dataset(self, run_id: str, dest: Path) -> Path:
        """The run's evaluation (and the base model's, when an experiment scored it) as a Hugging Face audio dataset
        folder `<dest>/<run_id>-eval` (`evaluate.write_hub_dataset`): per sentence the model, its training
        configuration, the sentence, its speaker, the audio, WER and speaker similarity."""
        return sharing.evaluation_dataset(self.runs.get(run_id), run_id, dest)

    def push_evaluation(self, run_id: str, dest: Path, repo_id: str, token: str, private: bool = True) -> str:
        """Push the run's evaluation to the Hub as a dataset repository (beside a model repository of the same
        name, as the KaniTTS pipeline uploads its results); returns the dataset's URL."""
        folder = self.evaluation_dataset(run_id, dest)
        return self.push_to_hub(folder, repo_id, token, private, repo_type="dataset")

    def push_to_hub(
        self, folder: Path, repo_id: str, token: str, private: bool = True, repo_type: str = "model"
    ) -> str:
        """Upload an exported folder to the Hugging Face Hub (a model, or a dataset repository); returns its URL."""
        return sharing.push_to_hub(folder, repo_id, token, private, repo_type)

    def use_as_voice(self, run_id: str, name: str, merged: Path | None = None) -> Voice:
        """Register the run's result in the voice library, where its system's engine (`System.engine_for_training`)
        finds it for Synthesize; `voice.engine` says which."""
        info = self.runs.get(run_id)
        adapter = self.adapter(run_id)
        spec = info.spec
        if spec is None:
            raise InvalidInput(f"Run {run_id}'s spec cannot be read.")
        source = {"run": run_id, "checkpoint": info.status.get("last_checkpoint"), "created_from": "fine-tune"}
        import json

        made = json.loads((adapter / "studio_adapter.json").read_text())
        trained = [str(s) for s in made.get("speakers") or []]  # the prompt speakers a KaniTTS run trained
        payload = {
            "base_model": spec.base_model,
            "base_model_path": made.get("base_model_path"),
            "speaker": spec.speaker or (trained[0] if trained else None),
        }
        from studio.finetune.backend import backend_class

        family = backend_class(spec.backend)
        files = {"model": merged} if merged is not None else family.voice_files(adapter)
        similarity, notes = None, ""
        from studio.finetune.evaluate import EvalResult

        try:  # the run's own measurement: its evaluation sentences against the dataset's recordings
            scored = EvalResult.load(info.files.evaluation)
            similarity = None if scored.mean_similarity is None else round(scored.mean_similarity, 4)
            notes = "" if similarity is not None else f"Similarity not measured: {scored.error or 'no audio scored'}"
        except StudioError as exc:
            notes = f"Similarity not measured: {exc}"
        from studio.systems import system

        # the engine of the run's model family lists the voice (for the checkpoint it was trained on)
        engine = family.voice_engine(made) or system(spec.backend).engine_for_training
        version = family.voice_model_version(made)
        return self.library.add(name or spec.name, engine, files=files, payload=payload, source=source,
                                similarity=similarity, notes=notes, model_version=version)  # fmt: skip

    def delete(self, run_id: str) -> None:
        self.runs.delete(run_id)
        self._readers.pop(run_id, None)
