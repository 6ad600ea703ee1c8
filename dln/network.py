"""The network itself: the end-to-end map, the loss gradients, and checks on weight lists.

Shared by `dln.simulate` (gradient descent) and `dln.numerical_flow` (the integrated flow), so the
gradient formula lives in one place:

    ∂L/∂W_l = (W_D ⋯ W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1} ⋯ W_1)ᵀ,   W = W_D ⋯ W_1.

With biases (`affine_map`, `affine_loss`, `affine_loss_gradients`) the network is affine,
`ŷ = M x + c`, and the loss and gradients also need the first moments `x̄`, `ȳ`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array
from dln.tasks.task import Task

__all__ = ["product", "loss_gradients", "check_weights", "affine_map", "affine_loss",
           "affine_loss_gradients", "check_biases"]


def product(weights):
    """The map `W_D ⋯ W_1` of `[W1, …, WD]` (leading batch axes broadcast)."""
    W = weights[0]
    for Wl in weights[1:]:
        W = Wl @ W
    return W


def loss_gradients(weights, sigma_xx, sigma_yx):
    """`∂L/∂W_l = (W_D ⋯ W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1} ⋯ W_1)ᵀ` for every layer (no biases).

    Prefix products forward, then one backward sweep: `3D − 2` matrix products in all.
    """
    return affine_loss_gradients(weights, [None] * len(weights), sigma_xx, sigma_yx,
                                 None, None)[0]


def check_weights(task: Task, weights, *, allow_batch: bool = True):
    """Validate `[W1, …, WD]` against the task; all `(out, in)`, or all `(B, out, in)` when
    `allow_batch`; returns them as arrays of one dtype."""
    if isinstance(weights, (jnp.ndarray, np.ndarray)) or not isinstance(weights, (list, tuple)):
        raise TypeError(
            "`weights` must be a list [W1, …, WD] of (out, in) matrices, got "
            f"{type(weights).__name__}."
        )
    if len(weights) == 0:
        raise ValueError("`weights` is empty; pass at least one matrix [W1].")
    ws = [as_array(W, f"weights[{i}]", ndim=(2, 3) if allow_batch else 2)
          for i, W in enumerate(weights)]
    ndims = {W.ndim for W in ws}
    if len(ndims) != 1:
        raise ValueError("all weight matrices must be batched alike: all (out, in) or all "
                         "(B, out, in).")
    batch = ws[0].shape[:-2]
    dtype = jnp.result_type(*ws)
    ws = [W.astype(dtype) for W in ws]
    if ws[0].shape[-1] != task.n_in:
        raise ValueError(f"weights[0] must have {task.n_in} columns (the task's input size), got "
                         f"shape {tuple(ws[0].shape)}.")
    if ws[-1].shape[-2] != task.n_out:
        raise ValueError(f"weights[-1] must have {task.n_out} rows (the task's output size), got "
                         f"shape {tuple(ws[-1].shape)}.")
    for i in range(1, len(ws)):
        if ws[i].shape[:-2] != batch:
            raise ValueError(f"weights[{i}] has batch shape {ws[i].shape[:-2]}, expected {batch}.")
        if ws[i].shape[-1] != ws[i - 1].shape[-2]:
            raise ValueError(
                f"weights[{i}] has {ws[i].shape[-1]} columns but weights[{i - 1}] has "
                f"{ws[i - 1].shape[-2]} rows; W_l is (out, in) and the map is W_D ⋯ W_1."
            )
    return ws


# ------------------------------------------------------------------------------------- biases
#
# Network with biases: h_0 = x, h_l = W_l h_{l−1} + b_l (b_l may be absent), ŷ = h_D. It is affine,
#
#     ŷ = M x + c,   M = W_D ⋯ W_1,   c = Σ_l (W_D ⋯ W_{l+1}) b_l,
#
# and with P_l = W_l ⋯ W_1 (P_0 = I), c_l = Σ_{k≤l} (W_l ⋯ W_{k+1}) b_k (c_0 = 0) the input of
# layer l is h_{l−1} = P_{l−1} x + c_{l−1}.


def affine_map(weights, biases):
    """The map and offset `(M, c)` of the affine network `ŷ = M x + c`.

    `M = W_D ⋯ W_1` and `c = Σ_l (W_D ⋯ W_{l+1}) b_l` over the layers whose bias is not None
    (`c` is None when every bias is None). Leading batch axes broadcast.
    """
    M = weights[0]
    c = biases[0]
    for Wl, bl in zip(weights[1:], biases[1:]):
        M = Wl @ M
        if c is not None:
            c = (Wl @ c[..., None])[..., 0]
        if bl is not None:
            c = bl if c is None else c + bl
    return M, c


def affine_loss(task: Task, W, offset=None):
    """Mean squared error `L = 1/(2P) Σ_μ ||y_μ − W x_μ − c||²` of the affine network(s).

    With the first moments `x̄ = task.x_mean`, `ȳ = task.y_mean`:

        L(W, c) = task.loss(W) − cᵀ(ȳ − W x̄) + ½ ||c||²,

    where `task.loss(W) = ½ tr Σyy − tr(Wᵀ Σyx) + ½ tr(W Σxx Wᵀ)`; so it equals `task.loss(W)`
    when `c = 0` (or None). `W` is `(..., No, Ni)`, `offset` `(..., No)`.
    """
    base = task.loss(W)
    if offset is None:
        return base
    x_mean, y_mean = _means(task)
    mean_residual = y_mean - jnp.einsum("...ij,j->...i", W, x_mean)  # ȳ − W x̄
    return (base - jnp.sum(offset * mean_residual, axis=-1)
            + 0.5 * jnp.sum(offset * offset, axis=-1))


def affine_loss_gradients(weights, biases, sigma_xx, sigma_yx, x_mean, y_mean):
    """Gradients of the affine loss w.r.t. every `W_l` and every present `b_l`.

    With `e_μ = M x_μ + c − y_μ` the error, `G = (1/P) Σ_μ e_μ x_μᵀ = M Σxx − Σyx + c x̄ᵀ` its
    correlation with the input and `ē = M x̄ + c − ȳ` its mean:

        ∂L/∂W_l = (W_D ⋯ W_{l+1})ᵀ [G (W_{l−1} ⋯ W_1)ᵀ + ē c_{l−1}ᵀ],
        ∂L/∂b_l = (W_D ⋯ W_{l+1})ᵀ ē,

    with `c_{l−1}` the offset of the first `l − 1` layers (the mean-free part of layer l's
    input is carried by `G`, the constant part by `ē`). Only the statistics enter: the cost does
    not depend on P. Returns `(grads_W, grads_b)`, `grads_b[l]` None where `biases[l]` is None;
    with no biases at all this is exactly `loss_gradients` (`x_mean`, `y_mean` may be None).
    Unbatched (vmap for ensembles).

    Order of the arithmetic: the prefixes `W_l ⋯ W_1` forward (`D − 1` products), `G` (one;
    under `vmap` over an ensemble on one task XLA makes it a single large product
    `(B·No, Ni) @ (Ni, Ni)`), then backward `G_l (W_{l−1} ⋯ W_1)ᵀ` and `W_lᵀ G_l` (`2D − 2`).
    The transposes `W_lᵀ` are materialised first (behind `jax.lax.optimization_barrier`, a
    copy of `O(d²)` per layer) so that every product has the form `A B` or `A Bᵀ`: XLA would
    otherwise fold the transpose into the product as `Aᵀ B`, which its CPU backend runs on a
    generic kernel 2–4× slower for batches of small matrices.
    """
    D = len(weights)
    prefix = [weights[0]]  # prefix[l] = W_{l+1} ⋯ W_1 (0-based)
    offs = [biases[0]]  # offs[l] = c_{l+1}, None while no bias has appeared yet
    for Wl, bl in zip(weights[1:], biases[1:]):
        prefix.append(Wl @ prefix[-1])
        c = None if offs[-1] is None else Wl @ offs[-1]
        if bl is not None:
            c = bl if c is None else c + bl
        offs.append(c)
    M, c = prefix[-1], offs[-1]
    has_bias = any(b is not None for b in biases)
    mean_err = M @ x_mean - y_mean if has_bias else None  # unused (and x̄ unknown) otherwise
    back = M @ sigma_xx - sigma_yx
    if c is not None:
        back = back + jnp.outer(c, x_mean)
        mean_err = mean_err + c
    grads_w, grads_b = [None] * D, [None] * D
    # W_lᵀ as arrays of their own (see the docstring: products `A B`, `A Bᵀ` only)
    transposed = jax.lax.optimization_barrier([jnp.swapaxes(Wl, -1, -2) for Wl in weights[1:]])
    for l in range(D - 1, -1, -1):
        if biases[l] is not None:
            grads_b[l] = mean_err
        if l == 0:
            grads_w[0] = back
        else:
            g = back @ prefix[l - 1].T
            if offs[l - 1] is not None:
                g = g + jnp.outer(mean_err, offs[l - 1])
            grads_w[l] = g
            back = transposed[l - 1] @ back
            if has_bias:
                mean_err = transposed[l - 1] @ mean_err
    return grads_w, grads_b


def check_biases(task: Task, weights, biases):
    """Validate `[b1, …, bD]` (entries None or `(out,)`, or `(B, out)` with batched weights)
    against checked weights; returns them in the weights' dtype, or None when all are None."""
    if isinstance(biases, (jnp.ndarray, np.ndarray)) or not isinstance(biases, (list, tuple)):
        raise TypeError(
            "`biases` must be a list [b1, …, bD] with one entry per weight matrix, each None or "
            f"an (out,) vector; got {type(biases).__name__}."
        )
    if len(biases) != len(weights):
        raise ValueError(f"`biases` has {len(biases)} entries but there are {len(weights)} "
                         "weight matrices; give one per layer (None for no bias).")
    if all(b is None for b in biases):
        return None
    batch = weights[0].shape[:-2]
    out = []
    for i, (W, b) in enumerate(zip(weights, biases)):
        if b is None:
            out.append(None)
            continue
        b = as_array(b, f"biases[{i}]", ndim=len(batch) + 1).astype(weights[0].dtype)
        want = batch + (W.shape[-2],)
        if tuple(b.shape) != want:
            raise ValueError(f"biases[{i}] must have shape {want} (the rows of weights[{i}]"
                             f"{', with the same batch axis' if batch else ''}), got "
                             f"{tuple(b.shape)}.")
        out.append(b)
    _means(task)
    return out


def _means(task: Task):
    if task.x_mean is None or task.y_mean is None:
        raise ValueError(
            "a network with biases needs the data means x̄ and ȳ, which this task does not know "
            "(it was built from correlations). Build it with dln.Task.from_data(X, Y).")
    return task.x_mean, task.y_mean
