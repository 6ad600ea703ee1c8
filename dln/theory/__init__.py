"""Theory: the closed forms of gradient flow, as functions of time.

- `modes`: aligned modes at any depth (exponential, logistic, implicit), with weight decay.
- `riccati`: the two-layer solution from λ-balanced weights (Braun et al. 2022; Dominé et al.
  2025).
- `biases`: the mode reduction with biases and the optimal constant solution phase (Rubruck et
  al. 2024).
- `competition`: parallel pathways competing for each mode, through deficit windows (Kleinman,
  Achille & Soatto 2024).
"""
