"""Stage-like learning of a hierarchy, and learning time against depth (Saxe et al. 2014).

Reproduces the two central pictures of

    A. M. Saxe, J. L. McClelland and S. Ganguli, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120,

with the exact solutions of `dln.solve` checked against gradient descent from `dln.simulate`.

**The task.** Eight items are the leaves of a binary tree of depth 3, and there is one feature per
tree node (15 features): an item has a feature when it descends from that node, so the root's
feature is shared by all items, the next two split them in halves, and so on down to one feature
per item (Saxe, McClelland & Ganguli 2019, PNAS; docs/theory/semantic.md). Items are one-hot
inputs scaled to `X = √8 · I`, so that `Σxx = XᵀX/P = I` (whitened). The modes of `Σyx` are Haar
wavelets on the tree: one mode for "is an item" (the root), one for the left/right split, two for
the splits below, four for the leaves. Their singular values are `√(2^{4−l} − 1)/√8` for tree level
`l`: 1.37, 0.94, 0.61 (twice) and 0.35 (four times).

**Figure 1, `saxe2014_modes.png`** (one panel per depth `D`, the number of weight matrices): the
strength `u_α(t) = U[:,α]ᵀ W(t) V[:,α]` of each mode in the network map, against flow time
`t = lr × steps`. Solid lines are the exact solution of `du/dt = D u^{2−2/D}(s − u)` (`dln.solve`);
circles are gradient descent on the full weight matrices from the small, balanced, aligned
initialisation that the solution assumes (`dln.init.aligned`, `u0 = 10⁻³`); the dashed lines are
gradient descent from small *random Gaussian* weights (hidden width 16), which are neither
balanced nor aligned. Look for:

- a plateau then a sigmoidal rise for every mode: learning comes in stages;
- the order of the stages follows the singular values, so broad distinctions (the root, the
  first split) are learned before fine ones (the leaves): progressive differentiation;
- circles on the lines: the exact solution is gradient descent up to an error of order `lr`;
- the random initialisation goes through the same stages in the same order, but on its own
  schedule: its modes start at random sizes and must first align with the task, and modes with
  equal singular values can then be learned at different times (visible as a two-step rise of
  their mean);
- deeper networks wait longer on the plateau and then rise more sharply.

Modes with equal singular values are drawn as one curve (their mean strength, which does not
depend on the choice of basis inside the degenerate group).

**Figure 2, `saxe2014_depth.png`**: the learning time of the strongest mode (flow time until it
reaches 90% of its target) against depth, when every layer starts with strength `a0`, i.e.
`u0 = a0^D`. Left: the exact flow time (the closed form behind `traj.time_to(0.9)`). Right: the
same time in gradient-descent iterations at a stable learning rate
`lr_D = dln.lr_bound(task, D)/4`, which falls like `1/D` (line: exact flow time / `lr_D`;
circles: iterations counted in `dln.simulate` at that `lr_D`). The dotted lines are the
small-init escape-time estimate `a0^{−(D−2)}/(s(D−2))` (docs/theory/modes.md). Look for:

- small per-layer init (`a0 < 1`): the learning time grows exponentially with depth;
- per-layer init `a0 = 1` (as with scaled orthogonal weights): the flow time falls like `1/D`,
  so in iterations at the stable learning rate the learning time does not depend on depth: the
  paper's "depth-independent learning times". (Learning then takes two or three steps, too few
  for gradient descent to follow the flow closely, so its circles sit a little below the line.)

The script prints, for each depth, the largest gap between simulation and theory over all modes
and records, with the learning rate used, and the learning times. Run it with

    python examples/saxe2014_modes.py [--out DIR] [--quick]
"""

from __future__ import annotations

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

import dln

# The settings of both figures; `quick` trades resolution and depths for speed (for tests).
_FULL = {"mode_depths": (2, 3, 4), "lr": 0.01, "records": 300,
         "scan_depths": tuple(range(1, 9)), "a0s": (0.3, 0.5, 1.0), "simulate_at": None}
_QUICK = {"mode_depths": (2, 3), "lr": 0.02, "records": 120,
          "scan_depths": tuple(range(1, 7)), "a0s": (0.3, 1.0), "simulate_at": (2, 5)}
U0 = 1e-3  # initial strength of every mode in Figure 1 (the map is U0 · U Vᵀ)
RANDOM_WIDTH = 16  # hidden width of the randomly initialised networks
FRACTION = 0.9  # "learned" = 90% of the target strength


