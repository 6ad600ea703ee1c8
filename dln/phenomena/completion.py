"""Matrix completion with deep linear networks, and the multi-task pre-training deficit.

Setting (Kleinman, Achille & Soatto 2024, arXiv:2308.12221, matrix-completion experiments, built
on Arora, Cohen, Hu & Luo 2019, arXiv:1905.13655; docs/theory/completion.md). A network of `depth`
= N square `n × n` linear layers has the end-to-end matrix `W = W_N ⋯ W_1`; it sees only the
entries `Ω` of a low-rank target `M` and minimises the masked loss

    L(W) = ½ · mean_{(i,j)∈Ω} (W_ij − M_ij)²,      ∇L(W) = P_Ω(W − M) / |Ω|,

(`P_Ω` keeps the observed entries, zeroes the others) by gradient descent on the layers,
`W_l ← W_l − lr ∂L/∂W_l` with `∂L/∂W_l = (W_N ⋯ W_{l+1})ᵀ ∇L(W) (W_{l−1} ⋯ W_1)ᵀ` (the chain
rule of `dln.network`); flow time `t = lr × steps`. The test error is the mean over all `n²`
entries, `mean (M − W)²` (no ½, as in Kleinman's code).

**Theory.** From balanced weights (`W_{l+1}ᵀW_{l+1} = W_lW_lᵀ`, which the flow conserves;
identity and orthogonal inits are exactly balanced, small Gaussian ones nearly), the end-to-end
matrix follows (Arora, Cohen & Hazan 2018)

    dW/dt = −Σ_{j=1}^{N} (WWᵀ)^{(j−1)/N} ∇L(W) (WᵀW)^{(N−j)/N},

which in the SVD `W = Σ_r σ_r u_r v_rᵀ` reads, entry `(r, r')` in the singular bases,
`−⟨u_r, ∇L v_r'⟩ Σ_j σ_r^{2(j−1)/N} σ_r'^{2(N−j)/N}`; the diagonal is Arora et al.'s (2019)
singular-value equation

    dσ_r/dt = −N (σ_r²)^{1−1/N} ⟨∇L(W), u_r v_rᵀ⟩,

and the off-diagonal part moves the singular vectors. `theory` integrates this end-to-end flow
(singular values and vectors together, one SVD per stage of diffrax's adaptive Dopri8, through
the same phase schedule as the simulation); `singular_value_rates` gives the
singular-value equation itself. Gradient descent approaches it with an error of order `lr`.
The factor `(σ²)^{1−1/N}` (not `σ^{1−1/N}`) makes small singular values grow slowly for N ≥ 2:
the low-rank bias.

**Why depth 1 is immune and depth ≥ 2 is not** (docs/theory/completion.md). At depth 1,
`dW/dt = −∇L` only moves observed entries, and re-fitting task B overwrites them: the final
matrix does not remember the pre-training (up to the residual of an unfinished fit, which decays
exponentially). At depth ≥ 2 the flow couples entries through the singular vectors; pre-training
on A grows A's singular directions, from which the small-init low-rank bias no longer applies, so
after the switch the network fits B's observed entries with the wrong structure in the unobserved
ones. The damage sets in when A is learned (its singular values escape the small init) and
then saturates: it is a step in the pre-training length, not a steady growth, and training on
B for longer does not undo it (docs/theory/completion.md). "Fewer observations first" is the
same protocol with A = the same matrix seen on a subset of the entries (`observation_masks`
are nested).

**Deficit curves.** `pretraining_sweep(a, b, weights, pretrain=T, post=…, lr=…)` is
`simulate([(a, T), (b, post)], …)` for every length in `T` with the pre-training run shared
(run once to the longest length) and several seeds batched: the cost of Kleinman et al.'s sweeps
drops from `K (T_max + post)` steps to `T_max + K post`.

**Scale.** The paper uses `n = 100`, `|Ω| = 2000`, `lr = 0.2`, up to 100k steps on A and 30k on
B; `examples/kleinman2024_completion.py` runs that scale (the same flow times at `lr = 1`); the
tests use `n = 20`, rank 2–4 and a few thousand steps.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dln import _ode
from dln._checks import (
    as_array,
    check_choice,
    check_depth,
    check_int,
    check_key,
    check_on_divergence,
    check_real,
    is_concrete,
)
from dln.network import product
from dln.protocol import parse_phases
from dln.simulation import phases as _phases_loop
from dln.simulation.descent import report_divergence
from dln.simulation.phases import record_phases, steps_of
from dln.trajectory import Trajectory, phase_trajectory

__all__ = ["Problem", "CompletionTrajectory", "low_rank_matrix", "observation_masks", "init",
           "train_loss", "test_error", "loss_gradient", "end_to_end_velocity",
           "singular_value_rates", "simulate", "pretraining_sweep", "theory", "lr_bound"]


def _is_value(x) -> bool:
    """True for arrays, nested lists and numbers; False for the placeholder leaves (None,
    strings, objects) JAX puts in when it rebuilds a pytree."""
    return isinstance(x, (np.ndarray, jax.Array, list, tuple, numbers.Number, np.generic))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Problem:
    """One matrix-completion task: the target `M` `(n, n)` and the observed entries `mask`
    `(n, n)` (1.0 observed, 0.0 not)."""

    target: Any
    mask: Any

    def __post_init__(self):
        leaves = (self.target, self.mask)
        if any(isinstance(x, jax.core.Tracer) for x in leaves) or not any(map(_is_value, leaves)):
            return  # rebuilt by JAX (tracers, or placeholders in every leaf): no checks
        M = as_array(self.target, "target", ndim=2)
        if isinstance(self.mask, (str, bytes)) or self.mask is None:
            raise TypeError(f"`mask` must be an (n, n) array of 0/1 or bools, got {self.mask!r}.")
        m = as_array(self.mask, "mask", ndim=2)
        if M.shape[0] != M.shape[1] or m.shape != M.shape:
            raise ValueError(f"`target` and `mask` must be square (n, n) arrays of one shape, got "
                             f"{tuple(M.shape)} and {tuple(m.shape)}.")
        if M.shape[0] == 0:
            raise ValueError("`target` is empty (n = 0); pass an (n, n) matrix with n >= 1.")
        if is_concrete(M, m):
            mh = np.asarray(m)
            if not np.all((mh == 0) | (mh == 1)):
                bad = np.unique(mh[(mh != 0) & (mh != 1)])[:5]
                raise ValueError(f"`mask` must hold 0/1 (or bool) entries (1 = observed), got "
                                 f"other values such as {bad.tolist()}.")
            if mh.sum() == 0:
                raise ValueError("`mask` observes no entry (all zeros); mark at least one "
                                 "observed entry with 1.")
        object.__setattr__(self, "target", M.astype(jnp.result_type(float)))
        object.__setattr__(self, "mask", m.astype(jnp.result_type(float)))

    @property
    def n(self) -> int:
        return self.target.shape[0]

    @property
    def n_observed(self):
        return jnp.sum(self.mask)


def low_rank_matrix(key, n: int, rank: int):
    """A random rank-`rank` target `M = U Vᵀ` (Gaussian `U`, `V` `(n, rank)`), scaled so that
    `||M||_F = n` (root-mean-square entry 1), as in Kleinman et al.'s `create_matrix`."""
    for name, v in (("n", n), ("rank", rank)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"`{name}` must be a positive int, got {v!r}.")
    if rank > n:
        raise ValueError(f"`rank` ({rank}) cannot exceed `n` ({n}).")
    check_key(key)
    ku, kv = jax.random.split(key)
    U = np.asarray(jax.random.normal(ku, (n, rank)), dtype=float)
    V = np.asarray(jax.random.normal(kv, (n, rank)), dtype=float)
    M = U @ V.T
    return jnp.asarray(M * n / np.linalg.norm(M))


