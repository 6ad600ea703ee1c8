"""Critical learning periods in competing deep linear pathways (Kleinman, Achille & Soatto 2024).

Reproduces the pathway-competition figures of

    Kleinman, Achille and Soatto, "Critical Learning Periods Emerge Even in Deep Linear
    Networks", ICLR 2024, arXiv:2308.12221 (docs/theory/pathways.md),

with the exact piecewise solution of `dln.pathways.solve` (derivation page
`docs/derivations/pathways.md`) checked against gradient descent (`dln.pathways.simulate`).

**The model.** Two parallel pathways a and b of depth D share the input and are summed at the
output, `ŷ = Ω_a x + Ω_b x`. From small, balanced weights aligned with the task's modes, the
strength `K_p` of a mode in pathway p obeys

    dK_p/dt = D K_p^{2−2/D} (s − λ (K_a + K_b)),

both pathways seeing the same error. A **deficit** on pathway b over `[onset, onset + length)`
freezes its plasticity (`pathways.Freeze(1, onset, length)`; Kleinman's `output_b.detach()`):
b still contributes its output but gets no gradient. Along the flow a conserved quantity fixes
the competition (`K_a − K_b` for D = 1, `K_a/K_b` for D = 2, `K_a^{2/D−1} − K_b^{2/D−1}` for
D ≥ 3), so whatever lead a gains while b is frozen is kept for ever once the mode is learned.

**The task.** The 8-item, 15-feature binary hierarchy (`dln.datasets.hierarchy(3)`: one-hot
items, `λ = 1/8`, singular values `√15/8, √7/8, √3/8 (×2), 1/8 (×4)`), the data of Kleinman's
Fig. 2 and 3.

**Flow time and the paper's epochs.** The paper's code takes full-batch steps of `dt = 0.01` on
the summed loss `½ Σ_μ ||ŷ_μ − y_μ||²`, which is `P = 8` times dln's mean loss. One of its epochs
is therefore one gradient step with dln's `lr = 0.08`, i.e. `0.08` units of flow time:
1000 epochs ↔ `t = 80`, a 150-epoch deficit ↔ length 12, onsets of 400 and 750 epochs ↔ 32 and
60, the Fig. 3 window of 200 epochs ↔ `[0, 16)`. Gradient descent in panel (d) runs exactly the
paper's 1000 steps at that learning rate.

**Figure, `kleinman2024_pathways.png`.** Time is flow time `t = lr × steps` throughout (one
epoch of the paper's code is 0.08).

- (a, b) Phase portraits of one mode (`s = √15/8`, target `K_a + K_b = √15`, dotted) in the
  `(K_a, K_b)` plane, log axes, for depth 2 (a) and depth 4 (b), from 8 random small initial
  strengths `K_p(0) = 0.01·exp(0.2 ξ)` (the same 8 for both depths): no deficit (thick grey), an
  early deficit `[0, 2)` (red) and a late one `[40, 42)` after learning (blue, dashed, exactly on
  top of the grey ones, as the legend says); dots mark the state at `t = 80`, the thin diagonal
  the equal split. Exact trajectories. At depth 2 the undisturbed trajectories are straight lines
  of slope 1 (the ratio is conserved); an early deficit moves them horizontally (a grows alone)
  and they then keep the new ratio. At depth 4 the same early window sends a much further ahead,
  and even without a deficit small initial differences are amplified (rich get richer). The late
  deficit does nothing: the error is already zero.
- (c) Depth sweep: pathway b's final share `K_b/(K_a + K_b)` of that mode (exact limits
  `t → ∞`) after the early deficit `[0, 2)` and the late one `[40, 42)`, from equal initial
  strengths `K_a(0) = K_b(0) = 0.01`, so that any asymmetry is the deficit's (without one the
  share is ½). The early deficit's damage grows with depth (at fixed initial strength deeper
  pathways learn later, yet the head start a gains in the window is amplified more); the late
  deficit does nothing at any depth. Grey band: the spread (min–max) of the final share over
  the 8 random initial conditions of (a, b) without a deficit: depth also amplifies small
  initial differences, so that from random inits the deep network's split is decided at the
  start. (Averaged over random inits, the early deficit's effect is mixed with this spread; the
  summary prints both.)
- (d) The deficit-onset sweep of Kleinman's Fig. 2: depth 4, the hierarchy, both pathways from
  `K_α(0) = 0.01(1 + 0.1 ξ_α)` sorted descending (seed 0; the same for both pathways, so without
  a deficit every mode is shared ½–½), a deficit of length 12 (150 epochs) on b at each onset.
  Pathway b's final share of each mode against the onset (bottom axis flow time, top axis the
  paper's epochs): exact lines (at `t = 80`), gradient descent open circles (one `vmap`-ed
  `dln.pathways.simulate` call over all onsets); dotted verticals at the paper's onsets. Colour
  is the mode's singular value, line style tells apart the modes of equal `s` (2–3, 4–7),
  whose curves nearly coincide. A mode is damaged only if the window overlaps its learning;
  strong modes are learned first, so their critical period ends first, and deficits after about
  `t = 60` do nothing. At onset 32 (400 epochs) only the weakest modes are still learned, and b
  keeps about 0.15 of them.
- (e) Lesion plus deprivation (Kleinman's Fig. 3, Guillery-style): mode 1 is permanently
  lesioned in pathway a (`pathways.Lesion(0, 1)`: a can never carry it), and b is deprived
  early, `[0, 16)` (200 epochs, shaded); depth 4 here (the paper used depth 3; full mode prints
  the depth-3 split too). Pathway b's strength of each mode as a fraction of the mode's target
  `s/λ`, log scale, against time: during the window a learns every mode it can, and afterwards
  b, though deprived, is not dead: it learns the lesioned mode 1 completely (fraction 1) while
  the modes a already holds stay with a. Lines exact, open circles gradient descent with the
  lesion applied to the input (`Lesion` in `simulate`). In the exact solution a lesioned mode is
  a mode of strength 0 in that pathway (a fixed point of the flow for depth ≥ 2), which is what
  `solve(..., deficit=[Lesion(0, 1), …])` does too.
- (f) Deprivation alone, for comparison (exact, same log scale): the same window without the
  lesion; b keeps only scraps of every mode (at most 0.04 of a target), mode 1 included.

Full mode sweeps depths 1–8 and 36 onsets; `--quick` uses depths 2 and 4 and 12 onsets.
The script prints the depth table, the final shares of the Fig. 2 onsets (0, 32, 60), the
lesion split, and the largest gap between gradient descent and the exact solution. Run it with

    python examples/kleinman2024_pathways.py [--out DIR] [--quick]
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
EPOCH = 0.08  # flow time of one epoch of the paper's code (module docstring)
HORIZON = 1000 * EPOCH  # t = 80
LR = EPOCH  # gradient descent: one step per epoch, the paper's 1000 steps
STEPS = 1000
DEPTH = 4  # Fig. 2 and, here, Fig. 3
FIG2_LENGTH = 150 * EPOCH  # 12
FIG2_ONSETS = (0.0, 400 * EPOCH, 750 * EPOCH)  # 0, 32, 60
LESION = (0, 1)  # (pathway, mode): mode 1 lesioned in pathway a
LESION_WINDOW = (0.0, 200 * EPOCH)  # pathway b deprived on [0, 16)
PHASE_DEPTHS = (2, 4)
PHASE_S2 = 15.0  # the phase-portrait mode: s = √15/8, λ = 1/8 (the hierarchy's first mode)
EQUAL_INIT = 0.01  # the depth sweep's equal initial strengths
PHASE_WINDOWS = {"none": (0.0, 0.0), "early": (0.0, 2.0), "late": (40.0, 2.0)}
SIM_EVERY = 25  # records of the lesion simulation (every 2 time units)
_FULL = {"depths": (1, 2, 3, 4, 5, 6, 8), "onsets": np.arange(0.0, 72.0, 2.0)}
_QUICK = {"depths": (2, 4), "onsets": np.linspace(0.0, 66.0, 12)}


def _grid():
    """Record times: every 0.25 up to t = 24 (the learning), then every 1 up to 80."""
    return np.concatenate([np.linspace(0.0, 24.0, 97)[:-1], np.linspace(24.0, HORIZON, 57)])


def _fig2_init():
    """Kleinman's Fig. 2 init: `K_α(0) = 0.01(1 + 0.1 ξ_α)` sorted descending (seed 0)."""
    rng = np.random.default_rng(0)
    return np.sort(0.01 * (1.0 + 0.1 * rng.normal(size=2**LEVELS)))[::-1]


