"""Every example runs (`main(out_dir, quick=True)`) and writes real PNGs; the Saxe 2014 example
also reproduces its numbers: gradient descent within O(lr) of the exact solution, stage-like
learning in the order of the singular values, and the depth dependence of learning times."""

from __future__ import annotations

import ast
import functools
import importlib.util
import pathlib

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # before anything imports pyplot: examples only write files

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _defines_main(path: pathlib.Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if p.name != "__init__.py" and _defines_main(p))


@functools.cache
def _load(name: str):
    """Import `examples/<name>.py` once per session (its jitted functions keep their caches)."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_found():
    assert any(p.stem == "saxe2014_modes" for p in SCRIPTS), f"examples found: {SCRIPTS}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_and_writes_pngs(script, tmp_path, capsys):
    written = _load(script.stem).main(str(tmp_path / "out"), quick=True)
    pngs = [pathlib.Path(p) for p in written if str(p).endswith(".png")]
    assert pngs, f"{script.name}: main() returned no PNG paths, got {written!r}"
    for png in pngs:
        assert png.is_file(), f"{script.name}: {png} was not written"
        assert png.stat().st_size > 1000, f"{script.name}: {png} is nearly empty"
        with open(png, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, f"{script.name}: {png} is not a PNG file"
    assert capsys.readouterr().out.strip(), f"{script.name}: printed no summary"


@pytest.fixture(scope="module")
def saxe():
    module = _load("saxe2014_modes")
    task, runs, scan = module.compare(quick=True)
    return task, runs, scan


def test_saxe_simulation_matches_theory(saxe):
    task, runs, _ = saxe
    s_max = float(task.s[0])
    assert [r["depth"] for r in runs] == sorted(r["depth"] for r in runs) and len(runs) >= 2
    for run in runs:
        # Gradient descent is the flow up to O(lr): the gap scales with lr · s_max.
        assert 0 < run["error"] < 5 * run["lr"] * s_max, (run["depth"], run["error"], run["lr"])
        # Both inits end with every group of modes learned (aligned: all of them).
        np.testing.assert_allclose(run["aligned"][-1], task.s, rtol=1e-3)
        np.testing.assert_allclose(run["exact"][-1], task.s, rtol=1e-3)
        np.testing.assert_allclose(run["random"][-1, 0], s_max, rtol=0.02)


def _half_times(t, modes, groups, s):
    """First record time at which each group's mean strength passes half its target."""
    out = []
    for g in groups:
        mean = modes[:, g].mean(axis=1)
        above = np.nonzero(mean >= 0.5 * s[g[0]])[0]
        out.append(t[above[0]] if above.size else np.inf)
    return np.array(out)


def test_saxe_modes_learned_in_order_of_singular_values(saxe):
    task, runs, _ = saxe
    module = _load("saxe2014_modes")
    s = np.asarray(task.s)
    groups = module._groups(s)
    assert [len(g) for g in groups] == [1, 1, 2, 4]  # the binary tree of depth 3
    np.testing.assert_allclose(s[[g[0] for g in groups]],
                               np.sqrt([15.0, 7.0, 3.0, 1.0]) / np.sqrt(8.0), rtol=1e-12)
    for run in runs:
        for key in ("exact", "aligned", "random"):
            half = _half_times(run["t"], run[key], groups, s)
            assert np.all(np.isfinite(half)), (run["depth"], key, half)
            assert np.all(np.diff(half) > 0), (run["depth"], key, half)
    # Deeper networks from the same u0 wait longer for their strongest mode.
    first = [_half_times(r["t"], r["exact"], groups, s)[0] for r in runs]
    assert np.all(np.diff(first) > 0), first


def test_saxe_learning_time_against_depth(saxe):
    _, _, scan = saxe
    a0s = list(scan["a0s"])
    small, one = a0s.index(min(a0s)), a0s.index(1.0)
    assert min(a0s) < 1
    iters = scan["iterations"]
    # Small per-layer init: exponential growth with depth (in iterations at the stable rate).
    assert np.all(np.diff(iters[small]) > 0), iters[small]
    assert iters[small, -1] / iters[small, 0] > 10, iters[small]
    # Per-layer init a0 = 1: flow time falls with depth, iterations stay within a factor 2.
    assert np.all(np.diff(scan["flow"][one]) < 0), scan["flow"][one]
    assert iters[one].max() / iters[one].min() < 2, iters[one]
    # Gradient descent at lr_D takes the predicted number of iterations (closely when many),
    # at the depths where it was run.
    ran = ~np.isnan(scan["simulated"])
    assert ran.any(axis=1).all() and ran.any(axis=0).sum() >= 2, ran
    rel = np.abs(scan["simulated"][ran] / iters[ran] - 1)
    assert np.all(rel < 0.35), rel
    assert np.all(rel[iters[ran] >= 10] < 0.1), rel
