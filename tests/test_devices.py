"""Batched simulation over several devices: `dln.simulate(..., devices=)` and
`dln.pathways.simulate(..., devices=)` shard the batch over a `jax.sharding` mesh.

Run on 4 CPU devices in a subprocess (`XLA_FLAGS` must be set before jax is imported)."""

import json
import os
import subprocess
import sys
from pathlib import Path

MULTI_DEVICE = r'''
import json
import jax
import jax.numpy as jnp
import numpy as np
import dln

rng = np.random.default_rng(0)
task = dln.Task.from_data(rng.normal(size=(50, 5)), rng.normal(size=(50, 3)))
B = 7  # padded to 8: 2 per device
ws = [jnp.asarray(rng.normal(size=(B, o, i)) * 0.2) for i, o in [(5, 4), (4, 3)]]
lrs = jnp.linspace(0.02, 0.08, B)
res = {"n_devices": len(jax.devices()), "x64": jax.config.jax_enable_x64}

spread = dln.simulate(task, ws, lr=lrs, steps=20, every=10)  # devices=None: all 4
res["shape"] = list(spread.map.shape)
res["on_default_device"] = spread.map.devices() == {jax.devices()[0]}
# each device's slice of the padded batch (the last member repeated) run on one device, one
# after the other: the same bits
pad = lambda a: jnp.concatenate([a, a[-1:]])
slices = [dln.simulate(task, [pad(w)[i:i + 2] for w in ws], lr=pad(lrs)[i:i + 2], steps=20,
                       every=10, devices=1) for i in range(0, B + 1, 2)]
res["bitwise_per_slice"] = {f: bool(np.array_equal(  # what the loop computes (modes and
    getattr(spread, f), np.concatenate([getattr(s, f) for s in slices])[:B]))  # loss are read
    for f in ("map", "t", "diverged_at")}  # off the maps afterwards, in one batch)
res["bitwise_final"] = all(np.array_equal(
    a, np.concatenate([s.final_weights[l] for s in slices])[:B])
    for l, a in enumerate(spread.final_weights))
# a batch of learning rates alone, over a list of two devices
two = dln.simulate(task, [w[0] for w in ws], lr=lrs[:5], steps=20, every=20,
                   devices=[jax.devices()[1], jax.devices()[3]])
alone = dln.simulate(task, [w[0] for w in ws], lr=lrs[:5], steps=20, every=20, devices=1)
res["lr_batch"] = [list(two.map.shape), float(np.max(np.abs(two.map - alone.map)))]
# pathways: a batch of weights
X = rng.normal(size=(50, 4))
tp = dln.Task.from_data(X, X[:, :2] + 0.1 * rng.normal(size=(50, 2)))
pw = [[jnp.asarray(rng.normal(size=(3, 3, 4)) * 0.1), jnp.asarray(rng.normal(size=(3, 2, 3)) * 0.1)]
      for _ in range(2)]
p4 = dln.pathways.simulate(tp, pw, lr=0.05, steps=20, every=10)
p1 = dln.pathways.simulate(tp, pw, lr=0.05, steps=20, every=10, devices=1)
res["pathways"] = [list(p4.map.shape), float(np.max(np.abs(p4.map - p1.map)))]
print(json.dumps(res))
'''


def test_batched_simulate_spreads_over_devices_with_the_same_results():
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu", JAX_ENABLE_X64="1",
               XLA_FLAGS="--xla_force_host_platform_device_count=4")
    done = subprocess.run([sys.executable, "-c", MULTI_DEVICE], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    assert res["n_devices"] == 4 and res["x64"]
    assert res["shape"] == [7, 3, 3, 5] and res["on_default_device"]  # padding stripped
    assert res["bitwise_per_slice"] == dict.fromkeys(("map", "t", "diverged_at"), True)
    assert res["bitwise_final"]
    assert res["lr_batch"][0] == [5, 2, 3, 5] and res["lr_batch"][1] < 1e-15
    assert res["pathways"][0] == [3, 3, 2, 2, 4] and res["pathways"][1] < 1e-15


def test_devices_argument_is_checked():
    import jax
    import numpy as np
    import pytest

    import dln

    task = dln.Task(np.eye(2), np.eye(2))
    w = [np.ones((3, 2, 2)) * 0.1]
    for bad, err in [("cpu", TypeError), (0, ValueError), (len(jax.local_devices()) + 1,
                                                           ValueError), ([], ValueError),
                     (["cpu"], TypeError)]:
        with pytest.raises(err, match="`devices`"):
            dln.simulate(task, w, lr=0.1, steps=2, devices=bad)
