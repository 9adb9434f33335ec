"""Network definitions, one screen each, and the registry ``build`` reads.

DCGAN (Radford et al. 2016): a stack of stride-2 transposed convolutions with
batch norm, doubling resolution from 4x4 and halving width each step. The
style-based generator and residual discriminator live in ``style.py``.

Every network takes ``resolution`` as N (square) or (W, H). ``config.base_grid`` picks the
base grid and the number of doublings: 4x4 for every power-of-two square (so square models
are as they always were), e.g. 4x8 for 256x128 or 9x16 for 256x144.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .config import RECIPES, base_grid

if TYPE_CHECKING:
    from .config import TrainConfig

Size = int | tuple[int, int]  # N (square) or (W, H)


def layout(resolution: Size) -> tuple[int, int, int]:
    """(n, base_h, base_w) of an N or (W, H) frame: n doublings from the base grid (``config.base_grid``)."""
    w, h = (resolution, resolution) if isinstance(resolution, int) else resolution
    return base_grid(w, h)


def _widths(resolution: Size, width: int, max_width: int) -> list[int]:
    """Channel widths from the base grid up to half size: ``width * 2**k`` capped, widest first."""
    steps = layout(resolution)[0]
    return [min(width * 2 ** (steps - 1 - i), max_width) for i in range(steps)]


class DCGANGenerator(nn.Module):
    """z [N, z_dim] -> image [N, C, H, W] in [-1, 1]."""

    has_truncation = False  # ganplug truncates a DCGAN by scaling z

    def __init__(self, z_dim: int = 128, resolution: Size = 64, channels: int = 3, width: int = 32, max_width: int = 512):
        super().__init__()
        w, (_, bh, bw) = _widths(resolution, width, max_width), layout(resolution)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, w[0], (bh, bw), 1, 0, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(True)]
        for cin, cout in zip(w, w[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(w[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The first block's activations: where GANSpace looks for directions."""
        return self.net[:3](z[:, :, None, None])


