"""Semantic development (Saxe, McClelland & Ganguli 2019): representations, item similarity,
progressive differentiation, illusory correlations and category coherence, exact and simulated.

A. M. Saxe, J. L. McClelland and S. Ganguli, "A mathematical theory of semantic development in
deep neural networks", PNAS 116(23):11537–11546 (2019), arXiv:1810.10531;
docs/theory/semantic.md, docs/derivations/semantic.md.

**Setting.** Items `x_i` (the rows of `X`, one-hot or whitened) and their features (the rows of
`Y`); a network of `D` weight matrices from small, balanced weights aligned with the modes
`Σyx = U diag(s) Vᵀ` (`dln.init.aligned`), whose mode strengths `u_α(t)` are the closed forms
of `dln.solve`. Layer `l` carries `a_α = u_α^{1/D}` on every mode, `W_1 = R_1 A Vᵀ`,
`W_l = R_l A R_{l−1}ᵀ`, `W_D = U A R_{D−1}ᵀ` with orthogonal `R_l`, so the hidden layer after
`l` weight matrices is

    h_l(x) = W_l ⋯ W_1 x = R_l diag(u^{l/D}) Vᵀ x,

and the similarity of the items' representations there (their Gram matrix, rows = items),

    G_l(t) = H_l H_lᵀ = X V diag(|u(t)|^{2l/D}) Vᵀ Xᵀ,

does not depend on the hidden bases `R_l` (`RᵀR = I`). Depth 2, `l = 1` (the paper's network):
`X V diag(u) Vᵀ Xᵀ`; at the output (`l = D`) `X V diag(u²) Vᵀ Xᵀ`, the Gram of the outputs.

**What the module computes** (every function takes the trajectory of `dln.solve` — a mode
solution from `depth` and `u0` — or of `dln.simulate`, and answers the same question for both):

- `representations`, `similarity`: `H_l` and `G_l` over time (exact from the modes; simulated
  from the recorded weights, `dln.simulate(..., record_weights=True)`), raw or normalised to
  cosine similarity; `similarity_from_modes`, `similarity_from_weights` and the
  `representations_from_*` pair are the same on arrays (jit/vmap-friendly);
- `mds`: classical multidimensional scaling of each record, Procrustes-aligned from one record
  to the next (or to a reference, e.g. the exact picture) so that the picture does not flip;
- `mode_groups`, `stage_times`: progressive differentiation, the modes grouped by equal
  singular values (on a tree: its levels) and the time each group reaches a fraction of its
  target `s/λ` (closed form, `dln.modes.time_to_fraction`; simulations and weight decay: the
  first crossing of the group's mean strength, which does not depend on the basis inside a
  degenerate group, interpolated as in `Trajectory.time_to`);
- `feature_output`, `illusory_peak`, `category_plateaus`: illusory correlations, the network's
  output `ŷ_f(x_i) = Σ_α c_α u_α(t)`, `c_α = U_fα (Vᵀx_i)_α`, for a feature `f` that item `i`
  does not have; it ends at `Y_if = 0` but rises above 0 on the way when the modes that carry
  the item's broad category are learned before the ones that tell it apart. Written with the
  normalised strengths `w_α = λ_α u_α / s_α`, `ŷ_f(x_i) = Σ_g Δȳ_g w_g(t)` over groups, where
  `ȳ_k = Σ_{g ≤ k} Σ_{α ∈ g} c_α s_α/λ_α` is the output once groups `0..k` are learned (on a
  tree: the fraction of the items of `i`'s level-`k` category that have `f`);
- `coherence_task`, `category_members`, `category_coherence`, `category_strength`,
  `category_time`: category coherence against learning speed. A category of `K` items that
  share `F` features of their own (and one feature per item) is a mode of singular value
  `√(K F + 1)` in the raw data, its coherence here; a stronger mode is learned sooner
  (depth 2: `t_{1/2} = ln(s/(λu0) − 1)/(2s)`).

Everything returns JAX arrays (`np.asarray` for numpy) except where noted. The array functions
(`representations_from_*`, `similarity_from_*`, and `mds` with a `reference`) work under
`jax.jit` and `jax.vmap` with the task, `depth`, `layer`, `dims` static; `mds` without
`reference` is eager-only (its choice of axes among tied eigenvalues uses numpy), as are the
functions that return numpy or floats.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_bool, check_depth, check_int, check_real, is_concrete
from dln.init import aligned_from_strengths
from dln.measures.ocs import outputs as _outputs
from dln.tasks.task import Task
from dln.theory import modes as _modes
from dln.trajectory import Trajectory

__all__ = ["representations", "representations_from_modes", "representations_from_weights",
           "similarity", "similarity_from_modes", "similarity_from_weights", "mds",
           "mode_groups", "stage_times", "feature_output", "illusory_peak", "category_plateaus",
           "coherence_task", "category_members", "category_coherence", "category_strength",
           "category_time"]

_time_to_fraction_jit = jax.jit(_modes.time_to_fraction, static_argnames="depth")


def _time_to_fraction(fraction, s, lam, u0, depth):
    """`dln.modes.time_to_fraction` on 1-D numpy arrays padded to a power-of-two length (at
    least 8), so that calls with a few modes or groups share their compiled code; numpy out."""
    f, s, lam, u0 = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=float))
                                          for a in (fraction, s, lam, u0)))
    n = f.size
    size = max(8, 1 << (n - 1).bit_length())
    pad = [np.concatenate([a.ravel(), np.full(size - n, v)])
           for a, v in ((f, 0.5), (s, 1.0), (lam, 1.0), (u0, 0.5))]
    return np.asarray(_time_to_fraction_jit(*pad, depth=depth))[:n].reshape(f.shape)

# the methods whose modes are those of balanced, aligned weights (`dln.solve(depth=, u0=)`)
_MODE_SOLUTIONS = ("exact-exponential", "exact-logistic", "exact-implicit")


# ------------------------------------------------------------------------- argument checks
def _check_task(task) -> Task:
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    return task


def _check_layer(layer, depth: int) -> int:
    layer = check_int(layer, "layer", 1, what=" (weight matrices below the layer)")
    if layer > depth:
        raise ValueError(f"`layer` must be between 1 and depth = {depth} (the layer after "
                         f"`layer` weight matrices; {depth} is the output), got {layer}.")
    return layer


def _inputs(task, inputs):
    """The items' inputs `(P, Ni)`: `inputs`, else the task's data `X`."""
    if inputs is None:
        if task.X is None:
            raise ValueError("the task has no data `X` (it was built from correlations); pass "
                             "the items' inputs as `inputs` (P, Ni), one row per item.")
        return task.X
    inputs = as_array(inputs, "inputs", ndim=2)
    if inputs.shape[1] != task.n_in:
        raise ValueError(f"`inputs` must have shape (P, {task.n_in}) (one row per item, the "
                         f"task's {task.n_in} inputs), got {tuple(inputs.shape)}.")
    return inputs


def _task_or_trajectory(traj, depth, u0, name: str, aligned: bool):
    """`(task, depth, u0, kind, decay)` of `name(traj, …)`: a `Task` with the aligned init's
    `depth` and `u0` (exact), or a trajectory that carries its own."""
    if isinstance(traj, Task):
        if depth is None or u0 is None:
            raise TypeError(f"{name}(task, …) needs `depth` and `u0` (the aligned init); "
                            "or pass a trajectory.")
        task, depth = _check_task(traj), check_depth(depth)
        if aligned:
            _check_aligned(task, name)
        return task, depth, _check_u0(u0, task, depth), "exact", False
    if depth is not None or u0 is not None:
        raise TypeError("`depth` and `u0` go with a Task; a trajectory carries its own.")
    kind = _check_trajectory(traj, biases=True)
    return traj.task, traj.depth, traj.u0, kind, traj.weight_decay is not None


def _check_trajectory(traj, biases: bool = False) -> str:
    """`"exact"` (a mode solution) or `"simulation"`; anything else raises. A trajectory with
    biases raises too, unless `biases` (then only a simulation is accepted: the answer reads
    its map, not its hidden layers)."""
    if not isinstance(traj, Trajectory):
        raise TypeError(f"`traj` must be a dln.Trajectory (from dln.solve or dln.simulate), got "
                        f"{type(traj).__name__}.")
    if traj.pathways is not None or traj.tasks is not None:
        raise ValueError("`traj` must be a trajectory of one network on one task; pathways and "
                         "schedules of phases are not supported here.")
    has_biases = any(x is not None for x in (traj.offset, traj.final_biases,
                                             traj.recorded_biases))
    if has_biases and not (biases and traj.method == "simulation"):
        raise ValueError(
            "`traj` has biases (an output offset): the hidden representations and item "
            "similarity here, and the mode solutions, are those of a network without biases "
            "(with biases a hidden layer is W x + b, and the biases absorb the items' mean). "
            "Run dln.solve / dln.simulate without `biases` (e.g. on centred data).")
    if traj.method == "simulation":
        return "simulation"
    if traj.method in _MODE_SOLUTIONS or (traj.method == "reduced-integration"
                                          and traj.weight_decay is not None):
        return "exact"
    raise ValueError(f"`traj` must be a mode solution of dln.solve(task, depth=…, u0=…) (small, "
                     f"balanced, aligned weights) or a simulation; got method "
                     f"{traj.method!r}, whose weights are not known in closed form here.")


def _check_fraction(fraction) -> float:
    f = check_real(fraction, "fraction", low=0.0, strict=True,
                   what=" (a fraction of the target, in (0, 1))")
    if f >= 1:
        raise ValueError(f"`fraction` must be below 1 (the modes rise to their targets), got "
                         f"{f!r}.")
    return f


def _check_index(value, name: str, size: int, what: str) -> int:
    i = check_int(value, name, 0, what=f" (an index of the {what})")
    if i >= size:
        raise ValueError(f"`{name}` = {i} is out of range: there are {size} {what} "
                         f"(indices 0..{size - 1}).")
    return i


def _check_u0(u0, task, depth) -> np.ndarray:
    """`u0` (a scalar or one value per mode) broadcast to `(K,)` (numpy); `>= 0` at depth >= 2."""
    K = task.n_modes
    u0 = as_array(u0, "u0", ndim=(0, 1))
    if u0.ndim == 1 and u0.shape != (K,):
        raise ValueError(f"`u0` must be a scalar or have shape ({K},) (one value per mode), got "
                         f"{tuple(u0.shape)}.")
    u0 = np.broadcast_to(np.asarray(u0, dtype=float), (K,))
    if depth >= 2 and np.any(u0 < 0):
        raise ValueError("`u0` must be >= 0 for depth >= 2 (u = a^D with equal layers).")
    return u0


def _check_aligned(task, caller):
    if task.input_aligned is False:
        raise ValueError(f"{caller}() uses the exact mode solution, which needs `sigma_xx` "
                         "diagonal in the task's right singular basis (whitened or one-hot "
                         "inputs), as dln.solve does; simulate the network and pass the "
                         "trajectory instead.")


# ------------------------------------------------------------------ representations, RSA
def representations_from_modes(task: Task, modes, depth: int, layer: int = 1, inputs=None):
    """The items' representations after `layer` weight matrices of an aligned, balanced network
    whose map has mode strengths `modes` `(..., K)`: `(..., P, K)` for a hidden layer.

    `H_l = X V diag(a^l)`, `a_α = sign(u_α)|u_α|^{1/D}`: the items passed through the weights
    of `dln.init.aligned_from_strengths(task, depth, modes)` (identity hidden bases; any other
    basis `R_l` rotates every row by the same `R_l`); `layer = depth` gives the outputs
    `X V diag(u) Uᵀ`, `(..., P, No)`. `inputs` `(P, Ni)`: the items (default `task.X`).
    """
    _check_task(task)
    depth = check_depth(depth)
    layer = _check_layer(layer, depth)
    X = _inputs(task, inputs)
    modes = task._check_modes(modes)
    return _through(X, tuple(aligned_from_strengths(task, depth, modes)[:layer]))


def representations_from_weights(weights: Sequence, inputs, layer: int = 1):
    """The items' representations `X W_1ᵀ ⋯ W_lᵀ` after `layer` weight matrices, `(..., P, h_l)`.

    `weights`: `[W1, …, WD]`, each `(..., out, in)` (e.g. the `recorded_weights` of a
    simulation, `(T, out, in)`: then `(T, P, h_l)`); `inputs` `(P, Ni)` one row per item.
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"`weights` must be a list [W1, …, WD], got {type(weights).__name__}.")
    if not weights:
        raise ValueError("`weights` is empty; pass the list of weight matrices [W1, …, WD].")
    layer = _check_layer(layer, len(weights))
    X = as_array(inputs, "inputs", ndim=2)
    width = X.shape[-1]
    checked = []
    for i, W in enumerate(weights[:layer]):
        W = as_array(W, f"weights[{i}]", finite=False)
        if W.ndim < 2 or W.shape[-1] != width:
            raise ValueError(f"`weights[{i}]` must have shape (..., out, {width}) to act on "
                             f"the layer below, got {tuple(W.shape)}.")
        width = W.shape[-2]
        checked.append(W)
    return _through(X, tuple(checked))