def observation_masks(key, n: int, counts):
    """Nested random observation masks `(len(counts), n, n)`: mask k observes the first
    `counts[k]` entries of one random ordering of the `n²` entries, so a smaller set is always
    inside a larger one (the "fewer observations first" protocol)."""
    check_key(key)
    n = check_int(n, "n", 1, what=" (the matrix size)")
    if isinstance(counts, (bool, np.bool_, str, bytes)) or counts is None:
        raise TypeError(f"`counts` must be an int or a list of ints, got {counts!r}.")
    try:
        counts = np.atleast_1d(np.asarray(counts))
    except ValueError as err:
        raise ValueError(f"`counts` must be a flat list of ints, got {counts!r}.") from err
    if counts.ndim != 1 or not np.issubdtype(counts.dtype, np.integer) or np.any(counts < 1) \
            or np.any(counts > n * n):
        raise ValueError(f"`counts` must be ints in [1, n² = {n * n}], got {counts!r}.")
    order = np.asarray(jax.random.permutation(key, n * n))
    masks = np.zeros((counts.size, n * n))
    for k, c in enumerate(counts):
        masks[k, order[:c]] = 1.0
    return jnp.asarray(masks.reshape(counts.size, n, n))


def init(key, n: int, depth: int, scale: float, kind: str = "gaussian"):
    """Initial `n × n` layers, scaled as in Kleinman et al.'s code (docs/theory/completion.md):

    - `"gaussian"`: entries of standard deviation `scale^{1/N} n^{−1/2}`, so
      `||W||_F ≈ scale √n` (nearly balanced for small scales);
    - `"orthogonal"`: Haar-random orthogonal layers times `(scale √n)^{1/N}`, so
      `||W||_F = scale · n` (exactly balanced);
    - `"identity"`: identity layers times `scale^{1/N}`, `W = scale · I` (exactly balanced).
    """
    check_key(key)
    n = check_int(n, "n", 1, what=" (the matrix size)")
    depth = check_depth(depth)
    scale = check_real(scale, "scale", low=0.0, strict=True)
    check_choice(kind, "kind", ("gaussian", "orthogonal", "identity"))
    keys = jax.random.split(key, depth)
    dtype = jnp.result_type(float)
    if kind == "gaussian":
        return [scale ** (1 / depth) / np.sqrt(n) * jax.random.normal(k, (n, n), dtype)
                for k in keys]
    if kind == "orthogonal":
        from dln.init import random_orthogonal
        return [(scale * np.sqrt(n)) ** (1 / depth) * random_orthogonal(k, n, dtype)
                for k in keys]
    if kind == "identity":
        return [scale ** (1 / depth) * jnp.eye(n, dtype=dtype) for _ in keys]
    raise ValueError(f"`kind` must be 'gaussian', 'orthogonal' or 'identity', got {kind!r}.")


