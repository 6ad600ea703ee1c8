"""Critical periods for integrating two sources, and cross-source reconstruction (Kleinman,
Achille & Soatto 2023), in a deep linear network.

Reproduces, in linear form, the source-sensitivity histograms and the reconstruction experiment
of

    Kleinman, Achille and Soatto, "Critical Learning Periods for Multisensory Integration in Deep
    Networks", CVPR 2023, arXiv:2210.04643 (docs/theory/sources.md),

with the separate-sources networks of `dln.pathways.simulate(..., sources=..., shared=...)`
(gradient descent, every run of a sweep in one `vmap`-ed compiled call).

**The task** (`dln.pathways.sources.views`). A latent `z ∈ R³` with unit variances, a target
`y = diag(2, 1.5, 1) z`, and two views `x_a = z + n_a`, `x_b = z + n_b` with independent noise
of variance 0.1. Each view alone predicts `y` with gain `1/1.1`; both together average the
noise (gain `1/1.05` on their average), so the optimum uses both sources equally.

**The networks.** Deep: each view feeds its own pathway of three layers (width 16, Gaussian
entries 0.02); the two pathways are summed into 16 shared units `h = Ω_a x_a + Ω_b x_b`, read
out by a shared layer that starts orthonormal (scale 1). Shallow: one layer per view, summed at
the output (linear regression on both views). Learning rate 0.01 (quick: 0.02, the same
curves); flow time `t = lr × steps`.

**The deficit** (`dln.pathways.Remove(1, 0, L)`): source b is replaced by zeros during
`[0, L)`; then both views are seen for 60 more time units (Kleinman's protocol: a deficit for
the first L epochs, then a fixed amount of normal training). Lengths L from 0 to 40, six seeds
(quick: three lengths, two seeds), all lengths and seeds of a network in one batched call.

**Cross-source reconstruction** (`reconstruction=β`, `decoders=...`): each pathway's
representation `Ω_p x_p` also predicts the other view through its own linear decoder, adding
`β/2 · E||x_other − R_p Ω_p x_p||²` to the loss (β = 16; the decoders start at zero).

**Figures.**

- `kleinman2023_rsv.png`: histograms of the relative source variance of the 16 shared units
  (`dln.pathways.measures.relative_source_variance`: `RSV_i = (V_a − V_b)/(V_a + V_b)`, +1 for a
  unit that only source a drives, −1 for one that only b drives), pooled over seeds (counts of
  units on one shared axis; dashed, the mean), 60 time units after the end of deficits of
  increasing length. Top row without, bottom row with the reconstruction objective. Without it,
  deficits longer than the time pathway a needs to learn the task (about 10) leave the units
  leaning to source a 60 time units later (mean RSV +0.71 for L = 40): pathway b was frozen (no
  input, no gradient) and afterwards sees only the small residual a leaves, so in a deep network
  it grows back slowly — but it does grow back: trained on, the units return to balance (mean
  RSV +0.04 at L + 150, −0.00 at L + 300). With reconstruction, b is driven by the cross-view
  correlation, which a cannot explain away, and the units are driven by both sources again (some
  of them mainly by b). Once L exceeds the time a needs to learn the task, the state at the
  deficit's end no longer depends on L (b frozen, a converged to the best a-only map), so with a
  removed source the damage grows with the length only up to there.
- `kleinman2023_recovery.png`: (a) the excess loss 60 time units after the deficit against its
  length (line: geometric mean over seeds; band: ×/÷ the geometric s.d., i.e. mean ± s.d. of the
  log), for the shallow network (it recovers: its loss is convex and, whatever L, falls
  exponentially at the rate of its flattest direction, to about 1e-6 after 60 time units), the
  deep one (about 6e-2 at L + 60 once L exceeds ~10: it has left the plateau but is still far
  from the optimum) and the deep one with reconstruction (it recovers, to within 10× of the
  shallow network); dotted, the excess loss of the best map that uses source a only (0.157), the
  plateau the deep network sits on at the end of the deficit. Without a deficit (L = 0) some
  deep seeds converge slowly: from scratch the two pathways first overshoot and then rebalance
  along the same flat direction. (b) the excess loss against the time since the deficit's end
  for the longest deficit (solid) and against time from scratch without a deficit (dashed),
  geometric mean and band as in (a). (c) the size `||C_b||` of source b's contribution to the
  map, relative to its converged size, against the same times: mean ± s.d. over seeds. From
  scratch b grows within a few time units in every network. After the deficit the shallow
  network's b grows back at the rate set by the curvature of its slowest direction (a against b,
  σ² = 0.1: half its size in about 7 time units, its loss falling exponentially); the deep
  network's b needs about 50 (the printed half-times), several times more; with reconstruction
  about 12, near the shallow network. Reconstruction also speeds up learning from scratch, but
  much less.

Every deep linear network here reaches the optimum eventually (there are no spurious minima):
at constant learning rate without weight decay the damage of the deficit is a delay, a recovery
slower than learning from scratch, not a permanent loss. The script checks this for the deep
network after the longest deficit (L = 40, full mode), training it on to L + 300: its excess
loss (geometric mean over seeds) is 6.4e-2 at L + 60, 5.9e-6 at L + 150 (the slowest seed 2.6e-3)
and at round-off (~1e-15) by L + 300, and the mean RSV of its shared units goes from +0.71 to
−0.00. A lasting loss needs finite plasticity: weight decay, under which a deep network's weak
modes can fall below a threshold and be lost, or a learning rate annealed to a finite budget of
flow time (docs/theory/finite_plasticity.md).

The script prints, per deficit length, the excess loss and RSV statistics, the times for b's
contribution to reach half its converged size from scratch and after the longest deficit, and
the deep network's excess loss and mean RSV at L + 60, L + 150 and L + 300 for the longest
deficit.
Run it with

    python examples/kleinman2023_sources.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from dln.pathways import measures
from dln.pathways import sources as src

import dln
from dln import pathways

GAINS = (2.0, 1.5, 1.0)
NOISE = 0.1
WIDTH = 16
DEPTH = 3
SCALE = 0.02
AFTER = 60.0  # normal training after the deficit
BETA = 16.0
RECORD = 1.0  # a record every time unit
LATER = (60.0, 150.0, 300.0)  # the deep network after the longest deficit: excess at L + these
_FULL = {"lengths": (0.0, 3.0, 6.0, 9.0, 12.0, 20.0, 40.0), "seeds": 6, "lr": 0.01}
_QUICK = {"lengths": (0.0, 10.0, 30.0), "seeds": 2, "lr": 0.02}
VARIANTS = ("shallow", "deep", "deep + reconstruction")


def _networks(task, blocks, seeds, n_lengths):
    """Deep and shallow initial weights, each seed repeated for every deficit length."""
    key = jax.random.key(0)
    deep, _, decoders = src.init(key, task, blocks, depth=DEPTH, width=WIDTH, shared_depth=1,
                                 scale=SCALE, batch=seeds, decoders=True)
    keys = jax.random.split(jax.random.fold_in(key, 1), seeds)
    shared = [jnp.stack([dln.init.orthogonal(k, [WIDTH, task.n_out], 1.0)[0] for k in keys])]
    shallow, _ = src.init(jax.random.fold_in(key, 2), task, blocks, depth=1, width=WIDTH,
                          scale=SCALE, batch=seeds)
    return jax.tree_util.tree_map(lambda x: jnp.repeat(x, n_lengths, axis=0),
                                  (deep, shared, decoders, shallow))


def _a_only_excess(task, blocks):
    """Excess loss of the best map that reads source a only (source b's pathway silent)."""
    a, b = blocks[0]
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)
    M = np.zeros_like(syx)
    M[:, a:b] = np.linalg.solve(sxx[a:b, a:b], syx[:, a:b].T).T
    return float(task.loss(jnp.asarray(M)) - task.min_loss)


