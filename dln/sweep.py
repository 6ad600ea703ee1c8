"""Chunked, batched parameter sweeps with a tqdm progress bar, saved after every chunk, resumable.

A sweep evaluates one batched function on every point of a grid of parameters. The points are
cut into chunks of a fixed size (the last one is padded by repeating its final point, so a
jitted `fn` compiles once), each chunk is one call of `fn`, and after every chunk the results so
far are written atomically to an `.npz` file. Run the same sweep again with the same `path` and
it picks up where it stopped.

Usage:

    import jax, jax.numpy as jnp, numpy as np
    from dln import sweep

    @jax.jit
    def fn(p):                                   # p["lr"], p["scale"]: 1-D arrays, one chunk
        return {"loss": p["lr"] * p["scale"] ** 2,
                "curve": p["lr"][:, None] * jnp.arange(3.0)}

    out = sweep.run(fn, {"lr": np.logspace(-3, -1, 5), "scale": [0.1, 1.0]},
                    chunk=4, path="runs/lr_scale.npz")
    out["loss"].shape   # (5, 2): one axis per grid entry, in the grid's order
    out["curve"].shape  # (5, 2, 3)

With `product=False` the grid entries are zipped instead (all of the same length `n`) and the
results have a single leading axis `(n, ...)`.

What the file stores: the grid (names, values, `product`), the results of the points done so
far (one array per output leaf, the points in order, the output's nesting as JSON), how many
points are done, and a fingerprint of what was computed: a short hash of `key` when one is
passed, otherwise of `fn` (see below), with a readable description of it.

How resume works: a run whose `path` exists reads the file first and refuses it, before calling
`fn`, with a `SweepFileError` (a `ValueError`) naming the file and saying how to recover when

- the file cannot be read (empty, truncated, corrupted, not written by `run`); it is never
  overwritten: move it aside or delete it to start over;
- it holds another grid (names, values, their order or `product`);
- it holds a sweep of another fingerprint: pass the same `key=` as when it was written, or
  delete the file, or pass another `path`. Passing `key=` the fingerprint stored in the file
  (shown in full in the message) resumes that file as it is, e.g. after a change of `fn` that
  does not change its results.

Otherwise the points not done yet are computed (a complete file is returned without calling
`fn`). A file written before fingerprints were stored is accepted with the grid check only and
a `UserWarning`; the fingerprint is recorded from its next save on.

The fingerprint of `fn`, without `key`, is meant to be equal for the same code in a new Python
process, and to change when the code changes. It hashes the function's module and qualified
name and its code object (bytecode, constants, names, nested functions; not line numbers nor
the file name, nor the docstring of `fn` itself), its defaults, the values captured in its
closure and the module-level values and functions of your own code it refers to by name
(arrays by their contents). `functools.partial` adds its function, arguments and keywords;
wrappers made with `functools.wraps`, such as `jax.jit` and `jax.vmap`, are seen through to the
function they wrap (so their own settings are not part of it). Functions of jax, numpy, scipy
and the standard library are identified by their name only. Python's bytecode changes between
Python versions, so does this fingerprint; pass your own `key` to control it fully.

Several devices: `devices=None` (default) spreads every chunk over all local devices
(`jax.local_devices()`), an int `n` over the first `n` of them, a list over those devices. With
one device nothing changes: `fn` gets the chunk as numpy arrays, as always. With several, the
chunk size is rounded up to a multiple of the device count (`chunk=10` on 4 devices: 12 points
per call; the last chunk is padded as always), each parameter array is placed on a 1-D mesh of
the devices sharded along its batch axis (`NamedSharding(Mesh(devices, ("batch",)),
PartitionSpec("batch"))`), and `fn` is called on these arrays: a `jax.jit`-ed `fn` then runs
SPMD, each device computing its slice of the chunk. The results are gathered to numpy: the same
values as on one device, usually bitwise (XLA may compile a batched matrix product for another
number of points per device with other kernels, which can change the last bits). To try it on
a CPU, set `XLA_FLAGS=--xla_force_host_platform_device_count=4` before jax is imported.

Several hosts: start the same script on every host, calling `jax.distributed.initialize(...)`
first; `jax.devices()` then spans the devices of all hosts. Pass `devices=jax.devices()`, and run
the same sweep (the same `fn`, `grid`, `chunk`, `path`, `key`) on every host: each chunk is one
collective computation over all of them, and every host gets the full results back. When the
devices span several processes only process 0 (`jax.process_index() == 0`) writes `path`; to
resume, every host reads it, so put it on a file system all hosts share (the hosts check that
they resume from the same point). With `devices=None` each host sweeps on its own devices and
writes its own `path`. For example, two hosts with the coordinator on host0::

    # sweep_lr.py
    import sys
    import jax, numpy as np
    from dln import sweep

    jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=int(sys.argv[2]),
                               process_id=int(sys.argv[3]))

    @jax.jit
    def fn(p):
        return {"loss": p["lr"] ** 2}

    out = sweep.run(fn, {"lr": np.logspace(-3, -1, 64)}, chunk=32, path="/shared/lr.npz",
                    devices=jax.devices())

    host0$ python sweep_lr.py host0:1234 2 0     # coordinator address, processes, this id
    host1$ python sweep_lr.py host0:1234 2 1

Every host prints the same `out["loss"]`, computed over the devices of both hosts; host0 alone
writes `/shared/lr.npz`.

The progress bar is tqdm's (`tqdm.auto`: a widget in a Jupyter notebook, a line on stderr in a
terminal): points done of all points, chunks done, elapsed time and an estimate of the time
left from the rate of the points computed in this run (a resumed run starts from the points
already in the file). `progress=False` shows none.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jax.typing import ArrayLike
from tqdm.auto import tqdm

from dln._checks import check_devices

__all__ = ["SweepFileError", "points", "run"]

_FORMAT = 2  # 2: the file stores a fingerprint of what was computed; 1 (no "format"): it does not


class SweepFileError(ValueError):
    """A sweep file that `run` cannot resume: unreadable, or of another grid or function."""


def points(grid: dict[str, ArrayLike | Sequence[float]], *,
           product: bool = True) -> dict[str, np.ndarray]:
    """The flat list of points of `grid`: a dict name → 1-D array, all of the same length.

    With `product=True` (default) the points are the Cartesian product of the grid entries, the
    last entry varying fastest (numpy's C order, so `result.reshape(shape)` puts one axis per
    entry); with `product=False` the entries are zipped.
    """
    _check_bool(product, "product")
    grid = _check_grid(grid, product)
    if product:
        mesh = np.meshgrid(*grid.values(), indexing="ij")
        return {k: m.reshape(-1) for k, m in zip(grid, mesh)}
    return dict(grid)


def run(fn: Callable[[dict[str, Any]], Any], grid: dict[str, ArrayLike | Sequence[float]], *,
        chunk: int | None = None, path: str | os.PathLike[str] | None = None,
        progress: bool | str = True, product: bool = True, key: str | None = None,
        devices: int | Sequence[jax.Device] | None = None) -> Any:
    """Evaluate the batched `fn` on every point of `grid`, chunk by chunk.

    Args:
      fn: maps a dict name → 1-D array of `chunk` parameter values (one entry per grid name) to
        an array, or a (nested) dict, list or tuple of arrays, each with a leading axis of
        length `chunk` (one result per point). Typically a `jax.jit`-ed, `vmap`-ed function.
      grid: non-empty dict str name → non-empty 1-D array of real numbers (ints, floats or
        bools; complex values are refused).
      chunk: int >= 1, points per call of `fn` (default: all points in one call). The last
        chunk is padded with copies of its final point, so `fn` always sees the same shapes.
        With several devices it is rounded up to a multiple of their number (e.g. `chunk=10`
        on 4 devices: 12 points per call), so that each device gets as many points.
      path: optional file (str or path-like; the `.npz` format, whatever its suffix). Missing
        parent folders are created, and the folder is checked to be writable, before `fn` is
        first called. Results are written there (atomically: a temporary file then
        `os.replace`) after every chunk, by process 0 only in a multi-host run, and a run that
        finds the file resumes after the points it holds; see the module docstring for what
        is stored and when a file is refused (`SweepFileError`, a `ValueError`). A file that
        cannot be read is never overwritten.
      progress: bool, show a progress bar (`tqdm.auto`: on stderr in a terminal, a widget in
        a notebook; label "sweep"); or a str, the bar's label.
      product: bool, Cartesian product of the grid entries (default) or zipped entries.
      key: None or a non-empty str naming what `fn` computes (e.g. "v2 of my experiment").
        Its hash is the fingerprint stored in the file and checked on resume, instead of the
        one derived from `fn`'s code. Use it when `fn`'s code may change without changing its
        results, and change it when the results change in a way the code does not show (e.g.
        data read from disk). `key=` the fingerprint stored in a file resumes that file as is.
      devices: the devices each chunk is spread over: None (default) for all local devices
        (`jax.local_devices()`), an int n >= 1 for the first n of them, or a non-empty list of
        distinct jax devices (e.g. `jax.devices()` for all hosts of a multi-host run; see the
        module docstring). With one device `fn` gets numpy arrays as before (or, for a list of
        one device other than the first local one, jax arrays on that device); with several,
        jax arrays sharded along the batch axis over a 1-D mesh of those devices.

    Returns:
      The output pytree of `fn` with numpy arrays of shape `(*grid_shape, ...)`: one axis per
      grid entry with `product=True`, a single axis of the common length with `product=False`.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be a callable (batched function of a dict), got "
                        f"{type(fn).__name__}.")
    _check_bool(product, "product")
    if not isinstance(progress, (bool, np.bool_, str)):
        raise TypeError(f"`progress` must be a bool (show a progress bar or not) or a str (its "
                        f"label), got {type(progress).__name__} {progress!r}.")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"`key` must be None (fingerprint derived from `fn`) or a str naming "
                        f"what `fn` computes, got {type(key).__name__} {key!r}.")
    if key is not None and not key.strip():
        raise ValueError(f"`key` must be a non-empty str naming what `fn` computes (e.g. "
                         f"'v2 of my experiment'), got {key!r}; or pass None.")
    devices, explicit = check_devices(devices)
    nd = len(devices)
    grid = _check_grid(grid, product)
    flat = points(grid, product=product)
    n = len(next(iter(flat.values())))
    shape = tuple(len(v) for v in grid.values()) if product else (n,)
    if chunk is None:
        chunk = n
    if isinstance(chunk, (bool, np.bool_)) or not isinstance(chunk, (int, np.integer)):
        raise TypeError(f"`chunk` must be an int >= 1 (points per call of `fn`) or None (all "
                        f"{n} points in one call), got {type(chunk).__name__} {chunk!r}.")
    if chunk < 1:
        raise ValueError(f"`chunk` must be a positive int (points per call of `fn`), got "
                         f"{chunk!r}; pass an int >= 1, or None for all {n} points in one call.")
    chunk = int(min(chunk, n))
    chunk = -(-chunk // nd) * nd  # a multiple of the device count: every device gets a slice
    n_chunks = -(-n // chunk)
    label = progress if isinstance(progress, str) else "sweep"

    if nd > 1:
        put = functools.partial(jax.device_put,
                                device=NamedSharding(Mesh(np.array(devices), ("batch",)),
                                                     PartitionSpec("batch")))
    elif explicit and devices[0] != jax.local_devices()[0]:
        put = functools.partial(jax.device_put, device=devices[0])  # not the default device
    else:
        put = None  # one device: the numpy arrays, as before

    # a multi-host run (devices of other processes): every process computes every chunk with
    # the others and gets all results, and only process 0 writes `path`
    multi_host = any(d.process_index != jax.process_index() for d in devices)
    writer = not multi_host or jax.process_index() == 0
    done, structure, store = 0, None, None
    if path is not None:
        path = _check_path(path, create=writer)
        fp, desc = _fingerprint(fn, key)
        if os.path.exists(path):
            done, structure, store, fp = _load(path, grid, product, n, fp, desc, key)
    if multi_host:
        _check_same_start(done, path)

    bar = _progress_bar(label, n, n_chunks, chunk, done, enabled=bool(progress))
    try:
        while done < n:
            take = min(chunk, n - done)
            idx = np.arange(done, done + chunk).clip(max=n - 1)  # pad with the final point
            batch = {k: v[idx] for k, v in flat.items()}
            out = fn(batch if put is None else put(batch))
            leaves, struct = _flatten(out)
            leaves = [_to_numpy(a) for a in leaves]
            for i, a in enumerate(leaves):
                if a.ndim == 0 or a.shape[0] != chunk:
                    raise ValueError(
                        f"`fn` must return arrays with a leading batch axis of length {chunk} "
                        f"(one result per point of the chunk); output leaf {i} has shape "
                        f"{a.shape}."
                    )
            if store is None:
                structure = struct
                store = [np.zeros((n,) + a.shape[1:], a.dtype) for a in leaves]
            elif struct != structure or len(leaves) != len(store) or any(
                    a.shape[1:] != s.shape[1:] for a, s in zip(leaves, store)):
                raise ValueError(
                    f"`fn` returned results of another structure or shape than those saved in "
                    f"{path!r}; delete the file or pass another `path`."
                )
            for s, a in zip(store, leaves):
                s[done:done + take] = a[:take]
            done += take
            if path is not None and writer:
                _save(path, grid, product, done, structure, store, fp, desc, key)
            bar.set_postfix_str(_chunks_done(done, chunk, n, n_chunks), refresh=False)
            bar.update(take)
    finally:
        bar.close()
    return _unflatten(structure, [s.reshape(shape + s.shape[1:]) for s in store])


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool (True: Cartesian product of the grid entries, "
                        f"False: zipped entries), got {type(value).__name__} {value!r}.")


def _check_grid(grid, product):
    if not isinstance(grid, dict) or not grid:
        raise TypeError(f"`grid` must be a non-empty dict name -> 1-D array of values, got "
                        f"{type(grid).__name__} {grid!r}.")
    out = {}
    for k, v in grid.items():
        if not isinstance(k, str):
            raise TypeError(f"`grid` keys must be str (parameter names), got "
                            f"{type(k).__name__} {k!r}.")
        try:
            a = np.asarray(v)
        except (ValueError, TypeError) as err:
            raise ValueError(f"`grid[{k!r}]` must be a non-empty 1-D array of numbers, got "
                             f"{type(v).__name__} that is not an array ({err}).") from err
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"`grid[{k!r}]` must be a non-empty 1-D array of numbers, got "
                             f"shape {a.shape} and dtype {a.dtype}; pass a list or 1-D array "
                             f"of the values of {k!r}.")
        if np.issubdtype(a.dtype, np.complexfloating):
            raise TypeError(f"`grid[{k!r}]` must hold real numbers, got complex values "
                            f"({a.dtype}); sweep the real and imaginary parts as two entries.")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"`grid[{k!r}]` must hold numbers (ints, floats or bools), got "
                            f"dtype {a.dtype} ({a[:3].tolist()!r}...).")
        out[k] = a
    if not product and len({len(a) for a in out.values()}) > 1:
        lengths = {k: len(a) for k, a in out.items()}
        raise ValueError(f"with `product=False` the grid entries are zipped and must have equal "
                         f"lengths, got {lengths}.")
    return out