def train_loss(W, problem: Problem):
    """`½ mean_{(i,j)∈Ω} (W_ij − M_ij)²` for maps `W` `(..., n, n)`."""
    W = _check_map(W, problem)
    r = (W - problem.target) * problem.mask
    return 0.5 * jnp.sum(r * r, axis=(-2, -1)) / problem.n_observed


def test_error(W, target):
    """`mean over all n² entries of (M − W)²` for maps `W` `(..., n, n)`."""
    target = as_array(target, "target", ndim=2)
    W = as_array(W, "W", finite=False)
    if W.shape[-2:] != target.shape:
        raise ValueError(f"`W` must have shape (..., {target.shape[0]}, {target.shape[1]}) (the "
                         f"target's), got {tuple(W.shape)}.")
    r = W - target
    return jnp.mean(r * r, axis=(-2, -1))


def loss_gradient(W, problem: Problem):
    """`∇L(W) = P_Ω(W − M) / |Ω|` (`(n, n)`)."""
    W = _check_map(W, problem)
    return problem.mask * (W - problem.target) / problem.n_observed


def _check_problem(problem, name="problem"):
    if not isinstance(problem, Problem):
        raise TypeError(f"`{name}` must be a dln.completion.Problem, got "
                        f"{type(problem).__name__}.")


def _check_map(W, problem, name="W"):
    _check_problem(problem)
    W = as_array(W, name, finite=False)  # a diverged record may be measured (NaN in, NaN out)
    if W.ndim < 2 or W.shape[-2:] != (problem.n, problem.n):
        raise ValueError(f"`{name}` must have shape (..., {problem.n}, {problem.n}) (the "
                         f"problem's n × n), got {tuple(W.shape)}.")
    return W


def _check_square(W, G, depth):
    W = as_array(W, "W", ndim=2)
    G = as_array(G, "G", ndim=2)
    if W.shape[0] != W.shape[1] or G.shape != W.shape:
        raise ValueError(f"`W` and `G` must be square (n, n) matrices of one shape, got "
                         f"{tuple(W.shape)} and {tuple(G.shape)}.")
    return W, G, check_depth(depth)


def _record_product(ws, consts):
    return dict(map=product(ws))


def _layer_gradients(ws, data, consts=None, now=None):
    """`∂L/∂W_l = (W_N ⋯ W_{l+1})ᵀ G (W_{l−1} ⋯ W_1)ᵀ`, `G = P_Ω(W − M)/|Ω|`: the chain rule
    of `dln.network.loss_gradients` with the loss gradient `G` as its backpropagated signal
    (`3N − 2` matrix products; depth 1 none)."""
    target, mask = data
    prefix = [ws[0]]  # prefix[l] = W_{l+1} ⋯ W_1 (0-based)
    for Wl in ws[1:]:
        prefix.append(Wl @ prefix[-1])
    back = mask * (prefix[-1] - target) / jnp.sum(mask)
    grads = [None] * len(ws)
    for l in range(len(ws) - 1, 0, -1):
        grads[l] = back @ prefix[l - 1].T
        back = ws[l].T @ back
    grads[0] = back
    return grads


