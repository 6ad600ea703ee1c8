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
        sweep.run(failing, GRID, chunk=2, path=path, progress=False, key="resume test")
    assert path.exists() and not list(tmp_path.glob("*.tmp*"))  # first chunk saved, atomically

    resumed = []

    def fn(p):
        resumed.append(p["x"].copy())
        return _fn(p)

    out = sweep.run(fn, GRID, chunk=2, path=path, progress=False, key="resume test")
    assert len(resumed) == 2  # only the two chunks not saved yet
    np.testing.assert_array_equal(resumed[0], [2.0, 2.0])
    a, b = _expected()
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"][0], b)

    # complete file: nothing is recomputed, even with another chunk size
    # (`failing`, `fn` and this lambda differ in code: the same `key` says they compute the same)
    again = sweep.run(lambda p: pytest.fail("recomputed"), GRID, chunk=5, path=path,
                      progress=False, key="resume test")
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


# ----- unreadable files: a clear error naming the file, and the file left as it is ------------

def _never(p):
    pytest.fail("`fn` was called although the sweep file must be refused first")


def _good_file(tmp_path):
    path = tmp_path / "s.npz"
    sweep.run(_fn, GRID, path=path, progress=False)
    return path, path.read_bytes()


@pytest.mark.parametrize("cut", ["half", "end", "start"])
def test_truncated_file_is_refused_and_kept(tmp_path, cut):
    path, good = _good_file(tmp_path)
    bad = {"half": good[:len(good) // 2], "end": good[:-10], "start": good[:10]}[cut]
    path.write_bytes(bad)
    with pytest.raises(sweep.SweepFileError, match="truncated or corrupted") as err:
        sweep.run(_never, GRID, path=path, progress=False)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert repr(str(path)) in msg and "cannot be read back" in msg and "delete it" in msg
    assert path.read_bytes() == bad  # never overwritten


def test_corrupted_bytes_are_refused(tmp_path):
    path, good = _good_file(tmp_path)
    # flip one byte of the saved results (the value 1 * 10 + 0.5 of out["a"][0, 0]): the zip's
    # CRC check must catch it instead of returning a wrong number
    at = good.find(np.float64(10.5).tobytes())
    assert at > 0
    bad = bytearray(good)
    bad[at + 3] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(sweep.SweepFileError, match=r"truncated or corrupted \(BadZipFile"):
        sweep.run(_never, GRID, path=path, progress=False)
    assert path.read_bytes() == bytes(bad)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"'.*empty\.npz' is not a sweep file.*empty \(0 bytes\)"):
        sweep.run(_never, GRID, path=path, progress=False)
    assert path.read_bytes() == b""


def test_npz_of_another_program_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(sweep.SweepFileError, match="without the 'meta' entry"):
        sweep.run(_never, GRID, path=path, progress=False)


# ----- fingerprint of what was computed ------------------------------------------------------

def _times(k):
    def fn(p):
        return {"a": p["x"] * k + p["y"]}
    return fn


def test_changed_function_is_refused(tmp_path):
    path = tmp_path / "s.npz"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(_interrupt_after(1, lambda p: {"a": p["x"] * 10 + p["y"]}), GRID, chunk=2,
                  path=path, progress=False)
    with pytest.raises(KeyboardInterrupt):  # the same code, interrupted again: accepted
        sweep.run(_interrupt_after(0, lambda p: {"a": p["x"] * 10 + p["y"]}), GRID, chunk=2,
                  path=path, progress=False)
    saved_fp = sweep._fingerprint(_interrupt_after(0, lambda p: {"a": p["x"] * 10 + p["y"]}))[0]
    changed = lambda p: {"a": p["x"] * 11 + p["y"]}
    now_fp = sweep._fingerprint(changed)[0]
    assert now_fp != saved_fp
    with pytest.raises(sweep.SweepFileError, match="another function") as err:
        sweep.run(lambda p: pytest.fail("called"), GRID, chunk=2, path=path, progress=False)
    msg = str(err.value)
    assert repr(str(path)) in msg and "`key=`" in msg and "delete the file" in msg
    with pytest.raises(sweep.SweepFileError, match=f"fingerprint {saved_fp} of .* in the file, "
                                                  f"{now_fp} of .* now"):
        sweep.run(changed, GRID, chunk=2, path=path, progress=False)
    # another value captured in a closure is another function too
    assert sweep._fingerprint(_times(10))[0] != sweep._fingerprint(_times(11))[0]
    assert sweep._fingerprint(_times(10))[0] == sweep._fingerprint(_times(10))[0]
    # the way out named in the message: `key=` the fingerprint stored in the file
    out = sweep.run(changed, GRID, chunk=2, path=path, progress=False, key=saved_fp)
    x, y = np.meshgrid(GRID["x"], GRID["y"], indexing="ij")
    np.testing.assert_array_equal(out["a"][0], x[0] * 10 + y[0])  # saved by the first function
    np.testing.assert_array_equal(out["a"][2], x[2] * 11 + y[2])  # computed by `changed`


def _interrupt_after(n_calls, fn):
    calls = []

    def wrapped(p):
        if len(calls) == n_calls:
            raise KeyboardInterrupt
        calls.append(1)
        return fn(p)

    wrapped.__wrapped__ = fn  # seen through, like jax.jit: the fingerprint is fn's
    return wrapped


SOURCE = '''
import jax.numpy as jnp
SCALE = {scale}
def fn(p):
    """A docstring: not part of the fingerprint."""
    names = {{"x", "y", "z", "w", "v"}}  # a frozenset constant: its order varies per process
    return {{"a": p["x"] * SCALE + sum(p[k] for k in sorted(names & set(p)) if k != "x")}}
'''


def _define(scale=10, doc="A docstring: not part of the fingerprint."):
    namespace = {"__name__": "my_experiment"}
    source = SOURCE.format(scale=scale).replace("A docstring: not part of the fingerprint.", doc)
    exec(source, namespace)  # noqa: S102
    return namespace["fn"]


def test_same_function_in_a_fresh_definition_is_accepted(tmp_path):
    f1, f2 = _define(), _define()
    assert f1 is not f2
    fp, desc = sweep._fingerprint(f1)
    assert len(fp) == 16 and desc == "`my_experiment.fn`"
    assert sweep._fingerprint(f2)[0] == fp
    assert sweep._fingerprint(jax.jit(f2))[0] == fp  # jax.jit is seen through
    assert sweep._fingerprint(_define(doc="Another docstring."))[0] == fp
    assert sweep._fingerprint(_define(scale=11))[0] != fp  # a module-level value it reads
    # two identical lambdas in source, on different lines
    g1 = lambda p: {"a": p["x"] * 2}
    g2 = lambda p: {"a": p["x"] * 2}
    assert sweep._fingerprint(g1)[0] == sweep._fingerprint(g2)[0]
    # functools.partial: its function and arguments, arrays by their contents
    import functools

    def h(p, w):
        return {"a": p["x"] * w[0]}
    assert (sweep._fingerprint(functools.partial(h, w=np.arange(3.0)))[0]
            == sweep._fingerprint(functools.partial(h, w=np.arange(3.0)))[0])
    assert (sweep._fingerprint(functools.partial(h, w=np.arange(3.0)))[0]
            != sweep._fingerprint(functools.partial(h, w=np.arange(3.0) + 1))[0])

    path = tmp_path / "s.npz"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(_interrupt_after(1, f1), GRID, chunk=2, path=path, progress=False)
    out = sweep.run(jax.jit(f2), GRID, chunk=2, path=path, progress=False)
    np.testing.assert_array_equal(out["a"], _expected()[0])


def test_fingerprint_is_the_same_in_a_new_process(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "my_experiment_mod.py").write_text(SOURCE.format(scale=10))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import my_experiment_mod as m; "
            "from dln import sweep; print(sweep._fingerprint(m.fn)[0])")
    root = str(Path(__file__).resolve().parents[1])
    fps = set()
    for seed in ("1", "2"):  # other hash seeds: set and str hashes differ between the two
        env = dict(os.environ, PYTHONPATH=root, PYTHONHASHSEED=seed, JAX_PLATFORMS="cpu")
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        fps.add(done.stdout.strip())
    namespace = {"__name__": "my_experiment_mod"}
    exec(SOURCE.format(scale=10), namespace)  # noqa: S102
    assert fps == {sweep._fingerprint(namespace["fn"])[0]}


