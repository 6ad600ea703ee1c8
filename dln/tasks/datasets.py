"""Hierarchical datasets: items at the leaves of a tree, features at its nodes.

Every function returns a `dln.Task` built with `Task.from_data(X, Y)`, so it keeps its data
(`task.X`, `task.Y`, `task.y_mean`). Rows are samples: `X` is `(P, Ni)`, `Y` is `(P, No)`.

**The tree.** A complete tree with `L = levels` levels below the root and branching factor `b`
has `P = b^L` leaves (the items) and `N = (b^{L+1} − 1)/(b − 1)` nodes. Nodes (features) are
ordered breadth-first: the root (level 0), then the `b` level-1 nodes, …, then the `b^L` leaves.
Item `μ` (`0 ≤ μ < P`) descends from the level-`m` node number `μ // b^{L−m}`.

**One-vs-rest targets** (`hierarchy`): `Y[μ, n] = 1` iff item `μ` descends from node `n`
(Saxe, McClelland & Ganguli 2019, PNAS 116:11537, Fig. 3; the 4-item/7-feature example is
`hierarchy(2)`). The item kernel is `(Y Yᵀ)_{μν} = 1 + depth(LCA(μ, ν))`. Its eigenvectors are
Haar-like wavelets on the tree: a vector constant on the level-`l` subtrees and summing to zero
over the `b` children of every level-`(l−1)` node (`l ≥ 1`), or the uniform vector (`l = 0`).
Such a vector `v` has `1_nᵀ v = 0` for nodes `n` above level `l` and `1_nᵀ v = b^{L−m} v(n)` for a
node at level `m ≥ l`, so

    λ_l = Σ_{m=l}^{L} b^{L−m} = (b^{L−l+1} − 1)/(b − 1),
    multiplicity 1 for l = 0 and b^{l−1}(b − 1) for l ≥ 1   (P in all).

For the binary tree, `λ_l = 2^{L−l+1} − 1` with multiplicities 1, 1, 2, 4, …, `2^{l−1}`, and the
singular values of the raw `Y` are `sqrt(λ_l)`: `√7, √3, 1, 1` for `L = 2`,
`√15, √7, √3, √3, 1, 1, 1, 1` for `L = 3`.

**Normalisation** (`sigma_yx = YᵀX/P`, `sigma_xx = XᵀX/P`):

- one-hot items, `X = I_P` (default): `sigma_xx = I/P`, `sigma_yx = Yᵀ/P`, so
  `task.s = sqrt(λ_l)/P`, `task.input_variance = 1/P` and the least-squares mode values
  `task.mode_targets = sqrt(λ_l)`;
- `whiten=True`, `X = √P I_P`: `sigma_xx = I`, `sigma_yx = Yᵀ/√P`, so
  `task.s = sqrt(λ_l)/√P = mode_targets` and `input_variance = 1`.

Both are `input_aligned`. The uniform item vector `1/√P` is the right singular vector of the
largest mode (`YᵀY` has constant row sums).

**Optimal constant solution** (Rubruck, Bauer, Saxe & Summerfield 2024, arXiv:2406.17467): the best
input-independent output is the mean target `ȳ = task.y_mean`; for one-vs-rest labels it is the
fraction of items below each node, `b^{−m}` for a level-`m` feature (1, 0.5, 0.25, 0.125 for the
binary tree with `L = 3`). `hierarchy_levels` gives the level of each output for per-level
statistics.

**Shared input offset** (`offset_hierarchy`): `x_μ = e_μ + c 1` (correlated inputs; Rubruck et al.
2024, "equivalently driven by generic correlations in the input data"). Then
`XᵀX = I + (2c + c²P) 11ᵀ` has the eigenvalue `(1 + cP)² = 1 + 2cP + c²P²` on the uniform item
direction and 1 on its complement, so `sigma_xx` has `(1 + cP)²/P` and `1/P`. The right singular
vectors of `sigma_yx = Yᵀ(I + c 11ᵀ)/P` are the same Haar-like wavelets; the uniform mode's singular
value is multiplied by `1 + cP`: `s_0 = (1 + cP) sqrt(λ_0)/P`, the others stay `sqrt(λ_l)/P`.

**Branching diffusion** (`noisy_hierarchy`; Saxe et al. 2019, generative model): a feature takes
the value +1 at the node where it is born and diffuses down that node's subtree, each child taking
its parent's value with its sign flipped with probability `flip` (independently at every branch).
Items outside the subtree get 0. Features born at the root are Saxe et al.'s process (their
random ±1 root value only flips the sign of a whole feature, which leaves the singular values and
right singular vectors unchanged, so it is fixed to +1 here). With `flip = 0` the targets are the
one-vs-rest targets of `hierarchy`, each column repeated `features_per_node` times.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dln.tasks.task import Task

__all__ = ["hierarchy", "hierarchy_levels", "saxe2019_toy", "saxe2019_toy_names",
           "noisy_hierarchy", "offset_hierarchy"]

# Refuse trees whose target matrix (P items x N nodes) would not fit comfortably in memory.
_MAX_ENTRIES = 50_000_000


def hierarchy(levels: int, branching: int = 2, *, whiten: bool = False) -> Task:
    """One-hot items at the leaves of a tree, one one-vs-rest feature per tree node.

    Args:
      levels: the number of levels `L >= 1` below the root; `P = branching**levels` items.
      branching: the branching factor `b >= 2`.
      whiten: if True, `X = √P I` so `sigma_xx = I`; else `X = I` so `sigma_xx = I/P`.

    Returns:
      A `Task` with `X` `(P, P)` and `Y` `(P, N)`, `N = (b^{L+1} − 1)/(b − 1)` features in
      breadth-first node order (`hierarchy_levels` gives each feature's level). Its singular values
      are `sqrt(λ_l)/P` (one-hot) or `sqrt(λ_l)/√P` (whitened) with
      `λ_l = (b^{L−l+1} − 1)/(b − 1)`, multiplicity 1 for `l = 0` and `b^{l−1}(b − 1)` for `l ≥ 1`
      (see the module docstring).
    """
    L, b = _check_tree(levels, branching)
    _check_bool(whiten, "whiten")
    Y = _one_vs_rest(L, b)
    P = Y.shape[0]
    X = np.eye(P) * (np.sqrt(P) if whiten else 1.0)
    return Task.from_data(_float(X), _float(Y))


def hierarchy_levels(levels: int, branching: int = 2) -> np.ndarray:
    """The tree level (0 = root … `levels` = leaves) of each feature of `hierarchy`, `(N,)` ints.

    Use it to group outputs by level, e.g. per-level OCS statistics:
    `task.y_mean[hierarchy_levels(L) == l]` is `branching**-l` for every feature of level `l`.
    For `noisy_hierarchy` use `np.repeat(hierarchy_levels(L, b), features_per_node)`.
    """
    L, b = _check_tree(levels, branching)
    return np.repeat(np.arange(L + 1), [b**m for m in range(L + 1)])


def saxe2019_toy(*, whiten: bool = False) -> Task:
    """The 4-item, 7-feature example of Saxe, McClelland & Ganguli (2019, PNAS, Fig. 3).

    Items Canary, Salmon, Oak, Rose; features Grow, Move, Roots, Fly, Swim, Leaves, Petals
    (`saxe2019_toy_names()`). `Y` `(4, 7)` is the transpose of the paper's features × items matrix
    and equals `hierarchy(2).Y`. Singular values of the raw `Y`: `√7, √3, 1, 1`, with right
    singular vectors `(1,1,1,1)/2`, `(1,1,−1,−1)/2`, `(1,−1,0,0)/√2`, `(0,0,1,−1)/√2`;
    `task.s` is these divided by `P = 4` (one-hot `X = I`) or by `√P = 2` (`whiten=True`).
    """
    _check_bool(whiten, "whiten")
    Yt = np.array([[1, 1, 1, 1],   # Grow
                   [1, 1, 0, 0],   # Move
                   [0, 0, 1, 1],   # Roots
                   [1, 0, 0, 0],   # Fly
                   [0, 1, 0, 0],   # Swim
                   [0, 0, 1, 0],   # Leaves
                   [0, 0, 0, 1]],  # Petals
                  dtype=float)
    X = np.eye(4) * (2.0 if whiten else 1.0)
    return Task.from_data(_float(X), _float(Yt.T))


def saxe2019_toy_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`(items, features)` names of `saxe2019_toy`, in the order of the rows and columns of `Y`."""
    return (("Canary", "Salmon", "Oak", "Rose"),
            ("Grow", "Move", "Roots", "Fly", "Swim", "Leaves", "Petals"))


def noisy_hierarchy(key, levels: int, branching: int = 2, flip: float = 0.1,
                    features_per_node: int = 1) -> Task:
    """Features from a branching diffusion on the tree (Saxe et al. 2019), one-hot items.

    For every tree node, `features_per_node` independent features are born there with value +1
    and diffuse down its subtree, flipping sign with probability `flip` at each branch; items
    outside the subtree get 0 (see the module docstring).

    Args:
      key: a `jax.random` key; the same key gives the same data.
      levels, branching: the tree, as in `hierarchy`.
      flip: the sign-flip probability per branch, in `[0, 0.5]` (0.5 = no inherited structure).
      features_per_node: the number of independent features born at each node, `>= 1`.

    Returns:
      A `Task` with `X = I_P` and `Y` `(P, N * features_per_node)` with entries in {−1, 0, 1},
      features node-major (the `features_per_node` features of the root first, then those of the
      level-1 nodes, …). With `flip = 0`, `Y` is `hierarchy(levels, branching).Y` with each column
      repeated `features_per_node` times.
    """
    L, b = _check_tree(levels, branching)
    if isinstance(flip, bool) or not isinstance(flip, (int, float, np.integer, np.floating)):
        raise TypeError(f"`flip` must be a number in [0, 0.5], got {flip!r}.")
    if not 0.0 <= float(flip) <= 0.5:
        raise ValueError(
            f"`flip` must be in [0, 0.5] (probability of a sign flip per branch), got {flip!r}."
        )
    f = _check_int(features_per_node, "features_per_node", 1)
    key = _check_key(key)

    P = b**L
    sizes = [b**m for m in range(L + 1)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    n_nodes = int(starts[-1])
    n_feat = n_nodes * f
    _check_size(P, n_feat)
    # anc[μ, m]: index of the level-m ancestor of item μ (a node index in breadth-first order)
    items = np.arange(P)
    anc = np.stack([starts[m] + items // b ** (L - m) for m in range(L + 1)], axis=1)
    # one flip per (node, feature); the root's entry is never used (a feature is born, not flipped)
    flips = jax.random.bernoulli(key, float(flip), (n_nodes, n_feat))
    flips = np.asarray(flips, dtype=np.int64)
    F = flips[anc]                                      # (P, L+1, n_feat): flips along the path
    # parity below level m: flips at levels m+1 … L on the path of each item
    below = np.cumsum(F[:, ::-1, :], axis=1)[:, ::-1, :] - F
    node_of_feat = np.repeat(np.arange(n_nodes), f)     # birth node of each feature
    level_of_feat = np.repeat(np.arange(L + 1), [s * f for s in sizes])
    inside = anc[:, level_of_feat] == node_of_feat[None, :]          # (P, n_feat)
    parity = below[:, level_of_feat, np.arange(n_feat)]              # (P, n_feat)
    Y = np.where(inside, 1.0 - 2.0 * (parity % 2), 0.0)
    return Task.from_data(_float(np.eye(P)), _float(Y))


def offset_hierarchy(levels: int, branching: int = 2, offset: float = 0.5) -> Task:
    """`hierarchy` targets with correlated inputs `x_μ = e_μ + offset · 1` (a shared component).

    `sigma_xx = (I + (2c + c²P) 11ᵀ)/P` with `c = offset`: eigenvalue `(1 + cP)²/P` on the uniform
    item direction, `1/P` on its complement. The task stays `input_aligned`; the uniform mode's
    singular value is `(1 + cP) sqrt(λ_0)/P`, the others are as for one-hot items.
    """
    L, b = _check_tree(levels, branching)
    if isinstance(offset, bool) or not isinstance(offset, (int, float, np.integer, np.floating)):
        raise TypeError(f"`offset` must be a real number, got {offset!r}.")
    if not np.isfinite(offset):
        raise ValueError(f"`offset` must be finite, got {offset!r}.")
    Y = _one_vs_rest(L, b)
    P = Y.shape[0]
    X = np.eye(P) + float(offset)
    return Task.from_data(_float(X), _float(Y))


# --------------------------------------------------------------------------------- helpers
def _one_vs_rest(L: int, b: int) -> np.ndarray:
    """`Y[μ, n] = 1` iff item μ descends from node n, `(b^L, N)`, nodes breadth-first."""
    P = b**L
    n_nodes = (b ** (L + 1) - 1) // (b - 1)
    _check_size(P, n_nodes)
    Y = np.zeros((P, n_nodes))
    items = np.arange(P)
    start = 0
    for m in range(L + 1):
        Y[items, start + items // b ** (L - m)] = 1.0
        start += b**m
    return Y


def _float(a: np.ndarray):
    return jnp.asarray(a, dtype=jnp.result_type(float))


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")
    return int(value)


def _check_tree(levels, branching) -> tuple[int, int]:
    L = _check_int(levels, "levels", 1)
    b = _check_int(branching, "branching", 2)
    return L, b


def _check_bool(value, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")


def _check_size(P: int, n_features: int) -> None:
    if P * max(P, n_features) > _MAX_ENTRIES:
        raise ValueError(
            f"the tree has {P} items and {n_features} features, too large to build densely "
            f"(more than {_MAX_ENTRIES} entries); reduce `levels` or `branching`."
        )


def _check_key(key):
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"`key` must be a single PRNG key, got shape {key.shape}.")
        return key
    arr = np.asarray(key) if isinstance(key, (jax.Array, np.ndarray)) else None
    if arr is not None and arr.dtype == np.uint32 and arr.shape == (2,):
        return key  # legacy raw key from jax.random.PRNGKey
    raise TypeError(
        f"`key` must be a JAX PRNG key, e.g. jax.random.key(0), got {type(key).__name__}."
    )
