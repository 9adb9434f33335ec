"""Contract 1: a seed names the same latent everywhere."""

import numpy as np
import pytest

from ganplug.seeds import SEED_MAX, z_batch, z_from_seed


def test_seed_formula_is_the_contract():
    z = z_from_seed(7, 16)
    assert z.dtype == np.float32 and z.shape == (16,)
    np.testing.assert_array_equal(z, np.random.default_rng(7).standard_normal(16).astype(np.float32))


def test_seed_values_are_fixed_across_machines():
    # PCG64 + standard_normal are specified bit-exactly; these numbers must never change.
    expected = np.array([0.12573022, -0.13210486, 0.64042264, 0.10490011], np.float32)
    np.testing.assert_allclose(z_from_seed(0, 4), expected, rtol=0, atol=1e-7)


def test_prefix_property_and_batch():
    # z of a smaller model is the prefix of a bigger one: the stream does not depend on z_dim.
    np.testing.assert_array_equal(z_from_seed(5, 8), z_from_seed(5, 32)[:8])
    b = z_batch([1, 2, 3], 8)
    assert b.shape == (3, 8)
    np.testing.assert_array_equal(b[1], z_from_seed(2, 8))


@pytest.mark.parametrize("bad", [-1, SEED_MAX + 1])
def test_seed_range(bad):
    with pytest.raises(ValueError):
        z_from_seed(bad, 4)
