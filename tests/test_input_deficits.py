"""Blur and Flip on the input of one deep network: exact through the window, against a
30-digit reference, against gradient descent (error linear in lr), and the whole-network
critical-period map."""

import jax
import mpmath
import numpy as np
import pytest

import dln
from dln.phenomena.critical_periods import (
    network_critical_period_map,
    simulated_network_critical_period_map,
)
from dln.protocol.deficits import blur_factors, input_matrix, transformed_task


def _task():
    return dln.datasets.hierarchy(3)  # 8 one-hot items: λ = 1/8, modes 1, 1, 2, 4


def _mp_mode(s, lam, u0, depth, gamma, pieces, t_end):
    """u(t_end) of du/dt = D u^{2−2/D}(b s − b² λ u) − Dγu through `pieces` [(start, b), …],
    with mpmath's Taylor integrator at 30 digits (restarted at every window edge)."""
    mpmath.mp.dps = 30
    D = depth
    u = mpmath.mpf(u0)
    edges = [p[0] for p in pieces] + [t_end]
    for (start, b), stop in zip(pieces, edges[1:]):
        if stop <= start:
            continue
        b, s_, lam_ = mpmath.mpf(b), mpmath.mpf(s), mpmath.mpf(lam)
        f = lambda t, y, b=b: D * y ** (2 - mpmath.mpf(2) / D) * (b * s_ - b * b * lam_ * y) \
            - D * mpmath.mpf(gamma) * y  # noqa: E731
        sol = mpmath.odefun(f, 0, u)
        u = sol(mpmath.mpf(stop - start))
    return float(u)


@pytest.mark.parametrize("depth,gamma", [(1, 0.02), (2, 0.0), (2, 0.05), (3, 0.0), (3, 0.02)])
def test_blur_exact_against_30_digits(depth, gamma):
    """Random window, random start: the solved modes equal a 30-digit integration of each
    mode's law piece by piece (the derivation's claim that blur keeps the modes)."""
    rng = np.random.default_rng(depth * 10 + int(gamma * 100))
    task = _task()
    scale = 1.0 if depth < 3 else 0.3  # mpmath's Taylor steps are slow for u^{4/3}
    onset, length = scale * rng.uniform(1, 4), scale * rng.uniform(2, 6)
    factor, keep = rng.uniform(0.05, 0.5), 2
    u0 = rng.uniform(0.01, 0.1) if depth < 3 else rng.uniform(0.5, 1.0)
    t_end = onset + length + scale * rng.uniform(1, 5)
    blur = dln.Blur(onset=onset, length=length, keep=keep, factor=factor)
    traj = dln.solve(dln.Protocol(task, depth=depth, deficits=blur), u0=u0,
                     t=[onset / 2, onset + length / 2, t_end], weight_decay=gamma)
    b = np.asarray(blur_factors(blur, task))
    # a kept mode and two blurred ones; at depth 3 (slow in mpmath) one mode at the end
    alphas, times = ((0, 2, 4), (0, 1, 2)) if depth < 3 else ((4,), (2,))
    for alpha in alphas:
        s, lam = float(task.s[alpha]), float(task.input_variance[alpha])
        pieces = [(0.0, 1.0), (onset, b[alpha]), (onset + length, 1.0)]
        for i in times:
            t = (onset / 2, onset + length / 2, t_end)[i]
            ref = _mp_mode(s, lam, u0, depth, gamma, [p for p in pieces if p[0] < t] or
                           pieces[:1], t)
            assert abs(float(traj.modes[i, alpha]) - ref) <= 1e-9 * max(ref, 1e-3), \
                (alpha, t, float(traj.modes[i, alpha]), ref)


def test_blur_statistics_are_mode_wise():
    """Σxx → BΣxxB, Σyx → ΣyxB scales mode α's s by b_α and λ by b_α², and leaves its
    directions: the derivation's premise, on the actual matrices."""
    task = _task()
    blur = dln.Blur(keep=3, factor=0.3)
    seen = transformed_task(task, input_matrix(blur, task))
    b = np.asarray(blur_factors(blur, task))
    np.testing.assert_allclose(np.asarray(task.mode_strengths(seen.sigma_yx)),
                               b * np.asarray(task.s), atol=1e-14)
    lam = np.einsum("ik,ij,jk->k", task.V, seen.sigma_xx, task.V)
    np.testing.assert_allclose(lam, b ** 2 * np.asarray(task.input_variance), atol=1e-14)


