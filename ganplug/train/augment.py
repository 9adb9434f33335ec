"""Differentiable augmentation for small data sets.

The discriminator sees every image, real or generated, through the same random transforms
(DiffAugment, Zhao et al. 2020): colour (brightness, saturation, contrast), translation by up
to 1/8 of the image's width and height with zero fill, and cutout of a rectangle half the image's
width by half its height (a square for square images). Each axis uses its own size. Each
transform is applied to each image with probability ``p``. The transforms are differentiable,
so the generator learns through them; since fakes are transformed exactly like reals, the
generator is not pushed to produce augmented-looking images as long as ``p`` stays well below 1.

``p`` adapts to how much the discriminator overfits (ADA, Karras et al. 2020): every
``interval`` steps, r = mean(sign(D(real))) over those steps; p moves up when r is above
``target`` (the discriminator is too sure about the training images) and down otherwise, by
an amount that lets it go from 0 to 1 in ``kimg`` thousand images.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

POLICIES = ("color", "translation", "cutout")


def _chance(x: torch.Tensor, p: float) -> torch.Tensor:
    """Per-image Bernoulli(p) mask, shaped to broadcast over [N, C, H, W]."""
    return (torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p).to(x.dtype)


def _translate(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y, filling with zeros."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1), device=x.device)
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy))
    rows = torch.arange(h, device=x.device)[None] + sy - ty  # [N, H] rows of the padded image
    cols = torch.arange(w, device=x.device)[None] + sx - tx  # [N, W]
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # indexing puts C last


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a rectangle of ``ratio`` times the image's height and width at a random centre (clipped at the edges)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (n, 1, 1), device=x.device)
    cx = torch.randint(0, w, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None] - (cy - size_y // 2)
    xs = torch.arange(w, device=x.device)[None, None, :] - (cx - size_x // 2)
    inside = (ys >= 0) & (ys < size_y) & (xs >= 0) & (xs < size_x)
    return x * (~inside)[:, None].to(x.dtype)


def augment(x: torch.Tensor, p: float, policy: Sequence[str] = POLICIES) -> torch.Tensor:
    """Each transform of ``policy`` applied to each image of ``x`` (in [-1, 1]) with probability ``p``.

    Draws from torch's global RNG on ``x``'s device, which checkpoints save and restore.
    """
    if p <= 0:
        return x
    if "color" in policy:
        n = x.shape[0]
        bright = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5
        x = x + bright * _chance(x, p)
        sat = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2.0
        mean = x.mean(1, keepdim=True)
        x = x + (mean + (x - mean) * sat - x) * _chance(x, p)
        con = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
        mean = x.mean((1, 2, 3), keepdim=True)
        x = x + (mean + (x - mean) * con - x) * _chance(x, p)
    if "translation" in policy:
        m = _chance(x, p)
        x = x + (_translate(x) - x) * m
    if "cutout" in policy:
        m = _chance(x, p)
        x = x + (_cutout(x) - x) * m
    return x


class AdaptiveP:
    """ADA's controller of the augmentation probability. ``observe`` every step with the
    discriminator's logits on reals; ``adjust`` every ``interval`` steps. All of its state is
    in ``state_dict`` so a resumed run continues the same trajectory."""

    def __init__(self, p: float = 0.0, target: float = 0.6, kimg: float = 100.0, interval: int = 4, adaptive: bool = True,
                 max_p: float = 1.0):
        self.p, self.target, self.kimg, self.interval, self.adaptive = float(p), target, kimg, interval, adaptive
        self.max_p = max_p  # a cap, so that the discriminator never sees only transformed images
        self.signs = torch.zeros(2, dtype=torch.float64)  # [sum of sign(D(real)), count] since the last adjustment

    def observe(self, real_logits: torch.Tensor) -> None:
        if self.adaptive:  # summed where the logits are: no device sync every step
            self.signs = self.signs.to(real_logits.device)
            self.signs[0] += real_logits.detach().sign().sum().to(torch.float64)
            self.signs[1] += real_logits.numel()

    def adjust(self, step: int, batch: int, reduce: Any = None) -> float | None:
        """After step ``step`` (1-based): every ``interval`` steps, move p; returns r_t when it did.
        ``reduce`` sums a tensor over processes (distributed training)."""
        if not self.adaptive or step % self.interval:
            return None
        signs = self.signs.clone()
        self.signs.zero_()
        signs = (reduce(signs) if reduce is not None else signs).cpu()
        if signs[1] == 0:
            return None
        r_t = float(signs[0] / signs[1])
        delta = batch * self.interval / (self.kimg * 1000.0)
        self.p = min(max(self.p + (delta if r_t > self.target else -delta), 0.0), self.max_p)
        return r_t

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "signs": self.signs.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = float(state["p"])
        self.signs = state["signs"].clone().to(torch.float64)
