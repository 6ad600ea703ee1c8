"""Measures: quantities read off trajectories and weights.

- `regime`: lazy and rich learning (NTK movement, convergence time).
- `ocs`: the optimal constant solution and its hallmarks (Rubruck et al. 2024).
- `pathways`: shares, per-pathway loss, relative source variance, Fisher information traces.
"""
