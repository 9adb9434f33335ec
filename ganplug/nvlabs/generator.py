"""The mapping network, the whole generator, and the graphs the export traces."""

from __future__ import annotations

import torch
from torch import nn

from . import stylegan2, stylegan3
from .ops import FullyConnected, normalize_2nd_moment, to_uint8_nhwc

MAPPING_KWARGS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
KINDS = ("stylegan2", "stylegan3")


class MappingNetwork(nn.Module):
    """z (and class label c) -> w: normalise, embed c, an MLP; ψ pulls w towards ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_layers: int = 8, embed_features: int | None = None,
                 layer_features: int | None = None, activation: str = "lrelu", lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.998):
        super().__init__()
        self.z_dim, self.c_dim, self.num_layers = z_dim, c_dim, num_layers
        embed = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        width = w_dim if layer_features is None else layer_features
        features = [z_dim + embed] + [width] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnected(c_dim, embed)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(features[i], features[i + 1], activation, lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation: torch.Tensor | float | None = None) -> torch.Tensor:
        parts = [normalize_2nd_moment(z)] if self.z_dim else []
        if self.c_dim:
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if truncation is not None:  # written out: ONNX has no lerp
            x = self.w_avg + truncation * (x - self.w_avg)
        return x


class Generator(nn.Module):
    """NVlabs' ``Generator``: ``mapping`` then ``synthesis``, one w for every layer."""

    has_truncation = True

    def __init__(self, kind: str, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, **synthesis_kwargs):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind, self.z_dim, self.c_dim, self.w_dim = kind, z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        net = stylegan2 if kind == "stylegan2" else stylegan3
        self.synthesis = net.SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        mapping = {"num_layers": 8 if kind == "stylegan2" else 2, **(mapping_kwargs or {})}
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, **mapping)

    def freeze(self) -> "Generator":
        """Precompute every layer's weight-only terms; call once the weights are final (import does)."""
        for m in self.modules():
            if m is not self and hasattr(m, "freeze"):
                m.freeze()
        return self

    def one_hot(self, n: int, index: int = 0) -> torch.Tensor | None:
        """Labels for ``n`` samples of class ``index`` (None for unconditional models)."""
        if not self.c_dim:
            return None
        c = torch.zeros(n, self.c_dim)
        c[:, index] = 1
        return c

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """w of class 0: where the directions are found (GANSpace looks at w for style models)."""
        return self.mapping(z, self.one_hot(len(z)))

    def map(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation=None) -> torch.Tensor:
        """z (and labels c; class 0 when omitted) -> w, truncated by ψ when given."""
        return self.mapping(z, c if c is not None or not self.c_dim else self.one_hot(len(z)), truncation)

    def synthesize(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, w_dim] -> raw image [N, C, H, W] (NVlabs' output range, not clamped)."""
        return self.synthesis(w)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation=None) -> torch.Tensor:
        return self.synthesis(self.map(z, c, truncation))


class WholeGraph(nn.Module):
    """z, truncation (, c) -> uint8 NHWC image: the contract model."""

    def __init__(self, g: Generator):
        super().__init__()
        self.g = g

    def forward(self, z: torch.Tensor, truncation: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return to_uint8_nhwc(self.g(z, c, truncation))


class MappingGraph(nn.Module):
    """z, truncation (, c) -> w: the first half of a split export."""

    def __init__(self, g: Generator):
        super().__init__()
        self.g = g

    def forward(self, z: torch.Tensor, truncation: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.g.map(z, c, truncation)


class SynthesisGraph(nn.Module):
    """w -> uint8 NHWC image: the second half of a split export."""

    def __init__(self, g: Generator):
        super().__init__()
        self.g = g

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return to_uint8_nhwc(self.g.synthesize(w))
