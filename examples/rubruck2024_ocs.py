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

**Figures.** Time axes are flow time `t = lr × steps`, linear up to 1/25 of the horizon and
logarithmic beyond, so that the early OCS phase and the late learning of the items both show.

- `ocs_outputs.png`: the mean output per level on positive items (the feature is on) and on
  negative items (off), against time, for depth 2 (top) and 3 (bottom). Lines: exact; circles:
  gradient descent. Dashed: the base rates. Early on, positives and negatives alike sit on the
  base rates — the network answers with the OCS, ignoring the item — and only later split
  towards 1 and 0, coarse levels first.
- `ocs_distance.png`: the distance `||Ŷ(t) − ȳ1ᵀ||_F` of the outputs on all items to the OCS,
  for biases in all layers, in the output layer only, in the hidden layers only, no biases with
  one-hot items, and no biases with a shared input offset (`x = e_μ + 0.5·1`,
  `dln.datasets.offset_hierarchy`); lines exact, circles gradient descent with biases in all
  layers, dots the closest approach of each variant (printed), the dotted line the distance of
  the targets themselves from the OCS (where every curve ends). Biases in all layers and an
  output bias give nearly the same curve (drawn dashed on a wide line); after its closest
  approach every variant follows one curve, as the other modes (the same in every variant) are
  learned. With an output bias or a shared input component the network passes within a hair of
  the OCS; one-hot items without biases never get close at depth 2 (docs/theory/biases.md: the
  uniform mode is then only the first of several similar modes).
- `ocs_rates.png`: true-positive and true-negative rates per level over time with biases,
  outputs thresholded at 0.5 (left pair of columns) and 0.2 (right pair); levels that share a
  rate are drawn slightly apart (shifted by 0.018 per level, the legend says so). At 0.5,
  during the OCS phase the fine levels (base rates 0.25, 0.125) are rejected for every item:
  TN = 1 and TP = 0 until the items are learned, coarse levels first (level 1 sits on the
  threshold, 0.5, and flips early). At 0.2 the base rate 0.25 of level 2 is above the
  threshold, so during the OCS phase every negative item is accepted (TN = 0) and TN recovers
  only as the items are learned; the finest level's TN dips while the twigs are learned. The TN
  dynamics, the hallmark the paper finds in humans, depend on the threshold
  (docs/theory/biases.md recommends reporting several).

With an output bias the OCS is reached within a few time units at depth 2 and 3. Without biases
and one-hot items the outcome depends on depth: at depth 2 the modes rise close together and the
outputs never come near the OCS, while at depth 3 (from `u0 = 1e-4`) the uniform mode, the
strongest, is learned so far ahead of the others that the outputs pass close to the OCS anyway.

The script prints the closest approach to the OCS for each variant and depth, the outputs per
level at that moment, and the largest gap between gradient descent and the exact solution.
`--quick` runs depth 3 only (each depth and bias pattern compiles its own integrator, most of
the run time), with a larger step and fewer records. Run it with

    python examples/rubruck2024_ocs.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os
