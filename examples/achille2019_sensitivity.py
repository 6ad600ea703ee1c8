"""A critical-period sensitivity curve and the Fisher information over training (Achille, Rovere
& Soatto 2019), in competing deep linear pathways, and the Fisher information with finite
plasticity (weight decay, an annealed learning rate) in one deep linear network.

Reproduces, in the exactly solvable setting of Kleinman, Achille & Soatto (2024), the two
diagnostics of

    Achille, Rovere and Soatto, "Critical Learning Periods in Deep Networks", ICLR 2019,
    arXiv:1711.08856 (docs/theory/fisher.md),

namely the final performance against the onset of a short, fixed-length deficit (their Fig. 1C:
"the most sensitive epochs correspond to the early rapid learning phase … afterwards, the network
is largely unaffected"), and the trace of the Fisher information of the weights, which they
report rises during the rapid learning phase and then falls. Exact curves from
`dln.pathways.solve` and `dln.solve`, points from gradient descent (`dln.pathways.simulate`,
`dln.simulate`).

**The network, the task and the deficit.** Two pathways a and b of depth D share the input and
are summed at the output (`dln.pathways`; docs/theory/pathways.md), trained on the 8-item,
15-feature hierarchy (`dln.datasets.hierarchy(3)`, one-hot items) from Kleinman's Fig. 2 init
(`K_α(0) = 0.01(1 + 0.1 ξ_α)`, sorted descending, seed 0, the same in both pathways). The
deficit freezes pathway b's plasticity (`pathways.Freeze(1, onset, 8)`) for 8 units of flow time
— 100 epochs of the paper's code, where one epoch is `0.08` flow time (one gradient step at
`lr = 0.08` on dln's mean loss; see `examples/kleinman2024_pathways.py`) — out of a horizon of
`t = 80` (1000 epochs). This plays the role of monocular deprivation. **What is measured is the
deprived pathway tested on its own**, as the deprived eye is tested alone: the whole network
recovers from every deficit (pathway a makes up for b; printed: its final excess loss is ~0,
below 1e-12, at every onset and depth), so its own final loss shows no critical period at all.

**Figure, `achille2019_sensitivity.png`:**

- (a) Sensitivity curve: the excess loss of pathway b's map on its own at the end of training
  (`t = 80`), as a fraction of the excess loss of an untrained pathway, against the deficit
  onset in flow time `t = lr × steps` (top axis: the paper's epochs), for depths 2, 3, 4 (quick
  mode: depth 2). Dashed: no deficit (b then holds half of every mode, a fraction 0.25 at every
  depth, so the dashed lines coincide); dotted, 1 would mean b learned nothing. Lines: exact;
  circles: gradient descent (one `vmap`-ed call over all onsets per depth). The damage is
  largest for the earliest onsets, falls as the onset moves past the learning of each group of
  modes (strong modes first) and vanishes once learning is over: a critical period of the
  deprived pathway. Depth sharpens the competition and delays learning, so the deeper network's
  critical period extends later (a window at onset 0 covers the learning of the strong modes at
  every depth, so the damage there is nearly the same).
- (b) The whole network's excess loss without a deficit against flow time `t = lr × steps`
  (exact; log scale): the critical period coincides with the rapid learning phase, before the
  loss falls to 0.
- (c) The trace of the Fisher information of all the weights (both pathways, all layers) over
  training, log scale, for each depth:
  solid, the **empirical Fisher** `(1/P) Σ_μ ||∇_W ½||ŷ_μ − y_μ||²||²` at the data's own targets
  (`dln.pathways.measures.empirical_fisher_trace`, the second moment of the per-sample gradients),
  without a deficit; circles, the same from the gradient-descent weights; dash-dotted, with
  the deficit at onset 8 (window shaded). It **rises, peaks during the rapid learning phase
  and falls** to 0 as the errors vanish — Achille's "loss of information plasticity".
  Dotted: the Fisher of the **Gaussian output model** `y ~ N(ŷ, I)` with `y` sampled from the
  model, as in Achille's definition (`measures.fisher_trace`,
  `||W_D⋯W_{l+1}||_F² tr(W_{l−1}⋯W_1 Σxx (W_{l−1}⋯W_1)ᵀ)` per layer), which does not depend on
  the targets and, from small weights without weight decay, **only grows** (printed: its largest
  step down is 0). Achille et al. sample `y` from the network's softmax; a saturating softmax
  makes their Fisher fall, a Gaussian output does not saturate, so in a linear network at
  constant lr without weight decay the rise-then-fall belongs to the empirical Fisher. Both are
  exact functions of the weights, evaluated on the exact balanced aligned weights
  (`dln.init.aligned_from_strengths`).
- (d) Finite plasticity: one network of depth 3 (the same task, every mode started at 0.3,
  aligned), gradient descent at `lr = 0.08` for 1000 steps; lines GD, circles the exact solution
  at the same flow times (full mode also for weight decay), against steps × 0.08. Three runs:
  constant lr (the Gaussian-model Fisher grows 6.2 → 67, the empirical one rises to 3.8 and falls
  to 0); **weight decay** `γ = 0.065`, above the largest decay the four weakest modes
  (`s = λ = 1/8`) survive at depth 3 (`dln.modes.weight_decay_target` is 0 for them): the
  Gaussian-model Fisher rises to 41 while the strong modes are learned, to `u_+ < s/λ`, and then
  **falls** (to 37) as the weak modes die — it falls only when a mode dies, its value is a sum
  of products of mode strengths — while the empirical one falls to a floor of 1.15, not 0 (the
  decay keeps the map off the optimum, the errors stay); an **annealed** learning rate
  `0.08 · 2^{−k/50}`, whose flow time runs out at 5.8: both traces freeze where they are then
  (Gaussian model 58 of 67, empirical 0.22), annealing stops the clock rather than changing the
  trajectory (docs/theory/finite_plasticity.md).

So, which measure rises then falls: the empirical Fisher, always, because it measures the errors
(to 0 at constant lr, to a floor with weight decay); the Gaussian-model Fisher only with weight
decay, when modes die; an annealed learning rate freezes both.

Full mode uses depths 2, 3, 4 and 33 onsets; `--quick` depth 2 and 9 onsets, and skips the exact
weight-decay solution of (d).

The script prints, per depth, the damage at onset 0, the latest onset that still costs more than
1 % of an untrained pathway's loss, the whole network's final excess loss, the time of the
empirical Fisher's peak and its fall by the end, the Gaussian-model Fisher's largest step down,
and the largest gap between gradient descent and the exact solution; then, for the three runs of
(d), the start, peak and end of both traces. Run it with

    python examples/achille2019_sensitivity.py [--out DIR] [--quick]
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from dln.pathways import measures

import dln
from dln import datasets, pathways

LEVELS = 3
EPOCH = 0.08  # flow time of one epoch of Kleinman's code (examples/kleinman2024_pathways.py)
HORIZON = 1000 * EPOCH  # t = 80
LR = EPOCH
STEPS = 1000
LENGTH = 100 * EPOCH  # the fixed deficit length, 8
FISHER_ONSET = 8.0  # the deficit shown in panel (c)
SIM_EVERY = 20  # simulation records every 1.6 time units
CUTOFF = 0.01  # "still costs": more than 1 % of an untrained pathway's excess loss
# finite plasticity (panel d): one network of depth 3, every mode started at 0.3
FP_DEPTH = 3
FP_U0 = 0.3
FP_DECAY = 0.065  # above the largest weight decay the four weakest modes survive at depth 3
FP_EVERY = 10
_FULL = {"depths": (2, 3, 4), "onsets": np.arange(0.0, 66.0, 2.0), "fp_exact_decay": True}
_QUICK = {"depths": (2,), "onsets": np.linspace(0.0, 64.0, 9), "fp_exact_decay": False}


def _annealed(k):
    """The annealed schedule of panel (d): `lr_k = 0.08 · 2^{−k/50}` (halved every 50 steps), whose
    flow time runs out at `0.08/(1 − 2^{−1/50}) ≈ 5.81`."""
    return LR * 0.5 ** (k / 50.0)


def _grid():
    """Record times: every 0.4 up to t = 24 (the learning), then every 1.6 up to 80 (the
    simulation's records are a subset)."""
    return np.concatenate([np.linspace(0.0, 24.0, 61)[:-1], np.linspace(24.0, HORIZON, 36)])


def _init():
    """Kleinman's Fig. 2 init: `K_α(0) = 0.01(1 + 0.1 ξ_α)` sorted descending (seed 0)."""
    rng = np.random.default_rng(0)
    return np.sort(0.01 * (1.0 + 0.1 * rng.normal(size=2**LEVELS)))[::-1]


@functools.partial(jax.jit, static_argnames="depth")
def _solve_rows(task, t, u0, onset, length, *, depth):
    """Exact trajectories `(B, T, 2, K)` for a batch of deficit windows on pathway b (one
    compiled call per depth)."""

    def one(on, ell):
        return pathways.solve(task, depth=depth, u0=(u0, u0), t=t,
                              deficit=pathways.Freeze(1, on, ell)).modes

    return jax.vmap(one)(onset, length)


def _excess(task, modes):
    """Excess loss of the map with mode strengths `(..., K)`."""
    return np.asarray(task.loss_of_modes(jnp.asarray(modes)) - task.min_loss)


def _fisher(task, depth, pathway_weights, total_map):
    """Empirical and Gaussian-model Fisher traces, summed over layers and pathways, `(T,)`."""
    emp = sum(np.asarray(measures.empirical_fisher_trace(task, ws, total_map=total_map)).sum(-1)
              for ws in pathway_weights)
    model = sum(np.asarray(measures.fisher_trace(task, ws)).sum(-1) for ws in pathway_weights)
    return emp, model


def _single_totals(traj):
    """Gaussian-model and empirical Fisher traces of a single network, summed over layers."""
    model, emp = measures.fisher_traces(traj)
    return np.asarray(model).sum(-1), np.asarray(emp).sum(-1)


def finite_plasticity(exact_decay: bool = True):
    """Panel (d): the Fisher traces of one network of depth `FP_DEPTH` (every mode started at
    `FP_U0`, aligned) trained by gradient descent for `STEPS` steps at `lr = 0.08` without and
    with weight decay `FP_DECAY`, and under the annealed schedule `_annealed`.

    Returns a dict per run (`"plain"`, `"decay"`, `"anneal"`) with `step_t` (steps × 0.08, the
    flow time of a constant-rate run), `t` (the flow time), `model`, `emp` (GD), and the exact
    traces at the same flow times `exact_model`, `exact_emp` (for `"decay"` only when
    `exact_decay`: the weight-decay solution at depth 3 is integrated, a few seconds to
    compile); and `targets`, the mode strengths weight decay settles at.
    """
    task = datasets.hierarchy(LEVELS)
    u0 = np.full(task.n_modes, FP_U0)
    w0 = dln.init.aligned_from_strengths(task, FP_DEPTH, u0)
    out = {"targets": np.asarray(dln.modes.weight_decay_target(
        task.s, task.input_variance, FP_DECAY, FP_DEPTH))}
    for name, lr, gamma in (("plain", LR, 0.0), ("decay", LR, FP_DECAY),
                            ("anneal", _annealed, 0.0)):
        sim = dln.simulate(task, w0, lr=lr, steps=STEPS, every=FP_EVERY, weight_decay=gamma,
                           record_weights=True)
        r = {"t": np.asarray(sim.t), "step_t": np.arange(0, STEPS + 1, FP_EVERY) * LR,
             "modes": np.asarray(sim.modes)}
        r["model"], r["emp"] = _single_totals(sim)
        if gamma == 0.0 or exact_decay:
            exact = dln.solve(task, depth=FP_DEPTH, u0=u0, t=sim.t, weight_decay=gamma)
            r["exact_model"], r["exact_emp"] = _single_totals(exact)
        out[name] = r
    return out


def compare(quick: bool = True):
    """All the numbers behind the figure.

    Returns a dict with `t`, `onsets`, `untrained` (the excess loss of the zero map), and per
    depth: `damage` (exact, b's final excess loss / untrained, per onset), `sim_damage`,
    `network_final` (the whole network's final excess loss per onset), `baseline` (no deficit),
    `loss` (network excess loss over time, no deficit), `fisher` (empirical / model, no deficit
    and with the deficit at `FISHER_ONSET`), `sim_fisher` (empirical, from the simulation
    weights, no deficit), `sim_t`, and the gaps between simulation and theory; and
    `finite_plasticity` (`finite_plasticity()`).
    """
    cfg = _QUICK if quick else _FULL
    task = datasets.hierarchy(LEVELS)
    k0 = _init()
    t = _grid()
    onsets = np.asarray(cfg["onsets"], float)
    # rows: the onset sweep, no deficit, the deficit of panel (c)
    on = np.concatenate([onsets, [0.0, FISHER_ONSET]])
    ell = np.concatenate([np.full(len(onsets), LENGTH), [0.0, LENGTH]])
    n = len(onsets)
    untrained = float(_excess(task, np.zeros(task.n_modes)))
    out = {"t": t, "onsets": onsets, "untrained": untrained, "depths": cfg["depths"]}
    for depth in cfg["depths"]:
        modes = np.asarray(_solve_rows(task, jnp.asarray(t), jnp.asarray(k0), jnp.asarray(on),
                                       jnp.asarray(ell), depth=depth))
        if not np.all(np.isfinite(modes)):
            raise FloatingPointError(f"the exact solution at depth {depth} is not finite")
        end = modes[:, -1]  # (B, 2, K) at t = 80
        r = {"damage": _excess(task, end[:n, 1]) / untrained,
             "baseline": float(_excess(task, end[n, 1])) / untrained,
             "network_final": _excess(task, end[:n].sum(-2)),
             "loss": _excess(task, modes[n].sum(-2))}
        r["fisher"] = {}
        for name, row in (("none", n), ("deficit", n + 1)):
            ws = [dln.init.aligned_from_strengths(task, depth, modes[row, :, p]) for p in (0, 1)]
            r["fisher"][name] = _fisher(task, depth, ws, task.map_from_modes(modes[row].sum(-2)))
        # gradient descent: one vmap-ed call over the same windows, weights recorded
        w = pathways.aligned(task, depth, (k0, k0))
        sim = pathways.simulate(task, w, lr=LR, steps=STEPS, every=SIM_EVERY,
                                deficit=pathways.Freeze(1, jnp.asarray(on), jnp.asarray(ell)),
                                record_weights=True)
        smodes = np.asarray(sim.modes)
        r["sim_damage"] = _excess(task, smodes[:n, -1, 1]) / untrained
        r["sim_gap"] = float(np.max(np.abs(r["sim_damage"] - r["damage"])))
        paths = sim.recorded_weights[0]
        ws = [[W[n] for W in paths[p]] for p in (0, 1)]
        r["sim_fisher"] = _fisher(task, depth, ws, np.asarray(sim.map[n]).sum(-3))[0]
        r["sim_t"] = np.asarray(sim.t)
        idx = np.array([int(np.argmin(np.abs(t - x))) for x in r["sim_t"]])
        assert np.allclose(t[idx], r["sim_t"]), "simulation records must be on the exact grid"
        emp = r["fisher"]["none"][0]
        r["sim_fisher_gap"] = float(np.max(np.abs(r["sim_fisher"] - emp[idx])) / emp.max())
        out[depth] = r
    out["finite_plasticity"] = finite_plasticity(cfg["fp_exact_decay"])
    return out


def _last_costly(onsets, damage, baseline):
    costly = np.nonzero(damage - baseline > CUTOFF)[0]
    return onsets[costly[-1]] if costly.size else None


def _peak(t, y):
    i = int(np.argmax(y))
    return f"{y[0]:.3g} -> peak {y[i]:.3g} at t = {t[i]:.1f} -> end {y[-1]:.3g}"


def summary(res) -> str:
    lines = [f"deficit: pathway b frozen for {LENGTH:g} (= {LENGTH / EPOCH:.0f} epochs) of "
             f"t = {HORIZON:g}; damage = the final excess loss of the deprived pathway b tested on "
             "its own, / an untrained pathway's"]
    t = res["t"]
    worst = max(float(np.max(np.abs(res[d]["network_final"]))) for d in res["depths"])
    for depth in res["depths"]:
        r = res[depth]
        last = _last_costly(res["onsets"], r["damage"], r["baseline"])
        emp, model = r["fisher"]["none"]
        peak = int(np.argmax(emp))
        lines.append(
            f"depth {depth}: damage at onset 0 {r['damage'][0]:.3f} (no deficit "
            f"{r['baseline']:.3f}); last onset costing > {CUTOFF:g}: "
            + ("none" if last is None else f"t = {last:g} ({last / EPOCH:.0f} epochs)")
            + f"; whole network's final excess loss <= {np.max(np.abs(r['network_final'])):.1e}")
        lines.append(
            f"  empirical Fisher: peak {emp[peak]:.3g} at t = {t[peak]:.1f}, start "
            f"{emp[0]:.2g}, end {emp[-1]:.2g}; with the deficit at {FISHER_ONSET:g}: peak at "
            f"t = {t[int(np.argmax(r['fisher']['deficit'][0]))]:.1f}")
        drop = max(-float(np.min(np.diff(model))), 0.0)
        lines.append(f"  Gaussian-model Fisher: {model[0]:.3g} -> {model[-1]:.3g}, largest step "
                     f"down {drop:.1e}" + (" (only grows)" if drop <= 1e-9 * model.max()
                                           else ""))
        lines.append(f"  |GD − exact|: damage {r['sim_gap']:.2e}, empirical Fisher (relative to "
                     f"its peak) {r['sim_fisher_gap']:.2e}")
    lines.append(f"the whole network recovers from every deficit (final excess loss <= "
                 f"{worst:.1e} at every onset and depth: pathway a makes up for b); the damage "
                 "above is that of the deprived pathway on its own")
    fp = res["finite_plasticity"]
    lines.append(f"finite plasticity, one network of depth {FP_DEPTH} (every mode from "
                 f"{FP_U0:g}), GD at lr {LR:g} for {STEPS} steps; Fisher traces of all weights, "
                 "start -> peak -> end:")
    for name, what in (("plain", "constant lr, no weight decay"),
                       ("decay", f"weight decay {FP_DECAY:g}"),
                       ("anneal", "annealed lr 0.08·2^(−k/50)")):
        r = fp[name]
        gap = max(float(np.max(np.abs(r["model"] - r["exact_model"])) / r["exact_model"].max()),
                  float(np.max(np.abs(r["emp"] - r["exact_emp"])) / r["exact_emp"].max())) \
            if "exact_model" in r else None
        lines.append(f"  {what} (flow time reached {r['t'][-1]:.2f}"
                     + ("" if gap is None else f"; |GD − exact| <= {gap:.1e} of the peak") + "):")
        lines.append(f"    Gaussian-model {_peak(r['t'], r['model'])}")
        lines.append(f"    empirical      {_peak(r['t'], r['emp'])}")
    dead = int(np.sum(fp["targets"] == 0))
    lines.append(
        "  the empirical Fisher rises then falls in every run, with the errors: to 0 without "
        "decay, to a floor with decay (the decay keeps the map off the optimum); the "
        "Gaussian-model Fisher, a function of the weights only, just grows without decay, and "
        f"falls with decay as the {dead} weakest modes die (their weight-decay target is 0; "
        f"final strengths {np.array2string(fp['decay']['modes'][-1], precision=2)}); "
        "annealing stops the flow-time clock and freezes both where they are")
    return "\n".join(lines)


def _plot(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(2, 2, figsize=(13.5, 10.5))
    (ax_a, ax_b), (ax_c, ax_d) = axes
    colors = plt.cm.plasma(np.linspace(0.1, 0.75, len(res["depths"])))
    t = res["t"]
    legend_kw = {"fontsize": 8, "framealpha": 0.9}
    circle = {"ls": "none", "marker": "o", "mfc": "none", "color": "0.3"}
    depth_handles = [Line2D([], [], color=c, lw=1.5, label=f"depth {d}")
                     for c, d in zip(colors, res["depths"])]
    baselines = []
    for c, depth in zip(colors, res["depths"]):
        r = res[depth]
        ax_a.plot(res["onsets"], r["damage"], "-", color=c)
        ax_a.plot(res["onsets"], r["sim_damage"], "o", mfc="none", ms=5, color=c)
        ax_a.axhline(r["baseline"], color=c, ls="--", lw=0.8)
        baselines.append(r["baseline"])
        ax_b.semilogy(t, np.maximum(r["loss"], 1e-12), color=c)
        emp, model = r["fisher"]["none"]
        ax_c.semilogy(t, emp, "-", color=c)
        ax_c.semilogy(r["sim_t"], r["sim_fisher"], "o", mfc="none", ms=3.5, color=c)
        ax_c.semilogy(t, r["fisher"]["deficit"][0], "-.", color=c, lw=1.0)
        ax_c.semilogy(t, model, ":", color=c, lw=1.6)
    onset_label = f"deficit onset: flow time t = lr × steps (1 epoch = {EPOCH:g})"
    time_label = f"flow time t = lr × steps (lr = {LR:g}; 1 epoch = {EPOCH:g})"
    # (a) sensitivity
    ax_a.axhline(1.0, color="k", lw=0.6, ls=":")
    same = np.ptp(baselines) < 1e-3
    ax_a.set_ylabel("deprived pathway's final excess loss\n(fraction of an untrained one)")
    ax_a.set_title(f"(a) sensitivity to a deficit of length {LENGTH:g} ({LENGTH / EPOCH:.0f} "
                   "epochs) on pathway b", fontsize=10)
    ax_a.set_xlabel(onset_label)
    top = ax_a.secondary_xaxis("top", functions=(lambda x: x / EPOCH, lambda e: e * EPOCH))
    top.set_xlabel("deficit onset in the paper's epochs", fontsize=8)
    top.tick_params(labelsize=8)
    ax_a.legend(handles=depth_handles + [
        Line2D([], [], color="0.3", label=f"exact, deficit at the onset (t = {HORIZON:g})"),
        Line2D([], [], **circle, label=f"gradient descent (lr {LR:g}, {STEPS} steps)"),
        Line2D([], [], color="0.3", ls="--", lw=0.8,
               label="no deficit" + (f" ({baselines[0]:.2f} at every depth:\nthe dashed lines "
                                     "coincide)" if same and len(baselines) > 1 else "")),
        Line2D([], [], color="k", ls=":", lw=0.6, label="1: b learned nothing")],
        loc="center right", **legend_kw)
    # (b) network loss
    ax_b.set_ylabel("the whole network's excess loss")
    ax_b.set_ylim(1e-8, None)
    ax_b.set_xlabel(time_label)
    ax_b.set_title("(b) the network's excess loss, no deficit (exact)", fontsize=10)
    ax_b.legend(handles=depth_handles, **legend_kw)
    # (c) Fisher over training
    ax_c.axvspan(FISHER_ONSET, FISHER_ONSET + LENGTH, color="tab:red", alpha=0.1)
    lo = min(np.min(res[d]["fisher"]["none"][0][res[d]["fisher"]["none"][0] > 0])
             for d in res["depths"])
    ax_c.set_ylim(max(lo, 1e-8), None)
    ax_c.set_ylabel("trace of the Fisher information (all weights)")
    ax_c.set_xlabel(time_label)
    ax_c.set_title("(c) empirical Fisher (at the targets) rises then falls;\nGaussian-output-"
                   "model Fisher only grows", fontsize=10)
    ax_c.legend(handles=depth_handles + [
        Line2D([], [], color="0.3", label="empirical, no deficit (exact)"),
        Line2D([], [], **circle, label="empirical, no deficit (gradient descent)"),
        Line2D([], [], color="0.3", ls="-.", lw=1.0,
               label=f"empirical, deficit at t = {FISHER_ONSET:g} (exact)"),
        Line2D([], [], color="0.3", ls=":", lw=1.6, label="Gaussian-output model, no deficit "
                                                        "(exact)"),
        Patch(color="tab:red", alpha=0.2, label=f"the deficit's window [{FISHER_ONSET:g}, "
                                                f"{FISHER_ONSET + LENGTH:g})")],
        loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, **legend_kw)
    # (d) finite plasticity
    ax2 = ax_d.twinx()  # the Gaussian-model Fisher on a linear scale: its fall is ~10 %
    fp = res["finite_plasticity"]
    runs = (("plain", "k", "constant lr"), ("decay", "tab:red", f"weight decay {FP_DECAY:g}"),
            ("anneal", "tab:blue", "annealed lr $0.08 \\cdot 2^{-k/50}$"))
    for name, c, _ in runs:
        r = fp[name]
        ax_d.semilogy(r["step_t"], r["emp"], "-", color=c)
        ax2.plot(r["step_t"], r["model"], ":", color=c, lw=1.8)
        if "exact_model" in r:
            sub = slice(None, None, 4)
            ax_d.semilogy(r["step_t"][sub], r["exact_emp"][sub], "o", mfc="none", ms=3.5,
                          color=c)
            ax2.plot(r["step_t"][sub], r["exact_model"][sub], "o", mfc="none", ms=3.5, color=c)
    top_model = max(float(np.max(fp[name]["model"])) for name, _, _ in runs)
    ax_d.set_ylim(1e-3, 10.0)
    ax2.set_ylim(0.0, 1.15 * top_model)
    ax_d.set_xlabel(f"steps × {LR:g} (= flow time at constant lr; the annealed run's flow time "
                    "stops at 5.8)")
    ax_d.set_ylabel("empirical Fisher trace (solid, log scale)")
    ax2.set_ylabel("Gaussian-model Fisher trace (dotted, linear scale)")
    ax_d.set_title(f"(d) one network of depth {FP_DEPTH}, modes from {FP_U0:g}: with decay the "
                   "Gaussian-model Fisher\nfalls as the weakest modes die; annealing freezes both",
                   fontsize=10)
    ax2.text(0.98, 0.985, "dotted: Gaussian-model Fisher, right axis", transform=ax2.transAxes,
             ha="right", va="top", fontsize=8)
    missing = [label for name, _, label in runs if "exact_model" not in fp[name]]
    ax_d.legend(handles=[Line2D([], [], color=c, lw=1.5, label=label) for _, c, label in runs] + [
        Line2D([], [], color="0.3", label="solid: empirical Fisher (left axis)"),
        Line2D([], [], color="0.3", ls=":", lw=1.8,
               label="dotted: Gaussian-model Fisher (right axis)"),
        Line2D([], [], color="0.3", label=f"lines: gradient descent (lr {LR:g})"),
        Line2D([], [], **circle, label="open circles: exact (dln.solve)"
               + (f"\n(not for {', '.join(missing)}: full mode)" if missing else ""))],
        loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, **legend_kw)
    for ax in (ax_a, ax_b, ax_c):
        ax.set_xlim(-3, HORIZON + 3)
    fig.suptitle("Achille, Rovere & Soatto 2019: critical period and Fisher information, "
                 "two competing pathways (a–c) and one network with finite plasticity (d)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figure, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "achille2019_sensitivity.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