@jax.jit
def _through(X, weights):
    H = X
    for W in weights:
        H = H @ jnp.swapaxes(W, -1, -2)
    return H


@functools.partial(jax.jit, static_argnames="normalize")
def _normalise(G, normalize: bool):
    if not normalize:
        return G
    d = jnp.diagonal(G, axis1=-2, axis2=-1)
    safe = jnp.where(d > 0, d, 1.0)
    scale = jnp.sqrt(safe)
    C = G / (scale[..., :, None] * scale[..., None, :])
    keep = (d[..., :, None] > 0) & (d[..., None, :] > 0)
    return jnp.where(keep, C, 0.0)


def similarity_from_modes(task: Task, modes, depth: int, layer: int = 1, inputs=None,
                          normalize: bool = False):
    """Item similarity `G_l = X V diag(|u|^{2l/D}) Vᵀ Xᵀ` `(..., P, P)` of the representations
    after `layer` weight matrices of an aligned, balanced depth-`D` network whose map has mode
    strengths `modes` `(..., K)` (any hidden bases: `R_lᵀR_l = I` cancels).

    `normalize=True` gives the cosine similarity `G_ij/√(G_ii G_jj)` (0 where an item's
    representation is 0). `inputs` `(P, Ni)`: the items (default `task.X`).
    """
    _check_task(task)
    depth = check_depth(depth)
    layer = _check_layer(layer, depth)
    check_bool(normalize, "normalize")
    XV = _inputs(task, inputs) @ task.V
    modes = task._check_modes(modes)
    return _gram_kernel(XV, modes, 2.0 * layer / depth, normalize)


