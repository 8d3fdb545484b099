"""ffmpeg commands for an export: FFMETADATA escaping and chapters, tags, the cover, and each format's encoder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from studio.audio.io import ffmpeg_exe
from studio.book.export_encoder import _Encoder
from studio.book.export_files import safe_filename
from studio.book.export_model import BookMeta
from studio.book.export_plan import _ChapterPlan, _Context

# A RIFF/WAVE file stores its sizes in 32 bits. Switch to RF64 (EBU Tech 3306, read by ffmpeg, sox, Audacity and
# libsndfile) a little before 4 GiB, leaving room for the header and the INFO tags.
WAV_LIMIT_BYTES = int(3.9 * 2**30)


def wav_container(frames: int, channels: int = 1, bytes_per_sample: int = 2) -> str:
    """'WAV' while the data fits a classic RIFF file, 'RF64' beyond ~3.9 GiB (its 32-bit sizes would overflow)."""
    return "RF64" if frames * channels * bytes_per_sample > WAV_LIMIT_BYTES else "WAV"


_FFMETA_SPECIAL = re.compile(r"([=;#\\\n])")


def ffmetadata_escape(value: str) -> str:
    """Escape a value for an FFMETADATA1 file: '=', ';', '#', '\\' and newlines get a backslash before them.

    ffmpeg's reader takes any line break right after a backslash as escaped, even after an escaped backslash, so a
    value ending in a backslash would swallow the next line (a title taking the tags below it): its trailing
    backslashes are written as U+FF3C (＼), which looks the same. Global tags avoid this altogether: they are passed
    on ffmpeg's command line (`_tag_args`)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    stripped = value.rstrip("\\")
    value = stripped + "\uff3c" * (len(value) - len(stripped))
    return _FFMETA_SPECIAL.sub(r"\\\1", value)


def ffmetadata_unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)


_ISO639_2 = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "sv": "swe",
             "da": "dan", "no": "nor", "fi": "fin", "pl": "pol", "cs": "ces", "ru": "rus", "uk": "ukr", "tr": "tur",
             "ja": "jpn", "zh": "zho", "ko": "kor", "ar": "ara", "hi": "hin", "el": "ell", "hu": "hun"}  # fmt: skip


def _language_tag(language: str) -> str | None:
    code = language.lower().split("-")[0].split("_")[0]
    if len(code) == 3 and code.isalpha():
        return code
    return _ISO639_2.get(code)


def _stage_path(work: Path, name: str) -> Path:
    """Where an encoder writes before the final rename (a seam for tests that point it at /dev/full)."""
    return work / name


# ---------------------------------------------------------------------------------------------- ffmpeg commands


def _tags(meta: BookMeta) -> dict[str, str]:
    tags = {"title": meta.title, "album": meta.title, "genre": meta.genre}
    if meta.author:
        tags |= {"artist": meta.author, "album_artist": meta.author}
    return tags


def _tag_args(tags: dict[str, str]) -> list[str]:
    return [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]


def _write_ffmetadata(ctx: _Context) -> None:
    """Global tags and one [CHAPTER] per chapter, in sample units so marks fall exactly on chapter starts."""
    lines = [";FFMETADATA1"]  # the book's tags go on the command line, exactly as they are (_tag_args)
    lines.append("media_type=2")  # iTunes 'stik' = Audiobook: players file it under audiobooks, not music
    for plan in ctx.plans:
        lines += ["", "[CHAPTER]", f"TIMEBASE=1/{ctx.rate}", f"START={plan.start}", f"END={plan.start + plan.frames}",
                  f"title={ffmetadata_escape(plan.title)}"]  # fmt: skip
    # bytes, not text mode: on Windows text mode would turn the escaped newlines into "\\\r\n"
    ctx.metadata_file.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


def _cover_kind(data: bytes, mime: str) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png"}.get(mime.lower())


def _write_cover(meta: BookMeta, work: Path, warnings: list[str]) -> Path | None:
    """The cover as a JPEG or PNG file for ffmpeg; other image types are converted, unreadable ones skipped."""
    if not meta.cover:
        return None
    kind = _cover_kind(meta.cover, meta.cover_mime)
    if kind:
        path = work / f"cover.{kind}"
        path.write_bytes(meta.cover)
        return path
    raw = work / "cover.src"
    raw.write_bytes(meta.cover)
    path = work / "cover.png"
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-frames:v", "1", str(path)],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0 or not path.is_file():
        warnings.append(f"The cover ({meta.cover_mime or 'unknown type'}) could not be read; exported without one.")
        return None
    return path


