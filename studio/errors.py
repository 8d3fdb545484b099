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


class Offline(ModelMissing):
    """Files must be downloaded but the internet cannot be reached: `reason` says how that showed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TrainingFailed(StudioError):
    """A training run ended with an error."""


class Cancelled(StudioError):
    """The user cancelled a running job."""


class StorageError(StudioError):
    """Writing to disk failed (read-only folder, full disk, missing permission): what happened and what to do."""


STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def storage_error(exc: OSError, what: str, again: str = "run it again") -> StorageError:
    """One line for an OSError met while writing `what` ("the chunks of this book", ...): finished work is kept.
    `again` is what the user does once it is fixed ("run it again", "resume the run")."""
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"The disk is full: Studio could not write {what}{where}. Free some space, then {again}; "
                            "everything finished so far is kept.")  # fmt: skip
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(f"Studio could not write {what}{where}: the folder is read-only or not yours. Make it "
                            f"writable, then {again}; everything finished so far is kept.")  # fmt: skip
    return StorageError(f"Studio could not write {what}{where}: {exc.strerror or exc}. {again[0].upper()}{again[1:]} "
                        "once that is fixed; everything finished so far is kept.")  # fmt: skip


def write_fault(exc: BaseException, folder: str) -> OSError | None:
    """The storage fault behind a failed write into `folder`, or None when the failure was something else.

    Libraries that write for Studio do not all raise OSError: safetensors raises its own error naming "os error 28",
    torch.save a RuntimeError that names no cause at all. So: an OSError with a storage errno is taken as it is; any
    other error counts as a full disk when the folder's disk has (almost) no space left, or as read-only when it
    cannot be written."""
    import os

    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return exc
    try:
        stat = os.statvfs(folder)
        if stat.f_bavail * stat.f_frsize < 1 << 20:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if stat.f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
            return OSError(errno.EROFS, os.strerror(errno.EROFS))
    except OSError:
        return None
    return None
