"""dln: exact learning dynamics of deep linear networks, checked against JAX simulation.

The entry points and the shared vocabulary, at the top of the package:

- `Task`: a regression task through its correlations and their SVD modes (`Task.from_data`,
  `Task.from_spectrum` for 10⁴–10⁵ modes without a dense SVD); `whiten`, data whitened so
  that the mode solutions apply.
- `Protocol`, `Architecture`: what happens during training (phases of tasks, deficits, the
  network), read by `solve` and `simulate` alike (`dln.protocol`); `Blur`, `Flip`: deficits on
  the input of one network (`dln.deficits` has them all).
- `solve`: the exact gradient-flow trajectory, by an explicit method (`dln.methods`).
- `simulate`: full-batch gradient descent in JAX on real networks (schedules of the learning
  rate, weight decay); `lr_bound`, the largest stable learning rate.
- `Trajectory`: the one result type of every solve and simulate.
- `network`: the network's map, loss and gradients; `init`: initial weights.
- `sweep`: chunked, resumable parameter sweeps with a progress bar, spread over the devices.

Below them the package reads as its architecture, each tier building on the ones listed
before it and on the shared vocabulary (`network`, `init`, `Trajectory`); the phenomena drive
the entry points `solve` and `simulate`. One exception: the bias reduction in `theory.biases`
integrates its one mode without a closed form through `methods.numerical_flow`
(`tests/test_layout.py` checks these rules):

    dln/tasks/        1. what is learned: Task, datasets, related task pairs
    dln/protocol/     2. what happens during training: phases, deficits, sources
    dln/theory/       3. closed forms: aligned modes, two-layer Riccati, biases, competition
    dln/methods/      4. how `solve` computes: method objects, the numerically integrated flow
    dln/simulation/   5. gradient descent: the one scan, pathway networks
    dln/measures/     6. what is read off: lazy/rich regime, OCS, pathway shares, Fisher
    dln/phenomena/    7. the papers' experiments: pathways, critical periods, schedules,
                         matrix completion, transfer, semantic development

The flat module names of earlier versions (`dln.modes`, `dln.riccati`, `dln.biases`,
`dln.numerical_flow`, `dln.network`, `dln.descent`, `dln.regime`, `dln.ocs`, `dln.datasets`,
`dln.task_pairs`, `dln.task`, `dln.schedule`, `dln.completion`, `dln.transfer`,
`dln.pathways` and its submodules) are aliases of the modules above: attribute access,
`import dln.modes` and `from dln.modes import …` all reach the same module object.

dln never changes global JAX settings; turn on float64 yourself with
`jax.config.update("jax_enable_x64", True)`.
"""

import sys as _sys

from dln import init, methods, network, sweep
from dln.measures import ocs, regime
from dln.measures import pathways as _pathway_measures
from dln.methods import numerical_flow
from dln.phenomena import completion, critical_periods, pathways, schedule, semantic, transfer
from dln.protocol import Architecture, Protocol, deficits, sources
from dln.protocol.deficits import Blur, Flip
from dln.simulate import DivergenceError, lr_bound, simulate
from dln.simulation import descent
from dln.simulation import pathways as _pathway_simulation
from dln.solve import solve
from dln.tasks import datasets
from dln.tasks import pairs as task_pairs
from dln.tasks import task as _task_module
from dln.tasks.task import Task
from dln.tasks.whitening import whiten
from dln.theory import biases, competition, modes, riccati
from dln.trajectory import Trajectory

# The flat module paths of earlier versions, kept as aliases of the same module objects.
_ALIASES = {
    "task": _task_module, "datasets": datasets, "task_pairs": task_pairs,
    "modes": modes, "riccati": riccati, "biases": biases,
    "numerical_flow": numerical_flow, "network": network, "descent": descent,
    "regime": regime, "ocs": ocs, "schedule": schedule, "completion": completion,
    "transfer": transfer, "pathways": pathways,
    "pathways.exact": competition, "pathways.simulate": _pathway_simulation,
    "pathways.measures": _pathway_measures, "pathways.deficits": deficits,
    "pathways.sources": sources, "pathways.maps": critical_periods,
    "pathways.trajectory": pathways,
}
for _name, _module in _ALIASES.items():
    _sys.modules.setdefault(f"dln.{_name}", _module)
    _parent, _, _leaf = _name.rpartition(".")
    _owner = _sys.modules[f"dln.{_parent}"] if _parent else _sys.modules[__name__]
    if not hasattr(_owner, _leaf):  # `dln.pathways.simulate` stays the function it always was
        setattr(_owner, _leaf, _module)
del _name, _module, _parent, _leaf, _owner

__all__ = ["Task", "whiten", "Protocol", "Architecture", "Blur", "Flip", "Trajectory", "solve",
           "methods", "simulate", "lr_bound", "DivergenceError", "init", "sweep", "datasets",
           "task_pairs", "modes", "riccati", "biases", "numerical_flow", "network", "descent",
           "regime", "ocs", "pathways", "critical_periods", "deficits", "schedule", "completion",
           "transfer", "semantic"]
__version__ = "0.1.0"
