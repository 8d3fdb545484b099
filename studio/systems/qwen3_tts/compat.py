"""Make the `qwen-tts` package (written for transformers 4.57) import and run under Studio's transformers 5.

qwen-tts 0.1.1 pins transformers==4.57.3, accelerate==1.12.0, torchaudio and the CPU onnxruntime; Studio keeps
transformers 5 and exactly one ONNX Runtime (onnxruntime-gpu), so the package is installed with `--no-deps` (plus
einops, which it imports at load time). Call `import_qwen_tts()` instead of `import qwen_tts`: it raises ImportError
when the package (or einops) is missing, and otherwise applies these shims, each documented where it is defined:

- while qwen_tts imports (it binds these names then; afterwards transformers' own objects are put back, and the
  stand-ins accept every call the originals accept): `check_model_inputs()` as a decorator factory, a "default"
  entry in ROPE_INIT_FUNCTIONS, the mask builders' old `input_embeds=`/`cache_position=` keywords; and a placeholder
  for the 25 Hz tokenizer's `speech_vq` module, which needs sox and torchaudio (no released model uses it);
- on qwen_tts's own classes, once: config defaults for pad/bos/eos ids, `_tied_weights_keys` as a dict, the 12 Hz
  encoder built on transformers 5's split Mimi (loading the released flat checkpoint layout), the speaker-encoder
  config ignoring keys that `save_pretrained` adds, `rope_parameters` handed back as `rope_scaling` on reload, and
  the rotary `inv_freq` buffers computed in `_init_weights` (otherwise left as uninitialized memory), and, from
  transformers 5.24 on, the KV cache under its new name `cache` (qwen-tts's outputs and forwards say
  `past_key_values`).

`SUPPORTED_TRANSFORMERS` is the range these shims were tested on (the locked version lies inside it);
`transformers_problem()` says why another installed version is refused, and what to do, before anything loads.

Nothing here imports torch or transformers at module import time.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import io
import logging
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# the 25 Hz tokenizer's speech quantizer: it imports `sox` and `torchaudio` (neither is installed, and torchaudio
# cannot be installed beside Studio's torch) at module import time. Only the 25 Hz (V1) tokenizer uses it; every
# released Qwen3-TTS model uses the 12 Hz (V2) tokenizer, so a placeholder module lets the package import.
SPEECH_VQ = "qwen_tts.core.tokenizer_25hz.vq.speech_vq"

# the transformers releases the shims below were run on (every Qwen3-TTS test: generation, cloning, fine-tuning)
SUPPORTED_TRANSFORMERS = ">=5.0,<5.25"

_lock = threading.Lock()
_module: types.ModuleType | None = None


def transformers_problem() -> str | None:
    """None when the installed transformers is one the shims support, else the reason and the fix, in words."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.specifiers import SpecifierSet

    try:
        installed = version("transformers")
    except PackageNotFoundError:
        return "transformers is not installed. Fix: run `make install` (it installs the versions in uv.lock)."
    if installed in SpecifierSet(SUPPORTED_TRANSFORMERS, prereleases=True):
        return None
    return (
        f"Qwen3-TTS runs on transformers {SUPPORTED_TRANSFORMERS} and transformers {installed} is installed. "
        "Fix: run `make install` (it installs the versions in uv.lock), or "
        f"`pip install 'transformers{SUPPORTED_TRANSFORMERS}'`."
    )


def _unsupported(name: str) -> type:
    def __init__(self: object, *args: object, **kwargs: object) -> None:
        raise ImportError(
            f"{name} belongs to Qwen3-TTS's 25 Hz speech tokenizer, which needs torchaudio and sox; Studio supports "
            "the 12 Hz tokenizer models (Qwen/Qwen3-TTS-12Hz-*)."
        )

    return type(name, (), {"__init__": __init__})