def _to_numpy(a):
    """The full values of an output leaf of `fn` as a numpy array, gathered from every host."""
    if isinstance(a, jax.Array) and not a.is_fully_addressable:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)


def _check_same_start(done, path):
    """Multi-host: every process must resume from the same point, or the collectives hang."""
    from jax.experimental import multihost_utils
    starts = np.asarray(multihost_utils.process_allgather(np.asarray([done])))
    if len(set(starts.reshape(-1).tolist())) > 1:
        raise ValueError(f"the hosts of this multi-host sweep resume from different points "
                         f"({starts.reshape(-1).tolist()} done, per process) of `path` "
                         f"{path!r}: every host must read the same file (put it on a file "
                         f"system all hosts share) and run the same sweep.")


def _check_path(path, create=True):
    """`path` as a str, its folder created and checked writable (if `create`); no other effect."""
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be None or a file name (str or path-like), got "
                        f"{type(path).__name__} {path!r}.")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"`path` must be a str file name, got {type(path).__name__} {path!r}.")
    if not path:
        raise ValueError("`path` must be a file name such as 'runs/sweep.npz', got ''.")
    if os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is a directory; pass a file name in it such as "
                         f"{os.path.join(path, 'sweep.npz')!r}.")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"`path` {path!r} exists and is not a regular file; pass another "
                         f"`path`.")
    if not create:  # another process than the one writing the file (multi-host)
        return path
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise ValueError(f"`path` {path!r}: its folder {folder!r} cannot be created "
                         f"({err.strerror or err}); pass a `path` in a folder you can write "
                         f"to.") from err
    probe = f"{path}.tmp{os.getpid()}"
    try:
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"`path` {path!r} cannot be written: a file cannot be created in "
                         f"{folder!r} ({err.strerror or err}); pass a `path` in a folder you "
                         f"can write to.") from err
    return path


