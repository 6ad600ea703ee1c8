"""The network itself: the end-to-end map, the loss gradients, and checks on weight lists.

Shared by `dln.simulate` (gradient descent) and `dln.numerical_flow` (the integrated flow), so the
gradient formula lives in one place:

    ∂L/∂W_l = (W_D ⋯ W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1} ⋯ W_1)ᵀ,   W = W_D ⋯ W_1.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from dln._checks import as_array
from dln.task import Task

__all__ = ["product", "loss_gradients", "check_weights"]


def product(weights):
    """The map `W_D ⋯ W_1` of `[W1, …, WD]` (leading batch axes broadcast)."""
    W = weights[0]
    for Wl in weights[1:]:
        W = Wl @ W
    return W


def loss_gradients(weights, sigma_xx, sigma_yx):
    """`∂L/∂W_l = (W_D ⋯ W_{l+1})ᵀ (W Σxx − Σyx) (W_{l−1} ⋯ W_1)ᵀ` for every layer.

    Prefix products forward, then one backward sweep: `3D − 2` matrix products in all.
    """
    prefix = [weights[0]]  # prefix[l] = W_{l+1} ⋯ W_1 (0-based)
    for Wl in weights[1:-1]:
        prefix.append(Wl @ prefix[-1])
    W = weights[-1] @ prefix[-1] if len(weights) > 1 else weights[0]
    back = W @ sigma_xx - sigma_yx  # (W_D ⋯ W_{l+1})ᵀ (W Σxx − Σyx), built from the top
    grads = [None] * len(weights)
    for l in range(len(weights) - 1, 0, -1):
        grads[l] = back @ prefix[l - 1].T
        back = weights[l].T @ back
    grads[0] = back
    return grads


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
