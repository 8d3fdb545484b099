"""`studio book flagged|accept|regenerate`: review the chunks speech recognition heard differently, from a shell."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from studio.config import Settings
from studio.errors import InvalidInput

if TYPE_CHECKING:
    from studio.book.job import BookJob
    from studio.book.service import Audiobooks

COMMANDS = ("flagged", "accept", "regenerate")
EXPORT_AGAIN = ("the exported files hold the earlier takes: run `studio book render` with the same --out again to "
                "export the book with these (it renders nothing again)")  # fmt: skip
JOB_HELP = ("the job: the --out folder of `studio book render` (or its .studio-job folder), or the id of a job the "
            "app made (a folder name in its jobs folder)")  # fmt: skip


def add_parsers(book_sub: argparse._SubParsersAction) -> None:
    flagged = book_sub.add_parser("flagged", help="list the chunks speech recognition heard differently")
    flagged.add_argument("job", help=JOB_HELP)
    accept = book_sub.add_parser(
        "accept", help="keep flagged chunks as they are (no longer flagged; resume and export keep them)"
    )
    accept.add_argument("job", help=JOB_HELP)
    accept.add_argument("chunks", nargs="+", metavar="CHUNK", help="chunk ids from `book flagged`, like 001-00002")
    regen = book_sub.add_parser(
        "regenerate", help="make a new take of a chunk (a fresh seed, recorded) and check it again"
    )
    regen.add_argument("job", help=JOB_HELP)
    regen.add_argument("chunk", help="the chunk id, like 001-00002")
    regen.add_argument(
        "--seed", type=int, help="make the take with this seed (as `book flagged` shows it) instead of a fresh one"
    )


def _open(settings: Settings, books: Audiobooks, name: str) -> BookJob:
    from studio.book.job import PLAN_FILE, BookJob
    from studio.book.service import CLI_JOB_FOLDER

    path = Path(name).expanduser()
    for folder in (path / CLI_JOB_FOLDER, path):
        if (folder / PLAN_FILE).is_file():
            return BookJob.open(folder)
    if "/" not in name and (settings.jobs_dir / name / PLAN_FILE).is_file():
        return books.job(name)
    raise InvalidInput(f"No book job at {name!r}: give the --out folder of `studio book render`, or a job id of the "
                       "app (its jobs folder holds them).")  # fmt: skip


def _percent(wer: float | None) -> str:
    return "unchecked" if wer is None else f"WER {wer:.0%}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    books = Studio(settings=settings).books
    job = _open(settings, books, args.job)
    if args.book_command == "flagged":
        flagged = books.flagged(job)
        for f in flagged:
            seed = f"seed {f.seed}" if f.seed is not None else "the render's take"
            said = f", sounds {_percent(f.sounds)} off" if f.sounds is not None else ""
            print(f"{f.chunk_id}  WER {_percent(f.wer)}{said}  take {f.tries} ({seed})")
            print(f"    written: {f.text}")
            if f.spoken.strip() != f.text.strip():
                print(f"    said as: {f.spoken}")
            print(f"    heard:   {f.heard}")
        print(f"{len(flagged)} flagged chunk(s)" + ("" if flagged else ": nothing to review"))
        return 0
    if args.book_command == "accept":
        for chunk_id in args.chunks:
            books.accept(job, chunk_id)
            print(f"accepted {chunk_id}")
        print(f"{len(books.flagged(job))} flagged chunk(s) left")
    else:
        record = books.regenerate(job, args.chunk, args.seed)
        said = f", sounds {_percent(record.sounds)} off" if record.sounds is not None else ""
        heard = f"heard: {record.transcript}  (WER {_percent(record.wer)}{said})" if record.checked else "not checked"
        verdict = "still flagged" if record.flagged else ("passed" if record.checked else "kept")
        print(f"{args.chunk}: new take (seed {record.seed}), {heard}: {verdict}")
    if job.status().get("state") == "exported":
        print(EXPORT_AGAIN)
    return 0
