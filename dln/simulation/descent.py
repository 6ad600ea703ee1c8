"""The one gradient-descent engine: a jitted `lax.scan` of steps, and one divergence story.

Every simulation in dln — plain networks and biases (`dln.simulate`), pathways and sources
with deficits (`dln.pathways.simulate`), task schedules and masked completion losses
(`dln.schedule`, `dln.completion`) — drives `scan` with its own state, its own step (its
gradient and its per-step protocol: deficits, phases, schedules of the learning rate) and its
own record, and reports divergence through `report_divergence`.

`scan` keeps only the records: memory grows with `steps / every`, not with `steps`. The step
sees the global step index `k = 0, 1, …`, so a protocol (a deficit window, a task phase, a
learning-rate schedule) is a function of `k` inside the compiled loop.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DivergenceError", "scan", "all_finite", "first_divergence", "report_divergence",
           "report_final_divergence"]


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the weights stopped being finite during the run."""


def scan(carry, step, record, n_blocks: int, every):
    """Run `step(k, carry) -> carry` for `k = 0 … n_blocks·every − 1`, recording
    `record(carry)` at steps `0, every, …, n_blocks·every`.

    Returns `(final carry, records)`, the records stacked along a leading axis of length
    `n_blocks + 1`. `n_blocks` and `every` are static ints: loops of fixed length, through
    which reverse-mode `jax.grad` runs.
    """

    def block(c, b):
        c = jax.lax.fori_loop(0, every, lambda i, ci: step(b * every + i, ci), c)
        return c, record(c)

    final, recs = jax.lax.scan(block, carry, jnp.arange(n_blocks))
    first = record(carry)
    recs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, recs)
    return final, recs


def all_finite(tree):
    """True when every leaf of `tree` is finite (a traced scalar bool)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))


def first_divergence(finite, step_numbers):
    """The step number of the first non-finite record (`finite` `(..., T)`), or −1."""
    return jnp.where(jnp.all(finite, axis=-1), -1, step_numbers[jnp.argmin(finite, axis=-1)])


def report_divergence(diverged_at, *, what: str, lr, advice: str, on_divergence: str,
                      stacklevel: int = 3, steps_known: bool = True) -> None:
    """Raise `DivergenceError` (`on_divergence="raise"`) or warn (`"warn"`) if any run
    diverged; `diverged_at` holds the first non-finite record step of each run, −1 where finite
    (with `steps_known=False`, any value >= 0 marks a run found diverged at its end). Traced
    values are not inspected."""
    if isinstance(diverged_at, jax.core.Tracer):
        return
    bad = np.asarray(diverged_at)
    if not np.any(bad >= 0):
        return
    n = f"in {int((bad >= 0).sum())} of {bad.size} runs"
    if not steps_known:
        where = n if bad.ndim else "by the end of the run"
    else:
        where = (f"at step {int(bad)}" if bad.ndim == 0 else
                 f"{n} (first at step {int(bad[bad >= 0].min())})")
    message = (f"gradient descent {what}diverged {where} with lr = {lr}: the weights became "
               f"infinite or NaN. {advice}")
    if on_divergence == "raise":
        raise DivergenceError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


def report_final_divergence(finite, *, lr, on_divergence: str) -> None:
    """`report_divergence` for runs known only by whether their final weights are finite."""
    finite = np.asarray(finite)
    report_divergence(np.where(finite, -1, 0), what="", lr=lr, on_divergence=on_divergence,
                      advice="Lower `lr`.", stacklevel=5, steps_known=False)
