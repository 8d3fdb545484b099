"""TTS engines behind one protocol; heavy runtimes are imported lazily inside each engine."""
