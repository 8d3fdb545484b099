"""Dataset builder on real speech from the bundled Piper voice, transcribed and checked by the bundled Whisper."""

from __future__ import annotations

import itertools
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.audio.asr import word_error_rate
from studio.audio.dsp import resample
from studio.errors import Cancelled, InvalidInput
from studio.finetune import dataset as ds
from studio.finetune.dataset import (
    MAX_CLIP_S,
    MIN_CLIP_S,
    SAMPLE_RATE,
    Clip,
    apply_review,
    build_dataset,
    check_enough_audio,
    gather_sources,
    load_manifest,
    review_rows,
    save_dataset,
    sources,
    split_at_pauses,
    summarize,
)
from studio.finetune.dataset.store import validation_ids

SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "A gentle breeze carried the smell of fresh bread through the open window.",
    "My grandfather planted a small apple tree behind the old wooden barn.",
    "The children laughed and played in the park until the sun went down.",
    "We packed our bags early and drove north toward the snowy mountains.",
    "Every evening the lighthouse keeper climbed the narrow stairs to light the lamp.",
    "The library was quiet except for the soft rustle of turning pages.",
]
GAP_S = 0.6


@pytest.fixture(scope="module")
def speech(piper_engine) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """SENTENCES spoken by the bundled joe voice (22.05 kHz), synthesized once for the module."""
    out = []
    for text in SENTENCES:
        audio = piper_engine.synthesize(text, "joe")
        assert audio.sample_rate == SAMPLE_RATE
        out.append(audio.samples)
    return out


