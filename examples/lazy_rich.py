"""From lazy to rich: how the imbalance λ of the initial weights sets the learning regime
(Dominé et al. 2025).

Reproduces the lazy-versus-rich picture of

    Dominé, Anguita, Proca, Braun, Kunin, Mediano and Saxe, "From lazy to rich: exact learning
    dynamics in deep linear networks", ICLR 2025, arXiv:2409.14623,

with the exact two-layer solution of `dln.riccati` (`dln.solve(task, weights=...)`, method
`"exact-riccati"`) checked against gradient descent from `dln.simulate`
(docs/theory/two_layer.md).

**The network and the task.** A two-layer linear network `ŷ = W2 W1 x` with 5 inputs, 5 hidden
units and 5 outputs learns a whitened regression task (`Σxx = I`) whose input-output
correlation `Σyx = U S Vᵀ` has random singular vectors and singular values 3, 2, 1, 0.5, 0.25.

**The imbalance λ.** Gradient flow conserves `W2ᵀW2 − W1W1ᵀ = λ I`, so the initial weights
fix λ for the whole of learning. `dln.init.balanced(key, dims, scale, lam)` makes random
λ-balanced weights: small random weights (entries of size `scale`) when λ = 0, and for λ ≠ 0 one
layer that small while the other carries singular values about `√|λ|` (the second layer when
λ > 0, the first when λ < 0). Every aligned mode `u = a b` (with `b² − a² = λ`) then follows

    du/dt = √(λ² + 4u²) (s − u),

so λ = 0 gives the sigmoidal, stage-like learning of Saxe et al. 2014 (**rich**), and `|λ| ≫ s`
gives `du/dt ≈ |λ|(s − u)`, a plain exponential approach like a linear model's (**lazy**).

**Figure, `lazy_rich.png`.** Top row, for λ ∈ {−4, −1, 0, 1, 4}, against flow time
`t = lr × steps`:

- (a) the loss (above its minimum, log scale): λ = 0 sits on plateaus and drops in stages, one
  per mode; large `|λ|` falls at once, along a nearly straight (exponential) line. Here λ and
  −λ give the same loss and kernel movement (to rounding), so the curves of −λ are drawn dashed
  on top of those of +λ, and the legend says that they coincide. Markers: gradient descent
  (`dln.simulate`, circles for λ ≥ 0, crosses for λ < 0);
- (b) the strength `u_α = U_αᵀ W2W1 V_α` of each mode for λ = 0 (solid) and λ = 4 (dashed):
  the rich network learns the modes one after another, strongest first; the lazy one learns all
  of them together. Circles are gradient descent (`dln.simulate`, small `lr`) on top of the
  exact lines;
- (c) how far the neural tangent kernel `Θ = I ⊗ W1ᵀW1 + W2W2ᵀ ⊗ I` has moved from its initial
  value (`dln.regime.ntk_movement`, the kernel distance `1 − cos` between the two kernels,
  0 for kernels equal up to scale). Rich learning changes the kernel a lot (here to about
  0.3: both kernels are positive semi-definite, so the distance stays well below 1); lazy
  learning hardly changes it, because the kernel is dominated by its static part `|λ| I`.
  Markers: the same from the simulated weights (as in (a)).

Bottom row, for a sweep of λ from strongly negative to strongly positive:

- (d), (e) the eigenvalues of the representations at convergence, input side `W1ᵀW1` and
  output side `W2W2ᵀ` (hidden-layer Gram matrices). Lines: the closed forms
  `(√(λ² + 4s²) ∓ λ)/2` of `dln.riccati.converged_representations`; markers: the exact limit of
  the flow (`TwoLayerSolution.limit()`), and squares the end of the gradient-descent runs. For
  λ ≫ 0 the input side shrinks to `s²/λ` while the output side grows like `λ`; for λ ≪ 0 the
  other way round; at λ = 0 both equal `s` (the task's own structure in both layers);
- (f) the flow time to converge (`dln.regime.convergence_time`, excess loss down to 10⁻³ of its
  initial value; left axis) and the kernel movement at the end of the run (right axis) against
  λ, both exact: learning is slow and the kernel moves a lot near λ = 0 (rich), learning is
  fast and the kernel moves little at large `|λ|` (lazy).

**A caveat at λ = 0.** From small random weights with `Nh = Ni = No`, a mode whose initial sign
opposes its target (for square weights: `det(Uᵀ W2W1 V) < 0`) stalls at the saddle forever
under the exact flow (`TwoLayerSolution.stalled`); this happens for about half the random
draws at λ = 0 and never for λ ≠ 0 here. The script uses a draw (`INIT_SEED`) in which no mode
stalls, and checks it.

The script prints, per λ, the convergence time, the final kernel movement, and the largest gap
between simulation and theory. Run it with

    python examples/lazy_rich.py [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

import dln

N = 5  # inputs = hidden units = outputs: both signs of λ are allowed
SINGULAR_VALUES = (3.0, 2.0, 1.0, 0.5, 0.25)
SCALE = 0.05  # entries of the small random weights of dln.init.balanced
LAMBDAS = (-4.0, -1.0, 0.0, 1.0, 4.0)  # the curves of the top row
MODE_LAMBDAS = (0.0, 4.0)  # rich and lazy, panel (b)
INIT_SEED = 2  # a draw in which no mode stalls at λ = 0 (see the module docstring)
TOL = 1e-3  # convergence: excess loss below TOL × its initial value
_FULL = {"lr": 0.005, "records": 300, "sweep": np.linspace(-8.0, 8.0, 33)}
_QUICK = {"lr": 0.01, "records": 150, "sweep": np.linspace(-8.0, 8.0, 9)}


def make_task(seed: int = 0) -> dln.Task:
    """A whitened task: `Σxx = I`, `Σyx = U diag(SINGULAR_VALUES) Vᵀ` with random orthogonal
    `U`, `V` (no `Σyy`, so losses are measured above the minimum)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((N, N)))
    V, _ = np.linalg.qr(rng.standard_normal((N, N)))
    return dln.Task(np.eye(N), U @ np.diag(SINGULAR_VALUES) @ V.T)


