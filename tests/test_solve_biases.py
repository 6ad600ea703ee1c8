"""dln.solve with biases (Rubruck et al. 2024; docs/theory/biases.md; dln.biases): exact where the
mode reduction holds, against gradient descent with biases (the gap is O(lr)), and the OCS phase."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln import biases, datasets, ocs

U0 = 1e-3
HORIZON = 120.0  # every mode of the 8-item tree is learned by then at depth ≤ 3
LRS = (0.08, 0.04, 0.02)


@functools.cache
def tree():
    return datasets.hierarchy(3)


def _centred_task(P=12, Ni=3, No=5, seed=3):
    """Centred, whitened inputs (x̄ = 0, Σxx = I) and targets with a mean partly outside the
    task's output directions (No > Ni)."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(P, Ni))
    Z -= Z.mean(axis=0)
    Q, _ = np.linalg.qr(Z)
    X = np.sqrt(P) * Q
    Y = X @ rng.normal(size=(Ni, No)) + rng.normal(size=No) + 0.1 * rng.normal(size=(P, No))
    return dln.Task.from_data(X, Y)


def _simulate(task, depth, pattern, lr, horizon=HORIZON, n_records=40):
    steps = int(round(horizon / lr))
    every = steps // n_records
    w = dln.init.aligned(task, depth, u0=U0)
    bs = [jnp.zeros(W.shape[0]) if h else None
          for W, h in zip(w, biases.bias_layers(pattern, depth))]
    return dln.simulate(task, w, biases=bs, lr=lr, steps=every * n_records, every=every)


def _gap(task, depth, pattern, lr, **kw):
    sim = _simulate(task, depth, pattern, lr, **kw)
    theory = dln.solve(task, depth=depth, u0=U0, biases=pattern, t=sim.t)
    return theory, max(float(jnp.max(jnp.abs(sim.modes - theory.modes))),
                       float(jnp.max(jnp.abs(sim.offset - theory.offset))))


def _slope(errors):
    return np.polyfit(np.log(LRS), np.log(errors), 1)[0]


@pytest.mark.parametrize("depth, pattern, method, scale", [
    (1, "output", "exact-exponential", 1.0),
    (2, "output", "reduced-integration", 1.0),
    (2, "hidden", "reduced-integration", 1.0),
    (3, "all", "reduced-integration", 0.25),  # sharper transitions: the O(lr) regime starts lower
])
def test_gradient_descent_with_biases_converges_to_the_solution_linearly_in_lr(
        depth, pattern, method, scale):
    task = tree()
    gaps = []
    for lr in LRS:
        theory, gap = _gap(task, depth, pattern, scale * lr)
        gaps.append(gap)
    assert theory.method == method
    assert theory.offset.shape == (theory.t.shape[0], task.n_out)
    assert 0.9 < _slope(gaps) < 1.1, gaps
    assert gaps[-1] < 0.02, gaps
    if method == "reduced-integration":
        assert not theory.is_exact
        assert float(jnp.max(theory.error_estimate)) < 1e-7


def test_centred_inputs_with_an_output_bias_are_exact_and_match_gradient_descent():
    task = _centred_task()
    m = biases.mode_means(task)
    assert not m.input_mean and np.any(m.y_perp != 0) and len(m.coupled) > 1
    gaps = [_gap(task, 2, "output", lr / 16, horizon=30.0)[1] for lr in LRS]
    theory = dln.solve(task, depth=2, u0=U0, biases="output", t=np.array([0.0, 1.0, 1e6]))
    assert theory.method == "exact-logistic"
    # the offset is exactly ȳ(1 − e^{−t}), the modes exactly the bias-free ones
    np.testing.assert_allclose(theory.offset[1], task.y_mean * (1 - np.exp(-1.0)), rtol=1e-14)
    np.testing.assert_allclose(theory.offset[2], task.y_mean, rtol=1e-14)
    plain = dln.solve(task, depth=2, u0=U0, t=theory.t)
    np.testing.assert_array_equal(theory.modes, plain.modes)
    assert 0.9 < _slope(gaps) < 1.1, gaps