@functools.partial(jax.jit, static_argnames="normalize")
def _gram_kernel(XV, modes, power, normalize):
    G = jnp.einsum("ik,...k,jk->...ij", XV, jnp.abs(modes) ** power, XV)
    return _normalise(G, normalize)


def similarity_from_weights(weights: Sequence, inputs, layer: int = 1, normalize: bool = False):
    """Item similarity `H_l H_lᵀ` `(..., P, P)` of `representations_from_weights` (cosine
    similarity with `normalize=True`)."""
    check_bool(normalize, "normalize")
    H = representations_from_weights(weights, inputs, layer)
    return _gram_of(H, normalize)


@functools.partial(jax.jit, static_argnames="normalize")
def _gram_of(H, normalize):
    return _normalise(H @ jnp.swapaxes(H, -1, -2), normalize)


def representations(traj: Trajectory, layer: int = 1, inputs=None):
    """The items' representations after `layer` weight matrices at every record, `(T, P, h)`.

    Exact (`dln.solve(task, depth=…, u0=…)`): `representations_from_modes`, in the hidden basis
    of `dln.init.aligned` with identity bases. Simulation: from its recorded weights
    (`dln.simulate(..., record_weights=True)`), in the network's own hidden basis. `inputs`
    `(P, Ni)`: the items (default the task's `X`).
    """
    kind = _check_trajectory(traj)
    if kind == "exact":
        return representations_from_modes(traj.task, traj.modes, traj.depth, layer, inputs)
    return representations_from_weights(_recorded(traj), _inputs(traj.task, inputs), layer)


def similarity(traj: Trajectory, layer: int = 1, inputs=None, normalize: bool = False):
    """Item similarity (representational similarity matrix) after `layer` weight matrices at
    every record, `(T, P, P)`: `G_l(t) = X V diag(|u(t)|^{2l/D}) Vᵀ Xᵀ` for a mode solution of
    `dln.solve`, `H_l H_lᵀ` from the recorded weights of a simulation
    (`record_weights=True`). `normalize=True`: cosine similarity. Both are basis-free, so the
    two compare entry by entry."""
    kind = _check_trajectory(traj)
    if kind == "exact":
        return similarity_from_modes(traj.task, traj.modes, traj.depth, layer, inputs, normalize)
    return similarity_from_weights(_recorded(traj), _inputs(traj.task, inputs), layer, normalize)


def _recorded(traj):
    if traj.recorded_weights is None:
        raise ValueError("this simulation did not record its weights; run "
                         "dln.simulate(..., record_weights=True) to read its representations.")
    return traj.recorded_weights


# ------------------------------------------------------------------------------------ MDS
def _procrustes(Z, target):
    """`Z Q` with the orthogonal `Q` that brings `Z` closest to `target` (Frobenius)."""
    A, _, Bt = jnp.linalg.svd(jnp.swapaxes(Z, -1, -2) @ target, full_matrices=False)
    return Z @ (A @ Bt)