def _speech_vq_placeholder() -> types.ModuleType:
    module = types.ModuleType(SPEECH_VQ, "Placeholder: the 25 Hz tokenizer needs torchaudio and sox (not installed).")
    # a real spec: transformers' package probes call importlib.util.find_spec on loaded modules
    module.__spec__ = importlib.machinery.ModuleSpec(SPEECH_VQ, None)
    module.WhisperEncoderVQ = _unsupported("WhisperEncoderVQ")  # type: ignore[attr-defined]
    module.XVectorExtractor = _unsupported("XVectorExtractor")  # type: ignore[attr-defined]
    return module


def _check_model_inputs(original: Callable[..., Any]) -> Callable[..., Any]:
    """transformers 4.57's `check_model_inputs` was a decorator factory (`@check_model_inputs()`); in 5.x it is a
    plain decorator that requires the function. Accept both spellings."""

    def compatible(func: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        if func is None:
            # what transformers 5's check_model_inputs does itself, without its deprecation notice per import
            return lambda f: (replacement or original)(f)
        return original(func, *args, **kwargs)

    import transformers.utils.generic as generic

    replacement = getattr(generic, "merge_with_config_defaults", None)
    return compatible


def _default_rope(config: Any, device: Any = None, seq_len: int | None = None, **_: Any) -> tuple[Any, float]:
    """The plain RoPE frequencies (transformers 5 dropped the "default" entry of ROPE_INIT_FUNCTIONS and computes
    them inside each model; qwen-tts still looks the entry up): 1 / theta^(2i/d), no attention scaling."""
    import torch

    params = getattr(config, "rope_parameters", None) or {}
    theta = float(params.get("rope_theta") or getattr(config, "rope_theta", None) or 10000.0)
    factor = float(params.get("partial_rotary_factor") or getattr(config, "partial_rotary_factor", None) or 1.0)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dim = int(head_dim * factor)
    steps = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float)
    return 1.0 / (theta ** (steps / dim)), 1.0


def _mask_function(original: Callable[..., Any]) -> Callable[..., Any]:
    """transformers 4.57's mask builders took `input_embeds=` and `cache_position=`; transformers 5 renamed the
    first to `inputs_embeds` and derives the positions from the cache (qwen-tts passes exactly that default:
    arange(past length, past length + new length)). Translate the old keywords, pass everything else through."""
    import inspect

    accepted = set(inspect.signature(original).parameters)

    def compatible(*args: Any, **kwargs: Any) -> Any:
        if "input_embeds" in kwargs and "input_embeds" not in accepted:
            kwargs["inputs_embeds"] = kwargs.pop("input_embeds")
        if "cache_position" in kwargs and "cache_position" not in accepted:
            kwargs.pop("cache_position")
        if "past_key_values" in kwargs and "cache" in accepted:  # renamed in 5.24 (the old name warns)
            kwargs["cache"] = kwargs.pop("past_key_values")
        return original(*args, **kwargs)

    return compatible


@contextmanager
def _patched(target: object, name: str, value: object) -> Iterator[None]:
    missing = object()
    old = getattr(target, name, missing)
    setattr(target, name, value)
    try:
        yield
    finally:
        if old is missing:
            delattr(target, name)
        else:
            setattr(target, name, old)


@contextmanager
def _transformers_4_names() -> Iterator[None]:
    """The transformers names qwen-tts imports, as transformers 4.57 spelled them, for the length of its import."""
    import transformers.masking_utils as masking
    import transformers.modeling_rope_utils as rope_utils
    import transformers.utils.generic as generic

    rope_functions = dict(rope_utils.ROPE_INIT_FUNCTIONS)
    rope_functions.setdefault("default", _default_rope)
    with (
        _patched(generic, "check_model_inputs", _check_model_inputs(generic.check_model_inputs)),
        _patched(rope_utils, "ROPE_INIT_FUNCTIONS", rope_functions),
        _patched(masking, "create_causal_mask", _mask_function(masking.create_causal_mask)),
        _patched(
            masking,
            "create_sliding_window_causal_mask",
            _mask_function(masking.create_sliding_window_causal_mask),
        ),
    ):
        yield


