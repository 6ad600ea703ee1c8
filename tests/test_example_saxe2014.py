"""The Saxe 2014 example reproduces its numbers: gradient descent within O(lr) of the exact
solution, stage-like learning in the order of the singular values, the depth dependence of
learning times (exponential for small per-layer init; rising, then levelling off, for a mode that
must grow a fixed factor), the optimal learning rate ∝ 1/depth, and random orthogonal against
scaled Gaussian initialisation. One quick run of the example serves every test."""

from __future__ import annotations

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def saxe(load_example):
    module = load_example("saxe2014_modes")
    return module, module.compare(quick=True)


# ------------------------------------------------------------------------------- Figure 1
def test_saxe_simulation_matches_theory(saxe):
    _, res = saxe
    task, runs = res["task"], res["runs"]
    s_max = float(task.s[0])
    assert [r["depth"] for r in runs] == sorted(r["depth"] for r in runs) and len(runs) >= 2
    for run in runs:
        # Gradient descent is the flow up to O(lr): the gap scales with lr · s_max.
        assert 0 < run["error"] < 5 * run["lr"] * s_max, (run["depth"], run["error"], run["lr"])
        # Both inits end with every group of modes learned (aligned: all of them).
        np.testing.assert_allclose(run["aligned"][-1], task.s, rtol=1e-3)
        np.testing.assert_allclose(run["exact"][-1], task.s, rtol=1e-3)
        np.testing.assert_allclose(run["random"][-1, 0], s_max, rtol=0.02)


def _half_times(t, modes, groups, s):
    """First record time at which each group's mean strength passes half its target."""
    out = []
    for g in groups:
        mean = modes[:, g].mean(axis=1)
        above = np.nonzero(mean >= 0.5 * s[g[0]])[0]
        out.append(t[above[0]] if above.size else np.inf)
    return np.array(out)


def test_saxe_modes_learned_in_order_of_singular_values(saxe):
    module, res = saxe
    task, runs = res["task"], res["runs"]
    s = np.asarray(task.s)
    groups = module._groups(s)
    assert [len(g) for g in groups] == [1, 1, 2, 4]  # the binary tree of depth 3
    np.testing.assert_allclose(s[[g[0] for g in groups]],
                               np.sqrt([15.0, 7.0, 3.0, 1.0]) / np.sqrt(8.0), rtol=1e-12)
    for run in runs:
        for key in ("exact", "aligned", "random"):
            half = _half_times(run["t"], run[key], groups, s)
            assert np.all(np.isfinite(half)), (run["depth"], key, half)
            assert np.all(np.diff(half) > 0), (run["depth"], key, half)
    # Deeper networks from the same u0 wait longer for their strongest mode.
    first = [_half_times(r["t"], r["exact"], groups, s)[0] for r in runs]
    assert np.all(np.diff(first) > 0), first


# ------------------------------------------------------------------------------- Figure 2
def test_saxe_flow_time_quadrature(saxe):
    module, res = saxe
    depth = res["depth"]
    s = depth["s"]
    w0 = np.array(module.GROWTH)
    # Depth 1 and 2 in closed form: τ = ln((1 − w0)/0.1) and ln(9 (1 − w0)/w0).
    np.testing.assert_allclose(module.normalized_time(w0, 0.9, 1), np.log((1 - w0) / 0.1),
                               rtol=1e-11)
    np.testing.assert_allclose(module.normalized_time(w0, 0.9, 2), np.log(9 * (1 - w0) / w0),
                               rtol=1e-11)
    # Any depth: the closed form of the library (dln.modes.time_to_fraction) ...
    assert module.closed_form_gap(s, w0, (6,)) < 1e-11
    # ... and the D → ∞ limit ∫ dw / (w²(1 − w)), approached from below like 1/D.
    big = module.normalized_time(w0, 0.9, 1e6)
    np.testing.assert_allclose(big, module.limit_time(w0), rtol=1e-4)
    assert np.all(big < module.limit_time(w0))


def _descent_close(descent, iterations, w0):
    """Gradient descent at lr_D against the exact count `iterations` (from `u0 = w0 s`).

    Euler steps of `du/dt = f(u)` follow, to first order in lr, the flow of `f − (lr/2) f f'`,
    so the count differs from the flow time / lr by about `½ |ln(f(u_end)/f(u_0))|` steps;
    with `f = D u^{2−2/D}(s − u)` from `w0` to 0.9 that is at most `ln(1/w0) + ½ ln 9` (plus
    higher orders: lr_D is a quarter of the stability limit, so allow one more step)."""
    gap = np.abs(descent - iterations)
    allowed = np.log(1 / w0) + 0.5 * math.log(9) + 1
    assert np.all(gap < allowed), (gap, allowed)
    many = iterations > 20
    assert np.all(gap[many] / iterations[many] < 0.03), gap[many] / iterations[many]


def test_saxe_small_init_grows_exponentially(saxe):
    _, res = saxe
    sm = res["depth"]["small"]
    iters, D = sm["iterations"], sm["depths"]
    assert np.all(np.diff(iters, axis=1) > 0), iters
    # Per added layer, the count grows by a factor that approaches 1/a0 (escape estimate).
    for i, a0 in enumerate(sm["a0s"]):
        assert iters[i, -1] / iters[i, -2] == pytest.approx(1 / a0, rel=0.25), iters[i]
        assert iters[i, -1] / iters[i, 0] > 10, iters[i]
        deep = D >= 5
        np.testing.assert_allclose(sm["estimate"][i, deep], iters[i, deep], rtol=0.15)
    # Gradient descent takes the exact number of iterations up to a few steps.
    ran = np.isfinite(sm["descent"])
    assert ran.sum() >= iters.size - 2, ran
    w0 = sm["a0s"][:, None] ** D / res["depth"]["s"]
    _descent_close(sm["descent"][ran], iters[ran], w0[ran])