def _phase_task():
    """8 items, 8 modes all equal to the hierarchy's first (`s = √15/8`, `λ = 1/8`): one mode
    seen from 8 initial conditions at once. Same shapes and fields as the hierarchy task, so
    both go through one compiled solver."""
    P = 2**LEVELS
    return dln.Task.from_data(np.eye(P), np.sqrt(PHASE_S2) * np.eye(P, 2 ** (LEVELS + 1) - 1))


@functools.partial(jax.jit, static_argnames="depth")
def _solve_rows(task, t, u0, onset, length, *, depth):
    """Exact trajectories `(B, T, 2, K)` and limits `(B, 2, K)` for a batch of initial strengths
    `u0 (B, 2, K)` and deficit windows on pathway b: one compiled call per depth."""

    def one(u, on, ell):
        traj = pathways.solve(task, depth=depth, u0=(u[0], u[1]), t=t,
                              deficit=pathways.Freeze(1, on, ell))
        return traj.modes, traj.final

    return jax.vmap(one)(u0, onset, length)


def _rows(task, depth, t, u0, windows):
    u0 = jnp.asarray(np.stack(u0))
    on, ell = (jnp.asarray([w[i] for w in windows], dtype=float) for i in (0, 1))
    modes, final = _solve_rows(task, jnp.asarray(t), u0, on, ell, depth=depth)
    modes, final = np.asarray(modes), np.asarray(final)
    if not (np.all(np.isfinite(modes)) and np.all(np.isfinite(final))):
        raise FloatingPointError(f"the exact solution at depth {depth} is not finite")
    return modes, final


