"""Chunked, batched parameter sweeps with a progress bar, saved after every chunk and resumable.

A sweep evaluates one batched function on every point of a grid of parameters. The points are
cut into chunks of a fixed size (the last one is padded by repeating its final point, so a
jitted `fn` compiles once), each chunk is one call of `fn`, and after every chunk the results so
far are written atomically to an `.npz` file. Run the same sweep again with the same `path` and
it picks up where it stopped; a file that holds a different grid is refused with a clear error.

Usage::

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

The progress bar is a plain line on stderr (chunks done, points done, elapsed time and an
estimate of the time left); dln adds no dependency for it.
"""

from __future__ import annotations

import json
import os
import sys
import time

import jax
import numpy as np

__all__ = ["run", "points"]


def points(grid, *, product: bool = True) -> dict[str, np.ndarray]:
    """The flat list of points of `grid`: a dict name → 1-D array, all of the same length.

    With `product=True` (default) the points are the Cartesian product of the grid entries, the
    last entry varying fastest (numpy's C order, so `result.reshape(shape)` puts one axis per
    entry); with `product=False` the entries are zipped.
    """
    grid = _check_grid(grid, product)
    if product:
        mesh = np.meshgrid(*grid.values(), indexing="ij")
        return {k: m.reshape(-1) for k, m in zip(grid, mesh)}
    return dict(grid)


