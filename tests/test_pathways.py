"""Competing pathways (Kleinman, Achille & Soatto 2024): the exact piecewise solution against an
independent DOP853 integration, its conserved quantities and final split against the derivation,
gradient descent against it (O(lr)), and the critical-period claims from both."""

import functools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from dln.pathways import measures
from scipy.integrate import solve_ivp

import derivations
import dln
from dln import pathways

S = np.array([3.0, 2.0, 1.0])


@functools.cache
def _task():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    V, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return dln.Task(np.eye(3), U[:, :3] @ np.diag(S) @ V.T)


U0 = (np.array([1e-2, 2e-2, 3e-2]), 1.1e-2)


def _reference(depth, u0, t, window=None):
    """The pathway ODE integrated by scipy's DOP853 at rtol 1e-13, piece by piece."""
    K0 = np.array([np.broadcast_to(u, (3,)) for u in u0], float)
    onset, length = window if window else (np.inf, 0.0)
    P = K0.shape[0]

    def f(_, y, frozen):
        K = y.reshape(P, 3)
        dK = depth * K ** (2 - 2 / depth) * (S - K.sum(0))
        if frozen:
            dK[1] = 0.0
        return dK.ravel()

    out, y = np.zeros((len(t), P, 3)), K0.ravel()
    for a, b, frozen in ((0.0, onset, False), (onset, onset + length, True),
                         (onset + length, np.inf, False)):
        end = min(b, t[-1])
        if a >= t[-1] or end <= a:
            continue
        sol = solve_ivp(f, (a, end), y, method="DOP853", rtol=1e-13, atol=1e-16,
                        dense_output=True, args=(frozen,))
        sel = (t >= a) & (t < b)
        if sel.any():
            out[sel] = sol.sol(t[sel]).T.reshape(-1, P, 3)
        y = sol.y[:, -1]
    return out


@pytest.mark.parametrize("depth,window", [(1, (0.5, 1.0)), (2, (0.5, 1.0)), (3, None),
                                          (4, (0.5, 1.0))])
def test_exact_against_dop853(depth, window):
    t = np.linspace(0.0, 12.0, 25)
    traj = pathways.solve(_task(), depth=depth, u0=U0, t=t, deficit=window)
    ref = _reference(depth, U0, t, window)
    rel = np.max(np.abs(np.asarray(traj.modes) - ref) / np.abs(ref))
    assert rel < 1e-10, rel
    assert traj.modes.shape == (25, 2, 3) and traj.map.shape == (25, 2, 4, 3)
    assert traj.method == ({1: "exact-exponential", 2: "exact-logistic"}.get(depth)
                           or pathways.exact.REDUCED)
    # long after learning the trajectory sits at its final split
    late = pathways.solve(_task(), depth=depth, u0=U0, t=np.array([0.0, 100.0]),
                          deficit=window)
    np.testing.assert_allclose(late.modes[-1], traj.final, rtol=1e-10)


def test_times_in_any_order_and_limits():
    t = np.array([5.0, 0.0, 2.0, 1.0])
    traj = pathways.solve(_task(), depth=4, u0=U0, t=t, deficit=(0.5, 1.0))
    again = pathways.solve(_task(), depth=4, u0=U0, t=np.sort(t), deficit=(0.5, 1.0))
    np.testing.assert_allclose(traj.modes[np.argsort(t)], again.modes, rtol=1e-13)
    np.testing.assert_allclose(traj.modes[1], np.stack([U0[0], np.full(3, U0[1])]))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_conserved_competition_quantity(depth):
    """φ(K_a) − φ(K_b) is constant while both learn, and frozen in its own way in a window."""
    t = np.linspace(0.0, 0.45, 10)  # before the window
    traj = pathways.solve(_task(), depth=depth, u0=U0, t=t, deficit=(0.5, 1.0))
    K = np.asarray(traj.modes)
    if depth == 1:
        phi = K
    elif depth == 2:
        phi = np.log(K) / 2
    else:
        phi = K ** (2 / depth - 1) / (2 - depth)
    gap = phi[:, 0] - phi[:, 1]
    np.testing.assert_allclose(gap, np.broadcast_to(gap[0], gap.shape), rtol=1e-10, atol=1e-12)
    # and the derived K(θ) puts every pathway on the same clock θ (depth >= 3)
    if depth >= 3:
        fn = derivations.derive("pathways").results["K_of_theta"].function("mpmath")
        theta = phi[-1, 0] - phi[0, 0]
        with mpmath.workdps(30):
            pred = [float(fn(mpmath.mpf(float(th)), mpmath.mpf(float(k0)), mpmath.mpf(depth)))
                    for th, k0 in zip(theta, K[0, 1])]
        np.testing.assert_allclose(K[-1, 1], pred, rtol=1e-10)


