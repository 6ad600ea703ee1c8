"""Theory: the closed forms of gradient flow, as functions of time.

- `modes`: aligned modes at any depth (exponential, logistic, implicit), with weight decay.
- `riccati`: the two-layer solution from λ-balanced weights (Braun et al. 2022; Dominé et al.
  2025).
- `biases`: the mode reduction with biases and the optimal constant solution phase (Rubruck et
  al. 2024).
- `competition`: parallel pathways competing for each mode, through deficit windows, with weight
  decay and from the "large" initialisation (Kleinman, Achille & Soatto 2024).
- `input_deficits`: one network's modes through windows of blurred input (Achille, Rovere &
  Soatto 2019), with weight decay.
- `quadrature`: fixed-cost Chebyshev antiderivatives (the competition's time integral).
"""
