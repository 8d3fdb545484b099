"""A configurable evaluation set (files of sentences with speakers), its results table saved with the run, and that
table as a Hub dataset beside the model (the folder that would be pushed, and the push call itself, offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.audio.io import write_audio
from studio.audio.types import AudioResult
from studio.errors import InvalidInput
from studio.finetune.evalset import EVAL_SENTENCES, EvalLine, default_lines, from_spec, parse_text, read_file
from studio.finetune.evaluate import RESULTS_FILE, EvalResult, SampleScore
from studio.finetune.runs import RunFiles
from studio.finetune.service import FineTune
from studio.finetune.spec import TrainSpec, spec_from_preset

# config/eval_set.yaml of the KaniTTS pipeline at fa72cf4, as it is (one sentence left out)
UPSTREAM_YAML = """eval_set:
  - ex_id_1: "speaker_name: Hey there my name is Tara, and I'm a speech generation model that can sound like a person."
  - ex_id_2: "speaker_name: His half-brother Thomas, however, was doing well in London,and was willing to help \
him with the requisite means."
  - ex_id_4: "speaker_name: ...... test sentence ....."
"""


def test_the_default_set_is_the_five_built_in_sentences() -> None:
    assert [(line.id, line.text, line.speaker) for line in default_lines()] == [
        (f"s{i + 1}", text, None) for i, text in enumerate(EVAL_SENTENCES)
    ]
    assert from_spec([]) == default_lines()


def test_plain_lines_with_optional_speakers() -> None:
    text = "# my sentences\nThe first sentence.\n\nanna | The second one, said by Anna.\nA | b | c: a bar in a line.\n"
    assert parse_text(text) == [
        EvalLine("s1", "The first sentence."),
        EvalLine("s2", "The second one, said by Anna.", "anna"),
        EvalLine("s3", "b | c: a bar in a line.", "A"),
    ]
    assert parse_text("Wait, this | is not a speaker.") == [EvalLine("s1", "Wait, this | is not a speaker.")]


def test_files_in_every_form(tmp_path: Path) -> None:
    (tmp_path / "set.txt").write_text("bob | Hello there.\nGood night.\n")
    (tmp_path / "set.jsonl").write_text('{"id": "q1", "text": "Hello there.", "speaker": "bob"}\n{"text": "Bye."}\n')
    (tmp_path / "set.json").write_text(json.dumps(["Hello there.", {"text": "Bye.", "speaker": "ann"}]))
    (tmp_path / "eval_set.yaml").write_text(UPSTREAM_YAML)
    assert read_file(tmp_path / "set.txt") == [EvalLine("s1", "Hello there.", "bob"), EvalLine("s2", "Good night.")]
    assert read_file(tmp_path / "set.jsonl") == [EvalLine("q1", "Hello there.", "bob"), EvalLine("s2", "Bye.")]
    assert read_file(tmp_path / "set.json") == [EvalLine("s1", "Hello there."), EvalLine("s2", "Bye.", "ann")]
    upstream = read_file(tmp_path / "eval_set.yaml")  # the speaker is the text's `speaker_name:` prefix
    assert [(line.id, line.speaker) for line in upstream] == [("ex_id_1", "speaker_name"), ("ex_id_2", "speaker_name"),
                                                              ("ex_id_4", "speaker_name")]  # fmt: skip
    assert upstream[0].text.startswith("Hey there my name is Tara")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("e.txt", "# only a comment\n", "holds no sentences"),
        ("e.txt", "x\n" * 101, "use at most 100"),
        ("e.txt", "a" * 501, "use at most 500"),
        ("e.jsonl", '{"id": "a", "text": "One."}\n{"id": "a", "text": "Two."}\n', "'a' is used twice"),
        ("e.jsonl", '{"text": "One.", "voice": "x"}\n', "unknown field(s) ['voice']"),
        ("e.json", '{"text": "One."', "not valid JSON"),
        ("e.yaml", "eval_set: [unclosed", "not valid YAML"),
        ("e.json", '{"sentences": []}', "should be a list"),
        ("e.json", '[{"text": ""}]', "sentence 1 is empty"),
        ("e.json", '[{"text": "Hi.", "speaker": "a very long speaker name that is a clause, really"}]', "short name"),
        ("e.csv", "text\nHi.\n", "give the evaluation sentences as"),
    ],
)
def test_a_bad_set_names_the_file_and_the_problem(tmp_path: Path, name: str, content: str, fragment: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(InvalidInput) as err:
        read_file(tmp_path / name)
    assert fragment in str(err.value)
    with pytest.raises(InvalidInput, match="does not exist"):
        read_file(tmp_path / "missing.txt")


def test_the_spec_carries_the_set_and_validates_it(tmp_path: Path) -> None:
    lines = [line.to_json() for line in parse_text("anna | Hello.\nBye.")]
    spec = spec_from_preset("quick", name="x", dataset="d", eval_set=lines).validate()
    spec.save(tmp_path / "spec.json")
    again = TrainSpec.load(tmp_path / "spec.json")
    assert from_spec(again.eval_set) == [EvalLine("s1", "Hello.", "anna"), EvalLine("s2", "Bye.")]
    with pytest.raises(InvalidInput, match="sentence 1 is empty"):
        spec_from_preset("quick", name="x", dataset="d", eval_set=[{"text": " "}]).validate()
    with pytest.raises(InvalidInput, match=r"eval_set = .*a list of objects"):
        spec_from_preset("quick", name="x", dataset="d", eval_set=["Hello."]).validate()


def _scored(folder: Path, name: str, speakers: list[str | None]) -> EvalResult:
    samples = []
    for i, speaker in enumerate(speakers):
        wav = write_audio(AudioResult(np.full(2205, 0.1, dtype=np.float32), 22050), folder / f"sample_{i + 1:02d}.wav")
        samples.append(SampleScore(f"Sentence {i + 1}.", str(wav), f"sentence {i + 1}", 0.5 * i, 0.8, 0.1,
                                   speaker=speaker, sentence_id=f"q{i + 1}"))  # fmt: skip
    samples.append(SampleScore("Nothing came.", None, "", 1.0, None, 0.0, sentence_id="q9"))
    result = EvalResult.from_samples(name, samples)
    result.save(folder)
    return result


def test_the_results_table_is_saved_with_the_evaluation(tmp_path: Path) -> None:
    _scored(tmp_path, "my-run", ["anna", "bob"])
    rows = [json.loads(line) for line in (tmp_path / RESULTS_FILE).read_text().splitlines()]
    assert [(r["row"], r.get("sentence_id"), r["speaker"], r["wer"], r["similarity"]) for r in rows] == [
        ("sentence", "q1", "anna", 0.0, 0.8), ("sentence", "q2", "bob", 0.5, 0.8), ("sentence", "q9", None, 1.0, None),
        ("speaker", None, "anna", 0.0, 0.8), ("speaker", None, "bob", 0.5, 0.8),  # per speaker
        ("overall", None, None, 0.5, 0.8),  # every sentence: WER (0 + 0.5 + 1) / 3, similarity of the scored ones
    ]  # fmt: skip
    assert rows[0]["audio"] == str(tmp_path / "sample_01.wav") and rows[2]["audio"] is None
    assert [r["sentences"] for r in rows[3:]] == [1, 1, 3]
    assert EvalResult.load(tmp_path).samples[0].speaker == "anna"  # eval.json keeps who said it


@pytest.fixture
def scored_run(finetune: FineTune) -> str:
    spec = spec_from_preset("balanced", name="Two voices", dataset="/data/ds", speaker="anna")
    files = RunFiles(finetune.runs.folder(spec.run_id))
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    files.evaluation.mkdir()
    (files.folder / "eval-base").mkdir()
    _scored(files.evaluation, "Two voices", ["anna", "bob"])
    _scored(files.folder / "eval-base", "base", [None])
    return spec.run_id


def _published(folder: Path) -> list[dict[str, Any]]:
    """The folder as the Hub's datasets package reads it (the audio left as its stored bytes: no torchcodec here)."""
    import datasets

    loaded = datasets.load_dataset(str(folder), split="train")
    return list(loaded.cast_column("audio", datasets.Audio(decode=False)))


