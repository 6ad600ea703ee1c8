"""Critical periods in matrix completion: pre-training on one task damages a deep linear network's
ability to complete another, and depth 1 is immune (Kleinman, Achille & Soatto 2024).

Reproduces, at laptop size, the matrix-completion figures of

    Kleinman, Achille and Soatto, "Critical Learning Periods Emerge Even in Deep Linear
    Networks", ICLR 2024, arXiv:2308.12221 (docs/theory/completion.md),

with `dln.completion` (masked-loss deep linear networks, gradient descent in one jitted loop
batched over the pre-training length) and `dln.transfer.completion_map` (the sweep; run here
without its progress bar and without saving, `progress=False`, no `path`).

**The protocol.** A network of `depth` square linear layers (`n × n`, no biases, small Gaussian
init of scale 10⁻³: `||W||_F ≈ 10⁻³ √n`) sees the entries `Ω` of a target matrix and minimises
`½ mean_Ω (W_ij − M_ij)²` by full-batch gradient descent. It is first trained for a duration T on
task A, a random matrix of rank `r_A`, then for a fixed time on task B, a random matrix of rank
`r_B = 2` observed on the same entries. The figure shows the final test error on B (mean squared
error over all `n²` entries) against T.

**The scale.** The paper uses `n = 100`, `|Ω| = 2000` observed entries (20 %), `r_A = 10`,
`r_B = 5`, `lr = 0.2` and 30 000 steps on B. Here `n = 20`, `|Ω| = 160` (40 %), `r_A = 4`,
`r_B = 2`, `lr = 1` and 5 000 steps on B (flow time `t = lr × steps`; the masked loss is a
mean, so learning is slow per step); the quick mode uses fewer pre-training lengths and 3 000
steps on B.

**Figure, `kleinman2024_completion.png`.**

- (a) final test error on B against the pre-training length T, for depth 1, 2, 3. Depth 1 is a
  flat line: its gradient only moves observed entries, which training on B overwrites, so it
  forgets A completely (and cannot complete B either: its unobserved entries stay at the init).
  Depth 2 and 3 complete B almost perfectly without pre-training (the implicit low-rank bias of
  depth, Arora et al. 2019), and worse and worse the longer they were trained on A: a critical
  period.
- (b) depth 3, the rank of A: every rank does damage; at the longest pre-training the
  higher-rank A does the most (at short T the order can differ: it is not monotone in the rank
  at every T at this size).
- (c) depth 3, the number of observations: the same deficit for several `|Ω|`; with more
  observations B is better determined and the damage is smaller.
- (d) "fewer observations first": A is B itself seen on a subset of 90 entries, then all 160:
  no deficit at depth 1; at depth 3 a lasting one (here from ~1e-5 to ~1e-2, smaller than the
  deficit from a different task).

The script prints the final test errors. Run it with

    python examples/kleinman2024_completion.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax
import numpy as np

from dln import transfer

N, RANK_B, LR = 20, 2, 1.0
N_OBS, RANK_A = 160, 4


def compute(quick=False):
    post = (3000 if quick else 5000) * LR
    pretrain = (np.array([0, 1000, 4000]) if quick else
                np.array([0, 500, 1000, 2000, 4000, 6000, 8000])) * LR
    key = jax.random.key(0)
    common = dict(n=N, rank_b=RANK_B, pretrain=pretrain, post=post, lr=LR, progress=False)
    res = dict(pretrain=pretrain)
    res["depth"] = transfer.completion_map(key, depths=(1, 2, 3), ranks_a=(RANK_A,),
                                           n_obs=(N_OBS,), **common)
    res["rank"] = transfer.completion_map(key, depths=(3,), ranks_a=(2, 4, 6) if quick else
                                          (2, 4, 6, 8), n_obs=(N_OBS,), **common)
    res["n_obs"] = transfer.completion_map(key, depths=(3,), ranks_a=(RANK_A,),
                                           n_obs=(120, 200) if quick else (120, 160, 200, 240),
                                           **common)
    res["fewer"] = transfer.completion_map(key, depths=(1, 3), ranks_a=(RANK_A,),
                                           n_obs=(N_OBS,), fewer_first=90, **common)
    return res


def summary(res):
    lines = ["final test error on B against pre-training length T = " +
             ", ".join(f"{t:g}" for t in res["pretrain"])]
    err = res["depth"]["final_test_error"][:, 0, 0, 0]
    for d, e in zip(res["depth"]["depth"], err):
        lines.append(f"  depth {d}: " + " ".join(f"{x:.3g}" for x in e))
    for r, e in zip(res["rank"]["rank_a"], res["rank"]["final_test_error"][0, :, 0, 0]):
        lines.append(f"  depth 3, rank A {r}: " + " ".join(f"{x:.3g}" for x in e))
    for m, e in zip(res["n_obs"]["n_obs"], res["n_obs"]["final_test_error"][0, 0, :, 0]):
        lines.append(f"  depth 3, |Ω| = {m}: " + " ".join(f"{x:.3g}" for x in e))
    for d, e in zip(res["fewer"]["depth"], res["fewer"]["final_test_error"][:, 0, 0, 0]):
        lines.append(f"  fewer observations first, depth {d}: " + " ".join(f"{x:.3g}" for x in e))
    return "\n".join(lines)


def _plot(res, path):
    import matplotlib.pyplot as plt

    T = res["pretrain"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    panels = [
        (axes[0], "(a) depth", [(f"depth {d}", e[0, 0, 0]) for d, e in
                                zip(res["depth"]["depth"], res["depth"]["final_test_error"])]),
        (axes[1], "(b) depth 3: rank of A", [(f"rank A = {r}", e[0, 0]) for r, e in
                                             zip(res["rank"]["rank_a"],
                                                 res["rank"]["final_test_error"][0])]),
        (axes[2], "(c) depth 3: observations", [(f"|Ω| = {m}", e[0]) for m, e in
                                                zip(res["n_obs"]["n_obs"],
                                                    res["n_obs"]["final_test_error"][0, 0])]),
        (axes[3], "(d) fewer observations first", [(f"depth {d}", e[0, 0, 0]) for d, e in
                                                   zip(res["fewer"]["depth"],
                                                       res["fewer"]["final_test_error"])]),
    ]
    for ax, title, curves in panels:
        for label, e in curves:
            ax.plot(T, e, "o-", label=label)
        ax.set_yscale("log")
        ax.set_xlabel("pre-training length T (flow time)")
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("final test error on B")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(out_dir="out", quick=False):
    """Compute the figure, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compute(quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "kleinman2024_completion.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
