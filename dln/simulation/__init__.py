"""Simulation: gradient descent on real networks, on one engine.

- `descent`: the one gradient-descent scan and its divergence story; every simulator drives it
  by supplying its gradient and its per-step protocol.
- `pathways`: networks of pathways and sources with deficits inside the scan.

The entry point for plain networks is `dln.simulate`; the network's map and loss gradients,
which theory and simulation share, are `dln.network`.
"""
