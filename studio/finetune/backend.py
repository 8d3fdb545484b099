"""The training contract: what one system's training backend fills in. The shared loop (`loop.py`) owns the rest:
accelerate, the optimizer and schedule, stop and resume, metrics, validation cadence, checkpoints, the result folder.

A backend answers six questions, and nothing else:
- data and model: `load()` reads the dataset, loads the base model and makes the trainable module;
- a batch: `batch(rows)` collates items of its own form into tensors on the loop's device;
- the loss: `loss(model, batch)`, and `validation_loss(model, items)` over the validation clips;
- checkpoint contents: `save_weights(folder)` / `load_weights(folder)` (the loop adds optimizer, schedule, RNG);
- the result: `fill_result(checkpoint, folder)` writes what `adapter/` holds, and says what it is
  (`studio_adapter.json`, which the loop writes for every backend), `speak(sentences, base)` (or `speak_lines`,
  with a speaker per sentence) for the evaluation;
- the export: `merge(result, out)`, run in its own process by `python -m studio.finetune.export`.
Optional: `is_new_parameter(name)` tells the run's new parameters (adapters, added layers) from the base model's,
for phases that give them a learning rate of their own (`phases.py`).

Which backend a run uses comes from the systems table (`studio.systems`, `System.training`); no backend is the base
class of another.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput, TrainingFailed

if TYPE_CHECKING:
    from studio.config import Settings
    from studio.finetune.evalset import EvalLine
    from studio.finetune.loop import Trainer
    from studio.finetune.spec import TrainSpec


@dataclass
class Loaded:
    """What `Backend.load` hands the loop: the module to train and the clips (one item each, the backend's form)."""

    model: Any  # what accelerate prepares; its trainable parameters are optimized
    train: list[Any] = field(default_factory=list)
    validation: list[Any] = field(default_factory=list)
    skipped: int = 0  # clips longer than max audio seconds


class EvaluationUnavailable(Exception):
    """`Backend.speak` cannot produce audio here; the message says why (recorded in the run's evaluation)."""


class Backend(ABC):
    """One system's training. `self.loop` is the shared loop (spec, accelerator, status, base model fetching)."""

    evaluate_base = False  # also speak the evaluation sentences with the base model before training (every run)

    def __init__(self, loop: Trainer) -> None:
        self.loop = loop
        self.spec = loop.spec
        self.base_path = ""  # the base model as a local folder, set by `load`
        self.tokenizer: Any = None

    @abstractmethod
    def load(self) -> Loaded:
        """Read the dataset (first: a missing one must not read as a model failure), fetch and load the base model,
        make it trainable; `self.loop.fetch_base()` gives the base model folder."""

    @abstractmethod
    def batch(self, rows: Sequence[Any]) -> dict[str, Any]:
        """Collate items of `Loaded.train` / `Loaded.validation` into tensors on `self.loop.acc.device`."""

    @abstractmethod
    def loss(self, model: Any, batch: dict[str, Any]) -> Any:
        """The training loss (a scalar tensor) of one batch on the prepared model."""

    @abstractmethod
    def validation_loss(self, model: Any, items: Sequence[Any]) -> float:
        """The mean validation loss over `items` (the loop calls it with gradients off and the model in eval)."""

    @abstractmethod
    def save_weights(self, folder: Path) -> None:
        """The trained weights into a checkpoint folder being written."""

    @abstractmethod
    def load_weights(self, folder: Path) -> None:
        """The weights of a checkpoint onto the prepared model (a resume)."""

    @abstractmethod
    def fill_result(self, checkpoint: Path, folder: Path) -> dict[str, Any]:
        """Write the run's result from `checkpoint` into the new `folder`; returns what studio_adapter.json adds
        (at least `backend`, and `mode` when the backend has several)."""

    def speak(self, sentences: Sequence[str], base: bool) -> list[tuple[str, Any, int]] | None:
        """(sentence, samples, sample rate) for each evaluation sentence, spoken by the tuned model (or, `base`,
        by the untuned one); None skips quietly; raise EvaluationUnavailable to record why it cannot."""
        return None

    def speak_lines(self, lines: Sequence[EvalLine], base: bool) -> list[tuple[EvalLine, Any, int]] | None:
        """(line, samples, sample rate) for each evaluation line, the line as it was said (its speaker filled in
        where the backend chose one). By default each line's text goes to `speak`; a backend that speaks with
        several speakers (KaniTTS's prompt prefix) overrides this."""
        spoken = self.speak([line.text for line in lines], base)
        if spoken is None:
            return None
        return [(line, samples, rate) for line, (_, samples, rate) in zip(lines, spoken, strict=True)]

    def is_new_parameter(self, name: str) -> bool:
        """Whether a trainable parameter (by its name in the loaded model) is one the run adds rather than one of the
        base model's: a phase's `new_learning_rate` applies to these. By default peft's adapter weights."""
        return "lora_" in name or "modules_to_save" in name

    def layer_of(self, name: str) -> int | None:
        """The layer a trainable parameter belongs to, counted from the input (what a phase's `freeze_layers`
        freezes); None outside the layer stacks. By default the decoder layer of `...layers.<i>....` names."""
        from studio.finetune.phases import layer_index

        return layer_index(name)

    @staticmethod
    def before_start(spec: TrainSpec, settings: Settings) -> None:
        """Checks (and completions of the spec) made in the app before a training process starts, with no torch
        imported: raise InvalidInput with what to do. Nothing by default."""
        return

    @staticmethod
    def voice_engine(made: dict[str, Any]) -> str:
        """The engine that speaks a library voice made from this result ('' : the system's engine_for_training)."""
        return ""

    @staticmethod
    def voice_files(adapter: Path) -> dict[str, Path]:
        """The files a library voice made from the result `adapter` keeps (payload key -> file or folder)."""
        return {"adapter": adapter}

    @staticmethod
    def dataset_next_step() -> str:
        """What a saved Studio dataset still needs before this backend trains on it, in a sentence for the user."""
        return ""

    @staticmethod
    def voice_model_version(made: dict[str, Any]) -> str:
        """The model version a library voice made from this result is listed under (its engine shows a voice only
        with a model of that version); `made` is the result's studio_adapter.json. Empty: any model."""
        return ""

    @staticmethod
    def merge(result: Path, out: Path) -> Path:
        """Base model + result -> one model folder at `out`, whole or not at all (its own process)."""
        raise InvalidInput("This model family cannot be merged into one model folder; export the result instead.")

    def load_message(self, exc: BaseException) -> str:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"The base model {self.spec.base_model!r} could not be loaded ({first[:300]}). Give a local model folder "
            "or a Hugging Face model id that is downloaded (or reachable)."
        )

    def failed_to_load(self, exc: BaseException) -> TrainingFailed:
        return TrainingFailed(self.load_message(exc))


def backend_class(name: str) -> type[Backend]:
    """The training backend of a system, from the systems table."""
    from studio.systems import system, trainable

    try:
        path = system(name).training
    except InvalidInput:
        path = None
    if not path:
        names = ", ".join(s.name for s in trainable())
        raise InvalidInput(f"Model family {name!r} cannot be fine-tuned; choose one of {names}.")
    module, _, attr = path.partition(":")
    found: type[Backend] = getattr(importlib.import_module(module), attr)
    return found
