"""A critical-period sensitivity curve and the Fisher information over training (Achille, Rovere
& Soatto 2019), in competing deep linear pathways.

Reproduces, in the exactly solvable setting of Kleinman, Achille & Soatto (2024), the two
diagnostics of

    Achille, Rovere and Soatto, "Critical Learning Periods in Deep Networks", ICLR 2019,
    arXiv:1711.08856 (docs/theory/fisher.md),

namely the final performance against the onset of a short, fixed-length deficit (their Fig. 1C:
"the most sensitive epochs correspond to the early rapid learning phase … afterwards, the network
is largely unaffected"), and the trace of the Fisher information of the weights, which rises
during the rapid learning phase and then falls. Exact curves from `dln.pathways.solve`, points
from gradient descent (`dln.pathways.simulate`).

**The network, the task and the deficit.** Two pathways a and b of depth D share the input and
are summed at the output (`dln.pathways`; docs/theory/pathways.md), trained on the 8-item,
15-feature hierarchy (`dln.datasets.hierarchy(3)`, one-hot items) from Kleinman's Fig. 2 init
(`K_α(0) = 0.01(1 + 0.1 ξ_α)`, sorted descending, seed 0, the same in both pathways). The
deficit freezes pathway b's plasticity (`pathways.Freeze(1, onset, 8)`) for 8 units of flow time
— 100 epochs of the paper's code, where one epoch is `0.08` flow time (one gradient step at
`lr = 0.08` on dln's mean loss; see `examples/kleinman2024_pathways.py`) — out of a horizon of
`t = 80` (1000 epochs). This plays the role of monocular deprivation: the network as a whole
always ends at the optimum (pathway a makes up for b, printed: the network's final excess loss
is ~0 for every onset), so the damage is measured, as in the deprived-eye experiments, on the
deprived pathway tested on its own.

**Figure, `achille2019_sensitivity.png`** (one time axis: flow time, the onset for (a)):

- (a) Sensitivity curve: the excess loss of pathway b's map on its own at the end of training
  (`t = 80`), as a fraction of the excess loss of an untrained pathway, against the deficit
  onset, for depth 2 and depth 4 (full mode adds depth 3). Dashed: no deficit (b then holds half
  of every mode, a fraction 0.25); 1 would mean b learned nothing. Lines: exact; circles:
  gradient descent (one `vmap`-ed call over all onsets per depth). The damage is largest for the
  earliest onsets, falls as the onset moves past the learning of each group of modes (strong
  modes first) and vanishes once learning is over: a critical period. Depth sharpens the
  competition and delays learning, so the deeper network's critical period extends later (a
  window at onset 0 covers the learning of the strong modes at every depth, so the damage
  there is nearly the same).
- (b) The network's excess loss over training without a deficit (exact; log scale): the critical
  period coincides with the rapid learning phase, before the loss plateaus at 0.
- (c) The trace of the Fisher information of all the weights (both pathways, all layers) over
  training, log scale, for each depth:
  solid, the **empirical Fisher** `(1/P) Σ_μ ||∇_W ½||ŷ_μ − y_μ||²||²` at the data's own targets
  (`dln.pathways.measures.empirical_fisher_trace`, the second moment of the per-sample gradients),
  without a deficit; circles, the same from the gradient-descent weights; dash-dotted, with
  the deficit at onset 8 (window shaded). It **rises, peaks during the rapid learning phase
  and falls** to 0 as the errors vanish — Achille's "loss of information plasticity".
  Dotted: the Fisher of the **Gaussian output model** `y ~ N(ŷ, I)`
  (`measures.fisher_trace`, `||W_D⋯W_{l+1}||_F² tr(W_{l−1}⋯W_1 Σxx (W_{l−1}⋯W_1)ᵀ)` per
  layer), which does not depend on the targets and, from small weights, **only grows**. Achille
  et al. sample `y` from the network's softmax; a saturating softmax makes their Fisher fall, a
  Gaussian output does not saturate, so in a linear network the rise-then-fall belongs to the
  empirical Fisher (`dln/measures/pathways.py` explains the difference). Both are exact
  functions of the weights, evaluated on the exact balanced aligned weights
  (`dln.init.aligned_from_strengths`).

Full mode uses depths 2, 3, 4 and 33 onsets; `--quick` depths 2 and 4 and 9 onsets.

The script prints, per depth, the damage at onset 0, the latest onset that still costs more than
1 % of an untrained pathway's loss, the time of the empirical Fisher's peak and its fall by the
end, whether the Gaussian-model Fisher ever decreases, and the largest gap between gradient
descent and the exact solution. Run it with

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
_FULL = {"depths": (2, 3, 4), "onsets": np.arange(0.0, 66.0, 2.0)}
_QUICK = {"depths": (2, 4), "onsets": np.linspace(0.0, 64.0, 9)}


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


def compare(quick: bool = True):
    """All the numbers behind the figure.

    Returns a dict with `t`, `onsets`, `untrained` (the excess loss of the zero map), and per
    depth: `damage` (exact, b's final excess loss / untrained, per onset), `sim_damage`,
    `network_final` (the whole network's final excess loss per onset), `baseline` (no deficit),
    `loss` (network excess loss over time, no deficit), `fisher` (empirical / model, no deficit
    and with the deficit at `FISHER_ONSET`), `sim_fisher` (empirical, from the simulation
    weights, no deficit), `sim_t`, and the gaps between simulation and theory.
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
    return out


def _last_costly(onsets, damage, baseline):
    costly = np.nonzero(damage - baseline > CUTOFF)[0]
    return onsets[costly[-1]] if costly.size else None


def summary(res) -> str:
    lines = [f"deficit: pathway b frozen for {LENGTH:g} (= {LENGTH / EPOCH:.0f} epochs) of "
             f"t = {HORIZON:g}; damage = b's final excess loss alone / an untrained pathway's"]
    t = res["t"]
    for depth in res["depths"]:
        r = res[depth]
        last = _last_costly(res["onsets"], r["damage"], r["baseline"])
        emp, model = r["fisher"]["none"]
        peak = int(np.argmax(emp))
        lines.append(
            f"depth {depth}: damage at onset 0 {r['damage'][0]:.3f} (no deficit "
            f"{r['baseline']:.3f}); last onset costing > {CUTOFF:g}: "
            + ("none" if last is None else f"{last:g}")
            + f"; network's final excess loss <= {np.max(np.abs(r['network_final'])):.1e}")
        lines.append(
            f"  empirical Fisher: peak {emp[peak]:.3g} at t = {t[peak]:.1f}, start "
            f"{emp[0]:.2g}, end {emp[-1]:.2g}; with the deficit at {FISHER_ONSET:g}: peak at "
            f"t = {t[int(np.argmax(r['fisher']['deficit'][0]))]:.1f}")
        drop = float(np.min(np.diff(model)))
        lines.append(f"  Gaussian-model Fisher: {model[0]:.3g} -> {model[-1]:.3g}, largest step "
                     f"down {max(-drop, 0.0):.1e} (only grows)")
        lines.append(f"  |GD − exact|: damage {r['sim_gap']:.2e}, empirical Fisher (relative to "
                     f"its peak) {r['sim_fisher_gap']:.2e}")
    return "\n".join(lines)


def _plot(res, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(8, 11), sharex=True)
    colors = plt.cm.plasma(np.linspace(0.1, 0.75, len(res["depths"])))
    t = res["t"]
    for c, depth in zip(colors, res["depths"]):
        r = res[depth]
        ax = axes[0]
        ax.plot(res["onsets"], r["damage"], "-", color=c, label=f"depth {depth}")
        ax.plot(res["onsets"], r["sim_damage"], "o", mfc="none", ms=5, color=c)
        ax.axhline(r["baseline"], color=c, ls="--", lw=0.8)
        axes[1].semilogy(t, np.maximum(r["loss"], 1e-12), color=c, label=f"depth {depth}")
        ax = axes[2]
        emp, model = r["fisher"]["none"]
        ax.semilogy(t, emp, "-", color=c, label=f"depth {depth}: empirical Fisher")
        ax.semilogy(r["sim_t"], r["sim_fisher"], "o", mfc="none", ms=3, color=c)
        ax.semilogy(t, r["fisher"]["deficit"][0], "-.", color=c, lw=1.0,
                    label=f"depth {depth}: empirical, deficit at {FISHER_ONSET:g}")
        ax.semilogy(t, model, ":", color=c, lw=1.5,
                    label=f"depth {depth}: Gaussian-model Fisher")
    axes[0].axhline(1.0, color="k", lw=0.6, ls=":")
    axes[0].set_ylabel("deprived pathway's final excess loss\n(fraction of an untrained one)")
    axes[0].set_title(f"(a) sensitivity to a deficit of length {LENGTH:g} ({LENGTH / EPOCH:.0f} "
                      "epochs) on pathway b: lines exact, circles GD; dashed: no deficit",
                      fontsize=9)
    axes[0].set_xlabel("deficit onset")
    axes[0].xaxis.set_tick_params(labelbottom=True)
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("network excess loss")
    axes[1].set_ylim(1e-8, None)
    axes[1].set_title("(b) the network's excess loss, no deficit (exact)", fontsize=9)
    axes[1].legend(fontsize=8)
    axes[2].axvspan(FISHER_ONSET, FISHER_ONSET + LENGTH, color="tab:red", alpha=0.1,
                    label="deficit window (dash-dotted)")
    lo = min(np.min(res[d]["fisher"]["none"][0][res[d]["fisher"]["none"][0] > 0])
             for d in res["depths"])
    axes[2].set_ylim(max(lo, 1e-8), None)
    axes[2].set_ylabel("trace of the Fisher information")
    axes[2].set_xlabel("flow time t (epochs = t / 0.08)")
    axes[2].set_title("(c) Fisher information of all weights: empirical (at the targets) rises "
                      "then falls;\nGaussian-output model only grows; circles GD", fontsize=9)
    axes[2].legend(fontsize=6, ncol=2)
    fig.suptitle("Achille, Rovere & Soatto 2019: critical period and Fisher information, "
                 "two competing pathways", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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
