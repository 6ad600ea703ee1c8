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

two that act on the input of one deep network (a plain `dln.Architecture`, one pathway):

- `Blur(onset, length, keep=1, factor=0.1)`: the input is multiplied by
  `B = V_k V_kᵀ + factor (I − V_k V_kᵀ)`, with `V_k` the input directions of the task's `keep`
  strongest modes: every weaker input direction is attenuated by `factor` (0 removes it). The
  linear analogue of Achille et al.'s blur, a low-pass filter that keeps the coarse structure
  and loses the fine distinctions.
- `Flip(onset, length, transform=None)`: the input is multiplied by an orthogonal `Q` that keeps
  its statistics, `Q Σxx Qᵀ = Σxx` (default: the reversal of the input coordinates, the
  analogue of a vertical flip of an image, a permutation of pixels). The inputs look the same;
  which input predicts which target changes.

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
- an input transform `x → M x` (`Blur`, `Flip`) makes `Σxx → M Σxx Mᵀ`, `Σyx → Σyx Mᵀ`
  (`Σyy` is unchanged). For a blur of an input-aligned task (`Σxx` diagonal in `V`) the modes
  survive: mode α keeps its directions and its strength and variance become `b_α s_α` and
  `b_α² λ_α` (`b_α = 1` for the `keep` strongest, `factor` for the others), so the exact mode
  solution runs through the window. A flip is not a change of the modes' values but of their
  input directions (`V → QV`); it is solved by chaining the flow through the phases
  (`derivations/input_deficits.py` derives both);
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
import jax.numpy as jnp
import numpy as np

from dln._checks import as_array, check_int, is_concrete
from dln.tasks.task import Task

__all__ = ["Freeze", "Remove", "Noise", "Decorrelate", "Lesion", "Blur", "Flip", "as_schedule",
           "active", "WINDOWED", "INPUT", "input_matrix", "transformed_task", "blur_factors"]


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


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Blur:
    """The input of one network is blurred during `[onset, onset + length)`: the directions of
    the task's `keep` strongest modes pass, every other input direction is multiplied by
    `factor` (`0 <= factor`; 0 removes them, 1 is no deficit, above 1 amplifies). Attributes:
    `onset`, `length` (flow time; scalars or `(B,)` batches of windows), `factor` (a scalar;
    traced values pass through `jax.vmap`), `keep` (int, static). At `factor = 0` exactly the
    weak modes' law degenerates (`s = λ = 0`): its derivative in `factor` is not that limit's."""

    onset: Any = 0.0
    length: Any = 0.0
    keep: int = dataclasses.field(default=1, metadata=dict(static=True))
    factor: Any = 0.1

    def __post_init__(self):
        check_int(self.keep, "Blur.keep", 0, what=" (the number of strongest modes kept)")
        if not any(_is_value(v) for v in (self.onset, self.length, self.factor)):
            return
        factor = as_array(self.factor, "Blur.factor", ndim=0)
        if is_concrete(factor) and not float(factor) >= 0:
            raise ValueError(f"`Blur.factor` must be >= 0 (the attenuation of the weak input "
                             f"directions; 0 removes them), got {float(factor)!r}.")
        object.__setattr__(self, "factor", factor)
        _window_post_init(self)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Flip:
    """The input of one network is multiplied by the orthogonal `transform` `Q` during
    `[onset, onset + length)`; `Q` must keep the input statistics, `Q Σxx Qᵀ = Σxx`. Default
    (None): the reversal of the input coordinates. Attributes: `onset`, `length` (flow time),
    `transform` (`(Ni, Ni)` or None; static). The statistics are checked when the protocol is
    built from a concrete task (not under tracing)."""

    onset: Any = 0.0
    length: Any = 0.0
    transform: Any = dataclasses.field(default=None, metadata=dict(static=True))

    def __post_init__(self):
        if self.transform is not None and not isinstance(self.transform, _Static):
            Q = np.asarray(self.transform, dtype=float)
            if Q.ndim != 2 or Q.shape[0] != Q.shape[1]:
                raise ValueError(f"`Flip.transform` must be a square (Ni, Ni) matrix, got shape "
                                 f"{Q.shape}.")
            if not np.allclose(Q @ Q.T, np.eye(len(Q)), atol=1e-10):
                raise ValueError("`Flip.transform` must be orthogonal (Q Qᵀ = I): a flip keeps "
                                 "the input statistics. For other input changes use Blur.")
            object.__setattr__(self, "transform", _Static(Q))
        _window_post_init(self)


class _Static:
    """A matrix held as static pytree metadata (hashable by identity of its bytes)."""

    def __init__(self, value):
        self.value = np.asarray(value, dtype=float)
        self.value.setflags(write=False)

    def __eq__(self, other):
        return isinstance(other, _Static) and np.array_equal(self.value, other.value)

    def __hash__(self):
        return hash(self.value.tobytes())

    def __repr__(self):
        return f"array{self.value.shape}"


WINDOWED = (Freeze, Remove, Noise, Decorrelate)
INPUT = (Blur, Flip)
_ALL = WINDOWED + INPUT + (Lesion,)


def blur_factors(blur: Blur, task):
    """`b` `(K,)`: the factor on each mode of the task (1 for the `keep` strongest)."""
    K = task.n_modes
    return jnp.where(jnp.arange(K) < blur.keep, 1.0, blur.factor).astype(task.s.dtype)


def input_matrix(deficit, task):
    """The `(Ni, Ni)` matrix `M` by which `deficit` (a `Blur` or a `Flip`) multiplies inputs."""
    n = task.n_in
    if isinstance(deficit, Blur):
        Vk = task.V[:, :deficit.keep]
        keep = Vk @ Vk.T
        return keep + deficit.factor * (jnp.eye(n, dtype=keep.dtype) - keep)
    if isinstance(deficit, Flip):
        if deficit.transform is None:
            return jnp.eye(n, dtype=task.sigma_xx.dtype)[::-1]
        Q = deficit.transform.value
        if Q.shape != (n, n):
            raise ValueError(f"`Flip.transform` has shape {Q.shape}, but the task has {n} "
                             f"inputs: give an ({n}, {n}) orthogonal matrix.")
        return jnp.asarray(Q, task.sigma_xx.dtype)
    raise TypeError(f"{type(deficit).__name__} does not act on a network's input.")


def transformed_task(task, M):
    """The task seen through the input transform `x → M x`: `Σxx → M Σxx Mᵀ`, `Σyx → Σyx Mᵀ`,
    `Σyy` unchanged."""
    return Task(M @ task.sigma_xx @ M.T, task.sigma_yx @ M.T, task.sigma_yy)


def check_flip(flip: Flip, task, rtol: float = 1e-8):
    """Raise unless the flip keeps the task's input statistics, `Q Σxx Qᵀ = Σxx`."""
    Q = np.asarray(input_matrix(flip, task))
    sxx = np.asarray(task.sigma_xx)
    gap = np.abs(Q @ sxx @ Q.T - sxx).max()
    if gap > rtol * max(np.abs(sxx).max(), 1e-300):
        which = "the reversal of the input coordinates (the default)" \
            if flip.transform is None else "`Flip.transform`"
        raise ValueError(f"{which} changes the task's input statistics (max |QΣxxQᵀ − Σxx| = "
                         f"{gap:.3g}): a flip must keep them. Pass `transform=` an orthogonal "
                         "Q that commutes with sigma_xx, or use Blur.")


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
            "Freeze/Remove/Noise/Decorrelate/Lesion/Blur/Flip, or a list of them; got "
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
