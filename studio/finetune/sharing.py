"""Sharing a finished run's result (for the Fine-tune service, `service.py`): a copy of its adapter folder, the
model merged with it (in its own process: the app never loads torch), its evaluation as a Hugging Face audio dataset
folder, and a push of such a folder to the Hub."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from studio.errors import InvalidInput, StudioError, storage_error
from studio.finetune.runs import RunInfo
from studio.fsutil import NotStudios, replace_dir


def copy_adapter(src: Path, run_id: str, dest: Path) -> Path:
    """A copy of the run's adapter folder (the small file set to share or load with peft)."""
    target = dest / f"{run_id}-adapter"
    built = dest / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(built, ignore_errors=True)
    try:
        shutil.copytree(src, built)
        return replace_dir(built, target, marker="studio_adapter.json")
    except NotStudios as exc:
        raise InvalidInput(f"{exc}.") from exc
    except OSError as exc:
        raise storage_error(exc, f"the adapter of run {run_id}") from exc
    finally:
        shutil.rmtree(built, ignore_errors=True)


def merge(src: Path, run_id: str, dest: Path, timeout: float = 3600) -> Path:
    """Base + adapter merged into one model folder, in its own process (the app never loads torch)."""
    target = dest / f"{run_id}-merged"
    if target.exists() and not (target / "studio_merged.json").is_file():
        raise InvalidInput(f"{target} exists and was not written by Studio; move it away or choose another folder.")
    proc = subprocess.run(
        [sys.executable, "-m", "studio.finetune.export", str(src), str(target)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise StudioError(f"Merging the adapter into the base model failed:\n{tail}")
    return target


def evaluation_dataset(info: RunInfo, run_id: str, dest: Path) -> Path:
    """The run's evaluation (and the base model's, when an experiment scored it) as a Hugging Face audio dataset
    folder `<dest>/<run_id>-eval` (`evaluate.write_hub_dataset`): per sentence the model, its training
    configuration, the sentence, its speaker, the audio, WER and speaker similarity."""
    from dataclasses import asdict

    from studio.finetune.evaluate import EvalResult, write_hub_dataset

    spec = info.spec
    if spec is None:
        raise InvalidInput(f"Run {run_id}'s spec cannot be read.")
    trained = {"base_model": spec.base_model, "backend": spec.backend, "preset": spec.preset,
               "speaker": spec.speaker, "lora": asdict(spec.lora), "trainer": asdict(spec.trainer)}  # fmt: skip
    results = []
    for folder, config in ((info.folder / "eval-base", {"base_model": spec.base_model}),
                           (info.files.evaluation, trained)):  # fmt: skip
        try:
            results.append((EvalResult.load(folder), config))
        except InvalidInput:
            continue
    try:
        return write_hub_dataset(results, Path(dest) / f"{run_id}-eval")
    except NotStudios as exc:
        raise InvalidInput(f"{exc}.") from exc
    except OSError as exc:
        raise storage_error(exc, f"the evaluation of run {run_id}") from exc


def push_to_hub(folder: Path, repo_id: str, token: str, private: bool = True, repo_type: str = "model") -> str:
    """Upload an exported folder to the Hugging Face Hub (a model, or a dataset repository); returns its URL."""
    if not token.strip():
        raise InvalidInput("Paste a Hugging Face access token with write permission to push.")
    check_repo_id(repo_id)
    if not folder.is_dir():
        raise InvalidInput(f"Export the run first: {folder} does not exist.")
    from huggingface_hub import HfApi

    api = HfApi(token=token.strip())
    message = "Studio evaluation" if repo_type == "dataset" else "Studio fine-tune export"
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type=repo_type)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=message)
    except Exception as exc:  # network, auth and permission errors all end here with the Hub's own words
        raise StudioError(f"Pushing to the Hub failed: {exc}") from exc
    return f"https://huggingface.co/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.\-]{0,95}/[A-Za-z0-9][\w.\-]{0,95}")


def check_repo_id(repo_id: str) -> None:
    """A Hub repository id (owner/name: letters, digits, - _ .), or a message showing its form."""
    if not _REPO_ID.fullmatch(repo_id or "") or ".." in repo_id or "--" in repo_id:
        raise InvalidInput(f"Repository {repo_id!r} should look like your-name/my-voice.")