def end_to_end_velocity(W, G, depth: int):
    """`dW/dt = −Σ_{j=1}^{N} (WWᵀ)^{(j−1)/N} G (WᵀW)^{(N−j)/N}` (Arora, Cohen & Hazan 2018)
    for a balanced network of `depth` N with end-to-end matrix `W` and loss gradient `G`.

    Written in the SVD `W = U diag(σ) Vᵀ`: `−U [(UᵀGV) ∘ K] Vᵀ` with
    `K_{rr'} = Σ_j σ_r^{2(j−1)/N} σ_r'^{2(N−j)/N}` (`0⁰ = 1`), whose diagonal `N (σ_r²)^{1−1/N}`
    is the singular-value equation (`singular_value_rates`).
    """
    W, G, depth = _check_square(W, G, depth)
    if depth == 1:
        return -G
    U, s, Vt = jnp.linalg.svd(W)
    K = jnp.zeros((s.shape[0], s.shape[0]), W.dtype)
    for j in range(1, depth + 1):
        K = K + _pow(s, 2 * (j - 1) / depth)[:, None] * _pow(s, 2 * (depth - j) / depth)[None, :]
    return -U @ ((U.T @ G @ Vt.T) * K) @ Vt


def _pow(s, p):
    return jnp.ones_like(s) if p == 0 else s ** p


def singular_value_rates(W, G, depth: int):
    """Arora et al. (2019): `dσ_r/dt = −N (σ_r²)^{1−1/N} ⟨G, u_r v_rᵀ⟩` for every singular
    value of `W` (descending), `G = ∇L(W)`; depth N balanced network."""
    W, G, depth = _check_square(W, G, depth)
    U, s, Vt = jnp.linalg.svd(W)
    proj = jnp.einsum("ir,ij,rj->r", U, G, Vt)
    return -depth * (s * s) ** (1 - 1 / depth) * proj


@functools.partial(jax.jit, static_argnames=("depth", "max_steps"))
def _flow_run(data, W0, bounds, t, rtol, *, depth, max_steps):
    """The end-to-end flow from `W0` through the phases `bounds` `(n_phases + 1,)` (phase p
    with the problem `data[p]`), recorded at the sorted times `t`: one adaptive integration
    (`dln._ode`) per phase in a `lax.scan`, each to the records inside it and to its end.
    Returns `(maps (T, n, n), final (n, n), failed)`; records after the end hold the final
    matrix."""
    n = W0.shape[-1]
    scale = _ode.rms_scale(rtol)

    def phase(carry, x):
        W, out, failed = carry
        target, mask, start, end = x
        gradient_scale = 1.0 / jnp.sum(mask)

        def velocity(w):
            W = w.reshape(n, n)
            return end_to_end_velocity(W, mask * (W - target) * gradient_scale, depth).ravel()

        width = end - start
        ts = jnp.concatenate([jnp.clip(t - start, 0.0, width), width[None]])
        recs, _, _, bad = _ode.integrate(velocity, W.ravel(), ts, scale, max_steps)
        recs = recs.reshape(ts.shape + (n, n))
        # a phase sets every record after its start; the later phases overwrite theirs
        out = jnp.where((t > start)[:, None, None], recs[:-1], out)
        return (recs[-1], out, failed | bad), None

    out = jnp.broadcast_to(W0, t.shape + W0.shape)
    carry = (W0, out, jnp.zeros((), bool))
    (final, out, failed), _ = jax.lax.scan(phase, carry, data + (bounds[:-1], bounds[1:]))
    return out, final, failed


# The result is a `dln.Trajectory` with the schedule fields (`tasks` are the problems,
# `phase_loss` the masked training loss, alias `train_loss`) and `test_error`;
# `CompletionTrajectory` stays as a documented alias.
CompletionTrajectory = Trajectory


def _phases(schedule):
    problems, bounds, batched = parse_phases(schedule, Problem, "dln.completion.Problem")
    if len({p.n for p in problems}) > 1:
        raise ValueError("all problems of a schedule must have the same n.")
    return list(problems), bounds, batched