def _share_b(modes):
    return np.asarray(measures.shares(jnp.asarray(modes)))[..., 1, :]


def compare(quick: bool = True):
    """All the numbers behind the figure.

    Returns a dict with `t` (record times), `phase` (depth → exact trajectories `(3, T, 2, 8)`
    of the 8 initial conditions, rows none/early/late), `sweep` (depth → b's final shares
    `(3, 8)`, rows none/early/late), `onsets`, `exact_onset` (`(N, K)` b's share at t = 80,
    depth 4), `sim_onset` (the same from gradient descent), `fig2` (b's shares at the paper's
    three onsets), `lesion` / `deprived` (exact `(T, 2, K)`), `lesion_sim` (simulation), the
    gaps between simulation and theory, and the depth-3 lesion split when computed.
    """
    cfg = _QUICK if quick else _FULL
    task, phase_task = datasets.hierarchy(LEVELS), _phase_task()
    K = task.n_modes
    t = _grid()
    k0 = _fig2_init()
    rng = np.random.default_rng(1)
    phase_u0 = 0.01 * np.exp(0.2 * rng.normal(size=(2, K)))
    onsets = np.asarray(cfg["onsets"], float)
    # rows of the hierarchy batch: the onset sweep, the Fig. 2 onsets, deprivation, lesion
    lesioned = np.stack([k0, k0])
    lesioned[LESION] = 0.0  # a lesioned mode: strength 0 in that pathway, never plastic
    windows = ([(o, FIG2_LENGTH) for o in onsets] + [(o, FIG2_LENGTH) for o in FIG2_ONSETS]
               + [LESION_WINDOW, LESION_WINDOW])
    u0s = [np.stack([k0, k0])] * (len(windows) - 1) + [lesioned]
    B = len(windows)
    # rows of the phase batch: 8 random inits (none, early, late), equal inits (early, late)
    phase_windows = list(PHASE_WINDOWS.values()) + [PHASE_WINDOWS["early"],
                                                    PHASE_WINDOWS["late"]]
    equal = np.full((2, K), EQUAL_INIT)
    phase_u0s = [phase_u0] * 3 + [equal] * 2
    phase_windows += [phase_windows[0]] * (B - len(phase_windows))  # same batch: one compile
    phase_u0s += [phase_u0] * (B - len(phase_u0s))

    out = {"t": t, "onsets": onsets, "phase": {}, "sweep": {}, "sweep_equal": {},
           "depths": cfg["depths"]}
    for depth in sorted(set(cfg["depths"]) | set(PHASE_DEPTHS) | {DEPTH}):
        modes, final = _rows(phase_task, depth, t, phase_u0s, phase_windows)
        out["phase"][depth] = modes[:3]
        share = _share_b(final)  # (whole batches: one shape, one compile)
        out["sweep"][depth], out["sweep_equal"][depth] = share[:3], share[3:5, 0]
        modes, final = _rows(task, depth, t, u0s, windows)
        if depth == DEPTH:
            n = len(onsets)
            share = _share_b(modes[:, -1])
            out["exact_onset"], out["fig2"] = share[:n], share[n:n + 3]
            out["fig2_limit_gap"] = float(np.max(np.abs(modes[:n + 3, -1] - final[:n + 3])))
            out["deprived"], out["lesion"] = modes[-2], modes[-1]
            out["lesion_final"] = final[-1]
        if depth == 3:
            out["lesion_final_depth3"] = final[-1]

    # gradient descent: one vmap-ed call over all onsets (depth 4, the paper's 1000 steps)
    w = pathways.aligned(task, DEPTH, (k0, k0))
    sim = pathways.simulate(task, w, lr=LR, steps=STEPS, every=STEPS,
                            deficit=pathways.Freeze(1, jnp.asarray(onsets),
                                                    jnp.full(len(onsets), FIG2_LENGTH)))
    out["sim_onset"] = _share_b(np.asarray(sim.modes[:, -1]))
    out["sim_onset_gap"] = float(np.max(np.abs(out["sim_onset"] - out["exact_onset"])))
    # lesion plus deprivation, simulated with the lesion on the input
    sim = pathways.simulate(task, w, lr=LR, steps=STEPS, every=SIM_EVERY,
                            deficit=[pathways.Lesion(*LESION), pathways.Freeze(1, *LESION_WINDOW)])
    ts = np.asarray(sim.t)
    idx = np.array([int(np.argmin(np.abs(t - x))) for x in ts])
    assert np.allclose(t[idx], ts), "the simulation records must be on the exact grid"
    out["lesion_sim"], out["lesion_sim_t"] = np.asarray(sim.modes), ts
    targets = np.asarray(task.mode_targets)
    out["lesion_sim_gap"] = float(np.max(np.abs(out["lesion_sim"] - out["lesion"][idx])
                                         / targets))
    out["task"] = task
    return out


