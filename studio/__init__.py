"""Studio: an open-source voice studio (text to speech, audiobooks, cloning, fine-tuning)."""

__version__ = "0.1.0"
