"""`python -m studio voice list|show|rename|delete|export|import|mix`: the voice library from a terminal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.config import Settings
from studio.voices.library import VoiceLibrary


def add_parser(sub: argparse._SubParsersAction) -> None:
    voice = sub.add_parser("voice", help="the voice library: list, show, rename, delete, export, import, mix")
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    library = VoiceLibrary(settings.voices_dir)
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
        from studio.engines.registry import Registry
        from studio.voices.mixing import parse_parts
        from studio.voices.service import Voices

        engine = "supertonic2" if args.engine == "supertonic" else args.engine
        voice = Voices(Registry(settings), library).mix(engine, parse_parts(args.parts), args.name, args.notes)
        recipe = ", ".join(f"{p['voice']} {p['weight']:.0%}" for p in voice.source["parts"])
        print(f"saved {voice.name!r} as {voice.id} ({engine}: {recipe})")
        return 0
    return 1
