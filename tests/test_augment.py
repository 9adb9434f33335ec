"""Differentiable augmentation and its adaptive probability."""

import pytest
import torch

from ganplug.train.augment import AdaptiveP, augment


def test_probability_zero_is_the_identity():
    x = torch.randn(4, 3, 16, 16)
    assert augment(x, 0.0) is x


def test_every_transform_is_differentiable():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    y = augment(x, 1.0)
    assert y.shape == x.shape and not torch.equal(y, x)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_shifts_with_zero_fill():
    torch.manual_seed(1)
    x = torch.rand(16, 3, 16, 16) + 1.0  # no zeros in the input
    y = augment(x, 1.0, ("translation",))
    s = 2  # 1/8 of 16 px
    for a, b in zip(x, y):
        found = False
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                shifted = torch.zeros_like(a)
                src = a[:, max(-dy, 0):16 - max(dy, 0), max(-dx, 0):16 - max(dx, 0)]
                shifted[:, max(dy, 0):16 - max(-dy, 0), max(dx, 0):16 - max(-dx, 0)] = src
                found |= torch.equal(shifted, b)
        assert found


def test_cutout_zeroes_at_most_a_half_size_square():
    torch.manual_seed(2)
    x = torch.ones(32, 1, 16, 16)
    y = augment(x, 1.0, ("cutout",))
    zeros = (y == 0).sum((1, 2, 3))
    assert (zeros > 0).all() and (zeros <= 64).all() and (zeros == 64).any()
    for img in y[:, 0]:  # the zeroed region is one rectangle
        rows, cols = (img == 0).any(1).nonzero(), (img == 0).any(0).nonzero()
        assert (img == 0).sum() == len(rows) * len(cols)


def test_probability_controls_how_many_images_change():
    torch.manual_seed(3)
    x = torch.rand(2000, 1, 8, 8) + 1.0
    changed = (augment(x, 0.3, ("cutout",)) != x).flatten(1).any(1).float().mean()
    assert changed == pytest.approx(0.3, abs=0.05)


def test_ada_moves_p_with_overfitting_and_keeps_its_state():
    ada = AdaptiveP(p=0.0, target=0.6, kimg=1.0, interval=4)
    sure = torch.ones(8)  # D says "real" to every real image: overfitting
    for step in range(1, 5):
        ada.observe(sure)
        ada.adjust(step, batch=8)
    assert ada.p == pytest.approx(8 * 4 / 1000)  # one adjustment of batch * interval / (kimg * 1000)
    ada.observe(sure)  # mid-interval state survives a round trip
    copy = AdaptiveP(target=0.6, kimg=1.0, interval=4)
    copy.load_state_dict(ada.state_dict())
    for a in (ada, copy):
        for step in range(6, 9):
            a.observe(-sure)
            a.adjust(step, batch=8)
    assert copy.p == ada.p == pytest.approx(0.0)  # 1 positive and 3 negative: r = -0.5 < 0.6, p back down
    fixed = AdaptiveP(p=0.5, adaptive=False)
    fixed.observe(sure)
    assert fixed.adjust(4, 8) is None and fixed.p == 0.5


def test_ada_p_stops_at_its_cap():
    """A discriminator always sure of the reals pushes p up; the cap keeps a share of images untouched."""
    ada = AdaptiveP(0.0, target=0.6, kimg=0.1, max_p=0.3)
    for step in range(1, 401):
        ada.observe(torch.ones(8))
        ada.adjust(step, 8)
    assert ada.p == 0.3