def hierarchical_task(levels: int = 3) -> dln.Task:
    """Items on the leaves of a binary tree of depth `levels`, one feature per tree node.

    `P = 2^levels` items with whitened one-hot inputs `X = √P · I` (so `Σxx = I`) and
    `2^{levels+1} − 1` binary features, nodes in breadth-first order (root first): item `i` has
    the feature of node `(l, k)` (the k-th node of level l) when it descends from it.
    """
    P = 2**levels
    Y = np.zeros((P, 2 ** (levels + 1) - 1))
    column = 0
    for level in range(levels + 1):
        size = P >> level  # items under one node of this level
        for k in range(2**level):
            Y[k * size:(k + 1) * size, column] = 1.0
            column += 1
    return dln.Task.from_data(math.sqrt(P) * np.eye(P), Y)


def _groups(s, rtol=1e-8):
    """Indices of the modes in each group of equal singular values, strongest group first."""
    s = np.asarray(s)
    groups, start = [], 0
    for i in range(1, len(s) + 1):
        if i == len(s) or abs(s[i] - s[start]) > rtol * s[0]:
            groups.append(np.arange(start, i))
            start = i
    return groups


def _steps(t_end, lr, records):
    """`(steps, every)` reaching at least flow time `t_end` at learning rate `lr` in exactly
    `records` records. (Always the same number of records: then the eager JAX operations on the
    records reuse their compiled code from one run to the next.)"""
    every = max(1, math.ceil(t_end / lr / records))
    return every * records, every


# These problems are tiny, so compiling, not computing, dominates the run time. dln's functions
# are pure, so each is compiled once as a whole with jax.jit rather than operation by operation.
_solve = jax.jit(dln.solve, static_argnames="depth")


@functools.partial(jax.jit, static_argnums=(3,))
def _times_to(s, lam, u0, depths, fraction):
    """Exact flow time for modes `(s, lam)` to reach `fraction` of their targets from `u0[i]` at
    depth `depths[i]` (`dln.modes.time_to_fraction`, the closed form behind
    `Trajectory.time_to`), for all depths at once: shape `(len(depths),) + broadcast shape`."""
    return jnp.stack([dln.modes.time_to_fraction(fraction, s, lam, u0[i], D)
                      for i, D in enumerate(depths)])


def mode_runs(task: dln.Task, depths, lr: float, records: int, key=None):
    """Exact and simulated mode strengths for each depth (Figure 1).

    Returns one dict per depth with the learning rate `lr`, the record times `t`, the exact
    modes there (`exact`, `(T, K)`), the simulated modes from aligned (`aligned`) and random
    Gaussian (`random`) init, and `error`: the largest |simulation − theory| over all modes and
    records of the aligned run.
    """
    key = jax.random.key(0) if key is None else key
    # Each depth runs until its weakest mode is within 1% of its target, plus a margin.
    slowest = np.max(_times_to(task.s, task.input_variance, jnp.full(len(depths), U0),
                               tuple(depths), 0.99), axis=1)
    runs = []
    for depth, t_end, k in zip(depths, slowest, jax.random.split(key, len(depths))):
        bound = dln.lr_bound(task, depth)
        if lr > bound / 10:
            raise ValueError(f"`lr` = {lr} is not well inside the stable range at depth {depth} "
                             f"(dln.lr_bound = {bound:.3g}); use lr <= {bound / 10:.3g}.")
        steps, every = _steps(1.15 * t_end, lr, records)
        # Both initialisations in one batched run (same hidden width): the aligned, balanced
        # init that the exact solution assumes, and random Gaussian weights whose map has modes
        # of typical size U0 (entries of size sigma give a map of size sigma^D width^{(D−1)/2}).
        sigma = (U0 / RANDOM_WIDTH ** ((depth - 1) / 2)) ** (1.0 / depth)
        dims = [task.n_in] + [RANDOM_WIDTH] * (depth - 1) + [task.n_out]
        inits = zip(dln.init.aligned(task, depth, width=RANDOM_WIDTH, u0=U0),
                    dln.init.gaussian(k, dims, sigma))
        sim = dln.simulate(task, [jnp.stack(pair) for pair in inits], lr=lr, steps=steps,
                           every=every)
        t = sim.t[0]
        exact = np.asarray(_solve(task, depth=depth, u0=U0, t=t).modes)
        aligned, random = np.asarray(sim.modes[0]), np.asarray(sim.modes[1])
        runs.append({"depth": depth, "lr": lr, "steps": steps, "t": np.asarray(t),
                     "exact": exact, "aligned": aligned, "random": random,
                     "error": float(np.max(np.abs(aligned - exact)))})
    return runs