def _classical(G):
    """Full classical-MDS configurations `(T, P, P)` of Gram matrices `(T, P, P)`: the
    double-centred Gram `J G J` (`J = I − 11ᵀ/P`) as `E diag(λ) Eᵀ`, coordinates `E √λ`,
    axes by decreasing eigenvalue."""
    P = G.shape[-1]
    J = jnp.eye(P, dtype=G.dtype) - 1.0 / P
    B = J @ G @ J
    lam, E = jnp.linalg.eigh(0.5 * (B + jnp.swapaxes(B, -1, -2)))
    return (E * jnp.sqrt(jnp.maximum(lam, 0.0))[..., None, :])[..., ::-1]


@jax.jit
def _mds_chain(G):
    Z = _classical(G)

    def back(later, Zt):
        aligned = _procrustes(Zt, later)
        return aligned, aligned

    _, earlier = jax.lax.scan(back, Z[-1], Z[:-1], reverse=True)
    return jnp.concatenate([earlier, Z[-1:]], axis=0)


def _l1_axes(points, r, starts=8, iterations=100):
    """`r` orthonormal directions, one after the other, each maximising the spread
    `Σ_i |p_i · d|` of the points `(P, m)` projected on it (L1 principal axes: the fixed point
    `d ← Σ_i sign(p_i · d) p_i`, normalised, from several starts), then completed to an
    orthonormal basis `(m, m)`, the chosen directions first."""
    m = points.shape[1]
    chosen = []
    rest = points.copy()
    for _ in range(r):
        norms = np.linalg.norm(rest, axis=1)
        order = np.argsort(-norms)[:starts]
        best, best_value = None, -1.0
        for d in [rest[k] / norms[k] for k in order if norms[k] > 0] + list(np.eye(m)):
            for _ in range(iterations):
                signs = np.where(rest @ d >= 0, 1.0, -1.0)
                new = signs @ rest
                norm = np.linalg.norm(new)
                if norm == 0:
                    break
                new = new / norm
                if np.allclose(new, d, rtol=0, atol=1e-13):
                    break
                d = new
            value = float(np.abs(rest @ d).sum())
            if value > best_value + 1e-12:
                best, best_value = d, value
        chosen.append(best)
        rest = rest - np.outer(rest @ best, best)
    Q, R = np.linalg.qr(np.column_stack(chosen + list(np.eye(m))))
    diagonal = np.diagonal(R)[:m]
    return Q[:, :m] * np.where(diagonal < 0, -1.0, 1.0)  # (the chosen directions, signs kept)


def _break_ties(Z, dims, rtol=1e-6):
    """Choose the kept axes inside a group of equal eigenvalues of the last record that the cut
    at `dims` splits: the group's L1 principal axes (`_l1_axes`), the same rotation for every
    record (the records stay aligned)."""
    last = np.asarray(Z[-1])
    lam = np.sum(last**2, axis=0)
    if dims >= lam.size:
        return Z
    tol = rtol * max(lam[0], 1e-300)
    if abs(lam[dims - 1] - lam[dims]) > tol or lam[dims] <= tol:
        return Z
    group = np.nonzero(np.abs(lam - lam[dims - 1]) <= tol)[0]
    a = group[0]
    Q = _l1_axes(last[:, group], dims - a)
    return Z.at[..., group].set(Z[..., group] @ Q)


@functools.partial(jax.jit, static_argnames="dims")
def _mds_to(G, reference, dims):
    Z = _classical(G)
    pad = jnp.zeros(reference.shape[:-1] + (Z.shape[-1] - dims,), reference.dtype)
    return _procrustes(Z, jnp.concatenate([reference, pad], axis=-1))[..., :dims]


def mds(grams, dims: int = 2, reference=None):
    """Classical MDS trajectories of the items: `(T, P, dims)` coordinates from Gram matrices
    `(T, P, P)` (e.g. `similarity(traj)`; a single `(P, P)` gives `(P, dims)`, a batch of runs
    `(B, T, P, P)` gives `(B, T, P, dims)`, each run on its own).

    Each record's configuration is the classical (Torgerson) scaling of its Gram matrix: the
    double-centred `J G J = E diag(λ) Eᵀ`, coordinates `E √λ` (all `P` axes, so that the
    alignment sees the whole configuration). Without `reference`, every record is rotated
    (orthogonal Procrustes) onto the next one, from the last record backwards, and the
    coordinates are read on the last record's principal axes: the trajectories are continuous
    and the final picture is the MDS of the final representation. Where `dims` cuts through a
    group of equal eigenvalues of the last record (e.g. two sibling pairs told apart by modes of
    equal strength, of which one axis is kept), no choice of axes inside the group is
    canonical; the kept ones are then the group's L1 principal axes (each maximising
    `Σ_i |z_i · d|`, the spread of the items along it), so that the picture separates as many
    items as it can (for the two pairs, the diagonal of their plane) and is the same whatever
    basis the eigensolver returned. With `reference`
    `(T, P, dims)` (e.g. the exact coordinates), each record is instead rotated onto the
    reference at the same record (orthogonal Procrustes on the full configuration, the
    reference padded with zeros), so that a simulation is drawn in the axes of the theory.

    Without `reference` the choice of axes inside a tied group runs eagerly (numpy), so `mds`
    is then eager-only: under `jax.jit` / `jax.vmap` it raises; with `reference` it traces.
    """
    dims = check_int(dims, "dims", 1, what=" (the number of MDS axes)")
    G = as_array(grams, "grams", ndim=(2, 3, 4))
    if reference is None and not is_concrete(G):
        raise TypeError("mds() without `reference` is eager-only (it chooses the axes of tied "
                        "eigenvalues with numpy); call it outside jax.jit / jax.vmap, or pass "
                        "`reference` (records, items, dims) to align onto, which traces.")
    if G.ndim == 4:  # a batch of runs
        refs = [None] * G.shape[0] if reference is None else as_array(reference, "reference",
                                                                       ndim=4)
        if reference is not None and refs.shape[0] != G.shape[0]:
            raise ValueError(f"`reference` must have one entry per run: {G.shape[0]}, got "
                             f"{refs.shape[0]}.")
        return jnp.stack([mds(g, dims, r) for g, r in zip(G, refs)])
    single = G.ndim == 2
    G = G[None] if single else G
    P = G.shape[-1]
    if G.shape[-2] != P:
        raise ValueError(f"`grams` must be square Gram matrices (T, P, P), got "
                         f"{tuple(G.shape)}.")
    if dims > P:
        raise ValueError(f"`dims` = {dims} exceeds the number of items P = {P}.")
    if reference is None:
        out = _break_ties(_mds_chain(G), dims)[..., :dims]
    else:
        R = as_array(reference, "reference", ndim=(2, 3))
        R = R[None] if R.ndim == 2 else R
        if R.shape != G.shape[:-1] + (dims,):
            raise ValueError(f"`reference` must have shape {G.shape[:-1] + (dims,)} (records, "
                             f"items, dims), got {tuple(R.shape)}.")
        out = _mds_to(G, R, dims)
    return out[0] if single else out