def test_explicit_key_overrides_the_function(tmp_path):
    path = tmp_path / "s.npz"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(_interrupt_after(1, _fn), GRID, chunk=2, path=path, progress=False,
                  key="v1 of my experiment")
    calls = []

    def other_code(p):  # other code, the same results: the user says so with the same key
        calls.append(1)
        x, y = p["x"][:, None], p["y"][:, None]
        return {"a": p["x"] * 10 + p["y"], "b": (x + jnp.arange(3.0) * y,)}

    with pytest.raises(sweep.SweepFileError, match="another function"):
        sweep.run(other_code, GRID, chunk=2, path=path, progress=False)  # no key: refused
    with pytest.raises(sweep.SweepFileError, match="key 'v1 of my experiment' in the file, "
                                                  ".* of key 'v2' now"):
        sweep.run(other_code, GRID, chunk=2, path=path, progress=False, key="v2")
    assert calls == []
    out = sweep.run(other_code, GRID, chunk=2, path=path, progress=False,
                    key="v1 of my experiment")
    assert len(calls) == 2
    np.testing.assert_array_equal(out["a"], _expected()[0])
    assert sweep._fingerprint(_fn, "v1")[0] == sweep._fingerprint(other_code, "v1")[0]


def test_file_without_fingerprint_is_resumed_with_a_warning(tmp_path):
    import json
    import zipfile

    path = tmp_path / "s.npz"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(_interrupt_after(1, _fn), GRID, chunk=2, path=path, progress=False)
    # rewrite it as the previous format wrote it: no format, fingerprint, fn, key nor python
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.asarray(json.dumps({k: meta[k] for k in
                                            ("names", "product", "done", "structure")}))
    np.savez(path, **arrays)
    with pytest.warns(UserWarning, match="stored no fingerprint"):
        out = sweep.run(lambda p: _fn(p), GRID, chunk=2, path=path, progress=False)
    np.testing.assert_array_equal(out["a"], _expected()[0])
    with zipfile.ZipFile(path) as z:  # recorded from its next save on
        assert json.loads(str(np.load(z.open("meta.npy"))))["fingerprint"] is not None