# ----- fingerprint of what is computed --------------------------------------------------------

_LIBRARIES = {"jax", "jaxlib", "numpy", "scipy", "functools", "builtins", "math", "operator",
              "typing", "collections"}
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


def _fingerprint(fn, key=None):
    """(16 hex digits, description) of `key` if given, else of `fn`; equal across processes."""
    if key is not None:
        return hashlib.sha256(b"key\0" + key.encode()).hexdigest()[:16], f"key {key!r}"
    d = _Digest(set())
    d.add(fn, 0, top=True)
    return d.hexdigest()[:16], f"`{_name(fn)}`"


def _name(fn):
    for _ in range(20):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__
        else:
            break
    mod = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{mod}.{name}" if mod else name


def _is_library(module):
    return isinstance(module, str) and module.split(".")[0] in _LIBRARIES


class _Digest:
    """A sha256 of a value built from its contents only (no id(), no hash(), no addresses)."""

    def __init__(self, active):
        self.h = hashlib.sha256()
        self.active = active  # ids of the objects being digested, against cycles

    def hexdigest(self):
        return self.h.hexdigest()

    def emit(self, *parts):
        for p in parts:
            b = p if isinstance(p, bytes) else str(p).encode("utf-8", "backslashreplace")
            self.h.update(len(b).to_bytes(8, "little"))
            self.h.update(b)

    def add(self, v, depth, top=False):
        if depth > 12:
            self.emit("deep", type(v).__qualname__)
        elif v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            self.emit(type(v).__name__, repr(v))
        elif isinstance(v, np.generic):
            self.emit("scalar", v.dtype.str, repr(v.item()))
        elif isinstance(v, (np.ndarray, jax.Array)):
            try:
                if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key):
                    v = jax.random.key_data(v)  # a typed PRNG key: its raw bits
                a = np.asarray(v)
            except Exception:  # noqa: BLE001 - a tracer or another array without values
                self.emit("array", type(v).__qualname__)
                return
            if a.dtype == object:
                self.emit("object array", a.shape)
                for x in a.reshape(-1):
                    self.add(x, depth + 1)
            else:
                raw = np.ascontiguousarray(a).reshape(-1).view(np.uint8)  # no copy to bytes
                self.emit("array", a.dtype.str, a.shape, hashlib.sha256(raw).hexdigest())
        elif isinstance(v, (list, tuple)):
            self.emit(type(v).__name__, len(v))
            for x in v:
                self.add(x, depth + 1)
        elif isinstance(v, dict):
            self.emit("dict", len(v))
            for k, x in v.items():
                self.add(k, depth + 1)
                self.add(x, depth + 1)
        elif isinstance(v, (set, frozenset)):  # iteration order varies with the hash seed
            subs = []
            for x in v:
                d = _Digest(self.active)
                d.add(x, depth + 1)
                subs.append(d.hexdigest())
            self.emit("set", *sorted(subs))
        elif isinstance(v, types.CodeType):
            self.code(v, depth)
        elif isinstance(v, types.ModuleType):
            self.emit("module", v.__name__)
        elif isinstance(v, type):
            self.emit("class", v.__module__, v.__qualname__)
        elif id(v) in self.active:
            self.emit("cycle", getattr(v, "__qualname__", type(v).__qualname__))
        else:
            self.active.add(id(v))
            try:
                self.obj(v, depth, top)
            finally:
                self.active.discard(id(v))

    def obj(self, v, depth, top):
        if isinstance(v, functools.partial):
            self.emit("partial")
            self.add(v.func, depth + 1)
            self.add(v.args, depth + 1)
            self.add(v.keywords, depth + 1)
        elif callable(v) and getattr(v, "__wrapped__", None) is not None:
            self.add(v.__wrapped__, depth + 1, top)  # jax.jit, jax.vmap, functools.wraps
        elif isinstance(v, types.FunctionType):
            self.function(v, depth, top)
        elif isinstance(v, types.MethodType):
            self.emit("method")
            self.add(v.__func__, depth + 1)
            self.add(v.__self__, depth + 1)
        elif isinstance(v, types.BuiltinFunctionType) or _is_library(type(v).__module__):
            self.emit("library", type(v).__module__, type(v).__qualname__,
                      getattr(v, "__module__", ""), getattr(v, "__qualname__", ""),
                      _ADDRESS.sub("", _safe_repr(v)))
        elif isinstance(getattr(type(v), "__call__", None), types.FunctionType):  # noqa: B004
            self.emit("callable", type(v).__module__, type(v).__qualname__)
            self.add(type(v).__call__, depth + 1)
            self.add(getattr(v, "__dict__", None), depth + 1)
        else:
            self.emit("object", type(v).__module__, type(v).__qualname__,
                      _ADDRESS.sub("", _safe_repr(v)))
            if hasattr(v, "__dict__") and isinstance(vars(v), dict):
                self.add(dict(vars(v)), depth + 1)

    def function(self, f, depth, top):
        module = f.__module__
        if _is_library(module):
            self.emit("library function", module, f.__qualname__)
            return
        self.emit("function", module, f.__qualname__)
        code = f.__code__
        skip_doc = top and f.__doc__ is not None and code.co_consts[:1] == (f.__doc__,)
        self.code(code, depth, skip_doc)
        self.add(f.__defaults__, depth + 1)
        self.add(f.__kwdefaults__, depth + 1)
        for name, cell in zip(code.co_freevars, f.__closure__ or ()):
            self.emit("closure", name)
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                self.emit("empty")
                continue
            self.add(value, depth + 1)
        globs = f.__globals__
        for name in sorted(_global_names(code)):
            if name in globs and not name.startswith("__"):
                self.emit("global", name)
                self.add(globs[name], depth + 1)

    def code(self, c, depth, skip_doc=False):
        self.emit("code", c.co_name, c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount,
                  c.co_flags, c.co_code, c.co_names, c.co_varnames, c.co_freevars,
                  c.co_cellvars)
        for const in c.co_consts[1 if skip_doc else 0:]:
            self.add(const, depth + 1)


