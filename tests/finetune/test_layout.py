"""KaniTTS token layout: text, special tokens and 4 x 4032 NanoCodec codes in one vocabulary (pure numpy, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.systems.kani.layout import TokenLayout

L = TokenLayout()
A = L.audio_start  # 64410
K = L.codebook_size  # 4032


def _frame_ids(*frame: int) -> list[int]:
    return [A + k * K + c for k, c in enumerate(frame)]


def test_vocabulary_and_special_ids() -> None:
    assert (L.text_vocab, L.num_codebooks, L.codebook_size) == (64400, 4, 4032)
    assert A == 64410
    assert L.vocab_size == 64410 + 4 * 4032 == 80538
    specials = [L.start_of_speech, L.end_of_speech, L.start_of_human, L.end_of_human, L.start_of_ai, L.end_of_ai, L.pad]
    assert specials == list(range(64401, 64408))
    assert all(L.text_vocab <= s < A for s in specials)  # none collides with text or audio
    assert (L.start_of_text, L.end_of_text) == (1, 2)


def test_codes_to_tokens_interleaves_frames_with_codebook_offsets() -> None:
    codes = np.array([[0, 5], [1, 6], [2, 7], [4031, 8]])  # codebooks x frames
    assert L.codes_to_tokens(codes) == [*_frame_ids(0, 1, 2, 4031), *_frame_ids(5, 6, 7, 8)]
    assert L.codes_to_tokens(codes.tolist()) == L.codes_to_tokens(codes)  # lists work as arrays do
    # the extremes land at the edges of the audio block
    assert L.codes_to_tokens([[0], [0], [0], [0]])[0] == A
    assert L.codes_to_tokens([[4031]] * 4)[-1] == L.vocab_size - 1


def test_only_consecutive_duplicate_frames_are_removed() -> None:
    a, b = (1, 2, 3, 4), (9, 8, 7, 6)
    almost_a = (1, 2, 3, 5)  # differs from a in the last codebook only: a different frame
    frames = [a, a, a, b, a, almost_a, almost_a, b]
    codes = np.array(frames).T
    expected = [a, b, a, almost_a, b]
    assert L.codes_to_tokens(codes) == [t for f in expected for t in _frame_ids(*f)]


def test_tokens_to_codes_inverts_codes_to_tokens() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, K, size=(4, 37))
    assert not np.any(np.all(codes[:, 1:] == codes[:, :-1], axis=0))
    tokens = L.codes_to_tokens(codes)
    assert len(tokens) == 4 * 37
    back = L.tokens_to_codes(tokens)
    assert back.dtype == np.int64 and back.shape == (4, 37)
    np.testing.assert_array_equal(back, codes)
    np.testing.assert_array_equal(L.tokens_to_codes(np.array(tokens)), codes)


def test_tokens_to_codes_reads_between_the_speech_markers() -> None:
    audio = [*_frame_ids(1, 2, 3, 4), *_frame_ids(5, 6, 7, 8)]
    generated = [L.start_of_ai, L.start_of_speech, *audio, L.end_of_speech, L.end_of_ai, 17, 18]
    np.testing.assert_array_equal(L.tokens_to_codes(generated), [[1, 5], [2, 6], [3, 7], [4, 8]])
    # what generation returns: no start marker (it was in the prompt), stopped at the end of speech
    np.testing.assert_array_equal(L.tokens_to_codes([*audio, L.end_of_speech]), [[1, 5], [2, 6], [3, 7], [4, 8]])
    # a whole training example: prompt text before the start of speech is not audio and is skipped
    example = L.training_ids([1, 300, 301], audio)
    np.testing.assert_array_equal(L.tokens_to_codes(example), [[1, 5], [2, 6], [3, 7], [4, 8]])


def test_tokens_to_codes_drops_a_trailing_partial_frame() -> None:
    tokens = [*_frame_ids(1, 2, 3, 4), *_frame_ids(5, 6, 7, 8)[:3]]  # cut off by max_new_tokens
    np.testing.assert_array_equal(L.tokens_to_codes(tokens), [[1], [2], [3], [4]])


def test_no_audio_gives_empty_codes() -> None:
    for tokens in ([], [L.start_of_speech, L.end_of_speech], _frame_ids(1, 2, 3)):
        codes = L.tokens_to_codes(tokens)
        assert codes.shape == (4, 0)


def test_text_tokens_inside_speech_are_a_clear_error() -> None:
    tokens = [L.start_of_speech, *_frame_ids(1, 2, 3, 4), 500, 501, *_frame_ids(5, 6, 7, 8), L.end_of_speech]
    with pytest.raises(InvalidInput, match="2 non-audio tokens inside its speech"):
        L.tokens_to_codes(tokens)
    with pytest.raises(InvalidInput, match="1 non-audio tokens"):
        L.tokens_to_codes([*_frame_ids(1, 2, 3, 4), L.end_of_ai])  # no end of speech: the end of AI is inside
    with pytest.raises(InvalidInput, match="non-audio"):
        L.tokens_to_codes([L.vocab_size, *_frame_ids(1, 2, 3)])  # past the vocabulary


def test_wrong_codebook_order_is_a_clear_error() -> None:
    swapped = _frame_ids(1, 2, 3, 4)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(InvalidInput, match="wrong codebook order"):
        L.tokens_to_codes(swapped)
    shifted = _frame_ids(1, 2, 3, 4)[1:] + _frame_ids(5, 6, 7, 8)[:1]  # a frame that starts one token late
    with pytest.raises(InvalidInput, match="wrong codebook order"):
        L.tokens_to_codes(shifted)


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        ([[1, 2], [3, 4], [5, 6]], "shape (3, 2)"),
        ([1, 2, 3, 4], "shape (4,)"),
        (np.zeros((4, 2, 1)), "shape (4, 2, 1)"),
        (np.zeros((2, 4)), "expected 4 codebooks"),
        ([[], [], [], []], "empty"),
        ([[0, 4032], [0, 0], [0, 0], [0, 0]], "0 to 4032"),
        ([[0, -1], [0, 0], [0, 0], [0, 0]], "-1 to 0"),
        ([[1, 2], [1], [1, 2], [1, 2]], "not a table of integers"),  # ragged
        ([["a"], ["b"], ["c"], ["d"]], "not a table of integers"),
    ],
)
def test_check_codes_rejects_bad_codes(codes: object, fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        L.check_codes(codes)  # type: ignore[arg-type]
    assert fragment in str(err.value)
    with pytest.raises(InvalidInput):
        L.codes_to_tokens(codes)  # type: ignore[arg-type]


def test_check_codes_accepts_the_full_range() -> None:
    arr = L.check_codes([[0, 4031]] * 4)
    assert arr.dtype == np.int64 and arr.shape == (4, 2)


def test_training_ids_layout() -> None:
    text, audio = [1, 700, 701, 702], _frame_ids(3, 2, 1, 0)
    ids = L.training_ids(text, audio)
    assert ids == [
        L.start_of_human,
        *text,
        L.end_of_text,
        L.end_of_human,
        L.start_of_ai,
        L.start_of_speech,
        *audio,
        L.end_of_speech,
        L.end_of_ai,
    ]
    assert ids[: len(text) + 3] == L.prompt_ids(text)  # generation starts from exactly the training prompt
    assert max(ids) < L.vocab_size


def test_prompt_text_with_a_speaker() -> None:
    assert L.prompt_text("Hello there.", "Anna") == "anna: Hello there."
    assert L.prompt_text("Hello there.", "ANDREW") == "andrew: Hello there."
    assert L.prompt_text("Hello there.") == "Hello there."
    assert L.prompt_text("Hello there.", "") == "Hello there."


def test_layout_json_round_trip_ignores_unknown_keys() -> None:
    custom = TokenLayout(text_vocab=100, codebook_size=10)
    data = {**custom.to_json(), "comment": "written by a newer Studio"}
    back = TokenLayout.from_json(data)
    assert back == custom
    assert back.audio_start == 110 and back.vocab_size == 150
    assert back.codes_to_tokens([[9], [9], [9], [9]]) == [119, 129, 139, 149]


def test_generation_samples_as_the_upstream_pipeline(tiny_base, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """config/inference_config.yaml of the KaniTTS pipeline: temperature 0.6, top-p 0.95, repetition penalty 1.1,
    1,200 new tokens, sampling on, generation ends at end of speech."""
    from studio.systems.kani.engine import GenerationSettings, KaniModel

    g = GenerationSettings()
    assert (g.temperature, g.top_p, g.repetition_penalty, g.max_new_tokens, g.do_sample) == (0.6, 0.95, 1.1, 1200, True)
    model = KaniModel.load(tiny_base)
    seen: dict = {}
    real = model.model.generate

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)
        return real(**{**kwargs, "max_new_tokens": 4})

    monkeypatch.setattr(model.model, "generate", spy)
    model.generate_tokens("Hello there.", seed=0)
    assert (seen["temperature"], seen["top_p"], seen["repetition_penalty"], seen["max_new_tokens"]) == (
        0.6, 0.95, 1.1, 1200
    )  # fmt: skip
    assert seen["do_sample"] is True and seen["eos_token_id"] == model.layout.end_of_speech