def test_the_evaluation_becomes_an_audio_dataset_folder(finetune: FineTune, scored_run: str, tmp_path: Path) -> None:
    from studio.audio.io import read_audio
    from studio.finetune.data import row_audio

    folder = finetune.evaluation_dataset(scored_run, tmp_path)
    rows = _published(folder)
    assert [(r["experiment_id"], r["sentence_id"], r["speaker"]) for r in rows] == [
        ("base", "q1", None), ("Two voices", "q1", "anna"), ("Two voices", "q2", "bob")
    ]  # fmt: skip
    run = finetune.get(scored_run)
    sources = [run.folder / "eval-base" / "sample_01.wav", *(run.files.evaluation / f"sample_0{i}.wav" for i in (1, 2))]
    for row, source in zip(rows, sources, strict=True):  # each clip's audio is in the dataset itself
        assert row["audio"]["path"].endswith(f"{row['sentence_id']}.wav")
        samples, rate = row_audio(row, tmp_path / "nowhere")
        expected, expected_rate = read_audio(source)
        assert rate == expected_rate and np.allclose(samples, expected, atol=1e-4)
    assert (rows[2]["wer"], rows[2]["similarity"], rows[2]["recognized"]) == (0.5, 0.8, "sentence 2")
    config = json.loads(rows[1]["train_configuration"])
    assert config["lora"]["r"] == 16 and config["trainer"]["learning_rate"] == 5e-5 and config["speaker"] == "anna"
    assert json.loads(rows[0]["train_configuration"]) == {"base_model": "nineninesix/kani-tts-400m-0.3-pt"}
    readme = (folder / "README.md").read_text()
    assert "| Two voices | q2 | bob | 50.0% | 0.800 |" in readme and "No audio for: base q9, Two voices q9" in readme
    again = finetune.evaluation_dataset(scored_run, tmp_path)  # made again: replaced whole
    assert again == folder and len(_published(folder)) == 3
    (tmp_path / f"{scored_run}-eval").rename(tmp_path / "mine")
    (tmp_path / f"{scored_run}-eval").mkdir()  # a folder of the user's by that name is never replaced
    with pytest.raises(InvalidInput, match="not written by Studio"):
        finetune.evaluation_dataset(scored_run, tmp_path)


