"""Tasks: what the network learns.

- `task`: `Task`, a regression task through its correlations and their SVD modes.
- `datasets`: hierarchical tasks (Saxe et al. 2019; Rubruck et al. 2024).
- `pairs`: related task pairs for transfer (Kleinman, Achille & Soatto 2024).
"""
