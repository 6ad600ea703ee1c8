"""`Trajectory`: its short repr, `save`/`load` through a portable `.npz` (no pickle) for every
kind of trajectory, and `plot` (theory as lines, simulations as markers)."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import dln  # noqa: E402
from dln import completion, pathways  # noqa: E402


@functools.cache
def _task():
    rng = np.random.default_rng(0)
    return dln.Task.from_data(rng.normal(size=(30, 3)), rng.normal(size=(30, 4)))


@functools.cache
def _white_task():
    U, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 3)))
    return dln.Task(np.eye(3), U @ np.diag([2.0, 1.0, 0.5]))


def _solution():
    return dln.solve(_white_task(), depth=3, u0=1e-3, t=np.linspace(0.0, 20.0, 40))


def _batched_simulation_with_biases():
    ws = dln.init.gaussian(jax.random.key(0), [3, 5, 4], 0.1)
    batch = [jnp.stack([w, 0.5 * w]) for w in ws]
    return dln.simulate(_task(), batch, biases=[None, jnp.zeros((2, 4))], lr=0.05, steps=40,
                        every=10)


def _pathways():
    return pathways.solve(_white_task(), depth=2, u0=(0.01, 0.02), t=np.linspace(0, 6, 13))


def _pathways_simulation():
    task = _white_task()
    return pathways.simulate(task, pathways.aligned(task, 2, (0.01, 0.02)), lr=0.05, steps=20,
                             every=10)


def _schedule():
    w0 = dln.init.gaussian(jax.random.key(1), [3, 4, 4], 0.1)
    return dln.schedule.simulate([(_white_task(), 0.5), (_task(), 0.5)], w0, lr=0.05, every=2)


def _spectral():
    task = dln.Task.from_spectrum([3.0, 1.0, 0.2], input_variance=[1.0, 0.5, 2.0], n_in=5,
                                  sigma_yy=np.full(3, 10.0))
    return dln.solve(task, depth=2, u0=1e-2, t=np.linspace(0.0, 10.0, 11))


def _completion():
    k = jax.random.split(jax.random.key(0), 3)
    problem = completion.Problem(completion.low_rank_matrix(k[0], 6, 2),
                                 completion.observation_masks(k[1], 6, [20])[0])
    return completion.simulate([(problem, 0.2)], completion.init(k[2], 6, 2, 1e-2), lr=0.1)


KINDS = {"solve": _solution, "simulate batched with biases": _batched_simulation_with_biases,
         "pathways": _pathways, "pathways simulation": _pathways_simulation,
         "schedule": _schedule, "from_spectrum": _spectral, "completion": _completion}


@pytest.mark.parametrize("kind", list(KINDS))
def test_save_and_load_round_trip(kind, tmp_path):
    traj = KINDS[kind]()
    path = traj.save(tmp_path / "run")
    assert path.endswith("run.npz")
    with np.load(path, allow_pickle=False) as data:  # plain arrays and one JSON string
        assert all(data[name].dtype != object for name in data.files)
        header = json.loads(str(data["__dln_trajectory__"]))
    assert header["fields"]["method"] == {"value": traj.method}
    back = dln.Trajectory.load(path)
    # the same pytree: fields, static fields (method, depth, pathways, …), task structure
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(traj)
    for a, b in zip(jax.tree_util.tree_leaves(traj), jax.tree_util.tree_leaves(back)):
        assert np.asarray(a).dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), b)
    for f in dataclasses.fields(traj):  # lists stay lists, tuples tuples
        assert type(getattr(back, f.name)) is type(getattr(traj, f.name)) or \
            isinstance(getattr(traj, f.name), jax.Array)
    for old, new in zip(traj.tasks or (traj.task,), back.tasks or (back.task,)):
        assert type(new) is type(old)
    if isinstance(traj.task, dln.Task):  # the rebuilt task computes what the original did
        W = np.asarray(traj.final_map if traj.pathways is None else traj.total_map[..., -1, :, :])
        np.testing.assert_allclose(np.asarray(back.task.loss(W)), np.asarray(traj.task.loss(W)),
                                   rtol=1e-14)
        np.testing.assert_allclose(np.asarray(back.loss), np.asarray(traj.loss))


def test_loaded_trajectories_keep_working(tmp_path):
    traj = _solution()
    back = dln.Trajectory.load(traj.save(tmp_path / "a.npz"))
    np.testing.assert_allclose(np.asarray(back.time_to(0.5)), np.asarray(traj.time_to(0.5)),
                               rtol=1e-14)
    np.testing.assert_allclose(np.asarray(back.map), np.asarray(traj.map), atol=1e-15)
    sched = _schedule()
    back = dln.Trajectory.load(sched.save(tmp_path / "b.npz"))
    np.testing.assert_allclose(np.asarray(back.final_losses), np.asarray(sched.final_losses),
                               rtol=1e-13)
    spectral = _spectral()
    back = dln.Trajectory.load(spectral.save(tmp_path / "c.npz"))
    assert isinstance(back.task, dln.tasks.task.SpectralTask)
    assert float(back.task.min_loss) == pytest.approx(float(spectral.task.min_loss), rel=1e-15)


def test_riccati_trajectory_saves_its_maps(tmp_path):
    # the maps and weights of an exact-riccati trajectory are computed when read; saved, they
    # are stored as arrays
    task = _white_task()
    weights = dln.init.balanced(jax.random.key(1), [3, 2, 4], 0.3, 0.0)
    traj = dln.solve(task, weights=weights, t=np.linspace(0.0, 5.0, 6))
    assert "stored_map" in repr(traj) and "recorded_weights" in repr(traj)
    back = dln.Trajectory.load(traj.save(tmp_path / "riccati"))
    np.testing.assert_array_equal(back.stored_map, np.asarray(traj.map))
    for a, b in zip(back.recorded_weights, traj.recorded_weights):
        np.testing.assert_array_equal(a, np.asarray(b))
    np.testing.assert_array_equal(back.loss, np.asarray(traj.loss))


def test_save_refuses_what_it_cannot_store(tmp_path):
    traj = dataclasses.replace(_solution(), final_weights=[object()])
    with pytest.raises(TypeError, match=r"`final_weights\[0\]`.*object"):
        traj.save(tmp_path / "x")

    @jax.jit
    def inside(t):
        return dln.solve(_white_task(), depth=2, u0=1e-2, t=t).save(str(tmp_path / "y"))

    with pytest.raises(ValueError, match="traced"):
        inside(jnp.array([1.0]))
    with pytest.raises(TypeError, match="`path`"):
        _solution().save(3)
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not a file written by Trajectory.save"):
        dln.Trajectory.load(tmp_path / "plain.npz")


@pytest.mark.parametrize("kind", list(KINDS))
def test_repr_is_short_and_names_what_is_set(kind):
    traj = KINDS[kind]()
    text = repr(traj)
    assert text.startswith("Trajectory(") and len(text) < 300, text
    assert f"method={traj.method!r}" in text and f"depth={traj.depth}" in text
    assert f"T={np.shape(traj.t)[-1]}" in text
    assert "[" not in text and "array" not in text  # shapes only, never an array's values
    listed = text.rstrip(")").split("set: ")[1].split(", ") if "set: " in text else []
    expected = [f.name for f in dataclasses.fields(traj) if getattr(traj, f.name) is not None
                and f.name not in ("t", "modes", "loss", "task", "method", "depth", "pathways")]
    assert listed == expected


def test_repr_of_a_solution():
    assert repr(_solution()) == ("Trajectory(method='exact-implicit', depth=3, T=40, K=3, "
                                 "modes=(40, 3), loss=(40,), task=Task(3→4), set: u0)")


def _new_axes():
    return Figure().subplots()


def test_plot_modes_draws_theory_lines_and_simulation_markers():
    task = _white_task()
    theory = dln.solve(task, depth=2, u0=1e-3, t=np.linspace(0.0, 10.0, 101))
    sim = dln.simulate(task, dln.init.aligned(None, task, depth=2, u0=1e-3), lr=0.05, steps=200,
                       every=2)
    ax = theory.plot(_new_axes(), simulation=sim, markers=20)
    lines = [ln for ln in ax.lines if ln.get_linestyle() == "-"]
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(ax.lines) == 6 and len(lines) == 3 and len(dots) == 3  # one of each per mode
    assert all(len(ln.get_xdata()) == 101 for ln in lines)
    assert all(len(ln.get_xdata()) == 101 // 5 + 1 for ln in dots)  # every 5th of 101 records
    assert [ln.get_color() for ln in lines] == [ln.get_color() for ln in dots]
    assert len({ln.get_color() for ln in lines}) == 3  # one colour per mode
    np.testing.assert_allclose(lines[1].get_ydata(), np.asarray(theory.modes[:, 1]))
    assert "flow time" in ax.get_xlabel() and "lr × steps" in ax.get_xlabel()
    assert "mode strength" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["dln.solve (exact-logistic)", "gradient descent (dln.simulate)",
                      "mode 0 (s = 2)", "mode 1 (s = 1)", "mode 2 (s = 0.5)"]


def test_plot_loss_and_options():
    theory = _solution()
    ax = theory.plot(_new_axes(), what="loss")
    assert len(ax.lines) == 1 and ax.get_ylabel() == "loss L(t)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.asarray(theory.loss))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dln.solve (exact-implicit)"]
    ax = theory.plot(_new_axes(), modes=[2])
    assert len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.asarray(theory.modes[:, 2]))
    # a batched simulation alone: markers of the chosen run
    sim = _batched_simulation_with_biases()
    ax = sim.plot(_new_axes(), batch=1, what="loss")
    assert len(ax.lines) == 1 and ax.lines[0].get_marker() == "o"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.asarray(sim.loss[1]))
    # pathways: the modes summed over pathways
    ax = _pathways().plot(_new_axes())
    assert len(ax.lines) == 3 and "sum over pathways" in ax.get_ylabel()
    # without ax: a new pyplot figure
    import matplotlib.pyplot as plt

    ax = theory.plot()
    assert len(ax.lines) == 3
    plt.close(ax.figure)


@pytest.mark.parametrize("call, error, words", [
    (lambda: _solution().plot(_new_axes(), what="map"), ValueError, ["`what`"]),
    (lambda: _solution().plot(_new_axes(), simulation="sim"), TypeError, ["`simulation`"]),
    (lambda: _solution().plot(_new_axes(), modes=[5]), ValueError, ["`modes`", "0..2"]),
    (lambda: _solution().plot(_new_axes(), markers=0), ValueError, ["`markers`"]),
    (lambda: _batched_simulation_with_biases().plot(_new_axes()), ValueError, ["`batch=i`"]),
    (lambda: _batched_simulation_with_biases().plot(_new_axes(), batch=5), ValueError,
     ["`batch`"]),
    (lambda: _completion().plot(_new_axes()), ValueError, ["no modes", "what='loss'"]),
    (lambda: _solution().plot(_new_axes(), simulation=dln.solve(
        dln.Task.from_spectrum([1.0, 0.5]), depth=2, u0=1e-3, t=[0.0, 1.0])), ValueError,
     ["`simulation` has 2 modes", "same task"]),
])
def test_plot_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
