"""Bad input gets a clear error that names the argument (the project's validation rule).

One parametrized battery over the public functions of `task`, `init`, `completion`,
`transfer`, `trajectory`, `schedule`, `task_pairs`, `datasets`, `ocs`, `regime` and
`pathways`: each case asserts the exception type and that the message names the argument
(`match=`). Nearly every case fails before any compilation, so the file stays fast.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dln.pathways import measures, sources
from dln.pathways.deficits import Decorrelate, Freeze, Lesion, Noise, Remove

import dln
from dln import completion, datasets, init, ocs, pathways, regime, schedule, task_pairs, transfer
from dln._checks import as_array

NAN = float("nan")
INF = float("inf")
KEY = jax.random.key(0)
TASK = dln.Task(np.eye(2), np.diag([2.0, 1.0]))
DATA_TASK = dln.Task.from_data(np.eye(4), np.eye(4)[:, :3])
W2 = [np.eye(2) * 0.1, np.eye(2) * 0.1]
PROBLEM = completion.Problem(np.ones((3, 3)), np.ones((3, 3)))
LAYERS = [np.eye(3) * 0.1, np.eye(3) * 0.1]
PATHS = [[np.eye(2) * 0.1, np.eye(2) * 0.1], [np.eye(2) * 0.1, np.eye(2) * 0.1]]
EXACT = dln.solve(TASK, depth=2, u0=1e-3, t=np.linspace(0.0, 5.0, 6))
SIM = dln.simulate(TASK, W2, lr=0.05, steps=4)
SIM_DATA = dln.simulate(DATA_TASK, [np.ones((2, 4)) * 0.1, np.ones((3, 2)) * 0.1], lr=0.05,
                        steps=4)
EXACT_P = pathways.solve(TASK, depth=2, u0=(1e-3, 1e-3), t=[0.0, 1.0])
RAGGED = [[1.0, 2.0], [3.0]]
CPLX = np.eye(2) * (1 + 1j)


def _sched(task=TASK, d=1.0):
    return [(task, d)]


def _prob_sched(d=1.0):
    return [(PROBLEM, d)]


# (id, call, exception type, match): match names the argument as the user wrote it.
CASES = [
    # ------------------------------------------------------------------ 1. as_array and Task
    ("Task complex sigma_yx", lambda: dln.Task(np.eye(2), CPLX), TypeError, "`sigma_yx`.*complex"),
    ("Task complex sigma_xx", lambda: dln.Task(CPLX, np.eye(2)), TypeError, "`sigma_xx`"),
    ("Task complex sigma_yy", lambda: dln.Task(np.eye(2), np.eye(2), CPLX), TypeError,
     "`sigma_yy`"),
    ("Task ragged", lambda: dln.Task(np.eye(2), RAGGED), ValueError, "`sigma_yx`.*ragged"),
    ("Task object array", lambda: dln.Task(np.eye(2), np.array([[1, None], [1, 2]])), TypeError,
     "`sigma_yx`"),
    ("Task string", lambda: dln.Task("eye", np.eye(2)), TypeError, "`sigma_xx`"),
    ("Task None", lambda: dln.Task(None, np.eye(2)), TypeError, "`sigma_xx`"),
    ("Task dict", lambda: dln.Task({}, np.eye(2)), TypeError, "`sigma_xx`"),
    ("from_data complex X", lambda: dln.Task.from_data(CPLX, np.eye(2)), TypeError, "`X`"),
    ("from_data complex Y", lambda: dln.Task.from_data(np.eye(2), CPLX), TypeError, "`Y`"),
    ("from_data ragged X", lambda: dln.Task.from_data(RAGGED, np.eye(2)), ValueError, "`X`"),
    ("from_data NaN Y", lambda: dln.Task.from_data(np.eye(2), np.full((2, 2), NAN)), ValueError,
     "`Y`"),
    ("Task X wrong columns", lambda: dln.Task(np.eye(2), np.eye(2), X=np.ones((3, 3))),
     ValueError, "`X`"),
    ("Task.loss wrong shape", lambda: TASK.loss(np.ones((3, 3))), ValueError, "`W`"),
    ("Task.loss complex", lambda: TASK.loss(CPLX), TypeError, "`W`"),
    ("Task.mode_strengths shape", lambda: TASK.mode_strengths(np.ones(2)), ValueError, "`W`"),
    ("Task.map_from_modes shape", lambda: TASK.map_from_modes(np.ones(3)), ValueError,
     "`modes`"),
    ("Task.loss_of_modes shape", lambda: TASK.loss_of_modes(np.ones((2, 3))), ValueError,
     "`modes`"),
    ("simulate complex weights", lambda: dln.simulate(TASK, [CPLX, np.eye(2)], lr=0.1, steps=1),
     TypeError, r"`weights\[0\]`.*complex"),
    ("simulate ragged weights", lambda: dln.simulate(TASK, [RAGGED, np.eye(2)], lr=0.1, steps=1),
     ValueError, r"`weights\[0\]`"),
    # ------------------------------------------------------------------------------ 4. init
    ("gaussian scale NaN", lambda: init.gaussian(KEY, [2, 2], NAN), ValueError, "`scale`"),
    ("gaussian scale inf", lambda: init.gaussian(KEY, [2, 2], INF), ValueError, "`scale`"),
    ("gaussian scale negative", lambda: init.gaussian(KEY, [2, 2], -1.0), ValueError, "`scale`"),
    ("gaussian scale complex", lambda: init.gaussian(KEY, [2, 2], 1j), TypeError, "`scale`"),
    ("gaussian scale string", lambda: init.gaussian(KEY, [2, 2], "1"), TypeError, "`scale`"),
    ("gaussian scale bool", lambda: init.gaussian(KEY, [2, 2], True), TypeError, "`scale`"),
    ("gaussian scale array", lambda: init.gaussian(KEY, [2, 2], np.ones(2)), ValueError,
     "`scale`"),
    ("gaussian key int", lambda: init.gaussian(0, [2, 2], 1.0), TypeError, "`key`"),
    ("gaussian key None", lambda: init.gaussian(None, [2, 2], 1.0), TypeError, "`key`"),
    ("gaussian dims bool", lambda: init.gaussian(KEY, [True, 2], 1.0), ValueError, "`dims`"),
    ("gaussian dims float", lambda: init.gaussian(KEY, [2.0, 2], 1.0), ValueError, "`dims`"),
    ("gaussian dims zero", lambda: init.gaussian(KEY, [0, 2], 1.0), ValueError, "`dims`"),
    ("gaussian dims short", lambda: init.gaussian(KEY, [2], 1.0), ValueError, "`dims`"),
    ("gaussian dims int", lambda: init.gaussian(KEY, 3, 1.0), TypeError, "`dims`"),
    ("gaussian dims string", lambda: init.gaussian(KEY, "23", 1.0), TypeError, "`dims`"),
    ("gaussian dtype int", lambda: init.gaussian(KEY, [2, 2], 1.0, dtype=jnp.int32), TypeError,
     "`dtype`"),
    ("orthogonal scale NaN", lambda: init.orthogonal(KEY, [2, 2], NAN), ValueError, "`scale`"),
    ("orthogonal key", lambda: init.orthogonal("k", [2, 2]), TypeError, "`key`"),
    ("balanced scale negative", lambda: init.balanced(KEY, [2, 2, 2], -0.1), ValueError,
     "`scale`"),
    ("balanced scale NaN", lambda: init.balanced(KEY, [2, 2, 2], NAN), ValueError, "`scale`"),
    ("balanced lam NaN", lambda: init.balanced(KEY, [2, 2, 2], 0.1, lam=NAN), ValueError,
     "`lam`"),
    ("balanced lam string", lambda: init.balanced(KEY, [2, 2, 2], 0.1, lam="0"), TypeError,
     "`lam`"),
    ("balanced key", lambda: init.balanced([0, 1], [2, 2, 2], 0.1), TypeError, "`key`"),
    ("random_orthogonal n", lambda: init.random_orthogonal(KEY, 0), ValueError, "`n`"),
    ("random_orthogonal n float", lambda: init.random_orthogonal(KEY, 2.5), TypeError, "`n`"),
    ("aligned u0 NaN", lambda: init.aligned(TASK, 2, u0=NAN), ValueError, "`u0`"),
    ("aligned u0 complex", lambda: init.aligned(TASK, 2, u0=1e-3 + 1j), TypeError, "`u0`"),
    ("aligned u0 negative", lambda: init.aligned(TASK, 2, u0=-1e-3), ValueError, "`u0`"),
    ("aligned u0 shape", lambda: init.aligned(TASK, 2, u0=np.ones(3)), ValueError, "`u0`"),
    ("aligned depth 0", lambda: init.aligned(TASK, 0), ValueError, "`depth`"),
    ("aligned depth bool", lambda: init.aligned(TASK, True), TypeError, "`depth`"),
    ("aligned depth float", lambda: init.aligned(TASK, 2.0), TypeError, "`depth`"),
    ("aligned task", lambda: init.aligned("task", 2), TypeError, "`task`"),
    ("aligned width 0", lambda: init.aligned(TASK, 2, width=0), ValueError, "`width`"),
    ("aligned width string", lambda: init.aligned(TASK, 2, width="3"), TypeError, "`width`"),
    ("aligned width bool", lambda: init.aligned(TASK, 2, width=True), TypeError, "`width`"),
    ("aligned key", lambda: init.aligned(TASK, 2, key=3), TypeError, "`key`"),
    ("aligned_from_strengths shape", lambda: init.aligned_from_strengths(TASK, 2, np.ones(3)),
     ValueError, "`strengths`"),
    ("aligned_from_strengths NaN",
     lambda: init.aligned_from_strengths(TASK, 2, np.array([NAN, 1.0])), ValueError,
     "`strengths`"),
    ("aligned_from_strengths bases",
     lambda: init.aligned_from_strengths(TASK, 2, np.ones(2), bases=[np.ones((2, 3))]),
     ValueError, r"`bases\[0\]`"),
    # ------------------------------------------------------------------------ 2. completion
    ("Problem NaN target list", lambda: completion.Problem([[NAN, 1.0], [1.0, 1.0]],
                                                           [[1, 1], [1, 1]]),
     ValueError, "`target`"),
    ("Problem mask of 2s list", lambda: completion.Problem([[1.0, 1.0], [1.0, 1.0]],
                                                           [[2, 2], [2, 2]]),
     ValueError, "`mask`"),
    ("Problem mask of 2s array", lambda: completion.Problem(np.ones((2, 2)), np.full((2, 2), 2.0)),
     ValueError, "`mask`"),
    ("Problem mask empty", lambda: completion.Problem(np.ones((2, 2)), np.zeros((2, 2))),
     ValueError, "`mask`"),
    ("Problem shapes", lambda: completion.Problem([[1.0, 2.0]], [[1, 1]]), ValueError, "square"),
    ("Problem mask shape", lambda: completion.Problem(np.ones((2, 2)), np.ones((3, 3))),
     ValueError, "`mask`"),
    ("Problem complex", lambda: completion.Problem(CPLX, np.ones((2, 2))), TypeError, "`target`"),
    ("Problem ragged", lambda: completion.Problem(RAGGED, np.ones((2, 2))), ValueError,
     "`target`"),
    ("Problem None target", lambda: completion.Problem(None, np.ones((2, 2))), TypeError,
     "`target`"),
    ("Problem string mask", lambda: completion.Problem(np.ones((2, 2)), "all"), TypeError,
     "`mask`"),
    ("Problem scalar", lambda: completion.Problem(1.0, 1.0), ValueError, "`target`"),
    ("completion.simulate weights chain", lambda: completion.simulate(
        _prob_sched(), [np.eye(3), np.ones((2, 3))], lr=0.1), ValueError,
     r"`weights\[1\]` must have shape \(3, 3\)"),
    ("completion.simulate weights n", lambda: completion.simulate(
        _prob_sched(), [np.eye(2), np.eye(2)], lr=0.1), ValueError, r"`weights\[0\]`"),
    ("completion.simulate weights type", lambda: completion.simulate(
        _prob_sched(), np.eye(3), lr=0.1), TypeError, "`weights`"),
    ("completion.simulate weights empty", lambda: completion.simulate(_prob_sched(), [], lr=0.1),
     ValueError, "`weights`"),
    ("completion.simulate lr NaN", lambda: completion.simulate(_prob_sched(), LAYERS, lr=NAN),
     ValueError, "`lr`"),
    ("completion.simulate lr 0", lambda: completion.simulate(_prob_sched(), LAYERS, lr=0.0),
     ValueError, "`lr`"),
    ("completion.simulate lr string", lambda: completion.simulate(_prob_sched(), LAYERS, lr="1"),
     TypeError, "`lr`"),
    ("completion.simulate on_divergence", lambda: completion.simulate(
        _prob_sched(), LAYERS, lr=0.1, on_divergence="ignore"), ValueError, "`on_divergence`"),
    ("completion.simulate every 0", lambda: completion.simulate(
        _prob_sched(), LAYERS, lr=0.1, every=0), ValueError, "`every`"),
    ("completion.simulate every float", lambda: completion.simulate(
        _prob_sched(), LAYERS, lr=0.1, every=1.0), TypeError, "`every`"),
    ("completion.simulate schedule", lambda: completion.simulate(PROBLEM, LAYERS, lr=0.1),
     TypeError, "`schedule`"),
    ("completion.simulate NaN duration", lambda: completion.simulate(
        [(PROBLEM, NAN)], LAYERS, lr=0.1), ValueError, r"`schedule\[0\] duration`"),
    ("completion.simulate negative duration", lambda: completion.simulate(
        [(PROBLEM, -1.0)], LAYERS, lr=0.1), ValueError, r"`schedule\[0\]`"),
    ("completion.theory W0 shape", lambda: completion.theory(
        _prob_sched(), np.eye(2), 2, h=0.1), ValueError, "`W0`"),
    ("completion.theory h", lambda: completion.theory(_prob_sched(), np.eye(3), 2, h=-0.1),
     ValueError, "`h`"),
    ("completion.theory depth", lambda: completion.theory(_prob_sched(), np.eye(3), 0, h=0.1),
     ValueError, "`depth`"),
    ("completion.init scale NaN", lambda: completion.init(KEY, 3, 2, NAN), ValueError, "`scale`"),
    ("completion.init scale 0", lambda: completion.init(KEY, 3, 2, 0.0), ValueError, "`scale`"),
    ("completion.init n", lambda: completion.init(KEY, 0, 2, 0.1), ValueError, "`n`"),
    ("completion.init n float", lambda: completion.init(KEY, 3.0, 2, 0.1), TypeError, "`n`"),
    ("completion.init key", lambda: completion.init(1, 3, 2, 0.1), TypeError, "`key`"),
    ("completion.init kind", lambda: completion.init(KEY, 3, 2, 0.1, kind="eye"), ValueError,
     "`kind`"),
    ("low_rank_matrix key", lambda: completion.low_rank_matrix("k", 3, 1), TypeError, "`key`"),
    ("low_rank_matrix n bool", lambda: completion.low_rank_matrix(KEY, True, 1), ValueError,
     "`n`"),
    ("observation_masks counts", lambda: completion.observation_masks(KEY, 3, [0]), ValueError,
     "`counts`"),
    ("observation_masks counts float", lambda: completion.observation_masks(KEY, 3, [1.5]),
     ValueError, "`counts`"),
    ("observation_masks n", lambda: completion.observation_masks(KEY, -1, [1]), ValueError,
     "`n`"),
    ("observation_masks key", lambda: completion.observation_masks(None, 3, [1]), TypeError,
     "`key`"),
    ("train_loss W shape", lambda: completion.train_loss(np.ones((2, 2)), PROBLEM), ValueError,
     "`W`"),
    ("train_loss problem", lambda: completion.train_loss(np.ones((3, 3)), "p"), TypeError,
     "`problem`"),
    ("test_error shapes", lambda: completion.test_error(np.ones((2, 2)), np.ones((3, 3))),
     ValueError, "`W`"),
    ("loss_gradient complex", lambda: completion.loss_gradient(np.eye(3) * 1j, PROBLEM),
     TypeError, "`W`"),
    ("end_to_end_velocity G", lambda: completion.end_to_end_velocity(np.eye(3), np.eye(2), 2),
     ValueError, "`G`"),
    ("end_to_end_velocity depth", lambda: completion.end_to_end_velocity(np.eye(3), np.eye(3), 0),
     ValueError, "`depth`"),
    ("singular_value_rates W", lambda: completion.singular_value_rates(np.ones(3), np.eye(3), 2),
     ValueError, "`W`"),
    ("completion.lr_bound problem", lambda: completion.lr_bound(np.eye(3), 2), TypeError,
     "`problem`"),
    ("completion.lr_bound depth", lambda: completion.lr_bound(PROBLEM, -1), ValueError,
     "`depth`"),
    # --------------------------------------------------------------------- 5. Trajectory.time_to
    ("time_to 0", lambda: EXACT.time_to(0.0), ValueError, "`fraction`"),
    ("time_to negative", lambda: EXACT.time_to(-0.5), ValueError, "`fraction`"),
    ("time_to NaN", lambda: EXACT.time_to(NAN), ValueError, "`fraction`"),
    ("time_to inf", lambda: EXACT.time_to(INF), ValueError, "`fraction`"),
    ("time_to complex", lambda: EXACT.time_to(0.5 + 1j), TypeError, "`fraction`"),
    ("time_to string", lambda: EXACT.time_to("half"), TypeError, "`fraction`"),
    ("time_to shape", lambda: EXACT.time_to(np.full(3, 0.5)), ValueError, "`fraction`"),
    ("time_to 2-D", lambda: EXACT.time_to(np.full((2, 2), 0.5)), ValueError, "`fraction`"),
    ("time_to simulated 0", lambda: SIM.time_to(0.0), ValueError, "`fraction`"),
    ("Trajectory.weights bases", lambda: EXACT.weights(bases="I"), TypeError, "`bases`"),
    # -------------------------------------------------------------------------- 6. maps
    ("critical_period_map t negative", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=-1.0), ValueError, "`t`"),
    ("critical_period_map t NaN", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=NAN), ValueError, "`t`"),
    ("critical_period_map t array", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=[1.0, 2.0]), ValueError,
     "`t`"),
    ("critical_period_map onsets negative", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[-1.0], lengths=[1.0], t=1.0), ValueError,
     "`onsets`"),
    ("critical_period_map onsets NaN", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[NAN], lengths=[1.0], t=1.0), ValueError,
     "`onsets`"),
    ("critical_period_map lengths negative", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[-1.0], t=1.0), ValueError,
     "`lengths`"),
    ("critical_period_map lengths empty", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[], t=1.0), ValueError,
     "`lengths`"),
    ("critical_period_map lengths inf", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[INF], t=1.0), ValueError,
     "`lengths`"),
    ("critical_period_map pathway", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=1.0, pathway=2),
     ValueError, "`pathway`"),
    ("critical_period_map pathway negative", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=1.0, pathway=-1),
     ValueError, "`pathway`"),
    ("critical_period_map depth", lambda: pathways.critical_period_map(
        TASK, depth=0, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=1.0), ValueError,
     "`depth`"),
    ("critical_period_map u0", lambda: pathways.critical_period_map(
        TASK, depth=2, u0=(NAN, 1e-3), onsets=[0.0], lengths=[1.0], t=1.0), ValueError,
     r"`u0\[0\]`"),
    ("critical_period_map task", lambda: pathways.critical_period_map(
        None, depth=2, u0=(1e-3, 1e-3), onsets=[0.0], lengths=[1.0], t=1.0), TypeError,
     "`task`"),
    ("simulated_critical_period_map onsets", lambda: pathways.simulated_critical_period_map(
        TASK, PATHS, lr=0.1, steps=2, onsets=[NAN], lengths=[1.0]), ValueError, "`onsets`"),
    ("simulated_critical_period_map pathway", lambda: pathways.simulated_critical_period_map(
        TASK, PATHS, lr=0.1, steps=2, onsets=[0.0], lengths=[1.0], pathway=1.0), TypeError,
     "`pathway`"),
    # -------------------------------------------------------------------------- 7. transfer
    ("two_layer_map angles NaN", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[NAN], pretrain=[1.0], post=1.0), ValueError,
     "`angles`"),
    ("two_layer_map angles too big", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[2.0], pretrain=[1.0], post=1.0), ValueError,
     "`angles`"),
    ("two_layer_map angles need 2r <= n", lambda: transfer.two_layer_map(
        KEY, n=3, s_a=[1.0, 1.0], s_b=[1.0], angles=[0.3], pretrain=[1.0], post=1.0), ValueError,
     "`angles`"),
    ("two_layer_map pretrain negative", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[-1.0], post=1.0), ValueError,
     "`pretrain`"),
    ("two_layer_map pretrain NaN", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[NAN], post=1.0), ValueError,
     "`pretrain`"),
    ("two_layer_map post negative", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=-1.0), ValueError,
     "`post`"),
    ("two_layer_map post string", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post="1"), TypeError,
     "`post`"),
    ("two_layer_map n", lambda: transfer.two_layer_map(
        KEY, n=0, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0), ValueError,
     "`n`"),
    ("two_layer_map n float", lambda: transfer.two_layer_map(
        KEY, n=4.0, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0), TypeError,
     "`n`"),
    ("two_layer_map s_a", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[-1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0), ValueError,
     "`s_a`"),
    ("two_layer_map scale", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0, scale=NAN),
     ValueError, "`scale`"),
    ("two_layer_map lam", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0, lam=INF),
     ValueError, "`lam`"),
    ("two_layer_map reversal", lambda: transfer.two_layer_map(
        KEY, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0, reversal="no"),
     TypeError, "`reversal`"),
    ("two_layer_map key", lambda: transfer.two_layer_map(
        0, n=4, s_a=[1.0], s_b=[1.0], angles=[0.0], pretrain=[1.0], post=1.0), TypeError,
     "`key`"),
    ("completion_map pretrain", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[-0.1], post=0.1, lr=0.1), ValueError, "`pretrain`"),
    ("completion_map pretrain multiple", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.15], post=0.1, lr=0.1), ValueError, "`pretrain`"),
    ("completion_map post", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=NAN, lr=0.1), ValueError, "`post`"),
    ("completion_map lr", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.0), ValueError, "`lr`"),
    ("completion_map rank_b", lambda: transfer.completion_map(
        KEY, n=4, rank_b=5, pretrain=[0.1], post=0.1, lr=0.1), ValueError, "`rank_b`"),
    ("completion_map depths", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.1, depths=(0,)), ValueError,
     "`depths`"),
    ("completion_map ranks_a", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.1, ranks_a=(9,)), ValueError,
     "`ranks_a`"),
    ("completion_map scales", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.1, scales=(-1.0,)), ValueError,
     "`scales`"),
    ("completion_map kind", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.1, kind="x"), ValueError, "`kind`"),
    ("completion_map fewer_first", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.1, n_obs=(8,), fewer_first=0),
     ValueError, "`fewer_first`"),
    ("completion_map n_obs", lambda: transfer.completion_map(
        KEY, n=4, rank_b=1, pretrain=[0.1], post=0.1, lr=0.1, n_obs=(17,)), ValueError,
     "`n_obs`"),
    # ------------------------------------------------------------------ 8. pathways.simulate
    ("pathways.simulate on_divergence", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, on_divergence="ignore"), ValueError, "`on_divergence`"),
    ("pathways.simulate check_lr", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, check_lr="yes"), TypeError, "`check_lr`"),
    ("pathways.simulate lr too large", lambda: pathways.simulate(TASK, PATHS, lr=1.0, steps=1),
     ValueError, "`lr`.*check_lr"),
    ("pathways.simulate lr NaN", lambda: pathways.simulate(TASK, PATHS, lr=NAN, steps=1),
     ValueError, "`lr`"),
    ("pathways.simulate lr negative", lambda: pathways.simulate(TASK, PATHS, lr=-0.1, steps=1),
     ValueError, "`lr`"),
    ("pathways.simulate lr complex", lambda: pathways.simulate(TASK, PATHS, lr=0.1j, steps=1),
     TypeError, "`lr`"),
    ("pathways.simulate steps float", lambda: pathways.simulate(TASK, PATHS, lr=0.1, steps=1.0),
     TypeError, "`steps`"),
    ("pathways.simulate steps negative", lambda: pathways.simulate(TASK, PATHS, lr=0.1,
                                                                   steps=-1),
     ValueError, "`steps`"),
    ("pathways.simulate steps bool", lambda: pathways.simulate(TASK, PATHS, lr=0.1, steps=True),
     TypeError, "`steps`"),
    ("pathways.simulate every", lambda: pathways.simulate(TASK, PATHS, lr=0.1, steps=3, every=2),
     ValueError, "`every`"),
    ("pathways.simulate task", lambda: pathways.simulate(np.eye(2), PATHS, lr=0.1, steps=1),
     TypeError, "`task`"),
    ("pathways.simulate weights flat", lambda: pathways.simulate(TASK, W2, lr=0.1, steps=1),
     TypeError, "`weights`"),
    ("pathways.simulate weights complex", lambda: pathways.simulate(
        TASK, [[CPLX, np.eye(2)], [np.eye(2), np.eye(2)]], lr=0.1, steps=1), TypeError,
     r"`weights\[0\]\[0\]`"),
    ("pathways.simulate weights chain", lambda: pathways.simulate(
        TASK, [[np.eye(2), np.ones((2, 3))], [np.eye(2), np.eye(2)]], lr=0.1, steps=1),
     ValueError, r"weights\[0\]\[1\]"),
    ("pathways.simulate shared type", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, shared=np.eye(2)), TypeError, "`shared`"),
    ("pathways.simulate reconstruction", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, reconstruction=-1.0), ValueError, "`reconstruction`"),
    ("pathways.simulate reconstruction NaN", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, reconstruction=NAN), ValueError, "`reconstruction`"),
    ("pathways.simulate record_weights", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, record_weights=None), TypeError, "`record_weights`"),
    ("pathways.simulate sources", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, sources=[(0, 1), (1, 5)]), ValueError, r"`sources\[1\]`"),
    ("pathways.simulate deficit", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, deficit="freeze"), TypeError, "`deficit`"),
    ("pathways.simulate layer_mask", lambda: pathways.simulate(
        TASK, PATHS, lr=0.1, steps=1, layer_mask=[np.ones(3), np.ones(2)]), ValueError,
     r"layer_mask\[0\]"),
    ("pathways.aligned key", lambda: pathways.aligned(TASK, 2, (1e-3, 1e-3), key=1), TypeError,
     "`key`"),
    ("pathways.aligned u0", lambda: pathways.aligned(TASK, 2, 1e-3), TypeError, "`u0`"),
    ("pathways.aligned u0 NaN", lambda: pathways.aligned(TASK, 2, (NAN, 1e-3)), ValueError,
     "`u0`"),
    ("pad_depth depth", lambda: pathways.pad_depth(PATHS, 0), ValueError, "`depth`"),
    ("pad_depth depth float", lambda: pathways.pad_depth(PATHS, 3.0), TypeError, "`depth`"),
    ("pad_depth complex", lambda: pathways.pad_depth([[CPLX]], 2), TypeError,
     r"`weights\[0\]\[0\]`"),
    ("pad_depth weights", lambda: pathways.pad_depth(np.eye(2), 2), TypeError, "`weights`"),
    ("pathways.solve t negative", lambda: pathways.solve(TASK, depth=2, u0=(1e-3,), t=-1.0),
     ValueError, "`t`"),
    ("pathways.solve u0 complex", lambda: pathways.solve(TASK, depth=2, u0=(1e-3j,), t=1.0),
     TypeError, r"`u0\[0\]`"),
    ("pathways.solve rtol", lambda: pathways.solve(TASK, depth=2, u0=(1e-3,), t=1.0, rtol=2.0),
     ValueError, "`rtol`"),
    ("pathways.solve max_steps", lambda: pathways.solve(TASK, depth=2, u0=(1e-3,), t=1.0,
                                                        max_steps=0),
     ValueError, "`max_steps`"),
    ("pathways.solve max_steps float", lambda: pathways.solve(TASK, depth=2, u0=(1e-3,), t=1.0,
                                                              max_steps=1e5),
     TypeError, "`max_steps`"),
    ("final_split u0", lambda: pathways.final_split(TASK, depth=2, u0=[[1e-3, 1e-3]] * 0),
     TypeError, "`u0`"),
    # ------------------------------------------------------------------ 9. deficits
    ("Freeze length negative", lambda: Freeze(1, 0.0, -1.0), ValueError, "`Freeze.length`"),
    ("Freeze onset negative", lambda: Freeze(1, -1.0, 1.0), ValueError, "`Freeze.onset`"),
    ("Freeze onset NaN", lambda: Freeze(1, NAN, 1.0), ValueError, "`Freeze.onset`"),
    ("Freeze length inf", lambda: Freeze(1, 0.0, INF), ValueError, "`Freeze.length`"),
    ("Freeze length list negative", lambda: Freeze(1, [0.0, 1.0], [1.0, -1.0]), ValueError,
     "`Freeze.length`"),
    ("Freeze length complex", lambda: Freeze(1, 0.0, 1j), TypeError, "`Freeze.length`"),
    ("Freeze length string", lambda: Freeze(1, 0.0, "1"), TypeError, "`Freeze.length`"),
    ("Freeze length None", lambda: Freeze(1, 0.0, None), TypeError, "`Freeze.length`"),
    ("Freeze batch mismatch", lambda: Freeze(1, [0.0, 1.0], [1.0, 1.0, 1.0]), ValueError,
     "`Freeze.onset`"),
    ("Freeze pathway float", lambda: Freeze(1.0, 0.0, 1.0), TypeError, "`pathway`"),
    ("Freeze pathway negative", lambda: Freeze(-1, 0.0, 1.0), ValueError, "`pathway`"),
    ("Remove length negative", lambda: Remove(0, 0.0, -1.0), ValueError, "`Remove.length`"),
    ("Remove source bool", lambda: Remove(True, 0.0, 1.0), TypeError, "`source`"),
    ("Noise variance negative", lambda: Noise(0, -1.0, 0.0, 1.0), ValueError,
     "`Noise.variance`"),
    ("Noise variance NaN", lambda: Noise(0, NAN, 0.0, 1.0), ValueError, "`Noise.variance`"),
    ("Noise onset negative", lambda: Noise(0, 1.0, -1.0, 1.0), ValueError, "`Noise.onset`"),
    ("Decorrelate sources", lambda: Decorrelate((0, 0), 0.0, 1.0), ValueError, "`sources`"),
    ("Decorrelate length", lambda: Decorrelate((0, 1), 0.0, -1.0), ValueError,
     "`Decorrelate.length`"),
    ("Lesion mode", lambda: Lesion(0, -1), ValueError, "`mode`"),
    ("pair deficit negative", lambda: pathways.solve(TASK, depth=2, u0=(1e-3, 1e-3), t=1.0,
                                                     deficit=(0.0, -1.0)),
     ValueError, "`Freeze.length`"),
    # ----------------------------------------------------------- pathways.sources, measures
    ("views A complex", lambda: sources.views(CPLX, 1.0, 0.1), TypeError, "`A`"),
    ("views latent_variance NaN", lambda: sources.views(np.eye(2), NAN, 0.1), ValueError,
     "`latent_variance`"),
    ("views latent_variance shape", lambda: sources.views(np.eye(2), np.ones(3), 0.1),
     ValueError, "`latent_variance`"),
    ("views noise_variance NaN", lambda: sources.views(np.eye(2), 1.0, NAN), ValueError,
     "`noise_variance`"),
    ("views noise_variance string", lambda: sources.views(np.eye(2), 1.0, "0"), TypeError,
     "`noise_variance`"),
    ("views n_views bool", lambda: sources.views(np.eye(2), 1.0, 0.1, n_views=True), TypeError,
     "`n_views`"),
    ("sources.init depth", lambda: sources.init(KEY, TASK, [(0, 1), (1, 2)], depth=0, width=2),
     ValueError, "`depth`"),
    ("sources.init width", lambda: sources.init(KEY, TASK, [(0, 1), (1, 2)], depth=2, width=0),
     ValueError, "`width`"),
    ("sources.init scale", lambda: sources.init(KEY, TASK, [(0, 1), (1, 2)], depth=2, width=2,
                                                scale=NAN),
     ValueError, "`scale`"),
    ("sources.init batch", lambda: sources.init(KEY, TASK, [(0, 1), (1, 2)], depth=2, width=2,
                                                batch=0),
     ValueError, "`batch`"),
    ("sources.init sources", lambda: sources.init(KEY, TASK, [(0, 3)], depth=2, width=2),
     ValueError, r"`sources\[0\]`"),
    ("sources.init key", lambda: sources.init(0, TASK, [(0, 1), (1, 2)], depth=2, width=2),
     TypeError, "`key`"),
    ("sources.init shared_depth", lambda: sources.init(KEY, TASK, [(0, 1), (1, 2)], depth=2,
                                                       width=2, shared_depth=-1),
     ValueError, "`shared_depth`"),
    ("fisher_trace noise_variance", lambda: measures.fisher_trace(TASK, W2, noise_variance=0.0),
     ValueError, "`noise_variance`"),
    ("fisher_trace weights", lambda: measures.fisher_trace(TASK, np.eye(2)), TypeError,
     "`weights`"),
    ("sampled_fisher_trace noise", lambda: measures.sampled_fisher_trace(
        KEY, DATA_TASK, [np.eye(4), np.ones((3, 4))], noise_variance=NAN), ValueError,
     "`noise_variance`"),
    ("sampled_fisher_trace key", lambda: measures.sampled_fisher_trace(
        1, DATA_TASK, [np.eye(4), np.ones((3, 4))]), TypeError, "`key`"),
    ("empirical_fisher_trace total_map", lambda: measures.empirical_fisher_trace(
        DATA_TASK, [np.eye(4), np.ones((3, 4))], total_map=np.ones((2, 2))), ValueError,
     "`total_map`"),
    ("shares modes", lambda: measures.shares(np.ones(3)), ValueError, "`modes`"),
    ("relative_source_variance pair", lambda: measures.relative_source_variance(
        np.ones((2, 3)), pair=(0, 2)), ValueError, "`pair`"),
    ("source_variances sources", lambda: measures.source_variances(TASK, PATHS, [(0, 1)]),
     ValueError, "`sources`"),
    ("exact_weights pathway", lambda: measures.exact_weights(EXACT_P, pathway=5), ValueError,
     "`pathway`"),
    ("exact_weights traj", lambda: measures.exact_weights(SIM), TypeError, "`traj`"),
    # ----------------------------------------------------------------------------- schedule
    ("schedule.simulate on_divergence", lambda: schedule.simulate(
        _sched(d=0.1), W2, lr=0.05, on_divergence="skip"), ValueError, "`on_divergence`"),
    ("schedule.simulate every", lambda: schedule.simulate(_sched(d=0.1), W2, lr=0.05, every=0),
     ValueError, "`every`"),
    ("schedule.simulate check_lr", lambda: schedule.simulate(_sched(d=0.1), W2, lr=0.05,
                                                             check_lr=None),
     TypeError, "`check_lr`"),
    ("schedule.simulate lr NaN", lambda: schedule.simulate(_sched(d=0.1), W2, lr=NAN),
     ValueError, "`lr`"),
    ("schedule.simulate weights complex", lambda: schedule.simulate(
        _sched(d=0.1), [CPLX, np.eye(2)], lr=0.05), TypeError, r"`weights\[0\]`"),
    ("schedule.simulate duration NaN", lambda: schedule.simulate([(TASK, NAN)], W2, lr=0.05),
     ValueError, r"`schedule\[0\] duration`"),
    ("schedule.simulate duration complex", lambda: schedule.simulate([(TASK, 1j)], W2, lr=0.05),
     TypeError, r"`schedule\[0\] duration`"),
    ("schedule.solve rtol", lambda: schedule.solve(_sched(), weights=W2, rtol=0.0), ValueError,
     "`rtol`"),
    ("schedule.solve t negative", lambda: schedule.solve(_sched(), weights=W2, t=[-1.0]),
     ValueError, "`t`"),
    ("schedule.solve weights", lambda: schedule.solve(_sched(), weights=np.eye(2)), TypeError,
     "`weights`"),
    ("schedule.phase_bounds", lambda: schedule.phase_bounds([(TASK,)]), TypeError,
     r"`schedule\[0\]`"),
    # --------------------------------------------------------------------------- task_pairs
    ("rotated_pair key", lambda: task_pairs.rotated_pair(0, 4, [1.0], [1.0]), TypeError, "`key`"),
    ("rotated_pair n bool", lambda: task_pairs.rotated_pair(KEY, True, [1.0], [1.0]), TypeError,
     "`n`"),
    ("rotated_pair n float", lambda: task_pairs.rotated_pair(KEY, 4.0, [1.0], [1.0]), TypeError,
     "`n`"),
    ("rotated_pair angle NaN", lambda: task_pairs.rotated_pair(KEY, 4, [1.0], [1.0], angle=NAN),
     ValueError, "`angle`"),
    ("rotated_pair angle string", lambda: task_pairs.rotated_pair(KEY, 4, [1.0], [1.0],
                                                                  angle="0"),
     TypeError, "`angle`"),
    ("rotated_pair s_a complex", lambda: task_pairs.rotated_pair(KEY, 4, [1j], [1.0]),
     TypeError, "`s_a`"),
    ("rotated_pair s_a ragged", lambda: task_pairs.rotated_pair(KEY, 4, RAGGED, [1.0]),
     ValueError, "`s_a`"),
    ("rotated_pair s_b string", lambda: task_pairs.rotated_pair(KEY, 4, [1.0], "1"),
     TypeError, "`s_b`"),
    ("rank rtol", lambda: task_pairs.rank(TASK, rtol=NAN), ValueError, "`rtol`"),
    ("rank rtol negative", lambda: task_pairs.rank(TASK, rtol=-1.0), ValueError, "`rtol`"),
    ("principal_angles r", lambda: task_pairs.principal_angles(TASK, TASK, r=5), ValueError,
     "`r`"),
    ("principal_angles r bool", lambda: task_pairs.principal_angles(TASK, TASK, r=True),
     TypeError, "`r`"),
    ("principal_angles shapes", lambda: task_pairs.principal_angles(TASK, DATA_TASK),
     ValueError, "`task_b`"),
    ("alignment shapes", lambda: task_pairs.alignment(TASK, DATA_TASK), ValueError, "`task_b`"),
    ("relation task", lambda: task_pairs.relation(TASK, None), TypeError, "`task_b`"),
    # ----------------------------------------------------------------------------- datasets
    ("hierarchy levels string", lambda: datasets.hierarchy("2"), TypeError, "`levels`"),
    ("hierarchy branching 1", lambda: datasets.hierarchy(2, 1), ValueError, "`branching`"),
    ("noisy_hierarchy flip NaN", lambda: datasets.noisy_hierarchy(KEY, 2, flip=NAN), ValueError,
     "`flip`"),
    ("noisy_hierarchy flip complex", lambda: datasets.noisy_hierarchy(KEY, 2, flip=0.1j),
     TypeError, "`flip`"),
    ("offset_hierarchy offset string", lambda: datasets.offset_hierarchy(2, offset="1"),
     TypeError, "`offset`"),
    ("offset_hierarchy offset inf", lambda: datasets.offset_hierarchy(2, offset=INF), ValueError,
     "`offset`"),
    # ---------------------------------------------------------------------------------- ocs
    ("ocs task", lambda: ocs.ocs(np.eye(2)), TypeError, "`task`"),
    ("outputs traj", lambda: ocs.outputs("traj"), TypeError, "`traj`"),
    ("outputs X shape", lambda: ocs.outputs(SIM_DATA, X=np.ones((3, 5))), ValueError, "`X`"),
    ("outputs X complex", lambda: ocs.outputs(SIM_DATA, X=np.ones((2, 4)) * 1j), TypeError, "`X`"),
    ("ocs_distance traj", lambda: ocs.ocs_distance(None), TypeError, "`traj`"),
    ("level_means levels", lambda: ocs.level_means(SIM_DATA, [0, 1]), ValueError, "`levels`"),
    ("level_means levels string", lambda: ocs.level_means(SIM_DATA, "012"), TypeError,
     "`levels`"),
    ("rates threshold NaN", lambda: ocs.rates(SIM_DATA, threshold=NAN), ValueError, "`threshold`"),
    ("rates threshold string", lambda: ocs.rates(SIM_DATA, threshold="0.5"), TypeError,
     "`threshold`"),
    ("rates levels", lambda: ocs.rates(SIM_DATA, levels=[0.5, 1.0]), ValueError, "`levels`"),
    # ------------------------------------------------------------------------------- regime
    ("convergence_time tol NaN", lambda: regime.convergence_time(SIM, NAN), ValueError, "`tol`"),
    ("convergence_time tol 1", lambda: regime.convergence_time(SIM, 1.0), ValueError, "`tol`"),
    ("convergence_time tol string", lambda: regime.convergence_time(SIM, "0.1"), TypeError,
     "`tol`"),
    ("convergence_time solution", lambda: regime.convergence_time("sol"), TypeError,
     "`solution`"),
    ("convergence_time limit_loss", lambda: regime.convergence_time(SIM, limit_loss=NAN),
     ValueError, "`limit_loss`"),
    ("ntk blocks", lambda: regime.ntk(np.eye(2)), TypeError, "`blocks`"),
    ("kernel_distance complex", lambda: regime.kernel_distance(CPLX, np.eye(2)), TypeError,
     "`K1`"),
    ("kernel_distance shapes", lambda: regime.kernel_distance(np.eye(2), np.eye(3)), ValueError,
     "`K2`"),
    ("ntk_movement blocks", lambda: regime.ntk_movement(None), TypeError, "`blocks`"),
]


@pytest.mark.parametrize("call, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_the_battery_is_large():
    assert len(CASES) >= 250 or len(CASES) == len({c[0] for c in CASES})


# ------------------------------------------------------------------- behaviour kept for valid input
def test_valid_forms_still_accepted():
    assert as_array([[1, 2], [3, 4]], "x").dtype == jnp.result_type(float)  # ints become floats
    assert as_array(np.eye(2, dtype=bool), "x").shape == (2, 2)  # bools become floats
    p = completion.Problem([[1.0, 2.0], [3.0, 4.0]], [[True, False], [True, True]])  # lists
    assert p.n == 2 and float(p.n_observed) == 3.0
    assert init.gaussian(KEY, [2, 3], 0.0)[0].shape == (3, 2)  # scale 0: zero weights
    assert init.balanced(KEY, [2, 2, 2], 0.0, lam=0.5)[0].shape == (2, 2)  # scale 0 with λ
    assert np.isfinite(EXACT.time_to(0.5)).all()
    assert np.all(np.asarray(EXACT.time_to(1.5)) == 0.0)  # > 1 is valid: already below 1.5
    assert EXACT.time_to(np.array([0.5, 0.9])).shape == (2,)
    Freeze(1, 0.0, 0.0)  # a zero-length window is allowed
    # JAX rebuilds pytrees with placeholders in every leaf: those pass unchecked
    assert jax.tree_util.tree_map(lambda _: "leaf", PROBLEM).target == "leaf"
    assert jax.tree_util.tree_map(lambda _: None, Freeze(1, 0.0, 1.0)).onset is None


def test_value_checks_skip_tracers():
    # under jit the values are tracers: no value checks, the functions stay traceable
    f = jax.jit(lambda s: init.gaussian(KEY, [2, 2], s)[0])
    assert f(0.5).shape == (2, 2)
    g = jax.jit(lambda f_: EXACT.time_to(f_))
    assert g(0.5).shape == (2,)
    h = jax.vmap(lambda o: Freeze(1, o, 1.0).onset)
    assert h(jnp.array([0.0, 1.0])).shape == (2,)


def test_completion_simulate_divergence_story():
    w = completion.init(KEY, 3, 2, 1.0)
    with pytest.raises(dln.DivergenceError):
        completion.simulate([(PROBLEM, 20 * 50.0)], w, lr=50.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        completion.simulate([(PROBLEM, 20 * 50.0)], w, lr=50.0, on_divergence="warn")
    assert any("diverged" in str(c.message) for c in caught)


def test_pathways_simulate_divergence_story():
    ws = pathways.aligned(TASK, 2, (1e-2, 1e-2))
    with pytest.raises(dln.DivergenceError, match="diverged"):
        pathways.simulate(TASK, ws, lr=5.0, steps=40, check_lr=False)
    with pytest.warns(RuntimeWarning, match="diverged"):
        traj = pathways.simulate(TASK, ws, lr=5.0, steps=40, every=5, check_lr=False,
                                 on_divergence="warn")
    assert 0 < int(traj.diverged_at) <= 40
    ok = pathways.simulate(TASK, ws, lr=0.1, steps=10, every=5)
    assert int(ok.diverged_at) == -1


@pytest.mark.parametrize("depth, n_pathways", [(1, 2), (2, 3), (3, 2)])
def test_pathways_lr_bound_is_the_flattest_minimum(depth, n_pathways):
    """The check_lr limit is 2 / the top Hessian eigenvalue at the equal-split balanced
    minimum (where it is attained) and no larger than 2 / that at an unequal split."""
    from dln.pathways.simulate import _lr_bound
    from jax.flatten_util import ravel_pytree

    from dln.network import product

    m = np.asarray(TASK.mode_targets)

    def stable_lr(split):
        paths = [init.aligned_from_strengths(TASK, depth, jnp.asarray(m * w)) for w in split]
        flat, unravel = ravel_pytree(paths)
        loss = lambda f: TASK.loss(sum(product(ws) for ws in unravel(f)))
        return 2.0 / np.linalg.eigvalsh(np.asarray(jax.hessian(loss)(flat))).max(), paths

    equal, paths = stable_lr(np.full(n_pathways, 1.0 / n_pathways))
    unequal, _ = stable_lr(np.linspace(1.0, 2.0, n_pathways) / np.linspace(1.0, 2.0,
                                                                            n_pathways).sum())
    bound = _lr_bound(TASK, paths, [], None, None, None, ())
    np.testing.assert_allclose(bound, equal, rtol=1e-10)
    assert unequal <= bound * (1 + 1e-10)