def _config_defaults() -> None:
    """transformers 4 gave every config `pad_token_id`/`bos_token_id`/`eos_token_id` = None; transformers 5 sets
    them only on configs that declare them, and qwen-tts's talker and code predictor read `config.pad_token_id`.
    A class-level None restores the old default (a value in config.json still wins)."""
    from qwen_tts.core import models as qwen_models
    from qwen_tts.core.models import configuration_qwen3_tts as configs
    from qwen_tts.core.tokenizer_12hz import configuration_qwen3_tts_tokenizer_v2 as tokenizer_configs

    del qwen_models
    classes = [getattr(configs, name) for name in dir(configs) if name.startswith("Qwen3TTS")]
    classes += [getattr(tokenizer_configs, name) for name in dir(tokenizer_configs) if name.startswith("Qwen3TTS")]
    for cls in classes:
        if isinstance(cls, type):
            for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
                if not hasattr(cls, name):
                    setattr(cls, name, None)


def _tied_weights() -> None:
    """qwen-tts declares `_tied_weights_keys = ["lm_head.weight"]` (a transformers 4 list) on the talker and the code
    predictor; transformers 5 expects a {target: source} dict and fails on save and load. Neither model has a tied
    `lm_head.weight` (the talker's head is `codec_head`, the predictor's `lm_head` is a list of untied heads and the
    released configs say tie_word_embeddings=false), so the declaration becomes the empty dict."""
    from qwen_tts.core.models import modeling_qwen3_tts as modeling

    for name in dir(modeling):
        cls = getattr(modeling, name)
        if isinstance(cls, type) and isinstance(cls.__dict__.get("_tied_weights_keys"), list):
            cls._tied_weights_keys = {}  # type: ignore[attr-defined]


def _mimi_encoder() -> None:
    """qwen-tts's 12 Hz encoder subclasses transformers 4's flat `MimiModel` and drops the decoder by assigning
    `self.upsample = self.decoder_transformer = self.decoder = None`. transformers 5 split Mimi into an encoder
    half and a decoder half (those names are read-only properties now, so the assignment fails) and renames the
    flat checkpoint layout on load only for the class `MimiModel`. The encoder is built the transformers 5 way,
    with the decoder half dropped through the config (`decoder_config = None`), and the class gets MimiModel's
    checkpoint renaming, so the released `speech_tokenizer/model.safetensors` (flat layout) loads unchanged."""
    import copy
    import inspect

    from qwen_tts.core.tokenizer_12hz import modeling_qwen3_tts_tokenizer_v2 as tokenizer_v2
    from transformers import MimiModel
    from transformers.conversion_mapping import (
        get_checkpoint_conversion_mapping,
        register_checkpoint_conversion_mapping,
    )

    encoder_cls = tokenizer_v2.Qwen3TTSTokenizerV2Encoder

    def __init__(self: Any, config: Any) -> None:
        config = copy.deepcopy(config)
        if config.decoder_config is not None:
            config.decoder_config = None
        MimiModel.__init__(self, config)

    if isinstance(inspect.getattr_static(MimiModel, "upsample", None), property):  # the split Mimi (transformers 5)
        encoder_cls.__init__ = __init__
        mapping = get_checkpoint_conversion_mapping("MimiModel")
        if mapping and get_checkpoint_conversion_mapping(encoder_cls.__name__) is None:
            register_checkpoint_conversion_mapping(encoder_cls.__name__, mapping)


def _speaker_encoder_config() -> None:
    """`Qwen3TTSSpeakerEncoderConfig.__init__` takes only its own fields (no **kwargs, no super().__init__), but
    transformers 5 writes the config-wide keys (`model_type`, ...) into every nested config on `save_pretrained`, so
    a saved checkpoint (a tiny test model, a fine-tuned one) would not load again. Keys it does not know are
    dropped (the released configs hold only its own fields)."""
    import functools
    import inspect

    from qwen_tts.core.models import configuration_qwen3_tts as configs

    cls = configs.Qwen3TTSSpeakerEncoderConfig
    original = cls.__init__
    if getattr(original, "_studio_compat", False):
        return
    known = set(inspect.signature(original).parameters) - {"self"}

    @functools.wraps(original)
    def __init__(self: Any, **kwargs: Any) -> None:
        original(self, **{k: v for k, v in kwargs.items() if k in known})

    __init__._studio_compat = True  # type: ignore[attr-defined]
    cls.__init__ = __init__


