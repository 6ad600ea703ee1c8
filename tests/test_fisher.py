"""The Fisher information of a single deep linear network over training (Achille, Rovere & Soatto
2019; docs/theory/fisher.md), with finite plasticity: the Gaussian-model trace against its Monte
Carlo estimate, the rise and fall of the empirical trace, the fall of the Gaussian-model trace
when weight decay kills a mode at depth 3, the freeze under an annealed learning rate, and
gradient descent against the exact solution (error of order lr).

All on Kleinman's 8-item hierarchy (one-hot items, `s/λ = 3.87, 2.65, 1.73, 1.73, 1, 1, 1, 1`),
depth 3."""

import numpy as np
import pytest
from dln.pathways import measures

import dln

DEPTH = 3
GAMMA = 0.065  # above the largest γ at which the four weakest modes (s = λ = 1/8) survive
U0 = 0.3  # every mode starts at 0.3: the weak ones are still there when the strong are learned
HORIZON = 150.0


def _task():
    return dln.datasets.hierarchy(3)


def _totals(traj):
    model, emp = measures.fisher_traces(traj)
    return np.asarray(model).sum(-1), np.asarray(emp).sum(-1)


def _anneal(lr0):
    """`lr_k = lr0 · 2^{−k lr0/4}`: the flow time runs out at `lr0/(1 − 2^{−lr0/4}) ≈ 5.8`."""
    return lambda k: lr0 * 0.5 ** (k * lr0 / 4.0)


@pytest.fixture(scope="module")
def runs():
    """Gradient descent from aligned weights (every mode at U0), with weight decay and with an
    annealed learning rate, at lr and lr/2, each with its exact solution at the recorded times."""
    task = _task()
    w0 = dln.init.aligned_from_strengths(task, DEPTH, np.full(task.n_modes, U0))
    out = {}
    for lr in (0.05, 0.025):
        every = int(round(2.0 / lr))
        for name, kw, steps in (("decay", dict(lr=lr, weight_decay=GAMMA), int(HORIZON / lr)),
                                ("anneal", dict(lr=_anneal(lr)), int(80.0 / lr))):
            sim = dln.simulate(task, w0, steps=steps, every=every, record_weights=True, **kw)
            exact = dln.solve(task, depth=DEPTH, u0=np.full(task.n_modes, U0), t=sim.t,
                              weight_decay=kw.get("weight_decay", 0.0))
            out[name, lr] = (sim, exact)
    return task, out


def test_fisher_traces_of_a_single_network_match_the_layer_formulas(getkey):
    """`fisher_traces` reads the weights of the trajectory; the exact Gaussian-model trace agrees
    with its Monte Carlo estimate (outputs sampled from the model) within 4 standard errors, on
    an exact weight-decay trajectory."""
    task = _task()
    traj = dln.solve(task, depth=DEPTH, u0=np.full(task.n_modes, U0),
                     t=np.array([0.0, 10.0]), weight_decay=GAMMA)
    model, emp = measures.fisher_traces(traj, noise_variance=0.5)
    assert model.shape == emp.shape == (2, DEPTH)
    W = [w[1] for w in traj.weights()]
    np.testing.assert_allclose(model[1], measures.fisher_trace(task, W, 0.5), rtol=1e-12)
    # the pairs-of-modes form of the Gaussian-model trace (module docstring)
    u, lam = np.asarray(traj.modes[1]), np.asarray(task.input_variance)
    pairs = [(np.sum(u ** (2 * (DEPTH - l) / DEPTH)) if l < DEPTH else task.n_out)
             * (np.sum(lam * u ** (2 * (l - 1) / DEPTH)) if l > 1
                else float(np.trace(task.sigma_xx))) / 0.5 for l in range(1, DEPTH + 1)]
    np.testing.assert_allclose(model[1], pairs, rtol=1e-10)
    est, se = (np.asarray(a) for a in measures.sampled_fisher_trace(getkey(), task, W, 400,
                                                                    noise_variance=0.5))
    assert np.all(se > 0) and np.all(se < 0.1 * model[1]), (est, se, model[1])
    assert np.all(np.abs(est - model[1]) < 4 * se), (est, se, model[1])