@pytest.mark.parametrize("depth", [1, 2])
def test_final_split_matches_the_derived_closed_form(depth):
    u0 = (np.array([0.1, 0.02, 0.3]), np.array([0.05, 0.2, 0.01]))
    final = np.asarray(pathways.final_split(_task(), depth=depth, u0=u0))
    K0 = np.stack(u0)
    T0 = K0.sum(0)
    res = derivations.derive("pathways").results[f"final_split_depth{depth}"].function("numpy")
    args = (K0, T0, 2, S, 1.0) if depth == 1 else (K0, T0, S, 1.0)
    np.testing.assert_allclose(final, res(*args), rtol=1e-13)


def test_final_split_is_the_root_for_deep_pathways():
    u0 = (np.array([0.1, 0.02, 0.3]), np.array([0.05, 0.2, 0.01]))
    for depth in (3, 5):
        final = np.asarray(pathways.final_split(_task(), depth=depth, u0=u0))
        np.testing.assert_allclose(final.sum(0), S, rtol=1e-13)
        K0 = np.stack(u0)
        phi = lambda k: k ** (2 / depth - 1)  # noqa: E731
        np.testing.assert_allclose(phi(final[0]) - phi(final[1]), phi(K0[0]) - phi(K0[1]),
                                   rtol=1e-11)


def test_logistic_with_negative_target_matches_the_derivation():
    fn = derivations.derive("pathways").results["logistic_any_sign"].function("numpy")
    t = np.linspace(0, 3, 7)
    for s_eff in (-1.5, 0.7):
        got = np.asarray(pathways.exact._logistic_total(t, s_eff, 2.0, 0.4))
        np.testing.assert_allclose(got, fn(t, s_eff, 2.0, 0.4), rtol=1e-13)


def test_frozen_pathway_past_the_target_is_handled():
    """A frozen pathway above s/λ makes the effective target negative: the plastic one decays."""
    task = dln.Task(np.eye(1), np.array([[1.0]]))
    t = np.linspace(0, 4, 9)
    for depth in (2, 3):
        traj = pathways.solve(task, depth=depth, u0=(0.2, 1.5), t=t, deficit=(0.0, 10.0))
        ref = solve_ivp(lambda _, k: depth * np.abs(k) ** (2 - 2 / depth) * (1.0 - k - 1.5),
                        (0, 4), [0.2], method="DOP853", rtol=1e-13, atol=1e-16, t_eval=t).y[0]
        np.testing.assert_allclose(traj.modes[:, 0, 0], ref, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(traj.modes[:, 1, 0], 1.5)


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="`u0`"):
        pathways.solve(_task(), depth=2, u0=0.1, t=1.0)
    with pytest.raises(ValueError, match="u0"):
        pathways.solve(_task(), depth=2, u0=(0.1, -0.1), t=1.0)
    with pytest.raises(ValueError, match="Noise"):
        pathways.solve(_task(), depth=2, u0=(0.1, 0.1), t=1.0, deficit=pathways.Noise(0, 1.0))
    with pytest.raises(ValueError, match="pathway 2"):
        pathways.solve(_task(), depth=2, u0=(0.1, 0.1), t=1.0, deficit=pathways.Freeze(2))
    with pytest.raises(ValueError, match="onset"):
        pathways.Freeze(1, -1.0, 1.0)


# -------------------------------------------------------------------- simulation against theory
def _power_of_two_lrs(task, depth):
    # lr = 2^-n: the window edges are multiples of every lr, so the O(lr) term is clean
    lr0 = 2.0 ** np.floor(np.log2(0.04 * dln.lr_bound(task, depth)))
    return lr0 * np.array([1.0, 0.5, 0.25])


