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
    sweep.run(_fn, GRID, chunk=2, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_of_a_resumed_run_starts_at_the_saved_points(tmp_path, capsys):
    path = tmp_path / "s.npz"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(_interrupt_after(1, _fn), GRID, chunk=2, path=path, progress="first")
    err = capsys.readouterr().err
    assert "2/6 points, 1/3 chunks" in err  # the bar is closed when `fn` raises
    sweep.run(_fn, GRID, chunk=2, path=path, progress="resumed")
    err = capsys.readouterr().err
    assert "resumed" in err and "2/6 points, 1/3 chunks" in err and "6/6 points, 3/3 chunks" in err
    assert "0/6 points" not in err


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


# ----- devices: validation, one device unchanged, several devices (a subprocess) --------------

def test_devices_are_validated_before_any_call():
    (dev,) = jax.local_devices()[:1]
    n_local = len(jax.local_devices())
    cases = [
        (ValueError, r"`devices` must be an int between 1 and the number of local devices",
         n_local + 1),
        (ValueError, r"`devices` must be an int between 1 .* got 0", 0),
        (ValueError, r"`devices` must be an int between 1 .* got -2", -2),
        (TypeError, r"`devices` must be None .* got bool True", True),
        (TypeError, r"`devices` must be None .* got float 2\.0", 2.0),
        (TypeError, r"`devices` must be None .* got str 'cpu'", "cpu"),
        (ValueError, r"`devices` must be a non-empty list of jax devices", []),
        (TypeError, r"`devices` must be a list of jax devices .* type str", ["cpu:0"]),
        (ValueError, r"`devices` must list distinct devices", [dev, dev]),
    ]
    for exc, pattern, devices in cases:
        with pytest.raises(exc, match=pattern):
            sweep.run(_never, GRID, progress=False, devices=devices)


def test_one_device_passes_numpy_arrays_as_before(tmp_path):
    a, b = _expected()
    seen = []

    def fn(p):
        seen.append({k: type(v) for k, v in p.items()})
        return _fn(p)

    for devices in (None, 1, jax.local_devices()[:1], tuple(jax.local_devices()[:1])):
        if devices is None and len(jax.local_devices()) > 1:
            continue
        seen.clear()
        out = sweep.run(fn, GRID, chunk=4, progress=False, devices=devices)
        assert seen == [{"x": np.ndarray, "y": np.ndarray}] * 2  # chunk 4 kept: no rounding
        np.testing.assert_array_equal(out["a"], a)
        np.testing.assert_array_equal(out["b"][0], b)


def test_only_process_0_writes_the_file_of_a_multi_host_run(tmp_path, monkeypatch):
    path = tmp_path / "runs" / "s.npz"
    starts = []
    monkeypatch.setattr(sweep, "_check_same_start", lambda done, p: starts.append(done))
    # process 1 of a multi-host run: the devices (all of process 0 here) are another process's
    monkeypatch.setattr(jax, "process_index", lambda *a, **k: 1)
    out = sweep.run(_fn, GRID, chunk=4, path=path, progress=False)
    np.testing.assert_array_equal(out["a"], _expected()[0])  # it still gets the full results
    assert not (tmp_path / "runs").exists()  # nothing created nor written
    assert starts == [0]  # the hosts check that they all start from the same point
    monkeypatch.setattr(jax, "process_index", lambda *a, **k: 0)  # process 0 writes the file
    sweep.run(_fn, GRID, chunk=4, path=path, progress=False)
    assert path.is_file() and starts == [0]  # a single-process run: no check across hosts


MULTI_DEVICE = '''
import json, sys, time
t0 = time.perf_counter()
import jax, jax.numpy as jnp, numpy as np
from dln import sweep

X = jnp.asarray(np.linspace(-1.0, 1.0, 12).reshape(3, 4))
Y = jnp.asarray(np.cos(np.arange(6.0)).reshape(2, 3))


def train(lr, scale):  # 20 steps of gradient descent on a 3-layer deep linear network
    ws = [scale * jnp.asarray(np.sin(np.arange(1.0, 1.0 + m * k)).reshape(m, k))
          for m, k in ((3, 3), (3, 3), (2, 3))]

    def loss(ws):
        return 0.5 * jnp.mean((ws[2] @ ws[1] @ ws[0] @ X - Y @ X) ** 2)

    def step(ws, _):
        g = jax.grad(loss)(ws)
        return [w - lr * gw for w, gw in zip(ws, g)], loss(ws)

    ws, losses = jax.lax.scan(step, ws, None, length=20)
    return {"loss": losses, "w": ws[2] @ ws[1] @ ws[0]}


batched = jax.jit(jax.vmap(lambda p: train(p["lr"], p["scale"])))
seen = []


def fn(p):  # not jitted: records how each chunk arrives, then runs the jitted function
    seen.append([[len(v), len(v.sharding.device_set) if hasattr(v, "sharding") else 1]
                 for v in p.values()])
    return batched(p)


grid = {"lr": np.linspace(0.05, 0.3, 5), "scale": np.array([0.3, 0.5, 0.7])}
res = {"n_devices": len(jax.local_devices()), "x64": bool(jax.config.jax_enable_x64)}
outs = {}
for name, devices, chunk in (("one", 1, 4), ("all", None, 4), ("all_3", None, 3),
                             ("all_whole", None, None), ("two", jax.local_devices()[2:], 4),
                             ("one_2", 1, 2)):
    seen.clear()
    outs[name] = sweep.run(fn, grid, chunk=chunk, progress=False, devices=devices)
    res[name] = list(seen)
# bitwise equal to one device; XLA's CPU kernels for a batched matmul may differ in the last bit
# between batch sizes, so the 2-device run (2 points per device) is compared bitwise with one
# device running chunks of 2, and to rounding with chunks of 4
ref = {k: outs["one_2" if k == "two" else "one"] for k in outs if k != "one_2"}
res["identical"] = {k: all(np.array_equal(outs[k][f], r[f]) and outs[k][f].dtype == r[f].dtype
                           for f in ("loss", "w")) for k, r in ref.items()}
res["close"] = all(np.allclose(outs["two"][f], outs["one"][f], rtol=1e-13, atol=1e-15)
                   for f in ("loss", "w"))
res["shape"] = list(outs["one"]["loss"].shape)
# a list of one device other than the first: the chunk is put on that device
on = []
out3 = sweep.run(lambda p: (on.append(sorted(d.id for d in p["lr"].devices())), batched(p))[1],
                 grid, chunk=4, progress=False, devices=jax.local_devices()[3:])
res["device3"] = [on[0], [jax.local_devices()[3].id], np.array_equal(out3["w"], outs["one"]["w"])]

# resume on 4 devices: interrupted after the first chunk, then resumed; the file must be the
# same as that of a run in one go on one device
folder, calls = sys.argv[1], []


def failing(p):
    if calls:
        raise KeyboardInterrupt
    calls.append(1)
    return batched(p)


try:
    sweep.run(failing, grid, chunk=4, path=folder + "/a.npz", progress=False, key="k")
except KeyboardInterrupt:
    pass
with np.load(folder + "/a.npz") as z:
    res["done_after_interrupt"] = json.loads(str(z["meta"]))["done"]
seen.clear()
resumed = sweep.run(fn, grid, chunk=4, path=folder + "/a.npz", progress=False, key="k")
res["resumed_calls"] = len(seen)
sweep.run(batched, grid, chunk=4, path=folder + "/b.npz", progress=False, key="k", devices=1)
with np.load(folder + "/a.npz") as a, np.load(folder + "/b.npz") as b:
    res["files_equal"] = a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
res["resumed_identical"] = all(np.array_equal(resumed[f], outs["one"][f]) for f in ("loss", "w"))
res["seconds"] = time.perf_counter() - t0
print(json.dumps(res))
'''


def test_several_devices_shard_the_chunk_and_give_identical_results(tmp_path):
    """4 CPU devices in a subprocess: XLA_FLAGS must be set before jax is imported."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu", JAX_ENABLE_X64="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=4")
    done = subprocess.run([sys.executable, "-c", MULTI_DEVICE, str(tmp_path)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert res["n_devices"] == 4 and res["x64"]
    assert res["shape"] == [5, 3, 20]
    # one device: 15 points in chunks of 4 (the last padded), numpy arrays as before
    assert res["one"] == [[[4, 1], [4, 1]]] * 4
    # devices=None: every chunk's parameter arrays sharded over the 4 devices
    assert res["all"] == [[[4, 4], [4, 4]]] * 4
    # chunk=3 rounded up to 4 (a multiple of the device count); all points: 15 -> 16
    assert res["all_3"] == [[[4, 4], [4, 4]]] * 4
    assert res["all_whole"] == [[[16, 4], [16, 4]]]
    assert res["two"] == [[[4, 2], [4, 2]]] * 4  # a list of 2 devices
    assert res["device3"][0] == res["device3"][1] and res["device3"][2]
    assert res["identical"] == {k: True for k in ("one", "all", "all_3", "all_whole", "two")}
    assert res["close"]
    # resume with 4 devices: the first chunk saved, the other three computed; the same file
    assert res["done_after_interrupt"] == 4 and res["resumed_calls"] == 3
    assert res["files_equal"] and res["resumed_identical"]