def depth_scan(task: dln.Task, depths, a0s, fraction: float = FRACTION, simulate_at=None):
    """Learning time of the strongest mode against depth for per-layer init strengths `a0s`.

    For each `a0` and depth `D` (init `u0 = a0^D`): `flow` the exact flow time to reach
    `fraction` of the target, `lr` the stable learning rate `dln.lr_bound(task, D)/4`,
    `iterations` = `flow / lr`, and `simulated` the iterations that gradient descent at that
    `lr` takes (`dln.simulate`, every step recorded, interpolated at the crossing; only at the
    depths in `simulate_at`, default all, NaN elsewhere). Arrays of shape
    `(len(a0s), len(depths))`.
    """
    a0s = np.asarray(a0s, dtype=float)
    D = np.asarray(depths)
    flow = np.asarray(_times_to(task.s[0], task.input_variance[0], a0s[None, :] ** D[:, None],
                                tuple(depths), fraction)).T
    lrs = np.array([dln.lr_bound(task, d) / 4 for d in depths])
    iterations = flow / lrs
    # One run per depth, batched over a0, every step recorded; all runs have the same length
    # (enough for the slowest) so that they share compiled code for everything but the steps.
    steps = math.ceil(1.25 * iterations.max())  # (a few thousand at most for D <= 8)
    simulated = np.full_like(flow, np.nan)
    for j, depth in enumerate(depths):
        if simulate_at is not None and depth not in simulate_at:
            continue
        inits = [dln.init.aligned(task, depth, u0=a0**depth) for a0 in a0s]
        sim = dln.simulate(task, [jnp.stack(layer) for layer in zip(*inits)], lr=lrs[j],
                           steps=steps)
        simulated[:, j] = np.asarray(sim.time_to(fraction)[:, 0]) / lrs[j]
    return {"depths": D, "a0s": a0s, "fraction": fraction, "s": float(task.s[0]), "flow": flow,
            "lr": lrs, "iterations": iterations, "simulated": simulated}


def compare(quick: bool = True):
    """The numbers behind both figures: `(task, mode_runs(...), depth_scan(...))`."""
    cfg = _QUICK if quick else _FULL
    task = hierarchical_task(3)
    runs = mode_runs(task, cfg["mode_depths"], cfg["lr"], cfg["records"])
    scan = depth_scan(task, cfg["scan_depths"], cfg["a0s"], simulate_at=cfg["simulate_at"])
    return task, runs, scan


