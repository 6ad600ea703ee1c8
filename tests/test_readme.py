"""The README stays true: .ci/run runs exactly the README's test command, the code example runs
as written and prints what the README says, and every file the README points to exists."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme():
    return (ROOT / "README.md").read_text()


def _section(title):
    return _readme().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _quickstart_commands():
    section = _section("Quickstart")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)]


def test_quickstart_has_exactly_two_commands():
    commands = _quickstart_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    assert "examples/saxe2014_modes.py" in commands[0]
    assert "pytest" in commands[1] and ".[test]" in commands[1]
    assert (ROOT / "examples" / "saxe2014_modes.py").exists()


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _quickstart_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_code_example_runs_as_written_and_prints_what_the_readme_says():
    """The "In a few lines" block, run in a fresh Python (it sets float64 itself)."""
    section = _section("In a few lines")
    code, = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    printed = re.search(r"```python\n.*?```\s*prints\s*```\n(.*?)```", section, re.DOTALL)
    assert printed, "the README states what the example prints, in a block after 'prints'"
    assert 'jax.config.update("jax_enable_x64", True)' in code
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)  # the example turns float64 on itself
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == printed.group(1)


def test_readme_points_to_files_that_exist():
    text = _readme()
    assert "THEORY.md" not in text  # the theory lives in docs/theory/
    paths = set(re.findall(r"`((?:docs|examples|bench|derivations|dln)/[\w./-]*\.(?:md|py|typed))`",
                           text))
    paths |= {p for p in re.findall(r"`([A-Z]+\.md|LICENSE)`", text)}
    assert {"docs/theory/modes.md", "LICENSE", "CHANGELOG.md"} <= paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"the README names files that do not exist: {missing}"
