"""dln.Protocol: one description of training, read by dln.solve and dln.simulate.

Checks that a protocol gives the same numbers as the calls it stands for (bit for bit where the
same engine runs), that theory and gradient descent through phases agree to O(lr) — including
the combinations the protocol opens up (weight decay and learning-rate schedules across task
switches, a first phase from its mode solution at depth 3) — and that combinations no engine
has are refused with the argument named.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dln.pathways import Freeze

import dln


def _task(rng, s, n=None):
    n = n or len(s)
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    V, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return dln.Task(np.eye(n), U[:, :len(s)] @ np.diag(s) @ V[:, :len(s)].T)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(3)
    return _task(rng, [3.0, 2.0, 1.0]), _task(rng, [2.5, 1.5, 0.7])


def _slope(lrs, errors):
    return np.polyfit(np.log(lrs), np.log(errors), 1)[0]


# ----------------------------------------------------------------------------- description
def test_a_task_is_one_open_phase_and_reports_its_parts(pair):
    A, B = pair
    p = dln.Protocol(A, depth=3)
    assert p.n_phases == 1 and p.open_ended and p.plain and p.depth == 3 and p.task is A
    q = dln.Protocol([(A, 2.0), (B, np.array([1.0, 3.0]))], depth=2)
    assert q.tasks == (A, B) and q.batched and not q.open_ended
    np.testing.assert_array_equal(q.bounds, [[0.0, 2.0, 3.0], [0.0, 2.0, 5.0]])
    r = dln.Protocol(A, architecture=dln.Architecture(depth=2, pathways=2),
                     deficits=Freeze(1, 1.0, 2.0))
    assert not r.plain and r.deficits == (Freeze(1, 1.0, 2.0),)
    assert "(Task(3, 3), 2.0)" in repr(q)
    assert len(repr(q)) < 300


@pytest.mark.parametrize("make, error, match", [
    (lambda A: dln.Protocol(A), TypeError, "depth="),
    (lambda A: dln.Protocol(A, depth=2, architecture=dln.Architecture(3)), ValueError, "depth"),
    (lambda A: dln.Protocol(A, architecture="deep"), TypeError, "architecture"),
    (lambda A: dln.Protocol([(A, 1.0), (A, 1.0)], depth=2, deficits=Freeze(0, 0.0, 1.0)),
     ValueError, "deficits"),
    (lambda A: dln.Protocol([(A, -1.0)], depth=2), ValueError, r"phases\[0\]"),
    (lambda A: dln.Protocol([(A, np.inf), (A, 1.0)], depth=2), ValueError, r"phases\[0\]"),
    (lambda A: dln.Protocol([A], depth=2), TypeError, r"phases\[0\]"),
    (lambda A: dln.Protocol(A, depth=0), ValueError, "depth"),
    (lambda A: dln.Architecture(2, pathways=2, sources=[(0, 1)]), ValueError, "sources"),
    (lambda A: dln.Architecture(2, biases="first"), ValueError, "biases"),
    (lambda A: dln.Architecture(2, pathways=2, biases="all"), ValueError, "biases"),
    (lambda A: dln.Protocol(A, depth=2, deficits=Freeze(3, 0.0, 1.0)), ValueError, "pathway"),
])
def test_bad_protocols_name_the_argument(pair, make, error, match):
    with pytest.raises(error, match=match):
        make(pair[0])


# ------------------------------------------------------------------- same numbers, same engine
def test_one_open_phase_is_its_task_bit_for_bit(pair):
    A, _ = pair
    w = dln.init.balanced(jax.random.key(0), [3, 4, 3], 0.1)
    p = dln.Protocol(A, depth=2)
    np.testing.assert_array_equal(dln.simulate(p, w, lr=0.01, steps=40, every=10).map,
                                  dln.simulate(A, w, lr=0.01, steps=40, every=10).map)
    t = np.linspace(0, 5, 6)
    np.testing.assert_array_equal(dln.solve(dln.Protocol(A, depth=3), u0=1e-3, t=t).modes,
                                  dln.solve(A, depth=3, u0=1e-3, t=t).modes)


def test_pathway_protocol_is_the_pathway_engines_bit_for_bit(pair):
    A, _ = pair
    deficit = Freeze(1, 0.5, 1.0)
    p = dln.Protocol([(A, 3.0)], architecture=dln.Architecture(depth=2, pathways=2),
                     deficits=deficit)
    ws = dln.pathways.aligned(A, 2, [1e-2, 1e-2])
    sim = dln.simulate(p, ws, lr=0.05, every=20)  # 3.0 / 0.05 = 60 steps
    ref = dln.pathways.simulate(A, ws, lr=0.05, steps=60, every=20, deficit=deficit)
    np.testing.assert_array_equal(sim.modes, ref.modes)
    exact = dln.solve(p, u0=[1e-2, 1e-2], t=sim.t)  # the times clipped at the end: rounding
    np.testing.assert_allclose(
        exact.modes, dln.pathways.solve(A, depth=2, u0=[1e-2, 1e-2], t=sim.t,
                                        deficit=deficit).modes, rtol=1e-14, atol=1e-16)
    # records after the protocol's end hold its final state
    late = dln.solve(p, u0=[1e-2, 1e-2], t=[3.0, 7.0])
    np.testing.assert_array_equal(late.modes[0], late.modes[1])
    np.testing.assert_array_equal(late.t, [3.0, 7.0])


def test_schedule_calls_are_protocols(pair):
    A, B = pair
    w = dln.init.balanced(jax.random.key(1), [3, 3, 3], 0.1)
    sched = [(A, 1.0), (B, 1.5)]
    p = dln.Protocol(sched, depth=2)
    np.testing.assert_array_equal(dln.schedule.simulate(sched, w, lr=0.05, every=5).map,
                                  dln.simulate(p, w, lr=0.05, every=5).map)
    np.testing.assert_array_equal(dln.schedule.solve(sched, weights=w).map,
                                  dln.solve(p, weights=w).map)


# ------------------------------------------------------------------ theory against descent
def test_phases_from_a_deep_mode_solution_match_descent_linearly_in_lr(pair):
    """Depth 3 from u0: phase 1 by the implicit closed form, phase 2 integrated from its final
    (balanced, aligned) weights; gradient descent from the same aligned init differs by O(lr)."""
    A, B = pair
    p = dln.Protocol([(A, 3.0), (B, 3.0)], depth=3)
    t = np.linspace(0.0, 6.0, 7)
    exact = dln.solve(p, u0=0.05, t=t)
    assert exact.phase_methods == ("exact-implicit", "numerical-flow")
    assert float(jnp.max(exact.error_estimate)) < 1e-8
    w = dln.init.aligned(A, 3, u0=0.05)
    lrs = np.array([0.02, 0.01, 0.005])
    errors = []
    for lr in lrs:
        sim = dln.simulate(p, w, lr=lr, every=int(round(1.0 / lr)))
        np.testing.assert_allclose(sim.t, t, atol=1e-12)
        np.testing.assert_array_equal(sim.phase, exact.phase)
        errors.append(float(jnp.max(jnp.abs(sim.map - exact.map))))
    assert errors[-1] < 0.05
    assert 0.85 < _slope(lrs, errors) < 1.15


def test_weight_decay_and_an_lr_schedule_across_a_task_switch(pair):
    """New with one loop: weight decay through phases, and a decaying learning rate whose flow
    time `Σ lr` sets where the phases switch; both converge to the exact flow at O(lr)."""
    A, B = pair
    gamma = 0.2
    p = dln.Protocol([(A, 2.0), (B, 2.0)], depth=2)
    w = dln.init.balanced(jax.random.key(2), [3, 3, 3], 0.2)
    exact = dln.solve(p, weights=w, t=np.linspace(0.0, 4.0, 5), weight_decay=gamma)
    # balanced weights stay balanced under weight decay: the two-layer closed form in each phase
    assert exact.phase_methods == ("exact-riccati", "exact-riccati")
    decay_errors, schedule_errors, lrs = [], [], np.array([0.02, 0.01, 0.005])
    for lr in lrs:
        sim = dln.simulate(p, w, lr=lr, every=int(round(1.0 / lr)), weight_decay=gamma)
        decay_errors.append(float(jnp.max(jnp.abs(sim.map - exact.map))))
        # lr_k = lr (1 + 1/(1 + k lr)) decays from 2 lr to lr: phase ends are where Σ lr
        # reaches them, and the theory is read at the recorded flow times
        schedule = lambda k, lr=lr: lr * (1.0 + 1.0 / (1.0 + k * lr))  # noqa: E731
        steps = int(round(3.0 / lr))
        ann = dln.simulate(p, w, lr=schedule, steps=steps, every=steps // 6)
        theory = dln.solve(p, weights=w, t=np.asarray(ann.t))
        assert np.all(np.diff(np.asarray(ann.t)) > 0)
        schedule_errors.append(float(jnp.max(jnp.abs(ann.map - theory.map))))
    assert decay_errors[-1] < 0.02 and schedule_errors[-1] < 0.05
    assert 0.85 < _slope(lrs, decay_errors) < 1.15
    assert 0.8 < _slope(lrs, schedule_errors) < 1.2


def test_batched_durations_zip_with_weights_and_freeze_after_the_end(pair):
    A, B = pair
    p = dln.Protocol([(A, np.array([0.5, 1.0])), (B, 0.5)], depth=2)
    w = dln.init.balanced(jax.random.key(3), [3, 3, 3], 0.1)
    batch = [jnp.stack([W, 2 * W]) for W in w]
    sim = dln.simulate(p, batch, lr=0.05, every=2)
    assert sim.map.shape[:2] == (2, 16) and sim.t.shape == (16,)
    for b, (d, scale) in enumerate([(0.5, 1.0), (1.0, 2.0)]):
        one = dln.simulate(dln.Protocol([(A, d), (B, 0.5)], depth=2), [scale * W for W in w],
                           lr=0.05, every=2)
        T = one.map.shape[0]
        np.testing.assert_allclose(sim.map[b, :T], one.map, rtol=0, atol=1e-14)
        after = sim.map[b, T:]  # frozen after the end
        np.testing.assert_allclose(after, np.broadcast_to(one.map[-1], after.shape), rtol=0,
                                   atol=1e-14)


def test_biases_through_phases_are_simulated_and_refused_exactly(pair):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3)) + 1.0
    A = dln.Task.from_data(X, X @ rng.normal(size=(3, 2)) + 0.5)
    B = dln.Task.from_data(X, X @ rng.normal(size=(3, 2)) - 0.5)
    arch = dln.Architecture(depth=2, biases="output")
    p = dln.Protocol([(A, 1.0), (B, 1.0)], architecture=arch)
    w = dln.init.balanced(jax.random.key(4), [3, 3, 2], 0.1)
    sim = dln.simulate(p, w, lr=0.01, every=50)
    assert sim.final_biases[0] is None and sim.final_biases[1].shape == (2,)
    assert np.all(np.diff(np.asarray(sim.phase_loss[:3, 0])) < 0)  # learning A
    with pytest.raises(ValueError, match="biases"):
        dln.solve(p, weights=w)


@pytest.mark.parametrize("call, error, match", [
    (lambda A, w: dln.solve(dln.Protocol(A, depth=2), depth=3, u0=0.1, t=1.0), ValueError,
     "depth"),
    (lambda A, w: dln.solve(dln.Protocol(A, architecture=dln.Architecture(
        2, pathways=2, sources=[(0, 1), (1, 3)])), u0=[0.1, 0.1], t=1.0), ValueError, "sources"),
    (lambda A, w: dln.solve(dln.Protocol(A, architecture=dln.Architecture(2, pathways=2)),
                            weights=w, t=1.0), ValueError, "u0"),
    (lambda A, w: dln.solve(dln.Protocol(A, architecture=dln.Architecture(2, pathways=2)),
                            u0=[0.1, 0.1, 0.1], t=1.0), ValueError, "u0"),
    (lambda A, w: dln.solve(dln.Protocol(A, architecture=dln.Architecture(2, pathways=2)),
                            u0=[0.1, 0.1], t=1.0, method="numerical-flow"), ValueError,
     "method"),
    (lambda A, w: dln.solve(dln.Protocol([(A, 1.0), (A, 1.0)], depth=2), weights=w, u0=0.1),
     TypeError, "u0"),
    (lambda A, w: dln.solve(dln.Protocol([(A, 1.0), (A, np.inf)], depth=2), weights=w),
     TypeError, "`t`"),
    (lambda A, w: dln.simulate(dln.Protocol(A, depth=2), w, lr=0.01), TypeError, "steps"),
    (lambda A, w: dln.simulate(A, w, lr=0.01), TypeError, "steps"),
    (lambda A, w: dln.simulate(dln.Protocol([(A, 0.015)], depth=2), w, lr=0.01), ValueError,
     "whole numbers of steps"),
    (lambda A, w: dln.simulate(dln.Protocol([(A, 1.0)], depth=2), w, lr=lambda k: 0.01),
     TypeError, "steps"),
    (lambda A, w: dln.simulate(dln.Protocol(A, architecture=dln.Architecture(2, pathways=2)),
                               [w, w], lr=0.01, steps=10, weight_decay=-0.1), ValueError,
     "weight_decay"),
    (lambda A, w: dln.simulate(dln.Protocol(A, architecture=dln.Architecture(2, pathways=2)),
                               [w], lr=0.01, steps=10), ValueError, "weights"),
    (lambda A, w: dln.simulate(dln.Protocol([(A, np.array([1.0, 2.0]))], depth=2), w,
                               lr=np.array([0.01, 0.02, 0.03])), ValueError, "zipped"),
    (lambda A, w: dln.simulate("task", w, lr=0.01, steps=1), TypeError, "Protocol"),
])
def test_what_no_engine_runs_is_refused_by_name(pair, call, error, match):
    w = dln.init.balanced(jax.random.key(6), [3, 3, 3], 0.1)
    with pytest.raises(error, match=match):
        call(pair[0], w)


def test_pathway_protocols_carry_weight_decay_and_schedules():
    """A protocol with pathways passes weight decay to the exact competition and to the
    pathway simulator, and a schedule to the simulator: the same numbers as calling them."""
    task = dln.datasets.hierarchy(2)
    arch = dln.Architecture(3, pathways=2)
    deficit = dln.pathways.Freeze(1, 0.0, 2.0)
    protocol = dln.Protocol(task, architecture=arch, deficits=deficit)
    t = np.linspace(0.0, 6.0, 4)
    via = dln.solve(protocol, u0=[0.05, 0.05], t=t, weight_decay=0.05)
    direct = dln.pathways.solve(task, depth=3, u0=(0.05, 0.05), t=t, deficit=deficit,
                                weight_decay=0.05)
    np.testing.assert_allclose(via.modes, direct.modes, rtol=1e-12)
    weights = dln.pathways.aligned(task, 3, (0.05, 0.05))
    schedule = lambda k: 0.02 * 0.999 ** k  # noqa: E731
    sim = dln.simulate(protocol, weights, lr=schedule, steps=300, every=100, weight_decay=0.05)
    ref = dln.pathways.simulate(task, weights, lr=schedule, steps=300, every=100,
                                deficit=deficit, weight_decay=0.05)
    np.testing.assert_allclose(sim.modes, ref.modes, rtol=1e-12)
    np.testing.assert_allclose(sim.t, ref.t, rtol=1e-12)