def summary(res) -> str:
    lines = [f"flow time = {EPOCH} x epochs (lr {LR} on the mean loss = the paper's 0.01 on the "
             f"summed loss); horizon t = {HORIZON:g}, Fig. 2 deficit length {FIG2_LENGTH:g}"]
    lines.append("(a–c) one mode s = √15/8: pathway b's final share; equal inits "
                 f"{EQUAL_INIT:g}: early / late deficit; 8 random inits: mean [min, max]")
    for depth in sorted(res["sweep"]):
        sh = res["sweep"][depth]
        cells = [f"{name} {row.mean():.3f} [{row.min():.3f}, {row.max():.3f}]"
                 for name, row in zip(PHASE_WINDOWS, sh)]
        early, late = res["sweep_equal"][depth]
        lines.append(f"  depth {depth}: equal inits early {early:.3f}, late {late:.3f}; "
                     "random inits " + "; ".join(cells))
    lines.append(f"(d) depth {DEPTH}, hierarchy, deficit length {FIG2_LENGTH:g}: b's share per "
                 "mode at t = 80 (exact)")
    for o, row in zip(FIG2_ONSETS, res["fig2"]):
        lines.append(f"  onset {o:4.0f} ({o / EPOCH:.0f} epochs): "
                     + " ".join(f"{x:.3f}" for x in row))
    lines.append(f"  largest |GD − exact| share over {len(res['onsets'])} onsets: "
                 f"{res['sim_onset_gap']:.2e} (t = 80 vs t → ∞: {res['fig2_limit_gap']:.1e})")
    targets = np.asarray(res["task"].mode_targets)
    fin = res["lesion_final"]
    lines.append(f"(e) mode {LESION[1]} lesioned in pathway a, b deprived on "
                 f"[{LESION_WINDOW[0]:g}, {LESION_WINDOW[1]:g}): b's final strength / target "
                 "per mode " + " ".join(f"{x:.3f}" for x in fin[1] / targets))
    if "lesion_final_depth3" in res:
        lines.append("    depth 3: " + " ".join(
            f"{x:.3f}" for x in res["lesion_final_depth3"][1] / targets))
    lines.append("    largest |GD − exact| strength / target over time: "
                 f"{res['lesion_sim_gap']:.2e} (O(lr) delay of the steep rise)")
    lines.append("(f) without the lesion (t = 80): "
                 + " ".join(f"{x:.3f}" for x in res["deprived"][-1, 1] / targets))
    return "\n".join(lines)