def lr_bound(problem: Problem, depth: int) -> float:
    """A learning rate above which gradient descent cannot settle at a fit of `problem`: the
    curvature along the top singular direction of the fitted target is about
    `N σ_max^{2−2/N} p / |Ω|` with `p = |Ω|/n²` the observed fraction, so
    `2 |Ω| / (N σ_max^{2−2/N} p)` (depth 1: exactly `2 |Ω|`); for N ≥ 2 a guide, not exact
    (the fit is not `M` itself)."""
    _check_problem(problem)
    depth = check_depth(depth)
    n_obs = float(problem.n_observed)
    if depth == 1:  # the loss is ½|Ω|⁻¹ Σ_Ω (W_ij − M_ij)²: curvature 1/|Ω| on every entry
        return 2 * n_obs
    s = float(np.linalg.svd(np.asarray(problem.target), compute_uv=False)[0])
    p = n_obs / problem.n ** 2
    return 2 * n_obs / (depth * s ** (2 - 2 / depth) * p)


def _result(problems, bounds, batched, maps, final_ws, t, method, phase, depth):
    train = jnp.stack([train_loss(maps, p) for p in problems], axis=-1)
    test = jnp.stack([test_error(maps, p.target) for p in problems], axis=-1)
    return phase_trajectory(t=t, maps=maps, tasks=problems, phase=phase,
                               bounds=bounds if batched else bounds[0], final_weights=final_ws,
                               phase_methods=(method,) * len(problems), phase_loss=train,
                               test_error=test, depth=depth)