@pytest.mark.parametrize("deficit", ["blur", "flip"])
def test_gradient_descent_converges_to_the_flow_linearly_in_lr(deficit):
    """Gradient descent through the window against the exact flow (blur: the mode solution
    at depth 3 with weight decay; flip: the chained two-layer Riccati solution): the error
    halves when the learning rate halves."""
    task = _task()
    if deficit == "blur":
        depth, gamma = 3, 0.01
        window = dln.Blur(onset=2.0, length=10.0, keep=2, factor=0.1)
    else:
        depth, gamma = 2, 0.0
        window = dln.Flip(onset=3.0, length=6.0)
    protocol = dln.Protocol(task, depth=depth, deficits=window)
    t = np.linspace(0.0, 40.0, 21)
    theory = dln.solve(protocol, u0=1e-2, t=t, weight_decay=gamma)
    if deficit == "blur":
        assert theory.method == "reduced-integration"
    else:
        assert theory.phase_methods == ("exact-logistic", "exact-riccati", "exact-riccati")
    weights = dln.init.aligned(task, depth, u0=1e-2)
    errors = []
    for lr in (0.04, 0.02, 0.01):
        sim = dln.simulate(protocol, weights, lr=lr, steps=round(40 / lr), every=round(2 / lr),
                           weight_decay=gamma)
        np.testing.assert_allclose(np.asarray(sim.t), t, atol=1e-12)
        errors.append(float(np.abs(np.asarray(sim.map) - np.asarray(theory.map)).max()))
        # `loss` on both sides is the loss on the undeprived task
        np.testing.assert_allclose(np.asarray(sim.loss), np.asarray(task.loss(sim.map)),
                                   rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(theory.loss), np.asarray(task.loss(theory.map)),
                               rtol=1e-10, atol=1e-15)
    ratios = errors[0] / errors[1], errors[1] / errors[2]
    assert errors[-1] < 0.05, errors
    for r in ratios:
        assert 1.8 < r < 2.2, (errors, ratios)


def test_flip_keeps_the_statistics_and_is_checked():
    task = _task()
    Q = np.asarray(input_matrix(dln.Flip(), task))
    np.testing.assert_allclose(Q @ np.asarray(task.sigma_xx) @ Q.T, task.sigma_xx, atol=1e-15)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    coloured = dln.Task.from_data(X, X[:, :2] @ rng.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="changes the task's input statistics"):
        dln.Protocol(coloured, depth=2, deficits=dln.Flip(onset=1.0, length=1.0))
    with pytest.raises(ValueError, match="orthogonal"):
        dln.Flip(transform=np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        dln.Protocol(task, depth=2, deficits=dln.Flip(transform=np.eye(3)))


def test_bad_input_deficits_name_the_argument():
    task = _task()
    with pytest.raises(ValueError, match="Blur.factor"):
        dln.Blur(factor=-0.1)
    with pytest.raises(ValueError, match="Blur.onset"):
        dln.Blur(onset=-1.0)
    with pytest.raises(ValueError, match="Blur.keep"):
        dln.Protocol(task, depth=2, deficits=dln.Blur(keep=9))
    with pytest.raises(ValueError, match="one plain network"):
        dln.Protocol(task, architecture=dln.Architecture(depth=2, pathways=2),
                     deficits=dln.Blur(onset=1.0, length=1.0))
    with pytest.raises(ValueError, match="only deficit"):
        dln.Protocol(task, depth=2, deficits=[dln.Blur(), dln.Flip()])
    with pytest.raises(TypeError, match="dln.Blur or dln.Flip"):
        simulated_network_critical_period_map(
            task, dln.init.aligned(task, 2, u0=1e-2), lr=0.05, steps=10,
            deficit=dln.pathways.Freeze(1), onsets=[0.0], lengths=[1.0])


def test_as_phases_batches_windows():
    """A batch of windows is a batch of protocols: one simulate call equals one call per
    window."""
    task = _task()
    weights = dln.init.aligned(task, 2, u0=1e-2)
    onsets, lengths = np.array([0.0, 2.0, 6.0]), np.array([4.0, 4.0, 2.0])
    batch = dln.simulate(dln.Protocol(task, depth=2, deficits=dln.Flip(onsets, lengths)),
                         weights, lr=0.05, steps=400, every=100)
    for i in range(3):
        one = dln.simulate(dln.Protocol(task, depth=2,
                                        deficits=dln.Flip(onsets[i], lengths[i])),
                           weights, lr=0.05, steps=400, every=100)
        np.testing.assert_allclose(np.asarray(batch.map[i]), np.asarray(one.map), atol=1e-13)
        np.testing.assert_allclose(np.asarray(batch.loss[i]), np.asarray(one.loss),
                                   atol=1e-13)


def test_blur_is_jittable_and_differentiable():
    task = _task()

    def final_loss(onset, u0):
        p = dln.Protocol(task, depth=2,
                         deficits=dln.Blur(onset=onset, length=3.0, keep=2, factor=0.2))
        return dln.solve(p, u0=u0, t=[10.0]).loss[-1]

    value = final_loss(1.0, 0.05)
    np.testing.assert_allclose(jax.jit(final_loss)(1.0, 0.05), value, rtol=1e-12)
    g = jax.grad(final_loss, argnums=(0, 1))(1.0, 0.05)
    h = 1e-5
    fd = [(final_loss(1.0 + h, 0.05) - final_loss(1.0 - h, 0.05)) / (2 * h),
          (final_loss(1.0, 0.05 + h) - final_loss(1.0, 0.05 - h)) / (2 * h)]
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), rtol=1e-5)


