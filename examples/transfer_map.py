"""A transfer map for a two-layer linear network, exact: final loss on task B against the
pre-training length on task A and the principal angle between the two tasks' singular subspaces.

Uses `dln.transfer.two_layer_map`: every point is the exact gradient flow (the matrix Riccati
solution of `dln.riccati`, chained across the task switch by `dln.schedule.solve`; exact because
the flow conserves the λ-balance of the weights), no simulation. Setting of Kleinman, Achille &
Soatto (2024, arXiv:2308.12221; docs/theory/completion.md) for regression tasks: whitened inputs,
`n = 6` inputs, hidden units and outputs; A and B have singular values (3, 2) and subspaces turned
by a principal angle θ (`dln.task_pairs.rotated_pair`); small λ = 0 balanced initial weights
(scale 10⁻²); pre-training for T, then a fixed time on B.

**Figure, `transfer_map.png`.** One logarithmic colour scale for both panels (the final loss
on B after flow time 8 on B); each cell is centred on its (T, θ) and spans half the gap to its
neighbours, so the unequal steps in T show as unequal cells.

- (a) the final loss on B over θ × T, for B rotated from A: B is learned at every θ and T
  (loss at most 4·10⁻³); with orthogonal subspaces (θ = π/2) pre-training leaves B slightly less
  learned at the end (it shrinks the small components along B's directions from which B's modes
  grow), at smaller angles pre-training even helps a little;
- (b) the same for B = −(rotated A): at θ = 0 this is the reversal, where every learned mode of
  A starts B with the wrong sign. After a long pre-training (here T ≥ 8) nothing of B is learned
  in the time given: the loss stays at ½(3² + 2²) = 6.5, the top of the colour scale. The number
  written in a cell counts the modes of B that the exact solution finds stalled at the saddle
  for ever (one at T = 8 and 10, both from T = 15); a mode not counted there is still near the
  saddle when the run ends but leaves it later (given flow time 30 on B, the loss at T = 8 and
  10 falls to ½·3² = 4.5: the s = 2 mode is learned, the s = 3 mode stays stalled). Without
  pre-training (T = 0) B is always learned.

The script prints the two maps. Run it with

    python examples/transfer_map.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax
import numpy as np

from dln import transfer

S_A = S_B = (3.0, 2.0)  # singular values of A and B
POST = 8.0  # flow time on B after the pre-training on A


def compute(quick=False):
    angles = np.linspace(0, np.pi / 2, 4 if quick else 7)
    pretrain = np.array([0.0, 2.0, 5.0, 10.0, 20.0] if quick else
                        [0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0])
    kw = dict(n=6, s_a=list(S_A), s_b=list(S_B), angles=angles, pretrain=pretrain, post=POST,
              progress=False)
    return dict(angles=angles, pretrain=pretrain,
                rotated=transfer.two_layer_map(jax.random.key(0), **kw),
                reversed=transfer.two_layer_map(jax.random.key(0), reversal=True, **kw))


def summary(res):
    lines = ["final loss on B (rows: θ; columns: T = " +
             ", ".join(f"{t:g}" for t in res["pretrain"]) + ")"]
    for name in ("rotated", "reversed"):
        lines.append(f"  B {name}:")
        for a, row, st in zip(res["angles"], res[name]["final_loss"], res[name]["stalled_modes"]):
            lines.append(f"    θ = {a:.2f}: " + " ".join(f"{x:.2e}" for x in row)
                         + "   stalled modes: " + " ".join(str(int(x)) for x in st))
    return "\n".join(lines)


def _edges(values):
    """Cell edges around sorted `values` (midpoints between neighbours, the outer edges half a
    neighbouring gap out), so that unequal steps are drawn as unequal cells."""
    v = np.asarray(values, dtype=float)
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (v[1] - v[0]) / 2], mid, [v[-1] + (v[-1] - v[-2]) / 2]])


def _plot(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    names = (("rotated", "(a) B rotated from A"),
             ("reversed", "(b) B = −(rotated A); numbers in the cells: modes of B\n"
                          "the exact solution finds stalled at the saddle"))
    losses = {name: np.maximum(res[name]["final_loss"], 1e-12) for name, _ in names}
    # one colour scale for both panels
    norm = LogNorm(vmin=min(v.min() for v in losses.values()),
                   vmax=max(v.max() for v in losses.values()))
    cmap = plt.get_cmap("viridis")
    nothing = 0.5 * float(np.sum(np.square(S_B)))  # the loss with nothing of B learned
    x, y = _edges(res["pretrain"]), _edges(res["angles"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for ax, (name, title) in zip(axes, names):
        mesh = ax.pcolormesh(x, y, losses[name], norm=norm, cmap=cmap)
        for i, row in enumerate(res[name]["stalled_modes"]):
            for j, v in enumerate(row):
                if v:
                    bright = norm(losses[name][i, j]) > 0.6  # dark text on the bright cells
                    ax.text(res["pretrain"][j], res["angles"][i], str(int(v)), ha="center",
                            va="center", color="k" if bright else "w", fontsize=10,
                            fontweight="bold")
        ax.set_xticks(res["pretrain"], [f"{t:g}" for t in res["pretrain"]])
        ax.set_yticks(res["angles"], [f"{a:.2f}" for a in res["angles"]])
        ax.set_xlabel("pre-training length T on A (flow time)")
        ax.set_ylabel("principal angle θ between A's and B's subspaces (rad)")
        ax.set_title(title, fontsize=10)
    cbar = fig.colorbar(mesh, ax=axes, shrink=0.95, pad=0.02)
    cbar.set_label(f"final loss on B after flow time {POST:g} on B (exact), both panels\n"
                   f"({nothing:g} = ½ Σ s²: nothing of B learned)", fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figure, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compute(quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "transfer_map.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
