"""Hierarchical datasets: exact spectra, normalisations, OCS by level, generators, errors."""

import jax
import numpy as np
import pytest
from dln.datasets import (
    hierarchy,
    hierarchy_levels,
    noisy_hierarchy,
    offset_hierarchy,
    saxe2019_toy,
    saxe2019_toy_names,
)

from dln import datasets


def _binary_spectrum(L):
    """sqrt(2^{L−l+1} − 1) with multiplicity 1 (l = 0) and 2^{l−1} (l ≥ 1), descending."""
    return np.concatenate([np.full(1 if l == 0 else 2 ** (l - 1), np.sqrt(2.0 ** (L - l + 1) - 1))
                           for l in range(L + 1)])


def _general_spectrum(L, b):
    lam = [(b ** (L - l + 1) - 1) / (b - 1) for l in range(L + 1)]
    mult = [1] + [b ** (l - 1) * (b - 1) for l in range(1, L + 1)]
    return np.sqrt(np.repeat(lam, mult))


@pytest.mark.parametrize("L", [2, 3, 4])
def test_binary_tree_singular_values(L):
    P = 2**L
    onehot, white = hierarchy(L), hierarchy(L, whiten=True)
    expected = _binary_spectrum(L)
    np.testing.assert_allclose(np.linalg.svd(np.asarray(onehot.Y), compute_uv=False), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(onehot.s, expected / P, rtol=1e-12)
    np.testing.assert_allclose(white.s, expected / np.sqrt(P), rtol=1e-12)
    np.testing.assert_allclose(onehot.mode_targets, expected, rtol=1e-12)
    np.testing.assert_allclose(white.mode_targets, expected / np.sqrt(P), rtol=1e-12)
    assert onehot.Y.shape == (P, 2 ** (L + 1) - 1) and onehot.X.shape == (P, P)


@pytest.mark.parametrize("L,b", [(1, 3), (2, 3), (2, 4), (3, 3)])
def test_general_branching_singular_values(L, b):
    task = hierarchy(L, b)
    P = b**L
    np.testing.assert_allclose(task.s, _general_spectrum(L, b) / P, rtol=1e-12)
    assert task.Y.shape == (P, (b ** (L + 1) - 1) // (b - 1))
    assert task.input_aligned


@pytest.mark.parametrize("L,b", [(3, 2), (2, 3)])
def test_uniform_vector_is_top_right_singular_vector(L, b):
    task = hierarchy(L, b)
    P = b**L
    v0 = np.asarray(task.V[:, 0])
    np.testing.assert_allclose(v0, np.full(P, 1 / np.sqrt(P)), atol=1e-12)
    syx = np.asarray(task.sigma_yx)
    np.testing.assert_allclose(syx.T @ syx @ v0, task.s[0] ** 2 * v0, atol=1e-12)


def test_saxe_toy():
    task = saxe2019_toy()
    items, features = saxe2019_toy_names()
    assert items == ("Canary", "Salmon", "Oak", "Rose")
    assert features == ("Grow", "Move", "Roots", "Fly", "Swim", "Leaves", "Petals")
    assert task.Y.shape == (4, 7)
    np.testing.assert_array_equal(task.Y, hierarchy(2).Y)
    np.testing.assert_allclose(task.s * 4, [np.sqrt(7), np.sqrt(3), 1, 1], rtol=1e-12)
    np.testing.assert_allclose(saxe2019_toy(whiten=True).s * 2, [np.sqrt(7), np.sqrt(3), 1, 1],
                               rtol=1e-12)
    V = np.asarray(task.V)
    r = 1 / np.sqrt(2)
    haar = np.array([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, -0.5, -0.5]])
    for k in range(2):  # non-degenerate modes: equal up to sign
        assert abs(abs(V[:, k] @ haar[k]) - 1) < 1e-12
    # degenerate pair: spans the within-pair differences
    pair = np.array([[r, -r, 0, 0], [0, 0, r, -r]]).T
    np.testing.assert_allclose(pair @ pair.T @ V[:, 2:], V[:, 2:], atol=1e-12)
    # the paper's Y (features × items) has the same spectrum
    np.testing.assert_allclose(np.linalg.svd(np.asarray(task.Y).T, compute_uv=False),
                               [np.sqrt(7), np.sqrt(3), 1, 1], rtol=1e-12)


@pytest.mark.parametrize("L", [2, 3])
def test_input_normalisation(L):
    P = 2**L
    white, onehot = hierarchy(L, whiten=True), hierarchy(L)
    np.testing.assert_allclose(white.sigma_xx, np.eye(P), atol=1e-12)
    np.testing.assert_allclose(white.input_variance, np.ones(P), rtol=1e-12)
    assert white.input_aligned is True
    np.testing.assert_allclose(onehot.sigma_xx, np.eye(P) / P, atol=1e-12)
    np.testing.assert_allclose(onehot.input_variance, np.full(P, 1 / P), rtol=1e-12)
    assert onehot.input_aligned is True


def test_ocs_by_level():
    task = hierarchy(3)
    lev = hierarchy_levels(3)
    assert lev.tolist() == [0] + [1] * 2 + [2] * 4 + [3] * 8
    ybar = np.asarray(task.y_mean)
    np.testing.assert_allclose(ybar, np.asarray(task.Y).mean(0))
    for l, expected in enumerate([1.0, 0.5, 0.25, 0.125]):
        np.testing.assert_allclose(ybar[lev == l], expected)
    lev3 = hierarchy_levels(2, 3)
    np.testing.assert_allclose(np.asarray(hierarchy(2, 3).y_mean), 3.0 ** -lev3)


def test_noisy_hierarchy_without_flips_is_the_tree():
    L, b, f = 3, 2, 3
    task = noisy_hierarchy(jax.random.key(0), L, b, flip=0.0, features_per_node=f)
    np.testing.assert_array_equal(task.Y, np.repeat(np.asarray(hierarchy(L, b).Y), f, axis=1))
    np.testing.assert_allclose(task.sigma_xx, np.eye(2**L) / 2**L)


def test_noisy_hierarchy_reproducible_and_structured(getkey):
    key = getkey()
    L, b, f = 3, 2, 4
    a = noisy_hierarchy(key, L, b, flip=0.2, features_per_node=f)
    np.testing.assert_array_equal(a.Y, noisy_hierarchy(key, L, b, flip=0.2, features_per_node=f).Y)
    other = noisy_hierarchy(getkey(), L, b, flip=0.2, features_per_node=f)
    assert not np.array_equal(a.Y, other.Y)
    Y = np.asarray(a.Y)
    tree = np.repeat(np.asarray(hierarchy(L, b).Y), f, axis=1)
    assert set(np.unique(Y)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(Y != 0, tree != 0)  # support = the birth node's subtree
    # leaf-born features never flip; siblings share the flips above them
    lev = np.repeat(hierarchy_levels(L, b), f)
    np.testing.assert_array_equal(Y[:, lev == L], tree[:, lev == L])
    assert (Y == -1).any()
    half = noisy_hierarchy(key, L, b, flip=0.5, features_per_node=f)
    assert half.Y.shape == (8, 15 * f)


def test_noisy_hierarchy_flip_rate(getkey):
    # features born at the root of a 1-level tree: each item flips independently with prob flip
    # (16 items x 100 root features = 1600 draws: standard error 0.011)
    task = noisy_hierarchy(getkey(), 1, 16, flip=0.25, features_per_node=100)
    lev = np.repeat(hierarchy_levels(1, 16), 100)
    root = np.asarray(task.Y)[:, lev == 0]
    assert abs((root == -1).mean() - 0.25) < 0.05


@pytest.mark.parametrize("c", [0.5, 1.0])
def test_offset_hierarchy(c):
    L = 3
    P = 2**L
    task = offset_hierarchy(L, offset=c)
    np.testing.assert_allclose(task.X, np.eye(P) + c)
    evals, evecs = np.linalg.eigh(np.asarray(task.sigma_xx))
    np.testing.assert_allclose(evals[-1], (1 + 2 * c * P + c**2 * P**2) / P, rtol=1e-12)
    np.testing.assert_allclose(evals[:-1], 1 / P, rtol=1e-12)
    np.testing.assert_allclose(np.abs(evecs[:, -1]), 1 / np.sqrt(P), atol=1e-12)
    assert task.input_aligned is True
    expected = _binary_spectrum(L) / P
    expected[0] *= 1 + c * P
    np.testing.assert_allclose(task.s, expected, rtol=1e-12)
    np.testing.assert_allclose(np.abs(task.V[:, 0]), 1 / np.sqrt(P), atol=1e-12)
    np.testing.assert_array_equal(task.Y, hierarchy(L).Y)


@pytest.mark.parametrize("call,match", [
    (lambda: hierarchy(0), "`levels`"),
    (lambda: hierarchy(2, 1), "`branching`"),
    (lambda: hierarchy(2.0), "`levels`"),
    (lambda: hierarchy(True), "`levels`"),
    (lambda: hierarchy(2, whiten=1), "`whiten`"),
    (lambda: hierarchy_levels(0), "`levels`"),
    (lambda: hierarchy(40), "too large"),
    (lambda: noisy_hierarchy(jax.random.key(0), 2, flip=0.6), "`flip`"),
    (lambda: noisy_hierarchy(jax.random.key(0), 2, flip=-0.1), "`flip`"),
    (lambda: noisy_hierarchy(jax.random.key(0), 2, features_per_node=0), "`features_per_node`"),
    (lambda: noisy_hierarchy(0, 2), "`key`"),
    (lambda: offset_hierarchy(2, offset=float("nan")), "`offset`"),
    (lambda: offset_hierarchy(0), "`levels`"),
])
def test_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_legacy_key_accepted():
    a = noisy_hierarchy(jax.random.PRNGKey(3), 2, flip=0.3)
    b = noisy_hierarchy(jax.random.PRNGKey(3), 2, flip=0.3)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert datasets.__all__
