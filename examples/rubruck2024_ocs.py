"""Early learning of the optimal constant solution (Rubruck et al. 2024), exact and simulated.

Reproduces the deep-linear-network part of

    Rubruck, Bauer, Saxe and Summerfield, "Early learning of the optimal constant solution in
    neural networks and humans", arXiv:2406.17467 (docs/theory/biases.md),

with the exact bias dynamics of `dln.solve(..., biases=...)` (`dln.biases`; derivation page
`docs/derivations/biases.md`) checked against gradient descent with biases (`dln.simulate`).

**The task.** A binary hierarchy of depth 3 (`dln.datasets.hierarchy(3)`): 8 one-hot items, 15
one-vs-rest features, one per tree node (root, 2 branches, 4 twigs, 8 leaves). The optimal
constant solution (OCS) outputs each feature's base rate whatever the item: 1 for the root, 0.5,
0.25 and 0.125 for the levels below (`dln.ocs.ocs`).

**The networks.** Depth 2 and 3, hidden width 8, small aligned balanced weights (`u0 = 1e-4`),
biases in every layer starting at 0 (`biases="all"`), flow time `t = lr × steps`.

**Figures.**

- `ocs_outputs.png`: the mean output per level on positive items (the feature is on) and on
  negative items (off), against time, for depth 2 (top) and 3 (bottom). Lines: exact; circles:
  gradient descent. Dashed: the base rates. Early on, positives and negatives alike sit on the
  base rates — the network answers with the OCS, ignoring the item — and only later split
  towards 1 and 0, coarse levels first.
- `ocs_distance.png`: the distance `||Ŷ(t) − ȳ1ᵀ||_F` of the outputs on all items to the OCS,
  for biases in all layers, in the output layer only, in the hidden layers only, no biases with
  one-hot items, and no biases with a shared input offset (`x = e_μ + 0.5·1`,
  `dln.datasets.offset_hierarchy`). With an output bias or a shared input component the
  network passes within a hair of the OCS; one-hot items without biases never get close
  (docs/theory/biases.md: the uniform mode is then only the first of several similar modes).
- `ocs_rates.png`: true-positive and true-negative rates per level over time with biases,
  outputs thresholded at 0.5 (solid) and 0.2 (dashed). At 0.5, during the OCS phase the fine
  levels (base rates 0.25, 0.125) are rejected for every item: TN = 1 and TP = 0 until the items
  are learned, coarse levels first (level 1 sits on the threshold, 0.5, and flips early). At
  0.2 the base rate 0.25 of level 2 is above the threshold, so during the OCS phase every
  negative item is accepted (TN = 0) and TN recovers only as the items are learned; the finest
  level's TN dips while the twigs are learned. The TN dynamics, the hallmark the paper finds in
  humans, depend on the threshold (docs/theory/biases.md recommends reporting several).

With an output bias the OCS is reached within a few time units at depth 2 and 3. Without biases
and one-hot items the outcome depends on depth: at depth 2 the modes rise close together and the
outputs never come near the OCS, while at depth 3 (from `u0 = 1e-4`) the uniform mode, the
strongest, is learned so far ahead of the others that the outputs pass close to the OCS anyway.

The script prints the closest approach to the OCS for each variant and depth, the outputs per
level at that moment, and the largest gap between gradient descent and the exact solution.
Run it with

    python examples/rubruck2024_ocs.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

import dln
from dln import biases as dln_biases
from dln import datasets, ocs

LEVELS = 3
DEPTHS = (2, 3)
U0 = 1e-4
OFFSET = 0.5
VARIANTS = ("all", "output", "hidden", "none", "offset")  # biases, or none with offset inputs
LABELS = {"all": "biases in all layers", "output": "output bias", "hidden": "hidden biases",
          "none": "no bias, one-hot", "offset": "no bias, offset inputs"}
THRESHOLDS = (0.5, 0.2)
_FULL = {"lr": 0.02, "records": 400}
_QUICK = {"lr": 0.1, "records": 120}


def _horizon(task, depth):
    """1.3 × the time at which the slowest mode reaches 99 % without biases."""
    exact = dln.solve(task, depth=depth, u0=U0, t=0.0)
    return 1.3 * float(jnp.max(exact.time_to(0.99)))


def _simulate(task, depth, pattern, lr, steps, every):
    weights = dln.init.aligned(task, depth, u0=U0)
    bs = [jnp.zeros(W.shape[0]) if has else None
          for W, has in zip(weights, dln_biases.bias_layers(pattern, depth))]
    return dln.simulate(task, weights, biases=bs, lr=lr, steps=steps, every=every)


def compare(quick: bool = True):
    """All the numbers behind the figures.

    Returns a dict with `levels` (each feature's level), `base_rates` (per level) and, per depth,
    `t` (record times), `exact` (the exact trajectory for every variant), `sim` (gradient
    descent with all biases), `gap` (largest |simulation − exact| over outputs on all items),
    `closest` (variant → (time, distance) of the closest approach to the OCS), `far`
    (`||Y − ȳ1ᵀ||_F`, the distance of the OCS from the targets).
    """
    cfg = _QUICK if quick else _FULL
    task = datasets.hierarchy(LEVELS)
    offset_task = datasets.offset_hierarchy(LEVELS, offset=OFFSET)
    levels = datasets.hierarchy_levels(LEVELS)
    base = np.array([float(ocs.ocs(task)[levels == k][0]) for k in range(LEVELS + 1)])
    out = {"levels": levels, "base_rates": base, "task": task,
           "far": float(np.linalg.norm(task.Y - task.y_mean))}
    for depth in DEPTHS:
        lr, records = cfg["lr"], cfg["records"]
        every = int(np.ceil(_horizon(task, depth) / lr / records))
        sim = _simulate(task, depth, "all", lr, every * records, every)
        t = np.asarray(sim.t)
        exact = {}
        for v in VARIANTS:
            if v == "offset":
                exact[v] = dln.solve(offset_task, depth=depth, u0=U0, t=t)
            else:
                exact[v] = dln.solve(task, depth=depth, u0=U0, t=t,
                                     biases=None if v == "none" else v)
        gap = float(jnp.max(jnp.abs(ocs.outputs(sim) - ocs.outputs(exact["all"]))))
        closest = {v: tuple(float(a) for a in ocs.closest_approach(tr))
                   for v, tr in exact.items()}
        out[depth] = {"t": t, "exact": exact, "sim": sim, "gap": gap, "closest": closest}
    return out


def summary(res) -> str:
    lines = [f"OCS on the {2 ** LEVELS}-item hierarchy: base rates per level "
             + ", ".join(f"{b:g}" for b in res["base_rates"])
             + f"; ||Y − OCS||_F = {res['far']:.3f}"]
    for depth in DEPTHS:
        r = res[depth]
        lines.append(f"depth {depth}: largest |GD − exact| output gap {r['gap']:.2e} "
                     f"(method {r['exact']['all'].method})")
        for v in VARIANTS:
            t_star, d_star = r["closest"][v]
            lines.append(f"  {LABELS[v]:<24s} closest approach {d_star:.4f} at t = {t_star:.1f}")
        i = int(np.argmin(np.abs(r["t"] - r["closest"]["all"][0])))
        pos, neg = ocs.level_means(r["exact"]["all"], res["levels"])
        lines.append("  at that time, mean output per level on positives "
                     + ", ".join(f"{x:.3f}" for x in np.asarray(pos[i]))
                     + "; on negatives "
                     + ", ".join("-" if np.isnan(x) else f"{x:.3f}" for x in np.asarray(neg[i])))
    return "\n".join(lines)


def _plot_outputs(res, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(DEPTHS), 2, figsize=(10, 3.6 * len(DEPTHS)), sharex="row",
                             squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, LEVELS + 1))
    for row, depth in enumerate(DEPTHS):
        r = res[depth]
        pos, neg = (np.asarray(a) for a in ocs.level_means(r["exact"]["all"], res["levels"]))
        spos, sneg = (np.asarray(a) for a in ocs.level_means(r["sim"], res["levels"]))
        stride = max(len(r["t"]) // 30, 1)
        for col, (ex, si, name) in enumerate(((pos, spos, "positives"),
                                              (neg, sneg, "negatives"))):
            ax = axes[row, col]
            for k in range(LEVELS + 1):
                if np.all(np.isnan(ex[:, k])):
                    continue
                ax.plot(r["t"], ex[:, k], color=colors[k], label=f"level {k}")
                ax.plot(r["t"][::stride], si[::stride, k], "o", ms=3, mfc="none",
                        color=colors[k])
                ax.axhline(res["base_rates"][k], color=colors[k], ls="--", lw=0.8)
            ax.set_title(f"depth {depth}: mean output on {name}")
            ax.set_xlabel("flow time t")
            ax.set_ylim(-0.1, 1.1)
            ax.legend(fontsize=7, loc="center right")
    fig.suptitle("Outputs sit on the base rates (dashed, the OCS) before the items are learned; "
                 "lines exact, circles gradient descent", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_distance(res, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DEPTHS), figsize=(5.2 * len(DEPTHS), 3.8), squeeze=False)
    for col, depth in enumerate(DEPTHS):
        r, ax = res[depth], axes[0, col]
        for v in VARIANTS:
            d = np.asarray(ocs.ocs_distance(r["exact"][v]))
            ax.semilogy(r["t"], np.maximum(d, 1e-6), label=LABELS[v])
            t_star, d_star = r["closest"][v]
            ax.plot([t_star], [max(d_star, 1e-6)], "k.", ms=4)
        ax.axhline(res["far"], color="gray", ls=":", lw=0.8)
        ax.set_title(f"depth {depth}: distance of the outputs to the OCS")
        ax.set_xlabel("flow time t")
        ax.set_ylabel(r"$\|\hat Y(t) - \bar y 1^\top\|_F$")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_rates(res, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(DEPTHS), 2, figsize=(10, 3.4 * len(DEPTHS)), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, LEVELS + 1))
    for row, depth in enumerate(DEPTHS):
        r = res[depth]
        for ls, thr in zip(("-", "--"), THRESHOLDS):
            tp, tn = (np.asarray(a) for a in ocs.rates(r["exact"]["all"], thr, res["levels"]))
            for col, (rate, name) in enumerate(((tp, "true-positive"), (tn, "true-negative"))):
                ax = axes[row, col]
                for k in range(LEVELS + 1):
                    if not np.all(np.isnan(rate[:, k])):
                        ax.plot(r["t"], rate[:, k], ls, color=colors[k],
                                label=f"level {k}" if ls == "-" else None)
                ax.set_title(f"depth {depth}: {name} rate (threshold "
                             + " solid, ".join(f"{x:g}" for x in THRESHOLDS) + " dashed)",
                             fontsize=9)
                ax.set_xlabel("flow time t")
                ax.set_ylim(-0.05, 1.05)
        axes[row, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figures, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot_outputs(res, os.path.join(out_dir, "ocs_outputs.png")),
            _plot_distance(res, os.path.join(out_dir, "ocs_distance.png")),
            _plot_rates(res, os.path.join(out_dir, "ocs_rates.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
