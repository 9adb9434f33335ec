"""Building blocks shared by the StyleGAN2 and StyleGAN3 rebuilds, in plain PyTorch operators
that export to plain ONNX (no custom CUDA ops, no per-sample weights, no random operators).

Conventions follow NVlabs' code, so pickled tensors load unchanged: weights are stored
unscaled and multiplied by a gain at run time (equalised learning rate); FIR filters are
applied as in ``upfirdn2d``: insert zeros, pad (negative = crop), convolve, keep every n-th.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
ACT_GAINS = {"linear": 1.0, "relu": SQRT2, "lrelu": SQRT2}  # NVlabs' default gain per activation


def activate(x: torch.Tensor, act: str, gain: float = 1.0, clamp: float | None = None, slope: float = 0.2) -> torch.Tensor:
    """``bias_act`` after the bias: activation, gain, then clamp to ±clamp."""
    if act == "lrelu":
        x = F.leaky_relu(x, slope)
    elif act == "relu":
        x = F.relu(x)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnected(nn.Module):
    """NVlabs' ``FullyConnectedLayer``: y = act(x (W g)^T + b lr_mul), g = lr_mul / sqrt(in)."""

    def __init__(self, cin: int, cout: int, activation: str = "linear", lr_mul: float = 1.0,
                 bias_init: float | list = 0.0, weight_init: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) * (weight_init / lr_mul))
        self.bias = nn.Parameter(torch.as_tensor(bias_init, dtype=torch.float32).expand(cout).clone() / lr_mul)
        self.activation, self.weight_gain, self.bias_gain = activation, lr_mul / math.sqrt(cin), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return activate(x, self.activation, ACT_GAINS[self.activation])


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit root mean square (how the mapping network sees z and embedded c)."""
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1; negative crops), convolve each channel
    with FIR filter ``f`` ([k] separable or [k, k]), keep every ``down``-th pixel."""
    c, h, w = (int(s) for s in x.shape[1:])  # static sizes: only the batch axis is dynamic
    if f is not None and up > 1 and down == 1:
        return _upsample(x, f * gain ** (f.ndim / 2), up, pad)
    if up > 1:
        x = x.reshape(-1, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(-1, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    if min(pad) < 0:  # negative padding crops; stops counted from the end keep the graph free of shapes
        x = x[:, :, max(-y0, 0):(y1 if y1 < 0 else None), max(-x0, 0):(x1 if x1 < 0 else None)]
    if f is not None:
        f = (f * gain ** (f.ndim / 2)).flip(list(range(f.ndim)))  # upfirdn2d convolves (flipped kernel)
        # a strided convolution computes only the pixels that decimation keeps
        if f.ndim == 2:
            return F.conv2d(x, f[None, None].expand(c, 1, -1, -1), groups=c, stride=down)
        x = F.conv2d(x, f[None, None, :, None].expand(c, 1, -1, 1), groups=c, stride=(down, 1))
        return F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, -1), groups=c, stride=(1, down))
    if gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down] if down > 1 else x


def _upsample(x: torch.Tensor, f: torch.Tensor, up: int, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """The up-sampling case of :func:`upfirdn2d` as a depthwise transposed convolution, which
    skips the products with inserted zeros: output pixel i of upfirdn2d is pixel
    i + k - 1 - pad_before of the transposed convolution with the unflipped filter."""
    c, h, w = (int(s) for s in x.shape[1:])
    k = f.shape[-1]
    if f.ndim == 2:
        x = F.conv_transpose2d(x, f[None, None].expand(c, 1, -1, -1), stride=up, groups=c)
    else:
        x = F.conv_transpose2d(x, f[None, None, :, None].expand(c, 1, -1, 1), stride=(up, 1), groups=c)
        x = F.conv_transpose2d(x, f[None, None, None, :].expand(c, 1, 1, -1), stride=(1, up), groups=c)
    x0, x1, y0, y1 = pad
    size = (h - 1) * up + k, (w - 1) * up + k  # transposed convolution output
    ys, ye, xs, xe = k - 1 - y0, h * up + y1, k - 1 - x0, w * up + x1  # the window upfirdn2d returns
    x = F.pad(x, [max(-xs, 0), max(xe - size[1], 0), max(-ys, 0), max(ye - size[0], 0)])
    ys, xs = max(ys, 0), max(xs, 0)
    return x[:, :, ys:ys + (ye - k + 1 + y0), xs:xs + (xe - k + 1 + x0)]


def setup_filter(taps: list[float] | tuple[float, ...]) -> torch.Tensor:
    """A short 1-D kernel as NVlabs prepares it for resampling: outer product, sum 1."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    return f / f.sum()


def to_uint8_nhwc(x: torch.Tensor) -> torch.Tensor:
    """NVlabs' image conversion, ``(x * 127.5 + 128).clamp(0, 255)`` truncated to uint8, as NHWC."""
    return torch.floor((x * 127.5 + 128.0).clamp(0.0, 255.0)).to(torch.uint8).permute(0, 2, 3, 1)