# ---------------------------------------------------------------- progressive differentiation
def mode_groups(task: Task, rtol: float = 1e-8) -> tuple[np.ndarray, ...]:
    """The modes in groups of equal singular value and input variance, strongest first.

    Each group is an index array into the modes; on a hierarchy (`dln.datasets.hierarchy`) the
    groups are its levels, root first. Values within `rtol · s_max` (resp. `rtol · λ_max`) of
    each other count as equal. Modes with `s <= rtol · s_max` count as `s = 0` (rounding in a
    rank-deficient task) and form the last group (never learned: `stage_times` gives `inf`).
    """
    _check_task(task)
    rtol = check_real(rtol, "rtol", low=0.0, what=" (a relative tolerance)")
    s, lam = np.asarray(task.s, dtype=float), np.asarray(task.input_variance, dtype=float)
    tol_s, tol_l = rtol * max(s.max(initial=0.0), 1e-300), rtol * max(lam.max(initial=0.0), 1e-300)
    s = np.where(s <= tol_s, 0.0, s)
    groups, start = [], 0
    for i in range(1, len(s) + 1):
        if i == len(s) or abs(s[i] - s[start]) > tol_s or abs(lam[i] - lam[start]) > tol_l:
            groups.append(np.arange(start, i))
            start = i
    return tuple(groups)


def _crossing(traj, values, fraction):
    """The first time each series of `values` `(..., T, K)` (one per mode, against that mode's
    target `s/λ`) reaches `fraction` of the target, `(..., K)`: `Trajectory.time_to` on these
    series (linear interpolation between records; `t[0]` if it starts there, `inf` if never)."""
    probe = dataclasses.replace(traj, modes=jnp.asarray(values), u0=None)
    return np.asarray(probe.time_to(fraction))


def stage_times(traj: Trajectory | Task, fraction: float = 0.5, rtol: float = 1e-8, *,
                depth: int | None = None, u0=None) -> np.ndarray:
    """The time each group of modes (`mode_groups`: on a tree, each level) reaches `fraction`
    of its target `s/λ`, `(n_groups,)` flow times (numpy).

    Exact (a mode solution of `dln.solve`, or a `Task` with `depth` and `u0`: the same without
    solving; the task must be input-aligned, as for `dln.solve`): the closed form
    `dln.modes.time_to_fraction` (depth 2: `t = [ln(f/w0) + ln((1 − w0)/(1 − f))]/(2s)` with
    `w0 = λu0/s`, so `t_{1/2} = ln(s/(λu0) − 1)/(2s)`; depth ≥ 3 the implicit solution), which
    needs the modes of a group to start at the same strength. Simulation, and a mode solution
    with weight decay (no closed form for the crossing): the first record time at which the
    group's mean strength `Σ_{α∈g} U_αᵀ W V_α / |g|` (the same in any basis of a degenerate
    group) crosses `fraction` of the target, interpolated linearly between records
    (`Trajectory.time_to`), `(B, n_groups)` for a batch of `B` runs. With weight decay the
    target is still `s/λ`, not the lower point the decayed mode settles at
    (`dln.modes.weight_decay_target`): a mode that settles below `fraction · s/λ` gives `inf`.
    `inf` where never, and for the group of modes with `s <= rtol · s_max` (never learned).
    A simulation with biases is read from its map.
    """
    f = _check_fraction(fraction)
    task, depth, u0, kind, decay = _task_or_trajectory(traj, depth, u0, "stage_times", True)
    groups = mode_groups(task, rtol)
    first = np.array([g[0] for g in groups])
    s = np.asarray(task.s, dtype=float)
    dead = s[first] <= rtol * max(s.max(initial=0.0), 1e-300)
    if kind == "exact" and not decay:
        u0 = np.broadcast_to(np.asarray(u0, dtype=float), (task.n_modes,))
        for g in groups:
            if np.ptp(u0[g]) > rtol * max(np.abs(u0[g]).max(), 1e-300):
                raise ValueError(f"the modes {g.tolist()} share a singular value but start at "
                                 f"different strengths {u0[g].tolist()}; their mean has no "
                                 "closed form. Use one u0 per group.")
        times = _time_to_fraction(f, s[first], np.asarray(task.input_variance)[first],
                                  u0[first], depth=depth)
    else:
        modes = np.asarray(traj.modes)
        means = np.empty_like(modes)
        for g in groups:  # every mode of a group carries the group's mean (same target)
            means[..., g] = modes[..., g].mean(axis=-1, keepdims=True)
        times = _crossing(traj, means, f)[..., first]
    return np.where(dead, np.inf, times)


