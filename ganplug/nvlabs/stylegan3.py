"""StyleGAN3 synthesis network (Karras et al. 2021, configs -T and -R), rebuilt so NVlabs'
pickled tensors load by name: ``input.*`` and ``L{i}_{size}_{channels}.*``.

The layer geometry (sampling rates, cutoffs, sizes, paddings) follows the paper's recipe from
the constructor arguments; the low-pass filters come from the file (``up_filter``,
``down_filter``) and are designed here only for randomly initialised networks. The filtered
leaky ReLU is NVlabs' reference sequence: bias, zero-insertion up-sampling, FIR, leaky ReLU,
clamp, FIR, decimation, each a plain operator.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .ops import SQRT2, FullyConnected, activate, upfirdn2d


def _kaiser_beta(atten: float) -> float:
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    """J1 by the trapezoid rule over one period of its integral (exact to float64 for small x)."""
    tau = np.linspace(0, 2 * np.pi, 512, endpoint=False)
    return np.cos(tau - x[..., None] * np.sin(tau)).mean(-1)


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """Kaiser-windowed low-pass FIR (separable, [numtaps]) or jinc-based radial one ([n, n]);
    None for one tap. Same design as NVlabs' (scipy's firwin), for random initialisation."""
    if numtaps == 1:
        return None
    window = np.kaiser(numtaps, _kaiser_beta(2.285 * (numtaps - 1) * np.pi * (width / (fs / 2)) + 7.95))
    if not radial:
        c = cutoff / (fs / 2)
        f = c * np.sinc(c * (np.arange(numtaps) - (numtaps - 1) / 2)) * window
    else:
        x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
        r = np.hypot(*np.meshgrid(x, x))
        f = _bessel_j1(2 * cutoff * np.pi * r) / (np.pi * r) * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


class SynthesisInput(nn.Module):
    """Fourier features at frequencies ``freqs``, rotated and translated by an affine map of w,
    then mixed by a learned matrix."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, float(sampling_rate), float(bandwidth)
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnected(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        theta = torch.tensor([[0.5 * size / self.sampling_rate, 0, 0], [0, 0.5 * size / self.sampling_rate, 0]])
        grid = F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)  # the sample positions
        self.register_buffer("grid", grid.reshape(size * size, 2), persistent=False)

    def nvlabs_attrs(self) -> dict:
        return {"size": [self.size, self.size], "sampling_rate": self.sampling_rate, "bandwidth": self.bandwidth}

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        c, s, tx, ty = t.unbind(1)
        zero, one = torch.zeros_like(c), torch.ones_like(c)
        rotate = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], 1).reshape(-1, 3, 3)
        shift = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], 1).reshape(-1, 3, 3)
        m = rotate @ shift @ self.transform
        phases = self.phases + (self.freqs @ m[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = self.freqs @ m[:, :2, :2]  # [N, C, 2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        x = self.grid @ freqs.transpose(1, 2) + phases[:, None, :]  # [N, H*W, C]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.transpose(1, 2).reshape(-1, self.channels, self.size, self.size)


class SynthesisLayer(nn.Module):
    """Modulated convolution, then the filtered leaky ReLU (or, as ToRGB, bias and clamp only)."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, in_channels: int, out_channels: int,
                 in_size: int, out_size: int, in_sampling_rate: int, out_sampling_rate: int, in_cutoff: float,
                 out_cutoff: float, in_half_width: float, out_half_width: float, conv_kernel: int = 3,
                 filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
                 conv_clamp: float | None = 256):
        super().__init__()
        self.is_torgb, self.in_channels, self.conv_clamp = is_torgb, in_channels, conv_clamp
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up_factor = int(np.rint(tmp_rate / in_sampling_rate))
        self.down_factor = int(np.rint(tmp_rate / out_sampling_rate))
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("up_filter", lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", lowpass_filter(down_taps, out_cutoff, out_half_width * 2, tmp_rate, radial))
        total = (out_size - 1) * self.down_factor + 1 - (in_size + self.conv_kernel - 1) * self.up_factor + up_taps + down_taps - 2
        lo = (total + self.up_factor) // 2  # NVlabs' symmetric sample positions (paper, appendix C.3)
        self.padding = [int(lo), int(total - lo), int(lo), int(total - lo)]
        self.prepared: tuple[torch.Tensor, torch.Tensor] | None = None

    def _weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, sum of its squares per input and output channel [in, out]); the weight is
        normalised to unit RMS except in ToRGB, which does not demodulate."""
        if self.is_torgb:
            return self.weight, self.weight
        weight = self.weight * self.weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        return weight, weight.square().sum((2, 3)).t()

    def freeze(self) -> None:
        """Compute the weight-only terms once (an exported graph then holds each weight once)."""
        with torch.no_grad():
            self.prepared = tuple(t.contiguous() for t in self._weights())

    def nvlabs_attrs(self) -> dict:
        return {"padding": self.padding, "up_factor": self.up_factor, "down_factor": self.down_factor,
                "conv_kernel": self.conv_kernel, "is_torgb": self.is_torgb, "conv_clamp": self.conv_clamp}

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        weight, wsq = self.prepared if self.prepared is not None else self._weights()
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel ** 2)
        else:  # pre-normalise, then demodulate per sample and output channel
            styles = styles * styles.square().mean(1, keepdim=True).rsqrt()
        x = x * (styles * self.magnitude_ema.rsqrt())[:, :, None, None]
        x = F.conv2d(x, weight, padding=self.conv_kernel - 1)
        if not self.is_torgb:
            x = x * torch.rsqrt(styles.square() @ wsq + 1e-8)[:, :, None, None]
        x = x + self.bias[None, :, None, None]
        x = upfirdn2d(x, self.up_filter, up=self.up_factor, pad=tuple(self.padding), gain=self.up_factor ** 2)
        if self.is_torgb:
            x = activate(x, "linear", 1.0, self.conv_clamp)
        else:
            x = activate(x, "lrelu", SQRT2, self.conv_clamp)
        return upfirdn2d(x, self.down_filter, down=self.down_factor)


SYNTHESIS_KWARGS = {"channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                    "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res", "conv_kernel", "filter_size",
                    "lrelu_upsampling", "use_radial_filters", "conv_clamp", "magnitude_ema_beta"}


class SynthesisNetwork(nn.Module):
    """w -> image: Fourier input, ``num_layers`` filtered layers, ToRGB, times ``output_scale``."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, magnitude_ema_beta: float = 0.999, **layer_kwargs):
        super().__init__()
        self.num_ws, self.output_scale = num_layers + 2, output_scale
        last_cutoff = img_resolution / 2
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_cutoff * last_stopband_rel / first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names = []
        for i in range(num_layers + 1):
            p = max(i - 1, 0)
            layer = SynthesisLayer(w_dim, i == num_layers, i >= num_layers - num_critical, int(channels[p]),
                                   int(channels[i]), int(sizes[p]), int(sizes[i]), int(rates[p]), int(rates[i]),
                                   cutoffs[p], cutoffs[i], half_widths[p], half_widths[i], **layer_kwargs)
            name = f"L{i}_{int(sizes[i])}_{int(channels[i])}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def nvlabs_attrs(self) -> dict:
        return {"layer_names": self.layer_names, "output_scale": self.output_scale}

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.input(w)
        for name in self.layer_names:
            x = getattr(self, name)(x, w)
        return x * self.output_scale if self.output_scale != 1 else x
