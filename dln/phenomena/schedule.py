"""Task schedules (curricula): train on task A for a duration, then on task B, then …

A schedule is a sequence of `(task, duration)` pairs, durations in flow time (`t = lr × steps`).
The network follows the gradient flow of phase p's loss `L_p(W) = 1/(2P) Σ_μ ||y_μ − ŷ_μ||²`
(`dW_l/dt = −∂L_p/∂W_l`) for its duration, then the next phase starts from where it stopped.
This is the multi-task pre-training protocol of Kleinman, Achille & Soatto (2024,
arXiv:2308.12221; docs/theory/completion.md): pre-train on task A for T, then train on task B,
and ask how the final performance on B depends on T, on depth and on how A and B relate
(`dln.task_pairs`, `dln.transfer`).

A schedule is the phases of a `dln.Protocol`; `solve` and `simulate` here are
`dln.solve(dln.Protocol(schedule, depth=D), ...)` and `dln.simulate(dln.Protocol(...), ...)`
with the schedule's own argument checks and defaults:

- `solve(schedule, weights=..., t=...)`: the exact flow, phase by phase, through `dln.solve`:
  two λ-balanced layers with isotropic input give the closed-form Riccati solution in every
  phase (`"exact-riccati"`). Chaining it is exact: the flow conserves `W2ᵀW2 − W1W1ᵀ = λI`, so
  the final weights of one phase are λ-balanced again, and `Trajectory.final_weights` (exact up
  to a rotation of the hidden layer, which no observable and no later flow sees) seed the next
  phase. Anything else (deeper networks from non-aligned weights, correlated input) is the
  numerically integrated flow (`"numerical-flow"`, with an error estimate), labelled as such.
- `simulate(schedule, weights, lr=...)`: gradient descent, the whole schedule in the one
  gradient-descent loop (`dln.simulation.phases`), batched over the phase durations (e.g. over
  the pre-training length T) and over initial weights in one compiled call. The task of each
  step is picked inside the loop from the stacked task statistics, so a batch of schedules with
  different switch times costs one loop; a schedule that ends before the longest one is frozen
  (no more steps) until the end.

**The reversal stall.** Gradient flow cannot change the sign of a mode: if task B asks for the
opposite of what the network learned on A (`B = −A`, `dln.task_pairs.reversal`), each mode of
B starts with the wrong sign, exactly on the stable manifold of the saddle at 0 for aligned
weights, so it stalls forever (`ScheduleTrajectory.stalled`, found exactly by the Riccati
solution), and escapes only through the residual components a random init leaves, after a time
that grows like `log(1 / residual)`, i.e. with the pre-training length.
"""

from __future__ import annotations

from dln._checks import as_array, check_bool, check_int, check_real
from dln.network import check_weights
from dln.protocol import Protocol, parse_phases
from dln.protocol import phase_bounds as phase_bounds
from dln.simulate import simulate as _simulate
from dln.simulation.phases import record_phases, steps_of
from dln.solve import solve as _solve
from dln.tasks.task import Task
from dln.trajectory import Trajectory, phase_trajectory

__all__ = ["ScheduleTrajectory", "schedule_trajectory", "solve", "simulate", "phase_bounds",
           "parse_schedule", "record_phases", "steps_of"]


# The result of a schedule is a `dln.Trajectory` with its schedule fields (`tasks`, `phase`,
# `bounds`, `phase_loss`, `phase_methods`); `ScheduleTrajectory` stays as a documented alias,
# as do the names of the helpers that moved to `dln.protocol` and `dln.simulation.phases`.
ScheduleTrajectory = Trajectory
schedule_trajectory = phase_trajectory


def parse_schedule(schedule, kind=Task, kind_name: str = "dln.Task"):
    """`dln.protocol.parse_phases` of a schedule: `(items, bounds, batched)`."""
    return parse_phases(schedule, kind, kind_name)


# --------------------------------------------------------------------------------- exact flow
def solve(schedule, *, weights, t=None, rtol: float = 1e-11) -> ScheduleTrajectory:
    """The exact gradient flow through a schedule of tasks, phase by phase with `dln.solve`.

    Args:
      schedule: list of `(task, duration)` pairs; durations are flow times `>= 0`, a scalar or
        a `(B,)` array to solve B schedules (e.g. a sweep over the pre-training length).
      weights: initial weights `[W1, …, WD]` (unbatched). Two λ-balanced layers with isotropic
        input (`dln.init.balanced`, `dln.init.aligned`) give the closed form in every phase.
      t: record times `(T,)` (flow time from the start of the schedule, any `>= 0`); default
        the union of all phase boundaries. Records after a schedule's end hold its final map.
      rtol: tolerance of numerically integrated phases (`dln.numerical_flow`).

    Returns:
      A `ScheduleTrajectory` (see its attributes; `methods` says which phases are exact).
    """
    tasks, _, _ = phase_bounds(schedule)
    weights = check_weights(tasks[0], weights, allow_batch=False)
    rtol = check_real(rtol, "rtol", low=0.0, strict=True, high=1.0)
    return _solve(Protocol(list(schedule), depth=len(weights)), weights=weights, t=t, rtol=rtol)


# --------------------------------------------------------------------------- gradient descent
def simulate(schedule, weights, *, lr, every: int = 1, check_lr: bool = True,
             on_divergence: str = "raise") -> ScheduleTrajectory:
    """Gradient descent `W_l ← W_l − lr ∂L_p/∂W_l` through a schedule, in one compiled loop.

    Args:
      schedule: list of `(task, duration)` pairs, durations in flow time, each a multiple of
        `lr` (`steps = duration / lr`); a `(B,)` array of durations runs B schedules at once
        (one `vmap`-ed loop; e.g. all pre-training lengths of a transfer experiment).
      weights: `[W1, …, WD]`, or with a leading batch axis `(B, out, in)` (zipped with batched
        durations, so B must agree).
      lr: learning rate (a scalar).
      every: record every `every` steps (records at steps 0, every, … up to the end of the
        longest schedule, rounded up).
      check_lr: raise if `lr >= dln.lr_bound` of some task of the schedule.
      on_divergence: `"raise"` (`dln.DivergenceError`) or `"warn"`.

    Returns:
      A `ScheduleTrajectory` with `methods = ("simulation", …)` and `t = lr × step`.
    """
    tasks, _, _ = phase_bounds(schedule)  # its errors name `schedule[i]`
    ws = check_weights(tasks[0], weights)
    lr = float(as_array(lr, "lr", ndim=0))  # one number (dln.simulate also takes schedules)
    check_int(every, "every", 1, what=" (record every `every` steps)")
    check_bool(check_lr, "check_lr")
    # the rest (lr > 0, the stability limit on every task, whole numbers of steps, zipped
    # batches, divergence) is dln.simulate's
    return _simulate(Protocol(list(schedule), depth=len(ws)), ws, lr=lr, every=every,
                     check_lr=check_lr, on_divergence=on_divergence)