import textwrap

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
# Quick mode: depth 3 only (each depth and bias pattern compiles its own integrator, which is
# most of the run time), a larger step and fewer records.
_FULL = {"lr": 0.02, "records": 400, "depths": DEPTHS}
_QUICK = {"lr": 0.1, "records": 120, "depths": (3,)}
LEVEL_NAMES = ("root", "branches", "twigs", "leaves")  # the nodes of each level of the tree


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

    Returns a dict with `levels` (each feature's level), `base_rates` (per level), `depths`
    (2 and 3; 3 only when `quick`), `lr` and, per depth,
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
    out = {"levels": levels, "base_rates": base, "task": task, "depths": cfg["depths"],
           "lr": cfg["lr"], "far": float(np.linalg.norm(task.Y - task.y_mean))}
    for depth in cfg["depths"]:
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
    for depth in res["depths"]:
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


def _panel_label(i):
    return f"({'abcdefghijklmnop'[i]})"


def _time_axis(ax, t, fontsize=10):
    """Flow time linear up to t_max / 25 and logarithmic beyond, so that the early OCS phase
    and the late learning of the items both show."""
    import matplotlib.pyplot as plt

    linear = float(t[-1]) / 25
    ax.set_xscale("symlog", linthresh=linear, linscale=0.8)
    ax.set_xlim(0, float(t[-1]))
    ticks = [0] + [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
                   if linear / 2 <= v <= t[-1]]
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel(f"flow time t = lr × steps (linear to {linear:.3g}, then log)",
                  fontsize=fontsize)


def _marks(t, n):
    """About `n` record indices spread evenly along `_time_axis` (for the simulation markers)."""
    t = np.asarray(t)
    linear = float(t[-1]) / 25
    adj = 0.8 / (1 - 1 / 10)  # matplotlib's symlog: the linear part is linscale / (1 − 1/base)
    x = np.where(t <= linear, t / linear * adj,
                 adj + np.log10(np.maximum(t, linear) / linear))
    idx = np.searchsorted(x, np.linspace(0, x[-1], n))
    return np.unique(np.minimum(idx, len(t) - 1))


def _level_label(res, k):
    return f"level {k}: {LEVEL_NAMES[k]}, base rate {res['base_rates'][k]:g}"


def _plot_outputs(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    depths = res["depths"]
    legend_in = 0.65  # inches below the panels for the figure legend
    height = 3.8 * len(depths) + 0.4 + legend_in
    fig, axes = plt.subplots(len(depths), 2, figsize=(11, height), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, LEVELS + 1))
    for row, depth in enumerate(depths):
        r = res[depth]
        pos, neg = (np.asarray(a) for a in ocs.level_means(r["exact"]["all"], res["levels"]))
        spos, sneg = (np.asarray(a) for a in ocs.level_means(r["sim"], res["levels"]))
        marks = _marks(r["t"], 30)
        for col, (ex, si, name) in enumerate(((pos, spos, "positive"),
                                              (neg, sneg, "negative"))):
            ax = axes[row, col]
            for k in range(LEVELS + 1):
                if np.all(np.isnan(ex[:, k])):
                    continue  # the root has no negative items
                ax.plot(r["t"], ex[:, k], color=colors[k], lw=1.6)
                ax.plot(r["t"][marks], si[marks, k], "o", ms=3.5, mfc="none", color=colors[k])
                ax.axhline(res["base_rates"][k], color=colors[k], ls="--", lw=0.9)
            feature = "on" if name == "positive" else "off"
            ax.set_title(f"{_panel_label(2 * row + col)} depth {depth}: mean output on "
                         f"{name} items (feature {feature})", fontsize=10)
            _time_axis(ax, r["t"])
            ax.set_ylabel(f"mean output ŷ, {name} items")
            ax.set_ylim(-0.1, 1.1)
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colors[k], lw=2) for k in range(LEVELS + 1)]
    labels = [_level_label(res, k) + (" (no negative items)" if k == 0 else "")
              for k in range(LEVELS + 1)]
    handles += [Line2D([], [], color="k", lw=1.6),
                Line2D([], [], color="k", ls="", marker="o", ms=4, mfc="none"),
                Line2D([], [], color="k", ls="--", lw=0.9)]
    labels += ["exact (dln.solve, biases in all layers)",
               f"gradient descent (lr = {res['lr']:g})", "base rate (the OCS)"]
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Outputs sit on the base rates (the OCS) before the items are learned, then "
                 "split towards 1 (positives) and 0 (negatives), coarse levels first",
                 fontsize=10.5)
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# Line styles of the variants: where two curves coincide, the one drawn later (on top) is
# dashed or dotted so that the one underneath shows.
_STYLES = {"all": dict(color="C0", lw=3.6, alpha=0.55, zorder=2),
           "output": dict(color="C1", lw=1.6, ls=(0, (5, 3)), zorder=4),
           "hidden": dict(color="C2", lw=1.6, zorder=3),
           "none": dict(color="C3", lw=1.6, zorder=3),
           "offset": dict(color="C4", lw=1.8, ls=(0, (1, 1.5)), zorder=5)}


