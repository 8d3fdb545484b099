"""Tiny Supertonic graphs shaped like the real architecture, built from a real tts.json (its `ttl` and `dp` sections).

The toy graphs of tests/tiny_onnx.py have the exact tensor contract but almost no weights; these have the contract
*and* the kinds of layers the published graphs are made of, at the real channel widths, with the number of layers and
blocks capped by `max_layers` (default 1) so that they stay small and fast on CPU:

- ConvNeXt blocks: depthwise Conv1d (kernel `ksz`, dilations from `dilation_lst`, group == channels), LayerNorm over
  the channels, pointwise Linear idim -> intermediate_dim, GELU (exported as Erf), Linear back, a learned per-channel
  layer scale, the residual, all masked by the text or latent mask;
- the attention encoder (`attn_encoder`, VITS-style: 1x1 Conv1d q/k/v/o, softmax masked by the text mask, LayerNorm,
  a convolutional feed-forward of filter_channels);
- cross-attention from the text to the 50 style tokens (`speech_prompted_text_encoder`, 2 heads, Linear -> MatMul);
- the vector estimator: proj_in 144 -> 512, a sinusoidal embedding of current_step / total_step through an MLP
  (time_encoder), main blocks with ConvNeXt stacks, time conditioning (an added Linear of the time embedding), style
  conditioning (cross-attention to style_ttl), text conditioning (cross-attention to text_emb masked by text_mask; no
  rotary positions), last_convnext and proj_out 512 -> 144; its output is one flow-matching step
  `denoised_latent = (noisy_latent + v / total_step) * latent_mask`;
- the duration predictor: char embedding, ConvNeXt, attention, a masked mean over the text, concatenated with the
  flattened style_dp [B, 128], an MLP (hdim, n_layer) -> duration = tokens x SECONDS_PER_TOKEN x exp(output).

Weights: torch's default initialization under a fixed seed (layer scale about 0.1, embeddings N(0, 0.3), LayerNorm
weights jittered around 1 and 0 so that no two initializers are equal: the exporter would merge them); outputs are
finite and moderate (the velocity v is O(1)). Graphs are exported with the TorchScript exporter (opset 17) with the
contract's input and output names and dynamic batch, text_len and latent_len axes. The vocoder is the voiced toy
vocoder of tests/tiny_onnx.py.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn
from torch.nn import functional as F

from tests.tiny_onnx import voiced_vocoder

SEED = 1234
OPSET = 17
SECONDS_PER_TOKEN = 0.06
LAYER_SCALE = 0.1
EMB_STD = 0.3
N_STYLE, STYLE_DIM = 50, 256
DP_STYLE = (8, 16)


def _jitter_norm(norm: nn.LayerNorm) -> None:
    """LayerNorm weights away from 1 and 0: distinct values, as after training (the exporter merges equal
    initializers into one, which the real graphs do not have either)."""
    with torch.no_grad():
        norm.weight.add_(0.1 * torch.randn_like(norm.weight))
        norm.bias.add_(0.05 * torch.randn_like(norm.bias))


def _cap(n: int, max_layers: int) -> int:
    return max(1, min(int(n), int(max_layers)))


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, ksz: int, intermediate: int, dilation: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, ksz, padding=dilation * (ksz - 1) // 2, dilation=dilation, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(LAYER_SCALE * (1 + 0.2 * torch.randn(dim)))
        _jitter_norm(self.norm)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # x [B, C, T], mask [B, 1, T]
        y = self.dwconv(x * mask).transpose(1, 2)  # [B, T, C]
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return (x + (self.gamma * y).transpose(1, 2)) * mask


class ConvNeXtStack(nn.Module):
    def __init__(self, cfg: dict[str, Any], max_layers: int) -> None:
        super().__init__()
        n = _cap(cfg["num_layers"], max_layers)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg["idim"], cfg["ksz"], cfg["intermediate_dim"], d) for d in cfg["dilation_lst"][:n]
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x


class CrossAttention(nn.Module):
    """Multi-head attention with Linear projections ([B, T, C] layout), keys optionally masked."""

    def __init__(self, q_dim: int, kv_dim: int, n_units: int, n_heads: int, out_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = n_heads, n_units // n_heads
        self.wq, self.wk = nn.Linear(q_dim, n_units), nn.Linear(kv_dim, n_units)
        self.wv, self.wo = nn.Linear(kv_dim, n_units), nn.Linear(n_units, out_dim)

    def forward(self, xq: torch.Tensor, xkv: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        b = xq.shape[0]
        q = self.wq(xq).view(b, -1, self.heads, self.head_dim).transpose(1, 2)  # [B, H, Tq, D]
        k = self.wk(xkv).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        v = self.wv(xkv).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        if key_mask is not None:  # [B, 1, Tk]
            scores = scores.masked_fill(key_mask.unsqueeze(1) == 0, -1e4)
        out = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, -1, self.heads * self.head_dim)
        return self.wo(out)


class SelfAttentionLayer(nn.Module):
    """One VITS-style attention encoder layer ([B, C, T] layout): 1x1 Conv1d q/k/v/o, masked softmax, post-LayerNorm,
    a convolutional feed-forward (kernel 3, ReLU)."""

    def __init__(self, hidden: int, filter_channels: int, n_heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = n_heads, hidden // n_heads
        self.conv_q, self.conv_k = nn.Conv1d(hidden, hidden, 1), nn.Conv1d(hidden, hidden, 1)
        self.conv_v, self.conv_o = nn.Conv1d(hidden, hidden, 1), nn.Conv1d(hidden, hidden, 1)
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        _jitter_norm(self.norm1)
        _jitter_norm(self.norm2)
        self.ffn_in = nn.Conv1d(hidden, filter_channels, 3, padding=1)
        self.ffn_out = nn.Conv1d(filter_channels, hidden, 3, padding=1)

    @staticmethod
    def _ln(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        return norm(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        q = self.conv_q(x).view(b, self.heads, self.head_dim, -1).transpose(2, 3)  # [B, H, T, D]
        k = self.conv_k(x).view(b, self.heads, self.head_dim, -1)  # [B, H, D, T]
        v = self.conv_v(x).view(b, self.heads, self.head_dim, -1).transpose(2, 3)
        scores = torch.matmul(q, k) / math.sqrt(self.head_dim)
        pair = mask.unsqueeze(-1) * mask.unsqueeze(-2)  # [B, 1, T, T]
        scores = scores.masked_fill(pair == 0, -1e4)
        y = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(2, 3).reshape(b, self.heads * self.head_dim, -1)
        x = self._ln(self.norm1, x + self.conv_o(y)) * mask
        y = self.ffn_out(torch.relu(self.ffn_in(x * mask)) * mask)
        return self._ln(self.norm2, x + y) * mask


class AttnEncoder(nn.Module):
    def __init__(self, cfg: dict[str, Any], max_layers: int) -> None:
        super().__init__()
        n = _cap(cfg["n_layers"], max_layers)
        self.layers = nn.ModuleList(
            SelfAttentionLayer(cfg["hidden_channels"], cfg["filter_channels"], cfg["n_heads"]) for _ in range(n)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x


def _embedding(vocab: int, dim: int) -> nn.Embedding:
    emb = nn.Embedding(vocab, dim)
    nn.init.normal_(emb.weight, std=EMB_STD)
    return emb


class TextEncoder(nn.Module):
    def __init__(self, ttl: dict[str, Any], vocab: int, max_layers: int = 1) -> None:
        super().__init__()
        te, sp = ttl["text_encoder"], ttl["speech_prompted_text_encoder"]
        dim = te["text_embedder"]["char_emb_dim"]
        self.embed = _embedding(vocab, dim)
        self.convnext = ConvNeXtStack(te["convnext"], max_layers)
        self.attn_encoder = AttnEncoder(te["attn_encoder"], max_layers)
        self.style_attn = CrossAttention(sp["text_dim"], sp["style_dim"], sp["n_units"], sp["n_heads"], sp["text_dim"])
        self.proj_out = nn.Conv1d(te["proj_out"]["idim"], te["proj_out"]["odim"], 1)

    def forward(self, text_ids: torch.Tensor, style_ttl: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(text_ids).transpose(1, 2) * text_mask  # [B, C, T]
        x = self.attn_encoder(self.convnext(x, text_mask), text_mask)
        x = x + self.style_attn(x.transpose(1, 2), style_ttl).transpose(1, 2)
        return self.proj_out(x * text_mask) * text_mask


class DurationPredictor(nn.Module):
    def __init__(self, dp: dict[str, Any], vocab: int, max_layers: int = 1) -> None:
        super().__init__()
        se, pr = dp["sentence_encoder"], dp["predictor"]
        self.embed = _embedding(vocab, se["text_embedder"]["char_emb_dim"])
        self.convnext = ConvNeXtStack(se["convnext"], max_layers)
        self.attn_encoder = AttnEncoder(se["attn_encoder"], max_layers)
        self.proj_out = nn.Conv1d(se["proj_out"]["idim"], se["proj_out"]["odim"], 1)
        dims = [pr["sentence_dim"] + pr["n_style"] * pr["style_dim"]] + [pr["hdim"]] * pr["n_layer"]
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.out = nn.Linear(pr["hdim"], 1)
        with torch.no_grad():
            self.out.weight.mul_(0.3)

    def forward(self, text_ids: torch.Tensor, style_dp: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(text_ids).transpose(1, 2) * text_mask
        x = self.proj_out(self.attn_encoder(self.convnext(x, text_mask), text_mask)) * text_mask
        tokens = text_mask.sum(dim=(1, 2))  # [B]
        sentence = x.sum(dim=2) / tokens.unsqueeze(1)  # masked mean [B, C]
        h = torch.cat([sentence, style_dp.flatten(1)], dim=1)
        for layer in self.mlp:
            h = F.silu(layer(h))
        log_pace = self.out(h).squeeze(1)  # [B]
        return tokens * SECONDS_PER_TOKEN * torch.exp(log_pace)


class TimeEncoder(nn.Module):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        half = cfg["time_dim"] // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half) / half) * 1000.0)
        self.fc1, self.fc2 = nn.Linear(cfg["time_dim"], cfg["hdim"]), nn.Linear(cfg["hdim"], cfg["time_dim"])

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # t [B] in [0, 1)
        args = t.unsqueeze(1) * self.freqs.unsqueeze(0)
        return self.fc2(F.mish(self.fc1(torch.cat([torch.sin(args), torch.cos(args)], dim=1))))


class MainBlock(nn.Module):
    def __init__(self, cfg: dict[str, Any], max_layers: int) -> None:
        super().__init__()
        dim = cfg["time_cond_layer"]["idim"]
        self.convnext_0 = ConvNeXtStack(cfg["convnext_0"], max_layers)
        self.time_cond = nn.Linear(cfg["time_cond_layer"]["time_dim"], dim)
        self.convnext_1 = ConvNeXtStack(cfg["convnext_1"], max_layers)
        sc = cfg["style_cond_layer"]
        self.style_cond = CrossAttention(dim, sc["style_dim"], dim, 2, dim)
        self.convnext_2 = ConvNeXtStack(cfg["convnext_2"], max_layers)
        tc = cfg["text_cond_layer"]
        self.text_cond = CrossAttention(dim, tc["text_dim"], tc.get("n_units", dim), tc["n_heads"], dim)

    def forward(self, x, temb, style_ttl, text_emb, text_mask, latent_mask):  # type: ignore[no-untyped-def]
        x = self.convnext_0(x, latent_mask)
        x = (x + self.time_cond(temb).unsqueeze(2)) * latent_mask
        x = self.convnext_1(x, latent_mask)
        x = (x + self.style_cond(x.transpose(1, 2), style_ttl).transpose(1, 2)) * latent_mask
        x = self.convnext_2(x, latent_mask)
        text = self.text_cond(x.transpose(1, 2), text_emb.transpose(1, 2), text_mask)
        return (x + text.transpose(1, 2)) * latent_mask


class VectorEstimator(nn.Module):
    def __init__(self, ttl: dict[str, Any], max_layers: int = 1) -> None:
        super().__init__()
        vf = ttl["vector_field"]
        latent = vf["proj_in"]["ldim"] * vf["proj_in"]["chunk_compress_factor"]
        self.proj_in = nn.Conv1d(latent, vf["proj_in"]["odim"], 1)
        self.time_encoder = TimeEncoder(vf["time_encoder"])
        n = _cap(vf["main_blocks"]["n_blocks"], max_layers)
        self.main_blocks = nn.ModuleList(MainBlock(vf["main_blocks"], max_layers) for _ in range(n))
        self.last_convnext = ConvNeXtStack(vf["last_convnext"], max_layers)
        self.proj_out = nn.Conv1d(vf["proj_out"]["idim"], latent, 1)

    def forward(self, noisy_latent, text_emb, style_ttl, text_mask, latent_mask, current_step, total_step):  # type: ignore[no-untyped-def]
        x = self.proj_in(noisy_latent) * latent_mask
        temb = self.time_encoder(current_step / total_step)
        for block in self.main_blocks:
            x = block(x, temb, style_ttl, text_emb, text_mask, latent_mask)
        v = self.proj_out(self.last_convnext(x, latent_mask))
        return (noisy_latent + v / total_step.view(-1, 1, 1)) * latent_mask


def indexer_size(fixture_dir: Path) -> int:
    """The char vocabulary: the largest id of unicode_indexer.json + 1."""
    return max(json.loads((Path(fixture_dir) / "unicode_indexer.json").read_text())) + 1


def build_modules(cfg: dict[str, Any], vocab: int, max_layers: int = 1) -> dict[str, nn.Module]:
    """The three torch modules (eval mode), deterministic for a given config, vocabulary and max_layers."""
    torch.manual_seed(SEED)
    modules = {
        "duration_predictor": DurationPredictor(cfg["dp"], vocab, max_layers),
        "text_encoder": TextEncoder(cfg["ttl"], vocab, max_layers),
        "vector_estimator": VectorEstimator(cfg["ttl"], max_layers),
    }
    return {name: m.eval() for name, m in modules.items()}


SIGNATURES: dict[str, tuple[list[str], list[str], dict[str, dict[int, str]]]] = {
    "duration_predictor": (
        ["text_ids", "style_dp", "text_mask"],
        ["duration"],
        {
            "text_ids": {0: "batch", 1: "text_len"},
            "style_dp": {0: "batch"},
            "text_mask": {0: "batch", 2: "text_len"},
            "duration": {0: "batch"},
        },
    ),
    "text_encoder": (
        ["text_ids", "style_ttl", "text_mask"],
        ["text_emb"],
        {
            "text_ids": {0: "batch", 1: "text_len"},
            "style_ttl": {0: "batch"},
            "text_mask": {0: "batch", 2: "text_len"},
            "text_emb": {0: "batch", 2: "text_len"},
        },
    ),
    "vector_estimator": (
        ["noisy_latent", "text_emb", "style_ttl", "text_mask", "latent_mask", "current_step", "total_step"],
        ["denoised_latent"],
        {
            "noisy_latent": {0: "batch", 2: "latent_len"},
            "text_emb": {0: "batch", 2: "text_len"},
            "style_ttl": {0: "batch"},
            "text_mask": {0: "batch", 2: "text_len"},
            "latent_mask": {0: "batch", 2: "latent_len"},
            "current_step": {0: "batch"},
            "total_step": {0: "batch"},
            "denoised_latent": {0: "batch", 2: "latent_len"},
        },
    ),
}


def example_inputs(graph: str, batch: int = 2, text_len: int = 7, latent_len: int = 9) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    text_ids = torch.randint(0, 100, (batch, text_len), generator=g)
    text_mask = torch.ones(batch, 1, text_len)
    text_mask[-1, :, text_len - 2 :] = 0
    if graph == "duration_predictor":
        return text_ids, torch.randn(batch, *DP_STYLE, generator=g), text_mask
    style = torch.randn(batch, N_STYLE, STYLE_DIM, generator=g)
    if graph == "text_encoder":
        return text_ids, style, text_mask
    latent_mask = torch.ones(batch, 1, latent_len)
    latent_mask[-1, :, latent_len - 3 :] = 0
    return (torch.randn(batch, 144, latent_len, generator=g), torch.randn(batch, 256, text_len, generator=g), style,
            text_mask, latent_mask, torch.zeros(batch), torch.full((batch,), 4.0))  # fmt: skip


def export(module: nn.Module, graph: str) -> onnx.ModelProto:
    """One module as ONNX (TorchScript exporter, opset 17) with the contract's names, order and dynamic axes."""
    inputs, outputs, axes = SIGNATURES[graph]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example_inputs(graph),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    model = onnx.load_from_string(buffer.getvalue())
    model.graph.name = f"tiny_arch_{graph}"
    if [i.name for i in model.graph.input] != inputs:
        raise AssertionError(f"{graph}: exported inputs {[i.name for i in model.graph.input]} != {inputs}")
    onnx.checker.check_model(model, full_check=True)
    return model