@pytest.fixture
def no_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if anything tries to load Whisper: files with transcripts must not need it."""
    from studio.audio.asr import Transcriber

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Whisper was loaded although every clip had a transcript")

    monkeypatch.setattr(Transcriber, "load", classmethod(refuse))


def _wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def _by_source(draft: ds.DatasetDraft) -> dict[str, Clip]:
    return {c.source: c for c in draft.clips}


def test_metadata_and_sidecars(tmp_path: Path, speech: list[np.ndarray], no_whisper: None) -> None:
    rec = tmp_path / "recordings"
    _wav(rec / "a.wav", speech[0])
    # 44.1 kHz stereo FLAC: must come out as 22.05 kHz mono
    stereo = np.stack([resample(speech[1], SAMPLE_RATE, 44100)] * 2, axis=1)
    sf.write(str(rec / "b.flac"), stereo, 44100, subtype="PCM_16")
    _wav(rec / "wavs" / "c.wav", speech[2])  # LJSpeech layout: named without folder and extension
    _wav(rec / "d.wav", speech[3])
    (rec / "d.txt").write_text(SENTENCES[3] + "\n", encoding="utf-8")
    _wav(rec / "e.wav", speech[4])
    (rec / "e.txt").write_text("sidecar text that metadata overrides", encoding="utf-8")
    (rec / "metadata.csv").write_text(
        "file|text\n"
        f"a.wav|{SENTENCES[0]}\n"
        f"b|raw text 1|{SENTENCES[1]}\n"  # three columns: the last (normalized) one is used
        f"c|{SENTENCES[2]}\n"
        f"e.wav|{SENTENCES[4]}\n"
        "missing.wav|This file was never uploaded.\n",
        encoding="utf-8",
    )
    progress: list[tuple[int, int, str]] = []
    folder = tmp_path / "dataset"
    draft = build_dataset([rec], folder, speaker="joe", on_progress=lambda d, t, m: progress.append((d, t, m)))

    clips = _by_source(draft)
    assert sorted(clips) == [f"recordings/{n}" for n in ("a.wav", "b.flac", "d.wav", "e.wav", "wavs/c.wav")]
    assert draft.problems == ["recordings/metadata.csv names missing.wav, which is not in the upload."]
    expect = {"a.wav": 0, "b.flac": 1, "wavs/c.wav": 2, "d.wav": 3, "e.wav": 4}
    for name, i in expect.items():
        clip = clips[f"recordings/{name}"]
        assert clip.text == SENTENCES[i]
        assert clip.transcript_from == ("sidecar" if name == "d.wav" else "metadata")
        assert clip.recognized is None and clip.speaker == "joe" and not clip.drop
        info = sf.info(str(draft.folder / clip.audio))
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert clip.duration == pytest.approx(info.frames / SAMPLE_RATE, abs=1e-3)
        # trimmed lightly: never longer than the source, and at most Piper's own edge silence plus the pad is gone
        assert len(speech[i]) / SAMPLE_RATE - 0.5 < clip.duration <= len(speech[i]) / SAMPLE_RATE + 0.01
        assert MIN_CLIP_S <= clip.duration <= MAX_CLIP_S
        assert 8 < clip.chars_per_sec < 25
    assert sorted(c.id for c in draft.clips) == ["0001", "0002", "0003", "0004", "0005"]
    assert progress[0][:2] == (0, 5) and progress[-1][:2] == (5, 5)


def test_unusable_files_become_problems_or_drops(tmp_path: Path, speech: list[np.ndarray], no_whisper: None) -> None:
    up = tmp_path / "up"
    _wav(up / "good.wav", speech[0])
    (up / "good.txt").write_text(SENTENCES[0], encoding="utf-8")
    (up / "notes.pdf").write_bytes(b"%PDF-1.4 not audio")
    (up / "broken.wav").write_bytes(b"RIFF\x00\x00garbage that is no wave file" * 10)
    _wav(up / "silence.wav", np.zeros(3 * SAMPLE_RATE, dtype=np.float32))
    (up / "silence.txt").write_text("nothing said", encoding="utf-8")
    hum = 0.2 * np.sin(2 * np.pi * 60 * np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE)
    _wav(up / "hum.wav", hum.astype(np.float32))
    (up / "hum.txt").write_text("only mains hum", encoding="utf-8")
    _wav(up / "empty.wav", speech[1])
    (up / "empty.txt").write_text("   \n", encoding="utf-8")
    _wav(up / "short.wav", speech[2][:SAMPLE_RATE])  # one second of a word or two
    (up / "short.txt").write_text("A gentle", encoding="utf-8")
    (up / "orphan.txt").write_text("a transcript without audio", encoding="utf-8")

    draft = build_dataset(sorted(up.iterdir()), tmp_path / "ds")

    problems = "\n".join(draft.problems)
    assert "notes.pdf: not an audio file" in problems
    assert "broken.wav: could not be read as audio" in problems
    assert "silence.wav: silent" in problems
    assert "hum.wav: no speech found" in problems
    assert "orphan.txt: a text file with no audio file" in problems
    assert len(draft.problems) == 5
    clips = _by_source(draft)
    assert sorted(clips) == ["empty.wav", "good.wav", "short.wav"]
    assert not clips["good.wav"].drop
    assert (clips["empty.wav"].drop, clips["empty.wav"].reason) == (True, "empty transcript")
    assert (clips["short.wav"].drop, clips["short.wav"].reason) == (True, "too short")
    assert summarize(draft).dropped_reasons == {"empty transcript": 1, "too short": 1}


def test_nothing_usable_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(InvalidInput, match=r"No usable audio was found\. notes\.pdf: not an audio file"):
        build_dataset([tmp_path / "notes.pdf"], tmp_path / "ds")
    with pytest.raises(InvalidInput, match="does not exist"):
        build_dataset([tmp_path / "nope.wav"], tmp_path / "ds")


def test_whisper_transcribes_and_checks(tmp_path: Path, speech: list[np.ndarray], transcriber) -> None:  # type: ignore[no-untyped-def]
    up = tmp_path / "up"
    _wav(up / "plain.wav", speech[5])  # no transcript anywhere: Whisper writes it
    _wav(up / "right.wav", speech[6])
    _wav(up / "wrong.wav", speech[7])
    (up / "metadata.csv").write_text(
        f"right|{SENTENCES[6]}\nwrong|Seven purple elephants juggled oranges at midnight.\n", encoding="utf-8"
    )
    draft = build_dataset([up], tmp_path / "ds", transcriber=transcriber, check_with_whisper=True)
    clips = _by_source(draft)

    plain = clips["up/plain.wav"]
    assert plain.transcript_from == "whisper" and plain.recognized == plain.text
    assert word_error_rate(SENTENCES[5], plain.text) < 0.3, plain.text
    assert "mismatch" not in plain.flags and not plain.drop

    right, wrong = clips["up/right.wav"], clips["up/wrong.wav"]
    assert right.transcript_from == wrong.transcript_from == "metadata"
    assert right.recognized and word_error_rate(SENTENCES[6], right.recognized) < 0.3
    assert right.flags == [] and right.reason == ""
    assert wrong.recognized and word_error_rate(SENTENCES[7], wrong.recognized) < 0.3
    assert "mismatch" in wrong.flags and not wrong.drop
    assert "Whisper heard something else" in wrong.reason
    assert "mismatch" in review_rows(draft)[[c.id for c in draft.clips].index(wrong.id)][4]


def _long_recording(speech: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """All sentences joined by GAP_S of silence; returns the audio and where the gaps are (samples)."""
    gap = np.zeros(round(GAP_S * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    gaps: list[tuple[int, int]] = []
    pos = 0
    for i, sentence in enumerate(speech):
        if i:
            parts.append(gap)
            gaps.append((pos, pos + len(gap)))
            pos += len(gap)
        parts.append(sentence)
        pos += len(sentence)
    return np.concatenate(parts), gaps


def test_long_recording_is_cut_at_pauses(speech: list[np.ndarray]) -> None:
    audio, gaps = _long_recording(speech)
    assert len(audio) / SAMPLE_RATE > 25
    spans = split_at_pauses(audio, SAMPLE_RATE)
    assert len(spans) >= 3
    for start, end in spans:
        assert MIN_CLIP_S <= (end - start) / SAMPLE_RATE <= MAX_CLIP_S
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
        middle = (end + start) / 2
        assert any(g0 <= middle <= g1 for g0, g1 in gaps), f"cut at {middle / SAMPLE_RATE:.2f} s is not in a pause"
        assert np.max(np.abs(audio[end:start])) < 0.01  # nothing but silence between two clips
    speech_only = sum(len(s) for s in speech)
    kept = sum(end - start for start, end in spans)
    assert speech_only - 0.5 * SAMPLE_RATE < kept <= len(audio)


def test_speech_without_pauses_gets_hard_cuts(speech: list[np.ndarray]) -> None:
    # sentences butted together with no gap: a hard cut is the only way, and still every clip fits
    audio = np.concatenate([s[np.flatnonzero(np.abs(s) > 0.01)[0] :] for s in speech[:5]])
    spans = split_at_pauses(audio, SAMPLE_RATE)
    assert len(spans) >= 2
    assert all(MIN_CLIP_S <= (e - s) / SAMPLE_RATE <= MAX_CLIP_S for s, e in spans)


def test_long_recording_in_a_dataset(tmp_path: Path, speech: list[np.ndarray], transcriber) -> None:  # type: ignore[no-untyped-def]
    audio, _ = _long_recording(speech)
    long = _wav(tmp_path / "up" / "long.wav", audio)
    # a transcript of the whole recording cannot be split at the cuts: the parts are transcribed by Whisper
    long.with_suffix(".txt").write_text(" ".join(SENTENCES), encoding="utf-8")
    draft = build_dataset([long], tmp_path / "ds", transcriber=transcriber)
    assert len(draft.clips) >= 3 and draft.problems == []
    for n, clip in enumerate(draft.clips, start=1):
        assert clip.source.startswith(f"long.wav part {n} (")
        assert clip.transcript_from == "whisper" and clip.recognized == clip.text and not clip.drop
        assert MIN_CLIP_S <= clip.duration <= MAX_CLIP_S
    total = sum(c.duration for c in draft.clips)
    assert sum(len(s) for s in speech) / SAMPLE_RATE - 0.5 < total <= len(audio) / SAMPLE_RATE
    heard = " ".join(c.text for c in draft.clips)
    assert word_error_rate(" ".join(SENTENCES), heard) < 0.3, heard


def test_zip_upload(tmp_path: Path, speech: list[np.ndarray], no_whisper: None) -> None:
    src = tmp_path / "src"
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(2):
            zf.write(_wav(src / f"s{i}.wav", speech[i]), f"wavs/s{i}.wav")
        zf.writestr("metadata.csv", f"s0|{SENTENCES[0]}\ns1|{SENTENCES[1]}\n")
        zf.writestr("__MACOSX/wavs/._s0.wav", b"resource fork")
        zf.writestr("wavs/", b"")
    folder = tmp_path / "ds"
    draft = build_dataset([archive], folder)
    assert [c.source for c in draft.clips] == ["upload.zip/wavs/s0.wav", "upload.zip/wavs/s1.wav"]
    assert [c.text for c in draft.clips] == SENTENCES[:2]
    assert draft.problems == []
    assert not (folder / ".upload").exists()  # the unpacked upload is removed after the build


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link.wav")
    info.external_attr = (0o120777 << 16) | 0
    return info


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../evil.wav", r"unsafe file path \('\.\./evil\.wav'\)"),
        ("/tmp/evil.wav", r"unsafe file path \('/tmp/evil\.wav'\)"),
        ("sub\\..\\..\\evil.wav", r"unsafe file path"),
        (_symlink_entry(), r"symbolic link \('link\.wav'\)"),
    ],
)
def test_unsafe_zip_is_refused(tmp_path: Path, entry: zipfile.ZipInfo | str, message: str) -> None:
    up = tmp_path / "inside" / "up"
    up.mkdir(parents=True)
    archive = _zip(up / "bad.zip", [("good.wav", b"RIFF...."), (entry, b"/etc/passwd")])
    work = up / "work"
    with pytest.raises(InvalidInput, match=message) as err:
        gather_sources([archive], work)
    assert "bad.zip" in str(err.value)
    assert not work.exists() or not any(work.rglob("*"))  # nothing extracted, not even the good entry
    assert not (up / "evil.wav").exists() and not (tmp_path / "inside" / "evil.wav").exists()
    folder = tmp_path / "ds"
    with pytest.raises(InvalidInput, match=message):
        build_dataset([archive], folder)
    assert not any(folder.rglob("*"))


def test_zip_bomb_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(tmp_path / "bomb.zip", [("a.wav", b"\0" * 4000), ("b.wav", b"\0" * 4000)])
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 6000)
    with pytest.raises(InvalidInput, match=r"'bomb\.zip' unpacks to more than .*'b\.wav'.*ZIP bomb"):
        gather_sources([archive], tmp_path / "w1")
    assert not (tmp_path / "w1").exists()
    monkeypatch.setattr(sources, "MAX_UNPACKED_BYTES", 10_000)
    monkeypatch.setattr(sources, "MAX_ZIP_FILES", 1)
    with pytest.raises(InvalidInput, match=r"'bomb\.zip' holds 2 files; at most 1"):
        gather_sources([archive], tmp_path / "w2")
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match=r"'fake\.zip' is not a readable ZIP"):
        gather_sources([tmp_path / "fake.zip"], tmp_path / "w3")


@pytest.fixture
def draft(tmp_path: Path, speech: list[np.ndarray], no_whisper: None) -> ds.DatasetDraft:
    """All eight sentences with correct metadata: a small dataset to review and save."""
    up = tmp_path / "up"
    for i, s in enumerate(speech):
        _wav(up / f"s{i}.wav", s)
    (up / "metadata.csv").write_text("".join(f"s{i}|{t}\n" for i, t in enumerate(SENTENCES)), encoding="utf-8")
    return build_dataset([up], tmp_path / "ds", speaker="joe")


def test_review_round_trip(draft: ds.DatasetDraft) -> None:
    rows = review_rows(draft)
    assert len(rows) == 8 and len(rows[0]) == len(ds.REVIEW_COLUMNS)
    assert rows[0][0] == "0001" and rows[0][1] == round(draft.clips[0].duration, 1) and rows[0][2] == SENTENCES[0]
    assert rows[0][3:] == ["", "", False, ""]
    assert all(c.flags == [] for c in draft.clips)  # even speech: no chars/sec outliers

    rows[0][2] = "  The quick brown fox   jumps. "
    rows[1][5] = True
    rows[2][2] = ""
    # far too much text for its audio: the clip is flagged fast against the others
    rows[3][2] = SENTENCES[3] + " " + " ".join(SENTENCES[4:7])
    edited = apply_review(draft, rows)

    assert edited is not draft and draft.clips[0].text == SENTENCES[0]  # the original draft is untouched
    c = edited.clips
    assert (c[0].text, c[0].drop) == ("The quick brown fox jumps.", False)
    assert (c[1].drop, c[1].reason) == (True, "dropped in review")
    assert (c[2].drop, c[2].reason) == (True, "empty transcript")
    assert "fast" in c[3].flags and "unusually fast" in c[3].reason and not c[3].drop

    # back again: untick, and give the emptied clip its text
    rows = review_rows(edited)
    rows[1][5] = False
    rows[2][2], rows[2][5] = SENTENCES[2], False
    again = apply_review(edited, rows)
    assert [(x.drop, x.reason) for x in again.clips[1:3]] == [(False, ""), (False, "")]

    # the table comes back from gradio as a DataFrame, sometimes with ids read as numbers; a subset is fine
    import pandas as pd

    subset = review_rows(again)[4:6]
    subset[0][0], subset[0][5] = 5, True
    frame = pd.DataFrame(subset, columns=ds.REVIEW_COLUMNS)
    assert apply_review(again, frame).clips[4].drop

    with pytest.raises(InvalidInput, match=r"row 1 names clip '9999'"):
        apply_review(draft, [["9999", 3.0, "text", "", "", False, ""]])
    with pytest.raises(InvalidInput, match=r"row 1 does not have the 7 columns"):
        apply_review(draft, [["0001", "text"]])
    with pytest.raises(InvalidInput, match=r"row 2 repeats clip 0001"):
        apply_review(draft, [review_rows(draft)[0], review_rows(draft)[0]])
    with pytest.raises(InvalidInput, match=r"drop column must be true or false"):
        apply_review(draft, [["0001", 3.0, "text", "", "", "maybe", ""]])


def test_summary_save_and_load(draft: ds.DatasetDraft) -> None:
    rows = review_rows(draft)
    rows[7][5] = True
    draft = apply_review(draft, rows)
    kept_s = sum(c.duration for c in draft.clips[:7])

    summary = summarize(draft, val_fraction=0.2)
    assert (summary.kept, summary.dropped, summary.train, summary.validation) == (7, 1, 6, 1)
    assert summary.dropped_reasons == {"dropped in review": 1}
    assert summary.total_minutes == pytest.approx(kept_s / 60, abs=0.01)
    assert summary.text().startswith("**7 clips kept**") and "1 dropped in review" in summary.text()

    with pytest.raises(InvalidInput, match=r"Only 0\.4 minutes of usable audio; fine-tuning needs at least 1 minute\."):
        save_dataset(draft)
    assert not (draft.folder / "manifest.jsonl").exists()
    assert check_enough_audio(draft, min_total_s=10) == pytest.approx(kept_s)

    path = save_dataset(draft, val_fraction=0.2, seed=3, min_total_s=10)
    assert path == draft.folder / "manifest.jsonl"
    rows_back = load_manifest(draft.folder)
    assert [r["id"] for r in rows_back] == [c.id for c in draft.clips[:7]]
    assert sum(r["split"] == "validation" for r in rows_back) == 1
    assert {r["split"] for r in rows_back} == {"train", "validation"}
    for r in rows_back:
        assert set(r) == {"id", "audio", "text", "speaker", "duration", "split"}
        assert (draft.folder / r["audio"]).is_file() and r["speaker"] == "joe"
    info = json.loads((draft.folder / "dataset.json").read_text(encoding="utf-8"))
    assert (info["speaker"], info["sample_rate"], info["clips"], info["validation"]) == ("joe", 22050, 7, 1)
    assert info["created"]

    # an encoder adds codec tokens; saving again after a review keeps them and the same split
    with_codes = [{**r, "codes": [[1, 2], [3, 4], [5, 6], [7, 8]]} for r in rows_back]
    path.write_text("".join(json.dumps(r) + "\n" for r in with_codes), encoding="utf-8")
    save_dataset(draft, val_fraction=0.2, seed=3, min_total_s=10)
    resaved = load_manifest(path)
    assert [r["split"] for r in resaved] == [r["split"] for r in rows_back]
    assert all(r["codes"] == [[1, 2], [3, 4], [5, 6], [7, 8]] for r in resaved)
    assert json.loads((draft.folder / "dataset.json").read_text(encoding="utf-8"))["created"] == info["created"]


def test_split_is_deterministic_and_small_sets() -> None:
    folder = Path("unused")
    clips = [Clip(f"{i:04d}", f"clips/{i:04d}.wav", 3.0, "text", "x.wav", "metadata") for i in range(1, 21)]
    one = ds.DatasetDraft(folder, clips, "s")
    assert validation_ids(clips, 0.1, 0) == validation_ids(clips, 0.1, 0)
    assert len(validation_ids(clips, 0.1, 0)) == 2
    assert summarize(ds.DatasetDraft(folder, clips[:2], "s")).validation == 1
    assert summarize(ds.DatasetDraft(folder, clips[:1], "s")).validation == 0
    assert summarize(one, val_fraction=0.0).validation == 1  # at least one clip to validate on
    with pytest.raises(InvalidInput, match="validation fraction"):
        summarize(one, val_fraction=1.5)


def test_load_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"manifest\.jsonl does not exist"):
        load_manifest(tmp_path)
    bad = tmp_path / "manifest.jsonl"
    bad.write_text('{"id": "0001", "text": "fine"}\n{oops this is not json\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"manifest\.jsonl line 2 is not valid JSON"):
        load_manifest(bad)
    bad.write_text('{"id": "0001", "text": "fine"}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"line 3 is not a clip"):
        load_manifest(bad)


def test_cancel_and_rebuild(tmp_path: Path, speech: list[np.ndarray], no_whisper: None) -> None:
    up = tmp_path / "up"
    for i in range(3):
        _wav(up / f"s{i}.wav", speech[i])
        (up / f"s{i}.txt").write_text(SENTENCES[i], encoding="utf-8")
    folder = tmp_path / "ds"
    cancel = threading.Event()

    def stop_after_first(done: int, total: int, message: str) -> None:
        if done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        build_dataset([up], folder, on_progress=stop_after_first, cancel=cancel)
    assert not (folder / ".upload").exists()

    first = build_dataset([up], folder)
    save_dataset(first, min_total_s=1)
    # building again makes the new dataset beside the saved one, which it replaces when saved: no stale clips,
    # manifest rows or codec tokens
    second = build_dataset([up / "s0.wav", up / "s0.txt"], folder)
    assert [c.id for c in second.clips] == ["0001"]
    assert len(load_manifest(folder)) == 3  # the saved dataset is still whole
    save_dataset(second, min_total_s=1)
    assert sorted(p.name for p in (folder / "clips").iterdir()) == ["0001.wav"]
    assert [r["id"] for r in load_manifest(folder)] == ["0001"]
    with pytest.raises(InvalidInput, match="inside the dataset folder"):
        build_dataset([folder / "clips"], folder)

    # a dataset kept inside the recordings folder: building again does not take its own clips as recordings
    inner = up / "dataset"
    build_dataset([up], inner)
    again = build_dataset([up], inner)
    assert [c.source for c in again.clips] == ["up/s0.wav", "up/s1.wav", "up/s2.wav"]
