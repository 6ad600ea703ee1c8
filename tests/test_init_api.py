"""One calling convention for every initialiser: `init.NAME(key, task_or_dims, *, depth, width,
…)`, a task and the layer sizes it stands for giving the same weights; the older forms kept."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dln
from dln import init

KEY = jax.random.key(3)


def _task(n_in=5, n_out=3):
    rng = np.random.default_rng(0)
    return dln.Task.from_data(rng.normal(size=(40, n_in)), rng.normal(size=(40, n_out)))


TASK = _task()  # Ni = 5, No = 3, K = 3


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name, options", [
    ("gaussian", dict(scale=0.1)),
    ("gaussian", dict()),  # default scale 1/√fan_in
    ("orthogonal", dict(scale=0.5)),
    ("balanced", dict(scale=0.2, lam=0.3)),
    ("balanced", dict(scale=0.2, lam=-0.3)),
    ("balanced", dict()),
])
def test_task_and_dims_give_the_same_weights(name, options):
    fn = getattr(init, name)
    # (λ > 0 needs hidden widths <= No = 3, λ < 0 widths <= Ni = 5)
    width = 3 if options.get("lam", 0) > 0 else 4
    from_task = fn(KEY, TASK, depth=3, width=width, **options)
    dims = [5, width, width, 3]
    _same(from_task, fn(KEY, dims, **options))
    assert [w.shape for w in from_task] == [(o, i) for i, o in zip(dims, dims[1:])]


def test_default_width_is_the_number_of_modes_and_width_lists_work():
    _same(init.gaussian(KEY, TASK, depth=3, scale=0.1), init.gaussian(KEY, [5, 3, 3, 3], 0.1))
    _same(init.orthogonal(KEY, TASK, depth=3, width=[6, 2]), init.orthogonal(KEY, [5, 6, 2, 3]))
    assert [w.shape for w in init.gaussian(KEY, TASK, depth=1)] == [(3, 5)]


def test_old_positional_calls_are_unchanged():
    """The positional forms the test suite uses ~80 times give what the keyword forms give."""
    dims = [5, 4, 3]
    _same(init.gaussian(KEY, dims, 0.1), init.gaussian(KEY, TASK, scale=0.1, depth=2, width=4))
    _same(init.gaussian(KEY, dims, 0.1, jnp.float32),
          init.gaussian(KEY, dims, scale=0.1, dtype=jnp.float32))
    assert init.gaussian(KEY, dims, 0.1, jnp.float32)[0].dtype == jnp.float32
    _same(init.balanced(KEY, dims, 0.1, lam=-0.2), init.balanced(KEY, TASK, 0.1, -0.2, depth=2,
                                                                    width=4))
    _same(init.orthogonal(KEY, dims, 0.5), init.orthogonal(KEY, TASK, 0.5, depth=2, width=4))


def test_default_gaussian_scale_is_one_over_root_fan_in():
    ws = init.gaussian(KEY, [400, 300, 20], None)
    for w, fan_in in zip(ws, (400, 300)):
        assert abs(float(jnp.std(w)) * np.sqrt(fan_in) - 1.0) < 0.02


def test_aligned_both_forms_give_identical_weights():
    for key in (None, KEY):
        old = init.aligned(TASK, 3, width=4, u0=2e-3, key=key)
        new = init.aligned(key, TASK, depth=3, width=4, u0=2e-3)
        _same(old, new)
        _same(old, init.aligned(TASK, 3, 4, 2e-3, key))  # all positional, the old order
        assert [w.shape for w in new] == [(4, 5), (4, 4), (3, 4)]
    # the map is U diag(u0) Vᵀ: the modes start at u0
    strengths = TASK.mode_strengths(dln.network.product(init.aligned(None, TASK, depth=3,
                                                                     u0=2e-3)))
    np.testing.assert_allclose(np.asarray(strengths), 2e-3, rtol=1e-10)
    _same(init.aligned(TASK, depth=2), init.aligned(None, TASK, depth=2))  # u0 default 1e-3


def test_initialisers_work_under_jit_with_the_task_form():
    f = jax.jit(lambda key, task: init.gaussian(key, task, depth=2, width=4, scale=0.1))
    for a, b in zip(f(KEY, TASK), init.gaussian(KEY, [5, 4, 3], 0.1)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-14)
    g = jax.jit(lambda task: init.aligned(None, task, depth=2, u0=1e-2))
    for a, b in zip(g(TASK), init.aligned(TASK, 2, u0=1e-2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("call, error, words", [
    (lambda: init.gaussian(KEY, TASK, scale=0.1), TypeError, ["`depth`", "gaussian(key, task"]),
    (lambda: init.balanced(KEY, TASK), TypeError, ["`depth`"]),
    (lambda: init.orthogonal(KEY, [5, 4, 3], width=4), TypeError, ["`width`", "dims"]),
    (lambda: init.gaussian(KEY, [5, 4, 3], 0.1, depth=3), ValueError,
     ["`depth` = 3", "2 weight matrices"]),
    (lambda: init.gaussian(KEY, TASK, 0.1, depth=3, width=[4]), ValueError, ["`width`"]),
    (lambda: init.gaussian(KEY, TASK, 0.1, depth=0), ValueError, ["`depth`"]),
    (lambda: init.gaussian(KEY, "task", 0.1), TypeError, ["`task_or_dims`", "dln.Task"]),
    (lambda: init.gaussian(KEY, TASK, -1.0, depth=2), ValueError, ["`scale`"]),
    (lambda: init.aligned(KEY, TASK), TypeError, ["`depth`"]),
    (lambda: init.aligned(KEY, [5, 4, 3], depth=2), TypeError,
     ["dln.Task", "layer sizes", "gaussian"]),
    (lambda: init.aligned(KEY, "task", depth=2), TypeError, ["`task`", "str"]),
    (lambda: init.aligned(3, TASK, depth=2), TypeError, ["`key`"]),
    (lambda: init.aligned(KEY, TASK, depth=2, key=KEY), TypeError, ["`key`", "two values"]),
    (lambda: init.aligned(TASK, 2, depth=2), TypeError, ["`depth`", "two values"]),
    (lambda: init.aligned(TASK, 2, None, 2e-3, u0=1e-3), TypeError, ["`u0`", "two values"]),
    (lambda: init.aligned(TASK), TypeError, ["`depth`"]),
    (lambda: init.aligned(KEY, TASK, 2), TypeError, ["keyword"]),
    (lambda: init.aligned(), TypeError, ["needs a task"]),
    (lambda: init.aligned(None, TASK, depth=2, u0=-1.0), ValueError, ["`u0`"]),
])
def test_errors_name_the_argument(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