def test_without_weight_decay_the_gaussian_trace_grows_and_the_empirical_rises_then_falls():
    """From small aligned weights (every mode at 0.01) the Gaussian-model trace only grows
    (0.067 → 67.3), while the empirical trace rises to a peak (2.03 at t ≈ 8) and falls with
    the errors (below 1e-9 of its peak by t = 100)."""
    task = _task()
    t = np.linspace(0.0, 100.0, 201)
    traj = dln.solve(task, depth=DEPTH, u0=np.full(task.n_modes, 0.01), t=t)
    model, emp = _totals(traj)
    assert np.all(np.diff(model) >= -1e-12 * model.max())
    assert model[-1] > 500 * model[0]
    peak = int(np.argmax(emp))
    assert 2.0 < t[peak] < 20.0, t[peak]
    assert emp[peak] > 50 * emp[0]
    assert emp[-1] < 1e-9 * emp[peak], (emp[peak], emp[-1])


def test_weight_decay_kills_the_weak_modes_and_the_gaussian_trace_falls(runs):
    """γ = 0.065 at depth 3 is above the largest decay the four weakest modes survive (their
    `weight_decay_target` is 0), below the others'. Along gradient descent the Gaussian-model
    trace rises to a peak (40.8 at t ≈ 16) while the strong modes are learned, then falls by 10 %
    (to 36.7) as the weak modes die, to the trace of the weights at the weight-decay targets
    `u_+ < s/λ`. The empirical trace falls too, but not to 0 (1.14: weight decay keeps the map off
    the least-squares optimum, so the errors stay)."""
    task, out = runs
    sim, _ = out["decay", 0.025]
    target = np.asarray(dln.modes.weight_decay_target(task.s, task.input_variance, GAMMA, DEPTH))
    assert np.all(target[4:] == 0) and np.all(target[:4] > 0.5)
    assert np.all(target < np.asarray(task.s / task.input_variance))
    np.testing.assert_allclose(np.asarray(sim.modes[-1]), target, atol=1e-3)
    model, emp = _totals(sim)
    t = np.asarray(sim.t)
    peak = int(np.argmax(model))
    assert 5.0 < t[peak] < 40.0, t[peak]
    assert model[-1] < 0.92 * model[peak], (model[peak], model[-1])
    at_target = float(np.sum(measures.fisher_trace(
        task, dln.init.aligned_from_strengths(task, DEPTH, target))))
    np.testing.assert_allclose(model[-1], at_target, rtol=1e-3)
    assert 0.2 * emp.max() < emp[-1] < 0.5 * emp.max(), (emp.max(), emp[-1])


def test_an_annealed_learning_rate_freezes_the_fisher(runs):
    """Under `lr_k = lr0 2^{−k lr0/4}` the flow time stops at ≈ 5.8: the traces freeze where they
    are: the Gaussian-model one at 57.9, below its converged 67.3, the empirical one at 0.22,
    not 0."""
    task, out = runs
    sim, _ = out["anneal", 0.025]
    t = np.asarray(sim.t)
    budget = 0.025 / (1 - 0.5 ** (0.025 / 4.0))
    assert t[-1] < budget and t[-1] > 0.999 * budget
    model, emp = _totals(sim)
    np.testing.assert_allclose(model[-5:], model[-1], rtol=1e-4)
    np.testing.assert_allclose(emp[-5:], emp[-1], rtol=1e-3)
    converged = float(np.sum(measures.fisher_trace(
        task, dln.init.aligned_from_strengths(task, DEPTH, task.s / task.input_variance))))
    assert model[-1] < 0.9 * converged
    assert emp[-1] > 1e-2 * emp.max()


@pytest.mark.parametrize("name", ["decay", "anneal"])
def test_fisher_of_gradient_descent_converges_to_the_exact_one(runs, name):
    """The Fisher traces of the recorded gradient-descent weights against those of the exact
    solution at the same flow times: the largest gap halves when lr halves."""
    _, out = runs
    gaps = []
    for lr in (0.05, 0.025):
        sim, exact = out[name, lr]
        (m_sim, e_sim), (m_ex, e_ex) = _totals(sim), _totals(exact)
        gaps.append((np.max(np.abs(m_sim - m_ex)) / m_ex.max(),
                     np.max(np.abs(e_sim - e_ex)) / e_ex.max()))
    gaps = np.array(gaps)
    assert np.all(gaps[0] < 0.01), gaps
    ratio = gaps[1] / gaps[0]
    assert np.all((ratio > 0.4) & (ratio < 0.6)), (gaps, ratio)