def _half_time(t, size, start, target):
    """First time after `start` at which `size` reaches half of `target`, minus `start`."""
    reached = np.nonzero((size >= 0.5 * target) & (t >= start))[0]
    return t[reached[0]] - start if reached.size else np.inf


def compare(quick: bool = True):
    """All the numbers behind the figures.

    Returns a dict with `lengths`, `seeds`, `plateau` (the a-only excess loss), `t` (record
    times) and, per variant (`VARIANTS`), `excess` `(seeds, lengths, T)` over time, `final`
    `(seeds, lengths)` the excess loss at `L + AFTER`, `size_b` `(seeds, lengths, T)` the size of
    source b's contribution relative to its converged size without a deficit, `half`
    `(seeds, lengths)` the time after the deficit for it to reach one half; for the deep
    variants also `rsv` `(seeds, lengths, WIDTH)` at `L + AFTER`.
    """
    cfg = _QUICK if quick else _FULL
    lengths, seeds = np.array(cfg["lengths"]), cfg["seeds"]
    task, blocks = src.views(np.diag(GAINS), 1.0, NOISE)
    deep, shared, decoders, shallow = _networks(task, blocks, seeds, len(lengths))
    batch_lengths = jnp.asarray(np.tile(lengths, seeds))
    deficit = pathways.Remove(1, 0.0 * batch_lengths, batch_lengths)
    lr = cfg["lr"]
    every = int(round(RECORD / lr))
    steps = every * int(round((lengths.max() + AFTER) / RECORD))
    runs = {
        "shallow": dict(weights=shallow, shared=None, decoders=None, beta=0.0),
        "deep": dict(weights=deep, shared=shared, decoders=None, beta=0.0),
        "deep + reconstruction": dict(weights=deep, shared=shared, decoders=decoders,
                                      beta=BETA),
    }
    out = {"lengths": lengths, "seeds": seeds, "plateau": _a_only_excess(task, blocks),
           "task": task}
    for name, r in runs.items():
        deep_net = r["shared"] is not None
        sim = pathways.simulate(task, r["weights"], lr=lr, steps=steps, every=every,
                                deficit=deficit, sources=blocks, shared=r["shared"],
                                decoders=r["decoders"], reconstruction=r["beta"],
                                record_weights=deep_net)
        t = np.asarray(sim.t)
        shape = (seeds, len(lengths), len(t))
        excess = np.asarray(measures.excess_loss(sim)).reshape(shape)
        size_b = np.linalg.norm(np.asarray(sim.map)[:, :, 1], axis=(-2, -1)).reshape(shape)
        size_b = size_b / size_b[:, :1, -1:]  # the same seed, no deficit, converged
        end = np.searchsorted(t, lengths + AFTER)  # the record L + AFTER of each length
        res = {"excess": excess, "size_b": size_b,
               "final": excess[:, np.arange(len(lengths)), end],
               "half": np.array([[_half_time(t, size_b[s, i], L, 1.0)
                                  for i, L in enumerate(lengths)] for s in range(seeds)])}
        if deep_net:
            rec_paths = sim.recorded_weights[0]
            at_end = [[np.asarray(W).reshape((seeds, len(lengths)) + W.shape[1:])[
                :, np.arange(len(lengths)), end] for W in ws] for ws in rec_paths]
            res["rsv"] = np.asarray(measures.relative_source_variance(
                measures.source_variances(task, at_end, blocks)))
        if name == "deep":
            res["later"] = _continue_longest(task, blocks, sim, lengths, seeds, lr)
        out[name] = res
        out["t"] = t
    return out