def test_the_means_decide_whether_the_reduction_holds():
    tree_task = tree()
    m = biases.mode_means(tree_task)
    # the uniform item vector is the top mode: x̄ = ξ V_0, ȳ = η U_0, ξ = 1/√P, η = √P s_0
    assert m.coupled == (0,)
    np.testing.assert_allclose(m.xi[0], 1 / np.sqrt(8), rtol=1e-14)
    np.testing.assert_allclose(m.eta[0], np.sqrt(8) * float(tree_task.s[0]), rtol=1e-14)
    for pattern in biases.PATTERNS:
        assert biases.inapplicable_reason(tree_task, 2, pattern) is None
    # centred inputs: an output bias is always fine, hidden biases need ȳ along one mode
    centred = _centred_task()
    assert biases.inapplicable_reason(centred, 2, "output") is None
    assert "spreads over modes" in biases.inapplicable_reason(centred, 2, "hidden")


def test_where_the_reduction_fails_the_full_flow_is_integrated_and_labelled():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)) + 0.5
    Y = rng.normal(size=(10, 2)) + X[:, :2]
    task = dln.Task.from_data(X, Y)
    assert biases.inapplicable_reason(task, 2, "all") is not None
    t = np.linspace(0.0, 8.0, 17)
    theory = dln.solve(task, depth=2, u0=0.05, biases="all", t=t)
    assert theory.method == "numerical-flow" and not theory.is_exact
    assert float(jnp.max(theory.error_estimate)) < 1e-7
    gaps = []
    for lr in LRS:
        lr = lr / 8
        steps = int(round(8.0 / lr))
        w = dln.init.aligned(task, 2, u0=0.05)
        sim = dln.simulate(task, w, biases=[jnp.zeros(2), jnp.zeros(2)], lr=lr, steps=steps,
                           every=steps // 16)
        ref = dln.solve(task, depth=2, u0=0.05, biases="all", t=sim.t)
        gaps.append(float(jnp.max(jnp.abs(sim.map - ref.map)) +
                          jnp.max(jnp.abs(sim.offset - ref.offset))))
    assert 0.9 < _slope(gaps) < 1.1, gaps


def test_solve_from_weights_with_biases_is_the_numerical_flow_of_both():
    task = tree()
    rng = np.random.default_rng(1)
    w = [0.1 * rng.normal(size=(4, 8)), 0.1 * rng.normal(size=(15, 4))]
    b = [0.1 * rng.normal(size=4), None]
    traj = dln.solve(task, weights=w, biases=b, t=np.array([0.0, 2.0]))
    assert traj.method == "numerical-flow"
    assert traj.final_biases[0].shape == (4,) and traj.final_biases[1] is None
    assert float(jnp.max(traj.error_estimate)) < 1e-8
    # one gradient-descent run at a tiny lr lands within O(lr) of it
    sim = dln.simulate(task, w, biases=b, lr=1e-3, steps=2000, every=2000)
    assert float(jnp.max(jnp.abs(sim.offset[-1] - traj.offset[-1]))) < 1e-3
    assert float(jnp.max(jnp.abs(sim.map[-1] - traj.map[-1]))) < 1e-3


def test_biases_lead_to_the_ocs_and_one_hot_inputs_without_biases_do_not():
    """Closest approach of the outputs to the OCS, from the exact solutions (docs/theory/biases.md:
    ≈ 0.01 with biases, ≈ 0.0015 with offset inputs, ≈ 0.63 for one-hot inputs without
    biases, against ||ȳ1ᵀ − Y||_F = 4.12 for the 8-item tree)."""
    t = np.linspace(0.0, 60.0, 1201)
    task = tree()
    far = float(np.linalg.norm(task.Y - task.y_mean))
    d = {}
    for name, pattern in (("all", "all"), ("output", "output"), ("hidden", "hidden"),
                          ("none", None)):
        d[name] = float(ocs.closest_approach(
            dln.solve(task, depth=2, u0=1e-4, biases=pattern, t=t))[1])
    offset_task = datasets.offset_hierarchy(3, offset=0.5)
    exact = dln.solve(offset_task, depth=2, u0=1e-4, t=t)
    assert exact.method == "exact-logistic"
    d["offset"] = float(ocs.closest_approach(exact)[1])
    assert d["all"] < 0.01 * far and d["output"] < 0.01 * far, d
    assert d["offset"] < 0.02 * far and d["hidden"] < 0.05 * far, d
    assert d["none"] > 0.08 * far, d
    assert d["none"] > 10 * max(d["all"], d["output"], d["offset"]), d


def test_hidden_bias_speeds_up_the_uniform_mode_by_sqrt_one_plus_p():
    """First-layer bias on one-hot items: the uniform mode's rate is √(1 + P) times the bias-free
    one (docs/theory/biases.md), measured on the exact (reduced) trajectory at depth 2."""
    task = tree()
    t = np.linspace(0.0, 40.0, 4001)
    with_bias = dln.solve(task, depth=2, u0=1e-6, biases="hidden", t=t)
    without = dln.solve(task, depth=2, u0=1e-6, t=t)
    target = float(task.mode_targets[0])

    def half_time(traj):  # the uniform mode's half-way time, from the output it produces
        out = ocs.outputs(traj)[:, :, 0].mean(axis=1)  # root feature, mean over items
        return float(np.interp(0.5 * float(out[-1]), np.asarray(out), t))

    assert float(without.modes[-1, 0]) == pytest.approx(target, rel=1e-6)
    ratio = half_time(without) / half_time(with_bias)
    assert ratio == pytest.approx(float(_derived("hidden_bias_speedup")(8)), rel=0.05), ratio


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(depth=1, u0=1e-3, biases="hidden"), ValueError, "depth >= 2"),
    (dict(depth=2, u0=1e-3, biases="first"), ValueError, "one of"),
    (dict(depth=2, u0=1e-3, biases=[None, None]), TypeError, "names which layers"),
    (dict(weights=[np.zeros((3, 8)), np.zeros((15, 3))], biases="all"), TypeError,
     "must be a list"),
])
def test_bad_bias_arguments_get_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        dln.solve(tree(), t=np.array([0.0, 1.0]), **kwargs)