# ------------------------------------------------------------------------------------ plots
def _plot_modes(task, runs, path):
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend needed

    groups = _groups(task.s)
    s = np.asarray(task.s)
    fig = Figure(figsize=(max(4.8 * len(runs), 10.0), 4.6), layout="constrained")
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, run in zip(axes, runs):
        t = run["t"]
        mark = slice(None, None, max(1, len(t) // 60))  # about 60 markers per curve
        for n, g in enumerate(groups):
            c = f"C{n}"
            ax.plot(t, run["exact"][:, g].mean(axis=1), color=c, lw=1.8)
            ax.plot(t[mark], run["aligned"][mark][:, g].mean(axis=1), "o", color=c, ms=3.5,
                    mfc="none", mew=0.9)
            ax.plot(t, run["random"][:, g].mean(axis=1), "--", color=c, lw=1.1)
            label = rf"$s = {s[g[0]]:.2f}$" + (f" (×{len(g)})" if len(g) > 1 else "")
            ax.annotate(label, (t[-1], s[g[0]]), xytext=(-4, 3), textcoords="offset points",
                        ha="right", va="bottom", color=c, fontsize=9)
        ax.set_title(f"depth D = {run['depth']}   (lr = {run['lr']:g}, $u_0$ = {U0:g})",
                     fontsize=10)
        ax.set_xlabel(r"flow time $t$ = lr × steps")
        ax.set_xlim(0, t[-1])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"mode strength $u_\alpha(t) = U_\alpha^\top W(t)\, V_\alpha$")
    axes[0].set_ylim(-0.05, 1.12 * s[0])
    handles = [axes[0].plot([], [], "-", color="k", lw=1.8)[0],
               axes[0].plot([], [], "o", color="k", mfc="none", ms=4)[0],
               axes[0].plot([], [], "--", color="k", lw=1.1)[0]]
    fig.legend(handles, ["exact solution (dln.solve)", "gradient descent, aligned init",
                         f"gradient descent, random Gaussian init (width {RANDOM_WIDTH})"],
               loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("Saxe et al. 2014: the modes of a hierarchical task (8 items, 15 tree "
                 "features) are learned in stages, strongest first", fontsize=11)
    fig.savefig(path, dpi=110)
    return path


def _plot_depth(scan, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax_t, ax_n = fig.subplots(1, 2)
    D = scan["depths"]
    deep = D >= 3  # where the escape-time estimate applies
    for i, a0 in enumerate(scan["a0s"]):
        c = f"C{i}"
        ax_t.plot(D, scan["flow"][i], "-", color=c, lw=1.8, label=f"$a_0$ = {a0:g}")
        ax_n.plot(D, scan["iterations"][i], "-", color=c, lw=1.8)
        ax_n.plot(D, scan["simulated"][i], "o", color=c, mfc="none", ms=6)
        if a0 < 1:  # the escape-time estimate is for small init
            estimate = a0 ** (-(D[deep] - 2.0)) / (scan["s"] * (D[deep] - 2.0))
            ax_t.plot(D[deep], estimate, ":", color=c, lw=1.3)
            ax_n.plot(D[deep], estimate / scan["lr"][deep], ":", color=c, lw=1.3)
    pct = f"{100 * scan['fraction']:.0f}%"
    ax_t.set_title(f"flow time for the strongest mode ($s$ = {scan['s']:.2f}) to reach {pct}",
                   fontsize=10)
    ax_t.set_ylabel("learning time (flow time $t$)")
    ax_t.legend(title=r"per-layer init, $u_0 = a_0^D$", fontsize=9, title_fontsize=9)
    ax_n.set_title(r"the same in iterations at the stable rate $\mathrm{lr}_D$ = "
                   r"lr_bound$(D)/4 \propto 1/D$", fontsize=10)
    ax_n.set_ylabel("learning time (gradient-descent iterations)")
    styles = [ax_n.plot([], [], "-", color="k", lw=1.8)[0],
              ax_n.plot([], [], "o", color="k", mfc="none")[0],
              ax_n.plot([], [], ":", color="k", lw=1.3)[0]]
    ax_n.legend(styles, [r"exact flow time / $\mathrm{lr}_D$", "gradient descent (counted)",
                         r"small-init estimate $a_0^{-(D-2)} / (s\,(D-2))$"], fontsize=9)
    for ax in (ax_t, ax_n):
        ax.set_yscale("log")
        ax.set_xlabel("depth D (number of weight matrices)")
        ax.set_xticks(D)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("Saxe et al. 2014: small per-layer init slows learning exponentially with "
                 "depth; with $a_0$ = 1 the number of iterations does not depend on depth",
                 fontsize=11)
    fig.savefig(path, dpi=110)
    return path


def summary(runs, scan) -> str:
    """The printed report: simulation-vs-theory errors and the learning times."""
    lines = [f"Figure 1: gradient descent from aligned init (u0 = {U0:g}) vs dln.solve"]
    for run in runs:
        lines.append(f"  D = {run['depth']}:  lr = {run['lr']:g}, {run['steps']} steps, "
                     f"max |simulation − theory| = {run['error']:.2e} "
                     f"over {run['exact'].shape[1]} modes × {len(run['t'])} records")
    lines.append(f"Figure 2: iterations until the strongest mode reaches "
                 f"{100 * scan['fraction']:.0f}% of its target at lr_D = lr_bound/4")
    lines.append("  (exact flow time / lr_D | gradient descent; '-' where not simulated)")
    lines.append("  D    lr_D   " + "".join(f"a0 = {a0:g}".rjust(22) for a0 in scan["a0s"]))
    for j, depth in enumerate(scan["depths"]):
        cells = []
        for i in range(len(scan["a0s"])):
            sim = scan["simulated"][i, j]
            cells.append(f"{scan['iterations'][i, j]:>12.4g} | "
                         + ("-" if np.isnan(sim) else f"{sim:.4g}").ljust(7))
        lines.append(f"  {depth:<3d} {scan['lr'][j]:.4f} " + "".join(cells))
    return "\n".join(lines)


def main(out_dir="out", quick=False):
    """Compute both figures, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    task, runs, scan = compare(quick)
    print(summary(runs, scan))
    return [_plot_modes(task, runs, os.path.join(out_dir, "saxe2014_modes.png")),
            _plot_depth(scan, os.path.join(out_dir, "saxe2014_depth.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
