"""`python -m studio voice list|show|rename|delete|export|import|mix|clone|design`: the voice library from a
terminal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from studio.config import Settings

if TYPE_CHECKING:
    from studio.api import Studio


def add_parser(sub: argparse._SubParsersAction) -> None:
    voice = sub.add_parser("voice", help="the voice library: list, show, rename, delete, export, import, mix, clone, "
                           "design")  # fmt: skip
    actions = voice.add_subparsers(dest="voice_action", required=True)
    actions.add_parser("list", help="every voice: id, engine, name, how it was made, similarity")
    show = actions.add_parser("show", help="one voice's voice.json")
    show.add_argument("id")
    rename = actions.add_parser("rename", help="change a voice's display name (its id stays)")
    rename.add_argument("id")
    rename.add_argument("name")
    delete = actions.add_parser("delete", help="delete a voice (its folder)")
    delete.add_argument("id")
    export = actions.add_parser("export", help="write a voice as a ZIP (to share or back up)")
    export.add_argument("id")
    export.add_argument("--out", default=".", help="folder for the ZIP (default: here)")
    imp = actions.add_parser("import", help="add a voice from a ZIP made by `voice export`")
    imp.add_argument("zip")
    mix = actions.add_parser(
        "mix",
        help="blend Supertonic voices: studio voice mix --engine supertonic2 F1:0.7 M2:0.3 --name NAME",
        description="A weighted blend of presets and library voices of one Supertonic version (weights are "
        "fractions of their sum; every style row is renormalized), saved as a library voice.",
    )
    mix.add_argument("--engine", default="supertonic2", help="supertonic2 or supertonic3 (or 'supertonic' = 2)")
    mix.add_argument("parts", nargs="+", help="VOICE:WEIGHT, e.g. F1:0.7 M2:0.3 (a library voice id works too)")
    mix.add_argument("--name", required=True)
    mix.add_argument("--notes", default="")
    clone = actions.add_parser(
        "clone",
        help="clone a recording: studio voice clone --engine supertonic --ref ref.wav --name NAME --consent",
        description="Make a library voice from a 3-30 s reference recording, with its measured speaker similarity. "
        "Supertonic: a style found by optimization (gradient: torch + onnx2torch through the model and a "
        "differentiable speaker encoder; blend: ONNX Runtime only, a search over blends of the presets). Qwen3-TTS: a "
        "clone prompt (--mode icl uses the transcript, xvector only the speaker embedding). smalltts: the recording's "
        "codec latents, with its speaking rate from the transcript.",
    )
    clone.add_argument("--engine", default="supertonic2",
                       help="supertonic2, supertonic3 (or 'supertonic' = 2), qwen3_tts or smalltts")  # fmt: skip
    clone.add_argument("--ref", required=True, help="the reference recording (WAV, FLAC, MP3, OGG, M4A; 3-30 s)")
    clone.add_argument("--text", default=None, help="what the recording says (default: transcribed by Whisper)")
    clone.add_argument("--name", required=True)
    clone.add_argument("--consent", action="store_true", help="confirm you have the speaker's permission (required)")
    clone.add_argument("--method", choices=("gradient", "blend"), default="gradient")
    clone.add_argument("--iterations", type=int, default=60, help="at most this many (stops early; default 60)")
    clone.add_argument("--steps", type=int, default=5, help="flow-matching steps while optimizing (default 5)")
    clone.add_argument("--lr", type=float, default=0.05, help="learning rate of the gradient method (default 0.05)")
    clone.add_argument("--seed", type=int, default=0)
    clone.add_argument("--mode", choices=("icl", "xvector"), default="icl", help="Qwen3-TTS only (default icl)")
    clone.add_argument(
        "--keep-pace",
        action="store_true",
        help="Supertonic: keep the start preset's pace (default: match the recording)",
    )
    design = actions.add_parser(
        "design",
        help='a voice from a description: studio voice design "a warm low voice" --name Ada',
        description="Qwen3-TTS Voice Design then Clone: the VoiceDesign checkpoint (python -m studio download "
        "qwen3_tts_design) speaks a sample sentence in the described voice, then the Base checkpoint (python -m studio "
        "download qwen3_tts) makes a clone prompt of it, kept as a qwen3_tts library voice. With --preview, only the "
        "sample is written (nothing is kept): the same --seed keeps that same voice afterwards.",
    )
    design.add_argument("description", help="the voice in words: age, tone, pace, accent, e.g. 'a warm low voice'")
    design.add_argument("--name", help="the new voice's name (required unless --preview)")
    design.add_argument("--text", default=None, help="the sample sentence it says (default: a greeting of ~10 s)")
    design.add_argument("--lang", default=None, help="language code of the sample (default: the model detects it)")
    design.add_argument("--seed", type=int, default=0, help="the same seed gives the same voice (default 0)")
    design.add_argument("--preview", type=Path, metavar="FILE", help="only write the sample to FILE (.wav/.flac/.mp3)")
    design.add_argument("--gpu", action="store_true", help="run on CUDA if it works here")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from studio.api import Studio

    studio = Studio(settings=settings)
    library = studio.library.library
    action = args.voice_action
    if action == "list":
        voices, broken = library.scan()
        if not voices and not broken:
            print(f"no voices in {settings.voices_dir}")
        for v in voices:
            sim = "" if v.similarity is None else f" similarity {v.similarity:.3f}"
            print(f"{v.id:<40} {v.engine:<12} {v.name:<30} {v.source.get('kind', '')}{sim}")
        for b in broken:
            print(f"{b.id:<40} {'BROKEN':<12} {b.reason}")
        return 0
    if action == "show":
        voice = library.get(args.id)
        print(json.dumps({"id": voice.id, "folder": str(voice.folder), **voice.to_json()}, indent=2))
        return 0
    if action == "rename":
        voice = library.rename(args.id, args.name)
        print(f"{voice.id}: now named {voice.name!r}")
        return 0
    if action == "delete":
        library.delete(args.id)
        print(f"deleted {args.id}")
        return 0
    if action == "export":
        print(library.export_zip(args.id, Path(args.out)))
        return 0
    if action == "import":
        voice = library.import_zip(Path(args.zip))
        print(f"imported {voice.name!r} as {voice.id} ({voice.engine})")
        return 0
    if action == "mix":
        from studio.systems.supertonic.mixing import parse_parts

        engine = "supertonic2" if args.engine == "supertonic" else args.engine
        voice = studio.library.mix(engine, parse_parts(args.parts), args.name, args.notes)
        recipe = ", ".join(f"{p['voice']} {p['weight']:.0%}" for p in voice.source["parts"])
        print(f"saved {voice.name!r} as {voice.id} ({engine}: {recipe})")
        return 0
    if action == "clone":
        return _clone(args, studio)
    if action == "design":
        return _design(args, studio)
    return 1


def _design(args: argparse.Namespace, studio: Studio) -> int:
    from studio.errors import InvalidInput

    device = "cuda" if args.gpu else "cpu"
    if args.preview is not None:
        audio = studio.library.design_preview(args.description, args.text, args.lang, args.seed, device)
        path = studio.save(audio, args.preview)
        print(f"wrote {path} ({audio.duration:.1f} s; keep this voice with --name NAME and the same --seed)")
        return 0
    if not args.name:
        raise InvalidInput("Give the new voice a name (--name NAME), or --preview FILE to hear the sample first.")
    voice = studio.library.design(args.description, args.name, args.text, args.lang, args.seed, device)
    print(f"saved {voice.name!r} as {voice.id} (qwen3_tts, designed; its sample: {voice.path('sample')})")
    return 0


def _clone(args: argparse.Namespace, studio: Studio) -> int:
    import sys

    from studio.voices.service import CloneProgress, CloneSettings

    engine = "supertonic2" if args.engine == "supertonic" else args.engine
    options = CloneSettings(method=args.method, iterations=args.iterations, flow_steps=args.steps,
                            learning_rate=args.lr, seed=args.seed, match_pace=not args.keep_pace)  # fmt: skip

    def show(p: CloneProgress) -> None:
        if p.iteration == 0:
            print(f"\r{p.phase}: similarity {p.similarity:.3f}", end="", file=sys.stderr, flush=True)
        else:
            print(f"\riteration {p.iteration}/{p.total}: similarity {p.similarity:.3f} (best {p.best:.3f}), "
                  f"ETA {p.eta:.0f} s   ", end="", file=sys.stderr, flush=True)  # fmt: skip

    voice, result = studio.library.clone(
        engine, Path(args.ref), args.name, bool(args.consent), args.text, options, on_progress=show, mode=args.mode
    )
    print(file=sys.stderr)
    if engine == "qwen3_tts":
        measured = f"similarity {voice.similarity:.3f}" if voice.similarity is not None else voice.notes
        print(f"saved {voice.name!r} as {voice.id} ({engine}, {args.mode} clone prompt): {measured}")
        return 0
    if engine == "smalltts":
        measured = f"similarity {voice.similarity:.3f}" if voice.similarity is not None else voice.notes
        rate = voice.source.get("seconds_per_phone")
        pace = f", {rate:.3f} s a phone" if isinstance(rate, (int, float)) else ", average pace (no transcript)"
        print(f"saved {voice.name!r} as {voice.id} (smalltts, the recording's codec latents{pace}): {measured}")
        return 0
    print(f"saved {voice.name!r} as {voice.id} ({engine}): similarity {result.similarity:.3f} "
          f"(start {result.start_voice} {result.start_similarity:.3f}; {result.method}, {result.iterations} "
          f"iterations, {result.stopped}, {result.seconds:.0f} s)")  # fmt: skip
    return 0
