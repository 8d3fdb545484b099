"""A training run's result, written by the loop (`loop.py`) once training ends: the `adapter/` folder (from the best
checkpoint, whole or not at all, with `studio_adapter.json` saying what it is) and the audio evaluation of the result
(and of the base model), scored against the dataset's voice, one profile per speaker. Scoring itself is
`evaluate.py`."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import InvalidInput, StudioError
from studio.finetune.backend import EvaluationUnavailable
from studio.finetune.checkpoint import result_checkpoint
from studio.finetune.spec import TrainSpec
from studio.fsutil import replace_dir, write_atomic

if TYPE_CHECKING:
    from studio.finetune.loop import Trainer

log = logging.getLogger("studio.train")


def export_adapter(trainer: Trainer) -> Path:
    """The run's result in `adapter/` (whole or not at all), with `studio_adapter.json` saying what it is; returns
    the checkpoint it came from."""
    source = result_checkpoint(trainer)
    tmp = trainer.files.folder / ".tmp-adapter"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    extra = trainer.backend.fill_result(source, tmp)
    info = {
        "backend": trainer.spec.backend,
        "base_model": trainer.spec.base_model,
        "base_model_path": trainer.backend.base_path,
        "checkpoint": source.name,
        "run_id": trainer.spec.run_id,
        **extra,
    }
    write_atomic(tmp / "studio_adapter.json", json.dumps(info))
    replace_dir(tmp, trainer.files.adapter)
    return source


def evaluate_result(trainer: Trainer, base: bool) -> None:
    """Speak the evaluation set with the backend's `speak_lines` (the result's, or the base model's) and score it;
    see `Trainer.evaluate_audio`."""
    from studio.finetune.evalset import from_spec
    from studio.finetune.evaluate import EvalResult, evaluate_audio

    out = trainer.files.folder / "eval-base" if base else trainer.files.evaluation
    name = "base" if base else trainer.spec.name
    try:
        generated = trainer.backend.speak_lines(from_spec(trainer.spec.eval_set), base)
    except EvaluationUnavailable as why:
        if not base:  # the run's own evaluation records why; the base row of an experiment just stays out
            EvalResult(name=name, error=str(why)).save(out)
        return
    except Exception as exc:
        log.exception("speaking the evaluation sentences failed")
        EvalResult(name=name, error=f"Audio evaluation failed: {exc}").save(out)
        return
    if generated is None:
        return
    try:
        from studio.audio.asr import Transcriber

        encoder, profile, profiles = speaker_profile(trainer.spec)
        result = evaluate_audio(name, generated, out, Transcriber.load(), encoder=encoder, profile=profile,
                                profiles=profiles)  # fmt: skip
    except Exception as exc:
        log.exception("audio evaluation failed")
        result = EvalResult(name=name, error=f"Audio evaluation failed: {exc}")
    try:
        result.save(out)
        # the scores in brief, overall and per speaker, for every reader of its status (the base's beside them)
        trainer.status(**{"evaluation_base" if base else "evaluation": result.summary()})
    except Exception:  # the result is already saved: a full disk here never fails the training
        log.exception("saving the audio evaluation failed")


def speaker_profile(spec: TrainSpec) -> tuple[Any, Any, Any]:
    """The dataset's voice (from its clips, when it has audio) for speaker similarity, and one per speaker when
    its rows name several; (None, None, None) otherwise."""
    from studio.finetune.dataset import load_manifest
    from studio.finetune.evaluate import SpeakerEncoder, reference_profile, speaker_profiles

    if spec.datasets:  # several datasets: each speaker's own clips, from that speaker's dataset
        try:
            return mix_profiles(spec)
        except StudioError as exc:
            log.info("no speaker profiles: %s", exc)
            return None, None, None
    if not spec.dataset:
        return None, None, None
    folder = Path(spec.dataset)
    try:
        rows = [r for r in load_manifest(folder) if r.get("audio")]
        if not rows:
            return None, None, None
        encoder = SpeakerEncoder.load()
        return encoder, reference_profile(rows, folder, encoder), speaker_profiles(rows, folder, encoder)
    except StudioError as exc:
        log.info("no speaker profile: %s", exc)
        return None, None, None


def mix_profiles(spec: TrainSpec) -> tuple[Any, Any, Any]:
    """A run of several datasets: one voice profile per trained speaker, from the clips (with audio) of the
    dataset entries whose rows that speaker's name prefixed in training (`mix.speaker_rows`: the entry's speaker,
    else the rows' own, else the run's); rows trained without a speaker give the profile for sentences said by
    none. (None, None, None) when no entry has audio."""
    from studio.finetune.evaluate import SpeakerEncoder, reference_profile
    from studio.finetune.mix import speaker_rows

    groups = speaker_rows(spec.datasets, spec.speaker, spec.trainer.seed)
    if not groups:
        return None, None, None
    encoder = SpeakerEncoder.load()
    profiles, profile = {}, None
    for name, rows in groups.items():
        try:
            voice = reference_profile(rows, Path("."), encoder)
        except InvalidInput as exc:
            log.info("no voice profile for %s: %s", name or "the rows without a speaker", exc)
            continue
        if name:
            profiles[name] = voice
        else:
            profile = voice
    return encoder, profile, profiles