# ---------------------------------------------------------------- illusory correlations
def feature_output(traj: Trajectory, item: int, feature: int, inputs=None):
    """The network's output for `feature` on `item` at every record, `(T,)` (numpy):
    `ŷ_f(x_i) = (W(t) x_i)_f` (plus the offset of a network with biases;
    `dln.measures.ocs.outputs`). For a mode solution this is `Σ_α U_fα u_α(t) (Vᵀ x_i)_α`.
    `inputs` `(P, Ni)`: the items (default `task.X`)."""
    if not isinstance(traj, Trajectory):
        raise TypeError(f"`traj` must be a dln.Trajectory, got {type(traj).__name__}.")
    if traj.pathways is not None:
        raise ValueError("`traj` has pathways; pass a trajectory of one network.")
    task = traj.task
    X = _inputs(task, inputs)
    i = _check_index(item, "item", X.shape[0], "items")
    f = _check_index(feature, "feature", task.n_out, "features")
    return np.asarray(_outputs(traj, X[i:i + 1])[..., 0, f])


def _coefficients(task, X, i, f):
    """`c_α = U_fα (Vᵀ x_i)_α`: the output for feature f on item i is `Σ_α c_α u_α`."""
    return np.asarray(task.U)[f] * (np.asarray(task.V).T @ np.asarray(X)[i])


def category_plateaus(task: Task, item: int, feature: int, inputs=None,
                      rtol: float = 1e-8) -> np.ndarray:
    """The output for `feature` on `item` once the first `k + 1` mode groups are learned and the
    others not started, for each `k`: `ȳ_k = Σ_{g ≤ k} Σ_{α ∈ g} c_α s_α/λ_α`, `(n_groups,)`
    (numpy; `c_α = U_fα (Vᵀx_i)_α`, groups as `mode_groups`).

    When the stages are far apart (deep networks, small init) the output rests on these values
    in turn. On a tree (`dln.datasets.hierarchy`, one-hot items) `ȳ_k` is the fraction of the
    items of the item's level-`k` category that have the feature (the category average of the
    targets): a feature that the item lacks but most of its category has is an illusory
    correlation of height up to `max_k ȳ_k` before the last stage corrects it.
    """
    _check_task(task)
    X = _inputs(task, inputs)
    i = _check_index(item, "item", X.shape[0], "items")
    f = _check_index(feature, "feature", task.n_out, "features")
    c = _coefficients(task, X, i, f) * np.asarray(task.mode_targets)
    return np.cumsum([c[g].sum() for g in mode_groups(task, rtol)])


_N_LINEAR, _N_LOG, _N_WINDOW, _HALVINGS = 1024, 1024, 512, 80


@functools.partial(jax.jit, static_argnames="depth")
def _illusory(c, s, lam, u0, depth, windows, t_end):
    """Peak of `y(t) = Σ c_α u_α(t)` on `[0, t_end]` and its first upward zero crossing: a
    grid (uniform, log-spaced, and `_N_WINDOW` times across each mode's transition window
    `windows` `(K, 2)`), then bisection on the sign of `dy/dt` (and of `y`)."""

    def state(t):  # y and dy/dt at the times t (any shape): the closed form and its t-derivative
        return jax.jvp(lambda t: _modes.trajectory(t[..., None], s, lam, u0, depth) @ c,
                       (t,), (jnp.ones_like(t),))

    unit = jnp.linspace(0.0, 1.0, _N_WINDOW)
    ts = jnp.sort(jnp.concatenate([
        jnp.linspace(0.0, t_end, _N_LINEAR),
        t_end * jnp.logspace(-12.0, 0.0, _N_LOG),
        (windows[:, :1] + (windows[:, 1:] - windows[:, :1]) * unit).ravel()]))
    ys, vs = state(ts)
    n = ts.size
    k = jnp.argmax(ys)
    # the first grid point with y > 0 after a start at y <= 0: the zero crossing before it
    positive = ys > 0
    j = jnp.argmax(positive)
    has_cross = (~positive[0]) & positive.any()

    def step(_, carry):  # both bisections at once: dy/dt > 0 left of the peak, y <= 0 left of 0
        lo, hi = carry
        mid = 0.5 * (lo + hi)
        y, v = state(mid)
        go_right = jnp.stack([v[0] > 0, y[1] <= 0])
        return jnp.where(go_right, mid, lo), jnp.where(go_right, hi, mid)

    lo = jnp.stack([ts[jnp.maximum(k - 1, 0)], ts[jnp.maximum(j - 1, 0)]])
    hi = jnp.stack([ts[jnp.minimum(k + 1, n - 1)], ts[j]])
    lo, hi = jax.lax.fori_loop(0, _HALVINGS, step, (lo, hi))
    t_peak, t_cross = 0.5 * (lo + hi)
    y_refined = state(t_peak)[0]
    # the refinement never lowers the grid's best; a start that falls at once peaks at t = 0
    at_start = (k == 0) & (vs[0] <= 0)
    better = (y_refined > ys[k]) & ~at_start
    t_peak = jnp.where(better, t_peak, ts[k])
    y_peak = jnp.where(better, y_refined, ys[k])
    t_zero = jnp.where(has_cross, t_cross, jnp.where(positive[0], 0.0, jnp.inf))
    return t_peak, y_peak, t_zero, ys[0]


