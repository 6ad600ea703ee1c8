"""Competing pathways, separate sources, deficits and critical learning periods.

Kleinman, Achille & Soatto (2023, 2024) and Achille, Rovere & Soatto (2019). This namespace
gathers the phenomenon's parts, each of which lives in its tier of the package:

- `solve`, `final_split` (`dln.theory.competition`): exact per-mode dynamics of parallel
  pathways through deficit windows (closed forms for depth 1 and 2 and for one plastic pathway;
  a labelled reduced integration for depth ≥ 3 with several plastic pathways).
- `simulate`, `aligned`, `pad_depth` (`dln.simulation.pathways`): gradient descent on pathway
  networks (shared input or separate sources, optional shared layers) with deficits inside the
  one gradient-descent scan, batched with `vmap`.
- `Freeze`, `Remove`, `Noise`, `Decorrelate`, `Lesion` (`dln.protocol.deficits`): deficits.
- `sources` (`dln.protocol.sources`): tasks of noisy views of one latent and networks with one
  pathway per source.
- `critical_period_map`, `simulated_critical_period_map` (`dln.phenomena.critical_periods`):
  final performance against onset × length of a deficit, exact or simulated, each one compiled
  call.
- `measures` (`dln.measures.pathways`): shares, per-pathway loss, relative source variance,
  Fisher information traces.
- `PathwayTrajectory`: an alias of `dln.Trajectory` (with `pathways = P`), the result of both.

The old submodule paths (`dln.pathways.exact`, `.simulate`, `.deficits`, `.sources`, `.maps`,
`.measures`) remain importable as aliases of the modules above.
"""

from dln.measures import pathways as measures
from dln.phenomena.critical_periods import critical_period_map, simulated_critical_period_map
from dln.protocol import sources
from dln.protocol.deficits import Decorrelate, Freeze, Lesion, Noise, Remove
from dln.simulation.pathways import aligned, pad_depth, simulate
from dln.theory.competition import final_split, solve
from dln.trajectory import Trajectory

__all__ = ["solve", "final_split", "simulate", "aligned", "pad_depth", "critical_period_map",
           "simulated_critical_period_map", "PathwayTrajectory",
           "Freeze", "Remove", "Noise", "Decorrelate", "Lesion", "measures", "sources"]

PathwayTrajectory = Trajectory