def _global_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _safe_repr(v):
    try:
        return repr(v)
    except Exception:  # noqa: BLE001 - a repr that fails says nothing stable anyway
        return type(v).__qualname__


# The output structure is saved as JSON: None for an array leaf, ["dict", [[key, sub], ...]],
# ["list", [...]] or ["tuple", [...]] for containers.
def _flatten(out):
    if isinstance(out, dict):
        keys = list(out)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"dict outputs of `fn` need str keys, got {keys!r}.")
        subs = [_flatten(out[k]) for k in keys]
        return ([a for s in subs for a in s[0]], ["dict", [[k, s[1]] for k, s in zip(keys, subs)]])
    if isinstance(out, (list, tuple)) and not hasattr(out, "_fields"):
        subs = [_flatten(x) for x in out]
        kind = "list" if isinstance(out, list) else "tuple"
        return [a for s in subs for a in s[0]], [kind, [s[1] for s in subs]]
    if isinstance(out, (np.ndarray, jax.Array)):
        return [out], None
    raise TypeError(f"`fn` must return arrays or (nested) dicts, lists or tuples of arrays, got "
                    f"{type(out).__name__}; pick the fields you need into a dict.")


def _unflatten(structure, leaves):
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, items = s
        if kind == "dict":
            return {k: build(sub) for k, sub in items}
        built = [build(sub) for sub in items]
        return built if kind == "list" else tuple(built)

    return build(structure)