def _mode_styles(s):
    """Colour per distinct singular value, line style per mode within a group of equal `s`
    (modes of equal `s` start within ~10 % of each other and nearly coincide)."""
    import matplotlib.pyplot as plt

    groups = sorted({round(float(x), 9) for x in s}, reverse=True)
    palette = plt.cm.viridis(np.linspace(0.0, 0.85, len(groups)))
    dashes = ("-", "--", ":", "-.")
    styles, seen = [], {}
    for x in s:
        g = groups.index(round(float(x), 9))
        styles.append((palette[g], dashes[seen.get(g, 0) % len(dashes)]))
        seen[g] = seen.get(g, 0) + 1
    return styles


def _plot(res, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(2, 3, figsize=(14, 10))
    colors = {"none": "0.55", "early": "tab:red", "late": "tab:blue"}
    names = {"none": "no deficit",
             "early": "early deficit on b, t ∈ [{:g}, {:g})",
             "late": "late deficit on b, t ∈ [{:g}, {:g})\n(dashed: on top of no deficit)"}
    target = np.sqrt(PHASE_S2)
    legend_kw = {"fontsize": 8, "framealpha": 0.9}
    circle = {"ls": "none", "marker": "o", "mfc": "none", "color": "0.3"}
    # (a), (b) phase portraits
    for ax, depth, letter in zip(axes[0, :2], PHASE_DEPTHS, "ab"):
        modes = res["phase"][depth]
        for row, name in enumerate(PHASE_WINDOWS):
            on, ell = PHASE_WINDOWS[name]
            for k in range(modes.shape[-1]):
                ka, kb = modes[row, :, 0, k], modes[row, :, 1, k]
                ax.plot(ka, kb, "--" if name == "late" else "-", color=colors[name],
                        lw=3.0 if name == "none" else 1.1,
                        label=names[name].format(on, on + ell) if k == 0 else None)
                ax.plot(ka[-1], kb[-1], "o", ms=3.5, color=colors[name])
        xs = np.logspace(-3, np.log10(target * 0.999), 200)
        ax.plot(xs, target - xs, ":", color="k", lw=1.0,
                label="$K_a + K_b = s/\\lambda$ (mode learned)")
        ax.plot([1e-3, 10], [1e-3, 10], color="k", lw=0.5, label="$K_a = K_b$ (equal split)")
        ax.plot([], [], "o", ms=3.5, color="0.3", label=f"state at t = {HORIZON:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(3e-3, 8)
        ax.set_ylim(1e-3, 8)
        ax.set_xlabel("$K_a$: the mode's strength in pathway a")
        ax.set_ylabel("$K_b$: the mode's strength in pathway b")
        ax.set_title(f"({letter}) depth {depth}: one mode (s = √15/8), 8 random inits, exact",
                     fontsize=10)
        if letter == "a":
            ax.legend(loc="upper left", **legend_kw)
        else:
            ax.text(0.03, 0.97, "lines and dots as in (a)", transform=ax.transAxes, va="top",
                    fontsize=8)
    # (c) depth sweep
    ax = axes[0, 2]
    depths = sorted(res["sweep"])
    none = np.array([res["sweep"][d][0] for d in depths])
    ax.fill_between(depths, none.min(1), none.max(1), color=colors["none"], alpha=0.25,
                    label="no deficit: min–max over the 8 random inits of (a, b)")
    for col, name in enumerate(("early", "late")):
        on, ell = PHASE_WINDOWS[name]
        sh = [res["sweep_equal"][d][col] for d in depths]
        ax.plot(depths, sh, "o--" if name == "late" else "o-", color=colors[name],
                label=f"{name} deficit t ∈ [{on:g}, {on + ell:g}), equal inits {EQUAL_INIT:g}")
    ax.set_xticks(depths)
    ax.set_xlabel("depth D (layers per pathway)")
    ax.set_ylabel("pathway b's final share $K_b/(K_a+K_b)$ ($t \\to \\infty$)")
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title("(c) depth sweep, one mode, exact limits", fontsize=10)
    ax.legend(loc="upper center", **legend_kw)
    # (d) onset sweep
    ax = axes[1, 0]
    s = np.asarray(res["task"].s)
    targets = np.asarray(res["task"].mode_targets)
    styles = _mode_styles(s)
    for k in range(len(s)):
        c, ls = styles[k]
        ax.plot(res["onsets"], res["exact_onset"][:, k], ls, color=c, lw=1.4)
        ax.plot(res["onsets"], res["sim_onset"][:, k], "o", mfc="none", ms=4.5, color=c)
    for o in FIG2_ONSETS:
        ax.axvline(o, color="k", lw=0.5, ls=":")
    ax.set_xlabel(f"deficit onset: flow time t = lr × steps (1 epoch = {EPOCH:g})")
    ax.set_ylabel(f"pathway b's share $K_b/(K_a+K_b)$ at t = {HORIZON:g}")
    ax.set_title(f"(d) depth {DEPTH}, hierarchy: deficit of length {FIG2_LENGTH:g} on b",
                 fontsize=10)
    top = ax.secondary_xaxis("top", functions=(lambda x: x / EPOCH, lambda e: e * EPOCH))
    top.set_xlabel("deficit onset in the paper's epochs", fontsize=8)
    top.tick_params(labelsize=8)
    ax.legend(handles=[Line2D([], [], color="0.3", label="exact (dln.pathways.solve)"),
                       Line2D([], [], **circle, label=f"gradient descent (lr {LR:g}, "
                                                      f"{STEPS} steps)"),
                       Line2D([], [], ls=":", lw=0.5, color="k",
                              label="the paper's Fig. 2 onsets (0, 400, 750 epochs)")],
              loc="upper right", **legend_kw)
    ax.set_ylim(-0.02, 0.76)  # room for the legend above the ½–½ plateau
    ax.set_yticks(np.linspace(0.0, 0.5, 6))
    # (e), (f) lesion plus deprivation, deprivation alone
    window = Patch(color="tab:red", alpha=0.2, label=f"b deprived (frozen), "
                   f"t ∈ [{LESION_WINDOW[0]:g}, {LESION_WINDOW[1]:g})")
    for ax, key, title in ((axes[1, 1], "lesion", f"(e) mode {LESION[1]} lesioned in a, "
                            "b deprived"), (axes[1, 2], "deprived", "(f) b deprived, no lesion")):
        frac = res[key][:, 1] / targets
        for k in range(len(s)):
            c, ls = styles[k]
            ax.plot(res["t"], frac[:, k], ls, color=c, lw=2.6 if k == LESION[1] else 1.2)
        handles = [Line2D([], [], color="0.3", label="exact")]
        if key == "lesion":
            sim = res["lesion_sim"][:, 1] / targets
            for k in range(len(s)):
                ax.plot(res["lesion_sim_t"], sim[:, k], "o", mfc="none", ms=3.5,
                        color=styles[k][0])
            handles.append(Line2D([], [], **circle, label=f"gradient descent (lr {LR:g})"))
        ax.axvspan(*LESION_WINDOW, color="tab:red", alpha=0.1)
        ax.set_xlabel(f"flow time t = lr × steps (1 epoch = {EPOCH:g})")
        ax.set_ylabel("pathway b's strength / target, $K_b\\lambda/s$ (log scale)")
        ax.set_yscale("log")
        ax.set_ylim(1e-3, 3.0)
        ax.set_title(title + f", depth {DEPTH}", fontsize=10)
        ax.legend(handles=handles + [window], loc="center right",
                  bbox_to_anchor=(1.0, 0.62 if key == "lesion" else 0.85), **legend_kw)
    mode_handles = [Line2D([], [], color=c, ls=ls, lw=2.6 if k == LESION[1] else 1.4,
                           label=f"mode {k}: s = {s[k]:.3f}"
                                 + (" (lesioned in a in (e))" if k == LESION[1] else ""))
                    for k, (c, ls) in enumerate(styles)]
    fig.legend(handles=mode_handles, loc="lower center", ncol=4, fontsize=8,
               title="(d)–(f): the hierarchy's modes; colour = singular value s, line style = "
                     "mode within a group of equal s (their curves nearly coincide)",
               title_fontsize=8)
    fig.suptitle("Kleinman, Achille & Soatto 2024: an early deficit on pathway b is permanent, "
                 "a late one is harmless; depth amplifies the competition", fontsize=11)
    fig.tight_layout(rect=(0, 0.075, 1, 1))
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
    return [_plot(res, os.path.join(out_dir, "kleinman2024_pathways.png"))]


if __name__ == "__main__":
    from _cli import run  # examples/_cli.py: float64, Agg backend, --out and --quick

    run(main, __doc__)
