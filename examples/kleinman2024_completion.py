"""Critical periods in matrix completion: pre-training on one task damages a deep linear network's
ability to complete another, and depth 1 is immune (Kleinman, Achille & Soatto 2024).

Reproduces, at the paper's scale, the matrix-completion experiments of

    Kleinman, Achille and Soatto, "Critical Learning Periods Emerge Even in Deep Linear
    Networks", ICLR 2024, arXiv:2308.12221 (docs/theory/completion.md),

with `dln.completion` (masked-loss deep linear networks; `pretraining_sweep` runs the
pre-training once for all its lengths and batches the seeds) and `dln.transfer.completion_map`
(the sweeps, saved as they go).

**The protocol.** A network of `depth` square `n × n` linear layers (no biases; Gaussian init of
scale 10⁻³, `||W||_F ≈ 10⁻³ √n`) sees the entries `Ω` of a target matrix and minimises
`½ mean_Ω (W_ij − M_ij)²` by full-batch gradient descent: first for a time T on task A, a random
matrix of rank 10, then for a fixed time on task B, a random matrix of rank 5 observed on the
same entries. The measure is B's final test error, the mean of `(M_B − W)²` over all `n²`
entries (1 is the error of the zero matrix).

**The scale.** The paper's: `n = 100`, `|Ω| = 2000`, ranks 10 → 5, init scale 10⁻³, pre-training
of 0, 1k, 5k, 10k, 20k, 40k, 60k, 80k, 100k steps and 30k steps on B at lr 0.2, i.e. flow times
`t = lr × steps` up to 20 000 and 6 000. The script runs these flow times at lr = 1 (5× fewer
steps); panel (h) reruns seed 0 at the paper's lr = 0.2 and gets the same errors within 2 %
(3.0e-4, 0.152, 1.29 against 3.0e-4, 0.154, 1.28 at 0, 20k, 100k steps). Depth 1, 2, 3 with 4
seeds; the sweeps of init scale (0.1 … 10⁻⁴, 50k steps on B as in the paper), number of
observations (1000 … 4000), rank of A (2 … 15) and "fewer observations first" at depth 3 with 3
seeds and the pre-training lengths 0, 10k, 20k, 40k, 100k steps. A seed draws A, B, Ω and the
init. Bands and ± are the mean ± s.d. over seeds.

**Cost.** A depth-3 step at n = 100 costs about 0.27 ms on the 2-core CPU (0.24 ms per network
in a batch of 4 seeds), and the shared pre-training cuts a deficit curve from
`K (T_max + post)` to `T_max + K · post` steps: the full mode took 27 min on the 2 CPU cores
with other jobs running on them (about 17 min extrapolated from the step cost alone); on a
GPU it would take a minute or two (an estimate from its 850k sequential steps, each a batch of
at most 36 products of 100 × 100 matrices: not measured). It saves every sweep under
`OUT/kleinman2024_completion_runs/` as it goes and resumes from there when run again, with
progress bars. The quick mode (`--quick`: n = 20, |Ω| = 160, ranks 4 → 2, 2 seeds, one value
per secondary sweep, no end-to-end theory) saves nothing and shows no bar.

**What the numbers show** (full mode; `kleinman2024_completion.png`).

- (a) Depth 1 is immune: 0.799 ± 0.009 at every T (within a seed it moves by < 0.1 %, the
  residual of a fit of B that 30k steps at lr 0.2 do not finish: its gradient only moves
  observed entries, so the 80 % unobserved stay at the init and the error is ≈ 0.8). Depth 2
  completes B partly without pre-training (0.061 ± 0.016) and is damaged ten-fold (0.59 ± 0.02
  from 40k steps on). Depth 3 completes B best (0.004 ± 0.006: three seeds at 3e-4, one still
  at 1.5e-2 after 30k steps) and is damaged most: 0.0088 at 10k, 0.26 ± 0.21 at 20k,
  0.91 ± 0.12 at 40k, 1.26 ± 0.09 at 100k steps, worse than predicting zero. This is not a
  steady "the longer the worse": nothing happens while A is still at the small init
  (T ≤ 5–10k steps; a little pre-training even helps, 3e-4 → 1e-4 in three seeds), the damage
  sets in as A is learned (the onset, 10k–40k steps, varies by seed) and then grows slowly
  (0.91 → 1.26) as the pre-training keeps going; after the onset it rises monotonically in
  every seed. (The n = 20, one-seed row this example printed before, 9.4e-6, 0.196, 0.114,
  0.253, 0.219, 0.21, 0.211, was the same step reached by the first pre-training length,
  followed by a plateau with a single seed's fluctuations on it.)
- (b) The test error on A at the switch: the onset of (a) is where A's error leaves 1. With
  |Ω| = 2000 ≈ the 1900 parameters of a rank-10 matrix, A itself is not completed (depth 3:
  0.75, rising again to 0.80 with longer pre-training, as B's damage does).
- (c) Init scale: a larger init learns A sooner, so the critical period starts earlier
  (scale 0.1: 0.60 at 10k steps; 10⁻⁴: 0.004 at 20k, 0.38 ± 0.49 at 40k), but it also completes
  B worse without pre-training (0.034 at 0.1 against ~0.002–0.006) and the final damage is
  smaller (0.65, 0.91, 1.29, 1.43 at 100k steps for 0.1 … 10⁻⁴).
- (d) Observations: with 1000 or 1500 entries B is not completed at all (1.17, 0.060) and
  pre-training makes it far worse (2.5, 2.1); with 3000 or 4000, where A is completed too, the
  damage is small in absolute terms (0.013, 0.0019) but still 4 orders of magnitude above no
  pre-training (9e-7, 1.4e-7).
- (e) Rank of A: a rank-2 A does almost no damage (0.0053 → 0.0072), rank 5 some (0.14 ± 0.15,
  with a large spread), rank 10 and 15 the most (1.29, 1.39).
- (f, g) Fewer observations first (A = B seen on 1000 of its entries): no deficit at depth 1
  (0.851 at every T), a lasting one at depth 2 (0.26 → 0.40) and 3 (0.060 → 0.34 with 1500 final
  entries), smaller than from a different task and shrinking with the final count (0.38 → 0.91
  at 1250, 0.0053 → 0.013 at 2000).
- (h) The step size does not matter at this scale (lr 0.2 against 1, above), and the damage is
  permanent: training on B 10× longer (300k steps) after 100k steps on A leaves the error at
  1.29 while the training loss on B falls to 5e-10 (a perfect fit of the observed entries, with
  A's structure in the others); after 20k steps it recovers partly (0.154 → 0.043, still 140×
  the error without pre-training).

**Theory, `kleinman2024_completion_theory.png`.** The end-to-end flow of Arora et al.
(`dln.completion.theory`, integrated to rtol 1e-6) holds for balanced layers: from orthogonal
layers (depth 3, seed 0) it follows gradient descent through the switch, 4.60e-4, 0.378, 0.458,
0.626 against 4.68e-4, 0.379, 0.460, 0.627 at 0, 10k, 20k, 100k steps (largest gap over the
training on B 0.0013, O(lr)): the deficit is a property of the flow, not of the step size.
From orthogonal layers the damage sets in earlier than from Gaussian ones (0.42 ± 0.03 at 10k
steps) and stays lower (0.75 ± 0.13 at 100k).

The script prints these tables. Run it with

    python examples/kleinman2024_completion.py [--out DIR] [--quick]
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from dln import completion, transfer
from dln.network import product

PAPER_LR = 0.2  # the paper's learning rate; its step counts below are steps at this rate
PAPER_T = np.array([0, 1000, 5000, 10000, 20000, 40000, 60000, 80000, 100000])  # steps on A
PAPER_T_SWEEP = np.array([0, 10000, 20000, 40000, 100000])  # the secondary sweeps' grid


def settings(quick=False):
    """The protocol: the paper's (full mode, flow times = the paper's steps × 0.2) or a small
    one (quick mode)."""
    if quick:  # one value per secondary sweep; the same shapes throughout (one compile each)
        T = np.array([0.0, 1000.0, 3000.0])
        return dict(n=20, n_obs=160, rank_a=4, rank_b=2, scale=1e-3, lr=1.0, depths=(1, 3),
                    seeds=2, sweep_seeds=2, T=T, T_sweep=T, post=3000.0, post_scale=3000.0,
                    scales=(1e-2,), counts=(120,), ranks=(6,), fewer=90, fewer_n_obs=160,
                    fewer_counts=(120,), check_lr=0.5, T_check=np.array([0.0, 3000.0]),
                    T_long=np.array([1000.0, 3000.0]), post_long=9000.0,
                    every=300, theory_T=(0.0, 1000.0), rtol=1e-6)
    return dict(n=100, n_obs=2000, rank_a=10, rank_b=5, scale=1e-3, lr=1.0, depths=(1, 2, 3),
                seeds=4, sweep_seeds=3, T=PAPER_T * PAPER_LR, T_sweep=PAPER_T_SWEEP * PAPER_LR,
                post=30000 * PAPER_LR, post_scale=50000 * PAPER_LR,
                scales=(1e-1, 1e-2, 1e-3, 1e-4), counts=(1000, 1500, 2000, 3000, 4000),
                ranks=(2, 5, 10, 15), fewer=1000, fewer_n_obs=1500,
                fewer_counts=(1250, 1500, 1750, 2000), check_lr=PAPER_LR,
                T_check=np.array([0, 20000, 100000]) * PAPER_LR,
                T_long=np.array([20000, 100000]) * PAPER_LR, post_long=300000 * PAPER_LR,
                every=600, theory_T=(0.0, 2000.0, 4000.0, 20000.0), rtol=1e-6)


def compute(quick=False, path=None, progress=False, parts=None):
    """Every sweep of the figures (or those named in `parts`; the quick mode leaves out the
    end-to-end theory unless `parts` names it). `path`: a folder where each sweep saves as it
    goes and from which an interrupted run resumes; `progress`: tqdm bars."""
    c = settings(quick)
    key = jax.random.key(0)
    sweeps = {  # name: the arguments of transfer.completion_map that differ from the default
        "depth": dict(depths=c["depths"], pretrain=c["T"], seeds=c["seeds"]),
        "scale": dict(scales=c["scales"], post=c["post_scale"],
                      every=round(c["post_scale"] / c["lr"] / 10)),
        "n_obs": dict(n_obs=c["counts"]),
        "rank": dict(ranks_a=c["ranks"]),
        "fewer_depth": dict(depths=c["depths"], n_obs=(c["fewer_n_obs"],),
                            fewer_first=c["fewer"]),
        "fewer_count": dict(n_obs=c["fewer_counts"], fewer_first=c["fewer"]),
        "lr": dict(lr=c["check_lr"], pretrain=c["T_check"], seeds=1,
                   every=c["every"] * round(c["lr"] / c["check_lr"])),
        "long": dict(post=c["post_long"], pretrain=c["T_long"], seeds=1,
                     every=round(c["post_long"] / c["lr"] / 10)),
        "orthogonal": dict(kind="orthogonal", pretrain=c["T"], seeds=c["seeds"]),
    }
    res = dict(settings=c)
    for name, kw in sweeps.items():
        if parts is not None and name not in parts:
            continue
        args = dict(n=c["n"], rank_b=c["rank_b"], pretrain=c["T_sweep"], post=c["post"],
                    lr=c["lr"], depths=(3,), ranks_a=(c["rank_a"],), n_obs=(c["n_obs"],),
                    scales=(c["scale"],), seeds=c["sweep_seeds"], every=c["every"])
        args.update(kw)
        file = None if path is None else os.path.join(path, f"{name}.npz")
        res[name] = transfer.completion_map(key, path=file, progress=name if progress else False,
                                            **args)
    if (parts is None and not quick) or (parts is not None and "theory" in parts):
        res["theory"] = _cached(None if path is None else os.path.join(path, "theory.npz"),
                                lambda: end_to_end_theory(c, key, progress), c)
    return res


def end_to_end_theory(c, key, progress=False):
    """The end-to-end flow (`dln.completion.theory`) of depth 3 from the orthogonal (balanced)
    layers of seed 0 of the maps: run once on A to the longest of `theory_T`, then on B from
    the matrix at each of them. Returns the test error on B during the training on B, and on A
    at the switch."""
    from tqdm.auto import tqdm

    n, depth = c["n"], 3
    k_b, k_a, k_mask, k_w = jax.random.split(key, 4)  # seed 0 of transfer.completion_map
    mask = completion.observation_masks(k_mask, n, [c["n_obs"]])[0]
    A = completion.Problem(completion.low_rank_matrix(k_a, n, c["rank_a"]), mask)
    B = completion.Problem(completion.low_rank_matrix(k_b, n, c["rank_b"]), mask)
    ws = completion.init(k_w, n, depth, c["scale"], "orthogonal")
    T = np.asarray(c["theory_T"])
    bar = tqdm(total=len(T) + 1, desc="end-to-end theory", disable=not progress)
    # as many records on A as on B: one compiled integration serves both
    records = int(round(c["post"] / (c["every"] * c["lr"])))
    h_a = float(T.max()) / records
    on_a = completion.theory([(A, float(T.max()))], product(ws), depth, h=h_a, rtol=c["rtol"])
    bar.update()
    curves, switch_a = [], []
    for t in T:
        i = int(round(t / h_a))
        switch_a.append(float(on_a.test_error[i, 0]))
        on_b = completion.theory([(B, c["post"])], on_a.map[i], depth, h=c["every"] * c["lr"],
                                 rtol=c["rtol"])
        curves.append(np.asarray(on_b.test_error[:, 0]))
        bar.update()
    bar.close()
    return dict(T=T, t=np.asarray(on_b.t), test_error=np.stack(curves),
                switch_test_error_a=np.asarray(switch_a))


def _cached(file, fn, c):
    """`fn()` saved to `file` (an .npz) and read back on a later run with the same settings."""
    stamp = json.dumps({k: np.asarray(v).tolist() for k, v in c.items()}, sort_keys=True)
    if file is not None and os.path.exists(file):
        with np.load(file) as f:
            if str(f["settings"]) == stamp:
                return {k: f[k] for k in f.files if k != "settings"}
    out = fn()
    if file is not None:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        np.savez(file + ".tmp.npz", settings=stamp, **out)
        os.replace(file + ".tmp.npz", file)
    return out


# ----------------------------------------------------------------------------- the numbers
def _steps(T, c):
    """Flow times as the paper's steps (lr 0.2) in the full mode, as flow times in the quick."""
    return [f"{t / PAPER_LR / 1000:g}k" if c["n"] == 100 else f"{t:g}" for t in T]


