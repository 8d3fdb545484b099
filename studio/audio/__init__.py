"""Audio: the AudioResult type, pure signal helpers and file input/output."""

from studio.audio.types import AudioResult

__all__ = ["AudioResult"]
