"""A style-based generator and a residual discriminator for small data sets, after StyleGAN2
(Karras et al. 2020) and its small-data settings (StyleGAN2-ADA), written to export under the
ganplug ONNX contract.

Generator: z -> mapping MLP -> w. A learned constant (4x4 for a power-of-two square; the base grid
of ``config.base_grid`` for other shapes, e.g. 4x8 for 256x128) is refined block by block; each block
doubles the resolution (bilinear upsampling, then a 3x3 convolution: no transposed convolutions,
so no checkerboard) and each convolution is modulated by its own style, an affine map of w.
Every block adds its RGB to the upsampled image of the block before ("skip" generator).

Export constraints shape three choices:
- Modulation scales the activations, not the weights: conv(x * s, W) * d equals StyleGAN2's
  conv(x, W * s * d) (convolution is linear), so the graph holds plain convolutions with fixed
  weights instead of grouped convolutions with per-sample weights.
- Noise: random per pixel while training; in eval mode (previews, export) each layer adds its
  own fixed noise image, drawn once from a fixed seed and stored as a buffer (StyleGAN2's
  "const" noise). The exported graph has no random operators.
- Truncation: ``w_avg`` tracks the mean w during training; ``truncation`` ψ gives
  w_avg + ψ (w - w_avg), inside the graph.

All weights use the equalised learning rate (weights drawn N(0, 1), scaled by He's constant at
run time), which lets Adam give every layer the same effective step; the mapping network
learns 100x slower (lr_mul 0.01), as in StyleGAN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .models import Size, layout, minibatch_stddev

SQRT2 = math.sqrt(2.0)


def act(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with StyleGAN's gain, so activations keep unit variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


class EqLinear(nn.Module):
    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), bias_init / lr_mul))
        self.gain, self.lr_mul, self.activate = lr_mul / math.sqrt(cin), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.gain, self.bias * self.lr_mul)
        return act(x) if self.activate else x


class EqConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain = 1.0 / math.sqrt(cin * k * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=self.weight.shape[-1] // 2)


class ModConv(nn.Module):
    """Convolution modulated by a style from w: conv(x * s, W) * d, d = 1/|W s| per output channel."""

    def __init__(self, cin: int, cout: int, w_dim: int, k: int = 3, demodulate: bool = True):
        super().__init__()
        self.affine = EqLinear(w_dim, cin, bias_init=1.0)  # styles start at 1: an identity modulation
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.gain, self.demodulate = 1.0 / math.sqrt(cin * k * k), demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # [N, cin]
        weight = self.weight * self.gain
        x = F.conv2d(x * s[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:  # the norm of each sample's effective weights, from the styles alone
            d = torch.rsqrt((s * s) @ weight.square().sum((2, 3)).t() + 1e-8)  # [N, cout]
            x = x * d[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated 3x3 conv, per-pixel noise, bias, activation."""

    def __init__(self, cin: int, cout: int, w_dim: int, size: tuple[int, int], noise_seed: int):
        super().__init__()
        self.conv = ModConv(cin, cout, w_dim)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        fixed = torch.randn(1, 1, *size, generator=torch.Generator().manual_seed(noise_seed))  # size = (h, w)
        self.register_buffer("noise_const", fixed)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const.to(x.dtype)
        return act(x + noise * self.noise_strength + self.bias[None, :, None, None])


class StyleBlock(nn.Module):
    """Upsample x2 (but the first block, which reads the learned constant), two style layers, and this
    size's contribution to the RGB image. ``size`` is (h, w); the noise seeds follow the larger side."""

    def __init__(self, cin: int, cout: int, w_dim: int, size: tuple[int, int], channels: int, up: bool):
        super().__init__()
        key = max(size)
        self.layer0 = StyleLayer(cin, cout, w_dim, size, noise_seed=2 * key)
        self.layer1 = StyleLayer(cout, cout, w_dim, size, noise_seed=2 * key + 1)
        self.to_rgb = ModConv(cout, channels, w_dim, k=1, demodulate=False)
        self.rgb_bias = nn.Parameter(torch.zeros(channels))
        self.up = up

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.layer1(self.layer0(x, w), w)
        rgb = self.to_rgb(x, w) + self.rgb_bias[None, :, None, None]
        if img is not None:
            rgb = rgb + F.interpolate(img, scale_factor=2.0, mode="bilinear", align_corners=False)
        return x, rgb