def test_saxe_fixed_growth_count_levels_off(saxe):
    module, res = saxe
    depth = res["depth"]
    dp = depth["deep"]
    iters, D, limit = dp["iterations"], dp["depths"], dp["limit"]
    # lr_D = lr_bound/4 with lr_bound = 2/(D s^{2−2/D}) for this task, so the count is 2τ.
    np.testing.assert_allclose(list(depth["kappa_lr"].values()), 0.5, rtol=1e-9)
    w0 = dp["growth"]
    np.testing.assert_allclose(iters[:, list(D).index(2)], 2 * np.log(9 * (1 - w0) / w0),
                               rtol=1e-12)  # 8.79 iterations for u0 = s/10
    # It rises with depth, ever more slowly, and stays below its finite D → ∞ limit.
    assert np.all(np.diff(iters, axis=1) > 0), iters
    assert np.all(np.diff(iters[:, D >= 5], n=2, axis=1) < 0), iters  # concave: levels off
    assert np.all(iters < limit[:, None]), (iters[:, -1], limit)
    np.testing.assert_allclose(limit, 2 * module.limit_time(w0), rtol=1e-12)
    ten = list(w0).index(0.1)
    assert iters[ten, -1] > 0.9 * limit[ten] and D[-1] >= 20, (iters[ten, -1], limit[ten])
    # Gradient descent at lr_D: within a few steps of the exact count.
    _descent_close(dp["descent"], iters, np.broadcast_to(w0[:, None], iters.shape))
    # The descent map of the mode is gradient descent on the full network (dln.simulate).
    assert depth["check"], "no depth simulated"
    for D_sim, c in depth["check"].items():
        assert c["mode_gap"] < 1e-10 and c["count_gap"] < 1e-8, (D_sim, c)


def test_saxe_optimal_learning_rate_scales_as_inverse_depth(saxe):
    _, res = saxe
    depth = res["depth"]
    dp = depth["deep"]
    D = dp["depths"]
    deep = D >= 2
    bound = np.array([depth["bound"][d] for d in D])
    lr_opt = dp["lr_opt"]
    # The optimal rate sits at the stability limit lr_bound = 2/(D s^{2−2/D}) (within the
    # grid's resolution and a 2-cycle inside the 10% band just above it) ...
    ratio = lr_opt[:, deep] / bound[deep]
    assert np.all((ratio > 0.8) & (ratio < 1.1)), ratio
    # ... so lr_opt × D varies little with depth (s^{2/D} at most, 1.34 here) while lr_opt
    # itself falls by more than 10× from depth 2 to 30.
    scaled = lr_opt[:, deep] * D[deep]
    assert np.all(scaled.max(axis=1) / scaled.min(axis=1) < 1.5), scaled
    assert np.all(lr_opt[:, D == 2][:, 0] / lr_opt[:, -1] > 10)
    # At the optimal rate the count is smaller than at lr_D and levels off too.
    optimal = dp["optimal"]
    assert np.all(optimal[:, deep] < dp["iterations"][:, deep]), optimal
    late = (D >= 20)
    assert np.all(optimal[:, late].max(axis=1) / optimal[:, late].min(axis=1) < 1.35), optimal


# ------------------------------------------------------------------------------- Figure 3
def test_saxe_orthogonal_against_gaussian_init(saxe):
    _, res = saxe
    init = res["init"]
    D = list(init["depths"])
    orth, gauss = init["orthogonal"], init["gaussian"]
    assert D[0] == 2 and D[-1] >= 8 and orth["best"].shape[1] >= 3
    # The initial map: orthogonal at every depth; a Gaussian product spreads its singular
    # values, the smallest falling exponentially with depth while the largest stays O(1).
    np.testing.assert_allclose(orth["singular"], 1.0, atol=1e-10)
    smallest = np.exp(np.log(gauss["singular"][..., -1]).mean(axis=1))
    largest = np.exp(np.log(gauss["singular"][..., 0]).mean(axis=1))
    assert np.all(np.diff(np.log(smallest)) < 0) and smallest[-1] < 1e-6, smallest
    assert np.all((largest > 0.5) & (largest < 10)), largest
    # Learning times at the optimal rate: every seed learns within the budget where shown.
    assert np.all(np.isfinite(orth["best"])), orth["best"]
    o, g = orth["best"].mean(axis=1), gauss["best"].mean(axis=1)
    assert np.isfinite(g[0]) and g[0] == pytest.approx(o[0], rel=0.5), (o, g)  # D = 2: alike
    # Gaussian init slows down with depth far faster than orthogonal init.
    assert o[-1] / o[0] < 5, o
    assert g[-1] / g[0] > 20, g  # (inf where not learned within the budget)
    assert g[-1] > 5 * o[-1], (o, g)
    # Orthogonal weights are balanced: descent ends at the balanced minimum, and the optimal
    # rate is the grid's largest below (or barely above) its stability limit lr_bound ∝ 1/D.
    ratio = orth["lr_opt"] / init["bound"]
    assert np.all((ratio > 1 / 1.3**2) & (ratio < 1.1)), ratio
    scaled = orth["lr_opt"] * np.array(D)
    assert scaled.max() / scaled.min() < 2, scaled
    # The Gaussian optimum falls below it at depth (its unbalanced, spread weights).
    assert gauss["lr_opt"][-1] < orth["lr_opt"][-1] or not math.isfinite(gauss["lr_opt"][-1])