def _rope_parameters() -> None:
    """transformers 5 saves RoPE settings as `rope_parameters` (and `"rope_scaling": null`); qwen-tts's talker and
    code-predictor configs take `rope_scaling=None` as an argument and assign it after the base class has read
    `rope_parameters`, which wipes the M-RoPE sections on reload. A checkpoint saved under transformers 5 (a tiny
    test model, a fine-tuned one) hands its `rope_parameters` over as `rope_scaling`; released configs (which carry
    `rope_scaling`) load exactly as before."""
    import functools
    import inspect

    from qwen_tts.core.models import configuration_qwen3_tts as configs

    for cls in (configs.Qwen3TTSTalkerConfig, configs.Qwen3TTSTalkerCodePredictorConfig):
        original = cls.__init__
        if getattr(original, "_studio_compat", False) or "rope_scaling" not in inspect.signature(original).parameters:
            continue

        def __init__(self: Any, *args: Any, _original: Callable[..., None] = original, **kwargs: Any) -> None:
            if kwargs.get("rope_scaling") is None and isinstance(kwargs.get("rope_parameters"), dict):
                kwargs["rope_scaling"] = kwargs.pop("rope_parameters")
            _original(self, *args, **kwargs)

        functools.update_wrapper(__init__, original)
        __init__._studio_compat = True  # type: ignore[attr-defined]
        cls.__init__ = __init__


def _rotary_buffers() -> None:
    """transformers 5 builds a model on the meta device and then loads the checkpoint; buffers that are not saved
    (each rotary embedding's `inv_freq`) are filled only by `_init_weights`, whose base version recognizes modules
    named "*RotaryEmbedding" and looks the "default" RoPE up in ROPE_INIT_FUNCTIONS. qwen-tts's models override
    `_init_weights` without that branch (and its 12 Hz decoder's module is spelled "RotatoryEmbedding"), so
    `inv_freq` stayed uninitialized memory: random, NaN or denormal positions, which made generation fail at random
    and run slowly. Every qwen-tts model's `_init_weights` also recomputes the frequencies with the module's own
    `rope_init_fn`, the way its `__init__` does."""
    import inspect

    import torch
    from qwen_tts.core.models import modeling_qwen3_tts
    from qwen_tts.core.tokenizer_12hz import modeling_qwen3_tts_tokenizer_v2
    from transformers import PreTrainedModel

    def wrap(original: Callable[..., None]) -> Callable[..., None]:
        @torch.no_grad()
        def _init_weights(self: Any, module: Any) -> None:
            original(self, module)
            inv_freq = getattr(module, "inv_freq", None)
            rope_init_fn = getattr(module, "rope_init_fn", None)
            if isinstance(inv_freq, torch.Tensor) and callable(rope_init_fn) and inv_freq.device.type != "meta":
                fresh, scaling = rope_init_fn(module.config, inv_freq.device)
                inv_freq.copy_(fresh)
                module.original_inv_freq = inv_freq
                module.attention_scaling = scaling

        _init_weights._studio_compat = True  # type: ignore[attr-defined]
        return _init_weights

    classes = [
        cls
        for module in (modeling_qwen3_tts, modeling_qwen3_tts_tokenizer_v2)
        for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, PreTrainedModel) and cls.__module__ == module.__name__
    ]
    for cls in sorted(classes, key=lambda c: len(c.__mro__)):  # parents first: subclasses inherit the wrapper
        current = cls._init_weights
        if not getattr(current, "_studio_compat", False):
            cls._init_weights = wrap(current)  # type: ignore[method-assign]