def _continue_longest(task, blocks, sim, lengths, seeds, lr):
    """The deep network (no reconstruction) after the longest deficit, trained on to
    `L + LATER[-1]` from its state at `L + AFTER` (same lr, no deficit). Returns `t_after`
    (`LATER`), `excess` `(seeds, len(LATER))` and the mean `rsv` `(seeds, len(LATER))` of the
    shared units at `L + LATER`."""
    last = len(lengths) - 1
    pick = np.arange(seeds) * len(lengths) + last  # batch index of (seed, longest deficit)
    paths, shared = sim.final_weights[:2]
    paths = [[W[pick] for W in ws] for ws in paths]
    shared = [W[pick] for W in shared]
    span = LATER[-1] - AFTER
    every = int(round(30.0 / lr))  # a record every 30 time units: L + 90, 120, …, 300
    steps = int(round(span / lr))
    more = pathways.simulate(task, paths, lr=lr, steps=steps, every=every, sources=blocks,
                             shared=shared, record_weights=True)
    t = AFTER + np.asarray(more.t)
    at = np.array([int(np.argmin(np.abs(t - x))) for x in LATER])
    assert np.allclose(t[at], LATER)
    excess = np.asarray(measures.excess_loss(more))[:, at]
    ws = [[np.asarray(W)[:, at] for W in p] for p in more.recorded_weights[0]]
    rsv = np.asarray(measures.relative_source_variance(measures.source_variances(task, ws,
                                                                                 blocks)))
    return {"t_after": np.array(LATER), "excess": excess, "rsv": rsv.mean(-1)}


