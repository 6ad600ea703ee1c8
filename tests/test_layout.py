"""The package's layout is its architecture: tiers import only the tiers before them, no module
imports another's private names, and every earlier module path still reaches the same module."""

import ast
import importlib
import pathlib

import pytest

import dln

ROOT = pathlib.Path(dln.__file__).parent

# The tiers in the order they build up; the entry points (top-level modules) may use any.
TIERS = ["tasks", "protocol", "theory", "methods", "simulation", "measures", "phenomena"]
# Shared vocabulary, below every tier: argument checks, the ODE engine, the network's map and
# gradients, initial weights, the result type.
FOUNDATION = {"_checks", "_ode", "network", "init", "trajectory"}
# The entry points drive the tiers up to simulation and measures; the phenomena use them.
ENTRY_POINTS = {"solve", "simulate", "sweep"}
# The one documented exception: the bias reduction integrates its one mode without a closed
# form with the numerically integrated flow.
EXCEPTIONS = {("theory", "methods")}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield path, ".".join(("dln",) + rel.parts).removesuffix(".__init__")


def _imports(path):
    """`(module imported from, names)` for every `from dln… import …` in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dln"):
            yield node.module, [a.name for a in node.names]


def _tier(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in TIERS) else None


@pytest.mark.parametrize("path, module", list(_modules()), ids=lambda x: str(x))
def test_tiers_import_only_the_tiers_before_them(path, module):
    tier = _tier(module)
    if tier is None or tier not in TIERS:
        return  # an entry point or the foundation
    for source, names in _imports(path):
        targets = [source] if source != "dln" else [f"dln.{n}" for n in names]
        for target in targets:
            other = target.split(".")[1] if "." in target else None
            if other in FOUNDATION or other is None or other == tier:
                continue
            if other in ENTRY_POINTS and tier == "phenomena":
                continue
            assert other in TIERS, f"{module} imports the entry point {target}"
            assert (TIERS.index(other) < TIERS.index(tier)
                    or (tier, other) in EXCEPTIONS), f"{module} ({tier}) imports {target} ({other})"


@pytest.mark.parametrize("path, module", list(_modules()), ids=lambda x: str(x))
def test_no_module_imports_another_modules_private_names(path, module):
    for source, names in _imports(path):
        private = [n for n in names if n.startswith("_") and n not in ("_ode", "_checks")]
        assert not private, f"{module} imports private {private} from {source}"


@pytest.mark.parametrize("old, new", [
    ("dln.task", "dln.tasks.task"), ("dln.datasets", "dln.tasks.datasets"),
    ("dln.task_pairs", "dln.tasks.pairs"), ("dln.modes", "dln.theory.modes"),
    ("dln.riccati", "dln.theory.riccati"), ("dln.biases", "dln.theory.biases"),
    ("dln.numerical_flow", "dln.methods.numerical_flow"),
    ("dln.descent", "dln.simulation.descent"), ("dln.regime", "dln.measures.regime"),
    ("dln.ocs", "dln.measures.ocs"), ("dln.schedule", "dln.phenomena.schedule"),
    ("dln.completion", "dln.phenomena.completion"), ("dln.transfer", "dln.phenomena.transfer"),
    ("dln.pathways", "dln.phenomena.pathways"),
    ("dln.pathways.exact", "dln.theory.competition"),
    ("dln.pathways.simulate", "dln.simulation.pathways"),
    ("dln.pathways.measures", "dln.measures.pathways"),
    ("dln.pathways.deficits", "dln.protocol.deficits"),
    ("dln.pathways.sources", "dln.protocol.sources"),
    ("dln.pathways.maps", "dln.phenomena.critical_periods"),
])
def test_earlier_module_paths_are_the_same_modules(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)
    owner, _, leaf = old.rpartition(".")
    if old != "dln.pathways.simulate":  # that attribute is the function, as it always was
        assert getattr(importlib.import_module(owner), leaf) is importlib.import_module(new)


def test_documented_names_resolve():
    """Every `dln.…` name in the API page resolves."""
    text = (ROOT.parent / "docs" / "index.md").read_text()
    import re
    names = set(re.findall(r"`(dln(?:\.[A-Za-z_][A-Za-z_0-9]*)+)", text))
    assert len(names) > 40
    for name in sorted(names):
        obj = dln
        for part in name.split(".")[1:]:
            obj = getattr(obj, part)
