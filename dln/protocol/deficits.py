"""Deficits: temporary changes to a network's plasticity or to its input sources, and lesions.

Critical-period experiments (Achille, Rovere & Soatto 2019; Kleinman, Achille & Soatto 2023,
2024; docs/theory/pathways.md, docs/theory/sources.md, docs/theory/fisher.md) apply a deficit
during a window of training and then restore normal training. A windowed deficit acts on the
flow-time window `[onset, onset + length)`:

- `Freeze(pathway, onset, length)`: the pathway keeps its output but receives no gradient (its
  plasticity is frozen; Kleinman 2024's `output.detach()`).
- `Remove(source, onset, length)`: the source's inputs are replaced by zeros.
- `Noise(source, variance, onset, length)`: independent noise of the given variance per input
  unit is added to the source (the linear analogue of blur: the signal is unchanged, its
  signal-to-noise ratio falls).
- `Decorrelate(sources=(i, j), onset, length)`: the two sources come from independent samples
  (Kleinman 2023's independent views: view j is shuffled across the batch and each target is
  that of view i or of view j with probability ½).

and a permanent one:

- `Lesion(pathway, mode)`: mode α is cut out of the pathway's input (`x → (I − v_α v_αᵀ) x`) for
  the whole of training, so the pathway can neither carry nor learn it (Kleinman 2024, Fig. 3).

**When an update is affected.** Gradient descent with learning rate `lr` makes its update from
step `k` to `k + 1` at flow time `t_k = k·lr`; that update is affected exactly when
`onset ≤ k·lr < onset + length`. The exact flow is affected on the same half-open window.

**Effect on the statistics** (sources are blocks of input columns; the data only enter through
`Σxx = XᵀX/P` and `Σyx = YᵀX/P`):

- removing source j zeroes its rows and columns of `Σxx` and its columns of `Σyx`;
- noise of variance v adds `v I` to its diagonal block of `Σxx` (`Σyx` is unchanged);
- decorrelating i and j zeroes the cross blocks `Σxx_ij`, `Σxx_ji` (independent, centred views)
  and halves the columns of `Σyx` of both (each view predicts the target half of the time).

All deficits are frozen dataclasses registered as JAX pytrees: `onset`, `length` and `variance`
are array leaves, so a whole batch of schedules passes through `jax.vmap` (one compiled call for
a critical-period map); the pathway, source and mode indices are static.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from dln._checks import as_array, check_int, is_concrete

__all__ = ["Freeze", "Remove", "Noise", "Decorrelate", "Lesion", "as_schedule", "active",
           "WINDOWED"]


def _check_window(onset, length, kind="deficit"):
    onset = as_array(onset, f"{kind}.onset", ndim=(0, 1))
    length = as_array(length, f"{kind}.length", ndim=(0, 1))
    if is_concrete(onset, length):
        if np.any((o := np.asarray(onset)) < 0):
            raise ValueError(f"`{kind}.onset` must be >= 0 (the flow time at which the deficit "
                             f"starts), got {o.min()!r}.")
        if np.any((ell := np.asarray(length)) < 0):
            raise ValueError(f"`{kind}.length` must be >= 0 (the flow-time duration of the "
                             f"deficit; 0 means none), got {ell.min()!r}.")
    if onset.ndim and length.ndim and onset.shape != length.shape:
        raise ValueError(f"`{kind}.onset` and `{kind}.length` are batched with different lengths "
                         f"({onset.shape[0]} and {length.shape[0]}); give equal lengths.")
    return onset, length


def _check_index(value, name):
    return check_int(value, name, 0, what=" (an index)")


def _is_value(x) -> bool:
    """True for numbers and arrays (tracers included); False for the placeholder leaves JAX
    puts in when it rebuilds a pytree (`jit(...).lower`, `eval_shape`, `tree_map` to other
    types), which must pass through unchecked."""
    if isinstance(x, (list, tuple)):
        return all(_is_value(v) for v in x)
    return isinstance(x, (int, float, complex, np.number, np.ndarray, jax.Array))


def _window_post_init(self):
    # a rebuild by JAX puts placeholders (None, strings, objects) in *every* leaf: skip those;
    # a user's deficit has at least one number, and then every field is checked
    if not (_is_value(self.onset) or _is_value(self.length)):
        return
    onset, length = _check_window(self.onset, self.length, type(self).__name__)
    object.__setattr__(self, "onset", onset)
    object.__setattr__(self, "length", length)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Freeze:
    """Pathway `pathway` gets no gradient during `[onset, onset + length)`; it still contributes
    its output. Attributes: `pathway` (int, static), `onset`, `length` (flow time)."""

    pathway: int = dataclasses.field(metadata=dict(static=True))
    onset: Any = 0.0
    length: Any = 0.0

    def __post_init__(self):
        _check_index(self.pathway, "pathway")
        _window_post_init(self)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Remove:
    """Source `source` is replaced by zeros during `[onset, onset + length)`."""

    source: int = dataclasses.field(metadata=dict(static=True))
    onset: Any = 0.0
    length: Any = 0.0

    def __post_init__(self):
        _check_index(self.source, "source")
        _window_post_init(self)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Noise:
    """Independent noise of variance `variance` (per input unit) is added to source `source`
    during `[onset, onset + length)`."""

    source: int = dataclasses.field(metadata=dict(static=True))
    variance: Any = 1.0
    onset: Any = 0.0
    length: Any = 0.0

    def __post_init__(self):
        _check_index(self.source, "source")
        if not any(_is_value(v) for v in (self.variance, self.onset, self.length)):
            return
        variance = as_array(self.variance, "Noise.variance", ndim=(0, 1))
        if is_concrete(variance) and np.any((v := np.asarray(variance)) < 0):
            raise ValueError(f"`Noise.variance` must be >= 0 (a noise variance per input unit), "
                             f"got {v.min()!r}.")
        object.__setattr__(self, "variance", variance)
        _window_post_init(self)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Decorrelate:
    """Sources `sources = (i, j)` come from independent samples during
    `[onset, onset + length)` (see the module docstring for the statistics)."""

    sources: tuple = dataclasses.field(metadata=dict(static=True))
    onset: Any = 0.0
    length: Any = 0.0

    def __post_init__(self):
        if not (isinstance(self.sources, tuple) and len(self.sources) == 2
                and self.sources[0] != self.sources[1]):
            raise ValueError(f"`sources` must be a pair (i, j) of two different source indices, "
                             f"got {self.sources!r}.")
        for i in self.sources:
            _check_index(i, "sources[...]")
        _window_post_init(self)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Lesion:
    """Mode `mode` is permanently cut out of pathway `pathway`'s input (it contributes nothing
    along that mode and cannot learn it)."""

    pathway: int = dataclasses.field(metadata=dict(static=True))
    mode: int = dataclasses.field(metadata=dict(static=True))

    def __post_init__(self):
        _check_index(self.pathway, "pathway")
        _check_index(self.mode, "mode")


WINDOWED = (Freeze, Remove, Noise, Decorrelate)
_ALL = WINDOWED + (Lesion,)


def as_schedule(deficit, *, n_pathways: int | None = None) -> tuple:
    """Normalise a deficit argument into a tuple of deficit objects.

    Accepts None (no deficit), one deficit object, a pair `(onset, length)` (shorthand for
    `Freeze(1, onset, length)`: the second pathway is frozen, Kleinman 2024) or a list/tuple of
    deficit objects. With `n_pathways`, pathway indices are checked against it.
    """
    if deficit is None:
        return ()
    if isinstance(deficit, _ALL):
        schedule = (deficit,)
    elif (isinstance(deficit, (tuple, list)) and len(deficit) == 2
          and not any(isinstance(d, _ALL) for d in deficit)):
        schedule = (Freeze(1, deficit[0], deficit[1]),)
    elif isinstance(deficit, (tuple, list)) and all(isinstance(d, _ALL) for d in deficit):
        schedule = tuple(deficit)
    else:
        raise TypeError(
            "`deficit` must be None, a pair (onset, length) (freezes the second pathway), one of "
            "Freeze/Remove/Noise/Decorrelate/Lesion, or a list of them; got "
            f"{type(deficit).__name__} {deficit!r}.")
    if n_pathways is not None:
        for d in schedule:
            p = getattr(d, "pathway", None)
            if p is not None and p >= n_pathways:
                raise ValueError(f"{type(d).__name__} names pathway {p}, but the network has "
                                 f"{n_pathways} pathways (indices 0..{n_pathways - 1}).")
    return schedule


def active(deficit, t):
    """Whether a windowed deficit acts at flow time(s) `t`: `onset ≤ t < onset + length`.

    Gradient descent passes `t = k·lr` for the update from step k to k + 1.
    """
    return (deficit.onset <= t) & (t < deficit.onset + deficit.length)