def _geomean(x, axis=None):
    return np.exp(np.mean(np.log(np.maximum(x, 1e-16)), axis=axis))


def summary(res) -> str:
    lengths = res["lengths"]
    lines = [f"Two views (noise variance {NOISE:g}) of a latent, target gains {GAINS}; source b "
             f"removed during [0, L), then {AFTER:g} time units of normal training; "
             f"{res['seeds']} seeds. Excess loss of the a-only optimum: {res['plateau']:.4f}.",
             "excess loss at L + 60 (geometric mean over seeds):",
             "      L  " + "".join(f"{v:>24s}" for v in VARIANTS)]
    for i, L in enumerate(lengths):
        lines.append(f"  {L:5g}  " + "".join(f"{_geomean(res[v]['final'][:, i]):24.3e}"
                                             for v in VARIANTS))
    lines.append("relative source variance of the shared units at L + 60: mean, and fraction "
                 "of units with RSV > 0.5 (driven mainly by a) / < -0.5 (mainly by b):")
    for v in VARIANTS[1:]:
        rsv = res[v]["rsv"]
        lines.append(f"  {v:<22s} " + "; ".join(
            f"L={L:g}: {rsv[:, i].mean():+.2f}, {np.mean(rsv[:, i] > 0.5):.2f}/"
            f"{np.mean(rsv[:, i] < -0.5):.2f}" for i, L in enumerate(lengths)))
    lines.append(f"time for b's contribution to reach half its converged size, from scratch -> "
                 f"after the deficit of length {lengths[-1]:g}, per seed (inf: not within "
                 f"{AFTER:g}):")
    for v in VARIANTS:
        h = res[v]["half"]
        lines.append(f"  {v:<22s} " + ", ".join(f"{a:g} -> {b:g}" for a, b in h[:, [0, -1]]))
    later = res["deep"]["later"]
    ex, rsv = later["excess"], later["rsv"]
    lines.append(f"deep network after the longest deficit (L = {lengths[-1]:g}), trained on at the "
                 "same lr without weight decay (geometric mean over seeds, slowest seed; "
                 "round-off below 1e-14):")
    for j, after in enumerate(later["t_after"]):
        lines.append(f"  L + {after:3g}: excess loss {_geomean(np.abs(ex[:, j])):.1e} (slowest "
                     f"{np.max(np.abs(ex[:, j])):.1e}), mean RSV {rsv[:, j].mean():+.2f}")
    lines.append(f"  the a-only plateau is {res['plateau']:.3f}: the deep network leaves it, and "
                 "the damage is a delay, not a permanent loss")
    return "\n".join(lines)


def _log_band(x, axis=0):
    """Geometric mean and the band geometric mean ×/÷ geometric s.d. (mean ± s.d. of log x)."""
    logs = np.log(np.maximum(x, 1e-16))
    mean, sd = logs.mean(axis), logs.std(axis)
    return np.exp(mean), np.exp(mean - sd), np.exp(mean + sd)