def _depth3(d):
    """The final test errors `(seeds, K)` of depth 3 in a depth map."""
    return d["final_test_error"][list(d["depth"]).index(3), 0, 0, 0]


def _row(err):
    """`mean ± s.d.` over the seeds (axis 0) at each T."""
    m, s = err.mean(axis=0), err.std(axis=0)
    return "  ".join(f"{a:.3g}±{b:.2g}" if err.shape[0] > 1 else f"{a:.3g}" for a, b in zip(m, s))


def summary(res):
    c = res["settings"]
    unit = "steps on A at lr 0.2" if c["n"] == 100 else "flow time on A"
    d = res["depth"]
    lines = [f"n = {c['n']}, |Ω| = {c['n_obs']}, rank A = {c['rank_a']}, rank B = "
             f"{c['rank_b']}, init scale {c['scale']:g}, lr = {c['lr']:g}, training on B for "
             f"flow time {c['post']:g}; mean ± s.d. over seeds",
             f"final test error on B against the pre-training length T ({unit}: "
             + ", ".join(_steps(d["pretrain"], c)) + f"), {c['seeds']} seeds"]
    for i, depth in enumerate(d["depth"]):
        lines.append(f"  depth {depth}:  " + _row(d["final_test_error"][i, 0, 0, 0]))
    lines.append("test error on A at the switch")
    for i, depth in enumerate(d["depth"]):
        lines.append(f"  depth {depth}:  " + _row(d["switch_test_error_a"][i, 0, 0, 0]))
    lines.append("depth 3, final test error on B against T = "
                 + ", ".join(_steps(res["scale"]["pretrain"], c))
                 + f" ({c['sweep_seeds']} seeds)")
    for j, s in enumerate(res["scale"]["scale"]):
        lines.append(f"  init scale {s:g} (flow time {c['post_scale']:g} on B):  "
                     + _row(res["scale"]["final_test_error"][0, 0, 0, j]))
    for j, m in enumerate(res["n_obs"]["n_obs"]):
        lines.append(f"  |Ω| = {m}:  " + _row(res["n_obs"]["final_test_error"][0, 0, j, 0]))
    for j, r in enumerate(res["rank"]["rank_a"]):
        lines.append(f"  rank A = {r}:  " + _row(res["rank"]["final_test_error"][0, j, 0, 0]))
    f = res["fewer_depth"]
    lines.append(f"fewer observations first (A = B seen on {c['fewer']} of its entries)")
    for i, depth in enumerate(f["depth"]):
        lines.append(f"  depth {depth}, then |Ω| = {c['fewer_n_obs']}:  "
                     + _row(f["final_test_error"][i, 0, 0, 0]))
    for j, m in enumerate(res["fewer_count"]["n_obs"]):
        lines.append(f"  depth 3, then |Ω| = {m}:  "
                     + _row(res["fewer_count"]["final_test_error"][0, 0, j, 0]))
    lr = res["lr"]
    at = np.searchsorted(d["pretrain"], lr["pretrain"])
    lines.append("step size, depth 3, seed 0, T = " + ", ".join(_steps(lr["pretrain"], c)))
    lines.append(f"  lr = {c['check_lr']:g}:  " + _row(lr["final_test_error"][0, 0, 0, 0]))
    lines.append(f"  lr = {c['lr']:g}:  " + _row(_depth3(d)[:1, at]))
    long = res["long"]
    at = np.searchsorted(d["pretrain"], long["pretrain"])
    lines.append(f"training on B {c['post_long'] / c['post']:g}× longer, depth 3, seed 0, T = "
                 + ", ".join(_steps(long["pretrain"], c)))
    lines.append(f"  flow time {c['post']:g} on B:  " + _row(_depth3(d)[:1, at]))
    lines.append(f"  flow time {c['post_long']:g} on B:  "
                 + _row(long["final_test_error"][0, 0, 0, 0]) + "  (training loss on B "
                 + " ".join(f"{x:.1e}" for x in long["final_train_loss"][0, 0, 0, 0, 0]) + ")")
    o = res["orthogonal"]
    lines.append(f"depth 3 from orthogonal (balanced) layers, gradient descent, {c['seeds']} "
                 "seeds:  " + _row(o["final_test_error"][0, 0, 0, 0]))
    if "theory" not in res:
        lines.append("  (the end-to-end theory: full mode only)")
        return "\n".join(lines)
    th = res["theory"]
    at = np.searchsorted(o["pretrain"], th["T"])
    gd = o["test_error"][0, 0, 0, 0, 0][at]  # seed 0, (len(T), records)
    lines.append("  seed 0, final test error on B at T = " + ", ".join(_steps(th["T"], c)))
    lines.append("    end-to-end flow (theory):  "
                 + "  ".join(f"{x:.4g}" for x in th["test_error"][:, -1]))
    lines.append(f"    gradient descent, lr {c['lr']:g}:  "
                 + "  ".join(f"{x:.4g}" for x in gd[:, -1]))
    gap = np.abs(gd - th["test_error"]).max()
    lines.append(f"    largest gap over the training on B: {gap:.2g}; test error on A at the "
                 "switch, theory "
                 + " ".join(f"{x:.3g}" for x in th["switch_test_error_a"]) + ", descent "
                 + " ".join(f"{x:.3g}" for x in o["switch_test_error_a"][0, 0, 0, 0, 0][at]))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the figures