class Excite(nn.Module):
    """Skip-layer excitation (FastGAN, Liu et al. 2021): a coarse feature map gates the channels
    of a fine one, so global layout reaches the last layers in one step. Pool, 4x4 conv, 1x1 conv, sigmoid."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(cin, cout, 4, 1, 0), nn.LeakyReLU(0.1, True),
                                 nn.Conv2d(cout, cout, 1), nn.Sigmoid())

    def forward(self, fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return fine * self.net(coarse)


class LiteGenerator(nn.Module):
    """z [N, z_dim] -> image [N, C, H, W] in [-1, 1], cheap enough for a CPU: DCGAN's 4x4 seed and
    widths, but each doubling is bilinear x2 then a 3x3 convolution (no transposed convolutions, so
    no checkerboard), and the 8 px features gate the channels at R/2 (skip-layer excitation).

    ``head`` channels of convolution, batch norm and ReLU at full resolution come before the RGB
    convolution: without them the last doubling is linear, and a bilinear x2 followed by a linear
    filter cannot draw a sharp edge (issue 18: SWD at the 64 px level 102 -> 49). 0 = the first
    ``lite``, which run folders from before this layer still load as."""

    has_truncation = False  # truncated by scaling z, as DCGAN

    def __init__(self, z_dim: int = 128, resolution: Size = 64, channels: int = 3, width: int = 32, max_width: int = 512,
                 *, head: int):
        super().__init__()
        w, (_, bh, bw) = _widths(resolution, width, max_width), layout(resolution)
        self.seed = nn.Sequential(nn.ConvTranspose2d(z_dim, w[0], (bh, bw), 1, 0, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(True))
        self.ups = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
                                               nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))
                                 for cin, cout in zip(w, w[1:]))
        self.excite = Excite(w[1], w[-1])
        full = [nn.Conv2d(w[-1], head, 3, 1, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU(True)] if head else []
        self.to_rgb = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False), *full,
                                    nn.Conv2d(head or w[-1], channels, 3, 1, 1), nn.Tanh())
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.seed(z[:, :, None, None])
        coarse = None
        for i, up in enumerate(self.ups):
            x = up(x)
            coarse = x if i == 0 else coarse
        return self.to_rgb(self.excite(x, coarse))

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The seed block's activations: where GANSpace looks for directions."""
        return self.seed(z[:, :, None, None])


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean standard deviation across groups of samples as one more channel,
    so the discriminator can see a batch without variety (ProGAN's mode-collapse cue)."""
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    y = x.float().reshape(g, n // g, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # [n / g]
    y = y.to(x.dtype).reshape(1, n // g, 1, 1, 1).expand(g, -1, 1, h, w).reshape(n, 1, h, w)
    return torch.cat([x, y], 1)


class DCGANDiscriminator(nn.Module):
    """image [N, C, H, W] -> logit [N]; the last convolution's kernel is the base grid.
    With ``mbstd`` > 0 that convolution also reads the features' standard deviation across
    groups of ``mbstd`` samples (ProGAN's cue for a batch without variety). With ``head`` > 0
    a 3x3 convolution of that many channels reads the image at full resolution first, so the
    finest detail passes a non-linearity before the first stride-2 convolution."""

    def __init__(self, resolution: Size = 64, channels: int = 3, width: int = 32, max_width: int = 512, mbstd: int = 0,
                 head: int = 0):
        super().__init__()
        w, (_, bh, bw) = _widths(resolution, width, max_width)[::-1], layout(resolution)
        self.head = nn.Sequential(nn.Conv2d(channels, head, 3, 1, 1), nn.LeakyReLU(0.2, True)) if head else nn.Identity()
        layers: list[nn.Module] = [nn.Conv2d(head or channels, w[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(w, w[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(w[-1] + (1 if mbstd else 0), 1, (bh, bw), 1, 0)]
        self.net, self.mbstd = nn.Sequential(*layers), mbstd  # one Sequential: older checkpoints' keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        if not self.mbstd:
            return self.net(x).flatten()
        return self.net[-1](minibatch_stddev(self.net[:-1](x), self.mbstd)).flatten()


def init_weights(m: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def to_uint8_nhwc(x: torch.Tensor) -> torch.Tensor:
    """The contract's post-processing: [-1, 1] NCHW float -> 0..255 NHWC uint8.

    Round half to even (ONNX Round and torch.round agree), clamp, cast, then
    transpose the uint8 tensor (a quarter of the bytes of the float one).
    """
    return ((x + 1.0) * 127.5).round().clamp(0.0, 255.0).to(torch.uint8).permute(0, 2, 3, 1)


class ContractModel(nn.Module):
    """Generator plus post-processing: exactly what the exported graph computes.

    Generators that track an average latent (``has_truncation``) take the contract's
    scalar ``truncation`` input; the others take ``z`` alone.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.has_truncation = bool(getattr(generator, "has_truncation", False))

    def forward(self, z: torch.Tensor, truncation: torch.Tensor | None = None) -> torch.Tensor:
        if self.has_truncation:
            return to_uint8_nhwc(self.generator(z, truncation))
        return to_uint8_nhwc(self.generator(z))


class MappingPart(nn.Module):
    """The first graph of a split export: z (and ψ) -> w."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        return self.generator.map(z, truncation)


class SynthesisPart(nn.Module):
    """The second graph of a split export: w -> uint8 NHWC image, post-processing included."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return to_uint8_nhwc(self.generator.synthesize(w))


def build_for(cfg: "TrainConfig") -> tuple[nn.Module, nn.Module]:
    """``build`` with the networks' settings of a training config (as a run folder records them)."""
    return build(cfg.arch, z_dim=cfg.z_dim, resolution=cfg.frame_size, channels=cfg.channels, g_width=cfg.g_width,
                 d_width=cfg.d_width, map_layers=cfg.map_layers, g_head=cfg.g_head, d_mbstd=cfg.d_mbstd, d_head=cfg.d_head)


def build(arch: str, *, z_dim: int, resolution: Size, channels: int, g_width: int, d_width: int,
          map_layers: int = 2, g_head: int | None = None, d_mbstd: int | None = None,
          d_head: int = 0) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator for ``arch`` at ``resolution`` (N or (W, H)), initialised from torch's global RNG.
    ``g_head`` (lite only) and ``d_mbstd`` default to the recipe's; ``d_head`` (dcgan and lite) to none."""
    mbstd = RECIPES[arch]["d_mbstd"] if d_mbstd is None and arch in RECIPES else d_mbstd
    if arch in ("dcgan", "lite"):
        head = RECIPES["lite"]["g_head"] if g_head is None else g_head
        g: nn.Module = (DCGANGenerator(z_dim, resolution, channels, g_width) if arch == "dcgan"
                        else LiteGenerator(z_dim, resolution, channels, g_width, head=head))
        d: nn.Module = DCGANDiscriminator(resolution, channels, d_width, mbstd=mbstd, head=d_head)
        g.apply(init_weights)
        d.apply(init_weights)
        return g, d
    if arch == "style":
        from .style import ResidualDiscriminator, StyleGenerator

        max_g, max_d = max(256, g_width * 8), max(256, d_width * 8)
        return (StyleGenerator(z_dim, resolution, channels, g_width, max_g, map_layers),
                ResidualDiscriminator(resolution, channels, d_width, max_d, mbstd))
    raise ValueError(f"unknown architecture {arch!r}")
