"""`python -m studio train ...` and `python -m studio runs [stop ID|resume ID|show ID|push-eval ID --repo O/N]`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from studio.config import Settings
from studio.errors import InvalidInput
from studio.finetune import settings as table
from studio.finetune.metrics import evaluation_text, timing_text
from studio.finetune.spec import DEFAULT_BASE_MODEL, PRESETS, QWEN3_BASE_MODEL, SUPERTONIC_BASE_MODEL, TrainSpec


def add_parsers(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="LoRA fine-tuning of a KaniTTS model in a training process (spec, dataset or --demo)",
        description=(
            "Start a training run: writes runs/<id>/spec.json and runs the trainer in its own process; the loss goes "
            "to runs/<id>/metrics.jsonl. Waits and prints progress unless --detach; Ctrl-C stops the run with a "
            "checkpoint (resume with: studio runs resume ID)."
        ),
    )
    what = train.add_mutually_exclusive_group(required=True)
    what.add_argument("--spec", help="a spec.json to run as it is (a new run id is given if it is taken)")
    what.add_argument("--dataset", help="a dataset folder (manifest.jsonl with codec tokens, or nano_layer columns)")
    what.add_argument(
        "--datasets",
        metavar="CONFIG",
        help="several datasets in one KaniTTS run: a .json, .toml or .yaml config listing each dataset (path: a "
        "folder, a file or a saved dataset's name, or hub: owner/name with config and split) with its own speaker, "
        "filters (column = value), max_seconds, max_tokens and max_rows; the KaniTTS pipeline's dataset_config.yaml "
        "works as it is",
    )
    what.add_argument(
        "--demo",
        action="store_true",
        help="train a tiny model built from a config on a synthetic dataset (under a minute on CPU, no downloads)",
    )
    train.add_argument("--preset", default="balanced", choices=sorted(PRESETS), help="settings preset (--dataset)")
    train.add_argument(
        "--base-model",
        default=None,
        help=f"Hub id or folder (default {DEFAULT_BASE_MODEL}; with --backend qwen3_tts {QWEN3_BASE_MODEL}; with "
        f"--backend supertonic {SUPERTONIC_BASE_MODEL}, supertonic3 or a Supertonic model folder)",
    )
    train.add_argument("--name", default="", help="run name")
    train.add_argument(
        "--speaker",
        default=None,
        help="speaker prefix for multi-speaker base models (a dataset whose rows name several speakers prefixes each "
        "row with its own; this one then goes to rows without a speaker)",
    )
    train.add_argument(
        "--eval-set",
        default=None,
        metavar="FILE",
        help="the evaluation sentences: .txt (one a line, `speaker | sentence` for a given speaker), .jsonl/.json "
        "(objects with id, text, speaker) or the KaniTTS pipeline's eval_set.yaml; default: five built-in sentences",
    )
    train.add_argument("--device", default="cpu", help="cpu, cuda or cuda:0,1 (several GPUs use accelerate launch)")
    train.add_argument("--detach", action="store_true", help="start and return; follow it with `studio runs`")
    table.add_arguments(train)  # one flag per training setting (studio.finetune.settings), as the Fine-tune form

    runs = sub.add_parser(
        "runs",
        help="list training runs; stop, resume or show one; push one's evaluation to the Hub",
        description=(
            "List the runs (state, step, where each run's time went: data loading, forward/backward, evaluation, "
            "checkpoints, GPU use; and the evaluation's WER and speaker similarity), stop or resume one, show one's "
            "whole status as JSON, or push one's evaluation results to the Hugging Face Hub as a dataset "
            "(push-eval ID --repo owner/name: per sentence the model, its training configuration, the sentence, its "
            "speaker, the audio, WER and speaker similarity; the base model's too when an experiment scored it)."
        ),
    )
    runs.add_argument("action", nargs="?", default="list", choices=["list", "stop", "resume", "show", "push-eval"])
    runs.add_argument("run_id", nargs="?", help="run id (stop/resume/show/push-eval)")
    runs.add_argument("--repo", metavar="OWNER/NAME", help="push-eval: the dataset repository to create or update")
    runs.add_argument(
        "--token",
        default=None,
        help="push-eval: a Hugging Face access token with write permission (default: the HF_TOKEN environment "
        "variable, else the token saved by `hf auth login`)",
    )
    runs.add_argument(
        "--public", action="store_true", help="push-eval: make a new repository public (default: private)"
    )
    runs.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="push-eval: where the dataset folder <run id>-eval is written before the upload (default: the outputs "
        "folder)",
    )


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    service = Studio(settings=settings).finetune
    given = table.from_arguments(args)  # the training settings given on the command line, by name
    if args.demo:
        spec = table.apply(service.demo_spec(name=args.name or "demo", device=args.device), given)
    elif args.spec:
        spec = table.apply(TrainSpec.load(args.spec), given) if given else TrainSpec.load(args.spec)
        if (settings.runs_dir / spec.run_id).exists():
            spec.run_id = f"{spec.run_id}-{int(time.time())}"
    elif args.datasets:
        datasets, max_seconds = service.datasets_config(path=args.datasets)
        if max_seconds is not None:
            given.setdefault("max_audio_seconds", max_seconds)
        base_model = args.base_model or DEFAULT_BASE_MODEL
        spec = service.spec(args.preset, name=args.name or "voice", dataset="", base_model=base_model,
                            device=args.device, speaker=args.speaker, datasets=datasets)  # fmt: skip
        spec = table.apply(spec, given)
    else:
        backend = table.BY_NAME["backend"].convert(given.pop("backend", None) or "kani")
        if backend == "qwen3_tts":  # the family's own defaults where not given (as the form switches them)
            given.setdefault("target_modules", list(table.QWEN3_DEFAULT_TARGETS))
        defaults = {"qwen3_tts": QWEN3_BASE_MODEL, "supertonic": SUPERTONIC_BASE_MODEL}
        base_model = args.base_model or defaults.get(backend, DEFAULT_BASE_MODEL)
        spec = service.spec(
            args.preset,
            name=args.name or "voice",
            dataset=args.dataset,
            base_model=base_model,
            device=args.device,
            speaker=args.speaker,
            backend=backend,
        )
        spec = table.apply(spec, given)
    if args.eval_set:
        from studio.finetune.evalset import read_file

        spec.eval_set = [line.to_json() for line in read_file(args.eval_set)]
    info = service.start(spec.validate())
    print(f"run {info.run_id} started (pid {info.status.get('pid')}); folder {info.folder}")
    if args.detach:
        return 0
    return _follow(service, info.run_id)


def _follow(service: object, run_id: str) -> int:
    from studio.clock import clock
    from studio.finetune.service import FineTune

    assert isinstance(service, FineTune)
    try:
        while True:
            info = service.get(run_id)
            st = info.status
            eta = st.get("eta_s")
            loss = st.get("train_loss")
            line = (
                f"[{info.state}] step {st.get('step', 0)}/{st.get('total_steps', '?')}"
                + (f" phase {st['phase']}/{st.get('phases')}" if st.get("phase") else "")
                + (f" loss {loss:.4f}" if isinstance(loss, (int, float)) else "")
                + (f" ETA {clock(eta)}" if isinstance(eta, (int, float)) and eta > 0 else "")
            )
            sys.stderr.write(f"\r{line[:100]:<100}")
            sys.stderr.flush()
            if not info.alive and info.state not in ("starting",):
                sys.stderr.write("\n")
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        sys.stderr.write("\nstopping (saving a checkpoint)...\n")
        service.stop(run_id, wait=True)
    service.runner.wait(run_id, timeout=120)
    info = service.get(run_id)
    print(f"run {run_id}: {info.state}" + (f": {info.status.get('error')}" if info.status.get("error") else ""))
    spent = timing_text(info.status.get("timing"))
    if spent:
        print(f"time: {spent}")
    if info.state == "failed":
        tail = info.files.log_tail(15)
        if tail:
            print(tail, file=sys.stderr)
        return 1
    if info.state == "finished":
        print(f"adapter: {info.files.adapter}")
    return 0


def run_runs(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    service = Studio(settings=settings).finetune
    if args.action == "list":
        runs = service.all()
        if not runs:
            print(f"no runs in {settings.runs_dir}")
        for run in runs:
            st = run.status
            phase = f" phase {st['phase']}/{st.get('phases')}" if st.get("phase") else ""
            print(
                f"{run.run_id:<45} {run.state:<12} step {st.get('step', 0)}/{st.get('total_steps', '?'):<6} "
                f"{(run.spec.name if run.spec else ''):<20} {st.get('error') or ''}{phase}"
            )
            spent = timing_text(st.get("timing"))
            if spent:
                print(f"{'':<45} time: {spent}")
            scored = evaluation_text(st.get("evaluation"))
            if scored:
                print(f"{'':<45} evaluation: {scored}")
        return 0
    if not args.run_id:
        raise InvalidInput(f"`studio runs {args.action}` needs a run id (see `studio runs`).")
    if args.action == "stop":
        info = service.stop(args.run_id, wait=True)
        print(f"run {args.run_id}: {info.state}")
        return 0
    if args.action == "push-eval":
        return _push_eval(service, args, settings)
    if args.action == "resume":
        info = service.resume(args.run_id)
        print(f"run {info.run_id} resumed (pid {info.status.get('pid')})")
        return _follow(service, info.run_id)
    info = service.get(args.run_id)
    shown = {"run_id": info.run_id, "state": info.state, "time": timing_text(info.status.get("timing")),
             "status": info.status}  # fmt: skip
    print(json.dumps(shown, indent=2, default=str))
    return 0


def _push_eval(service: Any, args: argparse.Namespace, settings: Settings) -> int:
    """The run's evaluation as a Hub dataset: every check (the run, the repository id, a token, scored sentences)
    before anything is written or sent, then the folder (`FineTune.evaluation_dataset`), then the upload."""
    import os
    from pathlib import Path

    from studio.finetune.sharing import check_repo_id

    if not args.repo:
        raise InvalidInput("`studio runs push-eval` needs --repo owner/name (the dataset repository to push to).")
    service.runs.get(args.run_id)  # an unknown run says so first
    repo = args.repo.strip()
    check_repo_id(repo)
    token = (args.token or os.environ.get("HF_TOKEN") or "").strip() or _saved_token()
    if not token:
        raise InvalidInput(
            "Pushing needs a Hugging Face access token with write permission: give --token TOKEN, set HF_TOKEN, or "
            "log in once with `hf auth login`."
        )
    out = Path(args.out).expanduser() if args.out else settings.outputs_dir
    out.mkdir(parents=True, exist_ok=True)
    folder = service.evaluation_dataset(args.run_id, out)
    print(f"wrote {folder}")
    url = service.push_to_hub(folder, repo, token, private=not args.public, repo_type="dataset")
    print(f"pushed the evaluation of run {args.run_id} to {url}")
    return 0


def _saved_token() -> str:
    try:
        from huggingface_hub import get_token

        return (get_token() or "").strip()
    except Exception:  # an unreadable token file is no token
        return ""
