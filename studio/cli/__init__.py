"""Command-line interface: `python -m studio {ui,serve,engines,model,synth,book,bench,train,runs,voice,download}`."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from studio import __version__
from studio.config import DEFAULT_ENGINE, DEFAULT_HOST, Settings
from studio.errors import StudioError

DEFAULT_API_PORT = 8000
STEPS_HELP = (
    "denoising steps, for engines that have them (Supertonic: 2-5 real-time, 16 balanced, 32-64 high, "
    "128 maximum; default 16 on a GPU, the model's own on a CPU)"
)


def _progress(fraction: float, message: str) -> None:
    sys.stderr.write(f"\r[{fraction * 100:5.1f}%] {message[:70]:<70}")
    sys.stderr.flush()
    if fraction >= 1.0:
        sys.stderr.write("\n")


def _book_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("book", type=Path, nargs="?", help="the book: .epub, .pdf (with a text layer), .docx, .md, "
                        ".html, .txt, or .mobi/.azw/.azw3 (with Calibre's ebook-convert installed)")  # fmt: skip
    parser.add_argument("--text-file", type=Path, help="a text (UTF-8) to make a book of instead, '-' for stdin; "
                        "titled by its first line when that is short, else 'Pasted text'")  # fmt: skip
    parser.add_argument("--title", help="the book's title (with --text-file)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Studio: an open-source voice studio.")
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("--home", help="data folder (default: $STUDIO_HOME or ./data)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    ui = sub.add_parser("ui", help="launch the web app")
    ui.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=None, help="port (default 7860)")
    ui.add_argument("--share", action="store_true", help="also create a public gradio.live link")

    serve = sub.add_parser(
        "serve",
        help="serve an OpenAI-compatible speech API (POST /v1/audio/speech, GET /v1/models, GET /v1/audio/voices)",
        description="Serve an OpenAI-compatible speech API: point an OpenAI client at http://HOST:PORT/v1. "
        "If the environment variable STUDIO_API_KEY is set, every request must send 'Authorization: Bearer <that "
        "key>'; if it is not set, the API is open to anyone who can reach the address. `studio ui` serves the "
        "same API beside the web app.",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_API_PORT, help=f"port (default {DEFAULT_API_PORT})")

    sub.add_parser("engines", help="list engines, voices, languages, availability and how to fix what is missing")

    model = sub.add_parser(
        "model",
        help="list an engine's checkpoints (Qwen3-TTS), or choose the one it runs",
        description="Qwen3-TTS has four checkpoints: 0.6b-base, 1.7b-base (cloned voices), 0.6b-customvoice, "
        "1.7b-customvoice (preset speakers; the 1.7B one follows instructions). Without NAME, list them: which are "
        "downloaded and which runs. With NAME (a short name, a Hub id, or 'placed' for a folder in "
        "models/qwen3_tts), run that one from now on (remembered in the data folder; STUDIO_QWEN3_MODEL overrides "
        "it). Download one with `studio download qwen3_tts --model NAME`.",
    )
    model.add_argument("engine", help="engine name, e.g. qwen3_tts")
    model.add_argument("name", nargs="?", help="the checkpoint to run, e.g. 1.7b-customvoice")

    synth = sub.add_parser(
        "synth",
        help="text to speech into a WAV/MP3/FLAC file",
        description="Speak a text into an audio file. Text of any length is spoken sentence by sentence and written "
        "as it is made (STUDIO_MAX_CHARS sets a limit; none by default). For a long text that should resume after a "
        "stop and be checked chunk by chunk, use `studio book render --text-file`.",
    )
    src = synth.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to speak")
    src.add_argument("--text-file", type=Path, help="read the text from this UTF-8 file ('-': stdin)")
    synth.add_argument("--out", type=Path, required=True, help="output file: .wav, .mp3 or .flac")
    synth.add_argument("--engine", default=DEFAULT_ENGINE, help="engine name (see `studio engines`)")
    synth.add_argument("--voice", help="voice id (default: the engine's first voice)")
    synth.add_argument("--model", help="choose the engine's checkpoint first, e.g. 1.7b-customvoice for qwen3_tts "
                       "(remembered, as `studio model`; see `studio model qwen3_tts`)")  # fmt: skip
    synth.add_argument("--lang", help="language code (default: the engine's default)")
    synth.add_argument("--steps", type=int, help=STEPS_HELP)
    synth.add_argument("--speed", type=float, help="speaking rate, 1.0 = normal")
    synth.add_argument("--seed", type=int, help="random seed for reproducible output")
    synth.add_argument("--instruct", help="how to speak, in words, e.g. 'speak slowly and warmly' (engines that take "
                       "instructions: Qwen3-TTS with a 1.7B CustomVoice checkpoint; for qwen3_tts_design, the voice's "
                       "description; see `studio engines`)")  # fmt: skip
    synth.add_argument("--duration", type=float, metavar="SECONDS",
                       help="how long the take lasts, for engines whose length is an input (smalltts; default: "
                       "estimated from the voice's own speaking rate)")  # fmt: skip
    synth.add_argument("--gpu", action="store_true", help="run on CUDA if it works here (else CPU, with the reason)")
    synth.add_argument("--no-normalize", action="store_true", help="speak the text exactly as written")
    synth.add_argument("--subtitles", metavar="FORMATS", default="",
                       help="also write the take's sentences, timed, beside it: srt, vtt or srt,vtt")  # fmt: skip
    synth.add_argument("--subtitle-words", action="store_true",
                       help="subtitles with a cue per word, timed by speech recognition hearing the take (writes "
                       "srt and vtt unless --subtitles names the formats)")  # fmt: skip

    book = sub.add_parser("book", help="audiobooks: plan a book (EPUB, PDF, DOCX, Markdown, HTML, Kindle, TXT), "
                          "render it (resumable) and export M4B/MP3")  # fmt: skip
    book_sub = book.add_subparsers(dest="book_command", required=True)
    bplan = book_sub.add_parser("plan", help="print the chapters and chunks as JSON")
    _book_source(bplan)
    bplan.add_argument("--engine", default=DEFAULT_ENGINE, help="engine whose chunk size to use")
    bplan.add_argument("--dialogue", action="store_true", help="split quoted dialogue into its own chunks")
    brender = book_sub.add_parser("render", help="render (or resume) and export; run it again to resume")
    _book_source(brender)
    brender.add_argument("--out", type=Path, required=True, help="output folder (the job state lives in it too)")
    brender.add_argument("--engine", default=DEFAULT_ENGINE)
    brender.add_argument("--voice", help="narrator voice (default: the engine's first)")
    brender.add_argument("--dialogue-voice", help="a second voice for text in quotation marks")
    brender.add_argument("--chapters", help="chapter numbers from `book plan`, e.g. 2,4-6 (default: included ones)")
    brender.add_argument("--format", default="m4b", help="comma-separated: m4b, mp3, wav, flac, epub3 (read-along "
                         "EPUB 3: the text highlighted as it is read), srt, vtt (subtitles: the book and each "
                         "chapter; also embedded in the M4B) (default m4b)")  # fmt: skip
    brender.add_argument("--subtitle-words", action="store_true",
                         help="subtitles with a cue per word (timed by the speech-recognition checks)")  # fmt: skip
    brender.add_argument(
        "--qa",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="check every chunk by speech recognition (Whisper tiny.en; the multilingual base for other languages and "
        "as a second opinion on what tiny.en hears wrong), keep when each word was said, and re-render bad ones "
        "(default on)",
    )
    brender.add_argument("--lexicon", type=Path, help="pronunciation file: one `word = say it like this` per line")
    brender.add_argument("--paragraph-gap", type=float, default=0.6, help="seconds of silence after a paragraph")
    brender.add_argument("--chapter-gap", type=float, default=1.5, help="seconds of silence after a chapter")
    brender.add_argument(
        "--sentence-gap",
        type=float,
        help="seconds of silence between chunks (default 0.25; Supertonic 0.3, its own pause)",
    )
    brender.add_argument("--speed", type=float)
    brender.add_argument("--instruct", help="how to narrate, in words, e.g. 'calm, warm narration' (engines that take "
                         "instructions: Qwen3-TTS with the 1.7B CustomVoice checkpoint); part of every chunk's key: "
                         "new instructions render the book again")  # fmt: skip
    brender.add_argument("--steps", type=int, help=STEPS_HELP)
    brender.add_argument("--gpu", action="store_true")
    from studio.cli.book_review import add_parsers as add_review

    add_review(book_sub)  # flagged, accept, regenerate: review what speech recognition heard differently

    from studio.cli.bench import add_parser as add_bench

    add_bench(sub)

    from studio.cli.finetune import add_parsers as add_finetune

    add_finetune(sub)

    from studio.cli.voices import add_parser as add_voice

    add_voice(sub)

    from studio.cli.supertonic import add_parser as add_supertonic

    add_supertonic(sub)

    dl = sub.add_parser("download", help="download model weights or Piper voices from the Hugging Face Hub")
    dl.add_argument("what", help="an engine name (supertonic2, supertonic3, qwen3_tts, ...) or 'piper:<voice key>', "
                    "or 'piper' to list")  # fmt: skip
    dl.add_argument("--model", help="which checkpoint of an engine with several: for qwen3_tts 0.6b-base "
                    "(default), 1.7b-base, 0.6b-customvoice, 1.7b-customvoice, or a Hub id (see `studio model "
                    "qwen3_tts`)")  # fmt: skip
    return parser


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from studio.api import Studio
    from studio.server import create_api

    api_key = settings.api_key
    if api_key is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        reach = f"{args.host}:{args.port}"
        print(f"warning: STUDIO_API_KEY is not set: anyone who can reach {reach} can use the API", file=sys.stderr)
    app = create_api(Studio(settings=settings), api_key=api_key)
    key_note = "with the key from STUDIO_API_KEY" if api_key else "without a key"
    print(f"OpenAI-compatible speech API on http://{args.host}:{args.port}/v1 ({key_note}); Ctrl+C stops it")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def _cmd_engines(settings: Settings) -> int:
    from studio.api import Studio

    studio = Studio(settings=settings)
    for status in studio.engines():
        info = status.info
        mark = "available" if status.available else "NOT available"
        print(f"{status.name}  ({status.label}, {info.sample_rate} Hz)  {mark}")
        if not status.available:
            print(f"    {status.message}")
        print(f"    languages: {', '.join(info.languages)}")
        if info.supports_steps:
            gpu = f", {info.gpu_default_steps} on a GPU" if info.gpu_default_steps else ""
            print(f"    steps: {info.min_steps}-{info.max_steps} (default {info.default_steps}{gpu})")
        if info.supports_speed:
            print(f"    speed: {info.min_speed:g}-{info.max_speed:g} (default {info.default_speed:g})")
        if info.instructions_required:
            print("    instructions: required, the voice's description (--instruct 'a warm, low voice, calm')")
        elif info.supports_instructions:
            print("    instructions: yes (--instruct 'speak slowly and warmly')")
        if info.supports_duration:
            print("    length: asked for in seconds (--duration 4.5), else estimated from the voice")
        if info.supports_events:
            print("    event tags: performed where written, e.g. [laughter]:")
            from studio.text.events import EVENTS

            print(f"      {' '.join(f'[{e}]' for e in EVENTS)}")
        if info.license:
            print(f"    license: {info.license}")
        if status.voices:
            print(f"    voices: {', '.join(v.id for v in status.voices)}")
        running = [m for m in studio.models(status.name) if m.running]
        if running:
            print(f"    checkpoint: {running[0].short} ({running[0].label}); others: `studio model {status.name}`")
    return 0


def _cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    studio = Studio(settings=settings)
    if args.name:
        chosen = studio.choose_model(args.engine, args.name)
        print(f"{args.engine} runs {chosen.short} ({chosen.label}) from now on")
    models = studio.models(args.engine)
    if not models:
        raise StudioError(f"{args.engine} has one model; there is no checkpoint to choose.")
    for m in models:
        mark = "*" if m.running else " "
        where = "downloaded" if m.present else f"not downloaded: studio download {args.engine} --model {m.short}"
        print(f"{mark} {m.short:<18} {m.label}  ({where})")
    return 0


def _read_text(path: Path) -> str:
    """A UTF-8 text file (a byte-order mark is dropped), or stdin for '-'."""
    try:
        if str(path) == "-":
            return sys.stdin.read()
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudioError(f"Cannot read {path}: {exc}") from exc


def _cmd_synth(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    text = _read_text(args.text_file) if args.text_file is not None else args.text
    subtitles = tuple(dict.fromkeys(f.strip().lower() for f in args.subtitles.split(",") if f.strip()))
    if args.subtitle_words and not subtitles:
        subtitles = ("srt", "vtt")
    studio = Studio(settings=settings)
    if args.model:
        chosen = studio.choose_model(args.engine, args.model)
        print(f"{args.engine} runs {chosen.short} ({chosen.label})", file=sys.stderr)
    cancel = threading.Event()
    try:
        # written sentence by sentence as it is spoken: a text of any length takes the memory of one sentence
        path, stats, warnings = studio.synthesize_to_file(
            text,
            args.out,
            args.engine,
            args.voice,
            language=args.lang,
            steps=args.steps,
            speed=args.speed,
            gpu=args.gpu,
            normalize=not args.no_normalize,
            seed=args.seed,
            instruct=args.instruct,
            duration=args.duration,
            cancel=cancel,
            subtitles=subtitles,
            subtitle_words=args.subtitle_words,
        )
    except KeyboardInterrupt:
        cancel.set()
        return 130
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {path} ({stats.summary()})")
    for fmt in subtitles:
        if path.with_suffix("." + fmt).is_file():
            print(f"wrote {path.with_suffix('.' + fmt)}")
    return 0


def _cmd_book(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from studio.api import Studio
    from studio.book.job import RenderSettings
    from studio.book.plan import check_lexicon, parse_chapter_selection, parse_lexicon
    from studio.book.render import RenderProgress
    from studio.book.service import CLI_JOB_FOLDER
    from studio.cli.book_review import COMMANDS as REVIEW
    from studio.cli.book_review import run as run_review

    if args.book_command in REVIEW:
        return run_review(args, settings)
    books = Studio(settings=settings).books
    if (args.book is None) == (args.text_file is None):
        raise StudioError("Give a book file, or --text-file with a text to make a book of (one of the two).")
    if args.text_file is not None:
        text = _read_text(args.text_file)
        book = books.text_book(text, args.title)
        source = args.text_file.name if str(args.text_file) != "-" else "stdin"
    else:
        book = books.load(args.book)
        source = args.book.name
    for warning in book.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.book_command == "plan":
        plan = books.plan(book, args.engine, args.dialogue)
        print(json.dumps(plan.summary(), ensure_ascii=False, indent=2))
        return 0
    lexicon = parse_lexicon(args.lexicon.read_text(encoding="utf-8")) if args.lexicon else []
    plan = books.plan(book, args.engine, bool(args.dialogue_voice), lexicon)
    check_lexicon(plan.lexicon, (k.text for c in plan.chapters for k in c.chunks))  # a slow rule: refused, named
    chapters = parse_chapter_selection(args.chapters, len(plan.chapters)) if args.chapters else None
    voice = args.voice
    if not voice and books.registry.available(args.engine).ok:
        voice = books.registry.voices(args.engine)[0].id
    render = RenderSettings(
        engine=args.engine,
        voice=voice or "",
        dialogue_voice=args.dialogue_voice,
        speed=args.speed,
        steps=args.steps,
        instruct=args.instruct,
        gpu=args.gpu,
        qa=args.qa,
        chapters=chapters,
        formats=tuple(f.strip().lower() for f in args.format.split(",") if f.strip()),
        subtitle_words=args.subtitle_words,
        sentence_gap=args.sentence_gap,
        paragraph_gap=args.paragraph_gap,
        chapter_gap=args.chapter_gap,
    )
    job = books.create_job(book, plan, render, source, folder=args.out / CLI_JOB_FOLDER)
    cancel = threading.Event()

    def progress(p: RenderProgress) -> None:
        sys.stderr.write(f"\r{p.line()[:110]:<110}")
        sys.stderr.flush()

    try:
        report = books.render(job, progress, cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("\nstopped: run the same command again to resume", file=sys.stderr)
        return 130
    sys.stderr.write("\n")
    print(f"rendered {report.rendered} chunks, reused {report.reused} of {report.total}")
    for ch in report.chapters:
        wer = "unchecked" if ch.wer is None else f"WER {ch.wer:.1%}"
        flags = f", {len(ch.flagged)} flagged: {', '.join(ch.flagged)}" if ch.flagged else ""
        print(f"  {ch.index:3d}. {ch.title[:50]:<50} {ch.seconds / 60:6.1f} min  {wer}{flags}")
    if report.book_wer is not None:
        print(f"book WER {report.book_wer:.1%}")
    if report.cancelled:
        return 130

    def export_progress(fraction: float, message: str) -> None:
        _progress(fraction, message)

    from studio.book.render import release_memory

    books.registry.forget()  # the command is done with the engine: export runs without the model in memory
    release_memory()
    result = books.export(job, export_progress, cancel, out_dir=args.out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for paths in result.files.values():
        for path in paths:
            print(f"wrote {path}")
    return 0


def _cmd_download(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    studio = Studio(settings=settings)
    what: str = args.what
    if what == "piper" or what.startswith("piper:"):
        if args.model:
            raise StudioError("Piper voices are chosen by their key (piper:<voice key>), not --model.")
        from studio.systems.piper import catalog as piper_catalog

        if what == "piper":
            for voice in piper_catalog.load_catalog(settings, _progress):
                print(f"piper:{voice.key}  {voice.language}  {voice.quality}  {voice.size_mb:.0f} MB")
            return 0
        folder = piper_catalog.download_voice(settings, what.split(":", 1)[1], _progress)
        print(f"installed in {folder}")
        return 0
    studio.download(what, _progress, model=args.model)
    print(f"{what}: {studio.registry.available(what).message}")
    models = studio.models(what)
    if models:
        running = next((m.short for m in models if m.running), "none")
        print(f"{what} runs {running}; choose another downloaded checkpoint with `studio model {what} NAME`")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:  # the Hub client logs every retry; our own error message says what happened
        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    settings = Settings.load(args.home)
    try:
        if args.command == "ui":
            from studio.ui.app import launch

            launch(settings, host=args.host, port=args.port, share=args.share)
            return 0
        settings.ensure_dirs()
        if args.command == "serve":
            return _cmd_serve(args, settings)
        if args.command == "engines":
            return _cmd_engines(settings)
        if args.command == "synth":
            return _cmd_synth(args, settings)
        if args.command == "model":
            return _cmd_model(args, settings)
        if args.command == "download":
            return _cmd_download(args, settings)
        if args.command == "book":
            return _cmd_book(args, settings)
        if args.command == "bench":
            from studio.cli.bench import run as run_bench

            return run_bench(args, settings)
        if args.command == "train":
            from studio.cli.finetune import run_train

            return run_train(args, settings)
        if args.command == "voice":
            from studio.cli.voices import run as run_voice

            return run_voice(args, settings)
        if args.command == "runs":
            from studio.cli.finetune import run_runs

            return run_runs(args, settings)
        if args.command == "supertonic":
            from studio.cli.supertonic import run as run_supertonic

            return run_supertonic(args, settings)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1
