"""A transfer map for a two-layer linear network, exact: final loss on task B against the
pre-training length on task A and the principal angle between the two tasks' singular subspaces.

Uses `dln.transfer.two_layer_map`: every point is the exact gradient flow (the matrix Riccati
solution of `dln.riccati`, chained across the task switch by `dln.schedule.solve`; exact because
the flow conserves the λ-balance of the weights), no simulation. Setting of Kleinman, Achille &
Soatto (2024, arXiv:2308.12221; docs/theory/completion.md) for regression tasks: whitened inputs,
`n = 6` inputs, hidden units and outputs; A and B have singular values (3, 2) and subspaces turned
by a principal angle θ (`dln.task_pairs.rotated_pair`); small λ = 0 balanced initial weights
(scale 10⁻²); pre-training for T, then a fixed time on B.

**Figure, `transfer_map.png`.**

- (a) the final loss on B (log colour scale) over θ × T, for B rotated from A: B is learned
  at every θ and T; with orthogonal subspaces (θ = π/2) pre-training leaves B slightly less
  learned at the end (it shrinks the small components along B's directions from which B's modes
  grow), at smaller angles pre-training even helps a little;
- (b) the same for B = −(rotated A): at θ = 0 this is the reversal, where every learned mode of
  A starts B with the wrong sign; after a long pre-training (here T ≥ 10) the exact solution
  finds those modes stalled at the saddle (the number of stalled modes is written in each
  cell) and the loss stays at ½(3² + 2²) = 6.5. Without pre-training (T = 0) B is always
  learned.

The script prints the two maps. Run it with

    python examples/transfer_map.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax
import numpy as np

from dln import transfer


def compute(quick=False):
    angles = np.linspace(0, np.pi / 2, 4 if quick else 7)
    pretrain = np.array([0.0, 2.0, 5.0, 10.0, 20.0] if quick else
                        [0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0])
    kw = dict(n=6, s_a=[3.0, 2.0], s_b=[3.0, 2.0], angles=angles, pretrain=pretrain, post=8.0,
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


def _plot(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, name, title in ((axes[0], "rotated", "(a) B rotated from A"),
                            (axes[1], "reversed", "(b) B = −(rotated A)")):
        loss = np.maximum(res[name]["final_loss"], 1e-12)
        im = ax.imshow(loss, origin="lower", aspect="auto", norm=LogNorm(),
                       extent=(-0.5, len(res["pretrain"]) - 0.5, -0.5, len(res["angles"]) - 0.5))
        for i, row in enumerate(res[name]["stalled_modes"]):
            for j, v in enumerate(row):
                if v:
                    ax.text(j, i, str(int(v)), ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(res["pretrain"])), [f"{t:g}" for t in res["pretrain"]])
        ax.set_yticks(range(len(res["angles"])), [f"{a:.2f}" for a in res["angles"]])
        ax.set_xlabel("pre-training length T on A (flow time)")
        ax.set_ylabel("principal angle θ (rad)")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label="final loss on B (exact)")
    fig.tight_layout()
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
