"""A whole-network critical period under finite plasticity: early blur, late blur, flip (Achille,
Rovere & Soatto 2019), in one deep linear network with weight decay.

Tests, in an exactly solvable setting, the whole-network claim of

    Achille, Rovere and Soatto, "Critical Learning Periods in Deep Networks", ICLR 2019,
    arXiv:1711.08856 (docs/theory/finite_plasticity.md),

trained as they train (weight decay, a learning rate annealed to a finite total): a blur early in
training leaves a lasting loss of performance on the clean task, larger in deeper networks; the
same blur late in training leaves none; and an early flip, which keeps the input statistics,
leaves none either. The first two hold here; **the third does not** (below).

**Setting.** The 8-item hierarchy (`dln.datasets.hierarchy(3)`, one-hot items, `λ = 1/8`;
modes `s = 0.48, 0.33, 0.22 (×2), 0.125 (×4)`), a network of depth `D` = 1…4 (quick: 1 and 3)
from balanced aligned weights (`dln.init.aligned`) with every mode at `u0 = 0.03`, weight decay
`γ = 0.02` on every layer. **The same `u0` at every depth** (the same initial network map, so
`a0 = u0^{1/D}` per layer): the weight-decay threshold `u_− ≈ (γ/s)^{D/(D−2)}` grows with depth,
so with the same per-layer scale `a0` the deep baseline either loses its finest modes without any
deficit or (for larger `a0`) the depth-3 network starts so far above its threshold that no window
of this length can hurt it (an `a0` scan showed both); with the same `u0` every baseline learns
every mode, and the margin `u0/u_−` shrinks with depth (leaf modes: 7.2 at depth 3, 1.1 at
depth 4). Deficit: `dln.Blur(keep=2, factor=0.1)` (the two coarsest modes pass, the six finer input
directions are attenuated ten-fold) or `dln.Flip()` (the items reversed, `x_i → x_{7−i}`: the
same inputs, mirrored items swap their features) on the flow-time window
`[onset, onset + length)`, length 40 unless swept.

**Training.** Gradient descent with `lr_k = lr0 · exp(−k/3000)` for 12000 steps, `lr0 ≈ 0.102`
chosen so that the total flow time `Σ lr_k` is exactly 300 (the budget; training for ever would add
only 5.6 more). Windows are in flow time (`dln.simulate` reads them on the clock `Σ lr`), and the
exact flow at `t = 300` is what the annealed run follows. Damage = **excess loss** on the clean
task at the end of training over the same training without the deficit (both `loss` on the
undeprived task).

**What is exact and what is simulated.** Exact: `network_critical_period_map` (a blur keeps the
task's modes, so each mode follows `du/dt = D u^{2−2/D}(bs − b²λu) − Dγu` piece by piece;
integrated at depth ≥ 3), and in panel (d) the same mode law through the pieces
(`dln.modes.trajectory`). Simulated: `simulated_network_critical_period_map` (full weight matrices,
the annealed schedule above; one batched call over all windows per depth), the only source for a
flip (not mode-wise).

**Figure, `achille2019_whole_network.png`** (time axes: flow time `t = Σ lr_k`; curves that
stay at 0 lie on top of each other, so the shallower depths are drawn wider, underneath, and
the legends say so):

- (a) Excess loss against the onset of a blur of length 40, per depth: exact lines (`γ = 0.02`,
  `t = 300`), gradient-descent circles. Depth 1 and 2: none. Depth 3: a loss (0.24, the four
  leaf modes) only for the window at onset 0. Depth 4: larger (0.62, leaf and level-2 modes, for
  onsets 0–10; 0.24 up to onset 70) and a critical period that lasts while the leaf modes are
  still small; every window from onset 80 on is harmless. Grey dotted: the deepest network
  without weight decay, at the same budget: nothing.
- (b) The flip (gradient descent, dashed, every depth) against the blur (deepest, exact): the
  flip damages at depth ≥ 3 and **more when late** (0.63 from onset ~70; depth 2 only 0.02
  at onset 200, a finite-budget effect; depth 1 nothing): at depth ≥ 3
  once the modes are learned a flip reverses the sign of the modes that tell mirrored items
  apart, which drives them to 0, and weight decay sinks them below `u_−`; early it costs ~0.27.
  In a linear network the input–output map is all there is to learn, so a flip is a different
  task, not a degraded one; Achille et al.'s flip keeps the local image statistics a
  convolutional network's early layers learn, which has no analogue here.
- (c) Excess loss against the length of the blur, early (onset 0, solid) and late (onset 160,
  dashed): early, depth 4 is damaged by every window (0.24 from length 5, 0.62 from 20),
  depth 3 from length 40 (0.24; 0.62 at 80); late, nothing up to length 40 at any depth, but a
  long late window (60–80) sinks the learned leaf modes at depth 4 (0.24): late is harmless
  *if short*.
- (d) One leaf mode (`s = 0.125`) of the deepest network through an early and a late window
  (shaded), exact lines, gradient-descent circles, against the clean threshold `u_−` (dashed):
  blurred early, the mode sinks below `u_−` and never recovers; late, it falls but stays above
  and is relearned.

**What the numbers say** (printed tables). With weight decay the damage is **permanent**: at
depth ≥ 3 the excess at `t = 3000` (ten times the budget, i.e. continuing at constant learning
rate) equals the excess at `t = 300`. It is not a finite-budget effect: the lost modes sit below
`u_−` and decay to 0. Without weight decay (`γ = 0`, constant `lr = 0.1`) a blur is a **delay**:
right after a window that closes at `t = 100` the clean loss is far higher (up to 43 at depth 4:
the network has learned the blurred task, whose least-squares map amplifies the attenuated
directions ten-fold), and by `t = 300` the excess is 0 at every depth and onset; a window at
onset 0 is already forgotten at `t = 100`. Gradient descent agrees with the exact map (printed:
the largest gap in the excess, and the number of windows where rounding a window to whole
steps tipped a mode across the threshold, none here).

    python examples/achille2019_whole_network.py [--out DIR] [--quick]
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

import dln
from dln.phenomena.critical_periods import (
    network_critical_period_map,
    simulated_network_critical_period_map,
)

GAMMA = 0.02  # weight decay
U0 = 0.03  # initial strength of every mode, at every depth
KEEP, FACTOR = 2, 0.1  # the blur: keep the 2 coarsest modes, attenuate the rest ten-fold
LENGTH = 40.0  # the window's length in flow time (panels a, b, d)
EARLY, LATE = 0.0, 160.0  # onsets of panel (c) and (d)
BUDGET = 300.0  # total flow time of the annealed schedule
STEPS, TAU = 12000, 3000.0  # lr_k = LR0 exp(−k/TAU), k < STEPS
LR0 = BUDGET / float(np.sum(np.exp(-np.arange(STEPS) / TAU)))  # Σ lr_k = BUDGET exactly
CONSTANT_LR = 0.1  # the γ = 0 runs
LEAF = 4  # index of a leaf mode (s = 0.125)
_FULL = {"depths": (1, 2, 3, 4),
         "onsets": (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 100.0, 130.0, 160.0,
                    200.0),
         "lengths": (5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)}
_QUICK = {"depths": (1, 3), "onsets": (0.0, 20.0, 40.0, 80.0, 160.0),
          "lengths": (10.0, 40.0, 80.0)}


def schedule(k):
    """The annealed learning rate `lr_k = LR0 · exp(−k/TAU)` (a JAX-traceable callable)."""
    return LR0 * jnp.exp(-k / TAU)


def _blur():
    return dln.Blur(keep=KEEP, factor=FACTOR)


def exact_maps(task, depth, onsets, lengths):
    """Exact excess loss `(2, O, L)` (γ = 0, γ = GAMMA) at t = 100, BUDGET, 10·BUDGET, and the
    baselines, from `network_critical_period_map` (one compiled call per depth)."""
    out = {}
    for t in (100.0, BUDGET, 10 * BUDGET):
        res = network_critical_period_map(task, depth=depth, u0=U0, deficit=_blur(),
                                          onsets=onsets, lengths=lengths, t=t,
                                          weight_decay=[0.0, GAMMA])
        out[t] = {k: np.asarray(v) for k, v in res.items()}
    return out


def simulated_maps(task, depth, onsets, lengths):
    """Gradient descent: the blur over onsets × lengths and the flip over onsets × [LENGTH]
    (annealed, γ = GAMMA), and the blur over onsets × [LENGTH] at constant lr without weight
    decay, read at t = 100 and 300."""
    weights = dln.init.aligned(task, depth, u0=U0)
    kw = dict(lr=schedule, steps=STEPS, weight_decay=GAMMA)
    blur = simulated_network_critical_period_map(task, weights, deficit=_blur(), onsets=onsets,
                                                 lengths=lengths, **kw)
    flip = simulated_network_critical_period_map(task, weights, deficit=dln.Flip(),
                                                 onsets=onsets, lengths=[LENGTH], **kw)
    # γ = 0 at constant lr: one run over the windows and, last, a window of length 0 (no
    # deficit: the reference, in the same compiled call), records at t = 0, 100, 200, 300
    on = np.concatenate([np.asarray(onsets, float), [0.0]])
    ell = np.concatenate([np.full(len(onsets), LENGTH), [0.0]])
    steps = round(BUDGET / CONSTANT_LR)
    every = round(100.0 / CONSTANT_LR)
    windowed = dln.Protocol(task, depth=depth, deficits=dln.Blur(
        onset=on, length=ell, keep=KEEP, factor=FACTOR))
    run = dln.simulate(windowed, weights, lr=CONSTANT_LR, steps=steps, every=every)
    loss = np.asarray(run.loss)
    delay = loss[:-1] - loss[-1:]  # (O, 4)
    return {"blur": {k: np.asarray(v) for k, v in blur.items()},
            "flip": {k: np.asarray(v) for k, v in flip.items()},
            "delay": {"t": np.asarray(run.t).reshape(-1, loss.shape[-1])[-1], "excess": delay}}


@functools.partial(jax.jit, static_argnames="depth")
def _mode_piece(since, s, lam, b, u_start, *, depth):
    """The exact mode law `du/dt = D u^{2−2/D}(bs − b²λu) − Dγu` from `u_start`, at `since`."""
    return dln.modes.trajectory(since, b * s, b * b * lam, u_start, depth, weight_decay=GAMMA)


def mode_through_window(task, depth, onset, length, n=120):
    """Exact `(t, u)` of the leaf mode through a blur on `[onset, onset + length)` (three pieces
    of the mode law, `n` points each; one compiled function for every piece)."""
    s, lam = task.s[LEAF], task.input_variance[LEAF]
    edges = [0.0, onset, onset + length, BUDGET]
    factors = [1.0, FACTOR, 1.0]
    ts, us, u = [], [], jnp.asarray(U0)
    for (a, b_), f in zip(zip(edges, edges[1:]), factors):
        since = jnp.linspace(0.0, b_ - a, n)
        piece = _mode_piece(since, s, lam, f, u, depth=depth)
        ts.append(a + np.asarray(since))
        us.append(np.asarray(piece))
        u = piece[-1]
    return np.concatenate(ts), np.concatenate(us)


def simulated_mode(task, depth, windows):
    """Gradient descent (annealed, γ = GAMMA) from the same init: the leaf mode's strength
    against flow time for each `(onset, length)` in `windows` (one batched run)."""
    on = np.array([w[0] for w in windows], float)
    ln = np.array([w[1] for w in windows], float)
    protocol = dln.Protocol(task, depth=depth, deficits=dln.Blur(onset=on, length=ln, keep=KEEP,
                                                                 factor=FACTOR))
    sim = dln.simulate(protocol, dln.init.aligned(task, depth, u0=U0), lr=schedule, steps=STEPS,
                       every=STEPS // 60, weight_decay=GAMMA)
    return np.asarray(sim.t[0]), np.asarray(task.mode_strengths(sim.map))[..., LEAF]


def compare(quick: bool = True):
    """All the numbers: a dict with the settings, per-depth exact and simulated maps, and the
    leaf-mode trajectories of the deepest network."""
    cfg = _QUICK if quick else _FULL
    task = dln.datasets.hierarchy(3)
    onsets, lengths = np.asarray(cfg["onsets"]), np.asarray(cfg["lengths"])
    exact, sim = {}, {}
    for depth in cfg["depths"]:
        exact[depth] = exact_maps(task, depth, onsets, lengths)
        sim[depth] = simulated_maps(task, depth, onsets, lengths)
    deep = max(cfg["depths"])
    windows = [(EARLY, LENGTH), (LATE, LENGTH), (0.0, 0.0)]
    lines = [mode_through_window(task, deep, o, ell) for o, ell in windows]
    t_sim, u_sim = simulated_mode(task, deep, windows)
    thresholds = {d: float(dln.modes.weight_decay_threshold(task.s[LEAF],
                                                            task.input_variance[LEAF], GAMMA, d))
                  for d in cfg["depths"] if d >= 3}
    return {"task": task, "depths": cfg["depths"], "onsets": onsets, "lengths": lengths,
            "exact": exact, "sim": sim, "deep": deep, "windows": windows, "lines": lines,
            "t_sim": t_sim, "u_sim": u_sim, "thresholds": thresholds}


# ---------------------------------------------------------------------------------- summary
def _row(values, fmt="{:7.3f}"):
    return " ".join(fmt.format(v) for v in values)


def _masked(values, keep):
    return " ".join(f"{v:7.3f}" if k else "   open" for v, k in zip(values, keep))


def summary(res) -> str:
    on, ln = res["onsets"], res["lengths"]
    j = int(np.flatnonzero(ln == LENGTH)[0])
    head = " ".join(f"{o:7.0f}" for o in on)
    out = [f"hierarchy(3), u0 = {U0} at every depth, blur keep={KEEP} factor={FACTOR}, window "
           f"length {LENGTH:g}; annealed lr_k = {LR0:.4f}·exp(−k/{TAU:g}), {STEPS} steps, "
           f"Σ lr = {BUDGET:g}; weight decay γ = {GAMMA}",
           "leaf-mode threshold u_− at γ: " + ", ".join(
               f"D{d}: {u:.3g} (u0/u_− = {U0 / u:.3g})" for d, u in res["thresholds"].items()),
           "", f"excess loss at the end (t = {BUDGET:g}), γ = {GAMMA}; columns: onset"]
    for name in ("blur", "flip"):
        out.append(f"  {name:5s}       D  {head}")
        for d in res["depths"]:
            if name == "blur":
                out.append(f"  exact       {d}  "
                           + _row(res["exact"][d][BUDGET]["excess"][1][:, j]))
            sim = res["sim"][d][name]["excess"]
            out.append(f"  simulated   {d}  " + _row(sim[:, j] if name == "blur" else sim[:, 0]))
    out.append("  baseline loss (no deficit): " + ", ".join(
        f"D{d} exact {res['exact'][d][BUDGET]['baseline_loss'][1]:.4f} / simulated "
        f"{float(res['sim'][d]['blur']['baseline_loss']):.4f}" for d in res["depths"]))
    out += ["", f"permanence, γ = {GAMMA}: exact excess at t = {10 * BUDGET:g} (columns: onset)"]
    for d in res["depths"]:
        out.append(f"  exact       {d}  " + _row(res["exact"][d][10 * BUDGET]["excess"][1][:, j]))
    out += ["", "γ = 0 (no weight decay), constant lr = 0.1: the blur is a delay "
                "(columns: onset)"]
    for d in res["depths"]:
        delay = res["sim"][d]["delay"]
        for t in (100.0, BUDGET):
            k = int(np.argmin(np.abs(delay["t"] - t)))
            shut = on + LENGTH <= t  # windows still open at t are left out ("open")
            out.append(f"  exact  t={t:5.0f} {d}  " + _masked(
                res["exact"][d][t]["excess"][0][:, j], shut))
            out.append(f"  sim    t={t:5.0f} {d}  " + _masked(delay["excess"][:, k], shut))
        out.append(f"  exact  t={10 * BUDGET:5.0f} {d}  "
                   + _row(res["exact"][d][10 * BUDGET]["excess"][0][:, j]))
    out.append("  baseline loss γ = 0: " + ", ".join(
        f"D{d} t=100 {res['exact'][d][100.0]['baseline_loss'][0]:.4f}, t={BUDGET:g} "
        f"{res['exact'][d][BUDGET]['baseline_loss'][0]:.2e}" for d in res["depths"]))
    gaps = [np.abs(res["sim"][d]["blur"]["excess"] - res["exact"][d][BUDGET]["excess"][1])
            for d in res["depths"]]
    out += ["", "blur, simulated vs exact over all windows: largest |gap| in the excess "
            f"{max(float(g.max()) for g in gaps):.2e}, windows with a gap "
            f"> 0.05 (a mode tipped across u_−): "
            + ", ".join(f"D{d} {int((g > 0.05).sum())}/{g.size}"
                        for d, g in zip(res["depths"], gaps))]
    return "\n".join(out)


# ------------------------------------------------------------------------------------- plot
def _plot(res, path):
    from matplotlib.figure import Figure  # no pyplot: no global state
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    on, ln = res["onsets"], res["lengths"]
    j = int(np.flatnonzero(ln == LENGTH)[0])
    i_early = int(np.flatnonzero(on == EARLY)[0])
    i_late = int(np.flatnonzero(on == LATE)[0])
    deep = res["deep"]
    depths = res["depths"]
    colour = {d: f"C{n}" for n, d in enumerate(depths)}
    # curves that stay at 0 lie on top of each other: the shallower ones are drawn wider,
    # underneath, so that every colour shows (the legends say so)
    width = {d: 1.4 + 1.6 * (len(depths) - 1 - n) for n, d in enumerate(depths)}
    fig = Figure(figsize=(10.5, 9.2), layout="constrained")
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
    circle = {"ls": "none", "marker": "o", "mfc": "none", "color": "0.3"}
    legend_kw = {"fontsize": 8, "framealpha": 0.9}
    overlap = "curves at 0 overlap\n(shallower drawn wider, beneath)"
    for d in depths:
        c = colour[d]
        ex = res["exact"][d][BUDGET]["excess"]
        ax_a.plot(on, ex[1][:, j], "-", color=c, lw=width[d], label=f"D = {d}")
        ax_a.plot(on, res["sim"][d]["blur"]["excess"][:, j], "o", color=c, mfc="none", ms=4.5)
        ax_b.plot(on, res["sim"][d]["flip"]["excess"][:, 0], "--s", color=c,
                  ms=2.5 + width[d], lw=width[d] * 0.7, label=f"flip, D = {d}")
        for i, ls in ((i_early, "-"), (i_late, "--")):
            ax_c.plot(ln, ex[1][i], ls, color=c, lw=width[d])
            ax_c.plot(ln, res["sim"][d]["blur"]["excess"][i], "o", color=c, mfc="none", ms=4)
    ax_a.plot(on, res["exact"][deep][BUDGET]["excess"][0][:, j], ":", color="0.2", lw=1.5,
              label=f"D = {deep}, no weight decay")
    clock = "flow time t = Σ lr_k"
    ax_a.set(xlabel=f"onset of the blur ({clock})", ylabel=f"final excess loss (t = {BUDGET:g})",
             title=f"(a) blur of length {LENGTH:g}, weight decay γ = {GAMMA}")
    handles, _ = ax_a.get_legend_handles_labels()
    ax_a.legend(handles=handles + [
        Line2D([], [], color="0.3", label="lines: exact"),
        Line2D([], [], **circle, label="circles: gradient descent"),
        Line2D([], [], ls="none", label=overlap)], ncol=2, **legend_kw)
    ex_deep = res["exact"][deep][BUDGET]["excess"][1][:, j]
    ax_b.plot(on, ex_deep, "-", color=colour[deep], lw=1.6, label=f"blur, D = {deep} (exact)")
    ax_b.set(xlabel=f"onset of the deficit ({clock})", ylabel=f"final excess loss (t = {BUDGET:g})",
             title=f"(b) flip (gradient descent, dashed) vs blur, length {LENGTH:g}")
    handles, _ = ax_b.get_legend_handles_labels()
    ax_b.legend(handles=handles + [Line2D([], [], ls="none", label=overlap)], **legend_kw)
    ax_c.set(xlabel=f"length of the blur ({clock})", ylabel=f"final excess loss (t = {BUDGET:g})",
             title="(c) early vs late blur, against its length")
    ax_c.legend(handles=[Line2D([], [], color=colour[d], lw=1.5, label=f"D = {d}")
                         for d in depths] + [
        Line2D([], [], color="k", ls="-", label=f"onset {EARLY:g} (early), exact"),
        Line2D([], [], color="k", ls="--", label=f"onset {LATE:g} (late), exact"),
        Line2D([], [], **circle, label="circles: gradient descent"),
        Line2D([], [], ls="none", label=overlap)], ncol=3, loc="upper center",
        bbox_to_anchor=(0.5, -0.13), **legend_kw)
    names = [f"blur [{o:g}, {o + ell:g})" for o, ell in res["windows"][:2]] + ["no deficit"]
    for n, ((t, u), name) in enumerate(zip(res["lines"], names)):
        c = ("C3", "C2", "k")[n]
        ax_d.plot(t, u, "-", color=c, lw=1.5, label=f"{name}, exact")
        ax_d.plot(res["t_sim"], res["u_sim"][n], "o", color=c, mfc="none", ms=3.5)
    for (o, ell), c in zip(res["windows"][:2], ("C3", "C2")):
        ax_d.axvspan(o, o + ell, color=c, alpha=0.12, lw=0)
    ax_d.axhline(res["thresholds"][deep], color="0.3", ls="--", lw=1.0)
    ax_d.annotate(r"threshold $u_-$", (BUDGET, res["thresholds"][deep]), xytext=(-2, 3),
                  textcoords="offset points", ha="right", fontsize=8, color="0.3")
    ax_d.set_yscale("log")
    ax_d.set_ylim(1e-4, 2.0)
    ax_d.set(xlabel=f"{clock} (annealed: {STEPS} steps make {BUDGET:g})",
             ylabel="leaf mode strength u(t) (log scale)",
             title=f"(d) a leaf mode (s = 0.125), D = {deep}")
    handles, _ = ax_d.get_legend_handles_labels()
    ax_d.legend(handles=handles + [
        Line2D([], [], **circle, label="circles: gradient descent"),
        Patch(color="0.5", alpha=0.25, label="shaded: the blur's window"),
        Line2D([], [], color="0.3", ls="--", lw=1.0,
               label=r"clean threshold $u_-$ (below it the mode dies)")],
        ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13), **legend_kw)
    for ax in (ax_a, ax_b, ax_c, ax_d):
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(10)
        ax.tick_params(labelsize=8)
        ax.xaxis.label.set_fontsize(9)
        ax.yaxis.label.set_fontsize(9)
    fig.suptitle("Whole-network critical period (Achille et al. 2019): weight decay, annealed "
                 f"lr ({STEPS} steps, Σ lr = {BUDGET:g}); lines exact, open circles gradient "
                 "descent", fontsize=10)
    fig.savefig(path, dpi=130)
    return path


def main(out_dir="out", quick=False):
    """Compute the maps, print the tables, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "achille2019_whole_network.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