def run(fn, grid, *, chunk: int | None = None, path=None, progress: bool | str = True,
        product: bool = True):
    """Evaluate the batched `fn` on every point of `grid`, chunk by chunk.

    Args:
      fn: maps a dict name → 1-D array of `chunk` parameter values (one entry per grid name) to
        an array, or a (nested) dict, list or tuple of arrays, each with a leading axis of
        length `chunk` (one result per point). Typically a `jax.jit`-ed, `vmap`-ed function.
      grid: dict name → 1-D array of values (numbers). Non-empty.
      chunk: points per call of `fn` (default: all points in one call). The last chunk is
        padded with copies of its final point, so `fn` always sees the same shapes.
      path: optional `.npz` file. Results are written there (atomically: a temporary file then
        `os.replace`) after every chunk, and a run that finds the file resumes after the points
        it holds. A file holding another grid (names, values or `product`) raises `ValueError`.
      progress: show a progress bar on stderr (a string is used as its label).
      product: Cartesian product of the grid entries (default) or zipped entries.

    Returns:
      The output pytree of `fn` with numpy arrays of shape `(*grid_shape, ...)`: one axis per
      grid entry with `product=True`, a single axis of the common length with `product=False`.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be a callable (batched function of a dict), got "
                        f"{type(fn).__name__}.")
    grid = _check_grid(grid, product)
    flat = points(grid, product=product)
    n = len(next(iter(flat.values())))
    shape = tuple(len(v) for v in grid.values()) if product else (n,)
    if chunk is None:
        chunk = n
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"`chunk` must be a positive int (points per call of `fn`), got "
                         f"{chunk!r}.")
    chunk = int(min(chunk, n))
    n_chunks = -(-n // chunk)
    label = progress if isinstance(progress, str) else "sweep"

    done, structure, store = 0, None, None
    if path is not None:
        path = os.fspath(path)
        if os.path.exists(path):
            done, structure, store = _load(path, grid, product, n)

    bar = _Bar(label, n_chunks, n, enabled=bool(progress))
    bar.update(-(-done // chunk) if done < n else n_chunks, done)
    start = done
    while done < n:
        take = min(chunk, n - done)
        idx = np.arange(done, done + chunk).clip(max=n - 1)  # pad with the final point
        out = fn({k: v[idx] for k, v in flat.items()})
        leaves, struct = _flatten(out)
        leaves = [np.asarray(a) for a in leaves]
        for i, a in enumerate(leaves):
            if a.ndim == 0 or a.shape[0] != chunk:
                raise ValueError(
                    f"`fn` must return arrays with a leading batch axis of length {chunk} (one "
                    f"result per point of the chunk); output leaf {i} has shape {a.shape}."
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
        if path is not None:
            _save(path, grid, product, done, structure, store)
        bar.update(-(-done // chunk) if done < n else n_chunks, done, start)
    bar.close()
    return _unflatten(structure, [s.reshape(shape + s.shape[1:]) for s in store])


def _check_grid(grid, product):
    if not isinstance(grid, dict) or not grid:
        raise TypeError(f"`grid` must be a non-empty dict name -> 1-D array, got {grid!r}.")
    out = {}
    for k, v in grid.items():
        if not isinstance(k, str):
            raise TypeError(f"`grid` keys must be str, got {k!r}.")
        a = np.asarray(v)
        if a.ndim != 1 or a.size == 0 or not (np.issubdtype(a.dtype, np.number)
                                             or a.dtype == bool):
            raise ValueError(f"`grid[{k!r}]` must be a non-empty 1-D array of numbers, got "
                             f"shape {a.shape} and dtype {a.dtype}.")
        out[k] = a
    if not product and len({len(a) for a in out.values()}) > 1:
        lengths = {k: len(a) for k, a in out.items()}
        raise ValueError(f"with `product=False` the grid entries are zipped and must have equal "
                         f"lengths, got {lengths}.")
    return out


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


def _save(path, grid, product, done, structure, store):
    arrays = {f"grid/{k}": v for k, v in grid.items()}
    arrays.update({f"out/{i}": s for i, s in enumerate(store)})
    meta = dict(names=list(grid), product=product, done=done, structure=structure)
    arrays["meta"] = np.asarray(json.dumps(meta))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def _load(path, grid, product, n):
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            saved_grid = {k: data[f"grid/{k}"] for k in meta["names"]}
            store = [data[f"out/{i}"] for i in range(_count_leaves(meta["structure"]))]
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"`path` {path!r} exists but is not a sweep file of dln.sweep.run "
                         f"({err}); delete it or pass another `path`.") from err
    same = (meta["names"] == list(grid) and meta["product"] == product
            and all(saved_grid[k].shape == v.shape and np.array_equal(saved_grid[k], v)
                    for k, v in grid.items()))
    if not same:
        saved = {k: v.tolist() for k, v in saved_grid.items()}
        raise ValueError(
            f"`path` {path!r} holds results of a different grid (saved: {saved}, "
            f"product={meta['product']}; now: { {k: v.tolist() for k, v in grid.items()} }, "
            f"product={product}). Delete the file or pass another `path`."
        )
    done = int(meta["done"])
    if any(s.shape[0] != n for s in store) or not 0 <= done <= n:
        raise ValueError(f"`path` {path!r} is inconsistent (saved results do not cover the "
                         f"{n} grid points); delete it or pass another `path`.")
    return done, meta["structure"], store


def _count_leaves(structure):
    if structure is None:
        return 1
    kind, items = structure
    return sum(_count_leaves(s[1] if kind == "dict" else s) for s in items)


class _Bar:
    """`label: [#####.....] 3/10 chunks, 30/100 points, 12s elapsed, ~28s left` on stderr."""

    def __init__(self, label, n_chunks, n, *, enabled, width=24):
        self.label, self.n_chunks, self.n, self.enabled, self.width = (label, n_chunks, n,
                                                                       enabled, width)
        self.t0 = time.perf_counter()

    def update(self, chunks, done, start=None):
        if not self.enabled:
            return
        filled = int(self.width * done / self.n)
        elapsed = time.perf_counter() - self.t0
        line = (f"\r{self.label}: [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{chunks}/{self.n_chunks} chunks, {done}/{self.n} points, {elapsed:.0f}s elapsed")
        if start is not None and done > start and done < self.n:
            line += f", ~{elapsed * (self.n - done) / (done - start):.0f}s left"
        sys.stderr.write(line + "   ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
