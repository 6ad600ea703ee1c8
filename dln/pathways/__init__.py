"""Competing pathways, separate sources, deficits and critical learning periods.

Kleinman, Achille & Soatto (2023, 2024) and Achille, Rovere & Soatto (2019); THEORY.md §6–8.

- `solve`, `final_split` (`exact`): exact per-mode dynamics of parallel pathways through deficit
  windows (closed forms for depth 1 and 2 and for one plastic pathway; a labelled reduced
  integration for depth ≥ 3 with several plastic pathways).
- `simulate` (`simulate`): gradient descent on pathway networks (shared input or separate
  sources, optional shared layers) with deficits inside the jitted scan, batched with `vmap`.
- deficits (`deficits`): `Freeze`, `Remove`, `Noise`, `Decorrelate`, `Lesion`.
- `PathwayTrajectory`: an alias of `dln.Trajectory` (with `pathways = P`), the result of both.
- `sources`: tasks of noisy views of one latent and networks with one pathway per source.
- `critical_period_map`, `simulated_critical_period_map` (`maps`): final performance against
  onset × length of a deficit, exact or simulated, each one compiled call.
- `measures`: shares, per-pathway loss, relative source variance, Fisher information traces.
"""

from dln.pathways import measures, sources
from dln.pathways.deficits import Decorrelate, Freeze, Lesion, Noise, Remove
from dln.pathways.exact import final_split, solve
from dln.pathways.maps import critical_period_map, simulated_critical_period_map
from dln.pathways.simulate import aligned, pad_depth, simulate
from dln.pathways.trajectory import PathwayTrajectory

__all__ = ["solve", "final_split", "simulate", "aligned", "pad_depth", "critical_period_map",
           "simulated_critical_period_map", "PathwayTrajectory",
           "Freeze", "Remove", "Noise", "Decorrelate", "Lesion", "measures", "sources"]
