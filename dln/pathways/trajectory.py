"""The result type of `dln.pathways.solve` and `dln.pathways.simulate`: `dln.Trajectory`.

A trajectory of parallel pathways is a `dln.Trajectory` with `pathways = P`: `modes (T, P, K)`,
`map (T, P, No, Ni)`, `total_modes`, `total_map`, and `final` (the exact `t → ∞` split).
`PathwayTrajectory` is kept as a documented alias of `dln.Trajectory`.
"""

from __future__ import annotations

from dln.trajectory import Trajectory

__all__ = ["PathwayTrajectory"]

PathwayTrajectory = Trajectory
