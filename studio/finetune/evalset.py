"""The evaluation set: the sentences a finished run speaks to be scored, each with an id and optionally a speaker.

Built in: five varied sentences. A run may carry its own (`TrainSpec.eval_set`, read from a file or a text box): plain
lines (`sentence`, or `speaker | sentence`), JSON Lines or a JSON list (`{"id", "text", "speaker"}`), or the KaniTTS
pipeline's `eval_set.yaml` (`eval_set: [{ex_id: "speaker: text"}, ...]`). Pure and light: the app validates it."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput

# Varied on purpose: a question, numbers spelled out (the normalizer would otherwise make WER depend on how the
# recognizer writes digits), a long sentence that tests staying on track, and everyday plain statements.
EVAL_SENTENCES: tuple[str, ...] = (
    "The old lighthouse keeper climbed the stairs every evening to light the lamp.",
    "Would you like to join us for dinner at the little restaurant near the river?",
    "She bought twenty three apples, seven oranges and one hundred grapes at the market.",
    "When the storm finally passed, the children ran outside to splash in the puddles, laughing all the way home.",
    "Please remember to close the windows before you leave the house this afternoon.",
)
MAX_LINES = 100
MAX_CHARS = 500
SUFFIXES = (".txt", ".jsonl", ".json", ".yaml", ".yml")
_NAME = r"[A-Za-z0-9][\w.\-]{0,39}"  # a speaker or an id: a short name, not a clause of a sentence
_ID = re.compile(r"[A-Za-z0-9][\w.\-]{0,63}")


@dataclass(frozen=True)
class EvalLine:
    """One evaluation sentence: an id, the text, and who says it (None: the run's own speaker, the backend decides)."""

    id: str
    text: str
    speaker: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def default_lines() -> list[EvalLine]:
    """The built-in evaluation set: EVAL_SENTENCES, ids s1..s5, each said by the run's speaker."""
    return [EvalLine(f"s{i + 1}", text) for i, text in enumerate(EVAL_SENTENCES)]


def parse_text(text: str, where: str = "The evaluation sentences") -> list[EvalLine]:
    """One sentence a line, optionally `speaker | sentence`; blank lines and `#` comments are skipped."""
    raw: list[dict[str, Any]] = []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        speaker, bar, sentence = line.partition("|")
        if bar and re.fullmatch(_NAME, speaker.strip()):
            raw.append({"text": sentence.strip(), "speaker": speaker.strip(), "line": n})
        else:
            raw.append({"text": line, "line": n})
    return check(raw, where)


def read_file(path: str | Path) -> list[EvalLine]:
    """An evaluation set file (.txt, .jsonl, .json, .yaml/.yml); a message names the file and what is wrong."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise InvalidInput(f"{path.name}: give the evaluation sentences as {', '.join(SUFFIXES)}.")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"The evaluation set {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The evaluation set {path} cannot be read as UTF-8 text ({exc}).") from exc
    where = f"The evaluation set {path.name}"
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return parse_text(text, where)
    try:
        if suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise InvalidInput(f"{where} is not valid JSON ({exc}).") from exc
    except Exception as exc:  # yaml.YAMLError
        raise InvalidInput(f"{where} is not valid YAML ({str(exc).splitlines()[0]}).") from exc
    return from_data(data, where)


def from_data(data: Any, where: str = "The evaluation set") -> list[EvalLine]:
    """Lines from decoded JSON/YAML: a list of strings, of {"id", "text", "speaker"} objects, or of upstream's
    one-key mappings `{ex_id: "speaker: text"}` (also under a top-level `eval_set`)."""
    if isinstance(data, dict) and "eval_set" in data:
        data = data["eval_set"]
    if not isinstance(data, list):
        raise InvalidInput(f"{where} should be a list of sentences, not {type(data).__name__}.")
    raw: list[dict[str, Any]] = []
    for n, item in enumerate(data, 1):
        if isinstance(item, str):
            raw.append({"text": item, "line": n})
        elif isinstance(item, dict) and "text" in item:
            unknown = sorted(set(item) - {"id", "text", "speaker"})
            if unknown:
                raise InvalidInput(f"{where}, item {n}: unknown field(s) {unknown}; use id, text and speaker.")
            raw.append({**item, "line": n})
        elif isinstance(item, dict) and len(item) == 1:  # the KaniTTS pipeline: {ex_id: "speaker_name: text"}
            ident, said = next(iter(item.items()))
            found = re.fullmatch(rf"({_NAME}):\s+(.+)", str(said).strip(), flags=re.S)
            speaker, text = (found.group(1), found.group(2)) if found else (None, str(said))
            raw.append({"id": str(ident), "text": text, "speaker": speaker, "line": n})
        else:
            raise InvalidInput(f"{where}, item {n}: expected a sentence or an object with text, got {item!r:.80}.")
    return check(raw, where)


def check(raw: list[dict[str, Any]], where: str = "The evaluation set") -> list[EvalLine]:
    """Validated lines: 1 to MAX_LINES, each text 1 to MAX_CHARS characters, ids unique (s1, s2, ... where none)."""
    if not raw:
        raise InvalidInput(f"{where} holds no sentences; give at least one (or none at all for the built-in five).")
    if len(raw) > MAX_LINES:
        raise InvalidInput(f"{where} holds {len(raw)} sentences; use at most {MAX_LINES}.")
    lines: list[EvalLine] = []
    for i, item in enumerate(raw):
        label = f"{where}, sentence {item.get('line', i + 1)}"
        text, speaker, ident = item.get("text"), item.get("speaker"), item.get("id")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"{label} is empty.")
        if len(text) > MAX_CHARS:
            raise InvalidInput(f"{label} has {len(text)} characters; use at most {MAX_CHARS}.")
        if speaker is not None and (not isinstance(speaker, str) or not re.fullmatch(_NAME, speaker.strip())):
            raise InvalidInput(f"{label}: the speaker {speaker!r} should be a short name (letters, digits, _ - .).")
        ident = f"s{i + 1}" if ident is None or ident == "" else str(ident)
        if not _ID.fullmatch(ident):
            raise InvalidInput(f"{label}: the id {ident!r} may use letters, digits, '_', '-' and '.'.")
        lines.append(EvalLine(ident, " ".join(text.split()), speaker.strip() if speaker else None))
    seen: set[str] = set()
    for line in lines:
        if line.id in seen:
            raise InvalidInput(f"{where}: the id {line.id!r} is used twice; give each sentence its own.")
        seen.add(line.id)
    return lines


def from_spec(stored: list[dict[str, Any]]) -> list[EvalLine]:
    """A spec's `eval_set` (JSON objects) as lines; the built-in set when it has none."""
    return check([dict(item) for item in stored], "The run's evaluation set") if stored else default_lines()