def simulate(schedule, weights, *, lr, every: int = 1,
             on_divergence: str = "raise") -> CompletionTrajectory:
    """Gradient descent on the layers through a schedule of completion problems, one jitted
    `lax.scan` (the one gradient-descent loop, `dln.simulation.phases`), batched over durations
    and/or initial weights.

    Args:
      schedule: list of `(Problem, duration)` pairs; durations in flow time, multiples of `lr`,
        each a scalar or a `(B,)` array (e.g. the pre-training lengths of a deficit sweep).
      weights: `[W1, …, WN]` `(n, n)` each (`init`), or batched `(B, n, n)`.
      lr: learning rate; every: record every `every` steps.
      on_divergence: `"raise"` (`dln.DivergenceError`) or `"warn"`.

    Records after the end of a (shorter) schedule hold its final state. Records of batched
    schedules share the time axis.
    """
    problems, bounds, batched_d = _phases(schedule)
    n = problems[0].n
    ws = _check_layers(weights, n)
    batched_w = ws[0].ndim == 3
    lr = check_real(lr, "lr", low=0.0, strict=True)
    if not isinstance(lr, float):
        raise TypeError("`lr` must be a concrete number (it sets the number of steps), got a "
                        "traced value.")
    check_on_divergence(on_divergence)
    check_int(every, "every", 1)
    if batched_w and batched_d and ws[0].shape[0] != bounds.shape[0]:
        raise ValueError(f"batched durations ({bounds.shape[0]}) and batched weights "
                         f"({ws[0].shape[0]}) are zipped; pass equal batch sizes.")
    ends = steps_of(bounds[:, 1:], lr)
    data = (jnp.stack([p.target for p in problems]).astype(ws[0].dtype),
            jnp.stack([p.mask for p in problems]).astype(ws[0].dtype))
    n_blocks = -(-int(ends[:, -1].max()) // every)
    final, recs = _phases_loop.run(_layer_gradients, _record_product, data, ws,
                                   jnp.asarray(lr, ws[0].dtype),
                                   jnp.asarray(ends if batched_d else ends[0]), int(every),
                                   n_blocks=n_blocks, batch=(batched_w, False, batched_d, False))
    report_divergence(recs["diverged_at"], what="", lr=lr, on_divergence=on_divergence,
                      advice="Lower `lr` (dln.completion.lr_bound is a guide).")
    step_numbers = every * np.arange(n_blocks + 1)
    t = jnp.asarray(lr * step_numbers, ws[0].dtype)
    maps = recs["map"]
    phase = record_phases(ends, step_numbers, batched_d, ws[0].shape[0] if batched_w else None)
    return _result(problems, bounds, batched_d or batched_w, maps, final, t, "simulation", phase,
                   len(ws))


def _check_layers(weights, n):
    """`[W1, …, WN]`, each `(n, n)` or all `(B, n, n)`: square layers that chain."""
    if isinstance(weights, (np.ndarray, jax.Array)) or not isinstance(weights, (list, tuple)):
        raise TypeError(f"`weights` must be a list [W1, …, WN] of (n, n) layers, got "
                        f"{type(weights).__name__}.")
    if len(weights) == 0:
        raise ValueError("`weights` is empty; pass at least one (n, n) layer "
                         "(dln.completion.init).")
    ws = [as_array(W, f"weights[{i}]", ndim=(2, 3)) for i, W in enumerate(weights)]
    batch = ws[0].shape[:-2]
    for i, W in enumerate(ws):
        if W.shape != batch + (n, n):
            raise ValueError(
                f"`weights[{i}]` must have shape {batch + (n, n)} (every layer is n × n with the "
                f"problems' n = {n}{', with the batch axis of weights[0]' if batch else ''}), "
                f"got {tuple(W.shape)}.")
    dtype = jnp.result_type(*ws)
    return [W.astype(dtype) for W in ws]


def _check_seeds(a, b, weights):
    """`(targets_a, masks_a, targets_b, masks_b)` `(S, n, n)` each and the layers `(S, n, n)`:
    `a`, `b` are a Problem or a list of S Problems (one per seed), `weights` unbatched or
    batched over the same S; single ones are repeated."""
    lists = {}
    for name, p in (("a", a), ("b", b)):
        items = list(p) if isinstance(p, (list, tuple)) else [p]
        if not items:
            raise ValueError(f"`{name}` is empty; pass a dln.completion.Problem or a list of them "
                             "(one per seed).")
        for i, q in enumerate(items):
            _check_problem(q, name if len(items) == 1 else f"{name}[{i}]")
        lists[name] = items
    ns = {q.n for q in lists["a"] + lists["b"]}
    if len(ns) > 1:
        raise ValueError(f"all problems of `a` and `b` must have the same n, got {sorted(ns)}.")
    n = ns.pop()
    ws = _check_layers(weights, n)
    sizes = {len(lists["a"]), len(lists["b"])} | ({ws[0].shape[0]} if ws[0].ndim == 3 else set())
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"`a`, `b` and the batch axis of `weights` are zipped over seeds; give "
                         f"them one size (or 1), got {len(lists['a'])}, {len(lists['b'])} and "
                         f"{ws[0].shape[0] if ws[0].ndim == 3 else 'unbatched'}.")
    S = sizes.pop() if sizes else 1
    batched = (isinstance(a, (list, tuple)) or isinstance(b, (list, tuple))
               or ws[0].ndim == 3)
    dtype = ws[0].dtype

    def stack(items, field):  # on the host: no compiled op per shape
        x = np.stack([np.asarray(getattr(q, field), dtype) for q in items])
        return np.broadcast_to(x, (S,) + x.shape[1:])

    ws = [np.broadcast_to(np.asarray(W), (S, n, n)) for W in ws]
    return (stack(lists["a"], "target"), stack(lists["a"], "mask"), stack(lists["b"], "target"),
            stack(lists["b"], "mask")), ws, batched


def _host_product(ws):
    W = ws[0]
    for Wl in ws[1:]:
        W = np.matmul(Wl, W)
    return W


def _no_record(ws, consts):
    return {}


def _record_fit(ws, consts):
    target, mask = consts
    r = product(ws) - target
    return dict(test_error=jnp.mean(r * r, axis=(-2, -1)),
                train_loss=0.5 * jnp.sum(mask * r * r, axis=(-2, -1)) / jnp.sum(mask))


@functools.partial(jax.jit, static_argnames=("every", "n_blocks", "record", "batched"))
def _descend_seeds(target, mask, ws, lr, *, every, n_blocks, record, batched):
    """`n_blocks · every` gradient-descent steps on one problem per seed (`target`, `mask`
    `(S, n, n)`), the layers `(S, n, n)` or, `batched`, `(S, K, n, n)` (K starts per seed):
    the one loop (`dln.simulation.phases.run`) vmapped over the seeds."""
    def one(target, mask, ws):
        data = (target[None], mask[None])
        ends = jnp.asarray([n_blocks * every])
        return _phases_loop.run(_layer_gradients, record, data, ws, lr, ends, every,
                                consts=(target, mask), n_blocks=n_blocks, freeze=False,
                                batch=(batched, False, False, False))

    return jax.vmap(one)(target, mask, ws)