@pytest.mark.parametrize("depth", [2, 4])
def test_gradient_descent_converges_to_the_exact_solution_linearly(depth):
    task = _task()
    errors, lrs = [], _power_of_two_lrs(task, depth)
    for lr in lrs:
        steps = int(round(8.0 / lr))
        every = steps // 40
        sim = pathways.simulate(task, pathways.aligned(task, depth, U0), lr=lr,
                                steps=every * 40, every=every, deficit=(1.0, 1.5))
        theory = pathways.solve(task, depth=depth, u0=U0, t=sim.t, deficit=(1.0, 1.5))
        errors.append(float(jnp.max(jnp.abs(sim.modes - theory.modes))))
    slope = np.polyfit(np.log(lrs), np.log(errors), 1)[0]
    assert 0.9 <= slope <= 1.1, (errors, slope)
    assert errors[-1] < 0.01 * S[0]


def test_window_affects_exactly_the_updates_inside_it():
    """The update from step k to k+1 is frozen iff onset <= k·lr < onset + length."""
    task = _task()
    lr = 0.01
    w = pathways.aligned(task, 2, U0)
    sim = pathways.simulate(task, w, lr=lr, steps=10, every=1, deficit=(0.03, 0.04))
    moved = np.abs(np.diff(np.asarray(sim.modes[:, 1, 0]))) > 0
    np.testing.assert_array_equal(moved, [True, True, True, False, False, False, False,
                                          True, True, True])


# ------------------------------------------------------------------------- the claims
def test_early_deficit_is_permanent_late_deficit_is_harmless():
    """Kleinman 2024 Fig. 2 setting, exact: depth 4, deficit of length 1.5 on pathway b."""
    task = _task()
    u0 = (0.01, 0.01)
    split = lambda onset: np.asarray(measures.shares(  # noqa: E731
        pathways.final_split(task, depth=4, u0=u0, deficit=(onset, 1.5))[None]))[0, 1]
    none = split(1e9)
    np.testing.assert_allclose(none, 0.5, rtol=1e-12)  # equal pathways share equally
    early, late = split(0.0), split(20.0)
    assert np.all(early < 0.1), early  # b never recovers (its share stays tiny): permanent
    np.testing.assert_allclose(late, 0.5, atol=1e-9)  # after learning: no effect


def test_damage_grows_with_depth_and_length_and_falls_with_onset():
    task = _task()
    u0 = (0.01, 0.01)

    def share_b(depth, onset, length, mode=2):
        f = pathways.final_split(task, depth=depth, u0=u0, deficit=(onset, length))
        return float(np.asarray(measures.shares(f[None]))[0, 1, mode])

    # depth: from the same early window, deeper pathways leave b less of the strongest mode
    by_depth = [share_b(d, 0.0, 0.3, mode=0) for d in (1, 2, 3, 4)]
    assert np.all(np.diff(by_depth) < 0), by_depth
    assert by_depth[0] > 0.3 and by_depth[-1] < 0.1, by_depth
    # length: longer windows do more damage
    by_length = [share_b(3, 0.0, ell) for ell in (0.1, 0.3, 1.0, 3.0)]
    assert np.all(np.diff(by_length) < 0), by_length
    # onset: later windows do less, and none once the mode is learned
    by_onset = [share_b(3, on, 0.5) for on in (0.0, 2.0, 4.0, 30.0)]
    assert np.all(np.diff(by_onset) >= 0) and by_onset[-1] == pytest.approx(0.5, abs=1e-9)


def test_depth_table_of_the_phase_portraits_from_simulation():
    """Simulation reproduces the exact split after an early deficit (Kleinman 2024 Fig. 1, a
    small version): shares from gradient descent within O(lr) of the exact ones."""
    task = _task()
    u0 = (0.01, 0.012)
    for depth in (2, 3):
        lr = float(_power_of_two_lrs(task, depth)[-1])
        steps = int(round(10.0 / lr))
        sim = pathways.simulate(task, pathways.aligned(task, depth, u0), lr=lr, steps=steps,
                                every=steps, deficit=(0.0, 0.5))
        exact = pathways.final_split(task, depth=depth, u0=u0, deficit=(0.0, 0.5))
        got = np.asarray(measures.shares(sim.modes[-1:]))[0]
        want = np.asarray(measures.shares(exact[None]))[0]
        np.testing.assert_allclose(got, want, atol=0.02)


