"""dln.task_pairs: the generators set each relation exactly and the measures read it back."""

import jax
import numpy as np
import pytest

import dln
from dln import task_pairs as tp


@pytest.mark.parametrize("angle", [0.0, 1e-6, 0.3, np.pi / 2])
def test_rotated_pair_has_the_principal_angle(angle):
    A, B = tp.rotated_pair(jax.random.key(0), 8, [3.0, 2.0, 1.0], [2.0, 1.0, 0.5], angle=angle)
    for side in ("output", "input"):
        np.testing.assert_allclose(tp.principal_angles(A, B, side=side), angle, atol=1e-12)
    np.testing.assert_allclose(A.s[:3], [3.0, 2.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(B.s[:3], [2.0, 1.0, 0.5], rtol=1e-12)
    # alignment of rotated rank-r maps: cos²θ Σ s_a s_b / (|s_a||s_b|) with same-index pairing
    expected = np.cos(angle) ** 2 * (6 + 2 + 0.5) / np.sqrt(14 * 5.25)
    assert tp.alignment(A, B) == pytest.approx(expected, abs=1e-12)


def test_one_sided_rotation_ranks_and_overlap():
    A, B = tp.rotated_pair(jax.random.key(1), 6, [3.0, 2.0, 1.0], [2.0], angle=0.5,
                           side="output")
    rel = tp.relation(A, B)
    assert rel["rank_a"] == 3 and rel["rank_b"] == 1
    np.testing.assert_allclose(rel["angles_output"], [0.5], atol=1e-12)
    np.testing.assert_allclose(rel["angles_input"], [0.0], atol=1e-7)
    assert rel["singular_value_overlap"] == pytest.approx(3 / np.sqrt(14), rel=1e-12)


def test_reversal():
    A, _ = tp.rotated_pair(jax.random.key(2), 5, [3.0, 1.0], [1.0])
    R = tp.reversal(A)
    np.testing.assert_array_equal(R.sigma_yx, -A.sigma_yx)
    assert tp.alignment(A, R) == pytest.approx(-1.0, abs=1e-14)
    np.testing.assert_allclose(tp.principal_angles(A, R), 0.0, atol=1e-12)
    assert tp.singular_value_overlap(A, R) == pytest.approx(1.0, abs=1e-14)


def test_bad_input():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="2r <= n"):
        tp.rotated_pair(key, 5, [1.0, 1.0, 1.0], [1.0], angle=0.1)
    with pytest.raises(ValueError, match="`angle`"):
        tp.rotated_pair(key, 8, [1.0], [1.0], angle=2.0)
    with pytest.raises(ValueError, match="`s_b`"):
        tp.rotated_pair(key, 8, [1.0], [-1.0])
    with pytest.raises(TypeError, match="`task`"):
        tp.reversal(np.eye(3))
    with pytest.raises(ValueError, match="`side`"):
        tp.principal_angles(dln.Task(np.eye(2), np.eye(2)), dln.Task(np.eye(2), np.eye(2)),
                            side="left")
