"""Phenomena: the papers' experiments as protocols and measures on the one engine.

- `pathways`: competing pathways, sources, deficits and critical learning periods (a namespace
  over `theory.competition`, `simulation.pathways`, `protocol` and `measures.pathways`).
- `critical_periods`: final performance against deficit onset × length, exact or simulated.
- `schedule`: task phases (curricula), solved phase by phase and simulated in one scan.
- `completion`: matrix completion with the end-to-end theory (Arora et al. 2019).
- `transfer`: transfer maps over pre-training length and task relation (Kleinman, Achille &
  Soatto 2024).
- `semantic`: semantic development (Saxe, McClelland & Ganguli 2019): item similarity, MDS,
  stage times, illusory correlations, category coherence.
"""
