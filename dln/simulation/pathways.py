"""Gradient descent on networks of pathways and sources, with deficits inside the jitted scan.

The network (Kleinman, Achille & Soatto 2024 for parallel pathways; the linear form of the
split architecture of Kleinman, Achille & Soatto 2023 for separate sources;
docs/theory/pathways.md, docs/theory/sources.md):

    h = Σ_p Ω_p S_p x,   Ω_p = W^p_{D_p} ⋯ W^p_1,       ŷ = W^s_{D_s} ⋯ W^s_1 h

- `S_p` selects the inputs pathway p reads: all of them (parallel pathways sharing the input,
  `sources=None`) or the block of source p (`sources=[(start, stop), …]`, one per pathway);
  a `Lesion(p, α)` multiplies it by `I − v_α v_αᵀ` for the whole run.
- the shared layers `W^s` (default none, i.e. `h = ŷ`) merge the pathways.

Each pathway's contribution to the map is `C_p = W^s ⋯ Ω_p S_p`, the map is `M = Σ_p C_p`, and
the loss is the mean squared error of the task. The gradient of pathway p's layers, and its share
of the shared layers' gradient, is the plain deep-linear gradient (`dln.network.loss_gradients`)
of the network `[W^p_1, …, W^p_{D_p}, W^s_1, …]` on the input statistics `S_p Σxx S_pᵀ` with the
target correlation `(Σyx − (M − C_p) Σxx) S_pᵀ`: every pathway sees the shared error. The shared
layers' gradient is the sum of the shares (their input `h` is the sum of the pathways').

**Cross-source reconstruction** (Kleinman et al. 2023's auxiliary objective, in linear form):
with `decoders=[R_0, …]` and weight `β`, pathway p's representation `Ω_p S_p x` also predicts
every other input through the linear decoder `R_p`, adding
`β/(2P) Σ_μ ||T_p x_μ − R_p Ω_p S_p x_μ||²` (`T_p` selects the inputs outside source p). This
is again a deep linear network, `[W^p…, R_p]` from `S_p x` to `T_p x`, so its gradient is
`loss_gradients` on `S_p Σxx S_pᵀ`, `T_p Σxx S_pᵀ`.

**Deficits** (`dln.pathways.deficits`) change, during their windows, the statistics that the
update from step k to k + 1 uses (`Remove`, `Noise`, `Decorrelate`) or zero a pathway's
gradient and weight decay (`Freeze`), exactly when `onset ≤ k·lr < onset + length` (under a
learning-rate schedule, when the step's flow time `Σ_{j<k} lr_j` is in the window). Records
always measure the loss on the task itself. Deficit windows are traced arrays: a batch of them
(and of initial weights) is one `vmap`-ed compiled call. Depth and widths are shapes; to sweep
depth in the same call, `pad_depth` pads shallower pathways with frozen identity layers
(`layer_mask`), which leaves their dynamics exactly those of the shallower network.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dln import init as _init
from dln._checks import (
    as_array,
    check_bool,
    check_depth,
    check_int,
    check_key,
    check_on_divergence,
    check_real,
    is_concrete,
)
from dln.network import loss_gradients, product
from dln.protocol.deficits import Decorrelate, Freeze, Lesion, Noise, Remove, active, as_schedule
from dln.protocol.sources import check_sources
from dln.simulation import phases
from dln.simulation.descent import report_divergence
from dln.tasks.task import Task
from dln.theory import modes as _modes
from dln.trajectory import Trajectory

__all__ = ["simulate", "aligned", "selectors", "pad_depth"]


# ------------------------------------------------------------------------------------ inputs
def selectors(task: Task, n_pathways: int, sources=None, lesions=()):
    """The input maps `S_p` (list of `(n_p, Ni)`) of each pathway: identity (shared input) or
    the block of its source, times `I − Σ v_α v_αᵀ` over the modes lesioned in that pathway."""
    dtype = task.sigma_xx.dtype
    eye = jnp.eye(task.n_in, dtype=dtype)
    out = []
    for p in range(n_pathways):
        S = eye if sources is None else eye[sources[p][0]:sources[p][1]]
        for d in lesions:
            if d.pathway == p:
                v = task.V[:, d.mode]
                S = S - jnp.outer(S @ v, v)
        out.append(S)
    return out


def _complements(task, sources):
    """`T_p`: the inputs outside source p (the targets of its reconstruction)."""
    eye = jnp.eye(task.n_in, dtype=task.sigma_xx.dtype)
    return [jnp.concatenate([eye[:a], eye[b:]]) for a, b in sources]


def aligned(task: Task, depth: int, u0, *, width=None, key=None, imbalance=0.0):
    """Initial weights of parallel pathways sharing the input, aligned with the task's modes:
    the initial condition of `dln.pathways.solve` with the same `u0` and `imbalance`.

    `u0` has one entry per pathway (a scalar or `(K,)` values); `key` gives each pathway its
    own random orthogonal hidden bases (None: identities).

    - `imbalance = 0` (default): each pathway is `dln.init.aligned` (small, balanced), with
      mode strengths `u0`.
    - `imbalance = c > 0`, the "large" initialisation of Kleinman et al. (after Shi et al.):
      mode α of pathway p has first-layer value `p = u0[p][α]` (any sign) and every other
      layer `√(p² + c)`, so `K = p (p² + c)^{(D−1)/2}`; `q² − p² = c` is conserved by gradient
      flow. Needs hidden widths `>= K` (every mode carried); at depth 1 `c` changes nothing.
    """
    if not isinstance(u0, (tuple, list)) or len(u0) < 1:
        raise TypeError(f"`u0` must have one entry per pathway, got {u0!r}.")
    if key is not None:
        check_key(key)
    keys = [None] * len(u0) if key is None else list(jax.random.split(key, len(u0)))
    c = check_real(imbalance, "imbalance", low=0.0, what=" (c = q² − p², the layer imbalance)")
    if not isinstance(c, float):
        raise TypeError("`imbalance` must be a concrete number, got a traced value.")
    depth = check_depth(depth)
    if c == 0 or depth == 1:
        return [_init.aligned(task, depth, width=width, u0=u, key=k) for u, k in zip(u0, keys)]
    out = []
    K = task.n_modes
    for i, (u, k) in enumerate(zip(u0, keys)):
        p = as_array(u, f"u0[{i}]", ndim=(0, 1))
        if p.ndim == 1 and p.shape != (K,):
            raise ValueError(f"`u0[{i}]` must be a scalar or have shape ({K},) (one first-layer "
                             f"value per mode), got {tuple(p.shape)}.")
        p = jnp.broadcast_to(p, (K,)).astype(task.U.dtype)
        # the hidden bases of dln.init.aligned (strength 1 on every layer), then per layer
        ones = _init.aligned(task, depth, width=width, u0=1.0, key=k)
        if any(W.shape[0] < K for W in ones[:-1]):
            raise ValueError(f"`imbalance` > 0 needs hidden widths >= {K} (the task's modes): "
                             "a mode the network cannot carry would not follow the "
                             "unbalanced solution.")
        q = jnp.sqrt(p * p + c)
        basis = task.V[:, :K]  # O_0 = V, O_l = ones[l−1] O_{l−1}: the modes' directions
        layers = []
        for l, W in enumerate(ones):
            out_basis = W @ basis
            layers.append(out_basis @ jnp.diag(p if l == 0 else q) @ basis.T)
            basis = out_basis
        out.append(layers)
    return out


def pad_depth(weights, depth: int):
    """Pad every pathway to `depth` layers with frozen identities, for depth sweeps in one call.

    A pathway `[W1, W2, …, W_D]` (`D >= 2`) becomes `[W1, I, …, I, W2, …, W_D]`: `depth − D`
    identity matrices (hidden width × hidden width) after the first layer, which never learn
    (their entries of the returned `layer_mask` are 0). The product, and every gradient of the
    real layers, are those of the depth-`D` network, so `simulate(..., layer_mask=mask)` on the
    padded weights *is* the depth-`D` network — but now networks of different depths have the
    same shapes and stack into one batch (with `jax.tree_util.tree_map(jnp.stack, …)`), so a
    whole onset × length × depth × seed map is one compiled call. Needs equal hidden widths
    across the depths to be stacked (a depth-1 pathway can only be padded when its output width
    equals that hidden width).

    Returns `(padded, layer_mask)`: one list per pathway of `depth` matrices, and one `(depth,)`
    array of 1.0 (learns) / 0.0 (frozen identity) per pathway.
    """
    if not isinstance(weights, (list, tuple)) or not all(isinstance(ws, (list, tuple))
                                                         for ws in weights):
        raise TypeError("`weights` must be a list with one list [W1, …, WD] per pathway.")
    depth = check_depth(depth)
    padded, masks = [], []
    for p, ws in enumerate(weights):
        if not ws:
            raise ValueError(f"`weights[{p}]` is empty; give every pathway at least one layer.")
        ws = [as_array(W, f"weights[{p}][{l}]", ndim=(2, 3)) for l, W in enumerate(ws)]
        if len(ws) < depth and len(ws) >= 2 and ws[0].shape[-2] != ws[1].shape[-1]:
            raise ValueError(f"`weights[{p}][1]` has {ws[1].shape[-1]} columns but "
                             f"weights[{p}][0] has {ws[0].shape[-2]} rows.")
        extra = depth - len(ws)
        if extra < 0:
            raise ValueError(f"pathway {p} has {len(ws)} layers, more than `depth` = {depth}.")
        width = ws[0].shape[-2]
        eye = jnp.broadcast_to(jnp.eye(width, dtype=ws[0].dtype),
                               ws[0].shape[:-2] + (width, width))
        padded.append([ws[0]] + [eye] * extra + ws[1:])
        masks.append(jnp.asarray([1.0] + [0.0] * extra + [1.0] * (len(ws) - 1),
                                 ws[0].dtype))
    return padded, masks


# ------------------------------------------------------------------------- the statistics
def _masks(task, sources):
    """Per-source indicator vectors `(Ni,)`."""
    ind = []
    for a, b in sources:
        v = np.zeros(task.n_in)
        v[a:b] = 1.0
        ind.append(jnp.asarray(v, task.sigma_xx.dtype))
    return ind


def _statistics(sxx, syx, schedule, t, ind):
    """The statistics that the update at flow time `t` uses under the source deficits."""
    for d in schedule:
        if isinstance(d, (Freeze, Lesion)):
            continue
        a = active(d, t)
        if isinstance(d, Remove):
            keep = 1.0 - ind[d.source]
            new_xx, new_yx = sxx * jnp.outer(keep, keep), syx * keep
        elif isinstance(d, Noise):
            new_xx, new_yx = sxx + d.variance * jnp.diag(ind[d.source]), syx
        elif isinstance(d, Decorrelate):
            i, j = (ind[k] for k in d.sources)
            cross = jnp.outer(i, j) + jnp.outer(j, i)
            new_xx, new_yx = sxx * (1.0 - cross), syx * (1.0 - 0.5 * (i + j))
        sxx, syx = jnp.where(a, new_xx, sxx), jnp.where(a, new_yx, syx)
    return sxx, syx


def _plastic(schedule, t, n_pathways):
    out = [jnp.ones((), bool)] * n_pathways
    for d in schedule:
        if isinstance(d, Freeze):
            out[d.pathway] = out[d.pathway] & ~active(d, t)
    return out


# --------------------------------------------------------------------------------- the step
def _contributions(paths, shared, S):
    top = product(shared) if shared else None
    C = []
    for ws, Sp in zip(paths, S):
        Om = product(ws) @ Sp
        C.append(Om if top is None else top @ Om)
    return C


def gradients(paths, shared, decoders, sxx, syx, S, T, beta):
    """Gradients of the loss (plus `beta` × the reconstruction loss) with respect to every
    pathway layer, shared layer and decoder, for the statistics `sxx`, `syx`."""
    C = _contributions(paths, shared, S)
    M = sum(C)
    g_paths, g_shared = [], [jnp.zeros_like(W) for W in shared]
    g_dec = []
    for p, (ws, Sp, Cp) in enumerate(zip(paths, S, C)):
        sxx_p = Sp @ sxx @ Sp.T
        syx_p = (syx - (M - Cp) @ sxx) @ Sp.T
        g = loss_gradients(list(ws) + list(shared), sxx_p, syx_p)
        gp = g[:len(ws)]
        g_shared = [a + b for a, b in zip(g_shared, g[len(ws):])]
        if decoders is not None:
            gr = loss_gradients(list(ws) + [decoders[p]], sxx_p, T[p] @ sxx @ Sp.T)
            gp = [a + beta * b for a, b in zip(gp, gr[:-1])]
            g_dec.append(beta * gr[-1])
        g_paths.append(gp)
    return g_paths, g_shared, (g_dec if decoders is not None else None)


def _pathway_gradients(state, data_p, consts, now):
    """The step's gradient for `dln.simulation.phases.run`: the statistics and plasticity that
    the deficit windows leave at flow time `now`, frozen pathways and masked layers scaled to 0.

    Weight decay `γ` (None: none) adds `γW` to every weight's gradient here, before the masks,
    so that a frozen pathway (and a frozen layer) gets no update at all, decay included."""
    paths, shared, dec = state
    masks, schedule, S, T, ind, beta, gamma = consts
    sxx, syx = _statistics(*data_p, schedule, now, ind)
    on = [jnp.where(pl, 1.0, 0.0) for pl in _plastic(schedule, now, len(paths))]
    gp, gs, gd = gradients(paths, shared, dec, sxx, syx, S, T, beta)
    if gamma is not None:  # the gradient of ½γ Σ ||W||²
        gp = [[g + gamma * W for g, W in zip(gws, ws)] for gws, ws in zip(gp, paths)]
        gs = [g + gamma * W for g, W in zip(gs, shared)]
        if dec is not None:
            gd = [g + gamma * R for g, R in zip(gd, dec)]
    gp = [[o * m * g for g, m in zip(gws, ms)] for gws, ms, o in zip(gp, masks, on)]
    return gp, gs, None if dec is None else [o * g for g, o in zip(gd, on)]


def _record_contributions(state, consts):
    return dict(map=jnp.stack(_contributions(state[0], state[1], consts[2])))


def _record_contributions_and_weights(state, consts):
    return dict(_record_contributions(state, consts), weights=state)


def _check_layer_mask(layer_mask, paths, batch_state):
    dtype = paths[0][0].dtype
    if layer_mask is None:
        batch = paths[0][0].shape[:1] if batch_state else ()
        return [[jnp.ones(batch, dtype) for _ in ws] for ws in paths]
    if not isinstance(layer_mask, (list, tuple)) or len(layer_mask) != len(paths):
        raise ValueError(f"`layer_mask` must hold one (D,) array per pathway ({len(paths)}), "
                         f"got {layer_mask!r}.")
    out = []
    for p, (m, ws) in enumerate(zip(layer_mask, paths)):
        m = as_array(m, f"layer_mask[{p}]", ndim=(1, 2)).astype(dtype)
        want = (ws[0].shape[0], len(ws)) if batch_state else (len(ws),)
        if tuple(m.shape) != want:
            raise ValueError(f"layer_mask[{p}] must have shape {want} (one factor per layer"
                             f"{', per batch member' if batch_state else ''}), got "
                             f"{tuple(m.shape)}.")
        out.append([m[..., l] for l in range(len(ws))])
    return out


def _check_paths(task, weights, sources, S):
    if not isinstance(weights, (list, tuple)) or not weights or not all(
            isinstance(ws, (list, tuple)) and ws for ws in weights):
        raise TypeError("`weights` must be a non-empty list with one non-empty list [W1, …, WD] "
                        f"per pathway, got {type(weights).__name__} {_short(weights)}.")
    paths = [[as_array(W, f"weights[{p}][{l}]", ndim=(2, 3)) for l, W in enumerate(ws)]
             for p, ws in enumerate(weights)]
    ndims = {W.ndim for ws in paths for W in ws}
    if len(ndims) != 1:
        raise ValueError("all weight matrices must be batched alike: all (out, in) or all "
                         "(B, out, in).")
    for p, (ws, Sp) in enumerate(zip(paths, S)):
        if ws[0].shape[-1] != Sp.shape[0]:
            raise ValueError(f"weights[{p}][0] must have {Sp.shape[0]} columns (the inputs "
                             f"pathway {p} reads), got shape {tuple(ws[0].shape)}.")
        for l in range(1, len(ws)):
            if ws[l].shape[-1] != ws[l - 1].shape[-2]:
                raise ValueError(f"weights[{p}][{l}] has {ws[l].shape[-1]} columns but "
                                 f"weights[{p}][{l - 1}] has {ws[l - 1].shape[-2]} rows.")
    batch = paths[0][0].shape[:-2]
    for p, ws in enumerate(paths):
        for l, W in enumerate(ws):
            if W.shape[:-2] != batch:
                raise ValueError(f"`weights[{p}][{l}]` has batch shape {W.shape[:-2]}, but "
                                 f"weights[0][0] has {batch}; batch every matrix alike.")
    return paths


def _short(x):
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _lr_bound(task, paths, shared, sources, decoders, layer_mask, lesions):
    """`2 / c`, with `c` a lower bound on the largest loss curvature (Hessian eigenvalue) at
    every global minimum, or None where no proven bound is implemented.

    Parallel pathways sum at the output, so at a global minimum (zero residual) the Hessian is
    the Gauss–Newton `Jᵀ A J` with `J = [J_1, …, J_P]`: the sum over pathways of each pathway's
    operator. Depth 1: the loss is quadratic in the weights, and the Hessian (per output) is the
    block matrix `[S_p Σxx S_qᵀ]`: `c` is its top eigenvalue (exact, any task, any sources).
    Depth D >= 2 (all pathways equally deep, input-aligned task): along mode α (direction
    `u_α v_αᵀ`) a pathway carrying `c_p` has curvature `>= λ_α D |c_p|^{2−2/D}` (AM–GM over the
    layers and Cauchy–Schwarz at every split of the chain), and `Σ_p c_p = s_α/λ_α` at every
    minimum, so the curvature is `>= κ_α P_α^{2/D−1}` (equal split; `κ_α = dln.modes.rate`,
    `P_α` the pathways not lesioned on α), attained at the equal-split balanced minimum. The
    network must be able to fit the task (every pathway at least as wide as the number of
    active modes). Shared layers, decoders, layer masks, mixed depths and non-aligned tasks
    (depth >= 2) have no bound here: the pre-check is skipped.
    """
    if shared or decoders is not None or layer_mask is not None:
        return None
    depths = {len(ws) for ws in paths}
    if len(depths) != 1:
        return None
    D = depths.pop()
    n_pathways = len(paths)
    if D == 1:
        S = np.concatenate([np.asarray(Sp) for Sp in
                            selectors(task, n_pathways, sources, lesions)], axis=0)
        curvature = float(np.linalg.eigvalsh(S @ np.asarray(task.sigma_xx) @ S.T).max())
        return 2.0 / curvature if curvature > 0 else float("inf")
    if sources is not None or task.input_aligned is not True:
        return None
    s, lam = np.asarray(task.s), np.asarray(task.input_variance)
    active = (s > 0) & (lam > 0)
    n_active = int(active.sum())
    if n_active == 0:
        return float("inf")
    if any(min(W.shape[-2] for W in ws[:-1]) < n_active for ws in paths):
        return None
    carriers = np.full(s.shape, n_pathways)
    for _, mode in {(d.pathway, d.mode) for d in lesions}:
        carriers[mode] -= 1
    use = active & (carriers > 0)
    if not use.any():
        return float("inf")
    kappa = np.asarray(_modes.rate(s[use], lam[use], D)) * carriers[use] ** (2.0 / D - 1)
    curvature = float(kappa.max())
    return 2.0 / curvature if curvature > 0 else float("inf")


def simulate(task: Task, weights, *, lr, steps: int, every: int = 1, deficit=None,
             sources: Sequence | None = None, shared=None, decoders=None,
             reconstruction: float = 0.0, layer_mask=None,
             record_weights: bool = False, check_lr: bool = True,
             on_divergence: str = "raise", weight_decay=0.0, devices=None) -> Trajectory:
    """Full-batch gradient descent on a network of pathways, with deficits.

    Each step is `W ← W − lr_k (∂L/∂W + γW)` for every trainable weight (pathway layers,
    shared layers, decoders), except during a `Freeze` window of its pathway: a frozen pathway
    (and its decoder) gets no update at all, neither gradient nor decay — as PyTorch's SGD,
    which skips a parameter whose `grad` is None after the `detach()` of Kleinman et al.'s
    code, so its weight decay does not act either. Layers with `layer_mask` 0 never change.

    Args:
      task: the `dln.Task` (its correlations enter the steps).
      weights: one list `[W1, …, WD]` per pathway (`W_l` `(out, in)`; pathway p's first layer
        reads all `Ni` inputs, or its source's block). Give every matrix a leading batch axis
        `(B, out, in)` for an ensemble (e.g. seeds).
      lr: learning rate: a float, or a schedule, a JAX-traceable callable from the step index
        `k = 0, 1, …` to the learning rate of step k (optax's convention). The flow time is
        `t = Σ_{j<k} lr_j`; deficit windows are read at the flow time of the step.
      steps: gradient steps, a multiple of `every`; records at steps 0, every, …, steps.
      deficit: None, a pair `(onset, length)` (freezes pathway 1), a deficit object or a list
        of them (`dln.pathways.deficits`). Windows with a leading axis `(B,)` run a batch of
        schedules in one call (zipped with a weight batch; broadcast against unbatched weights).
      sources: None (every pathway reads every input), or one `(start, stop)` input block per
        pathway: pathway p reads source p (needed by `Remove`, `Noise`, `Decorrelate`).
      shared: optional list of shared layers on top of the summed pathways (default none).
      decoders: with `reconstruction > 0`, one decoder `R_p` per pathway, `(Ni − n_p, h_p)`,
        predicting the other sources from pathway p's representation (needs `sources`).
      reconstruction: the weight `β` of the cross-source reconstruction loss.
      layer_mask: optional, one `(D,)` array per pathway (`(B, D)` for a batch) multiplying each
        layer's learning rate: 0 freezes a layer for the whole run. `pad_depth` makes these
        for depth sweeps in one batched call (frozen identity layers).
      record_weights: also record `(pathways, shared, decoders)` at every record.
      check_lr: raise before running if `lr` is at or above a proven stability limit of the
        network on the task (without deficits): above it no global minimum is stable, so
        gradient descent cannot converge. The limit is `2 / c` with `c` a lower bound on the
        largest loss curvature at every minimum: exact for depth-1 pathways (any task, any
        sources); for equally deep pathways of depth D >= 2 sharing the input of an
        input-aligned task, `c = max_α κ_α P_α^{2/D−1}` (`κ_α = dln.modes.rate`, the
        single-network mode curvature; `P_α` the pathways not lesioned on mode α; the
        gradient-descent Hessian at a minimum is the sum of the pathways' Gauss–Newton
        operators, smallest at the equal split). It is a bound, attained at the equal-split
        balanced minimum, so runs can still diverge below it from large weights or inside a
        deficit window. Shared layers, decoders, layer masks, mixed depths, sources at depth
        >= 2 and non-aligned tasks have no proven limit here: the pre-check is skipped (the
        divergence handling below still applies). Pass False to study unstable runs.
      on_divergence: `"raise"` (default) raises `dln.DivergenceError` if the weights stop
        being finite; `"warn"` warns and returns, with `Trajectory.diverged_at` marking
        the first non-finite record step (−1 where finite), as `dln.simulate`.
      weight_decay: `γ >= 0` (a scalar, may be traced), the L2 penalty `½γ Σ ||W||²` on every
        trainable weight (not part of the recorded `loss`, which stays the task's). The exact
        counterpart is `dln.pathways.solve(..., weight_decay=γ)`.
      devices: the devices a batch (of weights, deficit windows or layer masks) is spread
        over, as `dln.simulate`'s: None (default) for all local devices, an int n for the
        first n, or a list of jax devices; the same values as on one device.

    Returns:
      A `dln.Trajectory` with `pathways = P`, method `"simulation"`: `t = lr × step` `(T,)`
      (`Σ lr` under a schedule),
      `map (T, P, No, Ni)`
      (each pathway's contribution `C_p`), `modes (T, P, K)`, `loss (T,)` (on the task),
      `final_weights = (pathways, shared, decoders)`, `diverged_at`; with leading batch axes
      for batches.
    """
    if not isinstance(task, Task):
        raise TypeError(f"`task` must be a dln.Task, got {type(task).__name__}.")
    check_on_divergence(on_divergence)
    mesh = phases.device_mesh(devices)
    check_bool(check_lr, "check_lr")
    check_bool(record_weights, "record_weights")
    steps = check_int(steps, "steps", 0, what=" (number of gradient steps)")
    every = check_int(every, "every", 1, what=" (record every `every` steps)")
    if steps % every:
        raise ValueError(f"`steps` ({steps}) must be a multiple of `every` ({every}) so the last "
                         f"record is the final state; e.g. steps={steps - steps % every + every}.")
    schedule_fn = lr if callable(lr) else None
    if schedule_fn is not None:
        lr = float(phases.schedule_values(schedule_fn, steps).max())  # the largest: checks
    lr = check_real(lr, "lr", low=0.0, strict=True, what=" (the learning rate)")
    gamma = as_array(weight_decay, "weight_decay", ndim=0)
    if is_concrete(gamma):
        if not (np.isfinite(float(gamma)) and float(gamma) >= 0):
            raise ValueError(f"`weight_decay` must be finite and >= 0 (the L2 penalty γ), got "
                             f"{float(gamma)!r}.")
        gamma = None if float(gamma) == 0 else gamma
    n_pathways = len(weights) if isinstance(weights, (list, tuple)) else 0
    schedule = as_schedule(deficit, n_pathways=n_pathways or None)
    sources = None if sources is None else check_sources(task, sources, n_pathways)
    lesions = tuple(d for d in schedule if isinstance(d, Lesion))
    for d in lesions:
        if d.mode >= task.n_modes:
            raise ValueError(f"Lesion names mode {d.mode}, but the task has {task.n_modes}.")
    S = selectors(task, n_pathways, sources, lesions)
    paths = _check_paths(task, weights, sources, S)
    if shared is not None and (isinstance(shared, (np.ndarray, jax.Array))
                               or not isinstance(shared, (list, tuple))):
        raise TypeError(f"`shared` must be None or a list of shared layers [W1, …], got "
                        f"{type(shared).__name__}.")
    shared = [as_array(W, f"shared[{l}]", ndim=(2, 3)) for l, W in enumerate(shared or [])]
    for l in range(1, len(shared)):
        if shared[l].shape[-1] != shared[l - 1].shape[-2]:
            raise ValueError(f"`shared[{l}]` has {shared[l].shape[-1]} columns but shared[{l - 1}] "
                             f"has {shared[l - 1].shape[-2]} rows.")
    batch_state = paths[0][0].ndim == 3
    out_dim = (shared[-1] if shared else paths[0][-1]).shape[-2]
    if out_dim != task.n_out:
        raise ValueError(f"the last layer must have {task.n_out} rows (the task's outputs), got "
                         f"{out_dim}.")
    merged = shared[0].shape[-1] if shared else task.n_out
    for p, ws in enumerate(paths):
        if ws[-1].shape[-2] != merged:
            raise ValueError(f"weights[{p}][-1] has {ws[-1].shape[-2]} rows, but the pathways "
                             f"are summed into {merged} units (" + (
                                 "the columns of shared[0]" if shared else "the task's outputs")
                             + "): give every pathway's last layer that many rows.")
    for d in schedule:
        if isinstance(d, (Remove, Noise)) and (sources is None or d.source >= len(sources)):
            raise ValueError(f"{type(d).__name__} names source {d.source}; pass `sources` with "
                             "one (start, stop) block per pathway.")
        if isinstance(d, Decorrelate) and (sources is None or max(d.sources) >= len(sources)):
            raise ValueError(f"Decorrelate names sources {d.sources}; pass `sources`.")
    beta = check_real(reconstruction, "reconstruction", low=0.0,
                      what=" (the weight of the reconstruction loss)")
    if not isinstance(beta, float):
        raise TypeError("`reconstruction` must be a concrete number, got a traced value.")
    if beta > 0:
        if sources is None or not isinstance(decoders, (list, tuple)) \
                or len(decoders) != n_pathways:
            raise ValueError("cross-source reconstruction needs `sources` and one decoder per "
                             "pathway (`decoders=[R_0, …]`, R_p of shape (Ni − n_p, h_p)).")
        decoders = [as_array(R, f"decoders[{p}]", ndim=(2, 3)) for p, R in enumerate(decoders)]
        T = _complements(task, sources)
        for p, (R, Tp, ws) in enumerate(zip(decoders, T, paths)):
            want = (Tp.shape[0], ws[-1].shape[-2])
            if R.shape[-2:] != want:
                raise ValueError(f"decoders[{p}] must have shape {want} (the inputs outside "
                                 f"source {p}, pathway {p}'s output units), got "
                                 f"{tuple(R.shape)}.")
    else:
        decoders, T = None, None
    if check_lr and is_concrete(lr):
        bound = _lr_bound(task, paths, shared, sources, decoders, layer_mask, lesions)
        if bound is not None and float(lr) >= bound:
            raise ValueError(
                f"`lr` = {float(lr)!r} will not converge: for these {n_pathways} pathways on this "
                f"task no minimum is stable for lr >= {bound:.6g} (2 / a lower bound on the loss "
                f"curvature at every minimum; see the `check_lr` argument). Use a smaller lr, "
                f"e.g. {bound / 4:.3g}, or pass check_lr=False to run anyway.")
    lr = jnp.asarray(lr, paths[0][0].dtype)
    windowed = tuple(d for d in schedule if not isinstance(d, Lesion))
    sizes = {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(windowed) if leaf.ndim}
    batch_schedule = bool(sizes)
    if batch_schedule:
        B = sizes.pop()
        if sizes or (batch_state and paths[0][0].shape[0] != B):
            raise ValueError("batched deficit windows must all have the same length, equal to "
                             "the weights' batch size when the weights are batched.")
        windowed = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (B,)), windowed)
    ind = _masks(task, sources) if sources is not None else None
    masks = _check_layer_mask(layer_mask, paths, batch_state)
    dtype = paths[0][0].dtype
    record = _record_contributions_and_weights if record_weights else _record_contributions
    final, recs = phases.run(
        _pathway_gradients, record, (task.sigma_xx[None].astype(dtype),
                                     task.sigma_yx[None].astype(dtype)),
        (paths, shared, decoders), lr, jnp.asarray([steps]), int(every),
        consts=(masks, windowed, S, T, ind, beta,
                None if gamma is None else gamma.astype(dtype)),
        n_blocks=steps // every, freeze=False, schedule=schedule_fn,
        batch=(batch_state, False, False, (batch_state, batch_schedule) + (False,) * 5),
        mesh=mesh)
    recs["modes"] = task.mode_strengths(recs["map"])
    recs["loss"] = task.loss(jnp.sum(recs["map"], axis=-3))
    diverged_at = recs["diverged_at"]
    report_divergence(diverged_at, what="on the pathways ", lr=float(lr) if is_concrete(lr)
                      else lr, advice="Lower `lr` (large initial weights and deficits that add "
                      "input variance need less).", on_divergence=on_divergence)
    if schedule_fn is None:
        t = lr * jnp.arange(steps // every + 1, dtype=lr.dtype) * every
    else:  # Σ lr, as the loop accumulated it (the same for every batch member)
        t = recs["flow_time"]
        t = t[0] if t.ndim == 2 else t
    return Trajectory(t=t, modes=recs["modes"], loss=recs["loss"], task=task,
                      method="simulation", depth=len(paths[0]), stored_map=recs["map"],
                      final_weights=final, recorded_weights=recs.get("weights"),
                      diverged_at=diverged_at, pathways=n_pathways)