def test_a_run_without_a_scored_evaluation_says_so(finetune: FineTune, tmp_path: Path) -> None:
    spec = spec_from_preset("quick", name="unscored", dataset="/data/ds")
    files = RunFiles(finetune.runs.folder(spec.run_id))
    files.folder.mkdir(parents=True)
    spec.save(files.spec)
    EvalResult(name="unscored", error="Audio evaluation needs NeMo").save(files.evaluation)
    with pytest.raises(InvalidInput, match="no scored evaluation sentences"):
        finetune.evaluation_dataset(spec.run_id, tmp_path)


def test_the_evaluation_is_pushed_as_a_dataset_beside_the_model(
    finetune: FineTune, scored_run: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    calls: list[tuple[str, dict[str, Any]]] = []

    class Hub:  # records what would go to the Hub; nothing leaves this machine
        def __init__(self, token: str) -> None:
            calls.append(("token", {"token": token}))

        def create_repo(self, repo_id: str, **kwargs: Any) -> None:
            calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

        def upload_folder(self, **kwargs: Any) -> None:
            files = sorted(p.name for p in Path(kwargs["folder_path"]).rglob("*"))
            calls.append(("upload_folder", {**kwargs, "files": files}))

    monkeypatch.setattr(huggingface_hub, "HfApi", Hub)
    url = finetune.push_evaluation(scored_run, tmp_path, "me/two-voices", " hf_token ")
    assert url == "https://huggingface.co/datasets/me/two-voices"
    assert calls[0] == ("token", {"token": "hf_token"})
    assert calls[1] == ("create_repo", {"repo_id": "me/two-voices", "private": True, "exist_ok": True,
                                        "repo_type": "dataset"})  # fmt: skip
    _, upload = calls[2]
    assert upload["repo_id"] == "me/two-voices" and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == tmp_path / f"{scored_run}-eval"
    assert {"README.md", "train-00000-of-00001.parquet"} <= set(upload["files"])
    calls.clear()
    assert finetune.push_to_hub(tmp_path, "me/two-voices", "t") == "https://huggingface.co/me/two-voices"
    assert calls[1][1]["repo_type"] == "model"  # the model beside it, under the same name