def _cache_name() -> None:
    """transformers 5.24 renamed the KV cache argument and output field from `past_key_values` to `cache`: generation
    passes `cache=` to forward and reads `outputs["cache"]`, and every ModelOutput's constructor renames a
    `past_key_values=` keyword to `cache`. qwen-tts's two output classes declare the field `past_key_values` (so
    constructing them failed: "unexpected keyword argument 'cache'"), and its two generating forwards take
    `past_key_values` (so the cache would have been dropped on every step). The output classes take the cache under
    either name and hold it under both; the forwards get it under their own name. Earlier releases need nothing."""
    import dataclasses
    import functools

    import transformers.utils.generic as generic
    from qwen_tts.core.models import modeling_qwen3_tts as modeling

    if not hasattr(generic, "_rename_kwargs_for_bc"):  # before 5.24: one name everywhere
        return
    for cls in vars(modeling).values():
        if not (isinstance(cls, type) and issubclass(cls, generic.ModelOutput) and dataclasses.is_dataclass(cls)):
            continue
        fields = {f.name for f in dataclasses.fields(cls)}
        init = cls.__dict__.get("__init__")
        if "past_key_values" not in fields or "cache" in fields or getattr(init, "_studio_compat", False):
            continue
        raw_init = getattr(init, "__wrapped__", init)  # the dataclass's own __init__, without the renaming wrapper

        def __init__(self: Any, *args: Any, _raw: Callable[..., None] = raw_init, **kwargs: Any) -> None:
            cache = kwargs.pop("cache", None)
            if cache is not None and kwargs.get("past_key_values") is None:
                kwargs["past_key_values"] = cache
            _raw(self, *args, **kwargs)
            if self.past_key_values is not None:
                self["cache"] = self.past_key_values  # what generation reads

        functools.update_wrapper(__init__, raw_init)
        __init__._studio_compat = True
        type.__setattr__(cls, "__init__", __init__)  # around ModelOutput's metaclass, which would wrap it again

    for cls in (
        modeling.Qwen3TTSTalkerForConditionalGeneration,
        modeling.Qwen3TTSTalkerCodePredictorModelForConditionalGeneration,
    ):
        forward = cls.__dict__["forward"]
        if getattr(forward, "_studio_compat", False):
            continue

        @functools.wraps(forward)
        def compatible(self: Any, *args: Any, _forward: Callable[..., Any] = forward, **kwargs: Any) -> Any:
            if "cache" in kwargs:
                cache = kwargs.pop("cache")
                if kwargs.get("past_key_values") is None:
                    kwargs["past_key_values"] = cache
            return _forward(self, *args, **kwargs)

        compatible._studio_compat = True  # type: ignore[attr-defined]
        cls.forward = compatible


def import_qwen_tts() -> types.ModuleType:
    """The `qwen_tts` package, imported once with the shims above. ImportError when it is not installed."""
    global _module
    with _lock:
        if _module is not None:
            return _module
        if importlib.util.find_spec("qwen_tts") is None:
            raise ImportError("qwen-tts is not installed")
        problem = transformers_problem()
        if problem is not None:
            raise ImportError(problem)
        if SPEECH_VQ not in sys.modules:
            try:  # the real module imports only when sox and a torchaudio matching torch are installed
                import sox  # noqa: F401
                import torchaudio  # noqa: F401
            except Exception:  # missing, or a torchaudio built for another torch
                sys.modules[SPEECH_VQ] = _speech_vq_placeholder()
        # the package prints a flash-attn notice to stdout on import; library code here never prints
        with _transformers_4_names(), contextlib.redirect_stdout(io.StringIO()) as printed:
            module = importlib.import_module("qwen_tts")
        if printed.getvalue().strip():
            log.debug("qwen_tts import printed: %s", " ".join(printed.getvalue().split()))
        _config_defaults()
        _tied_weights()
        _mimi_encoder()
        _speaker_encoder_config()
        _rope_parameters()
        _rotary_buffers()
        _cache_name()
        _module = module
        return module
