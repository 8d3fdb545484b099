"""The Supertonic training backend: a speaker's own Supertonic model, trained on a Studio dataset and exported back
to ONNX (docs/supertonic-training.md).

- Targets: Supertonic ships no audio encoder, so each clip's latent is found by inverting the frozen vocoder
  (`targets.py`), starting from the model's own rendering of the transcript in the speaker's cloned style; cached
  beside the dataset, and measured (re-vocoded WER and speaker similarity, in status.json's `targets`).
- Training: flow matching on those targets through the step-wise vector estimator (x_t on the straight path from
  noise to the target at t = k/N; the graph's step must move x_t by (target - noise)/N), the duration predictor on
  the clips' lengths (log seconds), and the style (style_ttl, style_dp) as new parameters starting from the clone.
  The shared loop supplies learning-rate groups (the style is "new"), phases that freeze the lower ConvNeXt blocks,
  accumulation, clipping, warmup and bf16.
- Result: the trained graphs (the published graphs with their weights replaced: `trainable.export_graph`) and the
  style, a folder the ONNX Runtime engine speaks (`engine.py`, a library voice tied to that folder).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import InvalidInput, ModelMissing, TrainingFailed
from studio.finetune.backend import Backend, EvaluationUnavailable, Loaded
from studio.systems.supertonic.model import GRAPHS, Style, graph_file
from studio.systems.supertonic.training.options import MIN_CLIPS, SupertonicOptions

if TYPE_CHECKING:
    from studio.config import Settings
    from studio.finetune.spec import TrainSpec

log = logging.getLogger(__name__)

WEIGHTS = "supertonic_weights.safetensors"
STYLE_FILE = "voice_style.json"
TARGETS_REPORT = "targets.json"


class SupertonicBackend(Backend):
    """Supertonic fine-tuning: chosen graphs and the style learn; the result is ONNX graphs and a style."""

    evaluate_base = True  # the base model with the style training starts from (the clone): what tuning must beat

    def load(self) -> Loaded:
        import torch

        from studio.systems.supertonic.engine import SupertonicEngine
        from studio.systems.supertonic.torch_model import TorchSupertonic, convert_with_source, torch_available
        from studio.systems.supertonic.training import data, trainable
        from studio.systems.supertonic.training.targets import TargetSettings

        spec, tr = self.spec, self.spec.trainer
        self.options = SupertonicOptions.from_json(spec.supertonic)
        missing = torch_available()
        if missing:
            raise TrainingFailed(missing.replace("gradient cloning", "Supertonic training"))
        folder = Path(spec.base_model).expanduser()
        self.base_path = str(folder)
        try:
            self.engine = SupertonicEngine.load(folder)
        except Exception as exc:
            raise self.failed_to_load(exc) from exc
        config = self.engine.config
        self.loop.status(message="Reading the dataset")
        clips, skipped = data.read_clips(spec.dataset, config.sample_rate, spec.val_fraction, tr.seed,
                                         tr.max_audio_seconds, lambda m: self.loop.status(message=m))  # fmt: skip
        data.check_count(clips, skipped, tr.max_audio_seconds, MIN_CLIPS)
        torch_model = TorchSupertonic.load(folder, config, self._torch_cache())
        self.start_style = self._start_style(clips, torch_model)  # the clone runs on the CPU, as the Clone tab's
        torch_model.to(self.loop.acc.device)  # the targets on the run's device
        settings = TargetSettings(self.options.target_iterations, self.options.target_learning_rate,
                                  self.engine.version.default_steps, tr.seed)  # fmt: skip
        cache = data.cache_folder(spec.dataset, self.loop.files.folder, data.vocoder_path(folder), self.start_style,
                                  settings)  # fmt: skip

        def progress(i: int, n: int, clip: str) -> None:
            self.loop.status(message=f"Making latent targets (inverting the vocoder): clip {i + 1}/{n} ({clip})")

        targets = data.make_targets(self.engine, torch_model, clips, self.start_style, settings, cache, progress,
                                    lambda: self.loop.stop.requested)  # fmt: skip
        if self.loop.main:
            self.loop.status(message="Measuring the targets (re-vocoded: speech recognition, speaker similarity)")
            report = data.target_quality(self.engine, clips, targets)
            report["cache"] = str(cache)
            (self.loop.files.folder / TARGETS_REPORT).write_text(json.dumps(report, indent=1))
            self.loop.status(targets=report)
        examples = data.encode_examples(self.engine, clips, targets)
        train = [e for e in examples if e.split != "validation"]
        val = [e for e in examples if e.split == "validation"]
        graphs, self.orders, self.sources = {}, torch_model.input_order, {}
        for graph in trainable.TRAINABLE_GRAPHS:
            # a fresh conversion of each graph (the one TorchSupertonic holds stays the frozen base), with the ONNX
            # model it came from: export writes the trained weights back into its initializers
            graphs[graph], self.sources[graph] = convert_with_source(folder / graph_file(graph))
        model = trainable.build(graphs, self.orders, self.start_style.ttl, self.start_style.dp, self.options.parts,
                                self.options.duration_weight, self.sources)  # fmt: skip
        self.blocks = {f"{g}.{name}": i for g in trainable.TRAINABLE_GRAPHS
                       for name, i in trainable.block_index(getattr(model, g)).items()}  # fmt: skip
        if self.options.compile:
            for graph in trainable.TRAINABLE_GRAPHS:
                setattr(model, graph, torch.compile(getattr(model, graph)))
        self.model = model
        return Loaded(model, train, val, skipped)

    def _torch_cache(self) -> Path | None:
        return Path(self.spec.cache_dir) / "supertonic-torch" if self.spec.cache_dir else None

    def _start_style(self, clips: Sequence[Any], torch_model: Any) -> Style:
        """The style training starts from: a preset, or a clone of the speaker from their longest training clip."""
        if self.options.style_from != "clone":
            return self.engine.style(self.options.style_from)
        from studio.audio.speaker import SpeakerEncoder
        from studio.systems.supertonic.clone import CloneSettings, SupertonicCloner
        from studio.voices.reference import Reference

        longest = max(clips, key=lambda c: len(c.samples))
        rate = self.engine.config.sample_rate
        self.loop.status(message=f"Cloning the speaker's style from clip {longest.id} (the start of their style)")
        try:
            encoder = SpeakerEncoder.load()
        except Exception as exc:
            raise TrainingFailed(f"Cloning the start style needs the speaker encoder ({exc}); install resemblyzer, "
                                 "or start from a preset voice (style_from).") from exc  # fmt: skip
        cloner = SupertonicCloner(self.engine, encoder)
        cloner._torch_model = torch_model
        reference = Reference(longest.samples, rate, longest.source, longest.id, transcript=longest.text)
        settings = CloneSettings(iterations=self.options.clone_iterations, seed=self.spec.trainer.seed)
        result = cloner.clone(reference, settings, cancel=None)
        self.clone_report = {"start_voice": result.start_voice, "similarity": round(result.similarity, 4),
                             "clip": longest.id}  # fmt: skip
        self.loop.status(clone=self.clone_report)
        return result.style

    # ---- the contract's optional parts ------------------------------------------------------------------------
    def is_new_parameter(self, name: str) -> bool:
        """The style is the run's own (it starts from a clone); the graphs' weights are the base model's."""
        return name.split(".")[-1] in ("style_ttl", "style_dp")

    def layer_of(self, name: str) -> int | None:
        """The ConvNeXt block a weight belongs to (each graph counted from its input): what freeze_layers freezes."""
        return self.blocks.get(name.removeprefix("module."))

    # ---- batches and loss -------------------------------------------------------------------------------------
    def batch(self, rows: Sequence[Any], seed: int | None = None) -> dict[str, Any]:
        import torch

        n = len(rows)
        width = max(len(r.text_ids) for r in rows)
        frames = max(r.latent.shape[1] for r in rows)
        channels = rows[0].latent.shape[0]
        ids = np.zeros((n, width), np.int64)
        text_mask = np.zeros((n, 1, width), np.float32)
        latent = np.zeros((n, channels, frames), np.float32)
        latent_mask = np.zeros((n, 1, frames), np.float32)
        for i, r in enumerate(rows):
            ids[i, : len(r.text_ids)] = r.text_ids
            text_mask[i, 0, : len(r.text_ids)] = 1.0
            latent[i, :, : r.latent.shape[1]] = r.latent
            latent_mask[i, 0, : r.latent.shape[1]] = 1.0
        total = float(self.options.flow_steps)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        noise = torch.randn((n, channels, frames), generator=generator) * torch.from_numpy(latent_mask)
        current = torch.randint(0, int(total), (n,), generator=generator).float()
        device = self.loop.acc.device
        return {
            "text_ids": torch.from_numpy(ids).to(device),
            "text_mask": torch.from_numpy(text_mask).to(device),
            "latent": torch.from_numpy(latent).to(device),
            "latent_mask": torch.from_numpy(latent_mask).to(device),
            "seconds": torch.tensor([r.seconds for r in rows], dtype=torch.float32).to(device),
            "noise": noise.to(device),
            "current": current.to(device),
            "total": torch.full((n,), total).to(device),
        }

    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        return model(**batch)

    def validation_loss(self, model: Any, items: Sequence[Any]) -> float:
        """The mean loss per clip over the validation clips, with fixed noise and steps (comparable across evals)."""
        size = self.spec.trainer.batch_size
        total, count = 0.0, 0
        for s in range(0, len(items), size):
            chunk = items[s : s + size]
            total += float(model(**self.batch(chunk, seed=s))) * len(chunk)
            count += len(chunk)
        return total / max(count, 1)

    # ---- checkpoints and result -------------------------------------------------------------------------------
    def _unwrapped(self) -> Any:
        return self.loop.acc.unwrap_model(self.loop.model)

    def save_weights(self, folder: Path) -> None:
        from safetensors.torch import save_file

        from studio.systems.supertonic.training.trainable import trained_state

        save_file(trained_state(self._unwrapped()), str(folder / WEIGHTS))

    def load_weights(self, folder: Path) -> None:
        from safetensors.torch import load_file

        from studio.systems.supertonic.training.trainable import load_state

        load_state(self._unwrapped(), load_file(str(folder / WEIGHTS)))

    def fill_result(self, checkpoint: Path, folder: Path) -> dict[str, Any]:
        """The trained graphs as ONNX (the published graphs with their weights replaced), the style, and the
        model's config files; the graphs that did not learn (the vocoder, always) stay the base model's."""
        from safetensors.torch import load_file

        from studio.systems.supertonic.training.trainable import TRAINABLE_GRAPHS, export_graph, load_state

        state = load_file(str(checkpoint / WEIGHTS))
        model = self._unwrapped()
        base = Path(self.base_path)
        trained = []
        for graph in TRAINABLE_GRAPHS:
            weights = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(graph + ".")}
            if not weights:
                continue
            module = getattr(model, graph)
            module = copy.deepcopy(getattr(module, "_orig_mod", module))  # compiled: the module it wraps
            load_state(module, weights)  # the result checkpoint's weights (the best one), not the last step's
            export_graph(base / graph_file(graph), self.sources[graph], module, folder / graph_file(graph))
            trained.append(graph)
        style = Style(state["style_ttl"].numpy(), state["style_dp"].numpy(), self.engine.version.name)
        meta = {"run": self.spec.run_id, "start": getattr(self, "clone_report", {"preset": self.options.style_from})}
        (folder / STYLE_FILE).write_text(json.dumps(style.to_json(metadata=meta)))
        return {"mode": "supertonic", "version": self.engine.version.name, "graphs": trained, "style": STYLE_FILE,
                "parts": list(self.options.parts)}  # fmt: skip

    def speak(self, sentences: Sequence[str], base: bool) -> list[tuple[str, Any, int]] | None:
        """The evaluation sentences through ONNX Runtime: the run's exported graphs and style (what a library voice
        made from it speaks), or, `base`, the base model with the style training started from (the clone)."""
        from studio.engines.base import SynthParams

        try:
            if base:
                engine, style = self.engine, self.start_style
            else:
                result = self.loop.files.adapter
                if not (result / STYLE_FILE).is_file():
                    raise EvaluationUnavailable("The run's result was not exported; nothing to speak.")
                engine = tuned_engine(Path(self.base_path), result)
                style = Style.from_file(result / STYLE_FILE)
        except (ModelMissing, OSError) as exc:
            raise EvaluationUnavailable(f"The exported model could not be loaded: {exc}") from exc
        params = SynthParams(seed=self.spec.trainer.seed)
        out = []
        for sentence in sentences:
            audio = engine.speak_style(sentence, style, params)
            out.append((sentence, np.asarray(audio.samples, np.float32), audio.sample_rate))
        return out

    # ---- before a process starts -----------------------------------------------------------------------------
    @staticmethod
    def before_start(spec: TrainSpec, settings: Settings) -> None:
        """Every check that needs no torch: the options, the base model's files (a version name becomes its folder),
        torch installed, the dataset's size, a GPU preset on a GPU."""
        import importlib.util

        from studio.systems.supertonic.specs import find_model_dir, missing_files
        from studio.systems.supertonic.versions import VERSIONS

        SupertonicOptions.from_json(spec.supertonic)
        name = spec.base_model.strip()
        if name in VERSIONS:
            found = find_model_dir(settings, VERSIONS[name])
            if found is None:
                raise InvalidInput(f"{VERSIONS[name].label} is not downloaded: run `python -m studio download {name}` "
                                   "(or press Download on the Synthesize tab), then start the run.")  # fmt: skip
            spec.base_model = str(found)
        folder = Path(spec.base_model).expanduser()
        if not folder.is_dir():
            raise InvalidInput(f"The base model {spec.base_model!r} is neither supertonic2, supertonic3 nor a model "
                               "folder (onnx/*.onnx, tts.json, unicode_indexer.json, voice_styles/).")  # fmt: skip
        gone = missing_files(folder)
        if gone:
            raise InvalidInput(f"The base model folder {folder} lacks {', '.join(gone)}: download the model again.")
        lacking = [m for m in ("torch", "onnx2torch", "safetensors") if importlib.util.find_spec(m) is None]
        if lacking:
            raise InvalidInput(f"Supertonic training needs {', '.join(lacking)}: pip install 'studio[train]'.")
        from studio.finetune.spec import PRESETS

        preset = PRESETS.get(spec.preset)
        if preset is not None and preset.gpu and spec.device == "cpu":
            raise InvalidInput(f"The {preset.name} preset is for a GPU (it sizes batches for 4 GB of video memory); "
                               "choose a GPU device, or another preset on the CPU.")  # fmt: skip
        if spec.device != "cpu" and not nvidia_gpu_seen():
            raise InvalidInput(f"Device {spec.device} was chosen, but no NVIDIA GPU is visible on this machine; choose "
                               "the CPU (with the quick, balanced or best preset).")  # fmt: skip
        if not spec.demo and spec.dataset:
            from studio.finetune.data import read_rows

            rows = [r for r in read_rows(Path(spec.dataset)) if str(r.get("text") or "").strip()]
            if len(rows) < MIN_CLIPS:
                raise InvalidInput(f"The dataset has {len(rows)} clip(s) with a transcript; Supertonic fine-tuning "
                                   f"needs at least {MIN_CLIPS}. For one recording, clone the voice in the Voice "
                                   "Clone tab instead.")  # fmt: skip

    @staticmethod
    def dataset_next_step() -> str:
        return ("Supertonic trains on it directly: the first run makes each clip's latent target (a few minutes on a "
                "GPU, longer on a CPU) and keeps them with the dataset.")  # fmt: skip

    @staticmethod
    def voice_model_version(made: dict[str, Any]) -> str:
        return ""

    @staticmethod
    def voice_engine(made: dict[str, Any]) -> str:
        return str(made.get("version") or "supertonic2")

    @staticmethod
    def voice_files(adapter: Path) -> dict[str, Path]:
        return {"adapter": adapter, "style": adapter / STYLE_FILE}

    @staticmethod
    def merge(result: Path, out: Path) -> Path:
        """A whole Supertonic model folder in the Hub layout: the base model's files with the run's trained graphs in
        place and the tuned style as a preset voice (voice_styles/tuned.json), so Studio, or the upstream code, loads
        it like the published model. Written whole or not at all."""
        from studio.fsutil import replace_dir, write_atomic

        info = json.loads((result / "studio_adapter.json").read_text())
        base = Path(str(info.get("base_model_path") or ""))
        if not (base / "onnx").is_dir():
            raise InvalidInput(f"The run's base model folder {base} is gone; download the model again to merge.")
        tmp = out.with_name(f".tmp-{out.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(base, tmp, ignore=shutil.ignore_patterns(".cache", "*.lock"))
        for graph in info.get("graphs") or []:
            shutil.copy2(result / graph_file(graph), tmp / graph_file(graph))
        shutil.copy2(result / STYLE_FILE, tmp / "voice_styles" / "tuned.json")
        write_atomic(tmp / "studio_merged.json", json.dumps({**info, "merged_from": str(result)}))
        return replace_dir(tmp, out, marker="studio_merged.json")


def nvidia_gpu_seen() -> bool:
    """Whether the NVIDIA driver shows a GPU here (no torch import: the app's process)."""
    root = Path("/proc/driver/nvidia/gpus")
    return (root.is_dir() and any(root.iterdir())) or Path("/dev/nvidia0").exists() or bool(shutil.which("nvidia-smi"))


def tuned_engine(base: Path, result: Path, device: str = "cpu") -> Any:
    """An ONNX Runtime engine on the base model with the result's trained graphs in place of the base ones."""
    from studio.systems.supertonic.engine import SupertonicEngine

    return SupertonicEngine.load(base, device).with_graphs(result)


def trained_graphs(result: Path) -> list[str]:
    return [g for g in GRAPHS if (result / graph_file(g)).is_file()]
