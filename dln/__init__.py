"""dln: exact learning dynamics of deep linear networks, checked against JAX simulation.

The public names:

- `Task`: a regression task through its correlations and their SVD modes.
- `solve`: the exact gradient-flow trajectory (closed forms, `dln.modes`).
- `methods`: how `solve` computes it (`"auto"` or a method object with its options).
- `simulate`: full-batch gradient descent in JAX on real networks (schedules of the learning
  rate, weight decay), on the one gradient-descent engine `descent` that every simulation uses.
- `Trajectory`: the one result type of every solve and simulate (pathways, schedules and
  matrix completion included).
- `datasets`: hierarchical tasks (Saxe et al. 2019; Rubruck et al. 2024).
- `ocs`: the optimal constant solution and its hallmarks (Rubruck et al. 2024).
- `biases`: the mode reduction behind `solve(..., biases=...)` (Rubruck et al. 2024).
- `init`: initial weights (`aligned`, `balanced`, `gaussian`, `orthogonal`).
- `pathways`: competing pathways and separate sources, deficits and critical learning periods
  (exact per-mode competition through deficit windows; simulation; Fisher information, relative
  source variance; Kleinman et al. 2023, 2024; Achille et al. 2019).
- `schedule`, `task_pairs`, `completion`, `transfer`, `sweep`: task switches and curricula (exact
  chained two-layer solution; one batched gradient-descent loop), related task pairs, matrix
  completion with Arora et al.'s end-to-end theory, transfer maps (Kleinman et al. 2024), and
  chunked, resumable parameter sweeps with a progress bar, spread over the local devices.
- `riccati`, `numerical_flow`, `regime`: the exact two-layer flow from λ-balanced weights, the
  numerically integrated flow where no closed form exists, and lazy/rich regime measures.

dln never changes global JAX settings; turn on float64 yourself with
`jax.config.update("jax_enable_x64", True)`.
"""

from dln import (biases, completion, datasets, descent, init, methods, modes, numerical_flow, ocs,
                 pathways, regime, riccati, schedule, sweep, task_pairs, transfer)
from dln.simulate import DivergenceError, lr_bound, simulate
from dln.solve import solve
from dln.task import Task
from dln.trajectory import Trajectory

__all__ = ["Task", "Trajectory", "solve", "methods", "simulate", "lr_bound", "DivergenceError",
           "init", "datasets", "descent", "modes", "ocs", "biases", "riccati", "numerical_flow",
           "regime", "schedule", "task_pairs", "completion", "transfer", "sweep", "pathways"]
__version__ = "0.1.0"
