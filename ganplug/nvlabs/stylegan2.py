"""StyleGAN2 synthesis network (Karras et al. 2020, config F), rebuilt so NVlabs' pickled
tensors load by name: ``b{R}.conv0/conv1/torgb/skip``, ``const``, ``resample_filter``, ...

Modulation happens on activations: conv(x * s, W) * d equals NVlabs' fused conv(x, W * s * d)
because convolution is linear, with d = 1 / |W s| per output channel computed from the styles
alone. The graph therefore holds plain (transposed) convolutions with fixed weights; FIR
resampling is a fixed depthwise convolution; noise is each layer's stored ``noise_const``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .ops import ACT_GAINS, FullyConnected, activate, setup_filter, upfirdn2d


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                   up: int = 1, f: torch.Tensor | None = None, padding: int = 0,
                   prepared: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """conv(x * styles, weight) [* demodulation], optionally 2x up-sampled through FIR ``f``.
    ``prepared``: (sum of squared weights [in, out], weight with in/out swapped), see ``freeze``."""
    x = x * styles[:, :, None, None]
    kh = weight.shape[-1]
    wsq, weight_t = prepared if prepared is not None else (weight.square().sum((2, 3)).t(), weight.transpose(0, 1))
    if up == 1:
        x = F.conv2d(x, weight, padding=padding)
    else:  # transposed convolution, then the FIR filter, as NVlabs' conv2d_resample does
        fw = f.shape[-1]
        p0 = padding + (fw + up - 1) // 2 - (kh - 1)
        p1 = padding + (fw - up) // 2 - (kh - up)
        pt = max(min(-p0, -p1), 0)
        x = F.conv_transpose2d(x, weight_t, stride=up, padding=pt)
        x = upfirdn2d(x, f, pad=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up * up)
    if demodulate:
        d = torch.rsqrt(styles.square() @ wsq + 1e-8)  # [N, out]
        x = x * d[:, :, None, None]
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally 2x up), const noise, bias, activation, clamp."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, kernel_size: int = 3, up: int = 1,
                 use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None):
        super().__init__()
        self.up, self.activation, self.conv_clamp, self.padding = up, activation, conv_clamp, kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnected(w_dim, cin, bias_init=1)
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel_size, kernel_size))
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.prepared: tuple[torch.Tensor, torch.Tensor] | None = None

    def nvlabs_attrs(self) -> dict:
        return {"up": self.up, "padding": self.padding, "activation": self.activation, "conv_clamp": self.conv_clamp}

    def freeze(self) -> None:
        """Compute the weight-only terms once (an exported graph then holds each weight once)."""
        with torch.no_grad():
            self.prepared = (self.weight.square().sum((2, 3)).t().contiguous(), self.weight.transpose(0, 1).contiguous())

    def forward(self, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = modulated_conv(x, self.weight, self.affine(w), True, self.up, self.resample_filter, self.padding, self.prepared)
        if self.use_noise:
            x = x + self.noise_const * self.noise_strength
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return activate(x + self.bias[None, :, None, None], self.activation, ACT_GAINS[self.activation] * gain, clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to colour, no demodulation."""

    def __init__(self, cin: int, cout: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, cin, bias_init=1)
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_gain = 1 / math.sqrt(cin * kernel_size * kernel_size)

    def nvlabs_attrs(self) -> dict:
        return {"conv_clamp": self.conv_clamp}

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        return activate(x + self.bias[None, :, None, None], "linear", 1.0, self.conv_clamp)


class Conv2dLayer(nn.Module):
    """The resnet architecture's 1x1 skip: convolution, 2x FIR up-sampling, no bias."""

    def __init__(self, cin: int, cout: int, resample_filter=(1, 3, 3, 1)):
        super().__init__()
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.weight_gain = 1 / math.sqrt(cin)

    def nvlabs_attrs(self) -> dict:
        return {"up": 2, "down": 1}

    def forward(self, x: torch.Tensor, gain: float) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.weight_gain)
        fw = self.resample_filter.shape[-1]
        p0, p1 = (fw + 1) // 2, (fw - 2) // 2
        return upfirdn2d(x, self.resample_filter, up=2, pad=(p0, p1, p0, p1), gain=4.0) * gain


class SynthesisBlock(nn.Module):
    """One resolution: (const | conv0 up) -> conv1, RGB added to the up-sampled image ('skip'),
    a 1x1 residual ('resnet'), or RGB only at the end ('orig')."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, img_channels: int, is_last: bool,
                 architecture: str = "skip", resample_filter=(1, 3, 3, 1), conv_clamp: float | None = 256,
                 **layer_kwargs):
        super().__init__()
        self.cin, self.architecture = cin, architecture
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if cin == 0:
            self.const = nn.Parameter(torch.randn(cout, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, up=2, resample_filter=resample_filter,
                                        conv_clamp=conv_clamp, **layer_kwargs)
        self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, conv_clamp=conv_clamp, **layer_kwargs)
        self.has_rgb = is_last or architecture == "skip"
        if self.has_rgb:
            self.torgb = ToRGBLayer(cout, img_channels, w_dim, conv_clamp=conv_clamp)
        if cin != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(cin, cout, resample_filter)

    def nvlabs_attrs(self) -> dict:
        return {"architecture": self.architecture, "in_channels": self.cin}

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, w: torch.Tensor):
        if self.cin == 0:
            x = self.conv1(self.const.unsqueeze(0).expand(w.shape[0], -1, -1, -1), w)
        elif self.architecture == "resnet":
            y = self.skip(x, math.sqrt(0.5))
            x = y + self.conv1(self.conv0(x, w), w, gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x, w), w)
        if img is not None:
            fw = self.resample_filter.shape[-1]
            p0, p1 = (fw + 1) // 2, (fw - 2) // 2
            img = upfirdn2d(img, self.resample_filter, up=2, pad=(p0, p1, p0, p1), gain=4.0)
        if self.has_rgb:
            y = self.torgb(x, w)
            img = img + y if img is not None else y
        return x, img


SYNTHESIS_KWARGS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter", "conv_clamp",
                    "fp16_channels_last", "fused_modconv_default", "kernel_size", "use_noise", "activation",
                    "channels_last"}
IGNORED = {"num_fp16_res", "fp16_channels_last", "fused_modconv_default", "channels_last"}  # precision/speed only


class SynthesisNetwork(nn.Module):
    """w -> image: blocks b4, b8, ... up to the output resolution."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, **block_kwargs):
        super().__init__()
        for k in IGNORED:
            block_kwargs.pop(k, None)
        log2 = int(math.log2(img_resolution))
        if img_resolution < 4 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution {img_resolution} is not a power of two")
        self.resolutions = [2 ** i for i in range(2, log2 + 1)]
        ch = {r: min(channel_base // r, channel_max) for r in self.resolutions}
        self.num_ws = 0
        for r in self.resolutions:
            block = SynthesisBlock(ch[r // 2] if r > 4 else 0, ch[r], w_dim, r, img_channels,
                                   is_last=r == img_resolution, **block_kwargs)
            setattr(self, f"b{r}", block)
            self.num_ws += (1 if r == 4 else 2) + (1 if r == img_resolution else 0)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Every layer gets the same w (the mapping broadcasts one w, truncation included)."""
        x = img = None
        for r in self.resolutions:
            x, img = getattr(self, f"b{r}")(x, img, w)
        return img