def init_weights(lam: float, seed: int = INIT_SEED):
    """λ-balanced two-layer weights `[W1, W2]` (the same random draw for every λ)."""
    return dln.init.balanced(jax.random.key(seed), [N, N, N], SCALE, lam)


_ntk_movement = jax.jit(dln.regime.ntk_movement)


def _exact(task, weights, t):
    """Exact trajectory, blocks and convergence time from `weights` at times `t`."""
    sol = dln.riccati.two_layer_solution(task, weights)
    traj = sol.trajectory(t)
    blocks = sol.blocks(t)
    return {"sol": sol, "modes": np.asarray(traj.modes), "loss": np.asarray(traj.loss),
            "ntk": np.asarray(_ntk_movement(blocks)),
            "t_conv": dln.regime.convergence_time(sol, TOL)}


def compare(quick: bool = True):
    """All the numbers behind the figure.

    Returns a dict with the task, the record times `t`, and `runs`: for each λ in `LAMBDAS` the
    exact `modes`, `loss`, `ntk` (kernel movement) and `t_conv`, the simulated `sim_modes`,
    `sim_loss`, `sim_ntk`, `sim_final` (final `(W1ᵀW1, W2W2ᵀ)` eigenvalues) and `error` (largest
    |simulation − theory| of the modes); and `sweep`: for each λ in the sweep the eigenvalues of
    the exact limit representations, the convergence time and the final kernel movement.
    """
    cfg = _QUICK if quick else _FULL
    task = make_task()
    inits = {lam: init_weights(lam) for lam in LAMBDAS}
    for lam in (*LAMBDAS, *cfg["sweep"]):
        if dln.riccati.two_layer_solution(task, init_weights(float(lam))).any_stalled:
            raise RuntimeError(f"a mode stalls at λ = {lam:g} with INIT_SEED = {INIT_SEED}; "
                               "pick another seed.")
    # Run until the slowest λ (the rich one) has converged, plus a margin; one time grid for all.
    slowest = max(dln.regime.convergence_time(dln.riccati.two_layer_solution(task, w), TOL)
                  for w in inits.values())
    lr, records = cfg["lr"], cfg["records"]
    every = int(np.ceil(1.2 * slowest / lr / records))
    # Gradient descent for all λ in one batched run, with the weights recorded.
    sim = dln.simulate(task, [jnp.stack([inits[l][i] for l in LAMBDAS]) for i in range(2)],
                       lr=lr, steps=every * records, every=every, record_weights=True)
    t = np.asarray(sim.t[0])
    runs = {}
    for b, lam in enumerate(LAMBDAS):
        run = _exact(task, inits[lam], t)
        W1, W2 = (w[b] for w in sim.recorded_weights)
        sim_blocks = dln.riccati.Blocks.from_weights([W1, W2])
        run["sim_modes"] = np.asarray(sim.modes[b])
        run["sim_loss"] = np.asarray(sim.loss[b])
        run["sim_ntk"] = np.asarray(_ntk_movement(sim_blocks))
        run["sim_final"] = (np.linalg.eigvalsh(np.asarray(sim_blocks.input_similarity[-1])),
                            np.linalg.eigvalsh(np.asarray(sim_blocks.output_similarity[-1])))
        run["error"] = float(np.max(np.abs(run["sim_modes"] - run["modes"])))
        runs[lam] = run
    # The sweep over λ: exact limits, convergence times and final kernel movement.
    sweep = {"lam": np.asarray(cfg["sweep"]), "inner": [], "outer": [], "t_conv": [],
             "ntk": []}
    for lam in sweep["lam"]:
        sol = dln.riccati.two_layer_solution(task, init_weights(float(lam)))
        limit = sol.limit()
        sweep["inner"].append(np.linalg.eigvalsh(np.asarray(limit.input_similarity)))
        sweep["outer"].append(np.linalg.eigvalsh(np.asarray(limit.output_similarity)))
        sweep["t_conv"].append(dln.regime.convergence_time(sol, TOL))
        sweep["ntk"].append(float(_ntk_movement(sol.blocks(t))[-1]))
    sweep = {k: np.asarray(v) for k, v in sweep.items()}
    # The closed forms on a fine grid of λ (one vectorised call).
    fine = np.linspace(sweep["lam"][0], sweep["lam"][-1], 401)
    inner, outer = jax.vmap(lambda l: dln.riccati.converged_representations(task, l))(
        jnp.asarray(fine))
    theory = {"lam": fine, "inner": np.linalg.eigvalsh(np.asarray(inner)),
              "outer": np.linalg.eigvalsh(np.asarray(outer))}
    # How far the exact limits are from the closed forms (a check of both).
    closed = [dln.riccati.converged_representations(task, float(l)) for l in sweep["lam"]]
    sweep["closed_error"] = max(
        float(np.max(np.abs(np.linalg.eigvalsh(np.asarray(c[0])) - sweep["inner"][i])))
        + float(np.max(np.abs(np.linalg.eigvalsh(np.asarray(c[1])) - sweep["outer"][i])))
        for i, c in enumerate(closed))
    return {"task": task, "t": t, "lr": lr, "steps": every * records, "runs": runs,
            "sweep": sweep, "theory": theory}