def _save(path, grid, product, done, structure, store, fp, desc, key):
    arrays = {f"grid/{k}": v for k, v in grid.items()}
    arrays.update({f"out/{i}": s for i, s in enumerate(store)})
    meta = {"format": _FORMAT, "names": list(grid), "product": bool(product), "done": done,
                "structure": structure, "fingerprint": fp, "fn": desc, "key": key,
                "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    arrays["meta"] = np.asarray(json.dumps(meta))
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _unreadable(path, what, err=None):
    detail = f" ({type(err).__name__}: {err})" if err is not None else ""
    return SweepFileError(
        f"`path` {path!r} is not a sweep file that can be read: {what}{detail}. The results in "
        f"it, if any, cannot be read back. Move it aside or delete it to start the sweep over, "
        f"or pass another `path`; the file was left as it is."
    )


def _load(path, grid, product, n, fp, desc, key):
    """(done, structure, store, fingerprint to save) of the sweep file `path`, or an error."""
    if os.path.getsize(path) == 0:
        raise _unreadable(path, "the file is empty (0 bytes)")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if not is_zip:
        raise _unreadable(path, "it is not an .npz file (dln.sweep.run writes .npz files)")
    try:  # the file is opened here: np.load(path) leaks its handle when the zip is unreadable
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise _unreadable(path, "it is an .npz file without the 'meta' entry that "
                                  "dln.sweep.run writes (another program's file, or corrupted)")
            meta = json.loads(str(data["meta"][()]))
            names, structure = meta["names"], meta["structure"]
            if not (isinstance(names, list) and all(isinstance(k, str) for k in names)
                    and isinstance(meta["product"], bool) and isinstance(meta["done"], int)):
                raise ValueError("malformed 'meta' entry")
            saved_grid = {k: data[f"grid/{k}"] for k in names}
            store = [data[f"out/{i}"] for i in range(_count_leaves(structure))]
    except SweepFileError:
        raise
    except Exception as err:
        raise _unreadable(path, "the file is truncated or corrupted", err) from err
    same = (names == list(grid) and meta["product"] == bool(product)
            and all(saved_grid[k].shape == v.shape and np.array_equal(saved_grid[k], v,
                                                                       equal_nan=_has_nan(v))
                    for k, v in grid.items()))
    if not same:
        saved = {k: v.tolist() for k, v in saved_grid.items()}
        raise SweepFileError(
            f"`path` {path!r} holds results of a different grid (saved: {saved}, "
            f"product={meta['product']}; now: { {k: v.tolist() for k, v in grid.items()} }, "
            f"product={product}). Delete the file or pass another `path`."
        )
    saved_fp = meta.get("fingerprint")
    if saved_fp is None:
        warnings.warn(
            f"`path` {path!r} was written by an older dln.sweep.run that stored no fingerprint of "
            f"`fn`: it is resumed with the grid check only, so make sure it holds results of the "
            f"same function (fingerprint {fp} of {desc} is stored from its next save on).",
            UserWarning, stacklevel=3)
    elif key is not None and key == saved_fp:
        fp = saved_fp  # resume this file as it is, on the user's word
    elif saved_fp != fp:
        saved_desc = meta.get("fn") or "?"
        py = f"{sys.version_info[0]}.{sys.version_info[1]}"
        note = ""
        if meta.get("key") is None and key is None and meta.get("python") not in (None, py):
            note = (f" (The file was written under Python {meta['python']}, this is {py}: the "
                    f"fingerprint of a function changes with Python's bytecode.)")
        raise SweepFileError(
            f"`path` {path!r} holds a sweep of another function (fingerprint {saved_fp} of "
            f"{saved_desc} in the file, {fp} of {desc} now); pass the same `key=` as when it "
            f"was written, or delete the file to start over, or pass another `path`. If `fn` "
            f"computes the same results as the one that wrote the file, pass "
            f"`key={saved_fp!r}` to resume the file as it is.{note}"
        )
    done = int(meta["done"])
    if any(s.shape[0] != n for s in store) or not 0 <= done <= n:
        raise SweepFileError(f"`path` {path!r} is inconsistent (saved results do not cover "
                             f"the {n} grid points); delete it or pass another `path`.")
    return done, structure, store, fp


def _has_nan(a):
    return np.issubdtype(a.dtype, np.inexact) and bool(np.isnan(a).any())


def _count_leaves(structure):
    if structure is None:
        return 1
    kind, items = structure
    return sum(_count_leaves(s[1] if kind == "dict" else s) for s in items)


def _chunks_done(done, chunk, n, n_chunks):
    return f"{-(-done // chunk) if done < n else n_chunks}/{n_chunks} chunks"


def _progress_bar(label, n, n_chunks, chunk, done, *, enabled):
    """`label:  50%|#####     | 3/6 points, 1/2 chunks [00:12<00:12, 0.25 points/s]` (tqdm)."""
    return tqdm(total=n, initial=done, desc=label, unit=" points", disable=not enabled,
                postfix=_chunks_done(done, chunk, n, n_chunks),
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} points"
                           "{postfix} [{elapsed}<{remaining}, {rate_fmt}]")
