"""`studio supertonic export-torch`: convert the Supertonic graphs to torch modules once and keep them, so the
PyTorch runtime (supertonic2_torch, supertonic3_torch) and cloning start without converting."""

from __future__ import annotations

import argparse
import time

from studio.config import Settings
from studio.errors import InvalidInput


def add_parser(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("supertonic", help="Supertonic tools: export-torch (convert the graphs to torch once)")
    actions = group.add_subparsers(dest="supertonic_command", required=True)
    export = actions.add_parser(
        "export-torch",
        help="convert a downloaded Supertonic model's four graphs to torch modules and keep them in Studio's cache",
        description="Convert the four ONNX graphs of Supertonic 2 and/or 3 to torch modules (onnx2torch) and keep "
        "them in Studio's cache (DATA/cache/supertonic-torch), where the PyTorch runtime and voice cloning load them "
        "instead of converting again. A conversion is redone when the ONNX file or the torch/onnx2torch versions "
        "change.",
    )
    export.add_argument("--version", default="supertonic2,supertonic3",
                        help="supertonic2, supertonic3 or both, comma-separated (default both)")  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    from studio.systems.supertonic.model import GRAPHS, graph_file
    from studio.systems.supertonic.specs import find_model_dir, torch_cache
    from studio.systems.supertonic.torch_model import cache_name, converted_graph, torch_available
    from studio.systems.supertonic.versions import VERSIONS

    wanted = [v.strip() for v in args.version.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in VERSIONS]
    if unknown or not wanted:
        raise InvalidInput(f"Unknown Supertonic version {', '.join(unknown) or '(none)'}: use supertonic2 and/or "
                           "supertonic3.")  # fmt: skip
    missing = torch_available()
    if missing:
        raise InvalidInput(missing.replace("gradient cloning", "export-torch"))
    cache = torch_cache(settings)
    done = 0
    for name in wanted:
        version = VERSIONS[name]
        folder = find_model_dir(settings, version)
        if folder is None:
            raise InvalidInput(f"{version.label} is not downloaded: run `python -m studio download {name}` first.")
        for graph in GRAPHS:
            path = folder / graph_file(graph)
            kept = cache / cache_name(path)
            fresh = not kept.is_file()
            start = time.perf_counter()
            converted_graph(path, cache)
            how = "converted" if fresh else "already kept"
            print(f"{version.label} {graph}: {how} in {time.perf_counter() - start:.1f} s -> {kept}")
            done += 1
    print(f"{done} graph(s) ready in {cache}")
    return 0