def _cover_args(ctx: _Context, input_index: int) -> tuple[list[str], list[str]]:
    if ctx.cover is None:
        return [], []
    return ["-i", str(ctx.cover)], [
        "-map", f"{input_index}:v", "-c:v", "copy", "-disposition:v:0", "attached_pic",
        "-metadata:s:v:0", "title=Cover", "-metadata:s:v:0", "comment=Cover (front)",
    ]  # fmt: skip


def _book_encoder(ctx: _Context, fmt: str) -> _Encoder:
    s = ctx.settings
    cover_in, cover_out = _cover_args(ctx, 2) if fmt in ("m4b", "flac") else ([], [])
    inputs = ["-f", "ffmetadata", "-i", str(ctx.metadata_file), *cover_in]
    args = ["-map", "0:a", *cover_out, "-map_metadata", "1", *_tag_args(_tags(ctx.meta))]
    if fmt == "m4b":
        lang = _language_tag(ctx.meta.language)
        args += ["-map_chapters", "1", "-c:a", "aac", "-b:a", s.aac_bitrate]
        args += ["-metadata:s:a:0", f"language={lang}"] if lang else []
        if ctx.subtitles is not None:  # the sentences as a text track (mov_text): players show them as captions
            inputs += ["-i", str(ctx.subtitles)]
            args += ["-map", f"{2 + len(cover_in) // 2}:s", "-c:s", "mov_text"]
            args += ["-metadata:s:s:0", f"language={lang}"] if lang else []
        # faststart moves the index to the front so players and web servers can start before the end has loaded
        args += ["-movflags", "+faststart", "-f", "ipod"]
    elif fmt == "flac":
        args += ["-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"]
    else:  # wav: PCM 16; RF64 only when a RIFF header could not hold the size
        rf64 = wav_container(ctx.total_frames) == "RF64"
        args += ["-c:a", "pcm_s16le", "-rf64", "always" if rf64 else "never", "-f", "wav"]
    return _Encoder(f"{ctx.base}.{fmt}", _stage_path(ctx.work, f"book.{fmt}"), ctx.rate, inputs, args, True)


def _epub_audio_encoder(ctx: _Context, plan: _ChapterPlan) -> _Encoder:
    """One chapter's narration for the read-along EPUB (MP3, a core media type of EPUB 3), no tags or cover."""
    (ctx.work / "epub3").mkdir(exist_ok=True)
    path = _stage_path(ctx.work / "epub3", f"ch{plan.index + 1:03d}.mp3")
    args = ["-map", "0:a", "-c:a", "libmp3lame", "-b:a", ctx.settings.epub_bitrate, "-write_xing", "1", "-f", "mp3"]
    return _Encoder(f"EPUB audio of chapter {plan.index + 1}", path, ctx.rate, [], args, False, publish=False)


def _mp3_name(plan: _ChapterPlan, count: int) -> str:
    width = max(2, len(str(count)))
    return f"{plan.index + 1:0{width}d} - {safe_filename(plan.title, fallback='Chapter')}.mp3"


def _mp3_encoder(ctx: _Context, plan: _ChapterPlan) -> _Encoder:
    cover_in, cover_out = _cover_args(ctx, 1)
    tags = _tags(ctx.meta) | {"title": plan.title, "track": f"{plan.index + 1}/{len(ctx.plans)}"}
    args = ["-map", "0:a", *cover_out, "-c:a", "libmp3lame", "-b:a", ctx.settings.mp3_bitrate]
    for key, value in tags.items():  # list arguments: no quoting or escaping, any character is safe here
        args += ["-metadata", f"{key}={value}"]
    args += ["-id3v2_version", "3", "-write_id3v1", "1", "-f", "mp3"]
    name = _mp3_name(plan, len(ctx.plans))
    (ctx.work / "mp3").mkdir(exist_ok=True)
    return _Encoder(f"mp3/{name}", _stage_path(ctx.work / "mp3", name), ctx.rate, cover_in, args, False)