def test_exact_map_matches_gradient_descent_and_single_solves():
    """The exact map (one compiled call) against single solves and against gradient descent
    with an annealed learning rate (the windows read in flow time Σ lr)."""
    task = _task()
    onsets, lengths = [0.0, 4.0, 30.0], [3.0, 8.0]
    blur = dln.Blur(keep=2, factor=0.1)
    exact = network_critical_period_map(task, depth=2, u0=1e-2, deficit=blur, onsets=onsets,
                                        lengths=lengths, t=60.0, weight_decay=[0.0, 0.02])
    assert exact["loss"].shape == (2, 3, 2) and exact["modes"].shape == (2, 3, 2, 8)
    for g, gamma in enumerate((0.0, 0.02)):
        for i, o in enumerate(onsets):
            for j, ell in enumerate(lengths):
                p = dln.Protocol(task, depth=2, deficits=dln.Blur(onset=o, length=ell, keep=2,
                                                                  factor=0.1))
                one = dln.solve(p, u0=1e-2, t=[60.0], weight_decay=gamma)
                np.testing.assert_allclose(exact["modes"][g, i, j], one.modes[-1], rtol=1e-11)
        plain = dln.solve(task, depth=2, u0=1e-2, t=[60.0], weight_decay=gamma)
        np.testing.assert_allclose(exact["baseline_loss"][g], plain.loss[-1], rtol=1e-11)
    # an annealed schedule: lr_k = lr0 · 0.9995^k, total flow time lr0 (1 − 0.9995^N)/0.0005
    lr0, N = 0.05, 2000
    schedule = lambda k: lr0 * 0.9995 ** k  # noqa: E731
    budget = lr0 * (1 - 0.9995 ** N) / (1 - 0.9995)
    weights = dln.init.aligned(task, 2, u0=1e-2)
    sim = simulated_network_critical_period_map(task, weights, lr=schedule, steps=N,
                                                deficit=blur, onsets=onsets, lengths=lengths,
                                                weight_decay=0.02)
    theory = network_critical_period_map(task, depth=2, u0=1e-2, deficit=blur, onsets=onsets,
                                         lengths=lengths, t=budget, weight_decay=0.02)
    assert sim["loss"].shape == (3, 2)
    # gradient descent's O(lr) gap, plus the window edges rounded to whole steps (≤ lr0)
    np.testing.assert_allclose(sim["modes"], theory["modes"], atol=0.05)
    np.testing.assert_allclose(sim["excess"], theory["excess"], atol=0.02)


def test_weight_decay_makes_early_blur_damage_permanent_at_depth_3():
    """The critical period of the whole network: at depth 3 with weight decay an early blur
    pushes the weak modes below the threshold u_−, and they are lost for good (the excess
    loss is the same at t = 400 and t = 4000); a late blur, and any blur without weight decay
    or at depth 2, leave no damage in the long run."""
    task = _task()
    blur = dln.Blur(keep=2, factor=0.1)
    kw = dict(u0=1e-3, deficit=blur, onsets=[0.0, 200.0], lengths=[40.0])
    s, lam = float(task.s[-1]), float(task.input_variance[-1])
    threshold = float(dln.modes.weight_decay_threshold(s, lam, 0.01, 3))
    assert threshold < 1e-3  # without the deficit every mode is learned
    deep = [network_critical_period_map(task, depth=3, t=t, weight_decay=[0.0, 0.01], **kw)
            for t in (400.0, 4000.0)]
    early, late = (0, 0), (1, 0)
    for res in deep:  # γ = 0.01
        assert res["excess"][1][early] > 0.1
        assert abs(res["excess"][1][late]) < 1e-6
        assert np.all(np.asarray(res["modes"][1][early][4:]) < threshold)  # the weakest modes
    # the lost modes are still on their way to 0 at t = 400 (u ≈ 2e-6): the damage is final
    np.testing.assert_allclose(deep[0]["excess"][1], deep[1]["excess"][1], atol=1e-4)
    assert np.all(np.asarray(deep[1]["modes"][1][early][4:]) < 1e-12)
    assert abs(deep[1]["excess"][0][early]) < 1e-8  # γ = 0: a delay only
    shallow = network_critical_period_map(task, depth=2, t=4000.0, weight_decay=0.01, **kw)
    assert np.all(np.abs(np.asarray(shallow["excess"])) < 1e-8)


