"""Semantic development in deep linear networks (Saxe, McClelland & Ganguli 2019).

Reproduces the phenomena of

    A. M. Saxe, J. L. McClelland and S. Ganguli, "A mathematical theory of semantic development
    in deep neural networks", PNAS 116(23):11537–11546 (2019), arXiv:1810.10531,

with the exact solutions (`dln.solve`, `dln.semantic`) drawn against gradient descent
(`dln.simulate`) on the full weight matrices, from small, balanced weights aligned with the
task (`dln.init.aligned`, every mode starting at `u0 = 10⁻³`). Inputs are one-hot items
(`X = I`); time is flow time `t = lr × steps`.

**The tasks.** The paper's four items (canary, salmon, oak, rose) with seven features (grow,
move, roots, fly, swim, leaves, petals), `dln.datasets.saxe2019_toy`: its modes are "living
thing" (the root of the tree), animal versus plant, and the two pairs (two modes of equal
strength). Eight items on a binary tree of depth 3, `dln.datasets.hierarchy(3)` (15 features,
one per node; levels of 1, 1, 2 and 4 modes). Six disjoint categories of `K_o` items sharing
`K_f` features of their own (each item also has one feature of its own),
`dln.semantic.coherence_task`: each category is a mode of singular value `√(K_o K_f + 1)` in the
data, its coherence.

**Figure 1, `saxe2019_semantic.png`.**

- (a), (b) progressive differentiation on the 8-item tree at depth 2 and 3: the mean strength of
  the modes of each tree level (lines: exact; circles: gradient descent), with the exact time
  each level is half learned (dotted verticals; crosses: gradient descent). Broad distinctions
  first, the leaves last, in stages that deepen with depth.
- (c) MDS trajectories of the toy's items in the hidden layer of the depth-2 network (classical
  MDS of the items' Gram matrix at each time, Procrustes-aligned over time; lines: exact,
  circles: gradient descent drawn in the axes of the exact picture). The items start together,
  split into animals and plants, then into the four items.
- (d) illusory correlations: the network's output for "canary swims" and "canary has roots",
  features the canary does not have (target 0), at depth 2 and 3 (lines: exact, circles:
  gradient descent, stars: the exact peaks). Each rises towards the average of the canary's
  broad category (dotted: the plateau values ½, the fraction of animals that swim, and of living
  things with roots) before the finer distinction takes it back to 0; deeper networks separate
  the stages more and come closer to the plateau.
- (e) category coherence against learning speed: the time each category is half learned against
  its coherence, at depth 2 and 3 (lines: the exact closed form as a function of the coherence,
  dots: exact, circles: gradient descent). More coherent categories are learned sooner, roughly
  `∝ ln(1/u0)/coherence` at depth 2.
- (f) item similarity over time in the depth-2 hidden layer: cosine similarity of canary with
  salmon (same pair), with oak (other branch), and of salmon with rose (lines: exact, circles:
  gradient descent; dotted: the stage times of (a) for the toy).

**Figure 2, `saxe2019_rsa.png`**: representational similarity matrices of the toy's items in the
depth-2 hidden layer (cosine similarity, one colour scale) at four times, exact (top) and from
gradient descent (bottom): unrelated items (`t = 0`, all modes equally small), one category
(the root mode learned), animals against plants, and the final structure.

The script prints the stage times per level (exact and simulated), the illusory-correlation
peaks, the coherence table and the largest simulation-vs-exact gaps. Run it with

    python examples/saxe2019_semantic.py [--out DIR] [--quick]
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np

import dln
from dln import semantic

# `quick` keeps every panel with fewer records and larger (still stable) learning rates.
# `quick` draws the progressive differentiation of the toy itself (a tree of depth 2, whose runs
# are already there) instead of the 8-item tree.
_FULL = {"lr": {"toy": 0.01, "tree": 0.02, "coherence": 0.1}, "records": 400, "levels": 3}
_QUICK = {"lr": {"toy": 0.04, "tree": 0.04, "coherence": 0.3}, "records": 120, "levels": 2}
U0 = 1e-3  # the initial strength of every mode
DEPTHS = (2, 3)
SIZES, SHARED = (2, 2, 3, 4, 4, 6), (1, 3, 3, 4, 8, 8)  # the categories: K_o items, K_f features
ILLUSORY = (("swims", 4), ("has roots", 2))  # features the canary (item 0) does not have
PAIRS = ((0, 1), (0, 2))  # (canary, salmon) = (oak, rose); (canary, oak) = every animal–plant

_solve = jax.jit(dln.solve, static_argnames="depth")


def _steps(t_end, lr, records):
    """`(steps, every)` reaching at least flow time `t_end` at `lr` in exactly `records`
    records."""
    every = max(1, math.ceil(t_end / lr / records))
    return every * records, every


def _run(task, depth, lr, records, t_end, record_weights=False, exact=True):
    """Gradient descent from the aligned init and (`exact`) the exact flow at its records."""
    steps, every = _steps(t_end, lr, records)
    sim = dln.simulate(task, dln.init.aligned(task, depth, u0=U0), lr=lr, steps=steps,
                       every=every, record_weights=record_weights)
    return sim, (_solve(task, depth=depth, u0=U0, t=sim.t) if exact else None)


def _last_stage(task, depth):
    """The exact flow time at which the slowest group of modes is half learned."""
    return float(np.max(semantic.stage_times(task, depth=depth, u0=U0)))


def _group_means(traj, groups):
    modes = np.asarray(traj.modes)
    return np.stack([modes[:, g].mean(axis=1) for g in groups], axis=1)


def compute(quick: bool = True) -> dict:
    """Every number behind the figures (see the module docstring)."""
    cfg = _QUICK if quick else _FULL
    records = cfg["records"]
    out = {"quick": quick, "lr": cfg["lr"]}

    # --- the toy: representations, MDS, similarity over time, illusory correlations
    toy = dln.datasets.saxe2019_toy()
    out["items"], out["features"] = dln.datasets.saxe2019_toy_names()
    toy_runs = {}
    for depth in DEPTHS:
        t_end = 1.5 * _last_stage(toy, depth)
        toy_runs[depth] = _run(toy, depth, cfg["lr"]["toy"], records, t_end,
                               record_weights=depth == 2)
    sim, exact = toy_runs[2]
    G_exact, G_sim = semantic.similarity(exact), semantic.similarity(sim)
    cos_exact = semantic.similarity(exact, normalize=True)
    cos_sim = semantic.similarity(sim, normalize=True)
    mds_exact = semantic.mds(G_exact)
    mds_sim = semantic.mds(G_sim, reference=mds_exact)
    toy_stages = semantic.stage_times(exact)
    t = np.asarray(exact.t)
    # snapshots: the start, the root mode 90% learned, animal/plant 90% learned, the end
    nearly = semantic.stage_times(exact, fraction=0.9)
    snaps = [0.0, nearly[0], nearly[1], t[-1]]
    snap_idx = [int(np.argmin(np.abs(t - ts))) for ts in snaps]
    out["toy"] = {
        "t": t, "stages": toy_stages, "stages_sim": semantic.stage_times(sim),
        "cos_exact": np.asarray(cos_exact), "cos_sim": np.asarray(cos_sim),
        "mds_exact": np.asarray(mds_exact), "mds_sim": np.asarray(mds_sim),
        "snap_idx": snap_idx,
        "gram_error": float(np.max(np.abs(G_sim - G_exact))),
        "cos_error": float(np.max(np.abs(cos_sim - cos_exact))),
        "mds_error": float(np.max(np.abs(mds_sim - mds_exact))),
        "lr": cfg["lr"]["toy"],
    }
    illusory = {}
    for depth in DEPTHS:
        sim_d, exact_d = toy_runs[depth]
        for name, feature in ILLUSORY:
            peak = semantic.illusory_peak(toy, depth=depth, u0=U0, item=0, feature=feature)
            y_exact = np.asarray(semantic.feature_output(exact_d, 0, feature))
            y_sim = np.asarray(semantic.feature_output(sim_d, 0, feature))
            k = int(np.argmax(y_sim))
            illusory[(name, depth)] = {
                "t": np.asarray(exact_d.t), "exact": y_exact, "sim": y_sim, "peak": peak,
                "sim_peak": float(y_sim[k]), "sim_peak_time": float(sim_d.t[k]),
                "error": float(np.max(np.abs(y_sim - y_exact)))}
    out["illusory"] = illusory

    # --- items on a tree: progressive differentiation (quick: the toy's own runs)
    tree = dln.datasets.hierarchy(cfg["levels"])
    groups = semantic.mode_groups(tree)
    out["tree"] = {"s": np.asarray(tree.s)[[g[0] for g in groups]],
                   "sizes": [len(g) for g in groups], "items": tree.n_in,
                   "targets": np.asarray(tree.mode_targets)[[g[0] for g in groups]]}
    for depth in DEPTHS:
        if cfg["levels"] == 2:  # the toy is hierarchy(2): the same task
            sim, exact = toy_runs[depth]
        else:
            sim, exact = _run(tree, depth, cfg["lr"]["tree"], records,
                              1.35 * _last_stage(tree, depth))
        out["tree"][depth] = {
            "t": np.asarray(exact.t), "exact": _group_means(exact, groups),
            "sim": _group_means(sim, groups), "stages": semantic.stage_times(exact),
            "stages_sim": semantic.stage_times(sim),
            "error": float(np.max(np.abs(np.asarray(sim.modes) - np.asarray(exact.modes))))}

    # --- category coherence against learning time
    coh = semantic.coherence_task(SIZES, SHARED)
    members = semantic.category_members(SIZES)
    coherence = np.array([semantic.category_coherence(coh, m) for m in members])
    P = coh.n_in
    # the exact half-learning time as a function of the coherence c: modes of strength c/P
    grid = np.linspace(1.1 * coherence.max(), 1.0, 64)
    modes_of_grid = dln.Task.from_spectrum(grid / P, input_variance=np.full(grid.size, 1.0 / P))
    out["coherence"] = {"values": coherence, "grid": grid[::-1], "P": P}
    for depth in DEPTHS:
        sim, _ = _run(coh, depth, cfg["lr"]["coherence"], records,
                      1.25 * _last_stage(coh, depth), exact=False)
        times = np.array([semantic.category_time(coh, m, depth=depth, u0=U0) for m in members])
        out["coherence"][depth] = {
            "exact": times, "sim": np.array([semantic.category_time(sim, m) for m in members]),
            "curve": semantic.stage_times(modes_of_grid, depth=depth, u0=U0)[::-1]}
    return out


# ------------------------------------------------------------------------------------ plots
LEVEL_NAMES = {3: ("root", "level 1", "level 2", "leaves"),
               2: ("root (living thing)", "animal / plant", "the pairs (leaves)")}
ITEM_COLOURS = ("C3", "C1", "C2", "C4")  # canary, salmon, oak, rose


def _plot_differentiation(ax, res, depth):
    tree = res["tree"]
    run = tree[depth]
    t = run["t"]
    mark = slice(None, None, max(1, len(t) // 40))
    for n in range(len(tree["sizes"])):
        c = f"C{n}"
        name = LEVEL_NAMES[len(tree["sizes"]) - 1][n]
        label = f"{name} ($s/\\lambda$ = {tree['targets'][n]:.2f}, ×{tree['sizes'][n]})"
        ax.plot(t, run["exact"][:, n], color=c, lw=1.8, label=label)
        ax.plot(t[mark], run["sim"][mark, n], "o", color=c, ms=3.5, mfc="none", mew=0.9)
        ax.axvline(run["stages"][n], color=c, ls=":", lw=1.2)
        ax.plot(run["stages_sim"][n], 0.5 * tree["targets"][n], "x", color=c, ms=7, mew=1.5)
    ax.set_xlabel(r"flow time $t$ = lr × steps")
    ax.set_ylabel("mean mode strength of the level")
    ax.set_xlim(0, t[-1])
    ax.set_ylim(-0.1, 1.5 * tree["targets"][0])
    ax.grid(alpha=0.3)
    ax.set_title(f"({'a' if depth == 2 else 'b'}) progressive differentiation, "
                 f"{tree['items']} items on a tree, depth {depth}", fontsize=10)


def _plot_mds(ax, res):
    toy = res["toy"]
    Z, Zs = toy["mds_exact"], toy["mds_sim"]
    mark = slice(None, None, max(1, len(toy["t"]) // 30))
    for i, (name, c) in enumerate(zip(res["items"], ITEM_COLOURS)):
        ax.plot(Z[:, i, 0], Z[:, i, 1], color=c, lw=1.6, label=name)
        ax.plot(Zs[mark, i, 0], Zs[mark, i, 1], "o", color=c, ms=3.5, mfc="none", mew=0.8)
        ax.plot(*Z[-1, i], "s", color=c, ms=6)
        right = Z[-1, i, 0] > 0
        ax.annotate(name, Z[-1, i], xytext=(-6 if right else 6, 5), textcoords="offset points",
                    color=c, fontsize=9, ha="right" if right else "left")
    ax.plot(*Z[0, 0], "k.", ms=6)
    low = float(Z[..., 1].min())
    ax.annotate("t = 0: all items\nnear the origin", Z[0, 0], xytext=(0.0, 0.75 * low),
                textcoords="data", fontsize=8, ha="center",
                arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8})
    ax.set_xlabel("MDS axis 1 (hidden activity)")
    ax.set_ylabel("MDS axis 2 (hidden activity)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.12)
    ax.grid(alpha=0.3)
    ax.set_title("(c) MDS trajectories, toy items (depth 2, hidden layer)", fontsize=10)
    handles = [ax.plot([], [], "-", color="k", lw=1.6)[0],
               ax.plot([], [], "o", color="k", mfc="none", ms=4)[0],
               ax.plot([], [], "s", color="k", ms=5)[0]]
    ax.legend(handles, ["exact (dln.semantic.mds)", "gradient descent", "final position"],
              fontsize=8, loc="upper center")


def _plot_illusory(ax, res):
    styles = {2: "-", 3: "--"}
    colours = {"swims": "C0", "has roots": "C5"}
    for (name, depth), run in res["illusory"].items():
        t = run["t"]
        mark = slice(None, None, max(1, len(t) // 35))
        c = colours[name]
        ax.plot(t, run["exact"], styles[depth], color=c, lw=1.6,
                label=f"canary {name}, depth {depth}")
        ax.plot(t[mark], run["sim"][mark], "o", color=c, ms=3.2, mfc="none", mew=0.8)
        ax.plot(run["peak"]["peak_time"], run["peak"]["peak"], "*", color=c, ms=10, mec="k",
                mew=0.5)
    ax.axhline(0.5, color="0.4", ls=":", lw=1.2, label="plateau ½ (category average)")
    ax.set_ylim(-0.03, 0.82)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(r"flow time $t$ = lr × steps")
    ax.set_ylabel(r"network output $\hat y_f$(canary) (target 0)")
    ax.grid(alpha=0.3)
    ax.set_title("(d) illusory correlations: features the canary lacks", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    handles += [ax.plot([], [], "o", color="k", mfc="none", ms=4)[0],
                ax.plot([], [], "*", color="k", ms=9)[0]]
    labels += ["gradient descent", "exact peak (illusory_peak)"]
    ax.legend(handles, labels, fontsize=7.5, loc="upper center", ncol=2)


def _plot_coherence(ax, res):
    coh = res["coherence"]
    for depth, c in zip(DEPTHS, ("C0", "C3")):
        ax.plot(coh["grid"], coh[depth]["curve"], "-", color=c, lw=1.5,
                label=f"depth {depth}: exact $t_{{1/2}}$(coherence)")
        ax.plot(coh["values"], coh[depth]["exact"], "o", color=c, ms=5)
        ax.plot(coh["values"], coh[depth]["sim"], "o", color=c, ms=9, mfc="none", mew=1.0)
    for k, (K, F, x) in enumerate(zip(SIZES, SHARED, coh["values"])):
        ax.annotate(f"{K}×{F}", (x, coh[3]["exact"][k]), xytext=(4, 4),
                    textcoords="offset points", fontsize=7.5)
    handles, labels = ax.get_legend_handles_labels()
    handles += [ax.plot([], [], "o", color="k", ms=5)[0],
                ax.plot([], [], "o", color="k", mfc="none", ms=9)[0]]
    labels += ["category, exact (category_time)", "category, gradient descent"]
    ax.legend(handles, labels, fontsize=7.5)
    ax.set_yscale("log")
    ax.set_xlabel(r"category coherence $\sqrt{K_o K_f + 1}$ (labels: $K_o$ items × $K_f$ "
                  r"features)")
    ax.set_ylabel(r"half-learning time $t_{1/2}$ (flow time)")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("(e) coherent categories are learned sooner", fontsize=10)


def _plot_similarity(ax, res):
    toy = res["toy"]
    t = toy["t"]
    mark = slice(None, None, max(1, len(t) // 35))
    names = res["items"]
    same = ("(= Oak–Rose)", "(= every animal–plant pair)")
    for (i, j), c, note in zip(PAIRS, ("C3", "C2"), same):
        ax.plot(t, toy["cos_exact"][:, i, j], color=c, lw=1.6,
                label=f"{names[i]}–{names[j]} {note}")
        ax.plot(t[mark], toy["cos_sim"][mark, i, j], "o", color=c, ms=3.2, mfc="none", mew=0.8)
    for n, ts in enumerate(toy["stages"]):
        ax.axvline(ts, color="0.5", ls=":", lw=1.0)
        ax.annotate(("root", "animal/plant", "pairs")[n], (ts, 0.0), xytext=(2, 2),
                    textcoords="offset points", fontsize=7.5, rotation=90, va="bottom")
    handles, labels = ax.get_legend_handles_labels()
    handles += [ax.plot([], [], "o", color="k", mfc="none", ms=4)[0],
                ax.plot([], [], ":", color="0.5")[0]]
    labels += ["gradient descent", "exact stage times (toy)"]
    ax.legend(handles, labels, fontsize=7.5, loc="upper right")
    ax.set_xlabel(r"flow time $t$ = lr × steps")
    ax.set_ylabel("cosine similarity of hidden representations")
    ax.set_ylim(-0.05, 1.3)
    ax.grid(alpha=0.3)
    ax.set_title("(f) item similarity over time, hidden layer of depth 2 (toy)", fontsize=10)


def _dpi(res):
    return 80 if res["quick"] else 110  # (quick: for the tests, cheaper to draw)


def _plot_semantic(res, path):
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend needed

    fig = Figure(figsize=(14, 8.6), layout="constrained")
    axes = fig.subplots(2, 3)
    for depth, ax in zip(DEPTHS, axes[0, :2]):
        _plot_differentiation(ax, res, depth)
    axes[0, 0].legend(fontsize=7.5, loc="upper left", title="tree level (colour)",
                      title_fontsize=7.5)
    styles = [axes[0, 1].plot([], [], "-", color="k", lw=1.8)[0],
              axes[0, 1].plot([], [], "o", color="k", mfc="none", ms=4)[0],
              axes[0, 1].plot([], [], ":", color="k")[0],
              axes[0, 1].plot([], [], "x", color="k", ms=6)[0]]
    axes[0, 1].legend(styles, ["exact (dln.solve)", "gradient descent",
                               "exact half-learning time (stage_times)",
                               "gradient descent, half-learning time"],
                      fontsize=7.5, loc="upper left", ncol=2)
    axes[0, 1].sharey(axes[0, 0])
    _plot_mds(axes[0, 2], res)
    _plot_illusory(axes[1, 0], res)
    _plot_coherence(axes[1, 1], res)
    _plot_similarity(axes[1, 2], res)
    fig.suptitle("Saxe, McClelland & Ganguli 2019 with dln: lines = exact (dln.solve, "
                 "dln.semantic), open circles = gradient descent (dln.simulate), from "
                 f"$u_0$ = {U0:g}, one-hot items", fontsize=11)
    fig.savefig(path, dpi=_dpi(res))
    return path


def _plot_rsa(res, path):
    from matplotlib.figure import Figure

    toy = res["toy"]
    names = res["items"]
    idx = toy["snap_idx"]
    captions = ("items unrelated", "root mode 90% learned", "animal/plant mode 90% learned",
                "end of training")
    fig = Figure(figsize=(12, 6.2), layout="constrained")
    axes = fig.subplots(2, len(idx))
    image = None
    for row, (key, label) in enumerate((("cos_exact", "exact"),
                                        ("cos_sim", "gradient descent"))):
        for col, k in enumerate(idx):
            ax = axes[row, col]
            image = ax.imshow(toy[key][k], cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_xticks(range(len(names)), names, rotation=45, fontsize=8)
            ax.set_yticks(range(len(names)), names, fontsize=8)
            ax.set_title(f"{label}, t = {toy['t'][k]:.1f}\n({captions[col]})", fontsize=9)
    fig.supxlabel("item (hidden representation after the first weight matrix, depth 2)")
    fig.supylabel("item")
    bar = fig.colorbar(image, ax=axes, shrink=0.8)
    bar.set_label("cosine similarity of hidden representations (shared scale)")
    fig.suptitle("Representational similarity of the toy's items over learning (flow time "
                 f"t = lr × steps; gradient descent at lr = {toy['lr']:g})", fontsize=11)
    fig.savefig(path, dpi=_dpi(res))
    return path


def summary(res) -> str:
    """The printed report."""
    lines = [f"u0 = {U0:g} on every mode, one-hot items; flow time t = lr × steps; "
             f"learning rates {res['lr']}"]
    tree = res["tree"]
    names = LEVEL_NAMES[len(tree["sizes"]) - 1]
    lines.append(f"Progressive differentiation, {tree['items']} items on a tree: time each level "
                 "is half learned (exact | gradient descent)")
    for depth in DEPTHS:
        cells = "  ".join(f"{names[n]} {e:.2f} | {s:.2f}" for n, (e, s) in
                          enumerate(zip(tree[depth]["stages"], tree[depth]["stages_sim"])))
        lines.append(f"  depth {depth}: {cells};  max |sim − exact| of the modes "
                     f"{tree[depth]['error']:.2e}")
    toy = res["toy"]
    lines.append("Toy (canary, salmon, oak, rose), depth 2: stage times "
                 + ", ".join(f"{e:.2f} | {s:.2f}" for e, s in zip(toy["stages"],
                                                                  toy["stages_sim"]))
                 + f";  max |sim − exact|: Gram {toy['gram_error']:.2e}, cosine "
                 f"{toy['cos_error']:.2e}, MDS coordinates {toy['mds_error']:.2e}")
    lines.append("Illusory correlations (target 0): peak height at time, exact | gradient "
                 "descent; plateaus (category averages)")
    for (name, depth), run in res["illusory"].items():
        p = run["peak"]
        plateaus = (np.round(p["plateaus"], 3) + 0.0).tolist()  # (+ 0.0: no "-0.0")
        lines.append(f"  canary {name:9s} depth {depth}: {p['peak']:.4f} at t = "
                     f"{p['peak_time']:.2f} | {run['sim_peak']:.4f} at t = "
                     f"{run['sim_peak_time']:.2f};  y(0) = {p['start']:.2e}, crosses 0 at t = "
                     f"{p['zero_time']:.2f};  plateaus {plateaus};  "
                     f"max |sim − exact| {run['error']:.2e}")
    coh = res["coherence"]
    lines.append("Category coherence vs half-learning time (exact | gradient descent)")
    lines.append("  K_o  K_f  coherence   " + "".join(f"depth {d}".ljust(22) for d in DEPTHS))
    for k, (K, F) in enumerate(zip(SIZES, SHARED)):
        cells = "".join(f"{coh[d]['exact'][k]:8.2f} | {coh[d]['sim'][k]:8.2f}   "
                        for d in DEPTHS)
        lines.append(f"  {K:3d}  {F:3d}  {coh['values'][k]:9.3f}   {cells}")
    return "\n".join(lines)


def main(out_dir="out", quick=False):
    """Compute both figures, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compute(quick)
    print(summary(res))
    return [_plot_semantic(res, os.path.join(out_dir, "saxe2019_semantic.png")),
            _plot_rsa(res, os.path.join(out_dir, "saxe2019_rsa.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
