"""dln.transfer: the completion transfer map (depth 1 immune, depth 3 damaged, one sweep that
saves and resumes) and the exact two-layer map (reversal stall grows with pre-training)."""

import jax
import numpy as np

from dln import transfer


def test_completion_map(tmp_path, capsys):
    kw = dict(n=20, rank_b=2, pretrain=[0.0, 3000.0], post=4000.0, lr=1.0, depths=(1, 3),
              ranks_a=(4,), n_obs=(160,), seeds=2, path=tmp_path / "map.npz")
    out = transfer.completion_map(jax.random.key(0), **kw)
    err = out["final_test_error"]
    assert err.shape == out["switch_test_error_a"].shape == (2, 1, 1, 1, 2, 2)
    assert "completion transfer map" in capsys.readouterr().err
    d1, d3 = err[0, 0, 0, 0], err[1, 0, 0, 0]  # (seeds, T)
    assert np.all(np.ptp(d1, axis=-1) <= 1e-10 * d1.mean(axis=-1))  # depth 1: no effect
    assert np.all(d3[:, 1] > 10 * d3[:, 0]) and np.all(d3[:, 0] < 1e-2) and np.all(d1 > 1e-2)
    assert np.all(out["final_train_loss"] < 1e-4)
    assert np.ptp(d1[:, 0]) > 0  # the two seeds are different draws
    again = transfer.completion_map(jax.random.key(0), **kw)  # resumed from the file
    np.testing.assert_array_equal(again["final_test_error"], err)
    # seeds=None (the default): one draw, the key itself, and no seed axis
    one = transfer.completion_map(jax.random.key(0), **dict(kw, seeds=None, depths=(1,),
                                                            path=None, progress=False))
    assert one["final_test_error"].shape == (1, 1, 1, 1, 2) and one["seeds"] is None
    np.testing.assert_allclose(one["final_test_error"][0], err[0, ..., 0, :], rtol=1e-12)


def test_two_layer_map_reversal_stall_grows_with_pretraining():
    out = transfer.two_layer_map(jax.random.key(0), n=4, s_a=[3.0, 2.0], s_b=[3.0, 2.0],
                                 angles=[0.0, np.pi / 2], pretrain=[0.0, 2.0, 20.0], post=10.0,
                                 reversal=True, progress=False)
    loss, stalled = out["final_loss"], out["stalled_modes"]
    assert loss.shape == stalled.shape == (2, 3)
    # same subspaces, opposite sign: fine without pre-training, stalled after a long one
    assert loss[0, 0] < 1e-3 and stalled[0, 0] == 0
    assert stalled[0, 2] >= 1 and loss[0, 2] > 1.0
    # orthogonal subspaces: nothing is reversed, but pre-training on A shrinks the small
    # components along B's directions, so B is learned later: after a long pre-training, B's
    # second mode (s = 2, loss ½·2² = 2) has not started within `post`, and its component
    # is below the relative threshold (1e-11) under which the exact solution counts it stalled
    assert np.all(stalled[1, :2] == 0) and loss[1, 0] < 1e-3
    assert np.all(np.diff(loss[1]) > 0) and loss[1, 2] > 1.0 and stalled[1, 2] >= 1