_CACHE: dict[tuple[str, int], dict[str, bytes]] = {}


def arch_graphs(fixture_dir: Path, max_layers: int = 1) -> dict[str, bytes]:
    """The serialized graphs of one fixture (three exported + the voiced toy vocoder), cached in the process."""
    key = (str(Path(fixture_dir).resolve()), int(max_layers))
    if key not in _CACHE:
        cfg = json.loads((Path(fixture_dir) / "tts.json").read_text())
        modules = build_modules(cfg, indexer_size(fixture_dir), max_layers)
        graphs = {name: export(m, name).SerializeToString() for name, m in modules.items()}
        graphs["vocoder"] = voiced_vocoder().SerializeToString()
        _CACHE[key] = graphs
    return _CACHE[key]


def make_arch_model_dir(tmp_path: Path, fixture_dir: Path, max_layers: int = 1) -> Path:
    """A model folder in the Hub layout (onnx/{4 graphs, tts.json, unicode_indexer.json}, voice_styles/) with the
    architecture-shaped graphs; the vocoder is the voiced toy of tests/tiny_onnx.py."""
    root = Path(tmp_path) / f"arch-{Path(fixture_dir).name}-{max_layers}"
    (root / "onnx").mkdir(parents=True, exist_ok=True)
    for name, data in arch_graphs(fixture_dir, max_layers).items():
        (root / "onnx" / f"{name}.onnx").write_bytes(data)
    for name in ("tts.json", "unicode_indexer.json"):
        shutil.copyfile(Path(fixture_dir) / name, root / "onnx" / name)
    shutil.copytree(Path(fixture_dir) / "voice_styles", root / "voice_styles", dirs_exist_ok=True)
    return root
