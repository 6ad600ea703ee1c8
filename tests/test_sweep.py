"""dln.sweep: grid layout, chunk padding, atomic save, resume after an interruption, refusals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dln import sweep


def _fn(p):
    # a per-point result that depends on every parameter, with a trailing axis
    return {"a": p["x"] * 10 + p["y"], "b": (p["x"][:, None] + jnp.arange(3.0) * p["y"][:, None],)}


GRID = {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([0.5, 0.25])}


def _expected():
    x, y = np.meshgrid(GRID["x"], GRID["y"], indexing="ij")
    return x * 10 + y, x[..., None] + np.arange(3.0) * y[..., None]


def test_product_grid_layout_and_fixed_chunk_shape():
    seen = []

    def fn(p):
        seen.append({k: v.copy() for k, v in p.items()})
        return _fn(p)

    out = sweep.run(fn, GRID, chunk=4, progress=False)
    a, b = _expected()
    assert out["a"].shape == (3, 2) and isinstance(out["b"], tuple)
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"][0], b)
    # 6 points in chunks of 4: two calls, both of 4 points (the last padded with its final point)
    assert [len(c["x"]) for c in seen] == [4, 4]
    np.testing.assert_array_equal(seen[1]["x"], [3.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(seen[1]["y"], [0.5, 0.25, 0.25, 0.25])


def test_zipped_grid_and_single_array_output():
    out = sweep.run(jax.jit(lambda p: p["x"] * p["y"]),
                    {"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]}, product=False, chunk=2,
                    progress=False)
    np.testing.assert_array_equal(out, [4.0, 10.0, 18.0])


def test_progress_bar_on_stderr(capsys):
    sweep.run(_fn, GRID, chunk=2, progress="my sweep")
    err = capsys.readouterr().err
    assert "my sweep" in err and "3/3 chunks" in err and "6/6 points" in err


def test_save_after_each_chunk_and_resume(tmp_path):
    path = tmp_path / "s.npz"
    calls = []

    def failing(p):
        calls.append(p["x"].copy())
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted during the second chunk
        return _fn(p)

    with pytest.raises(KeyboardInterrupt):
        sweep.run(failing, GRID, chunk=2, path=path, progress=False)
    assert path.exists() and not list(tmp_path.glob("*.tmp*"))  # first chunk saved, atomically

    resumed = []

    def fn(p):
        resumed.append(p["x"].copy())
        return _fn(p)

    out = sweep.run(fn, GRID, chunk=2, path=path, progress=False)
    assert len(resumed) == 2  # only the two chunks not saved yet
    np.testing.assert_array_equal(resumed[0], [2.0, 2.0])
    a, b = _expected()
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"][0], b)

    # complete file: nothing is recomputed, even with another chunk size
    again = sweep.run(lambda p: pytest.fail("recomputed"), GRID, chunk=5, path=path,
                      progress=False)
    np.testing.assert_array_equal(again["a"], a)


def test_refuses_a_file_of_another_grid(tmp_path):
    path = tmp_path / "s.npz"
    sweep.run(_fn, GRID, path=path, progress=False)
    with pytest.raises(ValueError, match="different grid"):
        sweep.run(_fn, {"x": GRID["x"], "y": np.array([0.5, 0.3])}, path=path, progress=False)
    with pytest.raises(ValueError, match="different grid"):
        sweep.run(_fn, {"y": GRID["y"], "x": GRID["x"]}, path=path, progress=False)
    (tmp_path / "junk.npz").write_bytes(b"not a sweep")
    with pytest.raises(ValueError, match="not a sweep file"):
        sweep.run(_fn, GRID, path=tmp_path / "junk.npz", progress=False)


def test_bad_input_messages():
    with pytest.raises(TypeError, match="`grid`"):
        sweep.run(_fn, {}, progress=False)
    with pytest.raises(ValueError, match=r"`grid\['x'\]`"):
        sweep.run(_fn, {"x": np.ones((2, 2))}, progress=False)
    with pytest.raises(ValueError, match="equal lengths"):
        sweep.run(_fn, {"x": [1.0], "y": [1.0, 2.0]}, product=False, progress=False)
    with pytest.raises(ValueError, match="`chunk`"):
        sweep.run(_fn, GRID, chunk=0, progress=False)
    with pytest.raises(ValueError, match="leading batch axis of length 2"):
        sweep.run(lambda p: {"a": p["x"][:1]}, GRID, chunk=2, progress=False)
    with pytest.raises(TypeError, match="pick the fields"):
        sweep.run(lambda p: 3.0, GRID, progress=False)