def illusory_peak(task: Task, *, depth: int, u0, item: int, feature: int, inputs=None,
                  rtol: float = 1e-8) -> dict:
    """The exact transient of the output for `feature` on `item` from small, balanced, aligned
    weights (the mode solution of `dln.solve(task, depth=depth, u0=u0)`).

    `y(t) = Σ_α c_α u_α(t)` with `c_α = U_fα (Vᵀx_i)_α` and the closed-form strengths `u_α(t)`
    (`dln.modes.trajectory`); it starts at `y(0) = Σ_α c_α u0_α` and ends at
    `Σ_α c_α s_α/λ_α` (the least-squares output, the target `Y_if` for one-hot or whitened
    items). Its maximum over `t ≥ 0` is located on a grid up to `t_end`, the time when every
    mode with `c_α ≠ 0` is within 0.1% of its target (from below or above) ×1.5, plus ten
    relaxation times `1/κ_α` (`dln.modes.rate`) of the slowest such mode: 1024 uniform and 1024
    log-spaced times (from `1e-12 t_end`) and 512 across each mode's transition window (from
    0.1% to 99.9% of its target, or from its start down to 100.1% for a mode above its target),
    so that a narrow early bump is seen however far apart the modes' time scales are; then
    refined by bisection on the sign of `dy/dt` (the time derivative of the closed form; 80
    halvings: the peak time to float64 rounding), never below the grid's best value. An output
    that falls from the start peaks at `t = 0` exactly; one that rises to its limit without
    exceeding it (`final` above every value reached) has `peak = final`, `peak_time = inf`.

    Returns a dict of floats: `peak_time`, `peak` (the maximum `y`, or its supremum `final`),
    `start` (`y(0)`), `final` (the limit), `zero_time` (the first time `y` crosses 0 upwards
    after a start at or below 0; 0 if it starts above 0, `inf` if it never does), and
    `plateaus` (numpy, `category_plateaus`). An illusory correlation is `final = 0` with
    `peak > 0`.
    """
    _check_task(task)
    depth = check_depth(depth)
    _check_aligned(task, "illusory_peak")
    X = _inputs(task, inputs)
    i = _check_index(item, "item", X.shape[0], "items")
    f = _check_index(feature, "feature", task.n_out, "features")
    u0 = _check_u0(u0, task, depth)
    c = _coefficients(task, X, i, f)
    s, lam = np.asarray(task.s, dtype=float), np.asarray(task.input_variance, dtype=float)
    moving = (np.abs(c) > 1e-12 * max(float(np.abs(c).max()), 1e-300)) \
        & (s > rtol * max(s.max(initial=0.0), 1e-300))
    if depth >= 2 and np.any(moving & (u0 == 0)):
        raise ValueError("a mode that carries this output starts at u0 = 0, a fixed point at "
                         "depth >= 2: it is never learned. Pass u0 > 0.")
    # each mode's transition window: 0.1% → 99.9% of its target from below, down to 100.1%
    # from above (0 where it starts inside)
    above = u0 * lam > s
    start = np.where(above, 0.0, _time_to_fraction(1e-3, s, lam, u0, depth=depth))
    end = _time_to_fraction(np.where(above, 1.001, 0.999), s, lam, u0, depth=depth)
    windows = np.where((moving & np.isfinite(start) & np.isfinite(end))[:, None],
                       np.stack([start, end], axis=1), 0.0)
    kappa = np.asarray(_modes.rate(np.where(moving, s, 1.0), np.where(moving, lam, 1.0),
                                   depth))
    relax = 10.0 / kappa[moving].min() if moving.any() else 1.0
    t_end = 1.5 * float(windows[:, 1].max()) + relax
    t_peak, peak, t_zero, y0 = (float(v) for v in _illusory(c, s, lam, u0, depth, windows,
                                                             t_end))
    final = float(np.sum(c * np.asarray(task.mode_targets)))
    if final > peak:  # rises to its limit without passing it: the supremum, never reached
        t_peak, peak = np.inf, final
    return {"peak_time": t_peak, "peak": peak, "start": y0, "final": final,
            "zero_time": t_zero, "plateaus": category_plateaus(task, i, f, X, rtol)}


# ---------------------------------------------------------------------- category coherence
def _positive_ints(values, name):
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, np.ndarray)):
        raise TypeError(f"`{name}` must be a list of positive ints, got {values!r}.")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"`{name}` must hold positive ints, got {list(values)!r}.")
        out.append(int(v))
    if not out:
        raise ValueError(f"`{name}` is empty; give at least one category.")
    return out


def category_members(sizes: Sequence[int]) -> list[np.ndarray]:
    """The item indices of each category of `coherence_task(sizes, …)`: consecutive blocks."""
    sizes = _positive_ints(sizes, "sizes")
    ends = np.cumsum(sizes)
    return [np.arange(e - k, e) for e, k in zip(ends, sizes)]


def coherence_task(sizes: Sequence[int], shared: Sequence[int], *, unique: bool = True,
                   whiten: bool = False) -> Task:
    """Disjoint categories of varying coherence: category `c` has `sizes[c]` items (one-hot,
    consecutive) that all have `shared[c]` features of their own, which no other item has; with
    `unique=True` every item also has one feature of its own.

    `Y` `(P, Σ shared + P)` (category features first, category by category, then the items'
    own features). The item kernel `Y Yᵀ` is block diagonal, `F_c 11ᵀ + I` on category
    `c` (`K_c = sizes[c]`, `F_c = shared[c]`), so each category is a mode with right singular
    vector `1_c/√K_c` and singular value `√(K_c F_c + 1)` in the raw data (`√(K_c F_c)` without
    `unique`), its coherence; the differences inside a category are modes of singular value 1
    (0 without `unique`). In `dln`'s normalisation the task's `s` are these divided by `P`
    (one-hot, `X = I`) or `√P` (`whiten=True`, `X = √P I`).
    """
    sizes = _positive_ints(sizes, "sizes")
    shared = _positive_ints(shared, "shared")
    if len(sizes) != len(shared):
        raise ValueError(f"`sizes` and `shared` must have one entry per category; got "
                         f"{len(sizes)} and {len(shared)}.")
    check_bool(unique, "unique")
    check_bool(whiten, "whiten")
    P = sum(sizes)
    Y = np.zeros((P, sum(shared) + (P if unique else 0)))
    column = 0
    for items, F in zip(category_members(sizes), shared):
        Y[items[0]:items[-1] + 1, column:column + F] = 1.0
        column += F
    if unique:
        Y[:, column:] = np.eye(P)
    X = np.eye(P) * (np.sqrt(P) if whiten else 1.0)
    dtype = jnp.result_type(float)
    return Task.from_data(jnp.asarray(X, dtype), jnp.asarray(Y, dtype))


