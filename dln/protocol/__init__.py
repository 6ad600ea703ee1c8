"""What happens during training: one description read by `dln.solve` and `dln.simulate` alike.

A `Protocol` says what the network is, what it is trained on and what is done to it:

- **phases**: `[(task, duration), …]`, trained in order, each for its `duration` of flow time
  `t = lr × steps` (`Σ lr` under a learning-rate schedule). A single `Task` is one phase with
  no end (its length is then the `t` of `solve` or the `steps` of `simulate`). A duration may
  be a `(B,)` array, which describes B protocols at once (e.g. every pre-training length of a
  transfer experiment), solved or simulated in one call.
- **deficits** (`dln.protocol.deficits`): `Freeze`, `Lesion` on pathways, `Remove`, `Noise`,
  `Decorrelate` on sources, `Blur`, `Flip` on the input of one network, each on a window
  `[onset, onset + length)` of **flow time** from the start of training (a `Lesion` lasts the
  whole run). Under a learning-rate schedule flow time is `Σ lr`, so a window given in steps
  `[k0, k1)` is `[Σ_{k<k0} lr_k, Σ_{k<k1} lr_k)`.
- **architecture** (`Architecture`): depth (weight matrices per pathway), the number of
  parallel pathways, the input block each pathway reads (`sources`), the number of shared layers
  on top of the summed pathways, and where biases sit. Widths are those of the weights given.

    protocol = dln.Protocol([(task_a, 10.0), (task_b, 30.0)], depth=2)
    theory = dln.solve(protocol, weights=w0, t=ts)            # exact, phase by phase
    sim = dln.simulate(protocol, w0, lr=0.01, every=10)        # one compiled loop

    deficit = dln.Protocol(task, architecture=dln.Architecture(depth=3, pathways=2),
                           deficits=[dln.pathways.Freeze(1, onset=0.0, length=20.0)])
    dln.solve(deficit, u0=[1e-3, 1e-3], t=ts); dln.simulate(deficit, weights, lr=0.01,
                                                               steps=6000)

Which engine runs what (both sides say so in `Trajectory.method`):

- one phase, one pathway: `solve`'s methods (`dln.methods`); the gradient-descent loop
  (`dln.simulation.phases`).
- several phases: each phase by `solve`'s methods, chained through the final weights; the
  same loop, the phase's statistics picked inside it.
- pathways or deficits: the exact competition (`dln.theory.competition`); the pathway network
  (`dln.simulation.pathways`), on the same loop.
- `Blur`/`Flip` on one network: the window is three phases (`Protocol.as_phases`). A blur of an
  input-aligned task from `u0` is the exact mode solution through the window
  (`dln.theory.input_deficits`); otherwise the phases are chained as above. Both sides report
  `loss` on the protocol's own (undeprived) task, the papers' test performance.

Combinations that no engine has (several phases together with pathways or deficits; sources,
shared layers or biases in the exact competition) raise a `ValueError` that says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from jax.typing import ArrayLike

from dln._checks import as_array, check_depth, check_int, is_concrete
from dln.protocol.deficits import (
    INPUT,
    Blur,
    Decorrelate,
    Flip,
    Freeze,
    Lesion,
    Noise,
    Remove,
    as_schedule,
    check_flip,
    input_matrix,
    transformed_task,
)
from dln.tasks.task import Task

__all__ = ["Protocol", "Architecture", "parse_phases", "phase_bounds"]

_BIAS_PATTERNS = (None, "output", "hidden", "all")

# a deficit of `dln.protocol.deficits` (for the type hints)
_Deficit = Freeze | Remove | Noise | Decorrelate | Lesion | Blur | Flip


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The network a protocol trains.

    Attributes:
      depth: weight matrices per pathway (`depth=1` is the shallow network).
      pathways: parallel pathways whose outputs are summed (Kleinman et al. 2024); default 1.
      sources: None (every pathway reads every input) or one `(start, stop)` input block per
        pathway (the split architecture of Kleinman et al. 2023).
      shared: layers on top of the summed pathways; their weights come last in `weights`.
      biases: None, or where the layers have biases: a pattern of `dln.solve(..., biases=)`
        (`"output"`, `"hidden"`, `"all"`), one pathway only; biases start at 0.
    """

    depth: int
    pathways: int = 1
    sources: tuple[tuple[int, int], ...] | None = None
    shared: int = 0
    biases: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", check_depth(self.depth))
        object.__setattr__(self, "pathways", check_int(self.pathways, "pathways", 1))
        object.__setattr__(self, "shared", check_int(self.shared, "shared", 0,
                                                     what=" (shared layers)"))
        if self.sources is not None:
            if not isinstance(self.sources, (list, tuple)) or len(self.sources) != self.pathways:
                raise ValueError(f"`sources` must give one (start, stop) input block per pathway "
                                 f"({self.pathways}), got {self.sources!r}.")
            object.__setattr__(self, "sources", tuple(tuple(b) for b in self.sources))
        if self.biases not in _BIAS_PATTERNS:
            raise ValueError(f"`biases` must be one of {_BIAS_PATTERNS}, got {self.biases!r}.")
        if self.biases is not None and (self.pathways > 1 or self.shared):
            raise ValueError("`biases` are supported for one pathway without shared layers; got "
                             f"pathways={self.pathways}, shared={self.shared}.")

    @property
    def plain(self) -> bool:
        """One pathway reading every input, no shared layers: a plain deep linear network."""
        return self.pathways == 1 and self.sources is None and self.shared == 0


