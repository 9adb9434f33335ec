"""Latent walks: pure, on the prior, seamless where closed, and jump-free under changes."""

import numpy as np
import pytest

from ganplug.runtime.walk import WalkParams, Walker, latent_at, slerp
from ganplug.seeds import z_from_seed

Z = 64


def test_hold_is_the_contract_latent():
    z = latent_at(WalkParams(mode="hold", seed=7), 123.4, Z)
    np.testing.assert_array_equal(z.astype(np.float32), z_from_seed(7, Z))


def test_slerp_passes_through_keyframes():
    p = WalkParams(mode="slerp", keyframes=(11, 5, 9), period=2.0)
    for i, seed in enumerate((11, 5, 9, 11)):
        np.testing.assert_allclose(latent_at(p, 2.0 * i, Z), z_from_seed(seed, Z), atol=1e-6)
    q = WalkParams(mode="slerp", seed=40, period=1.0)  # no keyframes: seed, seed+1, ...
    np.testing.assert_allclose(latent_at(q, 3.0, Z), z_from_seed(43, Z), atol=1e-6)


@pytest.mark.parametrize("mode", ["loop", "noise"])
def test_closed_walks_are_seamless(mode):
    p = WalkParams(mode=mode, seed=3, period=5.0)
    np.testing.assert_allclose(latent_at(p, 0.0, Z), latent_at(p, 5.0, Z), atol=1e-9)
    np.testing.assert_allclose(latent_at(p, 1.3, Z), latent_at(p, 6.3, Z), atol=1e-9)


@pytest.mark.parametrize("mode", ["slerp", "loop", "noise", "random"])
def test_walks_stay_on_the_prior_and_move_smoothly(mode):
    p = WalkParams(mode=mode, seed=1, period=4.0)
    ts = np.linspace(0, 40, 4001)
    zs = np.stack([latent_at(p, t, 512) for t in ts])
    norms = np.linalg.norm(zs, axis=1) / np.sqrt(512)
    assert 0.8 < norms.min() and norms.max() < 1.2, (norms.min(), norms.max())
    steps = np.linalg.norm(np.diff(zs, axis=0), axis=1)
    assert steps.max() < 0.1 * np.sqrt(512)  # no jumps between neighbouring instants
    assert steps.mean() > 1e-4  # and it does move


def test_random_walk_does_not_repeat_and_is_deterministic():
    p = WalkParams(mode="random", seed=2, period=1.0)
    a, b = latent_at(p, 10.0, Z), latent_at(p, 11.0, Z)
    assert np.linalg.norm(a - b) > 1.0
    np.testing.assert_array_equal(a, latent_at(WalkParams(mode="random", seed=2, period=1.0), 10.0, Z))


def test_speed_change_never_jumps():
    w = Walker(Z, WalkParams(mode="loop", seed=0), speed=1.0)
    for _ in range(10):
        w.advance(1 / 30)
    before = w.latent()
    w.speed = 8.0
    after = w.latent()
    np.testing.assert_array_equal(before, after)  # same instant, same latent
    w.advance(1 / 30)
    assert np.linalg.norm(w.latent() - after) < 0.5 * np.sqrt(Z)


def test_period_change_keeps_position():
    w = Walker(Z, WalkParams(mode="slerp", seed=0, period=4.0))
    w.advance(3.0)
    before = w.latent()
    w.set_period(12.0)
    np.testing.assert_allclose(w.latent(), before, atol=1e-5)


def test_blend_goes_smoothly_from_old_to_new():
    w = Walker(Z, WalkParams(mode="hold", seed=1), blend=1.0)
    old = w.latent()
    w.set(restart=True, seed=2)
    np.testing.assert_allclose(w.latent(), old, atol=1e-6)  # the blend starts where we were
    prev, biggest = w.latent(), 0.0
    for _ in range(30):
        w.advance(1 / 30)
        z = w.latent()
        biggest = max(biggest, float(np.linalg.norm(z - prev)))
        prev = z
    np.testing.assert_allclose(w.latent(), z_from_seed(2, Z), atol=1e-6)  # and ends at the new seed
    assert biggest < 0.2 * np.linalg.norm(z_from_seed(1, Z) - z_from_seed(2, Z))


def test_blend_zero_cuts():
    w = Walker(Z, WalkParams(mode="hold", seed=1), blend=0.0)
    w.set(restart=True, seed=2)
    np.testing.assert_array_equal(w.latent(), z_from_seed(2, Z))


def test_pause_freezes_walk_time_but_blends_finish():
    w = Walker(Z, WalkParams(mode="loop", seed=0), blend=0.5)
    w.advance(0.5)
    w.paused = True
    t = w.time
    w.set(restart=False, mode="noise")
    for _ in range(20):
        w.advance(0.05)
    assert w.time == t
    np.testing.assert_allclose(w.latent(), latent_at(WalkParams(mode="noise", seed=0), t, Z).astype(np.float32), atol=1e-6)


def test_slerp_endpoints_and_norm():
    a, b = z_from_seed(1, Z).astype(float), z_from_seed(2, Z).astype(float)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-12)
    mid = slerp(a, b, 0.5)
    assert abs(np.linalg.norm(mid) - 0.5 * (np.linalg.norm(a) + np.linalg.norm(b))) < 1e-9