def _members(task, members, n_items):
    idx = np.asarray(members)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"`members` must be a non-empty 1-D list of item indices, got "
                         f"{members!r}.")
    if idx.min() < 0 or idx.max() >= n_items or np.unique(idx).size != idx.size:
        raise ValueError(f"`members` must be distinct item indices in 0..{n_items - 1}, got "
                         f"{idx.tolist()}.")
    return idx


def category_coherence(task: Task, members) -> float:
    """The coherence of the category `members` (item indices): `||Yᵀ 1_M|| / √|M|`, the gain of
    the category's indicator in the raw item × feature data `Y` (numpy float).

    When `1_M/√|M|` is a right singular vector of `Y` (a category whose shared features no
    other item has, as in `coherence_task`), this is the singular value of the category's mode:
    `√(K F + 1)` for `K` items sharing `F` features plus one of their own each. It grows with
    the number of items and of features they share, and is what sets how fast the category is
    learned (`category_time`).
    """
    _check_task(task)
    if task.Y is None:
        raise ValueError("category_coherence() reads the data `Y`; build the task with "
                         "dln.Task.from_data(X, Y).")
    Y = np.asarray(task.Y, dtype=float)
    idx = _members(task, members, Y.shape[0])
    return float(np.linalg.norm(Y[idx].sum(axis=0)) / np.sqrt(idx.size))


def _category_directions(task, members, inputs):
    X = np.asarray(_inputs(task, inputs), dtype=float)
    idx = _members(task, members, X.shape[0])
    v = X[idx].sum(axis=0)
    if not np.any(v):
        raise ValueError("the members' inputs sum to 0: the category has no input direction.")
    v = v / np.linalg.norm(v)
    syx, sxx = np.asarray(task.sigma_yx, float), np.asarray(task.sigma_xx, float)
    out = syx @ v
    s = float(np.linalg.norm(out))
    if s == 0:
        raise ValueError("the category's input direction carries no signal (Σyx v = 0).")
    lam = float(v @ sxx @ v)
    return v, out / s, s, lam


def category_strength(traj: Trajectory, members, inputs=None):
    """The strength of the category `members` in the network's map at every record, and its
    target: `(ûᵀ W(t) v, s_M/λ_M)`, with `v ∝ Σ_{i∈M} x_i` (unit) the category's input
    direction, `s_M = ||Σyx v||`, `û = Σyx v / s_M` and `λ_M = vᵀΣxx v`. Works for exact and
    simulated trajectories; `(T,)` (numpy) and a float."""
    if not isinstance(traj, Trajectory):
        raise TypeError(f"`traj` must be a dln.Trajectory, got {type(traj).__name__}.")
    task = traj.task
    v, u_hat, s, lam = _category_directions(task, members, inputs)
    if traj.stored_map is None:  # a mode solution: ûᵀ U diag(u) Vᵀ v
        weights = (np.asarray(task.U).T @ u_hat) * (np.asarray(task.V).T @ v)
        return np.asarray(traj.modes) @ weights, s / lam
    return np.einsum("o,...oi,i->...", u_hat, np.asarray(traj.stored_map), v), s / lam


def category_time(traj: Trajectory | Task, members, fraction: float = 0.5, inputs=None, *,
                  depth: int | None = None, u0=None):
    """The flow time at which the category `members` reaches `fraction` of its target strength
    (`category_strength`).

    Exact (a mode solution of `dln.solve`, or a `Task` with `depth` and `u0`: the same without
    solving): the category's input direction `v` must be a right singular direction of the task
    (`Σyxᵀ Σyx v = s_M² v`, `Σxx v = λ_M v`, to 1e-8), and all modes it overlaps must start at
    the same strength; then its strength is one mode's, and the time is the closed form
    `dln.modes.time_to_fraction(fraction, s_M, λ_M, u0, depth)` (depth 2:
    `t_{1/2} = ln(s_M/(λ_M u0) − 1)/(2 s_M)`), a float. Simulation, and a mode solution with
    weight decay: the first crossing of `category_strength`, interpolated between records
    (`Trajectory.time_to`; `inf` if never; `(B,)` for a batch of runs). With weight decay the
    target is still `s_M/λ_M`, not the lower point the decayed strength settles at
    (`dln.modes.weight_decay_target`).
    """
    f = _check_fraction(fraction)
    task, depth, u0, kind, decay = _task_or_trajectory(traj, depth, u0, "category_time", False)
    v, _, s, lam = _category_directions(task, members, inputs)
    if kind == "simulation" or decay:
        strength, target = category_strength(traj, members, inputs)
        # the strength against its target, as a series against the task's largest target
        targets = np.asarray(task.mode_targets, dtype=float)
        best = int(np.argmax(targets))
        values = np.zeros(np.shape(strength) + (task.n_modes,))
        values[..., best] = np.asarray(strength) * (targets[best] / target)
        times = _crossing(traj, values, f)[..., best]
        return float(times) if times.ndim == 0 else times
    syx, sxx = np.asarray(task.sigma_yx, float), np.asarray(task.sigma_xx, float)
    tol = 1e-8 * max(s, 1e-300)
    if (np.linalg.norm(syx.T @ (syx @ v) - s**2 * v) > tol * s
            or np.linalg.norm(sxx @ v - lam * v) > 1e-8 * max(lam, 1e-300)):
        raise ValueError("the category's input direction is not a singular direction of the "
                         "task, so its strength mixes modes learned at different speeds and has "
                         "no single closed form; simulate, or use a category whose shared "
                         "features no other item has (coherence_task).")
    overlap = np.abs(np.asarray(task.V).T @ v) > 1e-8
    u0 = np.broadcast_to(np.asarray(u0, float), (task.n_modes,))[overlap]
    if np.ptp(u0) > 1e-12 * max(np.abs(u0).max(), 1e-300):
        raise ValueError("the modes along the category's direction start at different strengths; "
                         "its strength then has no single closed form.")
    return float(_time_to_fraction(f, s, lam, float(u0[0]), depth=depth)[0])
