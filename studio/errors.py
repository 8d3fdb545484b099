"""Studio's error hierarchy: every message says what was received and what to do."""


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
