"""Supertonic voice cloning: no official encoder exists, so a style is found by optimization.

Two methods, both starting from the preset that already sounds most like the reference:

- **gradient** (default, needs torch + onnx2torch): the four graphs are converted to frozen torch modules and
  `style_ttl` is optimized with Adam so that the synthesized sentences' speaker embedding (resemblyzer, its front end
  made differentiable: `speaker_torch`) points where the reference's does. Every row of the style is kept unit-length
  as in the shipped styles (the optimized tensor is renormalized row by row). `style_dp` (pace) stays the start
  preset's.
- **blend** (ONNX Runtime only): a (1+λ) evolution strategy over the weights of a blend of the presets (rows
  renormalized, as voice mixing does), scored by the numpy speaker encoder.

Both keep the best style seen, stop early when the similarity stops improving, report each iteration (for a live
curve) and honour a cancel flag. The similarity that is reported and stored is always measured the same way:
resemblyzer cosine between the reference and one fixed synthesized sentence (SIMILARITY_TEXT), fixed seed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from studio.engines.base import SynthParams
from studio.engines.cloning import SIMILARITY_TEXT, CloneJob, CloneProgress, CloneResult
from studio.errors import InvalidInput
from studio.systems.supertonic.mixing import mix_styles, unit_rows
from studio.systems.supertonic.model import Style, noise_latent, predict_durations
from studio.systems.supertonic.text import length_to_mask
from studio.voices.library import Voice
from studio.voices.reference import Reference

log = logging.getLogger(__name__)

TRAINING_TEXT = "The quick brown fox jumps over the lazy dog, while the birds sing in the early morning light."
METHODS = ("gradient", "blend")
MAX_PACE_BLEND = 0.5  # "gently": style_dp moves at most halfway from the start preset toward another preset's
MIN_ITERATIONS, MAX_ITERATIONS = 1, 1000


@dataclass(frozen=True)
class CloneSettings:
    method: str = "gradient"
    iterations: int = 60
    learning_rate: float = 0.05  # Adam, on unit-length style rows
    patience: int = 12  # iterations without a better similarity before stopping early
    flow_steps: int = 5  # flow-matching steps while optimizing (the saved voice speaks at any step count)
    population: int = 4  # blend: candidates per iteration
    seed: int = 0
    texts: tuple[str, ...] = ()  # sentences to optimize on; default: the transcript and TRAINING_TEXT
    match_pace: bool = True  # with a transcript: nudge style_dp so the transcript takes as long as in the reference

    def validate(self) -> CloneSettings:
        if self.method not in METHODS:
            raise InvalidInput(f"Unknown cloning method {self.method!r}; use one of: {', '.join(METHODS)}.")
        if not MIN_ITERATIONS <= int(self.iterations) <= MAX_ITERATIONS:
            raise InvalidInput(f"Iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}; got {self.iterations}.")
        if not 0 < float(self.learning_rate) <= 1:
            raise InvalidInput(f"The learning rate must be above 0 and at most 1; got {self.learning_rate}.")
        if int(self.patience) < 1:
            raise InvalidInput("Patience must be at least 1 iteration.")
        if not 1 <= int(self.flow_steps) <= 32:
            raise InvalidInput(f"Steps while cloning must be 1 to 32; got {self.flow_steps}.")
        if not 1 <= int(self.population) <= 32:
            raise InvalidInput(f"The blend population must be 1 to 32; got {self.population}.")
        return self


@dataclass
class _Search:
    """One optimization's inputs and its bookkeeping, shared by both methods: the iterations (stopping at Cancel),
    the curve, progress reports and the early stop after `patience` iterations without a better best."""

    start: Style
    presets: dict[str, Style]
    target: NDArray[np.float32]
    texts: Sequence[str]
    settings: CloneSettings
    on_progress: Callable[[CloneProgress], None] | None
    cancel: threading.Event | None
    started: float
    curve: list[tuple[int, float]] = field(default_factory=list)
    stopped: str = "finished"
    since: int = 0

    def iterations(self) -> Iterator[int]:
        for it in range(1, int(self.settings.iterations) + 1):
            if self.cancel is not None and self.cancel.is_set():
                self.stopped = "cancelled"
                return
            yield it

    def record(self, it: int, value: float, best: float, improved: bool) -> bool:
        """Note one iteration; True when the search should stop early."""
        self.since = 0 if improved else self.since + 1
        self.curve.append((it, value))
        if self.on_progress:
            elapsed = time.monotonic() - self.started
            self.on_progress(CloneProgress(it, self.settings.iterations, value, best, elapsed))
        if self.since >= self.settings.patience:
            self.stopped = "converged"
            return True
        return False


class SupertonicCloner:
    """Clone onto one loaded SupertonicEngine (ONNX Runtime), with a speaker encoder (evaluate.SpeakerEncoder)."""

    def __init__(self, engine: Any, encoder: Any) -> None:
        self.engine = engine
        self.encoder = encoder
        self._torch_model: Any = None

    # ------------------------------------------------------------------ measuring

    def speak(self, style: Style, text: str, steps: int, seed: int) -> NDArray[np.float32]:
        # at the default speed (1.05), as the voice will speak once saved: a measure at 1.0 heard another pace
        params = SynthParams(speed=self.engine.info.default_speed, steps=steps, seed=seed)
        result = self.engine.speak_style(text, style, params)
        return np.asarray(result.samples, dtype=np.float32)

    def similarity(self, style: Style, target: NDArray[np.float32], steps: int = 5, seed: int = 0) -> float:
        """The stored measure: the reference's embedding vs SIMILARITY_TEXT spoken with `style`."""
        wav = self.speak(style, SIMILARITY_TEXT, steps, seed)
        return float(self.encoder.similarity(self.encoder.embed(wav, self.engine.config.sample_rate), target))

    def presets(self) -> dict[str, Style]:
        return {v.id: self.engine.style(v.id) for v in self.engine.voices() if v.source == "preset"}

    # ------------------------------------------------------------------ the run

    def clone(
        self,
        reference: Reference,
        settings: CloneSettings | None = None,
        on_progress: Callable[[CloneProgress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CloneResult:
        settings = (settings or CloneSettings()).validate()
        started, cpu_started = time.monotonic(), time.process_time()
        target = self.encoder.embed(reference.samples, reference.sample_rate)
        texts = list(settings.texts) or [t for t in (opening(reference.transcript), TRAINING_TEXT) if t]
        presets = self.presets()
        if not presets:
            raise InvalidInput(f"{self.engine.info.label} has no preset voices to start cloning from.")
        scores = {}
        for i, (name, style) in enumerate(presets.items()):
            scores[name] = self.similarity(style, target, settings.flow_steps, settings.seed)
            if on_progress:
                phase = f"comparing presets ({i + 1}/{len(presets)})"
                elapsed = time.monotonic() - started
                on_progress(CloneProgress(0, settings.iterations, scores[name], max(scores.values()), elapsed, phase))
        start_voice = max(scores, key=lambda k: scores[k])
        start = presets[start_voice]
        search = _Search(start, presets, target, texts, settings, on_progress, cancel, started)
        best = self._gradient(search) if settings.method == "gradient" else self._blend(search)
        curve, stopped = search.curve, search.stopped
        pace: dict[str, Any] = {}
        if settings.match_pace and reference.transcript.strip():
            dp, pace = self.match_pace(start, presets, reference.transcript, reference.seconds)
            best = Style(best.ttl, dp)
        measured = self.similarity(best, target, settings.flow_steps, settings.seed)
        if measured < scores[start_voice]:  # the optimization fit its sentences but not the measure: keep the start
            log.info("cloning: measured %.4f below the start preset's %.4f; keeping the preset", measured,
                     scores[start_voice])  # fmt: skip
            best, measured = Style(start.ttl, best.dp), self.similarity(Style(start.ttl, best.dp), target,
                                                                        settings.flow_steps, settings.seed)  # fmt: skip
        return CloneResult(
            style=Style(best.ttl, best.dp, self.engine.version.name),
            similarity=measured,
            start_voice=start_voice,
            start_similarity=scores[start_voice],
            method=settings.method,
            iterations=len(curve),
            stopped=stopped,
            seconds=time.monotonic() - started,
            cpu_seconds=time.process_time() - cpu_started,
            curve=curve,
            preset_similarity=scores,
            pace=pace,
        )

    # ------------------------------------------------------------------ pace

    def match_pace(self, start: Style, presets: dict[str, Style], transcript: str,
                   target_seconds: float) -> tuple[NDArray[np.float32], dict[str, Any]]:  # fmt: skip
        """Move `style_dp` gently (at most MAX_PACE_BLEND of the way, rows renormalized) from the start preset toward
        the preset whose pace fits best, so that the transcript takes about as long as in the reference. The
        duration predictor is the model's own (ONNX Runtime), at the engine's default speed."""
        first = next(iter(presets))
        inputs = self.engine.encode([" ".join(transcript.split())], first)

        def seconds(dp: NDArray[np.float32]) -> float:
            return float(predict_durations(self.engine.sessions, self.engine.config, replace(inputs, style_dp=dp))[0])

        start_s = seconds(start.dp)
        timing = {name: seconds(style.dp) for name, style in presets.items()}
        toward = min(timing, key=lambda n: abs(timing[n] - target_seconds))
        best_dp, best_t, best_s = start.dp, 0.0, start_s
        for t in np.linspace(0.05, MAX_PACE_BLEND, 10):
            dp = unit_rows((1.0 - t) * start.dp + t * presets[toward].dp)
            got = seconds(dp)
            if abs(got - target_seconds) < abs(best_s - target_seconds) - 1e-4:
                best_dp, best_t, best_s = dp, float(t), got
        report = {"reference_seconds": round(target_seconds, 2), "start_seconds": round(start_s, 2),
                  "seconds": round(best_s, 2), "toward": toward, "blend": round(best_t, 2)}  # fmt: skip
        return np.asarray(best_dp, dtype=np.float32), report

    # ------------------------------------------------------------------ gradient

    def torch_model(self) -> Any:
        if self._torch_model is None:
            from studio.systems.supertonic.torch_model import TorchSupertonic

            if self.engine.model_dir is None:
                raise InvalidInput("This Supertonic engine was not loaded from a folder; gradient cloning needs one.")
            self._torch_model = TorchSupertonic.load(self.engine.model_dir, self.engine.config,
                                                     getattr(self.engine, "torch_cache", None))  # fmt: skip
        return self._torch_model

    def _gradient(self, search: _Search) -> Style:
        import torch

        from studio.audio.speaker_torch import TorchSpeakerEncoder

        model = self.torch_model()
        encoder = TorchSpeakerEncoder(self.encoder.model)  # the same resemblyzer weights, differentiable
        config, settings, start = self.engine.config, search.settings, search.start
        first = next(iter(search.presets))
        items = []
        for i, text in enumerate(search.texts):
            params = SynthParams(speed=self.engine.info.default_speed, steps=settings.flow_steps)
            inputs = self.engine.encode([text], first, params)
            inputs = replace(inputs, style_dp=start.dp)
            seconds = predict_durations(self.engine.sessions, config, inputs)
            lengths = config.latent_lengths(seconds)
            noise = noise_latent([np.random.default_rng([settings.seed, i])], config.latent_channels, lengths)
            tensors = (inputs.text_ids, inputs.text_mask, noise, length_to_mask(lengths))
            items.append((*(torch.from_numpy(t) for t in tensors), int(config.wav_lengths(seconds)[0])))
        goal = torch.from_numpy(np.asarray(search.target, dtype=np.float32))
        param = torch.tensor(start.ttl, dtype=torch.float32, requires_grad=True)
        optimizer = torch.optim.Adam([param], lr=float(settings.learning_rate))
        best_ttl, best_sim = start.ttl.copy(), -2.0
        for it in search.iterations():
            style = torch.nn.functional.normalize(param, dim=-1)
            sims = []
            for ids, text_mask, start_noise, latent_mask, n in items:
                wav = model.render(ids, text_mask, style, start_noise, latent_mask, settings.flow_steps)[:n]
                wav = torch.clamp(wav, -1.0, 1.0)
                sims.append(torch.dot(encoder.embed(wav, config.sample_rate), goal))
            similarity = torch.stack(sims).mean()
            optimizer.zero_grad()
            (1.0 - similarity).backward()
            value = float(similarity.detach())
            improved = value > best_sim + 1e-4
            if improved:
                best_ttl, best_sim = np.array(style.detach().numpy(), dtype=np.float32), value
            optimizer.step()
            with torch.no_grad():  # rows back on the unit sphere, like the shipped styles
                param.copy_(torch.nn.functional.normalize(param, dim=-1))
            if search.record(it, value, best_sim, improved):
                break
        return Style(unit_rows(best_ttl), start.dp)

    # ------------------------------------------------------------------ blend (ONNX Runtime only)

    def _blend(self, search: _Search) -> Style:
        styles = list(search.presets.values())
        settings = search.settings
        rng = np.random.default_rng(settings.seed)
        rate = self.engine.config.sample_rate

        def score(weights: NDArray[np.float64]) -> tuple[float, Style]:
            style = mix_styles([(s, float(w)) for s, w in zip(styles, weights, strict=True) if w > 1e-6])
            embeds = [self.encoder.embed(self.speak(style, t, settings.flow_steps, settings.seed), rate)
                      for t in search.texts]  # fmt: skip
            return float(np.mean([self.encoder.similarity(e, search.target) for e in embeds])), style

        best_w = np.array([1.0 if s is search.start else 0.0 for s in styles])
        best_sim, best_style = score(best_w)
        sigma = 0.3
        for it in search.iterations():
            improved = False
            round_best = -2.0
            for _ in range(int(settings.population)):
                w = np.clip(best_w + sigma * rng.standard_normal(len(styles)), 0.0, None)
                if w.sum() <= 1e-9:
                    continue
                w /= w.sum()
                sim, style = score(w)
                round_best = max(round_best, sim)
                if sim > best_sim + 1e-4:
                    best_w, best_sim, best_style, improved = w, sim, style, True
            sigma = min(1.0, sigma * 1.5) if improved else max(0.02, sigma * 0.8)
            if search.record(it, round_best, best_sim, improved):
                break
        return best_style


def opening(transcript: str, limit: int = 200) -> str:
    """The transcript's first sentences up to `limit` characters (a long latent makes every iteration slower)."""
    text = " ".join(transcript.split())
    if len(text) <= limit:
        return text
    cut = max(text.rfind(p, 0, limit) for p in ".!?;,")
    return text[: cut + 1] if cut > limit // 3 else text[:limit].rsplit(" ", 1)[0]


# ---- the cloning contract (engines/cloning.py) ------------------------------------------------------------------
def check(settings: CloneSettings | None, mode: str = "") -> CloneSettings:
    """The optimization's options, refused before the long part when out of range."""
    return (settings or CloneSettings()).validate()


def kept_cloner(cache: dict[str, Any], engine: str, loaded: Any, encoder: Any) -> SupertonicCloner:
    """The cloner of a loaded engine, kept in `cache` while that engine stays loaded (its graphs' torch copy is
    converted once, not for every voice); a reloaded engine gets a new one."""
    kept = cache.get(engine)
    if kept is None or kept.engine is not loaded:
        kept = cache[engine] = SupertonicCloner(loaded, encoder)
    return kept


def clone_voice(job: CloneJob) -> tuple[Voice, CloneResult]:
    """Find a style for the reference (kept when cancelled: the best so far) and save it as a library voice with
    its measured similarity. The cloner of a loaded engine is kept in `job.cache` while that engine stays loaded
    (its graphs' torch copy is converted once, not for every voice)."""
    import json
    import tempfile
    from pathlib import Path

    settings = check(job.settings)
    kept = kept_cloner(job.cache, job.engine, job.loaded, job.encoder)
    ref = job.reference
    result = kept.clone(ref, settings, job.on_progress, job.cancel)
    notes = f"Stopped by Cancel after {result.iterations} iterations." if result.stopped == "cancelled" else ""
    assert result.style is not None  # Supertonic results always carry their style
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "style.json"
        path.write_text(json.dumps(result.style.to_json(job.engine, {"clone": result.summary()})))
        voice = job.library.add(
            job.name,
            job.engine,
            files={"style": path},
            source={"kind": "clone", "file": ref.source_name, "sha256": ref.sha256, **result.summary()},
            model_version=job.loaded.info.model_version,
            transcript=ref.transcript,
            consent=True,
            similarity=round(result.similarity, 4),
            notes=notes,
        )
    return voice, result  # the loaded engine reads the library on every listing: nothing to reload