# ----- the output path is checked before any work --------------------------------------------

def test_missing_folders_are_created_before_the_first_call(tmp_path):
    path = tmp_path / "runs" / "deep" / "s.npz"

    def fn(p):
        assert path.parent.is_dir()  # created before `fn` is first called
        return _fn(p)

    out = sweep.run(fn, GRID, chunk=4, path=path, progress=False)
    assert path.is_file() and not list(path.parent.glob("*.tmp*"))
    np.testing.assert_array_equal(out["a"], _expected()[0])


def test_invalid_paths_fail_before_any_call(tmp_path):
    with pytest.raises(ValueError, match="is a directory; pass a file name"):
        sweep.run(_never, GRID, path=tmp_path, progress=False)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="cannot be created"):
        sweep.run(_never, GRID, path=tmp_path / "a_file" / "s.npz", progress=False)
    assert (tmp_path / "a_file").read_text() == "x"
    with pytest.raises(TypeError, match="`path` must be None or a file name.*int 3"):
        sweep.run(_never, GRID, path=3, progress=False)
    with pytest.raises(TypeError, match="`path`"):
        sweep.run(_never, GRID, path=b"s.npz", progress=False)
    with pytest.raises(ValueError, match="`path` must be a file name"):
        sweep.run(_never, GRID, path="", progress=False)


def test_bad_arguments_name_the_argument():
    cases = [
        (TypeError, r"`fn` must be a callable.*int", {"fn": 3}),
        (TypeError, r"`chunk` must be an int >= 1.*bool True", {"chunk": True}),
        (TypeError, r"`chunk` must be an int >= 1.*float 2\.0", {"chunk": 2.0}),
        (TypeError, r"`chunk` must be an int >= 1.*str '3'", {"chunk": "3"}),
        (ValueError, r"`chunk` must be a positive int.*-1", {"chunk": -1}),
        (TypeError, r"`grid` must be a non-empty dict.*list", {"grid": [1.0, 2.0]}),
        (TypeError, r"`grid` keys must be str.*int 1", {"grid": {1: [1.0]}}),
        (TypeError, r"`grid\['x'\]` must hold real numbers, got complex",
         {"grid": {"x": [1.0 + 1j]}}),
        (TypeError, r"`grid\['x'\]` must hold numbers.*dtype <U1", {"grid": {"x": ["a", "b"]}}),
        (ValueError, r"`grid\['x'\]` must be a non-empty 1-D array.*shape \(0,\)",
         {"grid": {"x": []}}),
        (ValueError, r"`grid\['x'\]` must be a non-empty 1-D array.*shape \(\)",
         {"grid": {"x": 1.0}}),
        (ValueError, r"`grid\['x'\]` must be a non-empty 1-D array.*not an array",
         {"grid": {"x": [[1.0], [1.0, 2.0]]}}),
        (TypeError, r"`progress` must be a bool .* or a str .*int 1", {"progress": 1}),
        (TypeError, r"`product` must be a bool.*str 'yes'", {"product": "yes"}),
        (TypeError, r"`key` must be None .* or a str.*int 3", {"key": 3}),
        (ValueError, r"`key` must be a non-empty str.*''", {"key": ""}),
    ]
    for exc, pattern, kwargs in cases:
        args = {"fn": _never, "grid": GRID, "progress": False}
        args.update(kwargs)
        with pytest.raises(exc, match=pattern):
            sweep.run(args.pop("fn"), args.pop("grid"), **args)
    with pytest.raises(TypeError, match=r"`product` must be a bool.*NoneType None"):
        sweep.points(GRID, product=None)
    with pytest.raises(TypeError, match=r"`grid\['x'\]` must hold real numbers"):
        sweep.points({"x": np.array([1j])})
    assert sweep.points({"x": np.array([True, False])}, product=np.bool_(True))["x"].tolist() \
        == [True, False]
