"""KaniTTS speakers: a row's speaker prefixes its text in training as the KaniTTS pipeline writes it
(`speaker: text`), and the evaluation speaks each sentence with a given speaker (tiny LFM2, no training process)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from studio.finetune.evalset import EvalLine
from studio.finetune.evaluate import evaluate_audio
from studio.systems.kani.layout import TokenLayout
from studio.systems.kani.training.data import Example, assign_prefixes

from .conftest import tiny_spec


def _ex(speaker: str | None, prefix: str | None = None, text: str = "Hello there.") -> Example:
    return Example(f"id-{speaker}", text, [[1, 2]] * 4, speaker, "train", prefix)


def test_rows_of_several_speakers_are_prefixed_with_their_own() -> None:
    examples = [_ex("Anna"), _ex("bob"), _ex(None), _ex("Anna")]
    assert assign_prefixes(examples) == ["anna", "bob"]
    assert [e.prefix for e in examples] == ["Anna", "bob", None, "Anna"]
    examples = [_ex("Anna"), _ex("bob"), _ex(None)]
    assign_prefixes(examples, run_speaker="carl")  # a row without a speaker gets the run's
    assert [e.prefix for e in examples] == ["Anna", "bob", "carl"]


def test_a_dataset_of_one_speaker_trains_with_the_runs_speaker_or_none() -> None:
    examples = [_ex("speaker"), _ex("speaker")]  # every Studio dataset names its one speaker on each row
    assert assign_prefixes(examples) == [] and [e.prefix for e in examples] == [None, None]
    examples = [_ex("speaker"), _ex("speaker")]
    assert assign_prefixes(examples, run_speaker="Andrew") == ["andrew"]
    assert {e.prefix for e in examples} == {"Andrew"}


def test_a_prefix_set_by_the_dataset_entry_stays() -> None:
    examples = [_ex("ex01", prefix="simon"), _ex("ex02", prefix="simon"), _ex("x")]
    assert assign_prefixes(examples) == ["simon"]  # the entry's rows do not count as speakers of their own
    assert [e.prefix for e in examples] == ["simon", "simon", None]


@pytest.fixture
def backend(tiny_base: Path, synthetic_dataset: Path) -> Any:
    from transformers import AutoTokenizer

    from studio.systems.kani.training.backend import KaniBackend

    spec = tiny_spec(tiny_base, synthetic_dataset)
    kani = KaniBackend(SimpleNamespace(spec=spec))  # type: ignore[arg-type]
    kani.layout = TokenLayout.read(tiny_base)
    kani.tokenizer = AutoTokenizer.from_pretrained(str(tiny_base))
    return kani


def test_each_rows_speaker_prefixes_its_training_text(backend: Any) -> None:
    examples = [_ex("Anna", text="The museum shows paintings."), _ex("Bob", text="Keep your ticket.")]
    backend.speakers = assign_prefixes(examples)
    train, _, _ = backend._encode(examples)
    said = [("anna", "The museum shows paintings."), ("bob", "Keep your ticket.")]
    for ids, (speaker, text) in zip(train, said, strict=True):
        expected = backend.tokenizer.encode(f"{speaker}: {text}", add_special_tokens=True)
        assert ids[: len(expected) + 1] == [backend.layout.start_of_human, *expected]


def test_evaluation_speaks_each_sentence_with_a_given_speaker(backend: Any, tiny_base: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.systems.kani import engine

    said: list[tuple[str | None, str]] = []

    def codes(self: Any, text: str, settings: Any = None, seed: Any = None) -> Any:
        said.append((self.speaker, text))
        prompt = self.layout.prompt_text(text, self.speaker)  # what the model is asked to say
        assert prompt == (f"{self.speaker.lower()}: {text}" if self.speaker else text)
        return np.zeros((4, 3), dtype=np.int64)

    class Codec:
        def decode(self, c: Any) -> Any:
            return np.full(2205, 0.1, dtype=np.float32)

    monkeypatch.setattr(engine, "nemo_installed", lambda: True)
    monkeypatch.setattr(engine.NanoCodec, "load", classmethod(lambda cls, device="cpu": Codec()))
    monkeypatch.setattr(engine.KaniModel, "generate_codes", codes)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_base)), LoraConfig(target_modules=["q_proj"]))
    backend.loop.acc, backend.loop.model = SimpleNamespace(unwrap_model=lambda m: m), model
    lines = [EvalLine("a", "One."), EvalLine("b", "Two.", "Carl"), EvalLine("c", "Three."), EvalLine("d", "Four.")]

    backend.speakers = ["anna", "bob"]  # a run of two speakers: unassigned sentences go round them
    spoken = backend.speak_lines(lines, base=False)
    assert said == [("anna", "One."), ("Carl", "Two."), ("anna", "Three."), ("bob", "Four.")]
    assert [(line.id, line.speaker) for line, _, _ in spoken] == [("a", "anna"), ("b", "Carl"), ("c", "anna"),
                                                                  ("d", "bob")]  # fmt: skip
    said.clear()
    backend.spec.speaker = "Andrew"  # the run's own speaker says every sentence without one
    backend.speak_lines(lines[:1], base=True)
    assert said == [("Andrew", "One.")]
    said.clear()
    backend.spec.speaker, backend.speakers = None, []  # a single-speaker run without a prefix
    backend.speak_lines(lines[:1], base=False)
    assert said == [(None, "One.")]


def test_the_scores_name_each_sentences_speaker_and_id(tmp_path: Path) -> None:
    class Deaf:
        def transcribe(self, samples: Any, rate: int) -> str:
            raise AssertionError("silence is never transcribed")

    generated = [(EvalLine("a", "One.", "anna"), np.zeros(22050, dtype=np.float32), 22050),
                 ("Two.", np.zeros(0, dtype=np.float32), 22050)]  # fmt: skip
    result = evaluate_audio("run", generated, tmp_path, Deaf())  # type: ignore[arg-type]
    assert [(s.sentence_id, s.speaker, s.sentence) for s in result.samples] == [("a", "anna", "One."),
                                                                                ("s2", None, "Two.")]  # fmt: skip