def _band(ax, x, err, label, **kw):
    """Mean over seeds (axis 0) as a line with markers; the band of ± one s.d. is drawn by
    `_bands` once the axis range is known."""
    m, s = err.mean(axis=0), err.std(axis=0)
    (line,) = ax.plot(x, m, label=label, **kw)
    if err.shape[0] > 1:
        ax._bands = getattr(ax, "_bands", []) + [(x, m, s, line.get_color(), err)]
    return line


def _bands(ax, log=True):
    """Draw the bands of `_band`. On a log axis, the axis runs from half the smallest value of
    any seed (or line) to twice the highest mean + s.d., and a band whose lower edge
    (mean − s.d.) falls below the bottom is cut there."""
    bands = getattr(ax, "_bands", [])
    bottom = None
    if log:
        ax.set_yscale("log")
        values = [v for line in ax.get_lines() for v in np.asarray(line.get_ydata(), float)]
        values += [v for b in bands for v in b[4].ravel()]
        positive = [v for v in values if v > 0]
        bottom = min(positive) / 2
        top = max(positive + [v for b in bands for v in (b[1] + b[2])]) * 2
        ax.set_ylim(bottom, top)
    for x, m, s, color, _ in bands:
        low = m - s if bottom is None else np.maximum(m - s, bottom)
        ax.fill_between(x, low, m + s, color=color, alpha=0.18, lw=0)