@dataclasses.dataclass(frozen=True, init=False)
class Protocol:
    """Phases of tasks, deficits and the architecture: what happens during training.

    `Protocol(phases, *, depth=None, architecture=None, deficits=None)`:

    Args:
      phases: a `dln.Task` (one phase without end), or a non-empty list of `(task, duration)`
        pairs, durations in flow time `>= 0` (the last may be `inf`: no end), each a number or
        a `(B,)` array (B protocols at once).
      depth: shorthand for `architecture=Architecture(depth)`.
      architecture: an `Architecture` (give this or `depth`).
      deficits: None, one deficit of `dln.protocol.deficits`, or a list of them.
    """

    phases: tuple[tuple[Task, ArrayLike], ...]
    architecture: Architecture
    deficits: tuple[_Deficit, ...]

    def __init__(self, phases: Task | Sequence[tuple[Task, ArrayLike]], *,
                 depth: int | None = None, architecture: Architecture | None = None,
                 deficits: _Deficit | Sequence[_Deficit] | tuple[float, float] | None = None
                 ) -> None:
        if architecture is None and depth is None:
            raise TypeError("dln.Protocol needs the network: pass `depth=` (a plain deep linear "
                            "network) or `architecture=dln.Architecture(...)`.")
        if architecture is not None and not isinstance(architecture, Architecture):
            raise TypeError(f"`architecture` must be a dln.Architecture, got "
                            f"{type(architecture).__name__}.")
        if architecture is None:
            architecture = Architecture(depth=depth)
        elif depth is not None and check_depth(depth) != architecture.depth:
            raise ValueError(f"`depth` = {depth!r} disagrees with the architecture's depth "
                             f"{architecture.depth}; give one of them.")
        if isinstance(phases, Task):
            phases = ((phases, math.inf),)
        items, _, _ = parse_phases(phases, name="phases", open_end=True)
        shapes = {(t.n_out, t.n_in) for t in items}
        if len(shapes) > 1:
            raise ValueError(f"all tasks of `phases` must have the same (n_out, n_in), got "
                             f"{sorted(shapes)}.")
        deficits = as_schedule(deficits, n_pathways=architecture.pathways)
        inputs = [d for d in deficits if isinstance(d, INPUT)]
        if inputs:
            _check_input_deficits(inputs, deficits, architecture, items)
        if deficits and len(items) > 1:
            raise ValueError("a protocol with deficits has one phase: no engine runs deficit "
                             "windows across task switches yet; got "
                             f"{len(items)} phases and {len(deficits)} deficits.")
        object.__setattr__(self, "phases", tuple((t, d) for t, d in phases))
        object.__setattr__(self, "architecture", architecture)
        object.__setattr__(self, "deficits", deficits)

    @property
    def depth(self) -> int:
        return self.architecture.depth

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The task of each phase."""
        return tuple(task for task, _ in self.phases)

    @property
    def task(self) -> Task:
        """The task of the first phase."""
        return self.phases[0][0]

    @property
    def n_phases(self) -> int:
        return len(self.phases)

    @property
    def open_ended(self) -> bool:
        """Whether the last phase has no end (its length is set by `t` or `steps`)."""
        return bool(np.any(np.isinf(np.asarray(self.phases[-1][1], dtype=float))))

    @property
    def bounds(self) -> np.ndarray:
        """`(B, n_phases + 1)` cumulative phase boundaries in flow time (B = 1 unless a
        duration is an array)."""
        return parse_phases(self.phases, name="phases", open_end=True)[1]

    @property
    def batched(self) -> bool:
        """Whether a duration is a `(B,)` array."""
        return parse_phases(self.phases, name="phases", open_end=True)[2]

    @property
    def plain(self) -> bool:
        """A plain network without deficits: what `solve`'s methods and the plain loop run."""
        return self.architecture.plain and not self.deficits

    @property
    def input_deficit(self) -> Blur | Flip | None:
        """The `Blur` or `Flip` on the input of this (plain) network, or None."""
        found = [d for d in self.deficits if isinstance(d, INPUT)]
        return found[0] if found else None

    def as_phases(self) -> Protocol:
        """The same training as phases without deficits: an input deficit `[onset, onset +
        length)` on the task is the three phases `(task, onset)`, `(task seen through the
        deficit, length)`, `(task, the rest)` (the rest is open when the protocol is, and the
        window is cut at a finite protocol's end). Batched windows give batched durations."""
        deficit = self.input_deficit
        if deficit is None:
            return self
        task, total = self.phases[0]
        if not is_concrete(deficit.onset, deficit.length):
            raise TypeError(f"{type(deficit).__name__}.onset/length are traced: phases need "
                            "concrete windows. Pass a batch of windows as (B,) arrays instead "
                            "of vmapping, or solve a Blur of an input-aligned task from `u0`, "
                            "whose exact path takes traced windows.")
        seen = transformed_task(task, input_matrix(deficit, task))
        onset, length = np.asarray(deficit.onset, float), np.asarray(deficit.length, float)
        total = np.asarray(total, float)
        if total.ndim and np.any(np.isinf(total)) and not np.all(np.isinf(total)):
            raise ValueError("a batch of protocol durations mixes finite and infinite values; "
                             "give every member an end, or none.")
        start = np.minimum(onset, total)
        end = np.minimum(onset + length, total)
        rest = total - end if np.all(np.isfinite(total)) else np.full(np.shape(end), math.inf)
        if not np.ndim(rest) and np.ndim(start):
            rest = np.full(np.shape(start), float(rest))
        durations = [start, end - start, rest]
        if all(np.ndim(d) == 0 for d in durations):
            durations = [float(d) for d in durations]
        elif np.isinf(np.asarray(rest)).all():
            durations[2] = math.inf
        return Protocol([(task, durations[0]), (seen, durations[1]), (task, durations[2])],
                        architecture=self.architecture)

    def __repr__(self) -> str:
        phases = ", ".join(f"({type(t).__name__}{(t.n_out, t.n_in)}, {d!r})"
                           for t, d in self.phases)
        extra = f", deficits={list(self.deficits)!r}" if self.deficits else ""
        return f"Protocol([{phases}], architecture={self.architecture!r}{extra})"