def test_biases_need_the_data_means():
    task = tree()
    from_correlations = dln.Task(task.sigma_xx, task.sigma_yx)
    with pytest.raises(ValueError, match="from_data"):
        dln.solve(from_correlations, depth=2, u0=1e-3, biases="output", t=1.0)


# ------------------------------------------------------------- against the derivation page
def _derived(key):
    import derivations

    res = derivations.derive("biases").results[key]
    return res.function("numpy")


def test_the_unit_loss_of_the_derivation_is_the_network_loss_of_the_uniform_mode():
    task = tree()
    m = biases.mode_means(task)
    unit = _derived("unit_loss")
    rng = np.random.default_rng(2)
    for A, C in rng.normal(size=(5, 2)):
        W = A * jnp.outer(task.U[:, 0], task.V[:, 0])
        full = dln.network.affine_loss(task, W, C * task.U[:, 0]) - task.loss(0 * W)
        expected = unit(A, C, float(task.s[0]), m.eta[0], float(task.input_variance[0]), m.xi[0])
        np.testing.assert_allclose(float(full), expected, rtol=1e-12, atol=1e-14)


def test_depth_one_solution_solves_its_ode_including_the_null_direction():
    from scipy.integrate import solve_ivp

    t = np.array([0.0, 0.3, 2.0, 10.0, 50.0])
    for lam, s, xi, eta in ((0.125, 0.48, 0.125**0.5, 1.37), (1.3, 0.7, 0.4, -0.2)):
        M = np.array([[lam, xi], [xi, 1.0]])
        ref = solve_ivp(lambda _, x: np.array([s, eta]) - M @ x, (0, 50), [0.01, 0.0],
                        t_eval=t, method="DOP853", rtol=1e-13, atol=1e-15).y
        A, C = biases.affine_shallow(t, lam, s, xi, eta, 0.01)
        np.testing.assert_allclose(np.stack([A, C]), ref, rtol=1e-10, atol=1e-12)


def test_the_reduced_flow_conserves_the_competition_quantity_of_the_derivation():
    """One-hot items (λ = ξ²) with an output bias at depth 3: the deep and the shallow path of the
    uniform mode conserve Q = C − A^{2/D−1}/(ξ(2 − D)) along the reduced trajectory."""
    task = tree()
    m = biases.mode_means(task)
    assert float(task.input_variance[0]) == pytest.approx(m.xi[0] ** 2, rel=1e-14)
    traj = dln.solve(task, depth=3, u0=1e-3, biases="output", t=np.linspace(0.0, 40.0, 9))
    A = np.asarray(traj.modes[:, 0])
    C = np.asarray(traj.offset @ task.U[:, 0])
    Q = _derived("competition")(C, A, m.xi[0], 3)
    assert np.ptp(Q) < 1e-8 * np.max(np.abs(Q)), Q
    assert C[-1] > 0.5 * m.eta[0]  # the shallow path did move: the check is not trivial