# ------------------------------------------------------------------------------------ plots
def _handle(ax, ls, color, marker=None):
    """An invisible line with this style, as a legend handle."""
    return ax.plot([], [], ls=ls, color=color, marker=marker, mfc="none", lw=1.8, ms=5)[0]


def _plot(res, path):
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend needed

    t, runs, sweep, theory = res["t"], res["runs"], res["sweep"], res["theory"]
    s = np.asarray(res["task"].s)
    colors = {lam: c for lam, c in zip(LAMBDAS, ("C0", "C9", "k", "C1", "C3"))}
    mark = slice(None, None, max(1, len(t) // 25))
    fig = Figure(figsize=(14, 9.4), layout="constrained")
    (ax_l, ax_m, ax_k), (ax_i, ax_o, ax_c) = fig.subplots(2, 3)

    # ±λ give the same loss and kernel curves here (Ni = No and the weights are drawn alike):
    # −λ dashed on top of +λ solid, gradient descent circles for λ ≥ 0 and crosses for λ < 0,
    # and the legends say that they coincide.
    for lam, run in runs.items():
        style = dict(color=colors[lam], lw=1.8, ls="--" if lam < 0 else "-",
                     zorder=3 if lam < 0 else 2)
        sim_style = dict(color=colors[lam], ls="", ms=4 if lam < 0 else 5, zorder=4,
                         marker="x" if lam < 0 else "o", mfc="none", mew=1.0)
        ax_l.plot(t, np.maximum(run["loss"], 1e-30), **style)
        ax_l.plot(t[mark], np.maximum(run["sim_loss"][mark], 1e-30), **sim_style)
        ax_k.plot(t, run["ntk"], **style)
        ax_k.plot(t[mark], run["sim_ntk"][mark], **sim_style)
    pairs = [lam for lam in LAMBDAS if lam > 0 and -lam in LAMBDAS]
    handles, labels = [], []
    for lam in LAMBDAS:
        if lam < 0 and -lam in LAMBDAS:
            continue  # one entry for the pair
        if lam in pairs:
            handles.append((_handle(ax_l, "-", colors[lam]), _handle(ax_l, "--", colors[-lam])))
            labels.append(f"λ = ±{lam:g} (solid +, dashed −: they coincide)")
        else:
            handles.append(_handle(ax_l, "-", colors[lam]))
            labels.append(f"λ = {lam:g}")
    handles += [_handle(ax_l, "-", "gray"),
                (_handle(ax_l, "", "gray", marker="o"), _handle(ax_l, "", "gray", marker="x"))]
    labels += ["exact (dln.riccati)", f"gradient descent (lr = {res['lr']:g}): "
               "○ λ ≥ 0, × λ < 0"]
    from matplotlib.legend_handler import HandlerTuple

    ax_l.set_yscale("log")
    ax_l.set_ylim(1e-10, 1e5)  # (below, float64 round-off; above, room for the legend)
    ax_l.set_ylabel("loss above its minimum")
    ax_l.set_title("(a) loss: stages for λ = 0, exponential for large |λ|", fontsize=10)
    ax_l.legend(handles, labels, fontsize=8, handler_map={tuple: HandlerTuple(ndivide=None)},
                handlelength=3.2)
    ax_k.set_ylim(-0.02, 0.8)  # (room for the legend)
    ax_k.set_ylabel("kernel distance from the initial NTK")
    ax_k.set_title("(c) NTK movement: large when rich, small when lazy", fontsize=10)
    ax_k.legend(handles, labels, fontsize=8, handler_map={tuple: HandlerTuple(ndivide=None)},
                handlelength=3.2, loc="upper right")

    for lam, style in zip(MODE_LAMBDAS, ("-", "--")):
        run = runs[lam]
        for a in range(len(s)):
            ax_m.plot(t, run["modes"][:, a], style, color=f"C{a}", lw=1.6)
            ax_m.plot(t[mark], run["sim_modes"][mark, a], "o", color=f"C{a}", ms=3.5,
                      mfc="none")
    for a in range(len(s)):
        ax_m.annotate(f"s = {s[a]:g}", (t[-1], s[a]), xytext=(-4, 2), textcoords="offset points",
                      ha="right", va="bottom", color=f"C{a}", fontsize=9)
    lines = [ax_m.plot([], [], style, color="k")[0] for style in ("-", "--")]
    lines.append(ax_m.plot([], [], "o", color="k", mfc="none", ms=4)[0])
    ax_m.legend(lines, [f"λ = {MODE_LAMBDAS[0]:g} (rich), exact",
                        f"λ = {MODE_LAMBDAS[1]:g} (lazy), exact",
                        f"gradient descent (lr = {res['lr']:g})"], fontsize=9, loc="center right")
    ax_m.set_ylabel(r"mode strength $u_\alpha = U_\alpha^\top W_2W_1 V_\alpha$")
    ax_m.set_title("(b) modes: one after another (rich) or all together (lazy)", fontsize=10)
    for ax in (ax_l, ax_m, ax_k):
        ax.set_xlabel(r"flow time $t$ = lr × steps")
        ax.set_xlim(0, t[-1])
        ax.grid(alpha=0.3)

    for ax, key, _name in ((ax_i, "inner", r"input side $W_1^\top W_1$"),
                          (ax_o, "outer", r"output side $W_2 W_2^\top$")):
        for a in range(len(s)):  # eigenvalues ascending, so column N−1−a belongs to s[a]
            col = len(s) - 1 - a
            ax.plot(theory["lam"], theory[key][:, col], color=f"C{a}", lw=1.6,
                    label=f"s = {s[a]:g}")
            ax.plot(sweep["lam"], sweep[key][:, col], "o", color=f"C{a}", ms=5, mfc="none")
            ax.plot(LAMBDAS, [runs[l]["sim_final"][0 if key == "inner" else 1][col]
                              for l in LAMBDAS], "s", color=f"C{a}", ms=3)
        ax.set_yscale("log")
        ax.set_xlabel("imbalance λ")
        ax.set_ylabel("eigenvalue at convergence")
        ax.grid(alpha=0.3, which="both")
    ax_i.set_title("(d) converged " + r"$W_1^\top W_1$" + r": $\to s^2/\lambda$ for λ ≫ 0, "
                   r"$\to |\lambda|$ for λ ≪ 0", fontsize=10)
    ax_o.set_title("(e) converged " + r"$W_2 W_2^\top$" + r": $\to \lambda$ for λ ≫ 0, "
                   r"$\to s^2/|\lambda|$ for λ ≪ 0", fontsize=10)
    for ax in (ax_i, ax_o):
        marks = [_handle(ax, "-", f"C{a}") for a in range(len(s))]
        marks += [_handle(ax, "-", "k"), _handle(ax, "", "k", marker="o"),
                  ax.plot([], [], "s", color="k", ms=3)[0]]
        ax.legend(marks, [f"s = {v:g}" for v in s]
                  + ["closed form (converged_representations)", "exact limit of the flow",
                     "gradient descent, end of run"], fontsize=8, loc="upper center", ncol=2)
        ax.set_ylim(top=ax.get_ylim()[1] * 40)  # (room for the legend)

    ax_c.plot(sweep["lam"], sweep["t_conv"], "o-", color="C3", lw=1.6)
    ax_c.set_xlabel("imbalance λ")
    ax_c.set_ylabel(f"flow time to converge (excess loss ≤ {TOL:g} × initial)", color="C3")
    ax_c.set_yscale("log")
    ax_c.grid(alpha=0.3, which="both")
    ax_n = ax_c.twinx()
    ax_n.plot(sweep["lam"], sweep["ntk"], "s--", color="C0", lw=1.4, ms=4)
    ax_n.set_ylabel(f"NTK movement at the end, t = {t[-1]:.3g}", color="C0")
    ax_n.set_ylim(0, 1.3 * float(np.max(sweep["ntk"])))  # (room for the legend)
    ax_c.set_ylim(top=ax_c.get_ylim()[1] * 4)
    ax_c.set_title("(f) rich near λ = 0: slow, kernel moves; lazy at large |λ|", fontsize=10)
    ax_c.legend([ax_c.lines[0], ax_n.lines[0]],
                ["convergence time, exact (left axis, log)",
                 "final NTK movement, exact (right axis)"], fontsize=8, loc="upper left")

    fig.suptitle(f"Dominé et al. 2025: from lazy to rich. Two-layer linear network {N}-{N}-{N}, "
                 f"whitened task with s = {', '.join(f'{v:g}' for v in s)}, λ-balanced init "
                 f"(scale {SCALE:g}).\nTop row: lines exact (dln.riccati), markers gradient "
                 "descent",
                 fontsize=11)
    fig.savefig(path, dpi=100)
    return path


def summary(res) -> str:
    """The printed report: per λ, convergence time, final kernel movement, simulation error."""
    lines = [f"gradient descent: lr = {res['lr']:g}, {res['steps']} steps "
             f"(flow time {res['t'][-1]:.3g}), {len(res['t'])} records",
             "     λ   convergence time   final NTK movement   max |simulation − theory| (modes)"]
    for lam, run in res["runs"].items():
        lines.append(f"  {lam:>4g}   {run['t_conv']:>16.4g}   {run['ntk'][-1]:>18.3f}   "
                     f"{run['error']:.2e}")
    sw = res["sweep"]
    lines.append(f"sweep over {len(sw['lam'])} values of λ in [{sw['lam'][0]:g}, "
                 f"{sw['lam'][-1]:g}]: largest |exact limit − closed form| of the converged "
                 f"representations = {sw['closed_error']:.2e}")
    return "\n".join(lines)


def main(out_dir="out", quick=False):
    """Compute the figure, print the summary, and return the paths of the written PNGs.

    Turn on float64 first (`jax.config.update("jax_enable_x64", True)`), as the script does.
    """
    os.makedirs(out_dir, exist_ok=True)
    res = compare(quick)
    print(summary(res))
    return [_plot(res, os.path.join(out_dir, "lazy_rich.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