def style_widths(resolution: Size, width: int, max_width: int) -> list[int]:
    """Channels per level, the base grid (level 0) up to full size (level n): ``width`` at full size,
    doubling per halving, capped."""
    n = layout(resolution)[0]
    return [min(width * 2 ** (n - i), max_width) for i in range(n + 1)]


class StyleGenerator(nn.Module):
    """z [N, z_dim] (and optional truncation ψ) -> image [N, C, H, W], roughly in [-1, 1]."""

    has_truncation = True

    def __init__(self, z_dim: int = 128, resolution: Size = 64, channels: int = 3, width: int = 32,
                 max_width: int = 256, map_layers: int = 2, w_avg_beta: float = 0.995):
        super().__init__()
        ch, (_, bh, bw) = style_widths(resolution, width, max_width), layout(resolution)
        self.z_dim, self.w_avg_beta = z_dim, w_avg_beta
        self.mapping = nn.Sequential(*[EqLinear(z_dim, z_dim, lr_mul=0.01, activate=True) for _ in range(map_layers)])
        self.register_buffer("w_avg", torch.zeros(z_dim))
        self.const = nn.Parameter(torch.randn(1, ch[0], bh, bw))
        self.blocks = nn.ModuleList(StyleBlock(ch[max(i - 1, 0)], c, z_dim, (bh << i, bw << i), channels, up=i > 0)
                                    for i, c in enumerate(ch))

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """w: where GANSpace (Härkönen et al. 2020) looks for a style generator's directions."""
        return self.mapping(z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8))  # z on the sphere, whatever its scale

    def map(self, z: torch.Tensor, truncation: torch.Tensor | float | None = None) -> torch.Tensor:
        """z -> w, truncated towards ``w_avg`` by ψ; in training mode it also updates ``w_avg``."""
        w = self.features(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation is not None:
            w = self.w_avg + truncation * (w - self.w_avg)
        return w

    def synthesize(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, w_dim] -> image [N, C, H, W]."""
        x, img = self.const.expand(w.shape[0], -1, -1, -1), None
        for block in self.blocks:
            x, img = block(x, img, w)
        return img

    def forward(self, z: torch.Tensor, truncation: torch.Tensor | float | None = None) -> torch.Tensor:
        return self.synthesize(self.map(z, truncation))


class ResBlock(nn.Module):
    """conv 3x3, average-pool, conv 3x3, with a pooled 1x1 shortcut; scaled to keep the variance."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0, self.conv1 = EqConv(cin, cin), EqConv(cin, cout)
        self.skip = EqConv(cin, cout, k=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.avg_pool2d(act(self.conv0(x)), 2))
        return (act(y) + self.skip(F.avg_pool2d(x, 2))) / SQRT2


class ResidualDiscriminator(nn.Module):
    """image [N, C, H, W] -> logit [N]. No normalisation layers, so the R1 penalty is per sample.
    Halves down to the base grid, whose bh x bw features the last fully connected layer reads."""

    def __init__(self, resolution: Size = 64, channels: int = 3, width: int = 32, max_width: int = 256, mbstd: int = 4):
        super().__init__()
        ch, (n, bh, bw) = style_widths(resolution, width, max_width), layout(resolution)
        self.mbstd = mbstd
        self.from_rgb = EqConv(channels, ch[n], k=1)
        self.blocks = nn.Sequential(*[ResBlock(ch[i], ch[i - 1]) for i in range(n, 0, -1)])
        self.conv = EqConv(ch[0] + (1 if mbstd else 0), ch[0])
        self.fc = EqLinear(ch[0] * bh * bw, ch[0], activate=True)
        self.out = EqLinear(ch[0], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(act(self.from_rgb(x)))
        x = act(self.conv(minibatch_stddev(x, self.mbstd) if self.mbstd else x))
        return self.out(self.fc(x.flatten(1))).flatten()