def test_lesion_plus_deprivation_the_deprived_pathway_takes_the_lesioned_mode():
    """Kleinman 2024 Fig. 3: mode 0 lesioned in pathway a, pathway b deprived early; after the
    window b learns mode 0 (a cannot), but not the modes a already holds."""
    task = _task()
    deficit = [pathways.Lesion(0, 0), pathways.Freeze(1, 0.0, 3.0)]
    final = np.asarray(pathways.final_split(task, depth=3, u0=(0.01, 0.01), deficit=deficit))
    assert final[0, 0] == 0.0 and final[1, 0] == pytest.approx(S[0], rel=1e-12)
    assert np.all(final[1, 1:] < 0.05 * S[1:]), final
    lr = 2.0**-7
    sim = pathways.simulate(task, pathways.aligned(task, 3, (0.01, 0.01)), lr=lr,
                            steps=int(8 / lr), every=int(8 / lr), deficit=deficit)
    np.testing.assert_allclose(sim.modes[-1], final, atol=0.05)
    assert float(jnp.abs(sim.modes[-1, 0, 0])) < 1e-12


def test_vmapped_critical_period_map_is_one_call_and_matches_single_runs():
    task = _task()
    onsets = jnp.array([0.0, 0.0, 2.0, 2.0])
    lengths = jnp.array([0.5, 1.5, 0.5, 1.5])
    lr = 2.0**-7
    w = pathways.aligned(task, 3, (0.01, 0.01))
    steps = int(6 / lr)
    batch = pathways.simulate(task, w, lr=lr, steps=steps, every=steps,
                              deficit=pathways.Freeze(1, onsets, lengths))
    assert batch.modes.shape == (4, 2, 2, 3)
    one = pathways.simulate(task, w, lr=lr, steps=steps, every=steps,
                            deficit=(float(onsets[1]), float(lengths[1])))
    np.testing.assert_allclose(batch.modes[1], one.modes, rtol=1e-12, atol=1e-15)
    theory = jax.vmap(lambda o, ell: pathways.solve(task, depth=3, u0=(0.01, 0.01), t=6.0,
                                                    deficit=(o, ell)).modes[-1])(onsets, lengths)
    np.testing.assert_allclose(batch.modes[:, -1], theory, atol=0.05)


def test_deficits_pass_through_jax_rebuilds_with_placeholder_leaves():
    """`jit(...).lower`, `eval_shape` and `tree_map` rebuild deficits with non-array leaves;
    validation must let those through and still reject bad values."""
    f = lambda d: d.onset + d.length  # noqa: E731
    assert "module" in jax.jit(f).lower(pathways.Freeze(1, 1.0, 2.0)).as_text()
    assert jax.eval_shape(f, pathways.Noise(0, 1.0, 1.0, 2.0)).shape == ()
    placeholders = jax.tree_util.tree_map(lambda _: "leaf", pathways.Remove(0, 1.0, 2.0))
    assert placeholders.onset == "leaf"
    with pytest.raises(ValueError, match="onset"):
        pathways.Freeze(1, -1.0, 2.0)


def test_depth_sweep_with_padded_identities_is_one_call_and_equals_each_depth():
    """onset × depth × seed in one compiled call: `pad_depth` inserts frozen identities, so a
    padded depth-2 pathway is exactly the depth-2 network."""
    task = _task()
    lr = 2.0**-7
    steps = int(6 / lr)
    depths, onsets = (2, 3, 4), (0.0, 2.0)
    keys = jax.random.split(jax.random.key(3), 2)
    runs, padded, masks, wins = [], [], [], []
    for D in depths:
        for k in keys:
            w = pathways.aligned(task, D, (0.01, 0.012), width=3, key=k)
            for o in onsets:
                p, m = pathways.pad_depth(w, 4)
                padded.append(p)
                masks.append(m)
                wins.append(o)
                runs.append((w, o))
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    batch = pathways.simulate(
        task, jax.tree_util.tree_map(stack, *padded), lr=lr, steps=steps, every=steps,
        deficit=pathways.Freeze(1, jnp.array(wins), jnp.full(len(wins), 1.5)),
        layer_mask=jax.tree_util.tree_map(stack, *masks))
    assert batch.modes.shape == (len(runs), 2, 2, 3)
    for i in (0, 5, len(runs) - 1):  # depth 2, 3 and 4 members against their own runs
        w, o = runs[i]
        one = pathways.simulate(task, w, lr=lr, steps=steps, every=steps, deficit=(o, 1.5))
        np.testing.assert_allclose(batch.modes[i], one.modes, rtol=1e-11, atol=1e-14)
    # the identity layers did not move
    finals = batch.final_weights[0]
    np.testing.assert_array_equal(finals[0][1][0], jnp.eye(3))
    with pytest.raises(ValueError, match="layer_mask"):
        pathways.simulate(task, padded[0], lr=lr, steps=1, layer_mask=[jnp.ones(3)] * 2)
