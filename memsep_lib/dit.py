"""An unconditional Diffusion Transformer (DiT, Peebles & Xie 2023) with prunable attention heads.

The whole model in one file, following the layout of the reference implementation: patchify,
fixed 2-D sin-cos position embeddings, a timestep embedder, adaLN-Zero blocks (the modulation's
last layer is zero-initialised, so every block starts as the identity) and a zero-initialised
final layer. Differences:

- unconditional (no class embedding); the network predicts the noise ``eps`` of
  ``X_t = a_t X_0 + s_t eps`` and :meth:`DiT.score` returns ``-eps_hat / s_t``;
- time is continuous: the embedder sees ``log t`` mapped linearly from ``[log t_min, log t_max]``
  onto ``[0, 1000]``, so that small ``t`` (where memorisation happens) is well resolved;
- every attention layer has a per-head gate ``g_h`` (a buffer, 1 by default):
  ``Attn(x) = W_o concat_h(g_h * head_h(x))``. Setting ``g_h = 0`` switches a head off, and
  :meth:`DiT.prune_heads` removes heads physically by slicing the qkv and output weights, which
  computes exactly what the zero gate computes with a smaller, faster model.

:func:`dit_flops` counts the matmul FLOPs of one image's forward (or training) pass from the sizes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .nets import sinusoidal_embedding
from .process import sigma
from .validation import _all_finite, check_bool, check_positive_int, check_real, check_time

__all__ = ["DiT", "FlatScore", "DIT_CONFIGS", "dit_flops", "sincos_pos_embed_2d", "check_remove"]

# Model sizes by name (hidden size, depth, heads; "/p": patch size), as DiT's ``DiT_models``: "DiT-S/2" is
# the paper-scale DiT-S, the two small ones are the `ci` and `cpu` profiles' of the pruning experiment.
DIT_CONFIGS = {
    "DiT-S/2": dict(hidden_size=384, depth=12, num_heads=6, patch_size=2),
    "DiT-cpu/2": dict(hidden_size=128, depth=5, num_heads=4, patch_size=2),
    "DiT-ci/4": dict(hidden_size=64, depth=5, num_heads=4, patch_size=4),
}


def dit_flops(*, input_size: int, patch_size: int, hidden_size: int, depth: int, num_heads: int, in_channels: int = 3,
              mlp_ratio: float = 4.0, frequency_dim: int = 256, heads_per_layer: list[int] | None = None,
              training: bool = False) -> int:
    """Matmul FLOPs of one image through a :class:`DiT` (2 per multiply-add, as ``torch.utils.flop_counter``).

    With ``N = (input_size / patch_size)^2`` tokens, ``D = hidden_size``, ``A_l = h_l D / num_heads`` the
    attention width of layer ``l`` (``h_l`` heads: ``heads_per_layer``, default ``num_heads`` each),
    ``M = mlp_ratio D`` and ``P = patch_size^2 in_channels``, the forward pass costs

        2 N P D + 2 (frequency_dim D + D^2)                                  patch and time embeddings
        + sum_l [12 D^2 + 6 N D A_l + 4 N^2 A_l + 2 N A_l D + 4 N D M]      adaLN, qkv, q k^T and a v, output, MLP
        + 4 D^2 + 2 N D P                                                    final layer.

    ``training``: forward and backward; the backward costs every matmul twice (gradients of its input and of
    its weight), except the patch embedding and the time embedding's first layer, whose inputs need no
    gradient (once). Elementwise work (norms, activations, the loss, AdamW) is not counted.
    """
    for name, value in (("input_size", input_size), ("patch_size", patch_size), ("hidden_size", hidden_size),
                        ("depth", depth), ("num_heads", num_heads), ("in_channels", in_channels),
                        ("frequency_dim", frequency_dim)):
        check_positive_int(value, name)
    check_real(mlp_ratio, "mlp_ratio", positive=True)
    check_bool(training, "training")
    if input_size % patch_size or hidden_size % num_heads:
        raise ValueError(f"input_size={input_size} must be divisible by patch_size={patch_size} and "
                         f"hidden_size={hidden_size} by num_heads={num_heads}")
    heads = [num_heads] * depth if heads_per_layer is None else list(heads_per_layer)
    if len(heads) != depth or any(not _is_index(h) or not 0 <= h <= num_heads for h in heads):
        raise ValueError(f"heads_per_layer must hold {depth} head counts in [0, {num_heads}], got {heads_per_layer}")
    N, D, P = (input_size // patch_size) ** 2, hidden_size, patch_size ** 2 * in_channels
    M, head_dim = int(hidden_size * mlp_ratio), hidden_size // num_heads
    no_input_grad = 2 * N * P * D + 2 * frequency_dim * D                  # backward: the weight gradient only
    forward = no_input_grad + 2 * D * D + 4 * D * D + 2 * N * D * P
    for h in heads:
        A = h * head_dim
        forward += 12 * D * D + 6 * N * D * A + 4 * N * N * A + 2 * N * A * D + 4 * N * D * M
    return 3 * forward - no_input_grad if training else forward


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.reshape(-1).double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_pos_embed_2d(dim: int, grid_size: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding, shape ``(grid_size^2, dim)`` (half the channels per axis)."""
    if dim % 4:
        raise ValueError(f"dim must be divisible by 4 for a 2-D sin-cos embedding, got {dim}")
    coords = torch.arange(grid_size, dtype=torch.float64)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    return torch.cat([_sincos_1d(dim // 2, gy), _sincos_1d(dim // 2, gx)], dim=1).float()


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    """An ``nn.Linear`` holding copies of the given weight ``(out, in)`` and bias ``(out,)``."""
    layer = nn.Linear(1, 1).to(weight)
    layer.weight, layer.bias = nn.Parameter(weight.detach().clone()), nn.Parameter(bias.detach().clone())
    layer.in_features, layer.out_features = weight.shape[1], weight.shape[0]
    return layer


class TimeEmbedder(nn.Module):
    """``t -> MLP(sinusoidal(1000 (log t - log t_min) / (log t_max - log t_min)))``."""

    def __init__(self, hidden_size: int, frequency_dim: int = 256, t_min: float = 1e-5, t_max: float = 10.0):
        super().__init__()
        self.frequency_dim, self.log_t_min, self.log_t_max = frequency_dim, math.log(t_min), math.log(t_max)
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        c = 1000 * (torch.log(t) - self.log_t_min) / (self.log_t_max - self.log_t_min)
        return self.mlp(sinusoidal_embedding(c, self.frequency_dim, scale=1.0))


class Attention(nn.Module):
    """Multi-head self-attention with per-head gates and physical head removal."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} must be divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * num_heads * self.head_dim)
        self.proj = nn.Linear(num_heads * self.head_dim, dim)
        self.register_buffer("head_gate", torch.ones(num_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        if self.num_heads == 0:
            return self.proj.bias.expand(B, N, -1)
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        heads = F.scaled_dot_product_attention(q, k, v)                        # (B, h, N, head_dim)
        heads = heads * self.head_gate.to(heads.dtype)[None, :, None, None]
        return self.proj(heads.transpose(1, 2).reshape(B, N, self.num_heads * self.head_dim))

    @torch.no_grad()
    def keep_heads(self, keep: list[int]) -> None:
        """Keep only the heads in ``keep`` (their gates are folded into the output projection)."""
        keep = sorted(set(keep))
        if any(h < 0 or h >= self.num_heads for h in keep):
            raise ValueError(f"head indices must lie in [0, {self.num_heads}), got {keep}")
        hd = self.head_dim
        cols = torch.tensor([h * hd + j for h in keep for j in range(hd)], dtype=torch.long)
        rows = torch.cat([part * self.num_heads * hd + cols for part in range(3)])
        gate = self.head_gate[keep].repeat_interleave(hd)
        qkv = _linear(self.qkv.weight[rows], self.qkv.bias[rows])
        proj = _linear(self.proj.weight[:, cols] * gate[None], self.proj.bias)
        self.qkv, self.proj, self.num_heads = qkv, proj, len(keep)
        self.head_gate = torch.ones(len(keep), device=self.head_gate.device, dtype=self.head_gate.dtype)


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning on the time embedding ``c``."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        mlp_hidden = int(hidden_size * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(hidden_size, mlp_hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_hidden, hidden_size))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa[:, None] * self.attn(_modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp[:, None] * self.mlp(_modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(_modulate(self.norm(x), shift, scale))


class DiT(nn.Module):
    """Unconditional DiT predicting the noise of ``X_t``; ``forward(x, t) -> eps_hat`` of shape ``(B, C, H, W)``."""

    def __init__(self, input_size: int = 32, patch_size: int = 4, in_channels: int = 3, hidden_size: int = 384,
                 depth: int = 12, num_heads: int = 6, mlp_ratio: float = 4.0):
        super().__init__()
        for name, value in (("input_size", input_size), ("patch_size", patch_size), ("in_channels", in_channels),
                            ("hidden_size", hidden_size), ("depth", depth), ("num_heads", num_heads)):
            check_positive_int(value, name)
        check_real(mlp_ratio, "mlp_ratio", positive=True)
        if hidden_size % 4:
            raise ValueError(f"hidden_size must be divisible by 4 (the 2-D sin-cos position embedding), "
                             f"got {hidden_size}")
        if input_size % patch_size:
            raise ValueError(f"input_size={input_size} must be divisible by patch_size={patch_size}")
        self.input_size, self.patch_size, self.in_channels = input_size, patch_size, in_channels
        self.grid_size = input_size // patch_size
        self.x_embedder = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)
        self.t_embedder = TimeEmbedder(hidden_size)
        self.register_buffer("pos_embed", sincos_pos_embed_2d(hidden_size, self.grid_size)[None])
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, in_channels)
        self._initialize_weights()

    @classmethod
    def from_config(cls, name: str, **overrides) -> "DiT":
        """The DiT of size ``DIT_CONFIGS[name]``, with keyword ``overrides`` (e.g. ``input_size``)."""
        if not isinstance(name, str) or name not in DIT_CONFIGS:
            raise ValueError(f"unknown DiT config {name!r}; choose from {sorted(DIT_CONFIGS)}")
        return cls(**{**DIT_CONFIGS[name], **overrides})

    def _initialize_weights(self) -> None:
        def _basic_init(module):
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        self.apply(_basic_init)
        w = self.x_embedder.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.bias)
        for layer in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        for block in self.blocks:                       # adaLN-Zero: every block starts as the identity
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, p*p*C) -> (B, C, H, W)``."""
        p, g, C = self.patch_size, self.grid_size, self.in_channels
        x = x.reshape(x.shape[0], g, g, p, p, C)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], C, g * p, g * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        self._check_x(x)
        t = self._times(x, t)
        h = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed
        c = self.t_embedder(t)
        for block in self.blocks:
            h = block(h, c)
        return self.unpatchify(self.final_layer(h, c))

    def _check_x(self, x) -> None:
        shape = (self.in_channels, self.input_size, self.input_size)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (B, {', '.join(map(str, shape))}), "
                            f"got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1:] != shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
        if x.dtype != self.pos_embed.dtype:
            raise TypeError(f"x must have the model's dtype {self.pos_embed.dtype}, got {x.dtype} "
                            f"(use model.to(dtype))")
        if x.numel() and not _all_finite(x):
            raise ValueError("x contains NaN or infinite values")

    def _times(self, x: torch.Tensor, t) -> torch.Tensor:
        """``t`` (a number, a NumPy scalar or array, a 0-d tensor or one time per image) as a ``(B,)`` tensor
        on ``x``'s device, in the model's dtype; ``1/s_t^2`` must be finite in that dtype."""
        dtype = self.pos_embed.dtype
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (numbers.Real, np.generic, np.ndarray, torch.Tensor)):
            raise TypeError(f"t must be a number or a tensor, got {type(t).__name__}")
        if isinstance(t, (np.ndarray, np.generic)) and np.asarray(t).dtype.kind not in "fiu":
            raise TypeError(f"t must be a real array, got dtype {np.asarray(t).dtype}")
        # numbers and arrays via float64, so that a float64 model sees t unrounded
        t = torch.as_tensor(t, device=x.device, **({} if isinstance(t, torch.Tensor) else {"dtype": torch.float64}))
        if t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"t must be a real tensor, got dtype {t.dtype}")
        if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, x.shape[0])):
            raise ValueError(f"t must be a scalar or have shape ({x.shape[0]},), got shape {tuple(t.shape)}")
        if t.numel():
            lo, hi = (v.item() for v in torch.aminmax(t.double()))
            if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0):
                raise ValueError(f"t must be finite and > 0, got {t.tolist() if t.numel() < 8 else 'a tensor'}")
            check_time(lo, "t", dtype=dtype)     # 1/s_t^2 finite: the error says the smallest usable t
        return t.to(dtype).expand(x.shape[0])

    def score(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """``grad log p_t(x) ~ -eps_hat(x, t) / s_t``."""
        s_t = sigma(self._times(x, t))
        return -self(x, t) / s_t[:, None, None, None]

    # ---- heads ----------------------------------------------------------------------------
    def heads_per_layer(self) -> list[int]:
        return [block.attn.num_heads for block in self.blocks]

    def head_gates(self) -> list[torch.Tensor]:
        """The gate buffers ``g`` of every layer (edit them in place to switch heads off)."""
        return [block.attn.head_gate for block in self.blocks]

    def prune_heads(self, remove: dict[int, list[int]]) -> None:
        """Physically remove heads: ``remove[layer] = [head, ...]`` (indices in the current model).

        Layer keys may be ints or their decimal strings (as a JSON round trip makes them); every index is
        checked before any head is removed, so a bad ``remove`` leaves the model unchanged."""
        for layer, heads in check_remove(remove, self.heads_per_layer()).items():
            attn = self.blocks[layer].attn
            attn.keep_heads([h for h in range(attn.num_heads) if h not in set(heads)])

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_image(self, *, training: bool = False) -> int:
        """:func:`dit_flops` of this model as it is now (its heads after any pruning)."""
        hidden, head_dim = self.pos_embed.shape[-1], self.blocks[0].attn.head_dim
        return dit_flops(input_size=self.input_size, patch_size=self.patch_size, hidden_size=hidden,
                         depth=len(self.blocks), num_heads=hidden // head_dim, in_channels=self.in_channels,
                         mlp_ratio=self.blocks[0].mlp[0].out_features / hidden,
                         frequency_dim=self.t_embedder.frequency_dim, heads_per_layer=self.heads_per_layer(),
                         training=training)


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_remove(remove, heads_per_layer: list[int]) -> dict[int, list[int]]:
    """``remove = {layer: [head, ...]}`` checked against a model's ``heads_per_layer``, as ``{int: [int, ...]}``.

    Layer keys: ints or decimal strings (JSON keys); a key given twice (``0`` and ``"0"``) joins its heads."""
    if not isinstance(remove, Mapping):
        raise TypeError(f"remove must be a dict {{layer: [head, ...]}}, got {type(remove).__name__}")
    out: dict[int, list[int]] = {}
    for key, heads in remove.items():
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            layer = int(key)
        elif _is_index(key):
            layer = int(key)
        else:
            raise TypeError(f"layer indices must be ints (or their decimal strings, as JSON keys), got {key!r}")
        if not 0 <= layer < len(heads_per_layer):
            raise ValueError(f"layer must lie in [0, {len(heads_per_layer)}), got {layer}")
        if isinstance(heads, (str, bytes, Mapping)) or not isinstance(heads, (list, tuple, set, frozenset, range,
                                                                               np.ndarray, torch.Tensor)):
            raise TypeError(f"remove[{layer}] must be a list of head indices, got {type(heads).__name__}")
        heads = heads.tolist() if isinstance(heads, (np.ndarray, torch.Tensor)) else list(heads)
        count = heads_per_layer[layer]
        bad = [h for h in heads if not _is_index(h) or not 0 <= h < count]
        if bad:
            raise ValueError(f"remove[{layer}] must hold head indices in [0, {count}), got {bad}")
        out.setdefault(layer, []).extend(int(h) for h in heads)
    return out


class FlatScore(nn.Module):
    """An image model's score as a ``score_fn`` on flat vectors: ``(B, C*H*W) -> (B, C*H*W)``.

    Lets the library's vector tools (``losses.dsm_loss``, ``nets.train_score_net``,
    ``sampling.sample``) train and sample an image model such as :class:`DiT` unchanged.
    """

    def __init__(self, model: DiT):
        super().__init__()
        if not isinstance(model, DiT):
            raise TypeError(f"model must be a DiT, got {type(model).__name__}")
        self.model = model
        self.shape = (model.in_channels, model.input_size, model.input_size)

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (B, {self.dim}) (flat {self.shape} images), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        return self.model.score(x.reshape(-1, *self.shape), t).flatten(1)