def _plot_rsv(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    lengths, seeds = res["lengths"], res["seeds"]
    fig, axes = plt.subplots(2, len(lengths), figsize=(min(14.0, 2.0 * len(lengths) + 1.0), 5.6),
                             sharex=True, sharey=True, squeeze=False)
    bins = np.linspace(-1.0, 1.0, 21)
    colours = ("tab:blue", "tab:green")
    for row, (v, color) in enumerate(zip(VARIANTS[1:], colours)):
        for col, L in enumerate(lengths):
            ax = axes[row, col]
            rsv = res[v]["rsv"][:, col].ravel()
            ax.hist(rsv, bins=bins, color=color, alpha=0.8)
            ax.axvline(0.0, color="gray", lw=0.8)
            ax.axvline(rsv.mean(), color="k", lw=1.2, ls="--")
            ax.set_title(f"L = {L:g}: excess loss {_geomean(res[v]['final'][:, col]):.0e}",
                         fontsize=8)
            ax.tick_params(labelsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if row == 1:
                ax.set_xlabel("RSV of a unit", fontsize=8)
        axes[row, 0].set_ylabel(f"{v}\nunits (count)", fontsize=8)
    n_units = WIDTH * seeds
    fig.legend(handles=[Patch(color=c, alpha=0.8, label=f"{v}: the {WIDTH} shared units × "
                              f"{seeds} seeds ({n_units} units)")
                        for v, c in zip(VARIANTS[1:], colours)]
               + [Line2D([], [], color="k", lw=1.2, ls="--", label="mean RSV"),
                  Line2D([], [], color="gray", lw=0.8, label="RSV = 0: both sources equally")],
               loc="lower center", ncol=2, fontsize=8)
    fig.suptitle("Relative source variance RSV = $(V_a - V_b)/(V_a + V_b)$ of the shared units\n"
                 "(+1: source a only, −1: source b only), "
                 f"{AFTER:g} time units after a deficit on source b\n"
                 "of length L (flow time t = lr × steps); titles: excess loss at L + "
                 f"{AFTER:g} (geometric mean over seeds)", fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_recovery(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lengths, t, seeds = res["lengths"], res["t"], res["seeds"]
    colors = dict(zip(VARIANTS, ("tab:orange", "tab:blue", "tab:green")))
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.6))
    ax = axes[0]
    for v in VARIANTS:
        mean, lo, hi = _log_band(res[v]["final"])
        ax.semilogy(lengths, mean, "o-", color=colors[v], ms=4)
        ax.fill_between(lengths, lo, hi, color=colors[v], alpha=0.2, lw=0)
    ax.axhline(res["plateau"], color="gray", ls=":",
               label=f"best map using source a only ({res['plateau']:.3f})")
    ax.set_xlabel("deficit length L (flow time t = lr × steps)")
    ax.set_ylabel(f"excess loss at t = L + {AFTER:g}")
    ax.set_title("(a) final performance against deficit length", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    L = lengths[-1]
    after = t >= L
    n0 = int(after.sum())
    for v in VARIANTS:
        for key, ax in (("excess", axes[1]), ("size_b", axes[2])):
            y = res[v][key][:, -1, after]
            y0 = res[v][key][:, 0, :n0]
            for curve, ls in ((y, "-"), (y0, "--")):
                if key == "excess":
                    mean, lo, hi = _log_band(curve)
                else:
                    mean, sd = curve.mean(0), curve.std(0)
                    lo, hi = mean - sd, mean + sd
                ax.plot(t[:n0], mean, ls, color=colors[v], lw=1.5)
                ax.fill_between(t[:n0], lo, hi, color=colors[v], alpha=0.15, lw=0)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("excess loss")
    axes[1].set_title(f"(b) excess loss: after a deficit of L = {L:g} and from scratch",
                      fontsize=10)
    axes[2].axhline(0.5, color="gray", lw=0.8)
    axes[2].set_ylabel(r"size of source b's contribution $\|C_b\|$ / converged size")
    axes[2].set_title("(c) source b's contribution, same runs", fontsize=10)
    for ax in axes[1:]:
        ax.set_xlabel(f"flow time since the deficit's end, t − {L:g} (t = lr × steps);\n"
                      "from scratch: since the start, t")
    fig.legend(handles=[Line2D([], [], color=colors[v], lw=1.5, label=v) for v in VARIANTS] + [
        Line2D([], [], color="k", ls="-", label=f"(b, c) after a deficit of L = {L:g}"),
        Line2D([], [], color="k", ls="--", label="(b, c) from scratch, no deficit"),
        Line2D([], [], color="gray", lw=0.8, label="(c) half the converged size"),
        Patch(color="0.5", alpha=0.3, label=f"(a, b) line: geometric mean over {seeds} seeds, "
                                            "band: ×/÷ geometric s.d."),
        Patch(color="0.5", alpha=0.2, label=f"(c) line: mean over {seeds} seeds, "
                                            "band: ± s.d.")],
        loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figures, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot_rsv(res, os.path.join(out_dir, "kleinman2023_rsv.png")),
            _plot_recovery(res, os.path.join(out_dir, "kleinman2023_recovery.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
