"""Critical periods from the "large" initialisation (Kleinman, Achille & Soatto 2024, Fig. 1).

Reproduces Fig. 1 of

    Kleinman, Achille and Soatto, "Critical Learning Periods Emerge Even in Deep Linear
    Networks", ICLR 2024, arXiv:2308.12221 (docs/theory/pathways.md, section "The unbalanced
    ("large") initialisation"),

with the exact flow of `dln.pathways.solve(..., imbalance=1.0)` checked against gradient descent
(`dln.pathways.simulate`).

**The setting.** Two pathways a and b of depth D share a one-dimensional input and are summed at
the output; one mode, `s = 10`, `λ = 1` (`dln.Task.from_spectrum([10.0])`). The paper's "large"
initialisation (after Shi et al. 2022): in each pathway the first layer is a small `p` and the
other `D − 1` layers are `√(p² + c)`, `c = 1`, so that `K = p (p² + 1)^{(D−1)/2}`. Gradient flow
keeps `q² − p² = c`, so each pathway is the one scalar `p`, with

    dp/dt = (p² + 1)^{(D−1)/2} (s − K_a − K_b)      (plastic; frozen: dp/dt = 0).

100 initial conditions `p_a, p_b ~ N(0, 0.01²)` (seed 0). A deficit freezes pathway b
(`pathways.Freeze(1, onset, 0.015)`, Kleinman's `detach()`) early, on `[0, 0.015)`, or late, on
`[0.1, 0.115)` of flow time: the paper's steps `[0, 15)` and `[100, 115)` at step size 0.001,
whose 1000 steps are flow time 1. The statistic is the mean final `(K_a − K_b)/(K_a + K_b)` at
`t = 1` (without a deficit, whose mean is 0 by symmetry: the mean of its absolute value).

**How it is solved.** There is no closed form: the differences of
`ψ(p) = ∫ dp (p² + 1)^{−(D−1)/2}` are conserved while both pathways learn, but `ψ` has no usable
inverse. `dln.pathways.solve(..., imbalance=1.0)` therefore integrates each pathway's first-layer
value `p` per mode through the pieces of the deficit window (adaptive Dopri8, rtol 1e-12,
labelled `"reduced-integration"`, checked against scipy's DOP853 in
`tests/test_pathways_large_init.py`). The modes of a task are independent, so the script solves
all initial conditions at once as the modes of one task with `s = 10` repeated (one call per
depth and window, one compilation per depth). Gradient descent: one batched
`dln.pathways.simulate` call per depth over all initial conditions and the three windows, at the
paper's `lr = 0.001` for 1000 steps from the matching weights `dln.pathways.aligned(...,
imbalance=1.0)`.

**Figure, `kleinman2024_large_init.png`.**

- (a, b) Phase portraits in the `(K_a, K_b)` plane at depth 2 and depth 13: the flow without a
  deficit (streamlines of `dK/dt = dK/dp · dp/dt`, with `dK/dp = (p² + 1)^{(D−3)/2}(Dp² + 1)`,
  grey, speed as width), the target line `K_a + K_b = 10` (dotted), and the exact trajectories of
  6 initial conditions without a deficit (grey), with the early deficit (red) and with the late
  one (blue, dashed). The inset magnifies the start. At depth 2 the trajectories from small
  random inits end near the equal split and the early deficit tilts them a little; at depth 13
  the early deficit gives a nearly everything, and even without one small initial differences
  are amplified. The late deficit comes when the depth-13 network has all but learned the mode
  and lands on the undisturbed trajectory; at depth 2 learning is still under way at
  `t = 0.1`, so that deficit tilts the split too.
- (c) The statistic against depth for the early, late and no deficit: exact lines (100
  initial conditions), gradient descent circles.

**What the numbers say.** Depth amplifies the critical period: the early deficit's mean split
grows from +0.15 at depth 2 to +0.67 (D = 5), +0.84 (D = 8) and +0.92 (D = 13), while the late
deficit's falls from +0.10 to about 0 (−0.04 at D = 13): a late deficit is harmless, an early one
permanent. Without a deficit the mean absolute split also grows with depth (0.01 at D = 2, 0.25
at D = 13): deep networks decide their split from the start. Gradient descent at the paper's
step size is within 0.011 of the exact statistic with a deficit and within 0.021 without one
(depth 13), an O(lr) gap: it halves when the step size is halved.

Full mode: depths 2, 5, 8 and 13, 100 initial conditions, gradient descent at every depth.
`--quick`: depths 2 and 13, the first 20 initial conditions, gradient descent at depth 13
only. The script prints the table (depth × early, late, none; exact and gradient descent) and
the simulation-vs-exact gaps. Run it with

    python examples/kleinman2024_large_init.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import dln
from dln import pathways

S = 10.0  # the mode's singular value (λ = 1: target K_a + K_b = 10)
C = 1.0  # the imbalance q² − p² of the large init
STD = 0.01  # first-layer values p_a, p_b ~ N(0, STD²)
LR, STEPS = 1e-3, 1000  # the paper's step size and steps: flow time 1
HORIZON = LR * STEPS
WINDOWS = {"early": (0.0, 0.015), "late": (0.1, 0.015), "none": (0.0, 0.0)}
PHASE_DEPTHS = (2, 13)
N_TRAJ = 6  # initial conditions drawn in the phase portraits
_FULL = {"depths": (2, 5, 8, 13), "n": 100, "simulated": (2, 5, 8, 13)}
_QUICK = {"depths": (2, 13), "n": 20, "simulated": (13,)}


def _grid():
    """Record times: every 0.001 up to 0.2 (the learning), then every 0.01 up to 1."""
    return np.concatenate([np.linspace(0.0, 0.2, 201)[:-1], np.linspace(0.2, HORIZON, 81)])


def _split(K):
    """`(K_a − K_b)/(K_a + K_b)` of `(..., 2)` strengths."""
    return (K[..., 0] - K[..., 1]) / (K[..., 0] + K[..., 1])


def _statistic(split, name):
    return float(np.mean(np.abs(split) if name == "none" else split))


def _exact(depth, p, t):
    """Exact trajectories `{window: (T, n, 2)}`: the n initial conditions as the n modes of one
    task (the modes are independent), one `solve` per window (one compilation per depth)."""
    task = dln.Task.from_spectrum(np.full(len(p), S))
    out = {}
    for name, (onset, length) in WINDOWS.items():
        traj = pathways.solve(task, depth=depth, u0=(p[:, 0], p[:, 1]), t=t, imbalance=C,
                              deficit=pathways.Freeze(1, onset, length))
        assert traj.method == pathways.exact.REDUCED
        out[name] = np.moveaxis(np.asarray(traj.modes), 2, 1)  # (T, n, 2)
    return out


def _simulated(depth, p):
    """Final strengths `{window: (n, 2)}` of gradient descent: one batched `simulate` call over
    the initial conditions × windows, from `aligned(..., imbalance=C)` weights."""
    task = dln.Task.from_spectrum([S])
    n, m = len(p), len(WINDOWS)
    pa, pb = jnp.tile(p[:, 0], m), jnp.tile(p[:, 1], m)
    weights = jax.vmap(lambda a, b: pathways.aligned(task, depth, (a, b), imbalance=C))(pa, pb)
    onsets = jnp.repeat(jnp.array([w[0] for w in WINDOWS.values()]), n)
    lengths = jnp.repeat(jnp.array([w[1] for w in WINDOWS.values()]), n)
    sim = pathways.simulate(task, weights, lr=LR, steps=STEPS, every=STEPS,
                            deficit=pathways.Freeze(1, onsets, lengths))
    assert abs(float(np.asarray(sim.t).reshape(-1)[-1]) - HORIZON) < 1e-12
    final = np.asarray(sim.modes)[:, -1, :, 0].reshape(m, n, 2)
    return dict(zip(WINDOWS, final))


def compare(quick=False):
    cfg = _QUICK if quick else _FULL
    p = np.random.default_rng(0).normal(0.0, STD, size=(100, 2))[:cfg["n"]]
    t = _grid()
    out = {"t": t, "p": p, "depths": cfg["depths"], "exact": {}, "sim": {}, "phase": {},
           "gap": {}, "seconds": {}}
    for depth in sorted(set(cfg["depths"]) | set(PHASE_DEPTHS)):
        start = time.perf_counter()
        ex = _exact(depth, p, t)
        if depth in PHASE_DEPTHS:
            out["phase"][depth] = {k: v[:, :N_TRAJ] for k, v in ex.items()}
        if depth not in cfg["depths"]:
            continue
        exact_split = {k: _split(v[-1]) for k, v in ex.items()}
        out["exact"][depth] = {k: _statistic(v, k) for k, v in exact_split.items()}
        if depth in cfg["simulated"]:
            sim = _simulated(depth, p)
            sim_split = {k: _split(v) for k, v in sim.items()}
            out["sim"][depth] = {k: _statistic(v, k) for k, v in sim_split.items()}
            out["gap"][depth] = {
                "split": max(float(np.max(np.abs(sim_split[k] - exact_split[k])))
                             for k in WINDOWS),
                "strength": max(float(np.max(np.abs(sim[k] - ex[k][-1]))) for k in WINDOWS),
            }
        out["seconds"][depth] = time.perf_counter() - start
    return out


def summary(res) -> str:
    n = len(res["p"])
    lines = [f"one mode s = {S:g}, λ = 1, large init c = {C:g}, p_a, p_b ~ N(0, {STD:g}²), "
             f"{n} initial conditions; pathway b frozen early [0, 0.015) or late [0.1, 0.115); "
             f"statistic: mean (K_a − K_b)/(K_a + K_b) at t = {HORIZON:g} (none: mean |·|)",
             f"exact: dln.pathways.solve(imbalance={C:g}) (reduced integration of p); GD: "
             f"simulate at lr {LR:g}, {STEPS} steps",
             "depth |   early exact     GD |    late exact     GD |    none exact     GD | "
             "max |GD − exact|: split, K"]
    for d in res["depths"]:
        ex, sim, gap = res["exact"][d], res["sim"].get(d), res["gap"].get(d)
        cells = " | ".join(f"{ex[k]:+13.3f} " + (f"{sim[k]:+6.3f}" if sim else "     —")
                           for k in WINDOWS)
        gaps = f"{gap['split']:.1e}, {gap['strength']:.1e}" if gap else "(not simulated)"
        lines.append(f"{d:5d} | {cells} | {gaps}")
    stat_gap = max(abs(res["sim"][d][k] - res["exact"][d][k])
                   for d in res["sim"] for k in WINDOWS)
    lines.append(f"largest |GD − exact| of the statistic: {stat_gap:.1e} (O(lr): halves with lr)")
    lines.append("seconds per depth (exact + GD, with compilation): " + ", ".join(
        f"D = {d}: {s:.1f}" for d, s in res["seconds"].items()))
    return "\n".join(lines)


def _p_of_K(K, depth):
    """Invert the odd, increasing `K = p (p² + c)^{(D−1)/2}` by Newton from above (convex)."""
    k = np.abs(K)
    p = k / np.sqrt(C) ** (depth - 1)  # K(p) >= K here: Newton descends monotonically
    for _ in range(200):
        r = (p * p + C) ** ((depth - 1) / 2)
        slope = (p * p + C) ** ((depth - 3) / 2) * (depth * p * p + C)
        p = p - (p * r - k) / slope
    return np.sign(K) * p


def _field(Ka, Kb, depth):
    """`(dK_a/dt, dK_b/dt)` of the flow without a deficit, from the p-dynamics."""
    error = S - Ka - Kb
    out = []
    for K in (Ka, Kb):
        p = _p_of_K(K, depth)
        dp = (p * p + C) ** ((depth - 1) / 2) * error
        out.append((p * p + C) ** ((depth - 3) / 2) * (depth * p * p + C) * dp)
    return out


def _plot(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colors = {"none": "0.6", "early": "tab:red", "late": "tab:blue"}
    styles = {"none": "-", "early": "-", "late": "--"}
    windows = {"none": "no deficit", "early": "early deficit on b, t ∈ [0, 0.015)",
               "late": "late deficit on b, t ∈ [0.1, 0.115)"}
    fig = plt.figure(figsize=(10, 9.2))
    grid = fig.add_gridspec(3, 2, height_ratios=(1.25, 0.3, 1.0))  # row 1: the legend
    lim = (-0.3, 10.8)
    legend_kw = {"fontsize": 8, "framealpha": 0.9}
    for col, depth in enumerate(PHASE_DEPTHS):
        ax = fig.add_subplot(grid[0, col])
        ka, kb = np.meshgrid(np.linspace(*lim, 60), np.linspace(*lim, 60))
        u, v = _field(ka, kb, depth)
        speed = np.hypot(u, v)
        ax.streamplot(ka, kb, u, v, density=0.7, color="0.8", arrowsize=0.7,
                      linewidth=0.3 + 0.9 * np.log1p(speed) / np.log1p(speed).max())
        xs = np.linspace(0.0, S, 2)
        ax.plot(xs, S - xs, ":", color="k", lw=0.9)
        inset = ax.inset_axes([0.56, 0.56, 0.42, 0.42])
        for name in ("none", "early", "late"):
            K = res["phase"][depth][name]
            for j in range(K.shape[1]):
                for a in (ax, inset):
                    a.plot(K[:, j, 0], K[:, j, 1], styles[name], color=colors[name],
                           lw=2.6 if name == "none" else 1.0)
                ax.plot(K[-1, j, 0], K[-1, j, 1], "o", ms=3, color=colors[name])
        inset.set_xlim(-0.05, 0.6)
        inset.set_ylim(-0.05, 0.6)
        inset.tick_params(labelsize=7)
        inset.text(0.04, 0.96, "inset: the start", transform=inset.transAxes, fontsize=7,
                   va="top")
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal")
        ax.set_xlabel("$K_a$: the mode's strength in pathway a", fontsize=9)
        ax.set_ylabel("$K_b$: the mode's strength in pathway b", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_title(f"({'ab'[col]}) depth {depth}: the flow and {N_TRAJ} exact trajectories",
                     fontsize=10)
        if col == 0:
            handles = [
                Line2D([], [], ls=styles[k], color=colors[k], lw=2.6 if k == "none" else 1.0,
                       label=windows[k] + ("\n(dashed: on top of no deficit\nwhere they agree)"
                                           if k == "late" else ""))
                for k in ("none", "early", "late")] + [
                Line2D([], [], ls="none", marker="o", ms=3, color="0.3",
                       label=f"state at t = {HORIZON:g}"),
                Line2D([], [], ls=":", color="k", lw=0.9, label=f"$K_a + K_b = {S:g}$ "
                                                                "(learned)"),
                Line2D([], [], color="0.8", lw=1.2, label="streamlines, no deficit\n"
                                                          "(width: speed)")]
    ax = fig.add_subplot(grid[2, :])
    depths = res["depths"]
    labels = {"early": "early [0, 0.015)", "late": "late [0.1, 0.115)",
              "none": "none: mean $|\\cdot|$"}
    for name in WINDOWS:
        ax.plot(depths, [res["exact"][d][name] for d in depths], styles[name], marker=".",
                color=colors[name], label=f"{labels[name]}, exact")
        sims = sorted(res["sim"])
        ax.plot(sims, [res["sim"][d][name] for d in sims], "o", mfc="none", ms=7,
                color=colors[name])
    ax.plot([], [], "o", mfc="none", ms=7, color="0.3", label=f"gradient descent (lr {LR:g})")
    ax.axhline(0.0, color="k", lw=0.4)
    ax.set_xticks(depths)
    ax.set_xlabel("depth D (layers per pathway)", fontsize=9)
    ax.set_ylabel("mean final $(K_a-K_b)/(K_a+K_b)$", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_ylim(-0.15, 1.0)
    ax.set_title(f"(c) {len(res['p'])} inits $p \\sim N(0, {STD:g}^2)$, read at flow time "
                 f"t = lr × steps = {HORIZON:g}: lines exact, circles gradient descent",
                 fontsize=10)
    ax.legend(title="deficit on b (flow time)", title_fontsize=8, loc="center right",
              bbox_to_anchor=(1.0, 0.57), **legend_kw)
    fig.suptitle("Kleinman et al. 2024, Fig. 1: large init ($c = 1$), one mode $s = 10$; "
                 "depth makes an early deficit permanent", fontsize=11)
    fig.tight_layout()
    box = grid[1, :].get_position(fig)  # the empty row between the portraits and (c)
    fig.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, (box.y0 + box.y1) / 2),
               ncol=3, title="(a, b)", title_fontsize=8, **legend_kw)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figure, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "kleinman2024_large_init.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