def _plot_distance(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    depths = res["depths"]
    legend_in = 0.8  # inches below the panels for the figure legend
    height = 4.4 + legend_in
    fig, axes = plt.subplots(1, len(depths), figsize=(max(6.2 * len(depths), 8.0), height),
                             squeeze=False)
    for col, depth in enumerate(depths):
        r, ax = res[depth], axes[0, col]
        for v in VARIANTS:
            d = np.asarray(ocs.ocs_distance(r["exact"][v]))
            ax.semilogy(r["t"], np.maximum(d, 1e-6), **_STYLES[v])
            t_star, d_star = r["closest"][v]
            ax.plot([t_star], [max(d_star, 1e-6)], "o", color="k", ms=3.5, zorder=6)
        d_sim = np.asarray(ocs.ocs_distance(r["sim"]))
        marks = _marks(r["t"], 45)
        ax.plot(r["t"][marks], np.maximum(d_sim[marks], 1e-6), "o", color="C0", ms=4,
                mfc="none", zorder=6)
        ax.axhline(res["far"], color="gray", ls=":", lw=1.0)
        ax.set_title(f"{_panel_label(col)} depth {depth}: distance of the outputs to the OCS",
                     fontsize=10)
        _time_axis(ax, r["t"])
        ax.set_ylabel(r"distance to the OCS  $\|\hat Y(t) - \bar y 1^\top\|_F$")
        ax.grid(alpha=0.3, which="major")
    handles = [Line2D([], [], **{k: v for k, v in _STYLES[v].items() if k != "zorder"})
               for v in VARIANTS]
    labels = [f"{LABELS[v]}, exact" for v in VARIANTS]
    handles += [Line2D([], [], color="C0", ls="", marker="o", ms=4, mfc="none"),
                Line2D([], [], color="k", ls="", marker="o", ms=3.5),
                Line2D([], [], color="gray", ls=":", lw=1.0)]
    labels += [f"gradient descent, biases in all layers (lr = {res['lr']:g})",
               "closest approach (printed)",
               r"$\|Y - \bar y 1^\top\|_F$: the targets' distance to the OCS"]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    note = ("Lines exact, circles gradient descent. Biases in all layers and an output bias "
            "nearly coincide (dashed on the wide line); after its closest approach every "
            "variant follows one curve as the items are learned.")
    fig.suptitle(textwrap.fill(note, int(fig.get_figwidth() * 14)), fontsize=9.5)
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# Levels that share a rate (all at 1, or all at 0) would hide one another: each level is drawn
# shifted up by `_SHIFT` × (k − 1.5), and the legend says so.
_SHIFT = 0.018


def _plot_rates(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    depths = res["depths"]
    legend_in = 0.6  # inches below the panels for the figure legend
    height = 3.2 * len(depths) + legend_in
    fig, axes = plt.subplots(len(depths), 2 * len(THRESHOLDS), sharey=True, squeeze=False,
                             figsize=(14, height))
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, LEVELS + 1))
    i = 0
    for row, depth in enumerate(depths):
        r = res[depth]
        t = r["t"]
        for j, thr in enumerate(THRESHOLDS):
            tp, tn = (np.asarray(a) for a in ocs.rates(r["exact"]["all"], thr, res["levels"]))
            for c, (rate, name) in enumerate(((tp, "true-positive"), (tn, "true-negative"))):
                ax = axes[row, 2 * j + c]
                for k in range(LEVELS + 1):
                    if not np.all(np.isnan(rate[:, k])):
                        ax.plot(t, rate[:, k] + _SHIFT * (k - 1.5), color=colors[k], lw=1.6,
                                drawstyle="steps-post")
                _time_axis(ax, t, fontsize=9)
                ax.set_title(f"{_panel_label(i)} depth {depth}: {name} rate, threshold {thr:g}",
                             fontsize=9)
                i += 1
                ax.set_ylabel("rate (fraction of items)" if 2 * j + c == 0 else "")
                ax.set_ylim(-0.08, 1.08)
                ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colors[k], lw=1.6) for k in range(LEVELS + 1)]
    labels = [_level_label(res, k) + (" (no negative items)" if k == 0 else "")
              for k in range(LEVELS + 1)]
    fig.legend(handles, labels, loc="lower center", ncol=LEVELS + 1, fontsize=8.5,
               title="exact outputs (dln.solve, biases in all layers), thresholded; each level "
                     f"is shifted up by {_SHIFT:g} × (k − 1.5) so that equal rates show side "
                     "by side", title_fontsize=8.5)
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
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