def pretraining_sweep(a, b, weights, *, pretrain, post: float, lr: float,
                      every: int | None = None, on_divergence: str = "raise") -> dict:
    """Pre-train on `a` for each duration in `pretrain`, then train on `b` for `post`, by
    gradient descent from `weights`: the final test error on `b` against the pre-training
    length (Kleinman et al. 2024's deficit curve), for one or several seeds at once.

    The same thing as `simulate([(a, pretrain), (b, post)], weights, lr=lr)` for every
    pre-training length (to round-off), at a fraction of the cost: the pre-training run is
    shared, not repeated. It runs once to the longest length, in calls of one compiled block of
    `g` steps (`g` the greatest common divisor of the lengths in steps, so `max(pretrain)/g`
    calls), and keeps the layers at every length; then all the `K` networks train on `b` in
    one batched loop. Cost: `max(pretrain)/lr + K · post/lr` steps of one network per seed,
    instead of `K · (max(pretrain) + post)/lr`.

    Args:
      a, b: the pre-training and the final `Problem`, or lists of `S` problems (one per seed,
        zipped with each other and with the batch axis of `weights`; a single one is used for
        every seed).
      weights: `[W1, …, WN]`, `(n, n)` each (`init`) or `(S, n, n)` (one network per seed).
      pretrain: `(K,)` pre-training lengths (flow time, multiples of `lr`, in any order).
      post: training time on `b` (flow time, a multiple of `lr`).
      lr: learning rate (a concrete number).
      every: if set, record the test error and training loss on `b` every `every` steps of
        the training on `b`.
      on_divergence: `"raise"` (`dln.DivergenceError`) or `"warn"`.

    Returns:
      dict with, `(S, K)` when `a`, `b` or `weights` are batched over seeds, else `(K,)`:
      `final_test_error` (mean over all `n²` entries of `(M_b − W)²` at the end),
      `final_train_loss` (the masked loss on `b` at the end), `switch_test_error_a` (the test
      error on `a` at the end of the pre-training), `final_map` (`(…, K, n, n)`), and
      `pretrain`, `post`; with `every`, also `t` `(R,)` (flow time since the switch) and
      `test_error`, `train_loss` `(…, K, R)` (the training on `b`).
    """
    data, ws, batched_seeds = _check_seeds(a, b, weights)
    lr = check_real(lr, "lr", low=0.0, strict=True)
    if not isinstance(lr, float):
        raise TypeError("`lr` must be a concrete number (it sets the number of steps), got a "
                        "traced value.")
    pretrain = np.atleast_1d(np.asarray(as_array(pretrain, "pretrain", ndim=(0, 1)), float))
    if pretrain.size == 0 or np.any(pretrain < 0):
        raise ValueError(f"`pretrain` must be a non-empty list of durations >= 0 (flow time), "
                         f"got {pretrain!r}.")
    post = check_real(post, "post", low=0.0, what=" (flow time)")
    check_on_divergence(on_divergence)
    t_steps = steps_of(pretrain, lr)
    post_steps = int(steps_of(np.asarray([post]), lr)[0])
    if every is not None:
        every = check_int(every, "every", 1)
        if post_steps % every:
            raise ValueError(f"`every` ({every}) must divide the steps on `b` "
                             f"(post / lr = {post_steps}).")
    rate = np.asarray(lr, ws[0].dtype)
    target_a, mask_a, target_b, mask_b = data
    # the shared pre-training: blocks of g steps, the layers kept at each length
    lengths = np.unique(t_steps)
    g = int(np.gcd.reduce(lengths[lengths > 0])) if np.any(lengths > 0) else 1
    kept = {0: ws}
    for j in range(1, int(lengths[-1]) // g + 1):
        ws, _ = _descend_seeds(target_a, mask_a, ws, rate, every=g, n_blocks=1,
                               record=_no_record, batched=False)
        if j * g in lengths:
            kept[j * g] = ws
    # (on the host from here: small arrays, and no compiled op per shape)
    ws = [np.asarray(W) for W in ws]
    # a state that left the floats never comes back: the last one tells for all
    finite = np.all([np.all(np.isfinite(W), axis=(-2, -1)) for W in ws], axis=0)
    report_divergence(np.where(finite, -1, 0), what="on `a` ", lr=lr,
                      on_divergence=on_divergence, steps_known=False,
                      advice="Lower `lr` (dln.completion.lr_bound is a guide).")
    starts = [np.stack([np.asarray(kept[int(s)][layer]) for s in t_steps], axis=1)
              for layer in range(len(ws))]  # (S, K, n, n) each
    switch_a = np.mean((_host_product(starts) - target_a[:, None]) ** 2, axis=(-2, -1))
    block = every if every is not None else max(post_steps, 1)
    final, recs = _descend_seeds(target_b, mask_b, starts, rate, every=block,
                                 n_blocks=post_steps // block, record=_record_fit,
                                 batched=True)
    report_divergence(np.asarray(recs["diverged_at"]), what="on `b` ", lr=lr,
                      on_divergence=on_divergence,
                      advice="Lower `lr` (dln.completion.lr_bound is a guide).")
    W = _host_product([np.asarray(x) for x in final])
    out = dict(final_test_error=np.mean((W - target_b[:, None]) ** 2, axis=(-2, -1)),
               final_train_loss=recs["train_loss"][..., -1], switch_test_error_a=switch_a,
               final_map=W)
    if every is not None:
        out.update(test_error=recs["test_error"], train_loss=recs["train_loss"])
    out = {k: np.asarray(v) if batched_seeds else np.asarray(v)[0] for k, v in out.items()}
    out.update(pretrain=pretrain, post=post)
    if every is not None:
        out["t"] = lr * every * np.arange(post_steps // every + 1)
    return out


def theory(schedule, W0, depth: int, *, h, every: int = 1, rtol: float = 1e-10,
           max_steps: int = 1_000_000) -> CompletionTrajectory:
    """The end-to-end flow of a balanced depth-N network through a schedule (Arora et al.;
    `end_to_end_velocity`), integrated by diffrax's adaptive Dopri8 (`dln._ode`) to the
    relative tolerance `rtol` (of the RMS entry of the matrix), one integration per phase.

    `h` is the time unit of the records, as `lr` for `simulate`: durations must be multiples of
    `h`, and the records are at `t = h × every × k`, from 0 to the end of the longest schedule
    (rounded up), the times of `simulate(..., lr=h, every=every)`. It does not set the accuracy
    (`rtol` does; `h` used to be the step of a fixed-step Runge–Kutta scheme).

    `W0` `(n, n)` is the initial end-to-end matrix (`dln.network.product` of balanced layers);
    batched durations as in `simulate`. Method `"end-to-end-flow"`: a numerical integration of
    the exact balanced flow, not a closed form. Differentiable (`jax.grad`, `jax.jacfwd`) with
    respect to `W0` and the problems' targets. Raises `FloatingPointError` if an integration
    fails (the step size collapses, the matrix leaves the floats or `max_steps` is reached).
    """
    depth = check_depth(depth)
    problems, bounds, batched_d = _phases(schedule)
    W0 = as_array(W0, "W0", ndim=2)
    if W0.shape != (problems[0].n, problems[0].n):
        raise ValueError(f"`W0` must have shape ({problems[0].n}, {problems[0].n}) (the problems' "
                         f"n × n), got {tuple(W0.shape)}.")
    h = check_real(h, "h", low=0.0, strict=True)
    if not isinstance(h, float):
        raise TypeError("`h` must be a concrete number (it sets the record times).")
    check_int(every, "every", 1)
    rtol = check_real(rtol, "rtol", low=0.0, strict=True, high=1.0)
    max_steps = check_int(max_steps, "max_steps", 1, what=" (steps of one phase)")
    ends = steps_of(bounds[:, 1:], h)
    n_blocks = int(-(-int(ends[:, -1].max()) // every))
    W0 = W0.astype(jnp.result_type(W0, float))
    t = jnp.asarray(h * every * np.arange(n_blocks + 1), W0.dtype)
    data = (jnp.stack([p.target for p in problems]).astype(W0.dtype),
            jnp.stack([p.mask for p in problems]).astype(W0.dtype))
    run = functools.partial(_flow_run, depth=depth, max_steps=max_steps)
    if batched_d:
        run = jax.vmap(run, in_axes=(None, None, 0, None, None))
    maps, final, failed = run(data, W0, jnp.asarray(bounds if batched_d else bounds[0],
                                                   W0.dtype), t, rtol)
    if is_concrete(failed) and bool(jnp.any(failed)):
        raise FloatingPointError(
            f"the integration of the end-to-end flow failed at rtol = {rtol:.1e}: the step size "
            "collapsed, the matrix stopped being finite, or `max_steps` was reached. Try a "
            "larger `max_steps`, a looser `rtol`, or shorter phases.")
    phase = record_phases(ends, every * np.arange(n_blocks + 1), batched_d)
    return _result(problems, bounds, batched_d, maps, [final], t, "end-to-end-flow", phase,
                   depth)