def test_exact_map_counts_steps_when_given_the_learning_rate():
    """With `lr`, windows and the run count steps: a constant rate scales them to flow time,
    a schedule reads them on its clock Σ lr."""
    task = _task()
    blur = dln.Blur(keep=2, factor=0.1)
    kw = dict(depth=2, u0=1e-2, deficit=blur, weight_decay=0.02)
    steps = network_critical_period_map(task, onsets=[0, 80], lengths=[60], t=1200, lr=0.05,
                                        **kw)
    flow = network_critical_period_map(task, onsets=[0.0, 4.0], lengths=[3.0], t=60.0, **kw)
    np.testing.assert_allclose(steps["modes"], flow["modes"], rtol=1e-12)
    schedule = lambda k: 0.05 * 0.999 ** k  # noqa: E731
    clock = lambda k: 0.05 * (1 - 0.999 ** k) / (1 - 0.999)  # noqa: E731
    annealed = network_critical_period_map(task, onsets=[0, 80], lengths=[60], t=1200,
                                           lr=schedule, **kw)
    by_hand = [network_critical_period_map(task, onsets=[clock(k)], lengths=[clock(k + 60) -
                                           clock(k)], t=clock(1200), **kw)["modes"][0, 0]
               for k in (0, 80)]
    np.testing.assert_allclose(annealed["modes"][:, 0], np.stack(by_hand), rtol=1e-9)
    with pytest.raises(ValueError, match="`onsets` count steps"):
        network_critical_period_map(task, onsets=[0.5], lengths=[60], t=1200, lr=0.05, **kw)


def test_the_stability_check_reads_the_undeprived_task():
    """A blur's own task has a lower stability limit (its minimum amplifies the attenuated
    inputs) that a window does not reach: `simulate` checks the undeprived task's limit."""
    task = _task()
    seen = transformed_task(task, input_matrix(dln.Blur(keep=2, factor=0.1), task))
    clean, window = dln.lr_bound(task, 4), dln.lr_bound(seen, 4)
    assert window < clean / 2
    lr = (window + clean) / 2
    blur = dln.Blur(onset=0.0, length=20 * lr, keep=2, factor=0.1)  # 20 steps
    protocol = dln.Protocol(task, depth=4, deficits=blur)
    weights = dln.init.aligned(task, 4, u0=0.03)
    sim = dln.simulate(protocol, weights, lr=lr, steps=200, every=200)
    assert np.all(np.isfinite(np.asarray(sim.loss)))
    with pytest.raises(ValueError, match="will not converge"):
        dln.simulate(protocol, weights, lr=1.01 * clean, steps=10, every=10)
    with pytest.raises(ValueError, match="will not converge"):
        dln.simulate(protocol, weights, lr=lambda k: 1.01 * clean + 0.0 * k, steps=10, every=10)


def test_review_edges_of_windows_and_transforms():
    """A Flip with its own transform survives JAX rebuilding it (replace, tree_map, maps);
    traced windows on the phase path and mixed finite/infinite batches are refused by name."""
    import dataclasses
    task = _task()
    flip = dln.Flip(onset=1.0, length=2.0, transform=np.eye(8)[::-1])
    assert dataclasses.replace(flip, onset=2.0).transform == flip.transform
    jax.tree_util.tree_map(lambda x: x, flip)
    res = simulated_network_critical_period_map(task, dln.init.aligned(task, 2, u0=1e-2),
                                                lr=0.05, steps=100, deficit=flip,
                                                onsets=[0.0, 1.0], lengths=[1.0])
    default = simulated_network_critical_period_map(task, dln.init.aligned(task, 2, u0=1e-2),
                                                    lr=0.05, steps=100, deficit=dln.Flip(),
                                                    onsets=[0.0, 1.0], lengths=[1.0])
    np.testing.assert_allclose(res["excess"], default["excess"], rtol=1e-12)
    with pytest.raises(ValueError, match="mixes finite and infinite"):
        dln.Protocol([(task, np.array([5.0, np.inf]))], depth=2,
                     deficits=dln.Blur(1.0, 1.0)).as_phases()
    weights = dln.init.aligned(task, 2, u0=1e-2)
    with pytest.raises(TypeError, match="Blur.onset/length are traced"):
        jax.vmap(lambda o: dln.simulate(dln.Protocol(task, depth=2, deficits=dln.Blur(o, 1.0)),
                                        weights, lr=0.05, steps=10).loss)(np.array([0.0, 1.0]))