def _check_input_deficits(inputs, deficits, architecture, tasks):
    if not architecture.plain or architecture.biases is not None:
        raise ValueError(f"{type(inputs[0]).__name__} acts on the input of one plain network "
                         "(one pathway, no sources, shared layers or biases); this protocol's "
                         f"architecture is {architecture!r}. For pathways use Freeze, Remove, "
                         "Noise or Decorrelate.")
    if len(deficits) > 1:
        raise ValueError(f"a Blur or Flip is the protocol's only deficit (got {len(deficits)} "
                         "deficits): it cannot be combined with others; several windows run as "
                         "a batch: give `onset`/`length` arrays.")
    if len(tasks) > 1:
        raise ValueError(f"{type(inputs[0]).__name__} needs a protocol of one phase (its "
                         f"window makes the phases); got {len(tasks)} phases.")
    deficit = inputs[0]
    if isinstance(deficit, Flip) and is_concrete(tasks[0].sigma_xx):
        check_flip(deficit, tasks[0])
    if isinstance(deficit, Blur) and deficit.keep > tasks[0].n_modes:
        raise ValueError(f"`Blur.keep` = {deficit.keep} is more than the task's "
                         f"{tasks[0].n_modes} modes; pass keep <= {tasks[0].n_modes}.")


def parse_phases(phases: Sequence[tuple[Any, ArrayLike]], kind: type | tuple[type, ...] = Task,
                 kind_name: str = "dln.Task", *, name: str = "schedule",
                 open_end: bool = False) -> tuple[tuple[Any, ...], np.ndarray, bool]:
    """`(items, bounds, batched)` of a list of `(item, duration)` pairs, items of type `kind`:
    the items, the `(B, n_phases + 1)` cumulative phase boundaries (flow time), durations
    broadcast over the batch (`B = 1` if none is batched), and whether any duration was
    batched. Validates the pairs and the durations; `open_end` allows an infinite last one.
    `name` is the argument as the user wrote it."""
    if not isinstance(phases, (list, tuple)) or len(phases) == 0:
        raise TypeError(f"`{name}` must be a non-empty list of ({kind_name}, duration) pairs, "
                        f"got {type(phases).__name__}.")
    items, durations = [], []
    for i, item in enumerate(phases):
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise TypeError(f"`{name}[{i}]` must be a ({kind_name}, duration) pair, got "
                            f"{item!r}.")
        obj, d = item
        if not isinstance(obj, kind):
            raise TypeError(f"`{name}[{i}]` must start with a {kind_name}, got "
                            f"{type(obj).__name__}.")
        last = open_end and i == len(phases) - 1
        if isinstance(d, (int, float, np.number, np.ndarray)) and not isinstance(d, bool):
            d = np.asarray(d, dtype=float)  # numbers stay numpy (a protocol built under jit)
            if d.ndim > 1 or (not last and not np.all(np.isfinite(d))):
                d = as_array(d, f"{name}[{i}] duration", ndim=(0, 1), finite=not last)
        d = np.asarray(as_array(d, f"{name}[{i}] duration", ndim=(0, 1), finite=not last),
                       dtype=float) if not isinstance(d, np.ndarray) else d
        if np.any(d < 0) or np.any(np.isnan(d)):
            raise ValueError(f"`{name}[{i}]` duration must be >= 0 (flow time), got {d!r}.")
        items.append(obj)
        durations.append(d)
    sizes = {d.shape[0] for d in durations if d.ndim == 1}
    if len(sizes) > 1:
        raise ValueError(f"batched durations must all have the same length, got {sorted(sizes)}.")
    batched = bool(sizes)
    B = sizes.pop() if sizes else 1
    d = np.stack([np.broadcast_to(d, (B,)) for d in durations], axis=1)
    bounds = np.concatenate([np.zeros((B, 1)), np.cumsum(d, axis=1)], axis=1)
    return tuple(items), bounds, batched


def phase_bounds(schedule: Sequence[tuple[Task, ArrayLike]]
                 ) -> tuple[tuple[Task, ...], np.ndarray, bool]:
    """`(tasks, bounds, batched)` of a schedule of `(task, duration)` pairs (`parse_phases`);
    all tasks must have the same shape."""
    tasks, bounds, batched = parse_phases(schedule)
    shapes = {(t.n_out, t.n_in) for t in tasks}
    if len(shapes) > 1:
        raise ValueError(f"all tasks of a schedule must have the same (n_out, n_in), got "
                         f"{sorted(shapes)}.")
    return tasks, bounds, batched