def _plot(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    c = res["settings"]
    xlabel = "pre-training length T on A (flow time t = lr × steps)"
    fig, axes = plt.subplots(2, 4, figsize=(14, 7.6))
    axes = axes.ravel()
    markers = "osD^v"

    def finish(ax, title, n_seeds, log=True):
        ax.set_title(title, fontsize=9)
        _bands(ax, log)
        handles, labels = ax.get_legend_handles_labels()
        if n_seeds > 1:
            handles.append(Patch(color="0.6", alpha=0.4))
            labels.append(f"mean ± s.d. over {n_seeds} seeds")
        ax.legend(handles, labels, fontsize=7)

    d = res["depth"]
    for i, depth in enumerate(d["depth"]):
        _band(axes[0], d["pretrain"], d["final_test_error"][i, 0, 0, 0], f"depth {depth}",
              marker=markers[i], ms=4)
        _band(axes[1], d["pretrain"], d["switch_test_error_a"][i, 0, 0, 0], f"depth {depth}",
              marker=markers[i], ms=4)
    finish(axes[0], f"(a) final test error on B (rank {c['rank_b']}) after T on A "
           f"(rank {c['rank_a']})", c["seeds"])
    axes[0].set_ylabel("final test error on B (mean over all n² entries)")
    finish(axes[1], "(b) test error on A at the switch", c["seeds"], log=False)
    axes[1].set_ylabel("test error on A after T")
    sweeps = [
        (axes[2], "scale", "init scale", lambda e, j: e[0, 0, 0, j], "scale",
         f"(c) depth 3: init scale (flow time {c['post_scale']:g} on B)"),
        (axes[3], "n_obs", "|Ω|", lambda e, j: e[0, 0, j, 0], "n_obs",
         "(d) depth 3: number of observations |Ω|"),
        (axes[4], "rank", "rank A", lambda e, j: e[0, j, 0, 0], "rank_a",
         f"(e) depth 3: rank of A (B: rank {c['rank_b']})"),
        (axes[6], "fewer_count", f"depth 3, {c['fewer']} then |Ω|", lambda e, j: e[0, 0, j, 0],
         "n_obs", f"(g) fewer first: depth 3, {c['fewer']} entries of B, then |Ω|"),
    ]
    for ax, name, what, pick, field, title in sweeps:
        r = res[name]
        for j, v in enumerate(r[field]):
            _band(ax, r["pretrain"], pick(r["final_test_error"], j), f"{what} = {v:g}",
                  marker=markers[j % 5], ms=4)
        finish(ax, title, c["sweep_seeds"])
    f = res["fewer_depth"]
    for i, depth in enumerate(f["depth"]):
        _band(axes[5], f["pretrain"], f["final_test_error"][i, 0, 0, 0], f"depth {depth}",
              marker=markers[i], ms=4)
    finish(axes[5], f"(f) fewer first: B on {c['fewer']} entries, then {c['fewer_n_obs']}",
           c["sweep_seeds"])
    lr = res["lr"]
    axes[7].plot(d["pretrain"], _depth3(d)[0], "o-", ms=4,
                 label=f"lr = {c['lr']:g} (as in every panel)")
    axes[7].plot(lr["pretrain"], lr["final_test_error"][0, 0, 0, 0, 0], "x", ms=9, mew=2,
                 label=f"lr = {c['check_lr']:g}" + (" (the paper's)" if c["n"] == 100 else ""))
    long = res["long"]
    axes[7].plot(long["pretrain"], long["final_test_error"][0, 0, 0, 0, 0], "D", mfc="none",
                 ms=8, mew=1.5, label=f"{c['post_long'] / c['post']:g}× longer on B (flow time "
                                      f"{c['post_long']:g})")
    finish(axes[7], "(h) depth 3, seed 0: step size; longer on B", 1)
    for ax in axes:
        ax.set_xlabel(xlabel, fontsize=8)
    for ax in axes[2:]:
        ax.set_ylabel("final test error on B")
    fig.suptitle(f"Kleinman et al. 2024, matrix completion: n = {c['n']}, |Ω| = {c['n_obs']} "
                 f"observed entries, init scale {c['scale']:g}, lr = {c['lr']:g}, flow time "
                 f"{c['post']:g} on B" + (" (the paper's 100k and 30k steps at lr 0.2 are "
                                           "t = 20 000 and 6 000)" if c["n"] == 100 else ""),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_theory(res, path):
    import matplotlib.pyplot as plt

    c, o = res["settings"], res["orthogonal"]
    th = res.get("theory")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    from matplotlib.lines import Line2D

    gd = o["test_error"][0, 0, 0, 0, 0]  # seed 0, (T, records)
    if th is None:  # the quick mode: gradient descent only
        show = [(T, i, None) for i, T in enumerate(o["pretrain"])]
    else:
        show = [(T, i, k) for k, (T, i) in enumerate(zip(th["T"], np.searchsorted(o["pretrain"],
                                                                                 th["T"])))]
    handles = []
    for T, i, k in show:
        (line,) = axes[0].plot(o["t"], gd[i], "o", mfc="none", ms=6)
        if k is not None:
            axes[0].plot(th["t"], th["test_error"][k], "-", color=line.get_color())
        handles.append(Line2D([], [], color=line.get_color(), lw=6, label=f"T = {T:g}"))
    handles.append(Line2D([], [], color="k", marker="o", mfc="none", ls="none",
                          label="gradient descent (circles)"))
    if th is not None:
        handles.append(Line2D([], [], color="k", label="end-to-end flow, theory (lines)"))
    axes[0].set_yscale("log")
    axes[0].set_xlabel("flow time t = lr × steps on B, after T on A")
    axes[0].set_ylabel("test error on B")
    axes[0].set_title("(a) seed 0: training on B after T on A (the colour gives T)", fontsize=9)
    axes[0].legend(handles=handles, fontsize=7, loc="lower left")
    _band(axes[1], o["pretrain"], o["final_test_error"][0, 0, 0, 0],
          f"orthogonal init: gradient descent, lr = {c['lr']:g}", marker="o", ms=4)
    if th is not None:
        axes[1].plot(th["T"], th["test_error"][:, -1], "ks", mfc="none", ms=10,
                     label="orthogonal init, seed 0: end-to-end flow, theory (squares)")
    axes[1].plot(o["pretrain"], o["final_test_error"][0, 0, 0, 0, 0], "kx", ms=6,
                 label="orthogonal init, seed 0: gradient descent (×"
                       + ("; inside the squares where they agree)" if th is not None else ")"))
    _band(axes[1], res["depth"]["pretrain"], _depth3(res["depth"]),
          "Gaussian init (main figure (a)): gradient descent", ls="--", color="0.4")
    _bands(axes[1])
    axes[1].set_xlabel("pre-training length T on A (flow time t = lr × steps)")
    axes[1].set_ylabel("final test error on B")
    axes[1].set_title(f"(b) final test error on B against T (bands: mean ± s.d. over "
                      f"{c['seeds']} seeds)", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Depth 3 from balanced (orthogonal) layers, init scale {c['scale']:g}, n = "
                 f"{c['n']}, |Ω| = {c['n_obs']}: "
                 + ("gradient descent (the end-to-end flow: full mode only)" if th is None else
                    f"the end-to-end flow (Arora et al.; rtol {c['rtol']:g}) against gradient "
                    "descent"), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figures, print the summary, and return the paths of the written PNGs.

    The full mode saves every sweep under `out_dir/kleinman2024_completion_runs/` as it goes
    (an interrupted run resumes there) and shows progress bars; the quick mode does neither.
    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    runs = None if quick else os.path.join(out_dir, "kleinman2024_completion_runs")
    res = compute(quick, path=runs, progress=not quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "kleinman2024_completion.png")),
            _plot_theory(res, os.path.join(out_dir, "kleinman2024_completion_theory.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
