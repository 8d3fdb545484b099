"""Studio's error hierarchy: every message says what was received and what to do."""

from __future__ import annotations

import errno


class StudioError(Exception):
    """Base class for errors shown to the user as plain messages (never tracebacks)."""


class InvalidInput(StudioError):
    """The user's input cannot be used as given (empty text, unknown language, ...)."""


class EngineUnavailable(StudioError):
    """An engine cannot run here (missing package, missing weights, no device)."""


class VoiceNotFound(InvalidInput):
    """The requested voice does not exist for the chosen engine."""


class ModelMissing(EngineUnavailable):
    """Model files are absent or corrupt; the message says how to get them."""


class TrainingFailed(StudioError):
    """A training run ended with an error."""


class Cancelled(StudioError):
    """The user cancelled a running job."""


class StorageError(StudioError):
    """Writing to disk failed (read-only folder, full disk, missing permission): what happened and what to do."""


def storage_error(exc: OSError, what: str) -> StorageError:
    """One line for an OSError met while writing `what` ("the chunks of this book", ...): finished work is kept."""
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"The disk is full: Studio could not write {what}{where}. Free some space, then run it "
                            "again; everything finished so far is kept.")  # fmt: skip
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(f"Studio could not write {what}{where}: the folder is read-only or not yours. Make it "
                            "writable, then run it again; everything finished so far is kept.")  # fmt: skip
    return StorageError(f"Studio could not write {what}{where}: {exc.strerror or exc}. Run it again once that is "
                        "fixed; everything finished so far is kept.")  # fmt: skip
